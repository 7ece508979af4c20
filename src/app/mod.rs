//! The application: what `reqtest run`, `demo`, `login` and `curl` and a
//! user's `harness = false` test do with a set of collections. It loads and
//! resolves them (starting the stand-ins when asked), hands them to the
//! runner and the runner's events to the reporters, and turns the result
//! into an exit code. The stages below it know nothing of it.

mod commands;
mod dispatch;
pub mod shard;

use std::path::PathBuf;

use indexmap::IndexMap;
use libtest_mimic::{Arguments, Conclusion};
use serde_json::Value as Json;

use crate::load::{self, Collection, LoadError};
use crate::report::ReportOptions;
use crate::resolve::{self, Options, Plan, ResolveError};

pub use dispatch::test_name;

/// What keeps the stand-ins running while a suite needs them.
#[cfg(feature = "standins")]
type Running = crate::standins::StandIns;
/// Nothing: built without the `standins` feature.
#[cfg(not(feature = "standins"))]
type Running = std::convert::Infallible;

/// Why a suite could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A collection that could not be loaded.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// A collection that cannot run as written.
    #[error("{0}")]
    Resolve(#[from] ResolveError),
    /// The stand-ins did not start.
    #[error("could not start the stand-ins: {0}")]
    StandIns(std::io::Error),
    /// The async runtime did not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A certificate or key that cannot be used.
    #[error("{0}")]
    Tls(String),
    /// A report file could not be written, or the runner stopped.
    #[error("{0}")]
    Report(String),
    /// A command asked for what its input cannot give (bad input: exit 2).
    #[error("{0}")]
    Usage(String),
    /// The login itself failed: a test failure, not bad input.
    #[error("{0}")]
    Login(crate::execute::auth::AuthError),
    /// Two collections with one name, whose tests could not be told apart.
    #[error(
        "two collections are named `{name}` ({first} and {second}); give one a different `name`"
    )]
    DuplicateCollection {
        /// The name.
        name: String,
        /// The first collection's file.
        first: String,
        /// The second collection's file.
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
    #[cfg(feature = "standins")]
    standins: bool,
    report: ReportOptions,
    tags: Tags,
    /// `--shard K/N`, and the weights of an earlier run.
    shard: Option<(shard::Shard, std::collections::HashMap<String, f64>)>,
}

/// `--tag`, `--skip-tag` and `--rerun-failed`: which requests are tests
/// of the run (the others still run when a test needs them).
#[derive(Debug, Clone, Default)]
pub struct Tags {
    /// Only requests with any of these (all when empty).
    pub any_of: Vec<String>,
    /// Never requests with any of these.
    pub skip: Vec<String>,
    /// Only these tests (`collection::request`), when given.
    pub only: Option<std::collections::HashSet<String>>,
}

impl Tags {
    /// Whether request `ri` of `c` is a test of the run.
    pub fn selects(&self, c: &Collection, ri: usize) -> bool {
        let request = &c.requests[ri];
        let has = |t: &String| request.tags.contains(t);
        (self.any_of.is_empty() || self.any_of.iter().any(has))
            && !self.skip.iter().any(has)
            && self.only.as_ref().is_none_or(|only| {
                only.contains(&dispatch::test_name(c, ri))
                    || only.contains(&format!("{}::*", c.name))
            })
    }

    /// The tests that failed or did not run in an earlier JSON report.
    pub fn failed_in(path: &std::path::Path) -> Result<std::collections::HashSet<String>, String> {
        let report = crate::report::merge::read(path)?;
        let requests = report["requests"].as_array().expect("checked by read");
        Ok(requests
            .iter()
            .filter(|r| r["result"] != "passed")
            .filter_map(|r| {
                let c = r["collection"].as_str()?;
                // An item of a captured list reruns the request it came of.
                let name = r["item_of"].as_str().or(r["request"].as_str())?;
                // A failed thresholds test reruns its whole collection.
                Some(if name == crate::load::THRESHOLDS_TEST {
                    format!("{c}::*")
                } else {
                    format!("{c}::{name}")
                })
            })
            .collect())
    }
}

impl Suite {
    /// The collections found in `paths`: YAML files, or directories of them.
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

    /// Variables that override the environment and the collection, as many `var`s.
    pub fn vars(mut self, vars: IndexMap<String, Json>) -> Self {
        self.options.vars.extend(vars);
        self
    }

