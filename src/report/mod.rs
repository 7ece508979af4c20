//! Report stage: every request becomes a libtest-mimic trial named
//! `<collection>::<request>`, so `cargo test` filters, `--list`, `--exact`,
//! `--ignored` and `--test-threads` work as users know them.
//!
//! The runner works on its own thread and hands each outcome to the trial
//! waiting for it; trials only wait and print.

mod console;
mod files;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;

use indexmap::IndexMap;
use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};
use serde_json::Value as Json;

use crate::load::{self, Collection, LoadError};
use crate::resolve::{self, Options, Plan, ResolveError};
use crate::run::{self, Event, Selection};
use crate::standins::StandIns;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}")]
    Resolve(#[from] ResolveError),
    #[error("could not start the stand-ins: {0}")]
    StandIns(std::io::Error),
    #[error("{0}")]
    Report(String),
    #[error("{0}")]
    Usage(String),
    /// The login itself failed: a test failure, not bad input.
    #[error("{0}")]
    Login(crate::execute::auth::AuthError),
    #[error(
        "two collections are named `{name}` ({first} and {second}); give one a different `name`"
    )]
    DuplicateCollection {
        name: String,
        first: String,
        second: String,
    },
}

/// The collections to run and how; what `reqtest run`, `reqtest demo` and a
/// user's `tests/api.rs` all build.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    paths: Vec<PathBuf>,
    /// Collections given as text: (name used in messages, YAML).
    sources: Vec<(String, String)>,
    options: Options,
    standins: bool,
    report: ReportOptions,
}

impl Suite {
    pub fn new<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> Self {
        Suite {
            paths: paths.into_iter().map(Into::into).collect(),
            ..Suite::default()
        }
    }

    /// Collections given as text, such as those built into the binary.
    pub fn embedded(sources: impl IntoIterator<Item = (String, String)>) -> Self {
        Suite {
            sources: sources.into_iter().collect(),
            ..Suite::default()
        }
    }

    /// The environment to run in (`--env`).
    pub fn env(mut self, name: impl Into<String>) -> Self {
        self.options.env = Some(name.into());
        self
    }

    /// A variable that overrides the environment and the collection (`--var`).
    pub fn var(mut self, name: impl Into<String>, value: impl Into<Json>) -> Self {
        self.options.vars.insert(name.into(), value.into());
        self
    }

    /// Report files and verbose output.
    pub fn report(mut self, report: ReportOptions) -> Self {
        self.report = report;
        self
    }

    /// Where auths with `cache: true` keep their refresh tokens.
    pub fn token_cache(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.token_cache = Some(path.into());
        self
    }

    pub fn vars(mut self, vars: IndexMap<String, Json>) -> Self {
        self.options.vars.extend(vars);
        self
    }

    /// Starts the built-in stand-ins for the run and sets `cells_url`,
    /// `regards_url` and `nextome_url` (a `var` still wins).
    pub fn with_standins(mut self) -> Self {
        self.standins = true;
        self
    }

    /// Reads `REQTEST_ENV` and `REQTEST_VARS_FILE`, the ways to choose an
    /// environment and variables under `cargo test`, whose arguments belong
    /// to the test harness.
    pub fn from_env_vars(mut self) -> Result<Self, SuiteError> {
        if let Ok(env) = std::env::var("REQTEST_ENV") {
            self.options.env = Some(env);
        }
        if let Ok(file) = std::env::var("REQTEST_VARS_FILE") {
            let vars = load::load_vars_file(std::path::Path::new(&file))?;
            for (k, v) in vars {
                self.options.vars.entry(k).or_insert(v);
            }
        }
        Ok(self)
    }

    /// Loads and resolves everything; no request is sent.
    pub fn plan(&self) -> Result<Plan, SuiteError> {
        let collections = self.load()?;
        Ok(resolve::resolve(collections, &self.options)?)
    }

    fn load(&self) -> Result<Vec<Collection>, SuiteError> {
        let loaded = load::load_paths(&self.paths)?;
        if !loaded.skipped.is_empty() {
            let names: Vec<String> = loaded
                .skipped
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            eprintln!(
                "note: {} YAML file(s) without a top-level `requests` are not collections and were left out: {}",
                names.len(),
                names.join(", ")
            );
        }
        let mut collections = loaded.collections;
        for (name, text) in &self.sources {
            collections.push(load::load_str(name, text)?);
        }
        let mut seen: IndexMap<&str, &str> = IndexMap::new();
        for c in &collections {
            if let Some(first) = seen.insert(&c.name, &c.file) {
                return Err(SuiteError::DuplicateCollection {
                    name: c.name.clone(),
                    first: first.to_string(),
                    second: c.file.to_string(),
                });
            }
        }
        Ok(collections)
    }

