//! Check stage: holds a response against a request's `expect` block and
//! takes its captures. Every failure names the place in the YAML.

pub mod json;
mod predicate;

use std::cell::OnceCell;
use std::fmt;

use minijinja::Value;
use serde_json::Value as Json;

use crate::exchange::Exchange;
use crate::load::{
    format_duration, BodyExpect, Capture, CaptureSource, Expect, HeaderCheck, Pos, RegexGroup,
};
use crate::resolve::Templates;
use crate::secrets::{is_secret_header, is_secret_key, shown, Secrets, MASK};

#[derive(Debug, Clone)]
pub struct Failure {
    pub at: Pos,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

fn fail(at: &Pos, message: impl Into<String>) -> Failure {
    Failure {
        at: at.clone(),
        message: message.into(),
    }
}

/// The response body parsed as JSON at most once, and only if asked for.
pub struct Response<'a> {
    pub exchange: &'a Exchange,
    secrets: &'a Secrets,
    json: OnceCell<Result<Json, String>>,
}

impl<'a> Response<'a> {
    /// A response whose messages mask `secrets`.
    pub fn new(exchange: &'a Exchange, secrets: &'a Secrets) -> Self {
        Response {
            exchange,
            secrets,
            json: OnceCell::new(),
        }
    }

    /// The body as JSON, or why it is not (showing its start, masked).
    pub fn json(&self) -> Result<&Json, String> {
        self.json
            .get_or_init(|| {
                serde_json::from_slice(&self.exchange.body).map_err(|e| {
                    let start =
                        shown::body(self.secrets, &self.exchange.body, self.content_type(), 80);
                    format!("the response body is not JSON ({e}); it starts with {start:?}")
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn content_type(&self) -> Option<&str> {
        self.exchange.content_type()
    }

    /// The body as shown in messages: masked, cut, HTML as text.
    fn shown_body(&self, max_chars: usize) -> String {
        shown::body(
            self.secrets,
            &self.exchange.body,
            self.content_type(),
            max_chars,
        )
    }

    fn header(&self, name: &str) -> Option<String> {
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
    pub secrets: &'a Secrets,
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
fn hides(path: &crate::load::JsonPath) -> bool {
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
    pub at: Pos,
    /// `status`, `header Content-Type`, `$.a.b`, `response time`, `body`.
    pub subject: String,
    pub actual: Option<Json>,
    /// The full failure message, `None` when the assertion held.
    pub failure: Option<String>,
}

impl Assertion {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Keeps the assertions as they may be shown: every message is masked as
/// it is recorded; values come masked by their check.
struct Recorder<'a> {
    secrets: &'a Secrets,
    assertions: Vec<Assertion>,
}

impl Recorder<'_> {
    fn record(
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

/// Every assertion of `expect`, held against the response.
pub fn check(
    response: &Response,
    expect: &Expect,
    templates: &Templates,
    ctx: &Value,
) -> Vec<Assertion> {
    let ex = response.exchange;
    let secrets = templates.secrets();
    let mut rec = Recorder {
        secrets,
        assertions: Vec::new(),
    };

    if let Some(status) = &expect.status {
        let code = ex.status.as_u16();
        let problem = (!status.allowed.iter().any(|p| p.matches(code))).then(|| {
            let wanted: Vec<String> = status.allowed.iter().map(ToString::to_string).collect();
            format!("status: expected {}, got {code}", wanted.join(" or "))
        });
        rec.record(&status.at, "status", Some(Json::from(code)), problem);
    }

    for h in &expect.headers {
        let actual = response.header(&h.name);
        let hide = is_secret_header(&h.name);
        let q = |v: &str| {
            if hide {
                MASK.to_string()
            } else {
                format!("{:?}", secrets.excerpt(v, 200))
            }
        };
        let mut problems = Vec::new();
        for check in &h.checks {
            let problem = match (check, &actual) {
                (HeaderCheck::Present(true), None) => {
                    Some("expected to be present, it is absent".to_string())
                }
                (HeaderCheck::Present(false), Some(v)) => {
                    Some(format!("expected to be absent, got {}", q(v)))
                }
                (HeaderCheck::Present(_), _) => None,
                (_, None) => Some("absent".to_string()),
                (HeaderCheck::Equals(t), Some(v)) => match templates.render_text(t, ctx) {
                    Ok(want) if want == *v => None,
                    Ok(want) => Some(format!("expected {}, got {}", q(&want), q(v))),
                    Err(e) => Some(e.message),
                },
                (HeaderCheck::Contains(t), Some(v)) => match templates.render_text(t, ctx) {
                    Ok(want) if v.contains(want.as_ref()) => None,
                    Ok(want) => Some(format!("expected to contain {}, got {}", q(&want), q(v))),
                    Err(e) => Some(e.message),
                },
                (HeaderCheck::Matches(re), Some(v)) => {
                    (!re.is_match(v)).then(|| format!("expected to match /{re}/, got {}", q(v)))
                }
            };
            problems.extend(problem.map(|p| format!("header {}: {p}", h.name)));
        }
        let failure = (!problems.is_empty()).then(|| problems.join("\n"));
        let shown = actual.map(|v| Json::from(if hide { MASK.to_string() } else { v }));
        rec.record(
            &h.at,
            format!("header {}", h.name),
            shown.map(|v| secrets.mask_value(&v)),
            failure,
        );
    }

    if let Some((limit, at)) = &expect.max_duration {
        let problem = (ex.duration > *limit).then(|| {
            format!(
                "response time: expected at most {}, took {}",
                format_duration(*limit),
                format_duration(ex.duration)
            )
        });
        let ms = Json::from((ex.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0);
        rec.record(at, "response time (ms)", Some(ms), problem);
    }

    if !expect.json.is_empty() {
        match response.json() {
            Err(e) => rec.record(&expect.json[0].at, "body", None, Some(e)),
            Ok(doc) => {
                for a in &expect.json {
                    let actual = a.path.query(doc);
                    let show = Show {
                        secrets,
                        hide: hides(&a.path),
                    };
                    let problems: Vec<String> = a
                        .predicates
                        .iter()
                        .filter_map(|p| {
                            predicate::eval(p, actual.as_ref(), templates, ctx, &show).err()
                        })
                        .map(|m| format!("{}: {m}", a.path.src))
                        .collect();
                    let failure = (!problems.is_empty()).then(|| problems.join("\n"));
                    let shown = actual.as_ref().map(|v| show.value(v));
                    rec.record(&a.at, a.path.src.clone(), shown, failure);
                }
            }
        }
    }

    if let Some(body) = &expect.body {
        check_body(response, body, templates, ctx, &mut rec);
    }
    if let Some(s) = &expect.schema {
        let subject = format!("schema {}", s.file);
        match response.json() {
            Err(e) => rec.record(&s.at, subject, None, Some(e)),
            Ok(doc) => {
                let failure = schema_errors(&s.schema, doc, secrets)
                    .map(|e| format!("the body does not match {}:\n{e}", s.file));
                rec.record(&s.at, subject, None, failure);
            }
        }
    }
    if let Some(o) = &expect.openapi {
        check_openapi(response, o, &mut rec, secrets);
    }
    rec.assertions
}

/// What a schema finds wrong in `doc`, one line per JSON pointer, or
/// `None` when it holds.
fn schema_errors(schema: &crate::load::Schema, doc: &Json, secrets: &Secrets) -> Option<String> {
    const SHOWN: usize = 10;
    let errors: Vec<String> = schema
        .0
        .iter_errors(doc)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let pointer = if pointer.is_empty() {
                "/".to_string()
            } else {
                pointer
            };
            secrets.excerpt(&format!("  {pointer}: {e}"), 300)
        })
        .collect();
    if errors.is_empty() {
        return None;
    }
    let mut text = errors
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    if errors.len() > SHOWN {
        text.push_str(&format!("\n  ... and {} more", errors.len() - SHOWN));
    }
    Some(text)
}

/// The documented response for the status that came (or the one asked
/// for): the exact code, then its class (`2XX`), then `default`.
fn check_openapi(
    response: &Response,
    o: &crate::load::OpenApiCheck,
    rec: &mut Recorder,
    secrets: &Secrets,
) {
    let code = response.exchange.status.as_u16().to_string();
    let wanted = o.status.clone().unwrap_or_else(|| code.clone());
    let class = format!("{}XX", &wanted[..1]);
    let documented = o
        .responses
        .iter()
        .find(|(s, _)| *s == wanted)
        .or_else(|| {
            o.responses
                .iter()
                .find(|(s, _)| s.eq_ignore_ascii_case(&class))
        })
        .or_else(|| o.responses.iter().find(|(s, _)| s == "default"));
    let subject = format!("openapi {}", o.operation);
    let failure = match documented {
        None => Some(format!(
            "{} documents no response for status {wanted}",
            o.operation
        )),
        Some((_, None)) => None,
        Some((status, Some(schema))) => match response.json() {
            Err(e) => Some(e),
            Ok(doc) => schema_errors(schema, doc, secrets).map(|e| {
                format!(
                    "the body does not match the {status} response of {}:\n{e}",
                    o.operation
                )
            }),
        },
    };
    rec.record(&o.at, subject, Some(Json::from(code)), failure);
}

/// How much of a text body a diff compares.
const DIFF_BYTES: usize = 64 * 1024;

fn check_body(
    response: &Response,
    body: &BodyExpect,
    templates: &Templates,
    ctx: &Value,
    rec: &mut Recorder,
) {
    if let Some(expected) = &body.json {
        let want = templates.render_data(expected, ctx);
        match (want, response.json()) {
            (Err(e), _) => rec.record(&e.at, "body JSON", None, Some(e.message)),
            (_, Err(e)) => rec.record(&expected.at, "body JSON", None, Some(e)),
            (Ok(mut want), Ok(got)) => {
                let mut got = got.clone();
                for path in &body.ignore {
                    json::remove_matches(&mut want, path);
                    json::remove_matches(&mut got, path);
                }
                let show = Show {
                    secrets: templates.secrets(),
                    hide: false,
                };
                let problem = (!json::json_eq(&want, &got)).then(|| {
                    let ignored = if body.ignore.is_empty() {
                        String::new()
                    } else {
                        let paths: Vec<&str> = body.ignore.iter().map(|p| p.src.as_str()).collect();
                        format!(" (ignoring {})", paths.join(", "))
                    };
                    format!("body JSON differs{ignored}:\n{}", show.diff(&want, &got))
                });
                rec.record(&expected.at, "body JSON", Some(show.value(&got)), problem);
            }
        }
    }
    let text = response.exchange.body_text();
    let secrets = templates.secrets();
    let text_value = || Some(Json::from(response.shown_body(200)));
    if let Some(equals) = &body.equals {
        let problem = match templates.render_text(equals, ctx) {
            Err(e) => Some(e.message),
            Ok(want) if want == text => None,
            Ok(want) => {
                // Masked before they are compared; long bodies by their start.
                let (want, long_want) = secrets.mask_prefix(&want, DIFF_BYTES);
                let (got, long_got) = secrets.mask_prefix(&text, DIFF_BYTES);
                let note = if long_want || long_got {
                    format!(" (the first {} KiB of each)", DIFF_BYTES / 1024)
                } else {
                    String::new()
                };
                Some(format!(
                    "body differs{note}:\n{}",
                    json::diff_text(&format!("{want}\n"), &format!("{got}\n"))
                ))
            }
        };
        rec.record(&equals.at, "body equals", text_value(), problem);
    }
    for needle in &body.contains {
        let problem = match templates.render_text(needle, ctx) {
            Err(e) => Some(e.message),
            Ok(want) if text.contains(want.as_ref()) => None,
            Ok(want) => Some(format!(
                "body: expected to contain {:?}; it starts with {:?}",
                secrets.excerpt(&want, 200),
                response.shown_body(200)
            )),
        };
        rec.record(&needle.at, "body contains", text_value(), problem);
    }
    if let Some((re, at)) = &body.matches {
        let problem = (!re.is_match(&text)).then(|| {
            format!(
                "body: expected to match /{re}/; it starts with {:?}",
                response.shown_body(200)
            )
        });
        rec.record(at, "body matches", text_value(), problem);
    }
}

/// The variables a request captures, or the first capture that failed.
pub fn capture(response: &Response, captures: &[Capture]) -> Result<Vec<(String, Json)>, Failure> {
    let ex = response.exchange;
    let mut out = Vec::with_capacity(captures.len());
    for c in captures {
        let what = |m: String| fail(&c.at, format!("capture `{}`: {m}", c.var));
        let value = match &c.source {
            CaptureSource::JsonPath(path) => {
                let doc = response.json().map_err(what)?;
                path.query(doc)
                    .ok_or_else(|| what(format!("nothing at {}", path.src)))?
            }
            CaptureSource::Header(name) => Json::String(
                response
                    .header(name)
                    .ok_or_else(|| what(format!("no header `{name}` in the response")))?,
            ),
            CaptureSource::Status => Json::from(ex.status.as_u16()),
            CaptureSource::Body => Json::String(ex.body_text().into_owned()),
            CaptureSource::Cookie(name) => Json::String(
                set_cookie(ex, name)
                    .ok_or_else(|| what(format!("the response sets no cookie `{name}`")))?,
            ),
            CaptureSource::Regex { regex, group } => {
                let text = ex.body_text();
                let caps = regex
                    .captures(&text)
                    .ok_or_else(|| what(format!("/{regex}/ does not match the body")))?;
                let m = match group {
                    RegexGroup::Index(i) => caps.get(*i),
                    RegexGroup::Name(n) => caps.name(n),
                };
                Json::String(
                    m.ok_or_else(|| what(format!("/{regex}/ matched, but not its group")))?
                        .as_str()
                        .to_string(),
                )
            }
        };
        out.push((c.var.clone(), value));
    }
    Ok(out)
}

fn set_cookie(ex: &Exchange, name: &str) -> Option<String> {
    ex.headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
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
