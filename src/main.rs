//! The `reqtest` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indexmap::IndexMap;
use libtest_mimic::{Arguments, ColorSetting, FormatSetting};
use reqtest::app::{exit_code, Suite, SuiteError};
use reqtest::report::ReportOptions;
use serde_json::Value as Json;

#[derive(Parser)]
#[command(
    name = "reqtest",
    version,
    about = "Declarative API tests in YAML, reported like Rust tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run collections (files, or folders searched for *.yaml / *.yml).
    Run(Box<RunArgs>),
    /// Run the bundled collections against the built-in stand-ins of Pydio
    /// Cells, CNES REGARDS and Nextome, on 127.0.0.1 only.
    Demo(DemoArgs),
    /// Log in with an auth of a collection (in a browser if it is
    /// interactive) and keep its refresh token in the token cache.
    Login(LoginArgs),
    /// Print a request of a collection as a curl command (secrets masked).
    Curl(CurlArgs),
    /// Turn a curl command or a Postman collection into reqtest YAML.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print the JSON Schema of the collection format, for editors.
    Schema,
    /// Work with reports: `reqtest report merge A.json B.json --junit all.xml`.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Args)]
struct CurlArgs {
    /// The collection file.
    #[arg(value_name = "COLLECTION")]
    collection: PathBuf,
    /// The request's name.
    #[arg(value_name = "REQUEST")]
    request: String,
    #[command(flatten)]
    vars: VarArgs,
    /// Start the built-in stand-ins (see `run --standins`).
    #[arg(long)]
    standins: bool,
    /// Print passwords, secrets and tokens as they are.
    #[arg(long)]
    show_secrets: bool,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Join the JSON reports of a sharded run's parts into one report of
    /// the whole run.
    Merge {
        /// The parts' JSON reports (`--json` of each shard).
        #[arg(required = true, value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        /// Write the whole run's JSON report.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the whole run's JUnit XML report.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the whole run's HTML report.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A curl command, as docs print it, as a request entry:
    /// `reqtest import curl -- -X POST https://... -d ...`
    Curl {
        /// The request's name (default: method and path).
        #[arg(long)]
        name: Option<String>,
        /// The curl arguments (with or without the leading `curl`).
        #[arg(last = true, required = true, value_name = "CURL_ARGS")]
        args: Vec<String>,
    },
    /// A Postman collection (v2.1), and optionally an environment, as a
    /// reqtest collection; what cannot be converted is listed.
    Postman {
        /// The exported collection (`*.postman_collection.json`).
        #[arg(value_name = "COLLECTION_JSON")]
        collection: PathBuf,
        /// An exported environment (`*.postman_environment.json`).
        #[arg(long, value_name = "ENV_JSON")]
        environment: Option<PathBuf>,
        /// Write the YAML here instead of to standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Args)]
struct LoginArgs {
    /// The collection file.
    #[arg(value_name = "COLLECTION")]
    collection: PathBuf,
    /// Which auth (default: the collection's `auth`, or its only one).
    #[arg(long, value_name = "NAME")]
    auth: Option<String>,
    #[command(flatten)]
    vars: VarArgs,
    /// Start the built-in stand-ins (see `run --standins`).
    #[arg(long)]
    standins: bool,
}

#[derive(Args)]
struct RunArgs {
    /// Collection files or folders.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    vars: VarArgs,
    /// Start the built-in stand-ins and set `cells_url`, `regards_url` and
    /// `nextome_url` (for collections with a `standin` environment).
    #[arg(long)]
    standins: bool,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    test: TestFlags,
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    test: TestFlags,
}

#[derive(Args)]
struct ReportArgs {
    /// Write a JUnit XML report (a testsuite per collection).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON report: every request, its assertions and the values seen.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write an HTML report: one self-contained page (summary, timelines,
    /// failures, a filter), readable offline.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Show each request and response on stderr (secrets masked).
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Report which operations and responses of this OpenAPI document the
    /// run exercised (repeatable; the documents `expect.openapi` uses are
    /// reported anyway).
    #[arg(long, value_name = "SPEC")]
    openapi_coverage: Vec<PathBuf>,
}

impl ReportArgs {
    fn options(&self) -> ReportOptions {
        ReportOptions {
            junit: self.junit.clone(),
            json: self.json.clone(),
            html: self.html.clone(),
            verbose: self.verbose,
            openapi_coverage: self.openapi_coverage.clone(),
        }
    }
}

#[derive(Args)]
struct VarArgs {
    /// The environment to use, from the collection's `environments`.
    #[arg(long, short = 'e', value_name = "NAME")]
    env: Option<String>,
    /// Set a variable, overriding environments and collection vars (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, Json)>,
    /// A YAML or JSON file of variables; `--var` wins over it.
    #[arg(long, value_name = "FILE")]
    vars_file: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    proxy: ProxyArgs,
    /// Follow redirects (up to 50) where a collection does not say otherwise.
    #[arg(long, short = 'L')]
    location: bool,
    /// Run each collection once per row of this CSV, YAML or JSON file
    /// (the row is the variable `row`; tests are named `collection[N]::request`).
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
}

/// A proxy as curl spells it; wins over `defaults.proxy` and the environment.
#[derive(Args)]
struct ProxyArgs {
    /// Send every request through this proxy (`http://[user:password@]host:port`).
    #[arg(long, short = 'x', value_name = "URL")]
    proxy: Option<String>,
    /// Hosts that go direct, comma-separated (as NO_PROXY).
    #[arg(long, value_name = "HOSTS")]
    noproxy: Option<String>,
}

impl ProxyArgs {
    fn options(&self) -> reqtest::resolve::ProxyOptions {
        reqtest::resolve::ProxyOptions {
            proxy: self.proxy.clone(),
            noproxy: self.noproxy.clone(),
        }
    }
}

/// TLS as curl spells it; each wins over the collections' `defaults.tls`.
#[derive(Args)]
struct TlsArgs {
    /// Trust the CA certificates in this PEM file (besides the system's).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Show this client certificate (PEM; with its key unless --key is given).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Do not check server certificates (a warning is printed and reports say so).
    #[arg(long, short = 'k')]
    insecure: bool,
}

impl TlsArgs {
    fn options(&self) -> reqtest::resolve::TlsOptions {
        reqtest::resolve::TlsOptions {
            ca_cert: self.cacert.clone(),
            client_cert: self.cert.clone(),
            client_key: self.key.clone(),
            insecure: self.insecure,
        }
    }
}

/// The flags of `cargo test`'s harness, with the same meaning.
#[derive(Args)]
struct TestFlags {
    /// List the tests (one per request) without running them.
    #[arg(long)]
    list: bool,
    /// Run only tests whose name contains FILTER (`collection::request`).
    #[arg(long, value_name = "FILTER")]
    filter: Option<String>,
    /// Match FILTER and --skip exactly instead of by substring.
    #[arg(long)]
    exact: bool,
    /// Skip tests whose name contains this (repeatable).
    #[arg(long, value_name = "FILTER")]
    skip: Vec<String>,
    /// Run only the requests marked `ignore`.
    #[arg(long)]
    ignored: bool,
    /// Run the requests marked `ignore` too.
    #[arg(long)]
    include_ignored: bool,
    /// How many collections run at once (requests within one always run in order).
    #[arg(long, value_name = "N")]
    test_threads: Option<usize>,
    /// One character per test.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Run the K-th of N balanced parts of the collections (CI matrices).
    #[arg(long, value_name = "K/N")]
    shard: Option<reqtest::app::shard::Shard>,
    /// Balance the parts by each collection's time in this earlier JSON report.
    #[arg(long, value_name = "REPORT.json", requires = "shard")]
    shard_weights: Option<PathBuf>,
    /// Only the tests that failed or did not run in this earlier JSON report
    /// (and, unreported, the requests they need).
    #[arg(long, value_name = "REPORT.json")]
    rerun_failed: Option<PathBuf>,
    /// Only the requests tagged so (repeatable: any of them); the others
    /// still run when a selected one needs them.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Not the requests tagged so (repeatable).
    #[arg(long = "skip-tag", value_name = "TAG")]
    skip_tags: Vec<String>,
    /// When to colour the output (NO_COLOR turns it off unless this says always).
    #[arg(long, value_name = "WHEN", value_enum)]
    color: Option<ColorSetting>,
    /// Any other libtest arguments, after `--` (for example `-- cells:: --exact`).
    #[arg(last = true, value_name = "LIBTEST_ARGS")]
    libtest: Vec<String>,
}

fn parse_var(raw: &str) -> Result<(String, Json), String> {
    let (name, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("`{raw}` should be NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("`{raw}` has no variable name"));
    }
    // Numbers, booleans and null keep their type, as in Hurl's --variable.
    let value = match serde_json::from_str::<Json>(value) {
        Ok(v @ (Json::Number(_) | Json::Bool(_) | Json::Null)) => v,
        _ => Json::String(value.to_string()),
    };
    Ok((name.to_string(), value))
}

impl TestFlags {
    /// `suite` limited to `--shard`, weighed by `--shard-weights`.
    fn sharded(&self, suite: Suite) -> Result<Suite, String> {
        let Some(part) = self.shard else {
            return Ok(suite);
        };
        let weights = match &self.shard_weights {
            Some(path) => reqtest::app::shard::weights_from_report(path)?,
            None => Default::default(),
        };
        Ok(suite.shard(part, weights))
    }

    fn tags(&self) -> Result<reqtest::app::Tags, String> {
        let only = match &self.rerun_failed {
            Some(path) => Some(reqtest::app::Tags::failed_in(path)?),
            None => None,
        };
        Ok(reqtest::app::Tags {
            any_of: self.tags.clone(),
            skip: self.skip_tags.clone(),
            only,
        })
    }

    fn to_arguments(&self) -> Result<Arguments, String> {
        let mut args = if self.libtest.is_empty() {
            Arguments::default()
        } else {
            let argv = std::iter::once("reqtest".to_string()).chain(self.libtest.iter().cloned());
            <Arguments as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())?
        };
        args.list |= self.list;
        args.exact |= self.exact;
        args.ignored |= self.ignored;
        args.include_ignored |= self.include_ignored;
        args.quiet |= self.quiet;
        if self.quiet {
            args.format = Some(FormatSetting::Terse);
        }
        args.skip.extend(self.skip.iter().cloned());
        if self.filter.is_some() {
            args.filter = self.filter.clone();
        }
        if self.test_threads.is_some() {
            args.test_threads = self.test_threads;
        }
        if args.test_threads == Some(0) {
            return Err("--test-threads takes a number of at least 1".into());
        }
        args.color = self.color.or(args.color).or_else(color_from_env);
        Ok(args)
    }
}

/// https://no-color.org: any non-empty NO_COLOR turns colour off.
fn color_from_env() -> Option<ColorSetting> {
    std::env::var_os("NO_COLOR")
        .filter(|v| !v.is_empty())
        .map(|_| ColorSetting::Never)
}

/// `collections/*.yaml`, embedded by build.rs.
const BUNDLED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

fn main() -> ExitCode {
    restore_sigpipe();
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error: reqtest failed inside, which is a bug in reqtest (please report it): {info}"
        );
        std::process::exit(INTERNAL_ERROR);
    }));
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(run) => run_command(*run),
        Command::Report(ReportCommand::Merge {
            reports,
            json,
            junit,
            html,
        }) => merge_command(&reports, [json, junit, html]),
        Command::Demo(demo) => demo_command(demo),
        Command::Login(login) => login_command(login),
        Command::Curl(curl) => curl_command(curl),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&reqtest::load::json_schema())
                    .expect("schemas serialize")
            );
            0
        }
        Command::Import(ImportCommand::Postman {
            collection,
            environment,
            output,
        }) => import_postman(&collection, environment.as_deref(), output.as_deref()),
        Command::Import(ImportCommand::Curl { name, args }) => {
            match reqtest::bridge::curl::import(&args, name.as_deref()) {
                Ok(imported) => {
                    let text = reqtest::bridge::curl::to_yaml(&imported);
                    if text.ends_with('\n') {
                        print!("{text}");
                    } else {
                        println!("{text}");
                    }
                    0
                }
                Err(e) => usage_error(e),
            }
        }
    };
    ExitCode::from(code as u8)
}

