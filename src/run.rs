//! Runs a resolved plan: each collection's requests strictly in order, the
//! collections side by side. What happens is told as events, so that what to
//! run (the selection), running it, and reporting it stay apart.

use std::sync::Arc;
use std::time::Duration;

use minijinja::Value;

use crate::check::{self, Response};
use crate::execute;
use crate::load::Pos;
use crate::resolve::{Plan, PlannedCollection, Templates, Vars};
use crate::secrets::{mask_header, shown, Secrets};

/// What a request sent and got, and every assertion it checked, as it may
/// be shown: every text here was masked before it was cut.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The HTTP method.
    pub method: String,
    /// The URL as sent, masked.
    pub url: String,
    /// The response's status.
    pub status: u16,
    /// The HTTP version it came in: `1.1`, `2`.
    pub http_version: &'static str,
    /// The redirects followed, their URLs masked.
    pub redirects: Vec<crate::exchange::Redirect>,
    /// With `retry`: every attempt before the one shown, in order.
    pub attempts: Vec<Attempt>,
    /// From sending the request to the last byte of the body.
    pub duration: Duration,
    /// Every assertion checked, passed or not.
    pub assertions: Vec<check::Assertion>,
    /// The headers sent, masked; empty unless traffic is kept.
    pub request_headers: Vec<(String, String)>,
    /// The start of the body sent, masked; `None` unless traffic is kept.
    pub request_body: Option<String>,
    /// The headers received, masked; empty unless traffic is kept.
    pub response_headers: Vec<(String, String)>,
    /// The start of the response body.
    pub response_body: String,
}

/// The redirects of `ex` as they may be shown.
fn masked_redirects(ex: &execute::Exchange, secrets: &Secrets) -> Vec<crate::exchange::Redirect> {
    ex.redirects
        .iter()
        .map(|r| crate::exchange::Redirect {
            url: secrets.redact(&r.url).into_owned(),
            location: secrets.redact(&r.location).into_owned(),
            ..r.clone()
        })
        .collect()
}

/// An attempt of a retried request that did not stop the retries.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The status it got; `None` when no response came.
    pub status: Option<u16>,
    /// From sending it to its last byte, or to giving up.
    pub duration: Duration,
    /// Its first failure, masked.
    pub failure: String,
    /// How long reqtest waited after it.
    pub waited: Duration,
}

/// How much of a body a [`Detail`] keeps.
const BODY_KEPT: usize = 4096;

impl Detail {
    fn of(
        ex: &execute::Exchange,
        assertions: Vec<check::Assertion>,
        traffic: bool,
        secrets: &Secrets,
    ) -> Self {
        let url = secrets.redact(&ex.url).into_owned();
        if !traffic {
            return Detail {
                method: ex.method.to_string(),
                url,
                status: ex.status.as_u16(),
                http_version: crate::exchange::version_name(ex.version),
                redirects: masked_redirects(ex, secrets),
                attempts: Vec::new(),
                duration: ex.duration,
                assertions,
                request_headers: Vec::new(),
                request_body: None,
                response_headers: Vec::new(),
                response_body: String::new(),
            };
        }
        let headers = |h: &http::header::HeaderMap| {
            h.iter()
                .map(|(k, v)| {
                    let value = mask_header(k.as_str(), &String::from_utf8_lossy(v.as_bytes()));
                    (k.to_string(), secrets.redact(&value).into_owned())
                })
                .collect()
        };
        let content_type = |h: &http::header::HeaderMap| {
            h.get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Detail {
            method: ex.method.to_string(),
            url,
            status: ex.status.as_u16(),
            http_version: crate::exchange::version_name(ex.version),
            redirects: masked_redirects(ex, secrets),
            attempts: Vec::new(),
            duration: ex.duration,
            assertions,
            request_headers: headers(&ex.request_headers),
            request_body: ex.request_body.as_ref().map(|b| {
                shown::body(
                    secrets,
                    b,
                    content_type(&ex.request_headers).as_deref(),
                    BODY_KEPT,
                )
            }),
            response_headers: headers(&ex.headers),
            response_body: shown::body(
                secrets,
                &ex.body,
                content_type(&ex.headers).as_deref(),
                BODY_KEPT,
            ),
        }
    }
}

/// A request that got no response: its method, URL (masked) and how long
/// it took to give up.
#[derive(Debug, Clone)]
pub struct RequestLine {
    /// The HTTP method.
    pub method: String,
    /// The URL, masked.
    pub url: String,
    /// From the start of the request to giving up.
    pub elapsed: Duration,
}

/// How a request ended: passed, failed, or not run.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It got a response and every assertion held.
    Passed {
        /// How long the request took.
        duration: Duration,
        /// What it sent and got.
        detail: Box<Detail>,
    },
    /// It got no response, or an assertion or capture failed.
    Failed {
        /// Why, as the test's failure shows it.
        message: String,
        /// `None` when no response came (refused, timed out, bad input).
        detail: Option<Box<Detail>>,
        /// The request when no response came.
        request: Option<RequestLine>,
    },
    /// Its `when` was false, so it was not sent.
    Skipped {
        /// Why: `when: {{ environment == 'real' }}` was false.
        reason: String,
    },
    /// An earlier request of the collection failed, so this one was not sent.
    NotRun {
        /// The name of the request that failed.
        blocked_by: String,
        /// Where that request is written.
        at: Pos,
        /// Whether the failed request is itself reported; when it is not (it
        /// ran only as a dependency), its failure must surface here.
        blocker_reported: bool,
        /// Why that request failed.
        blocker_message: String,
        /// For an `always` request: the variable it reads that the failure
        /// left uncaptured.
        missing: Option<String>,
    },
}

