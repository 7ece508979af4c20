//! Requests as libtest trials: each request is a trial named
//! `<collection>::<request>` waiting for its verdict, which the runner
//! (on a thread of its own) produces through the reporter. libtest's
//! filters, `--list`, `--exact`, `--ignored` and `--test-threads` work as
//! users know them.

use std::sync::mpsc;
use std::sync::Arc;

use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};

use super::{SuiteError, Tags};
use crate::load::Collection;
use crate::report::{ReportOptions, Reporter, Verdict};
use crate::resolve::Plan;
use crate::run::{self, Event, Selection};

/// `<collection>::<request>`, the name of request `ri`'s test.
pub fn test_name(collection: &Collection, ri: usize) -> String {
    format!("{}::{}", collection.name, collection.requests[ri].name)
}

pub(super) fn list(collections: &[Collection], args: &Arguments, tags: &Tags) -> Conclusion {
    let trials = collections
        .iter()
        .flat_map(|c| {
            c.requests
                .iter()
                .enumerate()
                .filter(move |(ri, _)| tags.selects(c, *ri))
                .map(move |(ri, r)| {
                    Trial::test(test_name(c, ri), || Ok(()))
                        .with_ignored_flag(r.ignore.is_some())
                        .with_kind(r.tags.join(","))
                })
                .chain(c.thresholds.iter().map(move |_| {
                    Trial::test(
                        format!("{}::{}", c.name, crate::load::THRESHOLDS_TEST),
                        || Ok(()),
                    )
                }))
        })
        .collect();
    libtest_mimic::run(args, trials)
}

/// Runs `plan` as libtest trials, fed their verdicts by the runner on a
/// thread of its own.
pub fn run_plan(
    plan: Plan,
    args: &Arguments,
    report: &ReportOptions,
    tags: &Tags,
) -> Result<Conclusion, SuiteError> {
    if plan.insecure() {
        eprintln!(
            "WARNING: TLS certificates are not checked in this run (--insecure or `defaults.tls.insecure`): any server can pose as the one you test"
        );
    }
    let plan = Arc::new(plan);
    let Trials {
        trials,
        senders,
        reported,
        thresholds,
    } = Trials::of(&plan, args, tags);
    let selected: usize = reported.iter().flatten().filter(|r| **r).count();
    // As libtest matches --skip: the name, and the name with its tags.
    let excluded = |ci: usize, ri: usize| {
        let collection = &plan.collections[ci].collection;
        let name = test_name(collection, ri);
        let tags = &collection.requests[ri].tags;
        let tagged = format!("[{}] {name}", tags.join(","));
        args.skip.iter().any(|s| {
            if args.exact {
                name == *s || (!tags.is_empty() && tagged == *s)
            } else {
                name.contains(s.as_str()) || (!tags.is_empty() && tagged.contains(s.as_str()))
            }
        })
    };
    let selection = Selection::with_excluded(&plan, |ci, ri| reported[ci][ri], excluded);
    if let Some((request, var, by)) = selection.missing_capture(&plan) {
        return Err(SuiteError::Usage(format!(
            "`{request}` reads `{var}`, which `{by}` captures, but --skip leaves `{by}` out (and a skipped request is never sent); skip `{request}` too, or do not skip `{by}`"
        )));
    }
    let mut reporter = Reporter::new(&plan, report, selected, args).map_err(SuiteError::Report)?;
    let options = run::RunOptions {
        concurrency: args.test_threads.unwrap_or(plan.collections.len().max(1)),
        traffic: report.verbose,
    };
    let runner_plan = plan.clone();
    let runner = std::thread::Builder::new()
        .name("reqtest-runner".into())
        .spawn(move || {
            {
                let reporter_cell = std::cell::RefCell::new(&mut reporter);
                let tally = std::cell::RefCell::new(Tally::new(&reported));
                let sink = |e: Event| {
                    let verdict = reporter_cell.borrow_mut().handle(&runner_plan, &e);
                    let done = tally.borrow_mut().count(&e);
                    if let (true, Some(tx)) = (done, &thresholds[e.collection]) {
                        let verdict = reporter_cell
                            .borrow_mut()
                            .thresholds(&runner_plan, e.collection);
                        let _ = tx.send(verdict);
                    }
                    if let Some(tx) = &senders[e.collection][e.request] {
                        // The trial may be gone if libtest stopped early; then
                        // there is nobody left to tell.
                        let _ = tx.send(verdict);
                    }
                };
                run::run(&runner_plan, &selection, &options, sink);
            }
            reporter.finish()
        })
        .expect("the runner thread starts");

    let conclusion = libtest_mimic::run(args, trials);
    match runner.join() {
        Ok(Ok(latency)) => {
            // After libtest's summary, so that the two never interleave.
            if !latency.is_empty() && !args.quiet {
                println!("{latency}");
            }
            Ok(conclusion)
        }
        Ok(Err(e)) => Err(SuiteError::Report(e)),
        Err(_) => Err(SuiteError::Report("the runner thread panicked".into())),
    }
}

