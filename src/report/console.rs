//! What the run tells as it goes, besides libtest's lines: the verdict each
//! trial prints (redacted), report files, verbose traffic and a progress
//! line. Everything shown passes through the run's secrets first.

use std::io::{IsTerminal, Write};

use libtest_mimic::{Arguments, FormatSetting};

use super::json::JsonReport;
use super::junit::Junit;
use super::Row;
use super::{ReportOptions, Verdict};
use crate::resolve::Plan;
use crate::run::{Detail, Event, Outcome};
use crate::secrets::{cut, Secrets};

/// Runs with fewer requests finish before a progress line would help.
const PROGRESS_FROM: usize = 20;

/// Turns the runner's events into libtest verdicts, report files, traffic
/// and progress.
pub struct Reporter {
    secrets: Secrets,
    /// The collections' names, for the latency figures.
    names: Vec<String>,
    times: super::latency::Times,
    /// Per collection: requests sent, and how many of them failed.
    sent: Vec<(usize, usize)>,
    coverage: Vec<super::coverage::Coverage>,
    junit: Option<Junit>,
    json: Option<JsonReport>,
    html: Option<super::html::HtmlReport>,
    verbose: bool,
    progress: Option<(usize, usize)>,
    error: Option<String>,
}

impl Reporter {
    /// A reporter for `plan`, its report files created; `selected` is how
    /// many requests will run.
    pub fn new(
        plan: &Plan,
        options: &ReportOptions,
        selected: usize,
        args: &Arguments,
    ) -> Result<Self, String> {
        let junit = options
            .junit
            .as_ref()
            .map(|p| {
                let insecure = plan.collections.iter().map(|c| c.tls.insecure).collect();
                Junit::create(p, insecure)
                    .map_err(|e| format!("cannot write the JUnit report {}: {e}", p.display()))
            })
            .transpose()?;
        let html = options
            .html
            .as_ref()
            .map(|p| {
                super::html::HtmlReport::create(p)
                    .map_err(|e| format!("cannot write the HTML report {}: {e}", p.display()))
            })
            .transpose()?;
        let json = options
            .json
            .as_ref()
            .map(|p| {
                JsonReport::create(p, plan.insecure())
                    .map_err(|e| format!("cannot write the JSON report {}: {e}", p.display()))
            })
            .transpose()?;
        // On a terminal, and only where it does not tangle with libtest's
        // own lines: when those go elsewhere, or are one character each.
        let terse = args.quiet || matches!(args.format, Some(FormatSetting::Terse));
        let progress = (std::io::stderr().is_terminal()
            && (terse || !std::io::stdout().is_terminal())
            && !options.verbose
            && !args.list
            && selected >= PROGRESS_FROM)
            .then_some((0, selected));
        Ok(Reporter {
            secrets: plan.secrets.clone(),
            names: plan
                .collections
                .iter()
                .map(|c| c.collection.name.clone())
                .collect(),
            times: Default::default(),
            sent: vec![(0, 0); plan.collections.len()],
            coverage: coverage(plan, options)?,
            junit,
            json,
            html,
            verbose: options.verbose,
            progress,
            error: None,
        })
    }

    /// `tests` tests take the place of `counted` in the progress line (the
    /// items of a list captured during the run).
    pub fn expect_tests(&mut self, tests: usize, counted: usize) {
        if let Some((_, total)) = &mut self.progress {
            *total = (*total + tests).saturating_sub(counted);
        }
    }

    /// Counts a request that was sent (for `thresholds`), its time and its
    /// operation in the OpenAPI coverage.
    fn tally(&mut self, e: &Event) {
        if let Outcome::Passed { .. } | Outcome::Failed { .. } = e.outcome {
            let (sent, failed) = &mut self.sent[e.collection];
            *sent += 1;
            *failed += usize::from(matches!(e.outcome, Outcome::Failed { .. }));
        }
        let detail = match &e.outcome {
            Outcome::Passed { detail, .. } => Some(&**detail),
            Outcome::Failed { detail, .. } => detail.as_deref(),
            _ => None,
        };
        if let Some(d) = detail {
            self.times.add(e.collection, d.duration);
            for c in &mut self.coverage {
                c.add(&d.method, &d.url, d.status);
            }
        }
    }

