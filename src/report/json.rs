//! The JSON report: every request with its result, timing, request line,
//! status, assertions and the values they saw, then a summary. Its format
//! is the types below; it is written as the outcomes come, from masked
//! values.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value as Json;

use super::Row;
use crate::run::Outcome;
use crate::secrets::Secrets;

/// What the report says before its requests.
#[derive(Serialize)]
struct Head {
    /// The version of reqtest that wrote it.
    reqtest: &'static str,
    /// When the run started (RFC 3339, UTC).
    started: String,
    /// Whether server certificates went unchecked (`--insecure`).
    tls_insecure: bool,
}

/// One request of the run.
#[derive(Serialize)]
struct ReportedRequest<'a> {
    collection: &'a str,
    file: &'a str,
    request: &'a str,
    /// For an item of a `for_each` over a captured list: the request's
    /// name as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    item_of: Option<&'a str>,
    line: u32,
    /// `passed`, `failed` or `not_run`.
    result: &'static str,
    /// Its tags, the collection's first.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [String],
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// `1.1` or `2`: the version the response came in.
    #[serde(skip_serializing_if = "Option::is_none")]
    http_version: Option<&'static str>,
    /// The redirects followed, in order.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    redirects: Vec<ReportedRedirect<'a>>,
    /// With `retry`: the attempts before the one reported.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    attempts: Vec<ReportedAttempt<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assertions: Option<Vec<ReportedAssertion<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

/// An attempt of a retried request before the one reported.
#[derive(Serialize)]
struct ReportedAttempt<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    duration_ms: f64,
    failure: &'a str,
    waited_ms: f64,
}

/// One redirect followed on the way to the response.
#[derive(Serialize)]
struct ReportedRedirect<'a> {
    status: u16,
    url: &'a str,
    location: &'a str,
    /// It left the first origin: credentials and cookies stayed behind
    /// (not named after them: the report masks such keys).
    left_origin: bool,
}

/// One assertion of a request, passed or not, and the value it saw.
#[derive(Serialize)]
struct ReportedAssertion<'a> {
    /// `file:line:column` of the assertion.
    at: String,
    subject: &'a str,
    passed: bool,
    actual: &'a Json,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

/// What the report says after its requests.
#[derive(Serialize)]
struct Summary<'a> {
    passed: u64,
    failed: u64,
    not_run: u64,
    duration_ms: f64,
    /// Each collection's request times.
    latency: IndexMap<&'a str, super::latency::Latency>,
    /// What the run exercised of each OpenAPI document.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    openapi_coverage: &'a [super::coverage::Figures],
}

/// The JSON report being written.
pub struct JsonReport {
    out: BufWriter<File>,
    first: bool,
    counts: [u64; 3],
    started: SystemTime,
}

fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl JsonReport {
    /// Creates the file at `path` and writes the report's head.
    pub fn create(path: &Path, tls_insecure: bool) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        let started = SystemTime::now();
        let head = Head {
            reqtest: env!("CARGO_PKG_VERSION"),
            started: chrono::DateTime::<chrono::Utc>::from(started)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            tls_insecure,
        };
        let head = serde_json::to_string(&head)?;
        // The head's fields, then the requests as they come.
        write!(out, "{},\"requests\":[", head.trim_end_matches('}'))?;
        Ok(JsonReport {
            out,
            first: true,
            counts: [0; 3],
            started,
        })
    }

    /// Appends one request, masked.
    pub fn record(&mut self, row: &Row, secrets: &Secrets) -> io::Result<()> {
        let null = Json::Null;
        let detail = row.detail();
        let no_answer = match row.outcome {
            Outcome::Failed {
                request: Some(r), ..
            } => Some(r),
            _ => None,
        };
        let reported = ReportedRequest {
            collection: &row.collection.name,
            file: &row.collection.file,
            request: row.name,
            item_of: row.item_of,
            line: row.request.at.line,
            result: row.result(),
            tags: &row.request.tags,
            duration_ms: millis(row.duration()),
            method: detail
                .map(|d| d.method.as_str())
                .or(no_answer.map(|r| r.method.as_str())),
            url: detail
                .map(|d| d.url.as_str())
                .or(no_answer.map(|r| r.url.as_str())),
            status: detail.map(|d| d.status),
            http_version: detail.map(|d| d.http_version),
            redirects: detail
                .map(|d| {
                    d.redirects
                        .iter()
                        .map(|r| ReportedRedirect {
                            status: r.status,
                            url: &r.url,
                            location: &r.location,
                            left_origin: r.left_origin,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            attempts: detail
                .map(|d| {
                    d.attempts
                        .iter()
                        .map(|a| ReportedAttempt {
                            status: a.status,
                            duration_ms: millis(a.duration),
                            failure: &a.failure,
                            waited_ms: millis(a.waited),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            assertions: detail.map(|d| {
                d.assertions
                    .iter()
                    .map(|a| ReportedAssertion {
                        at: a.at.to_string(),
                        subject: &a.subject,
                        passed: a.passed(),
                        actual: a.actual.as_ref().unwrap_or(&null),
                        message: a.failure.as_deref(),
                    })
                    .collect()
            }),
            message: row.message.as_deref(),
        };
        self.write_item(&reported, secrets)
    }

    /// Appends a collection's `thresholds` test.
    pub fn record_thresholds(
        &mut self,
        collection: &crate::load::Collection,
        line: u32,
        failure: Option<&str>,
        secrets: &Secrets,
    ) -> io::Result<()> {
        let reported = ReportedRequest {
            collection: &collection.name,
            file: &collection.file,
            request: crate::load::THRESHOLDS_TEST,
            item_of: None,
            line,
            result: if failure.is_some() {
                "failed"
            } else {
                "passed"
            },
            tags: &collection.tags,
            duration_ms: 0.0,
            method: None,
            url: None,
            status: None,
            http_version: None,
            redirects: Vec::new(),
            attempts: Vec::new(),
            assertions: None,
            message: failure,
        };
        self.write_item(&reported, secrets)
    }

    fn write_item(&mut self, reported: &ReportedRequest, secrets: &Secrets) -> io::Result<()> {
        self.counts[match reported.result {
            "passed" => 0,
            "failed" => 1,
            _ => 2,
        }] += 1;
        // Written from masked values: a secret escaped by the serializer
        // (`\"`, `\\`) would no longer match its registered spelling.
        let mut item = serde_json::to_value(reported)?;
        secrets.mask_in_place(&mut item);
        let text = serde_json::to_string(&item)?;
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        self.out.write_all(b"\n")?;
        self.out.write_all(secrets.redact(&text).as_bytes())
    }

    /// Writes the summary, with each collection's `latency`, and closes the file.
    pub fn finish(
        mut self,
        latency: IndexMap<&str, super::latency::Latency>,
        openapi_coverage: &[super::coverage::Figures],
    ) -> io::Result<()> {
        let summary = Summary {
            passed: self.counts[0],
            failed: self.counts[1],
            not_run: self.counts[2],
            duration_ms: millis(self.started.elapsed().unwrap_or_default()),
            latency,
            openapi_coverage,
        };
        write!(
            self.out,
            "\n],\"summary\":{}}}\n",
            serde_json::to_string(&summary)?
        )?;
        self.out.flush()
    }
}
