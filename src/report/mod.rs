//! Report stage: a sink of run events. Each event becomes the verdict its
//! trial prints (masked), rows of the JUnit and JSON files, verbose traffic
//! and a progress line.

mod console;
pub mod coverage;
pub mod html;
mod json;
mod junit;
pub mod latency;
pub mod merge;

use std::path::PathBuf;
use std::time::Duration;

use crate::load::{Collection, Request};
use crate::run::{Detail, Outcome};

pub use console::Reporter;

/// Report files and console extras of a run.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Where to write a JUnit XML report (`--junit`).
    pub junit: Option<PathBuf>,
    /// Where to write a JSON report (`--json`).
    pub json: Option<PathBuf>,
    /// Where to write an HTML report (`--html`).
    pub html: Option<PathBuf>,
    /// Each request and response on stderr, secrets masked.
    pub verbose: bool,
    /// `--openapi-coverage`: specs whose coverage is reported (besides
    /// those `expect.openapi` uses).
    pub openapi_coverage: Vec<PathBuf>,
}

/// What a trial learns of its request: already redacted.
pub enum Verdict {
    /// The request passed.
    Pass,
    /// The request failed, with why.
    Fail(String),
    /// The request was not run, with why.
    Ignore(String),
}

/// One request's outcome as every report sees it, secrets already masked.
pub struct Row<'a> {
    /// The request's collection.
    pub collection: &'a Collection,
    /// The request.
    pub request: &'a Request,
    /// Its test's name: the request's, or its item's.
    pub name: &'a str,
    /// For an item of a `for_each` over a captured list: the request's
    /// name as written, which `--rerun-failed` selects.
    pub item_of: Option<&'a str>,
    /// How it ended.
    pub outcome: &'a Outcome,
    /// The failure or not-run message, redacted.
    pub message: Option<String>,
    /// Whether it counts as not run rather than failed (its blocker is
    /// reported itself).
    pub skipped: bool,
}

impl Row<'_> {
    fn detail(&self) -> Option<&Detail> {
        match self.outcome {
            Outcome::Passed { detail, .. } => Some(detail),
            Outcome::Failed { detail, .. } => detail.as_deref(),
            Outcome::NotRun { .. } | Outcome::Skipped { .. } => None,
        }
    }

    /// What the request took: to its response, or to giving up.
    fn duration(&self) -> Duration {
        match (self.detail(), self.outcome) {
            (Some(d), _) => d.duration,
            (
                None,
                Outcome::Failed {
                    request: Some(r), ..
                },
            ) => r.elapsed,
            _ => Duration::ZERO,
        }
    }

    fn result(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed { .. } => "passed",
            Outcome::Failed { .. } => "failed",
            Outcome::NotRun { .. } | Outcome::Skipped { .. } if self.skipped => "not_run",
            Outcome::NotRun { .. } | Outcome::Skipped { .. } => "failed",
        }
    }
}