    /// Reports one finished request and says what its trial shows.
    pub fn handle(&mut self, plan: &Plan, e: &Event) -> Verdict {
        let collection = &plan.collections[e.collection].collection;
        let request = &collection.requests[e.request];
        self.tally(e);
        let redact = |text: &str| self.secrets.redact(text).into_owned();
        let (verdict, message, skipped) = match &e.outcome {
            Outcome::Passed { .. } => (Verdict::Pass, None, false),
            Outcome::Skipped { reason } => {
                let reason = redact(&format!("not run: {reason}"));
                (Verdict::Ignore(reason.clone()), Some(reason), true)
            }
            Outcome::Failed { message, .. } => {
                let m = redact(message);
                (Verdict::Fail(m.clone()), Some(m), false)
            }
            Outcome::NotRun {
                blocked_by,
                blocker_reported: true,
                missing,
                ..
            } => {
                let reason = redact(&format!(
                    "not run: `{blocked_by}` failed{}",
                    uncaptured(missing)
                ));
                (Verdict::Ignore(reason.clone()), Some(reason), true)
            }
            Outcome::NotRun {
                blocked_by,
                at,
                blocker_message,
                missing,
                ..
            } => {
                let m = redact(&format!(
                    "not run: `{blocked_by}` ({at}), which this request depends on, failed{}:\n{blocker_message}",
                    uncaptured(missing)
                ));
                (Verdict::Fail(m.clone()), Some(m), false)
            }
        };
        let name = e.item.as_ref().map_or(request.name.as_str(), |i| &i.name);
        let row = Row {
            collection,
            request,
            name,
            item_of: e.item.as_ref().map(|_| request.name.as_str()),
            outcome: &e.outcome,
            message,
            skipped,
        };
        if self.verbose {
            let detail = match &e.outcome {
                Outcome::Passed { detail, .. } => Some(&**detail),
                Outcome::Failed { detail, .. } => detail.as_deref(),
                Outcome::NotRun { .. } | Outcome::Skipped { .. } => None,
            };
            if let Some(d) = detail {
                self.print_traffic(&format!("{}::{name}", collection.name), d);
            }
        }
        if self.error.is_none() {
            if let Some(j) = &mut self.junit {
                if let Err(err) = j.record(e.collection, &row) {
                    self.error = Some(format!("cannot write the JUnit report: {err}"));
                }
            }
            if let Some(h) = &mut self.html {
                if let Err(err) = h.record(&row, &self.secrets) {
                    self.error = Some(format!("cannot write the HTML report: {err}"));
                }
            }
            if let Some(j) = &mut self.json {
                if let Err(err) = j.record(&row, &self.secrets) {
                    self.error = Some(format!("cannot write the JSON report: {err}"));
                }
            }
        }
        if let Some((done, total)) = &mut self.progress {
            *done += 1;
            let name: String = format!("{}::{name}", collection.name)
                .chars()
                .take(60)
                .collect();
            let _ = write!(std::io::stderr(), "\r\x1b[2K[{done}/{total}] {name}");
        }
        verdict
    }

