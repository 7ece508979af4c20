//! A collection's starting variables: the command line, then the chosen
//! environment, then the collection's `vars`, the most specific definition
//! of each name winning. A variable may read any other; they are computed
//! in the order their templates need, each with only what it reads, so a
//! mapping of 200,000 variables resolves in linear time. A cycle is an
//! error that shows it.

use std::collections::HashMap;

use indexmap::IndexMap;
use minijinja::Value;

use super::{Options, ResolveError, Templates, Vars};
use crate::load::{Collection, Data};

/// A definition that won, and the variables its templates read.
struct Def<'a> {
    data: &'a Data,
    reads: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Visiting,
    Done,
}

/// The variables a collection starts with in environment `env`.
pub fn starting_vars(
    c: &Collection,
    env: Option<&str>,
    options: &Options,
    templates: &mut Templates,
) -> Result<Vars, ResolveError> {
    let mut vars = Vars::new();
    for (k, v) in &options.vars {
        vars.insert(k.clone(), Value::from_serialize(v));
    }
    let env_vars = env.map(|e| &c.environments[e]);
    let mut defs: IndexMap<&str, Def> = IndexMap::new();
    for layer in env_vars.into_iter().chain(std::iter::once(&c.vars)) {
        for (name, data) in layer {
            if vars.contains_key(name) || defs.contains_key(name.as_str()) {
                continue;
            }
            let reads = templates.compile_data(data)?;
            defs.insert(name, Def { data, reads });
        }
    }
    // The environment's name, for `when` and messages, unless a variable
    // of that name is set.
    if let Some(env) = env {
        if !defs.contains_key("environment") {
            vars.entry("environment".into())
                .or_insert_with(|| Value::from(env));
        }
    }
    let mut state: HashMap<&str, State> = HashMap::with_capacity(defs.len());
    for root in defs.keys() {
        if !state.contains_key(root) {
            compute(root, &defs, &mut state, &mut vars, templates)?;
        }
    }
    Ok(vars)
}

/// Computes `root` and what it reads, depth first with a stack of our own
/// (a chain of 200,000 variables must not overflow the thread's).
fn compute<'a>(
    root: &'a str,
    defs: &'a IndexMap<&'a str, Def<'a>>,
    state: &mut HashMap<&'a str, State>,
    vars: &mut Vars,
    templates: &Templates,
) -> Result<(), ResolveError> {
    let mut stack: Vec<(&'a str, usize)> = vec![(root, 0)];
    state.insert(root, State::Visiting);
    while let Some((name, next)) = stack.last_mut() {
        let def = &defs[*name];
        if let Some(dep) = def.reads.get(*next) {
            *next += 1;
            if vars.contains_key(dep) {
                continue;
            }
            let Some((_, &dep, _)) = defs.get_full(dep.as_str()) else {
                return Err(undefined(dep, def.data, defs, vars));
            };
            match state.get(dep) {
                Some(State::Done) => {}
                Some(State::Visiting) => return Err(cycle(dep, &stack, def.data)),
                None => {
                    state.insert(dep, State::Visiting);
                    stack.push((dep, 0));
                }
            }
            continue;
        }
        let ctx: Vars = def
            .reads
            .iter()
            .filter_map(|r| vars.get(r).map(|v| (r.clone(), v.clone())))
            .collect();
        let value = templates.render_data(def.data, &Value::from(ctx))?;
        vars.insert(name.to_string(), Value::from_serialize(&value));
        state.insert(name, State::Done);
        stack.pop();
    }
    Ok(())
}

fn undefined(name: &str, at: &Data, defs: &IndexMap<&str, Def>, vars: &Vars) -> ResolveError {
    let known: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .chain(defs.keys().copied())
        .collect();
    ResolveError::Undefined {
        at: at.at.clone(),
        name: name.to_string(),
        hint: format!(" ({})", super::defined_here(known.into_iter())),
    }
}

/// `a → b → a`, from where the cycle closes.
fn cycle(dep: &str, stack: &[(&str, usize)], at: &Data) -> ResolveError {
    let start = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
    let mut path: Vec<&str> = stack[start..].iter().map(|(n, _)| *n).collect();
    path.push(dep);
    ResolveError::Cycle {
        at: at.at.clone(),
        path: path.join(" → "),
    }
}
