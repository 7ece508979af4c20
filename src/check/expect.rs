//! The checks of an `expect` block, one function per kind of expectation,
//! each recording an assertion (passed or not, with the value it saw).

use minijinja::Value;
use serde_json::Value as Json;

use super::predicate::Eval;
use super::{hides, json, Recorder, Response, Show};
use crate::load::{
    format_duration, BodyExpect, DocumentedResponse, Expect, HeaderCheck, HeaderExpect,
    HttpVersion, JsonAssert, OpenApiCheck, Pos, SchemaCheck, StatusExpect,
};
use crate::resolve::Templates;
use crate::secrets::{is_secret_header, Secrets, MASK};

/// A response held against one request's expectations.
pub struct Checker<'a> {
    pub response: &'a Response<'a>,
    pub templates: &'a Templates,
    pub ctx: &'a Value,
    pub secrets: &'a Secrets,
    pub rec: Recorder<'a>,
}

impl Checker<'_> {
    /// Runs every check of `expect`, recording each as an assertion.
    pub fn all(&mut self, expect: &Expect) {
        if let Some(status) = &expect.status {
            self.status(status);
        }
        for h in &expect.headers {
            self.header(h);
        }
        if let Some((limit, at)) = expect.max_duration.as_deref() {
            self.duration(*limit, at);
        }
        self.json(&expect.json);
        if let Some(body) = &expect.body {
            self.body(body);
        }
        if let Some(s) = &expect.schema {
            self.schema(s);
        }
        if let Some(o) = &expect.openapi {
            self.openapi(o);
        }
        if let Some((version, at)) = expect.http_version.as_deref() {
            self.http_version(*version, at);
        }
    }

    fn http_version(&mut self, wanted: HttpVersion, at: &Pos) {
        let came = crate::exchange::version_name(self.response.exchange.version);
        let problem = (came != wanted.name()).then(|| {
            format!(
                "http_version: expected HTTP/{}, the response came in HTTP/{came}",
                wanted.name()
            )
        });
        self.rec
            .record(at, "http_version", Some(Json::from(came)), problem);
    }

    fn status(&mut self, status: &StatusExpect) {
        let code = self.response.exchange.status.as_u16();
        let problem = (!status.allowed.iter().any(|p| p.matches(code))).then(|| {
            let wanted: Vec<String> = status.allowed.iter().map(ToString::to_string).collect();
            format!("status: expected {}, got {code}", wanted.join(" or "))
        });
        self.rec
            .record(&status.at, "status", Some(Json::from(code)), problem);
    }

    /// A header's value as a message shows it: masked, or `***` whole
    /// for a secret header.
    fn shown_header(&self, name: &str, v: &str) -> String {
        if is_secret_header(name) {
            MASK.to_string()
        } else {
            format!("{:?}", self.secrets.excerpt(v, 200))
        }
    }

    fn header_problem(
        &self,
        h: &HeaderExpect,
        check: &HeaderCheck,
        actual: Option<&str>,
    ) -> Option<String> {
        let q = |v: &str| self.shown_header(&h.name, v);
        let render = |t| {
            self.templates
                .render_text(t, self.ctx)
                .map_err(|e| e.message)
        };
        match (check, actual) {
            (HeaderCheck::Present(true), None) => {
                Some("expected to be present, it is absent".into())
            }
            (HeaderCheck::Present(false), Some(v)) => {
                Some(format!("expected to be absent, got {}", q(v)))
            }
            (HeaderCheck::Present(_), _) => None,
            (_, None) => Some("absent".to_string()),
            (HeaderCheck::Equals(t), Some(v)) => match render(t) {
                Ok(want) if want == v => None,
                Ok(want) => Some(format!("expected {}, got {}", q(&want), q(v))),
                Err(e) => Some(e),
            },
            (HeaderCheck::Contains(t), Some(v)) => match render(t) {
                Ok(want) if v.contains(want.as_ref()) => None,
                Ok(want) => Some(format!("expected to contain {}, got {}", q(&want), q(v))),
                Err(e) => Some(e),
            },
            (HeaderCheck::Matches(re), Some(v)) => {
                (!re.is_match(v)).then(|| format!("expected to match /{re}/, got {}", q(v)))
            }
        }
    }

    fn header(&mut self, h: &HeaderExpect) {
        let actual = self.response.header(&h.name);
        let problems: Vec<String> = h
            .checks
            .iter()
            .filter_map(|c| self.header_problem(h, c, actual.as_deref()))
            .map(|p| format!("header {}: {p}", h.name))
            .collect();
        let failure = (!problems.is_empty()).then(|| problems.join("\n"));
        let shown = actual.map(|v| {
            let v = if is_secret_header(&h.name) {
                MASK.to_string()
            } else {
                v
            };
            self.secrets.mask_value(&Json::from(v))
        });
        self.rec
            .record(&h.at, format!("header {}", h.name), shown, failure);
    }

    fn duration(&mut self, limit: std::time::Duration, at: &crate::load::Pos) {
        let took = self.response.exchange.duration;
        let problem = (took > limit).then(|| {
            format!(
                "response time: expected at most {}, took {}",
                format_duration(limit),
                format_duration(took)
            )
        });
        let ms = Json::from((took.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0);
        self.rec.record(at, "response time (ms)", Some(ms), problem);
    }

    fn json(&mut self, asserts: &[JsonAssert]) {
        let Some(first) = asserts.first() else { return };
        // One path is followed while the body is read; several share one parse.
        let found: Result<Vec<Option<Json>>, String> = match asserts {
            [only] => self.response.query(&only.path).map(|v| vec![v]),
            _ => self
                .response
                .json()
                .map(|doc| asserts.iter().map(|a| a.path.query(doc)).collect()),
        };
        let found = match found {
            Err(e) => return self.rec.record(&first.at, "body", None, Some(e)),
            Ok(found) => found,
        };
        for (a, actual) in asserts.iter().zip(found) {
            let show = Show {
                secrets: self.secrets,
                hide: hides(&a.path),
            };
            let eval = Eval {
                templates: self.templates,
                ctx: self.ctx,
                show: &show,
            };
            let problems: Vec<String> = a
                .predicates
                .iter()
                .filter_map(|p| eval.eval(p, actual.as_ref()).err())
                .map(|m| format!("{}: {m}", a.path.src))
                .collect();
            // One failure per path; its further predicates on indented lines.
            let failure = (!problems.is_empty()).then(|| problems.join("\n    "));
            let shown = actual.as_ref().map(|v| show.value(v));
            self.rec
                .record(&a.at, a.path.src.to_string(), shown, failure);
        }
    }

    fn schema(&mut self, s: &SchemaCheck) {
        let subject = format!("schema {}", s.file);
        match self.response.json() {
            Err(e) => self.rec.record(&s.at, subject, None, Some(e)),
            Ok(doc) => {
                let failure = schema_errors(&s.schema, doc, self.secrets)
                    .map(|e| format!("the body does not match {}:\n{e}", s.file));
                self.rec.record(&s.at, subject, None, failure);
            }
        }
    }
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
/// How much of a text body a diff compares.
const DIFF_BYTES: usize = 64 * 1024;

impl Checker<'_> {
    /// The documented response for the status that came (or the one asked
    /// for): the exact code, then its class (`2XX`), then `default`.
    fn openapi(&mut self, o: &OpenApiCheck) {
        let code = self.response.exchange.status.as_u16().to_string();
        let wanted = o.status.clone().unwrap_or_else(|| code.clone());
        let class = format!("{}XX", &wanted[..1]);
        let find = |want: &dyn Fn(&str) -> bool| o.responses.iter().find(|r| want(&r.status));
        let documented = find(&|s| s == wanted)
            .or_else(|| find(&|s| s.eq_ignore_ascii_case(&class)))
            .or_else(|| find(&|s| s == "default"));
        let failure = match documented {
            None => Some(format!(
                "{} documents no response for status {wanted}",
                o.operation
            )),
            Some(r) => {
                let problems: Vec<String> = [
                    self.documented_media_type(r, &o.operation),
                    self.documented_headers(r, &o.operation),
                    self.documented_body(r, &o.operation),
                ]
                .into_iter()
                .flatten()
                .collect();
                (!problems.is_empty()).then(|| problems.join("\n"))
            }
        };
        let subject = format!("openapi {}", o.operation);
        self.rec
            .record(&o.at, subject, Some(Json::from(code)), failure);
    }

    /// The response's `Content-Type` is one the response documents.
    fn documented_media_type(&self, r: &DocumentedResponse, operation: &str) -> Option<String> {
        if r.media_types.is_empty() || self.response.exchange.body.is_empty() {
            return None;
        }
        let came = self
            .response
            .exchange
            .content_type()
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let matches = |m: &String| {
            m == &came
                || m == "*/*"
                || m.strip_suffix("/*")
                    .is_some_and(|kind| came.starts_with(&format!("{kind}/")))
        };
        (!r.media_types.iter().any(matches)).then(|| {
            format!(
                "Content-Type `{came}` is not one {operation} documents for {} ({})",
                r.status,
                r.media_types.join(", ")
            )
        })
    }

    /// Every header the response marks `required` came.
    fn documented_headers(&self, r: &DocumentedResponse, operation: &str) -> Option<String> {
        let missing: Vec<&str> = r
            .required_headers
            .iter()
            .filter(|h| self.response.exchange.headers.get(h.as_str()).is_none())
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "{operation} requires the header(s) {} in its {} response; none came",
                missing.join(", "),
                r.status
            )
        })
    }

    /// The body matches the documented schema.
    fn documented_body(&self, r: &DocumentedResponse, operation: &str) -> Option<String> {
        let schema = r.schema.as_ref()?;
        match self.response.json() {
            Err(e) => Some(e),
            Ok(doc) => schema_errors(schema, doc, self.secrets).map(|e| {
                format!(
                    "the body does not match the {} response of {operation}:\n{e}",
                    r.status
                )
            }),
        }
    }

    fn body(&mut self, body: &BodyExpect) {
        if let Some(expected) = &body.json {
            self.body_json(expected, &body.ignore);
        }
        if let Some(equals) = &body.equals {
            self.body_equals(equals);
        }
        for needle in &body.contains {
            self.body_contains(needle);
        }
        if let Some((re, at)) = &body.matches {
            let problem = (!re.is_match(&self.response.exchange.body_text())).then(|| {
                format!(
                    "body: expected to match /{re}/; it starts with {:?}",
                    self.response.shown_body(200)
                )
            });
            let seen = self.shown_text();
            self.rec.record(at, "body matches", seen, problem);
        }
    }

    /// The start of the body, as text assertions record it.
    fn shown_text(&self) -> Option<Json> {
        Some(Json::from(self.response.shown_body(200)))
    }

    /// The whole body equals a JSON value, the `ignore` paths left out of
    /// both.
    fn body_json(&mut self, expected: &crate::load::Data, ignore: &[crate::load::JsonPath]) {
        let want = self.templates.render_data(expected, self.ctx);
        let (mut want, got) = match (want, self.response.json()) {
            (Err(e), _) => return self.rec.record(&e.at, "body JSON", None, Some(e.message)),
            (_, Err(e)) => return self.rec.record(&expected.at, "body JSON", None, Some(e)),
            (Ok(want), Ok(got)) => (want, got),
        };
        let mut got = got.clone();
        for path in ignore {
            json::remove_matches(&mut want, path);
            json::remove_matches(&mut got, path);
        }
        let show = Show {
            secrets: self.secrets,
            hide: false,
        };
        let problem = (!json::json_eq(&want, &got)).then(|| {
            let paths: Vec<&str> = ignore.iter().map(|p| &*p.src).collect();
            let ignored = if paths.is_empty() {
                String::new()
            } else {
                format!(" (ignoring {})", paths.join(", "))
            };
            format!("body JSON differs{ignored}:\n{}", show.diff(&want, &got))
        });
        self.rec
            .record(&expected.at, "body JSON", Some(show.value(&got)), problem);
    }

    fn body_equals(&mut self, equals: &crate::load::Text) {
        let text = self.response.exchange.body_text();
        let problem = match self.templates.render_text(equals, self.ctx) {
            Err(e) => Some(e.message),
            Ok(want) if want == text => None,
            Ok(want) => {
                // Masked before they are compared; long bodies by their start.
                let (want, long_want) = self.secrets.mask_prefix(&want, DIFF_BYTES);
                let (got, long_got) = self.secrets.mask_prefix(&text, DIFF_BYTES);
                let note = if long_want || long_got {
                    format!(" (the first {} KiB of each)", DIFF_BYTES / 1024)
                } else {
                    String::new()
                };
                // Lines are compared whole: a missing final newline would
                // otherwise hide the last line's difference.
                let line_end = |s: &str| {
                    if s.ends_with('\n') {
                        s.to_string()
                    } else {
                        format!("{s}\n")
                    }
                };
                let (want_lines, got_lines) = (line_end(&want), line_end(&got));
                Some(if want_lines == got_lines {
                    let ends = |s: &str| {
                        if s.ends_with('\n') {
                            "has one"
                        } else {
                            "has none"
                        }
                    };
                    format!(
                        "body differs only in its last newline: the expected body {}, the response {}",
                        ends(&want),
                        ends(&got)
                    )
                } else {
                    format!(
                        "body differs{note}:\n{}",
                        json::diff_text(&want_lines, &got_lines)
                    )
                })
            }
        };
        let seen = self.shown_text();
        self.rec.record(&equals.at, "body equals", seen, problem);
    }

    fn body_contains(&mut self, needle: &crate::load::Text) {
        let text = self.response.exchange.body_text();
        let problem = match self.templates.render_text(needle, self.ctx) {
            Err(e) => Some(e.message),
            Ok(want) if text.contains(want.as_ref()) => None,
            Ok(want) => Some(format!(
                "body: expected to contain {:?}; it starts with {:?}",
                self.secrets.excerpt(&want, 200),
                self.response.shown_body(200)
            )),
        };
        let seen = self.shown_text();
        self.rec.record(&needle.at, "body contains", seen, problem);
    }
}
