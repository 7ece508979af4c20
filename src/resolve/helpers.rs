//! Functions and filters every template can use.

use base64::Engine as _;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, Value};
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

use crate::secrets::Secrets;

/// The functions templates may call, as messages list them.
pub const FUNCTIONS: &[&str] = &[
    "env",
    "uuid",
    "timestamp",
    "timestamp_ms",
    "now",
    "random_string",
    "random_int",
    "basic_auth",
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
];

/// Whether templates may use `name` without defining it: a function, or
/// one of minijinja's names for macros (`caller`, `super`) and `debug`. The
/// static check of undefined variables leaves these out.
pub fn is_global(name: &str) -> bool {
    FUNCTIONS.contains(&name) || matches!(name, "caller" | "super" | "debug")
}

/// Adds reqtest's functions and filters to `env`, keeping the secrets they
/// make in `secrets`.
pub fn register(env: &mut Environment<'static>, secrets: &Secrets) {
    // A namespace is the one value a template can change, so the one that
    // can be made to contain itself (`{% set ns.x = ns %}`), and printing it
    // then recurses until the stack overflows. Request templates do not
    // need one.
    env.remove_global("namespace");
    let env_secrets = secrets.clone();
    env.add_function(
        "env",
        move |name: String, fallback: Option<String>, kwargs: Kwargs| -> Result<String, Error> {
            let secret: Option<bool> = kwargs.get("secret")?;
            let value = env_var(name, fallback, &kwargs)?;
            if secret == Some(true) {
                env_secrets.add(&value);
            }
            Ok(value)
        },
    );
    let basic_secrets = secrets.clone();
    env.add_function("basic_auth", move |user: String, password: String| {
        let value = basic_auth(user.clone(), password.clone());
        // The header hides a secret when either half is one.
        if basic_secrets.contains(&password) || basic_secrets.contains(&user) {
            basic_secrets.add(value.trim_start_matches("Basic "));
        }
        value
    });
    env.add_function("uuid", || uuid::Uuid::new_v4().to_string());
    env.add_function("timestamp", || chrono::Utc::now().timestamp());
    env.add_function("timestamp_ms", || chrono::Utc::now().timestamp_millis());
    env.add_function("now", now);
    env.add_function("random_string", random_string);
    env.add_function("random_int", random_int);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
}

/// `env("NAME")` fails when NAME is unset; `env("NAME", "fallback")` or
/// `env("NAME", default="fallback")` does not; `secret=true` hides the value
/// in every output.
fn env_var(name: String, fallback: Option<String>, kwargs: &Kwargs) -> Result<String, Error> {
    let kw_default: Option<String> = kwargs.get("default")?;
    kwargs.assert_all_used()?;
    match std::env::var(&name) {
        Ok(v) => Ok(v),
        Err(_) => fallback.or(kw_default).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable `{name}` is not set (give a fallback with env(\"{name}\", default=\"...\"))"),
            )
        }),
    }
}

/// `now()` is RFC 3339 in UTC; `now("%Y-%m-%d")` takes a strftime format.
fn now(format: Option<String>) -> Result<String, Error> {
    let t = chrono::Utc::now();
    match format {
        Some(f) => {
            check_time_format(&f)?;
            let mut out = String::new();
            use std::fmt::Write as _;
            write!(out, "{}", t.format(&f)).map_err(|_| bad_time_format(&f))?;
            Ok(out)
        }
        None => Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    }
}

/// Whether `format` is a strftime format chrono can write.
pub fn check_time_format(format: &str) -> Result<(), Error> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(bad_time_format(format));
    }
    Ok(())
}

fn bad_time_format(format: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("now({format:?}): not a strftime format (such as '%Y-%m-%dT%H:%M:%S')"),
    )
}

/// The longest `random_string`: more is a mistake, not a test value.
pub const MAX_RANDOM_STRING: usize = 1024 * 1024;

fn random_string(len: Option<usize>) -> Result<String, Error> {
    let len = len.unwrap_or(16);
    check_random_len(len)?;
    Ok(Alphanumeric.sample_string(&mut rand::rng(), len))
}

/// Whether `random_string(len)` may make that many characters.
pub fn check_random_len(len: usize) -> Result<(), Error> {
    if len > MAX_RANDOM_STRING {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("random_string({len}): at most {MAX_RANDOM_STRING} characters"),
        ));
    }
    Ok(())
}

fn random_int(min: i64, max: i64) -> Result<i64, Error> {
    if min > max {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("random_int({min}, {max}): the first bound is larger than the second"),
        ));
    }
    Ok(rand::rng().random_range(min..=max))
}

fn basic_auth(user: String, password: String) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn b64encode(value: Value) -> String {
    let bytes = match value.as_bytes() {
        Some(b) => b.to_vec(),
        None => value.to_string().into_bytes(),
    };
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64decode(value: String) -> Result<String, Error> {
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine
        .decode(value.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value.trim()))
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "b64decode: the decoded bytes are not UTF-8",
        )
    })
}