/// The exit code when reqtest itself fails (a panic): never libtest's 101.
const INTERNAL_ERROR: i32 = 3;

/// mimalloc: a fifth fewer instructions per request than glibc's malloc
/// (malloc and free were a sixth of a run), in the Rust runtime's shape.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's defaults keep freed pages for a while and commit its arenas
/// eagerly: peak RSS at 100,000 requests was 196 MiB against glibc's 127.
/// Freed pages given back at once and arenas committed as they are used
/// bring it to 113 MiB, for about 120 madvise calls in a 1,000-request run.
/// Set as defaults, so that `MIMALLOC_PURGE_DELAY` and
/// `MIMALLOC_ARENA_EAGER_COMMIT` still override them.
#[cfg(target_os = "linux")]
extern "C" fn tune_allocator() {
    // mimalloc.h's `mi_option_e` (the same in its v2 and v3): these two
    // are not named by libmimalloc-sys.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting two of mimalloc's options only writes its table of
    // options, which its own start-up reads without overwriting.
    unsafe {
        libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set_default(PURGE_DELAY, 0);
    }
}

/// The options must be set before the first allocation reserves an arena,
/// which is before `main`: a constructor of priority 98 runs before std's
/// own (`.init_array.00099`) and mimalloc's (unprioritised with gcc, 101
/// with clang).
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array.00098"]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