/// The libtest trials of a plan and where each one's verdict goes.
struct Trials {
    trials: Vec<Trial>,
    /// By collection, then request: `None` for a request that is no test.
    senders: Vec<Vec<Option<mpsc::Sender<Verdict>>>>,
    /// By collection, then request: whether it is a test of this run.
    reported: Vec<Vec<bool>>,
    /// By collection: its `thresholds` trial, when it has one that waits.
    thresholds: Vec<Option<mpsc::Sender<Verdict>>>,
}

impl Trials {
    fn of(plan: &Plan, args: &Arguments, tags: &Tags) -> Trials {
        let mut all = Trials {
            trials: Vec::new(),
            senders: Vec::new(),
            reported: Vec::new(),
            thresholds: Vec::new(),
        };
        for pc in plan.collections.iter() {
            let mut senders = Vec::new();
            let mut reported = Vec::new();
            for (ri, request) in pc.collection.requests.iter().enumerate() {
                if !tags.selects(&pc.collection, ri) {
                    // Not a test of this run; it still runs if a test needs it.
                    reported.push(false);
                    senders.push(None);
                    continue;
                }
                let (tx, rx) = mpsc::channel::<Verdict>();
                let trial =
                    Trial::ignorable_test(test_name(&pc.collection, ri), move || wait_for(rx))
                        .with_ignored_flag(request.ignore.is_some())
                        .with_kind(request.tags.join(","));
                reported.push(!args.is_filtered_out(&trial) && !args.is_ignored(&trial));
                senders.push(Some(tx));
                all.trials.push(trial);
            }
            let waits = thresholds_trial(&pc.collection, &reported, &mut all.trials);
            all.thresholds.push(waits);
            all.senders.push(senders);
            all.reported.push(reported);
        }
        all
    }
}

/// The trial `collection::thresholds` of a collection with `thresholds`,
/// and where its verdict goes (none when none of its requests is a test).
fn thresholds_trial(
    c: &Collection,
    reported: &[bool],
    trials: &mut Vec<Trial>,
) -> Option<mpsc::Sender<Verdict>> {
    c.thresholds.as_ref()?;
    let (tx, rx) = mpsc::channel::<Verdict>();
    let name = format!("{}::{}", c.name, crate::load::THRESHOLDS_TEST);
    trials.push(Trial::ignorable_test(name, move || wait_for(rx)));
    if reported.iter().any(|r| *r) {
        Some(tx)
    } else {
        let _ = tx.send(Verdict::Ignore(
            "none of the collection's requests ran".into(),
        ));
        None
    }
}

/// How many reported requests each collection has still to come.
struct Tally {
    remaining: Vec<usize>,
}

impl Tally {
    fn new(reported: &[Vec<bool>]) -> Tally {
        Tally {
            remaining: reported
                .iter()
                .map(|c| c.iter().filter(|r| **r).count())
                .collect(),
        }
    }

    /// Counts `e`; whether it was its collection's last reported request.
    fn count(&mut self, e: &Event) -> bool {
        let left = &mut self.remaining[e.collection];
        *left = left.saturating_sub(1);
        *left == 0
    }
}

fn wait_for(rx: mpsc::Receiver<Verdict>) -> Result<Completion, Failed> {
    match rx.recv() {
        Ok(Verdict::Pass) => Ok(Completion::Completed),
        Ok(Verdict::Fail(message)) => Err(message.into()),
        Ok(Verdict::Ignore(reason)) => Ok(Completion::Ignored {
            reason: Some(reason),
        }),
        Err(_) => Err("reqtest's runner stopped before reaching this request".into()),
    }
}