    /// Runs the suite and prints as libtest does.
    pub fn run(&self, args: &Arguments) -> Result<Conclusion, SuiteError> {
        if args.test_threads == Some(0) {
            // libtest would wait forever for a thread to run the tests.
            return Err(SuiteError::Usage(
                "--test-threads takes a number of at least 1".into(),
            ));
        }
        if args.list {
            // Listing needs names only: no environment, no secrets, no server.
            return Ok(list(&self.load()?, args));
        }
        let (plan, _standins) = self.plan_with_standins()?;
        run_plan(plan, args, &self.report)
    }

    /// The plan, with the stand-ins running (kept alive by the second value)
    /// when the suite asks for them.
    fn plan_with_standins(&self) -> Result<(Plan, Option<StandIns>), SuiteError> {
        if !self.standins {
            return Ok((self.plan()?, None));
        }
        let standins = StandIns::start().map_err(SuiteError::StandIns)?;
        let mut suite = self.clone();
        for (name, value) in standins.vars() {
            suite.options.vars.entry(name).or_insert(value);
        }
        Ok((suite.plan()?, Some(standins)))
    }

    /// `reqtest curl`: request `name` of the suite's one collection as a
    /// curl command.
    pub fn curl(&self, name: &str, show_secrets: bool) -> Result<String, SuiteError> {
        let (plan, _standins) = self.plan_with_standins()?;
        if plan.collections.len() != 1 {
            return Err(SuiteError::Usage(format!(
                "curl takes one collection; {} were given",
                plan.collections.len()
            )));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SuiteError::StandIns)?;
        runtime
            .block_on(crate::bridge::curl::export(&plan, name, show_secrets))
            .map_err(SuiteError::Usage)
    }

