//! One JSONPath predicate against the value the path found.

use std::cmp::Ordering;

use minijinja::Value;
use serde_json::Value as Json;

use super::json::{json_eq, wants_diff};
use super::Show;
use crate::load::{Data, JsonType, Predicate};
use crate::resolve::Templates;

/// `Ok` when the predicate holds; otherwise what was wrong.
pub fn eval(
    p: &Predicate,
    actual: Option<&Json>,
    templates: &Templates,
    ctx: &Value,
    show: &Show,
) -> Result<(), String> {
    let expected = |d: &Data| templates.render_data(d, ctx).map_err(|e| e.message);
    if let Predicate::Exists(want) = p {
        return match (want, actual) {
            (true, None) => Err("expected a value, found none".into()),
            (false, Some(v)) => Err(format!("expected no value, got {}", show.brief(v))),
            _ => Ok(()),
        };
    }
    let Some(actual) = actual else {
        return Err("no value at this path".into());
    };
    match p {
        Predicate::Exists(_) => unreachable!("handled above"),
        Predicate::Eq(d) => {
            let want = expected(d)?;
            if json_eq(&want, actual) {
                Ok(())
            } else if wants_diff(&want, actual) {
                Err(format!("values differ:\n{}", show.diff(&want, actual)))
            } else {
                Err(format!(
                    "expected {}, got {}",
                    show.brief(&want),
                    show.brief(actual)
                ))
            }
        }
        Predicate::Ne(d) => {
            let unwanted = expected(d)?;
            if json_eq(&unwanted, actual) {
                Err(format!("expected anything but {}", show.brief(&unwanted)))
            } else {
                Ok(())
            }
        }
        Predicate::Lt(d) => compare(actual, &expected(d)?, "<", |o| o == Ordering::Less, show),
        Predicate::Le(d) => compare(
            actual,
            &expected(d)?,
            "<=",
            |o| o != Ordering::Greater,
            show,
        ),
        Predicate::Gt(d) => compare(actual, &expected(d)?, ">", |o| o == Ordering::Greater, show),
        Predicate::Ge(d) => compare(actual, &expected(d)?, ">=", |o| o != Ordering::Less, show),
        Predicate::Contains(d) => {
            let needle = expected(d)?;
            let holds = match (actual, &needle) {
                (Json::String(s), Json::String(n)) => s.contains(n.as_str()),
                (Json::Array(items), n) => items.iter().any(|i| json_eq(i, n)),
                (Json::Object(map), Json::String(key)) => map.contains_key(key),
                _ => {
                    return Err(format!(
                        "`contains` needs a string, a list or an object; got {} {}",
                        JsonType::of(actual),
                        show.brief(actual)
                    ))
                }
            };
            if holds {
                Ok(())
            } else {
                Err(format!(
                    "expected {} to contain {}",
                    show.brief(actual),
                    show.brief(&needle)
                ))
            }
        }
        Predicate::OneOf(d) => {
            let options = expected(d)?;
            let list = options.as_array().map(Vec::as_slice).unwrap_or_default();
            if list.iter().any(|o| json_eq(o, actual)) {
                Ok(())
            } else {
                Err(format!(
                    "expected one of {}, got {}",
                    show.brief(&options),
                    show.brief(actual)
                ))
            }
        }
        Predicate::Matches(re) => {
            let text = match actual {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                other => {
                    return Err(format!(
                        "`matches` needs a string, got {} {}",
                        JsonType::of(other),
                        show.brief(other)
                    ))
                }
            };
            if re.is_match(&text) {
                Ok(())
            } else {
                Err(format!(
                    "expected to match /{re}/, got {}",
                    show.brief(actual)
                ))
            }
        }
        Predicate::Type(t) => {
            if t.accepts(actual) {
                Ok(())
            } else {
                Err(format!(
                    "expected type {t}, got {} {}",
                    JsonType::of(actual),
                    show.brief(actual)
                ))
            }
        }
        Predicate::Length(inner) => {
            let len = match actual {
                Json::Array(a) => a.len(),
                Json::Object(o) => o.len(),
                Json::String(s) => s.chars().count(),
                other => {
                    return Err(format!(
                        "`length` needs a list, an object or a string, got {}",
                        JsonType::of(other)
                    ))
                }
            };
            let len = Json::from(len);
            for p in inner {
                eval(p, Some(&len), templates, ctx, show)
                    .map_err(|m| format!("length {len}: {m}"))?;
            }
            Ok(())
        }
        Predicate::Every(inner) => {
            let Json::Array(items) = actual else {
                return Err(format!(
                    "`every` needs a list, got {} {}",
                    JsonType::of(actual),
                    show.brief(actual)
                ));
            };
            for (i, item) in items.iter().enumerate() {
                for p in inner {
                    eval(p, Some(item), templates, ctx, show)
                        .map_err(|m| format!("item [{i}]: {m}"))?;
                }
            }
            Ok(())
        }
    }
}

fn compare(
    actual: &Json,
    bound: &Json,
    op: &str,
    holds: impl Fn(Ordering) -> bool,
    show: &Show,
) -> Result<(), String> {
    let ordering = match (actual, bound) {
        (Json::Number(a), Json::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Json::String(a), Json::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match ordering {
        Some(o) if holds(o) => Ok(()),
        Some(_) => Err(format!(
            "expected {op} {}, got {}",
            show.brief(bound),
            show.brief(actual)
        )),
        None => Err(format!(
            "cannot compare {} {} with {} {}",
            JsonType::of(actual),
            show.brief(actual),
            JsonType::of(bound),
            show.brief(bound)
        )),
    }
}
