//! Check stage: holds a response against a request's `expect` block and
//! takes its captures. Every failure names the place in the YAML.

mod capture;
mod expect;
pub mod json;
mod predicate;
#[cfg(test)]
mod tests;

pub use capture::capture;

use std::cell::{OnceCell, RefCell};
use std::fmt;

use minijinja::Value;
use serde_json::Value as Json;

use crate::exchange::Exchange;
use crate::load::{format_duration, Expect, Pos};
use crate::resolve::Templates;
use crate::secrets::{is_secret_key, shown, Secrets, MASK};

/// A check that failed, with the place in the YAML it came from.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Where the check is written.
    pub at: Pos,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message.trim_end())
    }
}

pub(crate) fn fail(at: &Pos, message: impl Into<String>) -> Failure {
    Failure {
        at: at.clone(),
        message: message.into(),
    }
}

/// The response body parsed as JSON at most once, and only if asked for.
pub struct Response<'a> {
    /// The request and response.
    pub exchange: &'a Exchange,
    secrets: &'a Secrets,
    json: OnceCell<Result<Json, String>>,
    /// Shown bodies by length: several failures of one response show the
    /// same excerpt, and masking a large body is the costly part.
    shown: RefCell<Vec<(usize, String)>>,
}

impl<'a> Response<'a> {
    /// A response whose messages mask `secrets`.
    pub fn new(exchange: &'a Exchange, secrets: &'a Secrets) -> Self {
        Response {
            exchange,
            secrets,
            json: OnceCell::new(),
            shown: RefCell::default(),
        }
    }

    /// The body as JSON, or why it is not (showing its start, masked).
    pub fn json(&self) -> Result<&Json, String> {
        self.json
            .get_or_init(|| {
                serde_json::from_slice(&self.exchange.body).map_err(|e| self.not_json(e))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// What `path` finds in the body, as [`JsonPath::query`] finds it in
    /// [`Response::json`]. A dotted path into a body not parsed yet is
    /// followed while the body is read, without building the rest of it.
    pub fn query(&self, path: &crate::load::JsonPath) -> Result<Option<Json>, String> {
        if self.json.get().is_none() {
            if let Some(steps) = path.forward_steps() {
                return json::value_at(&self.exchange.body, &steps).map_err(|e| self.not_json(e));
            }
        }
        self.json().map(|doc| path.query(doc))
    }

    fn not_json(&self, e: serde_json::Error) -> String {
        let start = shown::body(self.secrets, &self.exchange.body, self.content_type(), 80);
        format!("the response body is not JSON ({e}); it starts with {start:?}")
    }

    fn content_type(&self) -> Option<&str> {
        self.exchange.content_type()
    }

    /// The body as shown in messages: masked, cut, HTML as text.
    pub(crate) fn shown_body(&self, max_chars: usize) -> String {
        if let Some((_, s)) = self.shown.borrow().iter().find(|(n, _)| *n == max_chars) {
            return s.clone();
        }
        let s = shown::body(
            self.secrets,
            &self.exchange.body,
            self.content_type(),
            max_chars,
        );
        self.shown.borrow_mut().push((max_chars, s.clone()));
        s
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .exchange
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// How values appear in messages: masked, and `***` whole when they sit
/// under a secret-looking key.
pub struct Show<'a> {
    /// The secrets to mask.
    pub secrets: &'a Secrets,
    /// Whether the values sit under a secret-looking key, and so show as `***`.
    pub hide: bool,
}

impl Show<'_> {
    /// A value on one line.
    pub fn brief(&self, value: &Json) -> String {
        shown::brief(self.secrets, value, self.hide)
    }

    /// A value as it may be kept and shown.
    pub fn value(&self, value: &Json) -> Json {
        if self.hide && !matches!(value, Json::Object(_) | Json::Array(_) | Json::Null) {
            Json::from(MASK)
        } else {
            self.secrets.mask_value(value)
        }
    }

    /// A line diff of two values, both masked before they are compared.
    pub fn diff(&self, expected: &Json, actual: &Json) -> String {
        let diff = json::diff(&self.value(expected), &self.value(actual));
        if diff
            .lines()
            .any(|l| l.starts_with("    -") || l.starts_with("    +"))
        {
            diff
        } else {
            format!("{diff}    (the differing values are secrets and stay masked)\n")
        }
    }
}

/// Whether a JSONPath ends at a secret-looking key (`$.access_token`).
pub(crate) fn hides(path: &crate::load::JsonPath) -> bool {
    let last = path
        .src
        .rsplit(['.', '[', '\'', '"', ']'])
        .find(|s| !s.is_empty())
        .unwrap_or("");
    is_secret_key(last)
}

/// One assertion as it went: what it looked at, the value it saw, and what
/// was wrong if anything. Reports list them all, passed or not.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// Where the assertion is written.
    pub at: Pos,
    /// `status`, `header Content-Type`, `$.a.b`, `response time`, `body`.
    pub subject: String,
    /// The value it saw, masked; `None` when there was none to see.
    pub actual: Option<Json>,
    /// The full failure message, `None` when the assertion held.
    pub failure: Option<String>,
}

impl Assertion {
    /// Whether the assertion held.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Keeps the assertions as they may be shown: every message is masked as
/// it is recorded; values come masked by their check.
pub(crate) struct Recorder<'a> {
    secrets: &'a Secrets,
    assertions: Vec<Assertion>,
}

impl Recorder<'_> {
    pub(crate) fn record(
        &mut self,
        at: &Pos,
        subject: impl Into<String>,
        actual: Option<Json>,
        failure: Option<String>,
    ) {
        self.assertions.push(Assertion {
            at: at.clone(),
            subject: self.secrets.redact(&subject.into()).into_owned(),
            actual,
            failure: failure.map(|f| self.secrets.redact(&f).into_owned()),
        });
    }
}

/// The failed assertions, as failures.
pub fn failures(assertions: &[Assertion]) -> Vec<Failure> {
    assertions
        .iter()
        .filter_map(|a| a.failure.as_ref().map(|m| fail(&a.at, m.clone())))
        .collect()
}

/// Every assertion of `expect`, held against the response: the failed
/// ones carry their message, all carry the value they saw (masked).
pub fn check(
    response: &Response,
    expect: &Expect,
    templates: &Templates,
    ctx: &Value,
) -> Vec<Assertion> {
    let mut checker = expect::Checker {
        response,
        templates,
        ctx,
        secrets: templates.secrets(),
        rec: Recorder {
            secrets: templates.secrets(),
            assertions: Vec::new(),
        },
    };
    checker.all(expect);
    checker.rec.assertions
}

/// A failed request as the user reads it: each failed assertion with its
/// place in the YAML, then the request line and the start of the response.
/// Masked whole: the failures are, the body is masked before it is cut.
pub fn describe(failures: &[Failure], ex: &Exchange, secrets: &Secrets) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for f in failures {
        let _ = writeln!(out, "{f}");
    }
    let content_type = ex.content_type().unwrap_or("no content type");
    let _ = writeln!(out, "\n  request:  {} {}", ex.method, ex.url);
    let _ = writeln!(
        out,
        "  response: {} in {}, {content_type}, {} bytes",
        ex.status,
        format_duration(ex.duration),
        ex.body.len()
    );
    let body = shown::body(secrets, &ex.body, Some(content_type), 300);
    if !body.trim().is_empty() {
        let _ = writeln!(
            out,
            "  body:     {}",
            body.trim().replace('\n', "\n            ")
        );
    }
    secrets.redact(&out).into_owned()
}