/// A request's outcome, told to the reporter as it comes.
#[derive(Debug, Clone)]
pub struct Event {
    /// The collection's index in the plan.
    pub collection: usize,
    /// The request's index in its collection.
    pub request: usize,
    /// For a `for_each` over a captured list: the item this outcome is of.
    pub item: Option<ItemOf>,
    /// How it ended.
    pub outcome: Outcome,
}

/// One item of a `for_each` whose list a capture gave: its test of its own.
#[derive(Debug, Clone)]
pub struct ItemOf {
    /// Its index in the list, from 0.
    pub index: usize,
    /// Its test's name within the collection (the request's name rendered
    /// with the item, else `name[N]`).
    pub name: String,
}

/// Where a run tells what happens.
pub trait Sink {
    /// A reported request, or an item of one, ended.
    fn event(&self, e: Event);

    /// Request `request` of collection `collection` is a `for_each` over a
    /// captured list, and these are its items' test names, told before any
    /// of them is sent. Empty when the list never came: the request then
    /// ends as one event of its own (failed, not run).
    fn items(&self, collection: usize, request: usize, names: &[String]) {
        let _ = (collection, request, names);
    }
}

impl<F: Fn(Event)> Sink for F {
    fn event(&self, e: Event) {
        self(e)
    }
}

/// What to do with each request of each collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run it and report it.
    Report,
    /// Not selected, but a later selected request may need its captures.
    Dependency,
    /// Neither sent nor reported (filtered out, or ignored).
    Skip,
}

/// What to do with each request of a plan.
#[derive(Debug, Clone)]
pub struct Selection {
    /// By collection, then by request.
    pub modes: Vec<Vec<Mode>>,
}

impl Selection {
    /// Builds the selection from which requests are reported; an ignored
    /// request runs only when reported itself.
    pub fn from_reported(plan: &Plan, reported: impl Fn(usize, usize) -> bool) -> Self {
        Self::with_excluded(plan, reported, |_, _| false)
    }

    /// The same, with requests the user excluded (`--skip`): they are never
    /// sent, not even as another's dependency.
    pub fn with_excluded(
        plan: &Plan,
        reported: impl Fn(usize, usize) -> bool,
        excluded: impl Fn(usize, usize) -> bool,
    ) -> Self {
        let modes = plan
            .collections
            .iter()
            .enumerate()
            .map(|(ci, planned)| {
                let requests = &planned.collection.requests;
                let last = (0..requests.len()).rev().find(|&ri| reported(ci, ri));
                (0..requests.len())
                    .map(|ri| match last {
                        Some(last) if ri <= last => {
                            if reported(ci, ri) {
                                Mode::Report
                            } else if requests[ri].ignore.is_some() || excluded(ci, ri) {
                                Mode::Skip
                            } else {
                                Mode::Dependency
                            }
                        }
                        _ => Mode::Skip,
                    })
                    .collect()
            })
            .collect();
        Selection { modes }
    }

