//! OpenAPI coverage: every request sent matched to an operation of each
//! spec, and what was exercised: operations, documented responses, and
//! statuses the spec does not document.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::load::openapi::Spec;

/// What a run exercised of one spec, as it goes.
pub struct Coverage {
    spec: Spec,
    /// Operations called, by index.
    called: BTreeSet<usize>,
    /// (operation, documented status) pairs answered.
    responses: BTreeSet<(usize, String)>,
    /// `GET /a/user/{Login} answered 500`, once each.
    undocumented: BTreeSet<String>,
}

/// The figures of one spec, for the JSON report.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// The spec file.
    pub spec: String,
    /// Operations called of those documented.
    pub operations: (usize, usize),
    /// Documented responses seen of those documented.
    pub responses: (usize, usize),
    /// Operations never called.
    pub uncalled: Vec<String>,
    /// Statuses that came and the spec does not document.
    pub undocumented: Vec<String>,
}

impl Coverage {
    /// Nothing covered of `spec` yet.
    pub fn new(spec: Spec) -> Coverage {
        Coverage {
            spec,
            called: BTreeSet::new(),
            responses: BTreeSet::new(),
            undocumented: BTreeSet::new(),
        }
    }

    /// A request of `method` to `url` was answered `status`.
    pub fn add(&mut self, method: &str, url: &str, status: u16) {
        let Ok(parsed) = url::Url::parse(url) else {
            return;
        };
        let Some(i) = self.spec.find(method, parsed.path()) else {
            return;
        };
        self.called.insert(i);
        let op = &self.spec.operations[i];
        let code = status.to_string();
        let class = format!("{}XX", &code[..1]);
        let documented = op
            .statuses
            .iter()
            .find(|s| **s == code)
            .or_else(|| op.statuses.iter().find(|s| s.eq_ignore_ascii_case(&class)))
            .or_else(|| op.statuses.iter().find(|s| *s == "default"));
        match documented {
            Some(s) => {
                self.responses.insert((i, s.clone()));
            }
            None => {
                self.undocumented
                    .insert(format!("{} {} answered {status}", op.method, op.path));
            }
        }
    }

    /// The figures so far.
    pub fn figures(&self) -> Figures {
        let ops = &self.spec.operations;
        Figures {
            spec: self.spec.file.display().to_string(),
            operations: (self.called.len(), ops.len()),
            responses: (
                self.responses.len(),
                ops.iter().map(|o| o.statuses.len()).sum(),
            ),
            uncalled: ops
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.called.contains(i))
                .map(|(_, o)| format!("{} {}", o.method, o.path))
                .collect(),
            undocumented: self.undocumented.iter().cloned().collect(),
        }
    }
}

/// The console lines of one spec's figures; the uncalled operations up to
/// `shown` of them.
pub fn lines(f: &Figures, shown: usize) -> String {
    let mut out = format!(
        "openapi coverage of {}: {}/{} operations, {}/{} responses\n",
        f.spec, f.operations.0, f.operations.1, f.responses.0, f.responses.1
    );
    if !f.uncalled.is_empty() {
        let more = f.uncalled.len().saturating_sub(shown);
        out.push_str(&format!(
            "  never called: {}",
            f.uncalled[..f.uncalled.len().min(shown)].join(", ")
        ));
        if more > 0 {
            out.push_str(&format!(" and {more} more"));
        }
        out.push('\n');
    }
    for u in &f.undocumented {
        out.push_str(&format!("  undocumented status: {u}\n"));
    }
    out
}