    /// `reqtest login`: logs auth `auth` of the suite's one collection in
    /// (interactively if it says so) and keeps its refresh token in the
    /// token cache. Returns what to tell the user; never the token.
    pub fn login(&self, auth: Option<&str>) -> Result<String, SuiteError> {
        let (plan, _standins) = self.plan_with_standins()?;
        let [pc] = plan.collections.as_slice() else {
            return Err(SuiteError::Usage(format!(
                "login takes one collection; {} were given",
                plan.collections.len()
            )));
        };
        let auths = &pc.collection.auths;
        let names = || {
            auths
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = match auth {
            Some(a) if auths.contains_key(a) => a.to_string(),
            Some(a) => {
                return Err(SuiteError::Usage(format!(
                    "collection `{}` has no auth `{a}`; it has {}",
                    pc.collection.name,
                    names()
                )))
            }
            None if auths.contains_key(crate::load::DEFAULT_AUTH) => {
                crate::load::DEFAULT_AUTH.to_string()
            }
            None if auths.len() == 1 => auths.keys().next().cloned().expect("one"),
            None if auths.is_empty() => {
                return Err(SuiteError::Usage(format!(
                    "collection `{}` has no auth to log in with",
                    pc.collection.name
                )))
            }
            None => {
                return Err(SuiteError::Usage(format!(
                    "collection `{}` has several auths ({}): choose one with --auth",
                    pc.collection.name,
                    names()
                )))
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SuiteError::StandIns)?;
        let kept = runtime.block_on(async {
            let shared = crate::execute::auth::Shared::new(plan.token_cache.clone());
            let mut session = crate::execute::Session::new(pc, &plan.templates, shared, false)
                .map_err(|e| SuiteError::Usage(format!("could not create an HTTP client: {e}")))?;
            session.tokens.interactive_allowed = true;
            let client = session.client().clone();
            session
                .tokens
                .login_and_cache(&name, &client, &plan.templates, &pc.vars)
                .await
                .map_err(|mut e| {
                    // Printed by the caller: masked here, where the secrets are.
                    e.message = plan.secrets.redact(&e.message).into_owned();
                    SuiteError::Login(e)
                })
        })?;
        let spec = &auths[&name];
        Ok(match kept {
            Some(path) if spec.cache => format!("auth `{name}`: logged in; its refresh token is kept in {}", path.display()),
            Some(path) => format!(
                "auth `{name}`: logged in; its refresh token is kept in {}, but runs use it only with `cache: true` in the auth",
                path.display()
            ),
            None => format!("auth `{name}`: logged in, but the server gave no refresh token: nothing to keep"),
        })
    }

    /// For `harness = false` test targets: arguments from the command line,
    /// environment from `REQTEST_ENV`; exits 0, 1 (a test failed) or 2
    /// (bad input).
    pub fn main(self) -> ! {
        let args = Arguments::from_args();
        let result = self.from_env_vars().and_then(|s| s.run(&args));
        std::process::exit(exit_code(result))
    }
}

/// The exit code for a finished run: 0 passed, 1 a test failed, 2 bad input.
pub fn exit_code(result: Result<Conclusion, SuiteError>) -> i32 {
    match result {
        Ok(c) if c.has_failed() => 1,
        Ok(_) => 0,
        Err(e @ SuiteError::Login(_)) => {
            eprintln!("error: {e}");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Runs the collections in `paths` as tests: the one-line `main` of a
/// `harness = false` test target.
pub fn test_main<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> ! {
    Suite::new(paths).main()
}

pub fn test_name(collection: &Collection, ri: usize) -> String {
    format!("{}::{}", collection.name, collection.requests[ri].name)
}

fn list(collections: &[Collection], args: &Arguments) -> Conclusion {
    let trials = collections
        .iter()
        .flat_map(|c| {
            c.requests.iter().enumerate().map(move |(ri, r)| {
                Trial::test(test_name(c, ri), || Ok(())).with_ignored_flag(r.ignore.is_some())
            })
        })
        .collect();
    libtest_mimic::run(args, trials)
}

/// Report files and console extras of a run.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
    /// Each request and response on stderr, secrets masked.
    pub verbose: bool,
}

/// What a trial learns of its request: already redacted.
enum Verdict {
    Pass,
    Fail(String),
    Ignore(String),
}

pub fn run_plan(
    plan: Plan,
    args: &Arguments,
    report: &ReportOptions,
) -> Result<Conclusion, SuiteError> {
    let plan = Arc::new(plan);
    let mut trials = Vec::new();
    let mut senders: Vec<Vec<Option<mpsc::Sender<Verdict>>>> = Vec::new();
    let mut reported: Vec<Vec<bool>> = Vec::new();

    for pc in plan.collections.iter() {
        let mut col_senders = Vec::new();
        let mut col_reported = Vec::new();
        for (ri, request) in pc.collection.requests.iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Verdict>();
            let trial = Trial::ignorable_test(test_name(&pc.collection, ri), move || wait_for(rx))
                .with_ignored_flag(request.ignore.is_some());
            let runs = !args.is_filtered_out(&trial) && !args.is_ignored(&trial);
            col_reported.push(runs);
            col_senders.push(Some(tx));
            trials.push(trial);
        }
        senders.push(col_senders);
        reported.push(col_reported);
    }

    let selected: usize = reported.iter().flatten().filter(|r| **r).count();
    let excluded = |ci: usize, ri: usize| {
        let name = test_name(&plan.collections[ci].collection, ri);
        args.skip.iter().any(|s| {
            if args.exact {
                name == *s
            } else {
                name.contains(s.as_str())
            }
        })
    };
    let selection = Selection::with_excluded(&plan, |ci, ri| reported[ci][ri], excluded);
    if let Some((request, var, by)) = selection.missing_capture(&plan) {
        return Err(SuiteError::Usage(format!(
            "`{request}` reads `{var}`, which `{by}` captures, but --skip leaves `{by}` out (and a skipped request is never sent); skip `{request}` too, or do not skip `{by}`"
        )));
    }
    let mut reporter =
        console::Reporter::new(&plan, report, selected, args).map_err(SuiteError::Report)?;
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
                let sink = |e: Event| {
                    let verdict = reporter_cell.borrow_mut().handle(&runner_plan, &e);
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
        Ok(Ok(())) => Ok(conclusion),
        Ok(Err(e)) => Err(SuiteError::Report(e)),
        Err(_) => Err(SuiteError::Report("the runner thread panicked".into())),
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