    /// The first request that will run but reads a variable only a request
    /// left out captures: `(request, variable, capturing request)`.
    pub fn missing_capture(&self, plan: &Plan) -> Option<(String, String, String)> {
        for (planned, modes) in plan.collections.iter().zip(&self.modes) {
            let c = &planned.collection;
            let mut lost: std::collections::HashMap<&str, &str> = Default::default();
            for (ri, request) in c.requests.iter().enumerate() {
                let vars = request.captures.iter().map(|cap| cap.var.as_str());
                if modes[ri] == Mode::Skip {
                    lost.extend(vars.map(|v| (v, request.name.as_str())));
                    continue;
                }
                for read in &planned.requests[ri].reads {
                    if let Some(by) = lost.get(read.as_str()) {
                        let name = |n: &str| format!("{}::{n}", c.name);
                        return Some((name(&request.name), read.clone(), name(by)));
                    }
                }
                for v in vars {
                    lost.remove(v);
                }
            }
        }
        None
    }
}

/// How a plan runs.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// How many collections run at once.
    pub concurrency: usize,
    /// Keep each request's headers and bodies in its [`Detail`] (for
    /// verbose output); off, only the request line, status and assertions
    /// are kept, which is all reports need.
    pub traffic: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 1,
            traffic: false,
        }
    }
}

/// The collections a run sends, handed in order to whichever worker is
/// free.
struct Queue {
    order: Vec<usize>,
    next: std::sync::atomic::AtomicUsize,
}

impl Queue {
    fn of(selection: &Selection) -> Queue {
        let order = (0..selection.modes.len())
            .filter(|&ci| selection.modes[ci].contains(&Mode::Report))
            .collect();
        Queue {
            order,
            next: Default::default(),
        }
    }

    fn take(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.order.get(i).copied()
    }
}

/// Runs the plan, telling `sink` each reported outcome. Up to
/// `concurrency` collections run side by side: on one thread (one is enough
/// for requests that mostly wait, and it wakes no second core per
/// response), or, when several run at once and the machine has the cores,
/// spread over a thread per core.
pub fn run(plan: &Plan, selection: &Selection, options: &RunOptions, sink: impl Sink + Sync) {
    let queue = Queue::of(selection);
    let workers = options.concurrency.clamp(1, queue.order.len().max(1));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(workers);
    // Collections with the same identity share one token and its renewals.
    let shared = execute::auth::Shared::new(plan.token_cache.clone());
    let work = |workers: usize| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread tokio runtime starts");
        let worker = || async {
            while let Some(ci) = queue.take() {
                let (planned, modes) = (&plan.collections[ci], &selection.modes[ci]);
                let shared = shared.clone();
                run_collection(
                    ci,
                    planned,
                    modes,
                    &plan.templates,
                    shared,
                    options.traffic,
                    &sink,
                )
                .await;
            }
        };
        runtime.block_on(join_all((0..workers).map(|_| worker())));
    };
    if threads <= 1 {
        return work(workers);
    }
    std::thread::scope(|scope| {
        for t in 1..threads {
            let share = workers / threads + usize::from(t < workers % threads);
            let work = &work;
            scope.spawn(move || work(share));
        }
        work(workers / threads + usize::from(!workers.is_multiple_of(threads)));
    });
}

/// Polls every future on this thread until all are done.
async fn join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set: Vec<_> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

/// The failed request that stops the rest of its collection.
struct Blocker {
    name: String,
    at: Pos,
    reported: bool,
    message: String,
}

impl Blocker {
    /// `request`, failed with `message`.
    fn of(request: &crate::load::Request, mode: Mode, message: &str) -> Blocker {
        Blocker {
            name: request.name.clone(),
            at: request.at.clone(),
            reported: mode == Mode::Report,
            message: message.to_string(),
        }
    }

    /// An `always` request that reads `missing`, which the failure left
    /// uncaptured: not run, saying so.
    fn without(&self, missing: &str) -> Outcome {
        Outcome::NotRun {
            blocked_by: self.name.clone(),
            at: self.at.clone(),
            blocker_reported: self.reported,
            blocker_message: self.message.clone(),
            missing: Some(missing.to_string()),
        }
    }

