//! Requests as libtest trials: each request is a trial named
//! `<collection>::<request>` waiting for its verdict, which the runner
//! (on a thread of its own) produces through the reporter. libtest's
//! filters, `--list`, `--exact`, `--ignored` and `--test-threads` work as
//! users know them.

use std::sync::mpsc;

// One verdict per trial: a oneshot is a fifth of the memory of an mpsc
// channel, which a run of 100,000 requests feels.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

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
        slots,
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
    let (found_tx, found) = mpsc::channel();
    let runner_plan = plan.clone();
    let runner_args = args.clone();
    let runner = std::thread::Builder::new()
        .name("reqtest-runner".into())
        .spawn(move || {
            let held = Held::default();
            let feed = Feed {
                plan: &runner_plan,
                args: &runner_args,
                tally: std::sync::Mutex::new(Tally::new(&reported)),
                reporter: std::sync::Mutex::new(&mut reporter),
                senders: std::sync::Mutex::new(senders),
                items: Default::default(),
                thresholds: std::sync::Mutex::new(thresholds),
                found: found_tx,
                held: &held,
            };
            held.while_running(|| run::run(&runner_plan, &selection, &options, feed));
            reporter.finish()
        })
        .expect("the runner thread starts");

    let trials = place_items(slots, &plan, &found);
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

/// The trials in order, each `for_each` over a captured list replaced by
/// its items' trials once the runner has its list. libtest counts its
/// tests before running any, so this waits for every such list.
fn place_items(slots: Vec<Slot>, plan: &Plan, found: &mpsc::Receiver<Found>) -> Vec<Trial> {
    let waiting = slots
        .iter()
        .filter(|s| matches!(s, Slot::Items { .. }))
        .count();
    let mut lists = std::collections::HashMap::new();
    while lists.len() < waiting {
        // Closed when the runner is done: a list it never told stays one test.
        let Ok((ci, ri, trials)) = found.recv() else {
            break;
        };
        lists.insert((ci, ri), trials);
    }
    if waiting == 0 {
        // In place: a second list of every trial would add to the peak.
        return slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Ready(trial) => Some(trial),
                Slot::Items { .. } => None,
            })
            .collect();
    }
    slots
        .into_iter()
        .flat_map(|slot| match slot {
            Slot::Ready(trial) => vec![trial],
            Slot::Items { ci, ri } => lists.remove(&(ci, ri)).unwrap_or_else(|| {
                let name = test_name(&plan.collections[ci].collection, ri);
                vec![Trial::test(name, || {
                    Err("reqtest's runner stopped before reaching this request".into())
                })]
            }),
        })
        .collect()
}

/// The trials of a captured `for_each` list: collection, request, trials.
type Found = (usize, usize, Vec<Trial>);

/// The runner's side: each event becomes the verdict its trial waits for.
struct Feed<'a> {
    plan: &'a Plan,
    args: &'a Arguments,
    reporter: std::sync::Mutex<&'a mut Reporter>,
    tally: std::sync::Mutex<Tally>,
    /// By collection, then request, as [`Trials::senders`].
    senders: std::sync::Mutex<Vec<Vec<Option<oneshot::Sender<Verdict>>>>>,
    /// The items of captured `for_each` lists: `None` for one libtest
    /// filters out.
    items: std::sync::Mutex<ItemSenders>,
    thresholds: std::sync::Mutex<Vec<Option<oneshot::Sender<Verdict>>>>,
    found: mpsc::Sender<Found>,
    held: &'a Held,
}

/// Verdicts held back for a moment and sent together: libtest's thread
/// then wakes once a batch, not once a request (each wake is a context
/// switch, which on a busy machine costs about as much as a request).
/// A verdict waits at most [`Held::FOR`].
#[derive(Default)]
struct Held {
    pending: std::sync::Mutex<Vec<(oneshot::Sender<Verdict>, Verdict)>>,
}

impl Held {
    const AT_MOST: usize = 64;
    const FOR: std::time::Duration = std::time::Duration::from_millis(10);

    fn hold(&self, tx: oneshot::Sender<Verdict>, verdict: Verdict) {
        let mut pending = lock(&self.pending);
        pending.push((tx, verdict));
        if pending.len() >= Self::AT_MOST {
            Self::send(&mut pending);
        }
    }

    fn flush(&self) {
        Self::send(&mut lock(&self.pending));
    }

