//! Report stage: a sink of run events. Each event becomes the verdict its
//! trial prints (masked), rows of the JUnit and JSON files, verbose traffic
//! and a progress line.

mod console;
mod files;

use std::path::PathBuf;

pub use console::Reporter;

/// Report files and console extras of a run.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
    /// Each request and response on stderr, secrets masked.
    pub verbose: bool,
}

/// What a trial learns of its request: already redacted.
pub enum Verdict {
    Pass,
    Fail(String),
    Ignore(String),
}
