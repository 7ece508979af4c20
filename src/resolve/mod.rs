//! Resolve stage: picks each collection's environment, computes its starting
//! variables, compiles every template once and checks, before anything is
//! sent, that each template only reads variables that will exist when it runs.

mod calls;
mod foreach;
mod helpers;
mod proxy;
mod requests;
pub mod templates;
mod tls;
mod vars;

use std::collections::BTreeSet;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::load::{AuthSpec, Collection, Pos, Template};
pub use foreach::item_name;
pub use proxy::{url_password, Proxy, ProxyOptions};
pub use templates::{is_template, RenderError, Templates, Vars};
pub use tls::{PemFile, Tls, TlsOptions};

/// Why a collection cannot run: a template, a variable or an environment
/// that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A template that does not compile or render.
    #[error("{0}")]
    Template(#[from] RenderError),
    /// A template reads a variable that will not exist when it runs.
    #[error("{at}: undefined variable `{name}`{hint}")]
    Undefined {
        /// Where it is read.
        at: Pos,
        /// The variable.
        name: String,
        /// What is defined instead, for the message.
        hint: String,
    },
    /// Variables that read each other in a circle.
    #[error("{at}: these variables read each other in a circle, so none can be computed: {path}")]
    Cycle {
        /// The variable where the circle closes.
        at: Pos,
        /// The circle: `a → b → a`.
        path: String,
    },
    /// An environment, a `secrets` entry or an `auths.NAME` that is not there.
    #[error("{file}: {message}")]
    Environment {
        /// The collection file, or the place of the request, it concerns.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// What the user chose on the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--env NAME`
    pub env: Option<String>,
    /// `--vars-file` then `--var`, later ones winning. They override the
    /// environment and the collection's own `vars`.
    pub vars: IndexMap<String, Json>,
    /// Where auths with `cache: true` keep refresh tokens; default:
    /// `REQTEST_TOKEN_CACHE`, else the user's cache folder.
    pub token_cache: Option<std::path::PathBuf>,
    /// `--cacert`, `--cert`, `--key`, `--insecure`.
    pub tls: TlsOptions,
    /// `--proxy`, `--noproxy`.
    pub proxy: ProxyOptions,
    /// `--location`: follow redirects where a collection does not say.
    pub location: bool,
    /// `--data`: each collection runs once per row, the row as `row`.
    pub data: Vec<Json>,
}

/// Everything ready to run: the collections checked, their templates compiled.
pub struct Plan {
    /// Every template of the run, compiled once.
    pub templates: Arc<Templates>,
    /// Every secret known so far; execute adds the tokens it obtains.
    pub secrets: crate::secrets::Secrets,
    /// Where auths with `cache: true` keep refresh tokens, if not the default.
    pub token_cache: Option<std::path::PathBuf>,
    /// The collections, in the order given.
    pub collections: Vec<PlannedCollection>,
}

impl Plan {
    /// Whether any collection skips certificate checks (`--insecure`).
    pub fn insecure(&self) -> bool {
        self.collections
            .iter()
            .any(|c| c.tls.insecure || c.auth_tls.values().any(|t| t.insecure))
    }
}

/// A collection ready to run: its environment chosen, its variables computed.
pub struct PlannedCollection {
    /// The collection as loaded.
    pub collection: Arc<Collection>,
    /// The environment chosen, if it has any.
    pub env: Option<String>,
    /// The variables it starts with.
    pub vars: Vars,
    /// What each request needs, in the collection's order.
    pub requests: Vec<PlannedRequest>,
    /// What its client trusts and which certificate it shows.
    pub tls: Tls,
    /// Where its requests go through.
    pub proxy: Proxy,
    /// The TLS of the auths that have their own, by auth name.
    pub auth_tls: IndexMap<String, Tls>,
    /// How many redirects its requests follow unless they say otherwise.
    pub follow_redirects: u32,
}

/// Which collection defaults apply to a request. A default header or query
/// parameter that reads a captured variable is sent from the first request
/// after the capture on (a login request then a default `Authorization`).
#[derive(Debug, Clone, Default)]
pub struct PlannedRequest {
    /// The collection's default headers it sends, by index.
    pub default_headers: Vec<usize>,
    /// The collection's default query parameters it sends, by index.
    pub default_query: Vec<usize>,
    /// The variables its templates (and its active defaults) read.
    pub reads: Vec<String>,
    /// The auths its templates read through `auths.NAME`: their tokens are
    /// obtained before it is sent, whichever auth it uses itself.
    pub auths: Vec<String>,
}

/// Plans the collections: environments, variables and templates checked
/// before anything is sent.
pub fn resolve(collections: Vec<Collection>, options: &Options) -> Result<Plan, ResolveError> {
    let secrets = crate::secrets::Secrets::new();
    let mut templates = Templates::with_secrets(secrets.clone());
    let mut planned = Vec::with_capacity(collections.len());
    for collection in collections {
        if options.data.is_empty() {
            planned.push(plan_collection(collection, options, &mut templates)?);
            continue;
        }
        // Data-driven: one copy per row, named `name[1]`, `name[2]`...
        for (i, row) in options.data.iter().enumerate() {
            let mut copy = collection.clone();
            copy.name = format!("{}[{}]", collection.name, i + 1);
            let mut with_row = options.clone();
            with_row.vars.insert("row".into(), row.clone());
            planned.push(plan_collection(copy, &with_row, &mut templates)?);
        }
    }
    Ok(Plan {
        templates: Arc::new(templates),
        secrets,
        token_cache: options.token_cache.clone(),
        collections: planned,
    })
}

fn choose_env(c: &Collection, options: &Options) -> Result<Option<String>, ResolveError> {
    let names = || {
        c.environments
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = &options.env {
        if c.environments.is_empty() || c.environments.contains_key(wanted) {
            return Ok(c.environments.contains_key(wanted).then(|| wanted.clone()));
        }
        return Err(ResolveError::Environment {
            file: c.file.to_string(),
            message: format!(
                "collection `{}` has no environment `{wanted}`; it has {}",
                c.name,
                names()
            ),
        });
    }
    if let Some(default) = &c.default_env {
        return Ok(Some(default.clone()));
    }
    match c.environments.len() {
        0 => Ok(None),
        1 => Ok(c.environments.keys().next().cloned()),
        _ => Err(ResolveError::Environment {
            file: c.file.to_string(),
            message: format!(
                "collection `{}` has several environments ({}) and no `default_env`: choose one with --env",
                c.name,
                names()
            ),
        }),
    }
}

fn plan_collection(
    c: Collection,
    options: &Options,
    templates: &mut Templates,
) -> Result<PlannedCollection, ResolveError> {
    let env = choose_env(&c, options)?;
    let vars = vars::starting_vars(&c, env.as_deref(), options, templates)?;
    register_secrets(&c, &vars, templates)?;
    let c = foreach::expand(c, &vars, templates)?;
    let tls = tls::plan_tls(&c, &vars, templates, &options.tls)?;
    let auth_tls = tls::plan_auth_tls(&c, &vars, templates, &options.tls)?;
    let proxy = proxy::plan_proxy(&c, &vars, templates, &options.proxy)?;
    let follow_redirects = c.defaults.follow_redirects.unwrap_or(if options.location {
        crate::load::MAX_REDIRECTS
    } else {
        0
    });
    let mut known: BTreeSet<String> = vars.keys().cloned().collect();
    let defaults = DefaultReads::of(&c, templates, &known)?;
    for spec in c.auths.values() {
        check_auth(spec, templates, &known)?;
    }
    if !c.auths.is_empty() {
        // `auths.NAME` is every auth's token.
        known.insert("auths".into());
    }
    let mut requests = Vec::with_capacity(c.requests.len());
    for index in 0..c.requests.len() {
        // A `for_each` copy also reads its item.
        let request = &c.requests[index];
        let bound: Vec<String> = request
            .with
            .iter()
            .map(|(k, _)| k.clone())
            .chain(request.item.iter().map(|i| i.name.clone()))
            .chain(request.for_each.iter().map(|f| match &**f {
                crate::load::ForEach::List { name, .. }
                | crate::load::ForEach::Var { name, .. } => name.clone(),
            }))
            .collect();
        let with_bound;
        let known_here = if bound.is_empty() {
            &known
        } else {
            with_bound = known.iter().cloned().chain(bound).collect();
            &with_bound
        };
        requests.push(plan_request(&c, index, templates, known_here, &defaults)?);
        known.extend(c.requests[index].captures.iter().map(|cap| cap.var.clone()));
    }
    Ok(PlannedCollection {
        collection: Arc::new(c),
        env,
        vars,
        requests,
        tls,
        proxy,
        auth_tls,
        follow_redirects,
    })
}

/// The values of the variables listed under `secrets:`.
fn register_secrets(
    c: &Collection,
    vars: &Vars,
    templates: &Templates,
) -> Result<(), ResolveError> {
    for name in &c.secrets {
        let Some(value) = vars.get(name) else {
            return Err(ResolveError::Environment {
                file: c.file.to_string(),
                message: format!(
                    "`secrets` names `{name}`, which no environment, var or --var defines"
                ),
            });
        };
        let text = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        templates.secrets().add(&text);
    }
    Ok(())
}

/// What each default header and query parameter reads: a default is sent
/// from the first request where all of it is defined.
struct DefaultReads {
    headers: Vec<Vec<String>>,
    query: Vec<Vec<String>>,
}

impl DefaultReads {
    fn of(
        c: &Collection,
        templates: &mut Templates,
        known: &BTreeSet<String>,
    ) -> Result<Self, ResolveError> {
        if let Some(base) = &c.defaults.base_url {
            let used = templates.compile_text(base)?;
            check_defined(&used, known, &base.at, "")?;
        }
        let captures = c
            .requests
            .iter()
            .flat_map(|r| r.captures.iter().map(|cap| cap.var.clone()));
        let everything: BTreeSet<String> = known.iter().cloned().chain(captures).collect();
        let mut reads =
            |pairs: &[(String, crate::load::Text)]| -> Result<Vec<Vec<String>>, ResolveError> {
                pairs
                    .iter()
                    .map(|(_, text)| {
                        let used = templates.compile_text(text)?;
                        let why = " (not set by any environment, var or capture)";
                        check_defined(&used, &everything, &text.at, why)?;
                        Ok(used)
                    })
                    .collect()
            };
        Ok(DefaultReads {
            headers: reads(&c.defaults.headers)?,
            query: reads(&c.defaults.query)?,
        })
    }

    /// The defaults whose variables are all known, by index.
    fn active(needs: &[Vec<String>], known: &BTreeSet<String>) -> Vec<usize> {
        needs
            .iter()
            .enumerate()
            .filter(|(_, used)| used.iter().all(|v| known.contains(v)))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Request `index` checked against what is known where it runs, with the
/// defaults that apply to it and what it reads.
fn plan_request(
    c: &Collection,
    index: usize,
    templates: &mut Templates,
    known: &BTreeSet<String>,
    defaults: &DefaultReads,
) -> Result<PlannedRequest, ResolveError> {
    let request = &c.requests[index];
    // `auth` is the token of the request's own auth.
    let scope = requests::Scope {
        known,
        auth: c.auth_of(index).is_some(),
    };
    let reads = requests::check_request(request, templates, &scope)?;
    if let Some(unknown) = reads.auths.iter().find(|a| !c.auths.contains_key(*a)) {
        return Err(ResolveError::Environment {
            file: request.at.to_string(),
            message: format!(
                "request `{}` reads `auths.{unknown}`, and this collection has no auth `{unknown}` (it has {})",
                request.name,
                c.auths.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let default_headers = DefaultReads::active(&defaults.headers, known);
    let default_query = DefaultReads::active(&defaults.query, known);
    let mut read = reads.vars;
    read.extend(
        default_headers
            .iter()
            .flat_map(|&i| defaults.headers[i].iter().cloned()),
    );
    read.extend(
        default_query
            .iter()
            .flat_map(|&i| defaults.query[i].iter().cloned()),
    );
    read.sort();
    read.dedup();
    Ok(PlannedRequest {
        default_headers,
        default_query,
        reads: read,
        auths: reads.auths,
    })
}

pub(crate) fn check_defined(
    used: &[String],
    known: &BTreeSet<String>,
    at: &Pos,
    why: &str,
) -> Result<(), ResolveError> {
    for name in used {
        if !known.contains(name) {
            return Err(ResolveError::Undefined {
                at: at.clone(),
                name: name.clone(),
                hint: format!("{why} ({})", defined_here(known.iter().map(String::as_str))),
            });
        }
    }
    Ok(())
}

/// `defined here: a, b, c` (the first few of a long list), for messages.
fn defined_here<'a>(names: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 20;
    let mut names: Vec<&str> = names.collect();
    if names.is_empty() {
        return "no variables are defined here".to_string();
    }
    names.sort_unstable();
    let more = names.len().saturating_sub(SHOWN);
    names.truncate(SHOWN);
    let mut text = format!("defined here: {}", names.join(", "));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Compiles every template of an auth; they render with the run's
/// variables, so only those may be used.
fn check_auth(
    spec: &AuthSpec,
    templates: &mut Templates,
    known: &BTreeSet<String>,
) -> Result<(), ResolveError> {
    for template in spec.templates() {
        let (used, at) = match template {
            Template::Text(t) => (templates.compile_text(t)?, &t.at),
            Template::Data(d) => (templates.compile_data(d)?, &d.at),
        };
        check_defined(&used, known, at, "")?;
    }
    Ok(())
}