    fn send(pending: &mut Vec<(oneshot::Sender<Verdict>, Verdict)>) {
        for (tx, verdict) in pending.drain(..) {
            // The trial may be gone if libtest stopped early; then there
            // is nobody left to tell.
            let _ = tx.send(verdict);
        }
    }

    /// Runs `run`, sending what is held every [`Held::FOR`] meanwhile and
    /// everything left when it returns.
    fn while_running(&self, run: impl FnOnce()) {
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let flusher = scope.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    std::thread::park_timeout(Self::FOR);
                    self.flush();
                }
            });
            // Stopped on the way out even if `run` panics: the scope
            // would otherwise wait for the flusher forever.
            let _stop = Stop(&done, flusher.thread().clone());
            run();
        });
        self.flush();
    }
}

/// Ends the flusher of [`Held::while_running`] when dropped.
struct Stop<'a>(&'a AtomicBool, std::thread::Thread);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
        self.1.unpark();
    }
}

type ItemSenders = std::collections::HashMap<(usize, usize), Vec<Option<oneshot::Sender<Verdict>>>>;

impl Feed<'_> {
    /// Tells collection `ci`'s thresholds trial, now that its last
    /// reported request is done.
    fn judge(&self, ci: usize) {
        if let Some(tx) = lock(&self.thresholds)[ci].take() {
            let verdict = lock(&self.reporter).thresholds(self.plan, ci);
            let _ = tx.send(verdict);
        }
    }
}

impl run::Sink for Feed<'_> {
    fn event(&self, e: Event) {
        let tx = match &e.item {
            None => lock(&self.senders)[e.collection][e.request].take(),
            // An item libtest filters out is sent (its request is a test)
            // but not reported.
            Some(item) => match lock(&self.items).get_mut(&(e.collection, e.request)) {
                Some(items) => match items[item.index].take() {
                    Some(tx) => Some(tx),
                    None => return,
                },
                None => return,
            },
        };
        let verdict = lock(&self.reporter).handle(self.plan, &e);
        if lock(&self.tally).count(&e) {
            self.judge(e.collection);
        }
        if let Some(tx) = tx {
            self.held.hold(tx, verdict);
        }
    }

    fn items(&self, ci: usize, ri: usize, names: &[String]) {
        let c = &self.plan.collections[ci].collection;
        let request = &c.requests[ri];
        if names.is_empty() {
            let (tx, t) = trial(test_name(c, ri), request);
            lock(&self.senders)[ci][ri] = Some(tx);
            let _ = self.found.send((ci, ri, vec![t]));
            return;
        }
        let (mut senders, mut trials) = (Vec::new(), Vec::new());
        for name in names {
            let (tx, t) = trial(format!("{}::{name}", c.name), request);
            let shown = !self.args.is_filtered_out(&t) && !self.args.is_ignored(&t);
            senders.push(shown.then_some(tx));
            trials.push(t);
        }
        let shown = senders.iter().flatten().count();
        lock(&self.items).insert((ci, ri), senders);
        lock(&self.reporter).expect_tests(shown, 1);
        if lock(&self.tally).replace(ci, 1, shown) {
            self.judge(ci);
        }
        let _ = self.found.send((ci, ri, trials));
    }
}

/// A trial, or the place of a `for_each` over a captured list, whose
/// trials come when the runner has its list.
enum Slot {
    Ready(Trial),
    Items { ci: usize, ri: usize },
}

/// The libtest trials of a plan and where each one's verdict goes.
struct Trials {
    slots: Vec<Slot>,
    /// By collection, then request: `None` for a request that is no test.
    senders: Vec<Vec<Option<oneshot::Sender<Verdict>>>>,
    /// By collection, then request: whether it is a test of this run.
    reported: Vec<Vec<bool>>,
    /// By collection: its `thresholds` trial, when it has one that waits.
    thresholds: Vec<Option<oneshot::Sender<Verdict>>>,
}