    fn outcome(&self) -> Outcome {
        Outcome::NotRun {
            blocked_by: self.name.clone(),
            at: self.at.clone(),
            blocker_reported: self.reported,
            blocker_message: self.message.clone(),
            missing: None,
        }
    }
}

/// Runs one collection's requests in order; after a failure the rest are
/// reported not run. Only requests whose mode is `Report` reach `sink`.
async fn run_collection(
    ci: usize,
    planned: &PlannedCollection,
    modes: &[Mode],
    templates: &Templates,
    shared: Arc<execute::auth::Shared>,
    traffic: bool,
    sink: &dyn Sink,
) {
    let mut run = CollectionRun {
        ci,
        sink,
        modes,
        planned,
        templates,
        vars: planned.vars.clone(),
        blocker: None,
        pending: None,
        item_names: Default::default(),
    };
    let mut session = match execute::Session::new(planned, templates, shared, traffic) {
        Ok(s) => s,
        Err(message) => {
            for ri in 0..modes.len() {
                let outcome = Outcome::Failed {
                    message: message.clone(),
                    detail: None,
                    request: None,
                };
                run.emit(ri, None, outcome);
            }
            return;
        }
    };
    for (ri, mode) in modes.iter().enumerate() {
        if *mode != Mode::Skip {
            if let Some(outcome) = run.step(&mut session, ri, *mode).await {
                run.emit(ri, None, outcome);
            }
        }
    }
}

/// Where a collection's run stands between two requests: its variables
/// (captures included) and the failure that stops what follows.
struct CollectionRun<'p> {
    ci: usize,
    sink: &'p dyn Sink,
    modes: &'p [Mode],
    planned: &'p PlannedCollection,
    templates: &'p Templates,
    vars: Vars,
    blocker: Option<Blocker>,
    /// A failed `for_each` copy: its siblings still run; it blocks the
    /// requests after them.
    pending: Option<(usize, Blocker)>,
    /// The test names given to the items of captured lists so far.
    item_names: std::collections::HashSet<String>,
}

