//! One JSONPath predicate against the value the path found, one function
//! per kind of predicate.

use std::cmp::Ordering;

use minijinja::Value;
use serde_json::Value as Json;

use super::json::{json_eq, wants_diff};
use super::Show;
use crate::load::{Data, JsonType, Predicate};
use crate::resolve::Templates;

/// What a predicate is evaluated with: the templates of its expected values
/// and their context, and how values appear in messages.
pub struct Eval<'a> {
    pub templates: &'a Templates,
    pub ctx: &'a Value,
    pub show: &'a Show<'a>,
}

type Verdict = Result<(), String>;

impl Eval<'_> {
    /// `Ok` when the predicate holds; otherwise what was wrong.
    pub fn eval(&self, p: &Predicate, actual: Option<&Json>) -> Verdict {
        if let Predicate::Exists(want) = p {
            return self.exists(*want, actual);
        }
        let Some(actual) = actual else {
            return Err("no value at this path".into());
        };
        match p {
            Predicate::Exists(_) => unreachable!("handled above"),
            Predicate::Eq(d) => self.eq(actual, &self.expected(d)?),
            Predicate::Ne(d) => self.ne(actual, &self.expected(d)?),
            Predicate::Lt(d) => self.compare(actual, &self.expected(d)?, "<", |o| o.is_lt()),
            Predicate::Le(d) => self.compare(actual, &self.expected(d)?, "<=", |o| o.is_le()),
            Predicate::Gt(d) => self.compare(actual, &self.expected(d)?, ">", |o| o.is_gt()),
            Predicate::Ge(d) => self.compare(actual, &self.expected(d)?, ">=", |o| o.is_ge()),
            Predicate::Contains(d) => self.contains(actual, &self.expected(d)?),
            Predicate::OneOf(d) => self.one_of(actual, &self.expected(d)?),
            Predicate::Matches(re) => self.matches(actual, re),
            Predicate::Type(t) => self.type_is(actual, *t),
            Predicate::Length(inner) => self.length(actual, inner),
            Predicate::Every(inner) => self.every(actual, inner),
        }
    }

    fn expected(&self, d: &Data) -> Result<Json, String> {
        self.templates
            .render_data(d, self.ctx)
            .map_err(|e| e.message)
    }

    fn brief(&self, v: &Json) -> String {
        self.show.brief(v)
    }

    fn exists(&self, want: bool, actual: Option<&Json>) -> Verdict {
        match (want, actual) {
            (true, None) => Err("expected a value, found none".into()),
            (false, Some(v)) => Err(format!("expected no value, got {}", self.brief(v))),
            _ => Ok(()),
        }
    }

    fn eq(&self, actual: &Json, want: &Json) -> Verdict {
        if json_eq(want, actual) {
            Ok(())
        } else if wants_diff(want, actual) {
            Err(format!("values differ:\n{}", self.show.diff(want, actual)))
        } else {
            Err(format!(
                "expected {}, got {}",
                self.brief(want),
                self.brief(actual)
            ))
        }
    }

    fn ne(&self, actual: &Json, unwanted: &Json) -> Verdict {
        if json_eq(unwanted, actual) {
            Err(format!("expected anything but {}", self.brief(unwanted)))
        } else {
            Ok(())
        }
    }

    /// Numbers by value, strings (ISO dates) in order.
    fn compare(
        &self,
        actual: &Json,
        bound: &Json,
        op: &str,
        holds: fn(Ordering) -> bool,
    ) -> Verdict {
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
                self.brief(bound),
                self.brief(actual)
            )),
            None => Err(format!(
                "cannot compare {} {} with {} {}",
                JsonType::of(actual),
                self.brief(actual),
                JsonType::of(bound),
                self.brief(bound)
            )),
        }
    }

    /// A substring, a list element or an object key.
    fn contains(&self, actual: &Json, needle: &Json) -> Verdict {
        let holds = match (actual, needle) {
            (Json::String(s), Json::String(n)) => s.contains(n.as_str()),
            (Json::Array(items), n) => items.iter().any(|i| json_eq(i, n)),
            (Json::Object(map), Json::String(key)) => map.contains_key(key),
            _ => {
                return Err(format!(
                    "`contains` needs a string, a list or an object; got {} {}",
                    JsonType::of(actual),
                    self.brief(actual)
                ))
            }
        };
        if holds {
            Ok(())
        } else {
            Err(format!(
                "expected {} to contain {}",
                self.brief(actual),
                self.brief(needle)
            ))
        }
    }

    fn one_of(&self, actual: &Json, options: &Json) -> Verdict {
        let list = options.as_array().map(Vec::as_slice).unwrap_or_default();
        if list.iter().any(|o| json_eq(o, actual)) {
            Ok(())
        } else {
            Err(format!(
                "expected one of {}, got {}",
                self.brief(options),
                self.brief(actual)
            ))
        }
    }

    fn matches(&self, actual: &Json, re: &regex::Regex) -> Verdict {
        let text = match actual {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "`matches` needs a string, got {} {}",
                    JsonType::of(other),
                    self.brief(other)
                ))
            }
        };
        if re.is_match(&text) {
            Ok(())
        } else {
            Err(format!(
                "expected to match /{re}/, got {}",
                self.brief(actual)
            ))
        }
    }

    fn type_is(&self, actual: &Json, t: JsonType) -> Verdict {
        if t.accepts(actual) {
            Ok(())
        } else {
            Err(format!(
                "expected type {t}, got {} {}",
                JsonType::of(actual),
                self.brief(actual)
            ))
        }
    }

    fn length(&self, actual: &Json, inner: &[Predicate]) -> Verdict {
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
            self.eval(p, Some(&len))
                .map_err(|m| format!("length {len}: {m}"))?;
        }
        Ok(())
    }

    fn every(&self, actual: &Json, inner: &[Predicate]) -> Verdict {
        let Json::Array(items) = actual else {
            return Err(format!(
                "`every` needs a list, got {} {}",
                JsonType::of(actual),
                self.brief(actual)
            ));
        };
        for (i, item) in items.iter().enumerate() {
            for p in inner {
                self.eval(p, Some(item))
                    .map_err(|m| format!("item [{i}]: {m}"))?;
            }
        }
        Ok(())
    }
}