    /// Starts the built-in stand-ins for the run and sets `cells_url`,
    /// `regards_url` and `nextome_url` (a `var` still wins).
    #[cfg(feature = "standins")]
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
        let plan = resolve::resolve(collections, &self.options)?;
        // Certificates and keys that cannot be used are bad input, found
        // before anything is sent.
        for planned in &plan.collections {
            let tls = &planned.tls;
            if tls.ca_cert.is_some()
                || tls.client_cert.is_some()
                || tls.pkcs12.is_some()
                || planned.proxy.url.is_some()
                || !planned.auth_tls.is_empty()
            {
                crate::execute::check_clients(planned, &plan.secrets).map_err(SuiteError::Tls)?;
            }
        }
        Ok(plan)
    }

    /// `--shard K/N`: only the K-th of N balanced parts of the collections,
    /// weighed by `weights` (milliseconds by collection, from an earlier
    /// run) where they are known, else by request count.
    pub fn shard(
        mut self,
        part: shard::Shard,
        weights: std::collections::HashMap<String, f64>,
    ) -> Self {
        self.shard = Some((part, weights));
        self
    }

    /// `--tag` (any of) and `--skip-tag`: the tagged requests that are
    /// tests of this run (the others still run when a test needs them).
    pub fn tags(mut self, tags: Tags) -> Self {
        self.tags = tags;
        self
    }

    /// `--data`: each collection runs once per row, the row as `row`.
    pub fn data(mut self, rows: Vec<Json>) -> Self {
        self.options.data = rows;
        self
    }

    /// `--location`: requests follow redirects unless their collection or
    /// they themselves say otherwise.
    pub fn location(mut self, follow: bool) -> Self {
        self.options.location = follow;
        self
    }

    /// `--proxy` and `--noproxy`: they win over every collection's
    /// `defaults.proxy` and the environment.
    pub fn proxy(mut self, proxy: resolve::ProxyOptions) -> Self {
        self.options.proxy = proxy;
        self
    }

    /// `--cacert`, `--cert`, `--key` and `--insecure`: they win over every
    /// collection's `defaults.tls`.
    pub fn tls(mut self, tls: resolve::TlsOptions) -> Self {
        self.options.tls = tls;
        self
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
        Ok(match &self.shard {
            Some((part, weights)) => shard::select(collections, *part, weights),
            None => collections,
        })
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
            let mut collections = self.load()?;
            if collections
                .iter()
                .any(|c| c.requests.iter().any(|r| r.for_each.is_some()))
            {
                // `for_each` copies are named by their items: resolved first.
                let plan = resolve::resolve(collections, &self.options)?;
                collections = plan
                    .collections
                    .iter()
                    .map(|p| (*p.collection).clone())
                    .collect();
                return Ok(dispatch::list(&collections, args, &self.tags));
            }
            if !self.options.data.is_empty() {
                // The copies `--data` makes, named as they will run.
                let rows = self.options.data.len();
                collections = collections
                    .into_iter()
                    .flat_map(|c| {
                        (1..=rows).map(move |i| Collection {
                            name: format!("{}[{i}]", c.name),
                            ..c.clone()
                        })
                    })
                    .collect();
            }
            return Ok(dispatch::list(&collections, args, &self.tags));
        }
        let (plan, _standins) = self.plan_with_standins()?;
        dispatch::run_plan(plan, args, &self.report, &self.tags)
    }

    /// The plan, with the stand-ins running (kept alive by the second value)
    /// when the suite asks for them.
    #[cfg(feature = "standins")]
    fn plan_with_standins(&self) -> Result<(Plan, Option<Running>), SuiteError> {
        if !self.standins {
            return Ok((self.plan()?, None));
        }
        let standins = Running::start().map_err(SuiteError::StandIns)?;
        let mut suite = self.clone();
        for (name, value) in standins.vars() {
            suite.options.vars.entry(name).or_insert(value);
        }
        Ok((suite.plan()?, Some(standins)))
    }

    /// The plan; without the `standins` feature there are none to start.
    #[cfg(not(feature = "standins"))]
    fn plan_with_standins(&self) -> Result<(Plan, Option<Running>), SuiteError> {
        Ok((self.plan()?, None))
    }
}

impl Suite {
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