impl CollectionRun<'_> {
    /// Tells the sink how request `ri` (or one of its items) ended, when
    /// it is reported.
    fn emit(&self, ri: usize, item: Option<ItemOf>, outcome: Outcome) {
        if self.modes[ri] != Mode::Report {
            return;
        }
        let request = &self.planned.collection.requests[ri];
        if item.is_none()
            && matches!(
                request.for_each.as_deref(),
                Some(crate::load::ForEach::Var { .. })
            )
        {
            // Its list never came: the request is one test after all.
            self.sink.items(self.ci, ri, &[]);
        }
        self.sink.event(Event {
            collection: self.ci,
            request: ri,
            item,
            outcome,
        });
    }

    /// Runs request `ri`, or says why it does not run; `None` when it
    /// told its items' outcomes itself.
    async fn step(
        &mut self,
        session: &mut execute::Session<'_>,
        ri: usize,
        mode: Mode,
    ) -> Option<Outcome> {
        let planned = self.planned;
        let request = &planned.collection.requests[ri];
        let group = request.item.as_ref().map(|i| i.group);
        if self
            .pending
            .as_ref()
            .is_some_and(|(g, _)| Some(*g) != group)
        {
            let (_, failed) = self.pending.take().expect("checked");
            self.blocker.get_or_insert(failed);
        }
        let vars_here = match bind(&self.vars, request, self.templates) {
            Ok(v) => v,
            Err(message) => return Some(self.fail(request, mode, message)),
        };
        if let Some(b) = &self.blocker {
            match (request.always, missing_capture(planned, ri, &self.vars)) {
                (true, None) => {}
                (true, Some(name)) => return Some(b.without(&name)),
                (false, _) => return Some(b.outcome()),
            }
        }
        match when(request, self.templates, &vars_here) {
            Ok(true) => {}
            Ok(false) => {
                let src = request.when.as_ref().map_or("", |w| &*w.src);
                let reason = format!("`when: {src}` was false");
                return Some(Outcome::Skipped { reason });
            }
            Err(message) => return Some(self.fail(request, mode, message)),
        }
        if let Some(crate::load::ForEach::Var { data, name }) = request.for_each.as_deref() {
            let base = vars_here.into_owned();
            return self.each_item(session, ri, mode, data, name, base).await;
        }
        Some(
            match run_request(planned, ri, self.templates, session, &vars_here).await {
                Ok((detail, captured)) => {
                    drop(vars_here);
                    keep_captures(captured, &mut self.vars);
                    Outcome::Passed {
                        duration: detail.duration,
                        detail: Box::new(detail),
                    }
                }
                Err(failure) => {
                    let failed = Blocker::of(request, mode, &failure.message);
                    // A failed cleanup does not hide the failure it followed.
                    match group {
                        Some(g) if self.blocker.is_none() => {
                            self.pending.get_or_insert((g, failed));
                        }
                        _ => {
                            self.blocker.get_or_insert(failed);
                        }
                    }
                    Outcome::Failed {
                        message: failure.message,
                        detail: failure.detail.map(Box::new),
                        request: failure.request,
                    }
                }
            },
        )
    }

    /// A `for_each` over a list captured during the run: its items' test
    /// names told to the sink, then every item sent as a test of its own.
    /// A failed item does not stop its siblings; it blocks what follows.
    async fn each_item(
        &mut self,
        session: &mut execute::Session<'_>,
        ri: usize,
        mode: Mode,
        data: &crate::load::Data,
        name: &str,
        base: Vars,
    ) -> Option<Outcome> {
        let planned = self.planned;
        let request = &planned.collection.requests[ri];
        let (items, names) = match self.items_of(request, data, name, &base) {
            Ok(found) => found,
            Err(message) => return Some(self.fail(request, mode, message)),
        };
        if mode == Mode::Report {
            self.sink.items(self.ci, ri, &names);
        }
        self.item_names.extend(names.iter().cloned());
        let mut failed = None;
        for (index, (item, test)) in items.iter().zip(names).enumerate() {
            let mut bound = base.clone();
            bound.insert(name.to_string(), Value::from_serialize(item));
            let outcome = match run_request(planned, ri, self.templates, session, &bound).await {
                Ok((detail, captured)) => {
                    keep_captures(captured, &mut self.vars);
                    Outcome::Passed {
                        duration: detail.duration,
                        detail: Box::new(detail),
                    }
                }
                Err(f) => {
                    failed.get_or_insert(Blocker {
                        name: test.clone(),
                        at: request.at.clone(),
                        reported: mode == Mode::Report,
                        message: f.message.clone(),
                    });
                    Outcome::Failed {
                        message: f.message,
                        detail: f.detail.map(Box::new),
                        request: f.request,
                    }
                }
            };
            self.emit(ri, Some(ItemOf { index, name: test }), outcome);
        }
        if let Some(b) = failed {
            self.blocker.get_or_insert(b);
        }
        None
    }

    /// The items of a captured `for_each` list and their test names, which
    /// must differ from each other and from the collection's other tests.
    fn items_of(
        &self,
        request: &crate::load::Request,
        data: &crate::load::Data,
        name: &str,
        base: &Vars,
    ) -> Result<(Vec<serde_json::Value>, Vec<String>), String> {
        let items = match self.templates.render_data(data, &Value::from(base.clone())) {
            Ok(serde_json::Value::Array(items)) if items.len() <= crate::load::MAX_ROWS => items,
            Ok(other) if other.is_array() => {
                return Err(format!("{}: `for_each` gives too many items", data.at))
            }
            Ok(other) => return Err(format!("{}: `for_each` gives {other}, not a list", data.at)),
            Err(e) => return Err(e.to_string()),
        };
        if items.is_empty() {
            return Err(format!(
                "{}: `for_each` came with no items: nothing was checked",
                data.at
            ));
        }
        let mut names = Vec::with_capacity(items.len());
        let mut seen: std::collections::HashSet<&str> = self
            .planned
            .collection
            .requests
            .iter()
            .map(|r| r.name.as_str())
            .chain([crate::load::THRESHOLDS_TEST])
            .chain(self.item_names.iter().map(String::as_str))
            .collect();
        for (i, item) in items.iter().enumerate() {
            let test = crate::resolve::item_name(self.templates, request, i, item, name, base)
                .map_err(|e| e.to_string())?;
            names.push(test);
        }
        for (i, test) in names.iter().enumerate() {
            if !seen.insert(test.as_str()) {
                return Err(format!(
                    "{}: item {} of `for_each` is named `{test}`, like another test of `{}`: name the request after something that differs between items",
                    request.at,
                    i + 1,
                    self.planned.collection.name
                ));
            }
        }
        Ok((items, names))
    }

    /// `request` failed before it was sent: it blocks what follows.
    fn fail(&mut self, request: &crate::load::Request, mode: Mode, message: String) -> Outcome {
        self.blocker
            .get_or_insert(Blocker::of(request, mode, &message));
        Outcome::Failed {
            message,
            detail: None,
            request: None,
        }
    }
}