impl Trials {
    fn of(plan: &Plan, args: &Arguments, tags: &Tags) -> Trials {
        let requests = plan
            .collections
            .iter()
            .map(|pc| pc.collection.requests.len());
        let mut all = Trials {
            // A request and its thresholds test: the lists never grow.
            slots: Vec::with_capacity(requests.sum::<usize>() + plan.collections.len()),
            senders: Vec::with_capacity(plan.collections.len()),
            reported: Vec::with_capacity(plan.collections.len()),
            thresholds: Vec::with_capacity(plan.collections.len()),
        };
        for (ci, pc) in plan.collections.iter().enumerate() {
            let mut senders = Vec::with_capacity(pc.collection.requests.len());
            let mut reported = Vec::with_capacity(pc.collection.requests.len());
            for (ri, request) in pc.collection.requests.iter().enumerate() {
                if !tags.selects(&pc.collection, ri) {
                    // Not a test of this run; it still runs if a test needs it.
                    reported.push(false);
                    senders.push(None);
                    continue;
                }
                let (tx, trial) = trial(test_name(&pc.collection, ri), request);
                let shown = !args.is_filtered_out(&trial) && !args.is_ignored(&trial);
                reported.push(shown);
                if shown
                    && matches!(
                        request.for_each.as_deref(),
                        Some(crate::load::ForEach::Var { .. })
                    )
                {
                    // A list captured during the run: its tests come with it.
                    senders.push(None);
                    all.slots.push(Slot::Items { ci, ri });
                } else {
                    senders.push(Some(tx));
                    all.slots.push(Slot::Ready(trial));
                }
            }
            let waits = thresholds_trial(&pc.collection, &reported, &mut all.slots);
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
    slots: &mut Vec<Slot>,
) -> Option<oneshot::Sender<Verdict>> {
    c.thresholds.as_ref()?;
    let (tx, rx) = oneshot::channel::<Verdict>();
    let name = format!("{}::{}", c.name, crate::load::THRESHOLDS_TEST);
    slots.push(Slot::Ready(Trial::ignorable_test(name, move || {
        wait_for(rx)
    })));
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

    /// Collection `ci` has `by` tests where it counted `counted`; whether
    /// it has none left to come.
    fn replace(&mut self, ci: usize, counted: usize, by: usize) -> bool {
        let left = &mut self.remaining[ci];
        *left = (*left + by).saturating_sub(counted);
        *left == 0
    }

    /// Counts `e`; whether it was its collection's last reported request.
    fn count(&mut self, e: &Event) -> bool {
        let left = &mut self.remaining[e.collection];
        *left = left.saturating_sub(1);
        *left == 0
    }
}

/// The trial named `name` of `request` (its ignore flag, its tags as the
/// kind), and where its verdict goes.
fn trial(name: String, request: &crate::load::Request) -> (oneshot::Sender<Verdict>, Trial) {
    let (tx, rx) = oneshot::channel::<Verdict>();
    let trial = Trial::ignorable_test(name, move || wait_for(rx))
        .with_ignored_flag(request.ignore.is_some())
        .with_kind(request.tags.join(","));
    (tx, trial)
}

/// `m` locked; a panic elsewhere while it was held leaves its data usable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait_for(rx: oneshot::Receiver<Verdict>) -> Result<Completion, Failed> {
    match rx.blocking_recv() {
        Ok(Verdict::Pass) => Ok(Completion::Completed),
        Ok(Verdict::Fail(message)) => Err(message.into()),
        Ok(Verdict::Ignore(reason)) => Ok(Completion::Ignored {
            reason: Some(reason),
        }),
        Err(_) => Err("reqtest's runner stopped before reaching this request".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_verdict_reaches_its_trial_while_the_run_goes_on() {
        let held = Held::default();
        let (tx, rx) = oneshot::channel();
        held.while_running(|| {
            held.hold(tx, Verdict::Pass);
            // Still running: the flusher sends it all the same.
            assert!(matches!(rx.blocking_recv(), Ok(Verdict::Pass)));
        });
    }

    #[test]
    fn a_run_that_panics_stops_the_flusher_and_the_panic_comes_through() {
        let held = Held::default();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            held.while_running(|| panic!("the runner broke"));
        }));
        assert!(outcome.is_err());
    }

    #[test]
    fn a_full_batch_of_verdicts_is_sent_at_once() {
        let held = Held::default();
        let mut receivers = Vec::new();
        for _ in 0..Held::AT_MOST {
            let (tx, rx) = oneshot::channel();
            assert!(receivers
                .iter_mut()
                .all(|rx: &mut oneshot::Receiver<Verdict>| rx.try_recv().is_err()));
            held.hold(tx, Verdict::Pass);
            receivers.push(rx);
        }
        for mut rx in receivers {
            assert!(matches!(rx.try_recv(), Ok(Verdict::Pass)));
        }
    }
}