/// Rust ignores SIGPIPE, so a closed stdout is an error in `println!` and a
/// panic; with the default action the process ends quietly, as `head` expects.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default, before any
    // other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `reqtest report merge`: `outputs` are the JSON, JUnit and HTML files.
fn merge_command(reports: &[PathBuf], outputs: [Option<PathBuf>; 3]) -> i32 {
    use reqtest::report::merge;
    let merged = match merge::merge(reports) {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let writers: [fn(&Json, &Path) -> std::io::Result<()>; 3] =
        [merge::write_json, merge::write_junit, merge::write_html];
    for (path, write) in outputs.iter().zip(writers) {
        if let Some(p) = path {
            if let Err(e) = write(&merged, p) {
                eprintln!("error: cannot write {}: {e}", p.display());
                return 2;
            }
        }
    }
    eprintln!("{}", merge::summary_line(&merged));
    // The merged run failed when a part did.
    i32::from(merged["summary"]["failed"].as_u64().unwrap_or(0) > 0)
}

fn usage_error(message: String) -> i32 {
    eprintln!("error: {message}");
    2
}

fn collect_vars(v: &VarArgs) -> Result<IndexMap<String, Json>, SuiteError> {
    let mut vars = IndexMap::new();
    if let Some(file) = &v.vars_file {
        vars.extend(reqtest::load::load_vars_file(file)?);
    }
    vars.extend(v.vars.iter().cloned());
    Ok(vars)
}

fn run_command(run: RunArgs) -> i32 {
    let args = match run.test.to_arguments() {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    let mut suite = Suite::new(run.paths)
        .report(run.report.options())
        .tags(match run.test.tags() {
            Ok(t) => t,
            Err(e) => return usage_error(e),
        })
        .tls(run.vars.tls.options())
        .proxy(run.vars.proxy.options())
        .location(run.vars.location);
    if let Some(env) = &run.vars.env {
        suite = suite.env(env);
    }
    let vars = match collect_vars(&run.vars) {
        Ok(v) => v,
        Err(e) => return exit_code(Err(e)),
    };
    suite = suite.vars(vars);
    suite = match run.test.sharded(suite) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    if let Some(file) = &run.vars.data {
        match reqtest::load::load_rows(file) {
            Ok(rows) => suite = suite.data(rows),
            Err(e) => return exit_code(Err(e.into())),
        }
    }
    if run.standins {
        suite = suite.with_standins();
    }
    exit_code(suite.run(&args))
}

fn demo_command(demo: DemoArgs) -> i32 {
    let args = match demo.test.to_arguments() {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    let suite = Suite::embedded(BUNDLED.iter().map(|(n, t)| (n.to_string(), t.to_string())))
        .with_standins()
        .report(demo.report.options())
        .tags(match demo.test.tags() {
            Ok(t) => t,
            Err(e) => return usage_error(e),
        });
    let suite = match demo.test.sharded(suite) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    exit_code(suite.run(&args))
}

fn login_command(login: LoginArgs) -> i32 {
    match suite_for(login.collection, &login.vars, login.standins)
        .and_then(|s| s.login(login.auth.as_deref()))
    {
        Ok(message) => {
            eprintln!("{message}");
            0
        }
        Err(e) => exit_code(Err(e)),
    }
}

fn suite_for(collection: PathBuf, vars: &VarArgs, standins: bool) -> Result<Suite, SuiteError> {
    let mut suite = Suite::new([collection])
        .vars(collect_vars(vars)?)
        .tls(vars.tls.options())
        .proxy(vars.proxy.options())
        .location(vars.location);
    if let Some(env) = &vars.env {
        suite = suite.env(env);
    }
    if standins {
        suite = suite.with_standins();
    }
    Ok(suite)
}

fn curl_command(curl: CurlArgs) -> i32 {
    match suite_for(curl.collection, &curl.vars, curl.standins)
        .and_then(|s| s.curl(&curl.request, curl.show_secrets))
    {
        Ok(command) => {
            print!("{command}");
            0
        }
        Err(e) => exit_code(Err(e)),
    }
}

fn read_json(path: &std::path::Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

fn import_postman(
    collection: &std::path::Path,
    environment: Option<&std::path::Path>,
    output: Option<&std::path::Path>,
) -> i32 {
    let converted = read_json(collection).and_then(|c| {
        let env = environment.map(read_json).transpose()?;
        reqtest::bridge::postman::convert(&c, env.as_ref())
    });
    let converted = match converted {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let mut text = format!("# Imported from {} by reqtest.\n", collection.display());
    if !converted.unconverted.is_empty() {
        text.push_str("# Not converted:\n");
        for line in &converted.unconverted {
            text.push_str(&format!("#   - {line}\n"));
            eprintln!("not converted: {line}");
        }
    }
    text.push_str(&reqtest::load::to_yaml(&converted.collection));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match output {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => 0,
            Err(e) => usage_error(format!("{}: {e}", path.display())),
        },
        None => {
            print!("{text}");
            0
        }
    }
}