/// The first variable request `ri` reads that is not set yet (a capture
/// an earlier failure prevented).
fn missing_capture(planned: &PlannedCollection, ri: usize, vars: &Vars) -> Option<String> {
    planned.requests[ri]
        .reads
        .iter()
        .find(|name| !vars.contains_key(*name) && !matches!(name.as_str(), "auth" | "auths"))
        .cloned()
}

/// The variables with what the request binds: its include's `with`
/// values (rendered now, with the captures so far) and its `for_each` item.
fn bind<'v>(
    vars: &'v Vars,
    request: &crate::load::Request,
    templates: &Templates,
) -> Result<std::borrow::Cow<'v, Vars>, String> {
    if request.item.is_none() && request.with.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(vars));
    }
    let mut bound = vars.clone();
    for (name, data) in &request.with {
        let value = templates
            .render_data(data, &Value::from(bound.clone()))
            .map_err(|e| e.to_string())?;
        bound.insert(name.clone(), Value::from_serialize(&value));
    }
    if let Some(item) = &request.item {
        bound.insert(item.name.clone(), Value::from_serialize(&item.value));
    }
    Ok(std::borrow::Cow::Owned(bound))
}

/// Whether request `ri`'s `when` holds now; `true` without one.
fn when(
    request: &crate::load::Request,
    templates: &Templates,
    vars: &Vars,
) -> Result<bool, String> {
    let Some(when) = &request.when else {
        return Ok(true);
    };
    let rendered = templates
        .render_text(when, &Value::from(vars.clone()))
        .map_err(|e| e.message)?;
    // A comparison renders `True` or `False`.
    match rendered.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" | "" => Ok(false),
        other => Err(format!(
            "{}: `when` renders {other:?}, not true or false",
            when.at
        )),
    }
}

/// Captured values become variables of the later requests; a capture
/// marked `secret` is masked from then on.
fn keep_captures(captured: Captured, vars: &mut Vars) {
    // Secret captures were registered when they were read (run_request).
    for (name, value) in captured {
        vars.insert(name, Value::from_serialize(&value));
    }
}

type Captured = Vec<(String, serde_json::Value)>;

/// Why a request failed, as it may be shown.
struct RunFailure {
    message: String,
    detail: Option<Detail>,
    request: Option<RequestLine>,
}

/// A request that got no response, as reports show it: the cause, then
/// the request (when the cause does not already name it) and the time.
/// Sends request `ri` until its response satisfies the retry's `until`
/// (else its `expect`) or the retries run out; the last exchange comes
/// back with the attempts before it. Each attempt is rendered and
/// authorised afresh.
async fn retrying(
    retry: &crate::load::Retry,
    expect: &crate::load::Expect,
    ri: usize,
    templates: &Templates,
    session: &mut execute::Session<'_>,
    vars: &Vars,
) -> Result<(execute::Exchange, Value, Vec<Attempt>), RunFailure> {
    let secrets = templates.secrets();
    let until = retry.until.as_deref().unwrap_or(expect);
    let mut attempts = Vec::new();
    let mut wait = retry.interval;
    loop {
        let last = attempts.len() as u32 >= retry.times;
        let (failure, status, duration, retry_after) = match session.send(ri, vars).await {
            Err(e) if last => {
                let mut failed = not_answered(e, secrets);
                failed.message = with_attempts(failed.message, &attempts);
                return Err(failed);
            }
            Err(e) => (e.error.to_string(), None, e.elapsed, None),
            Ok((exchange, ctx)) => {
                let response = Response::new(&exchange, secrets);
                let failed = check::failures(&check::check(&response, until, templates, &ctx));
                if failed.is_empty() || last {
                    return Ok((exchange, ctx, attempts));
                }
                let after = retry_after(&exchange);
                (
                    failed[0].message.clone(),
                    Some(exchange.status.as_u16()),
                    exchange.duration,
                    after,
                )
            }
        };
        let waited = retry_after
            .map_or(wait, |after| after.max(wait))
            .min(retry.max_wait);
        attempts.push(Attempt {
            status,
            duration,
            failure: secrets.redact(&failure).into_owned(),
            waited,
        });
        tokio::time::sleep(waited).await;
        wait = wait.mul_f64(retry.backoff).min(retry.max_wait);
    }
}