    /// The request and the response, as `curl -v` shows them, masked.
    fn print_traffic(&self, name: &str, d: &Detail) {
        let mut out = String::new();
        out.push_str(&format!("* {name}\n"));
        for (i, a) in d.attempts.iter().enumerate() {
            let status = a
                .status
                .map_or("no response".to_string(), |s| s.to_string());
            let failure = a.failure.lines().next().unwrap_or("");
            out.push_str(&format!(
                "* attempt {}: {status} in {}: {failure}; waited {}\n",
                i + 1,
                crate::load::format_duration(a.duration),
                crate::load::format_duration(a.waited)
            ));
        }
        out.push_str(&format!("> {} {}\n", d.method, d.url));
        for (k, v) in &d.request_headers {
            out.push_str(&format!("> {k}: {v}\n"));
        }
        if let Some(body) = &d.request_body {
            out.push_str(">\n");
            for line in body.lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
        for hop in &d.redirects {
            let dropped = if hop.left_origin {
                " (another origin: Authorization, the token and cookies stay behind)"
            } else {
                ""
            };
            out.push_str(&format!(
                "< {} from {}\n> followed to {}{dropped}\n",
                hop.status, hop.url, hop.location
            ));
        }
        out.push_str(&format!(
            "< HTTP/{} {} ({})\n",
            d.http_version,
            d.status,
            crate::load::format_duration(d.duration)
        ));
        for (k, v) in &d.response_headers {
            out.push_str(&format!("< {k}: {v}\n"));
        }
        if !d.response_body.is_empty() {
            out.push_str("<\n");
            // Masked when it was kept, so cutting it now shows no secret.
            for line in cut(&d.response_body, 1000).lines() {
                out.push_str(&format!("< {line}\n"));
            }
        }
        let _ = std::io::stderr().write_all(self.secrets.redact(&out).as_bytes());
    }

    /// Completes the report files; the first error writing them, if any.
    /// Writes collection `ci`'s `thresholds` test to the report files.
    /// Whether collection `ci`, whose requests are all done, held its
    /// `thresholds`; written to the report files as one more test.
    pub fn thresholds(&mut self, plan: &Plan, ci: usize) -> Verdict {
        let collection = &plan.collections[ci].collection;
        let Some(t) = &collection.thresholds else {
            return Verdict::Pass;
        };
        let latency = self.times.summary(ci + 1).pop().flatten();
        let (sent, failed) = self.sent[ci];
        let failure = super::latency::check(t, latency.as_ref(), failed, sent)
            .err()
            .map(|m| self.secrets.redact(&m).into_owned());
        let verdict = match &failure {
            Some(m) => Verdict::Fail(m.clone()),
            None => Verdict::Pass,
        };
        let result = if failure.is_some() {
            "failed"
        } else {
            "passed"
        };
        let written = (|| -> std::io::Result<()> {
            if let Some(j) = &mut self.junit {
                j.case(
                    ci,
                    &super::junit::Case {
                        collection: &collection.name,
                        file: &collection.file,
                        name: crate::load::THRESHOLDS_TEST,
                        line: t.at.line,
                        time: std::time::Duration::ZERO,
                        result,
                        message: failure.as_deref(),
                        tags: &collection.tags,
                    },
                )?;
            }
            if let Some(j) = &mut self.json {
                j.record_thresholds(collection, t.at.line, failure.as_deref(), &self.secrets)?;
            }
            if let Some(h) = &mut self.html {
                let row = serde_json::json!({
                    "collection": collection.name, "request": crate::load::THRESHOLDS_TEST,
                    "result": result, "duration_ms": 0.0, "message": failure, "tags": collection.tags,
                });
                h.record_json(&row, 0.0)?;
            }
            Ok(())
        })();
        if let (Err(e), None) = (written, &self.error) {
            self.error = Some(format!("cannot write the reports: {e}"));
        }
        verdict
    }

    /// Closes the report files; the latency table to print after the run
    /// (empty when no request got a response).
    pub fn finish(self) -> Result<String, String> {
        if self.progress.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        let figures = self.times.summary(self.names.len());
        let covered: Vec<super::coverage::Figures> =
            self.coverage.iter().map(|c| c.figures()).collect();
        if let Some(j) = self.junit {
            j.finish()
                .map_err(|e| format!("cannot write the JUnit report: {e}"))?;
        }
        let latency: indexmap::IndexMap<&str, super::latency::Latency> = self
            .names
            .iter()
            .zip(&figures)
            .filter_map(|(n, l)| Some((n.as_str(), l.clone()?)))
            .collect();
        if let Some(h) = self.html {
            h.finish(&latency, &covered)
                .map_err(|e| format!("cannot write the HTML report: {e}"))?;
        }
        if let Some(j) = self.json {
            j.finish(latency, &covered)
                .map_err(|e| format!("cannot write the JSON report: {e}"))?;
        }
        let mut out = String::new();
        if figures.iter().any(Option::is_some) {
            let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
            out.push_str(&super::latency::table(&names, &figures));
        }
        for f in &covered {
            out.push_str(&super::coverage::lines(f, 20));
        }
        Ok(out)
    }
}

/// `, and it reads `id`, which was never captured` for an `always` request
/// whose variable the failure left unset.
fn uncaptured(missing: &Option<String>) -> String {
    missing
        .as_ref()
        .map(|m| format!(", and it reads `{m}`, which was never captured"))
        .unwrap_or_default()
}

/// The coverage tallies of the specs asked for and of those the plan's
/// `expect.openapi` checks use, each once.
fn coverage(
    plan: &Plan,
    options: &ReportOptions,
) -> Result<Vec<super::coverage::Coverage>, String> {
    let mut files: Vec<std::path::PathBuf> = options.openapi_coverage.clone();
    let used = plan
        .collections
        .iter()
        .flat_map(|c| c.collection.requests.iter())
        .filter_map(|r| r.expect.openapi.as_ref().map(|o| o.spec.clone()));
    for file in used {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    files
        .iter()
        .map(|f| crate::load::openapi::Spec::read(f).map(super::coverage::Coverage::new))
        .collect()
}
