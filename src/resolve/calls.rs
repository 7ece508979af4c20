//! What a template calls, checked when it is compiled: an unknown filter,
//! test or function, `env('X')` for an unset variable without a fallback,
//! `now('%Q')` and `random_string(10000000000)` are load errors, found
//! before anything is sent rather than at the hundredth request.

use minijinja::machinery::{get_compiled_template, Instruction, Instructions};
use minijinja::{Environment, ErrorKind, Value};

use super::helpers;

/// What compiling found: names called as functions (not variables) and
/// names the template defines itself (macros, `set`, loop variables).
#[derive(Default)]
pub struct Calls {
    pub functions: Vec<String>,
    pub locals: Vec<String>,
}

/// Checks the calls of compiled template `name`; `Err` says what is wrong.
pub fn check(env: &Environment<'static>, name: &str) -> Result<Calls, String> {
    let template = env.get_template(name).map_err(|e| e.to_string())?;
    let compiled = get_compiled_template(&template);
    let mut calls = Calls::default();
    let blocks = compiled.blocks.values();
    for instructions in std::iter::once(&compiled.instructions).chain(blocks) {
        scan(env, instructions, &mut calls)?;
    }
    Ok(calls)
}

fn scan(env: &Environment<'static>, code: &Instructions, calls: &mut Calls) -> Result<(), String> {
    let at = |i: usize| code.get(i as u32);
    for i in 0..code.len() {
        match at(i) {
            Some(Instruction::StoreLocal(local)) => calls.locals.push(local.to_string()),
            Some(Instruction::ApplyFilter(filter, ..)) if !filter_exists(env, filter) => {
                return Err(format!("unknown filter `{filter}`"));
            }
            Some(Instruction::PerformTest(test, ..)) if !test_exists(env, test) => {
                return Err(format!("unknown test `{test}`"));
            }
            Some(Instruction::CallFunction(function, args)) => {
                calls.functions.push(function.to_string());
                let arg = |back: usize| i.checked_sub(back).and_then(at);
                check_call(function, args.unwrap_or(0), arg(1), arg(2))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// What can be known of a call from constant arguments: `last` is the
/// instruction that loads the last argument, `before` the one before it.
fn check_call(
    function: &str,
    args: u16,
    last: Option<&Instruction>,
    before: Option<&Instruction>,
) -> Result<(), String> {
    let constant = |i: Option<&Instruction>| match i {
        Some(Instruction::LoadConst(v)) => Some(v.clone()),
        _ => None,
    };
    match (function, args) {
        ("env", 1) => check_env(constant(last), None),
        ("env", 2) => check_env(constant(before), constant(last)),
        ("now", 1) => match constant(last).as_ref().and_then(Value::as_str) {
            Some(format) => helpers::check_time_format(format).map_err(|e| detail(&e)),
            None => Ok(()),
        },
        ("random_string", 1) => match constant(last).and_then(|v| i64::try_from(v).ok()) {
            Some(n) => helpers::check_random_len(usize::try_from(n).unwrap_or(usize::MAX))
                .map_err(|e| detail(&e)),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// `env('NAME')` (or with only `secret=true`) for a variable that is not
/// set: the run would fail at that template, so it fails now.
fn check_env(name: Option<Value>, second: Option<Value>) -> Result<(), String> {
    let Some(name) = name.as_ref().and_then(Value::as_str).map(str::to_string) else {
        return Ok(());
    };
    let has_fallback = match &second {
        None => false,
        Some(v) if v.is_kwargs() || v.kind() == minijinja::value::ValueKind::Map => {
            v.get_attr("default").is_ok_and(|d| !d.is_undefined())
        }
        Some(_) => true,
    };
    if has_fallback || std::env::var_os(&name).is_some() {
        return Ok(());
    }
    Err(format!(
        "environment variable `{name}` is not set (give a fallback with env(\"{name}\", default=\"...\"))"
    ))
}

fn detail(e: &minijinja::Error) -> String {
    e.detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}

fn filter_exists(env: &Environment<'static>, name: &str) -> bool {
    // Called with no arguments a filter complains about them, an unknown
    // one says it is unknown; no filter of ours has effects.
    !matches!(
        env.empty_state().apply_filter(name, &[]),
        Err(e) if e.kind() == ErrorKind::UnknownFilter
    )
}

fn test_exists(env: &Environment<'static>, name: &str) -> bool {
    !matches!(
        env.empty_state().perform_test(name, &[]),
        Err(e) if e.kind() == ErrorKind::UnknownTest
    )
}