/// A 429's or 503's `Retry-After`, in seconds or as an HTTP date.
fn retry_after(exchange: &execute::Exchange) -> Option<Duration> {
    if !matches!(exchange.status.as_u16(), 429 | 503) {
        return None;
    }
    let value = exchange
        .headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let from_now = at.signed_duration_since(chrono::Utc::now());
    Some(from_now.to_std().unwrap_or(Duration::ZERO))
}

/// A failure message, saying how many attempts it took when it took more
/// than one.
fn with_attempts(message: String, attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return message;
    }
    format!(
        "after {} attempts (the last one shown; retry's `until` or `expect` never held):\n{message}",
        attempts.len() + 1
    )
}

fn not_answered(e: execute::NotAnswered, secrets: &Secrets) -> RunFailure {
    let mut message = e.error.to_string();
    if !matches!(e.error, execute::ExecError::Send { .. }) {
        message.push_str(&format!(
            "\n\n  request:  {} {} (not sent; gave up after {})",
            e.method,
            e.url,
            crate::load::format_duration(e.elapsed)
        ));
    }
    RunFailure {
        message: secrets.redact(&message).into_owned(),
        detail: None,
        request: Some(RequestLine {
            method: e.method,
            url: secrets.redact(&e.url).into_owned(),
            elapsed: e.elapsed,
        }),
    }
}

async fn run_request(
    planned: &PlannedCollection,
    ri: usize,
    templates: &Templates,
    session: &mut execute::Session<'_>,
    vars: &Vars,
) -> Result<(Detail, Captured), RunFailure> {
    let request = &planned.collection.requests[ri];
    let secrets = templates.secrets();
    let retry = request
        .retry
        .as_deref()
        .or(planned.collection.defaults.retry.as_ref());
    let (exchange, ctx, attempts) = match retry {
        None => {
            let (exchange, ctx) = session
                .send(ri, vars)
                .await
                .map_err(|e| not_answered(e, secrets))?;
            (exchange, ctx, Vec::new())
        }
        Some(retry) => retrying(retry, &request.expect, ri, templates, session, vars).await?,
    };
    let response = Response::new(&exchange, secrets);
    let assertions = check::check(&response, &request.expect, templates, &ctx);
    let mut failures = check::failures(&assertions);
    // Retries that ran out: the last answer must still meet `until`.
    if let Some(until) = retry.and_then(|r| r.until.as_deref()) {
        failures.extend(check::failures(&check::check(
            &response, until, templates, &ctx,
        )));
    }
    let captured = if failures.is_empty() {
        match check::capture(&response, &request.captures) {
            Ok(values) => {
                // Masked from now on, before any excerpt of this exchange
                // is cut (a cut secret would no longer be recognised).
                for (capture, (_, value)) in request.captures.iter().zip(&values) {
                    if capture.secret {
                        let text = value
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| value.to_string());
                        secrets.add(&text);
                    }
                }
                Some(values)
            }
            Err(f) => {
                failures.push(f);
                None
            }
        }
    } else {
        None
    };
    let mut detail = Detail::of(&exchange, assertions, session.traffic, secrets);
    detail.attempts = attempts;
    match captured {
        Some(values) => Ok((detail, values)),
        None => Err(RunFailure {
            message: with_attempts(
                check::describe(&failures, &exchange, secrets),
                &detail.attempts,
            ),
            detail: Some(detail),
            request: None,
        }),
    }
}
