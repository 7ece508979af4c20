//! Execute stage: renders requests, gets and renews tokens, sends requests
//! over the collection's one client and returns what came back, timed.

pub mod auth;
pub mod proxy;
pub mod redirect;
pub mod tls;
pub mod transfer;
pub mod wire;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

pub use crate::exchange::Exchange;
use crate::load::{Body, Defaults, HttpVersion, PartKind, Pos, Request, Text, DEFAULT_MAX_BODY};
use crate::resolve::{PlannedCollection, RenderError, Templates, Vars};
use crate::secrets::Secrets;
use transfer::TransferError;
pub use transfer::{Client, Limits};

/// How long a request or an auth step may take when nothing says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request could not be sent or got no response.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A template of the request that did not render.
    #[error("{0}")]
    Render(#[from] RenderError),
    /// A request that rendered but cannot be built: a bad URL or header, an
    /// unreadable multipart file.
    #[error("{at}: {message}")]
    Build {
        /// The part of the request that could not be built.
        at: Pos,
        /// What is wrong with it.
        message: String,
    },
    /// No response came: refused, timed out, or too large.
    #[error("{method} {url}: {cause}")]
    Send {
        /// The HTTP method.
        method: String,
        /// The URL, as sent.
        url: String,
        /// Why no response came.
        cause: String,
        /// From sending the request to giving up.
        elapsed: Duration,
    },
    /// The request's token could not be obtained.
    #[error("{0}")]
    Auth(#[from] auth::AuthError),
    /// A client for the request's connection settings could not be made.
    #[error("{0}")]
    Client(String),
}

/// A request that got no response: why, and which request it was.
#[derive(Debug)]
pub struct NotAnswered {
    /// Why it got no response.
    pub error: ExecError,
    /// The HTTP method.
    pub method: String,
    /// As sent, or as it would have been (rendered as far as it could be).
    pub url: String,
    /// From the start of the request (its auth included) to giving up.
    pub elapsed: Duration,
}

/// One client per collection: its connections are kept alive and its
/// cookies kept between the collection's requests. Redirects are not
/// followed, so a test sees the 30x it was answered.
pub fn client(planned: &PlannedCollection, secrets: &Secrets) -> Result<Client, String> {
    let connection = Connection::of(&planned.collection.defaults, None);
    client_with(planned, &planned.tls, secrets, connection, Arc::default())
}

/// Makes the clients `planned` needs (the collection's, and each auth's
/// with TLS of its own) to find unusable certificates, keys and proxies
/// before anything is sent.
pub fn check_clients(planned: &PlannedCollection, secrets: &Secrets) -> Result<(), String> {
    client(planned, secrets)?;
    let connection = Connection::of(&planned.collection.defaults, None);
    for tls in planned.auth_tls.values() {
        client_with(planned, tls, secrets, connection, Arc::default())?;
    }
    Ok(())
}

/// What may differ between two requests' clients of one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The HTTP version to speak; `None`: HTTP/2 where TLS offers it.
    pub http_version: Option<HttpVersion>,
    /// How long connecting may take; `None`: only the request's timeout.
    pub connect_timeout: Option<Duration>,
}

impl Connection {
    /// A request's connection: its own settings over the collection's.
    pub fn of(defaults: &Defaults, request: Option<&Request>) -> Connection {
        Connection {
            http_version: request
                .and_then(|r| r.tuning().http_version)
                .or(defaults.http_version),
            connect_timeout: request
                .and_then(|r| r.tuning().connect_timeout)
                .or(defaults.connect_timeout),
        }
    }
}

/// A client for `connection`, keeping its cookies in `jar` (shared by the
/// collection's clients).
fn client_with(
    planned: &PlannedCollection,
    tls: &crate::resolve::Tls,
    secrets: &Secrets,
    connection: Connection,
    jar: Arc<transfer::Jar>,
) -> Result<Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .user_agent(concat!("reqtest/", env!("CARGO_PKG_VERSION")));
    builder = match connection.http_version {
        None => builder,
        Some(HttpVersion::Http1) => builder.http1_only(),
        Some(HttpVersion::Http2) => builder.http2_prior_knowledge(),
    };
    if let Some(limit) = connection.connect_timeout {
        builder = builder.connect_timeout(limit);
    }
    let builder = tls::configure(builder, tls, connection.http_version)?;
    let http = proxy::configure(builder, &planned.proxy, secrets)?
        .build()
        .map_err(|e| format!("could not create an HTTP client: {e}"))?;
    let client = Client::new(http, jar);
    // HTTP/2 without TLS (prior knowledge) stays with reqwest.
    let h2c = connection.http_version == Some(HttpVersion::Http2);
    if h2c || !proxy::http_goes_direct(&planned.proxy) {
        return Ok(client);
    }
    Ok(client.with_wire(wire::Wire::new(connection.connect_timeout)))
}

/// A request to render: a test request with the collection's defaults
/// applied, or a token request of an auth.
pub struct Outgoing<'a> {
    /// The HTTP method.
    pub method: &'a reqwest::Method,
    /// The URL, a template; relative to `base_url` unless absolute.
    pub url: &'a Text,
    /// The collection's `base_url`, if it has one.
    pub base_url: Option<&'a Text>,
    /// Query parameters, the defaults' first.
    pub query: Vec<&'a (String, Text)>,
    /// Headers, the defaults' first, so that the request's own win.
    pub headers: Vec<&'a (String, Text)>,
    /// The body, if any.
    pub body: Option<&'a Body>,
    /// How long the request may take and how large its response may be.
    pub limits: Limits,
    /// The client settings it needs.
    pub connection: Connection,
    /// Multipart files are named relative to this collection file.
    pub collection_file: &'a str,
}

/// A collection's connection to the world: its client, its tokens.
pub struct Session<'p> {
    client: Client,
    /// Clients for requests whose connection differs from the collection's.
    others: HashMap<Connection, Client>,
    /// The cookies of all of them.
    jar: Arc<transfer::Jar>,
    /// Clients for the auths with TLS settings of their own.
    auth_clients: HashMap<String, Client>,
    planned: &'p PlannedCollection,
    templates: &'p Templates,
    /// The collection's tokens, by auth.
    pub tokens: auth::Tokens<'p>,
    /// Keep what each request sent (for verbose output).
    pub traffic: bool,
}

impl<'p> Session<'p> {
    /// A session for `planned` with a client of its own and no tokens yet.
    pub fn new(
        planned: &'p PlannedCollection,
        templates: &'p Templates,
        shared: std::sync::Arc<auth::Shared>,
        traffic: bool,
    ) -> Result<Self, String> {
        let jar = Arc::<transfer::Jar>::default();
        let connection = Connection::of(&planned.collection.defaults, None);
        let mut auth_clients = HashMap::new();
        for (name, tls) in &planned.auth_tls {
            let made = client_with(planned, tls, templates.secrets(), connection, jar.clone())?;
            auth_clients.insert(name.clone(), made);
        }
        Ok(Session {
            client: client_with(
                planned,
                &planned.tls,
                templates.secrets(),
                connection,
                jar.clone(),
            )?,
            others: HashMap::new(),
            jar,
            auth_clients,
            planned,
            templates,
            tokens: auth::Tokens::new(
                &planned.collection.auths,
                shared,
                planned.collection.defaults.timeout,
                &planned.tls,
                &planned.auth_tls,
                &planned.proxy,
            ),
            traffic,
        })
    }

    /// The collection's HTTP client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client auth `name`'s own requests go out on: its own when it
    /// has TLS settings of its own, else the collection's.
    pub fn auth_client(&self, name: &str) -> Client {
        self.auth_clients.get(name).unwrap_or(&self.client).clone()
    }

    /// Sends request `index` with the variables in `vars`: gets or renews
    /// its token first, and on a 401 renews the token and tries once more.
    /// Returns the exchange and the template context it used, which the
    /// checks use too (it holds `auth`).
    pub async fn send(
        &mut self,
        index: usize,
        vars: &Vars,
    ) -> Result<(Exchange, Value), NotAnswered> {
        let request = &self.planned.collection.requests[index];
        if let Some(delay) = request.tuning().delay {
            tokio::time::sleep(delay).await;
        }
        let started = Instant::now();
        self.try_send(index, vars).await.map_err(|error| {
            let (method, url) = match &error {
                ExecError::Send { method, url, .. } => (method.clone(), url.clone()),
                _ => (request.method.to_string(), self.shown_url(index, vars)),
            };
            NotAnswered {
                error,
                method,
                url,
                elapsed: started.elapsed(),
            }
        })
    }

    /// The client for `connection`: the collection's, or one made for it
    /// (sharing the cookies).
    fn client_for(&mut self, connection: Connection) -> Result<Client, ExecError> {
        if connection == Connection::of(&self.planned.collection.defaults, None) {
            return Ok(self.client.clone());
        }
        if let Some(c) = self.others.get(&connection) {
            return Ok(c.clone());
        }
        let made = client_with(
            self.planned,
            &self.planned.tls,
            self.templates.secrets(),
            connection,
            self.jar.clone(),
        )
        .map_err(ExecError::Client)?;
        self.others.insert(connection, made.clone());
        Ok(made)
    }

    /// The URL of request `index` as far as it renders without its auth.
    fn shown_url(&self, index: usize, vars: &Vars) -> String {
        let outgoing = outgoing(self.planned, index);
        let ctx = self.tokens.context(vars, None);
        absolute_url(self.templates, &outgoing, &ctx)
            .unwrap_or_else(|_| outgoing.url.src.to_string())
    }

    async fn try_send(
        &mut self,
        index: usize,
        vars: &Vars,
    ) -> Result<(Exchange, Value), ExecError> {
        let request = &self.planned.collection.requests[index];
        let auth_name = self
            .planned
            .collection
            .auth_of(index)
            .map(|a| a.name.as_str());
        // Tokens its templates read as `auths.NAME`, whichever auth it uses.
        for name in &self.planned.requests[index].auths {
            if Some(name.as_str()) != auth_name {
                self.tokens
                    .ensure(name, &self.auth_client(name), self.templates, vars, false)
                    .await?;
            }
        }
        let mut renewed = false;
        loop {
            if let Some(name) = auth_name {
                self.tokens
                    .ensure(name, &self.auth_client(name), self.templates, vars, renewed)
                    .await?;
            }
            let ctx = self.tokens.context(vars, auth_name);
            let outgoing = outgoing(self.planned, index);
            let client = self.client_for(outgoing.connection)?;
            let mut built = build(&client, self.templates, &outgoing, &ctx).await?;
            if let Some(name) = auth_name {
                self.tokens.apply(name, &mut built)?;
            }
            let hops = request
                .tuning()
                .follow_redirects
                .unwrap_or(self.planned.follow_redirects);
            let token_header = auth_name.and_then(|n| self.tokens.token_header(n));
            let mut exchange = redirect::send_following(
                &client,
                built,
                outgoing.limits,
                self.traffic,
                hops,
                token_header.as_ref(),
            )
            .await
            .map_err(|e| match (e, auth_name) {
                (
                    ExecError::Send {
                        method,
                        url,
                        cause,
                        elapsed,
                    },
                    Some(name),
                ) => ExecError::Send {
                    method,
                    url: self.tokens.mask(name, &url),
                    cause,
                    elapsed,
                },
                (e, _) => e,
            })?;
            if let Some(name) = auth_name {
                exchange.url = self.tokens.mask(name, &exchange.url);
            }
            // A 401 the test expects is an answer to check, not an expired
            // token to renew.
            let expected = request
                .expect
                .status
                .as_ref()
                .is_some_and(|s| s.allowed.iter().any(|p| p.matches(401)));
            if exchange.status == reqwest::StatusCode::UNAUTHORIZED
                && auth_name.is_some()
                && !renewed
                && !expected
            {
                renewed = true;
                continue;
            }
            return Ok((exchange, ctx));
        }
    }
}

/// Request `index` of a planned collection with the collection's defaults
/// applied: what both the runner and `reqtest curl` send.
pub fn outgoing(planned: &PlannedCollection, index: usize) -> Outgoing<'_> {
    let collection = &planned.collection;
    let request = &collection.requests[index];
    let plan = &planned.requests[index];
    let defaults = &collection.defaults;
    Outgoing {
        method: &request.method,
        url: &request.url,
        base_url: defaults.base_url.as_ref(),
        query: plan
            .default_query
            .iter()
            .map(|&i| &defaults.query[i])
            .chain(&request.query)
            .collect(),
        // Request headers come last and replace a default of the same name.
        headers: plan
            .default_headers
            .iter()
            .map(|&i| &defaults.headers[i])
            .chain(&request.headers)
            .collect(),
        body: request.body.as_deref(),
        limits: Limits {
            timeout: request
                .tuning()
                .timeout
                .or(defaults.timeout)
                .unwrap_or(DEFAULT_TIMEOUT),
            max_body: request
                .tuning()
                .max_body
                .or(defaults.max_body)
                .unwrap_or(DEFAULT_MAX_BODY),
            connect_timeout: request
                .tuning()
                .connect_timeout
                .or(defaults.connect_timeout),
        },
        collection_file: &collection.file,
        connection: Connection::of(defaults, Some(request)),
    }
}

/// The URL, query, headers and body of `out`, rendered with `ctx`.
pub async fn build(
    client: &Client,
    templates: &Templates,
    out: &Outgoing<'_>,
    ctx: &Value,
) -> Result<reqwest::Request, ExecError> {
    let url = absolute_url(templates, out, ctx)?;
    let mut url = parse_url(&url).map_err(|e| ExecError::Build {
        at: out.url.at.clone(),
        message: format!("`{url}` is not a valid URL: {e}"),
    })?;
    let mut rendered_query = Vec::with_capacity(out.query.len());
    for (name, text) in &out.query {
        rendered_query.push((name, templates.render_text(text, ctx)?));
    }
    if !rendered_query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &rendered_query {
            pairs.append_pair(name, value);
        }
    }

    let mut headers = HeaderMap::new();
    for (name, text) in &out.headers {
        let value = templates.render_text(text, ctx)?;
        let bad = |what: &str| ExecError::Build {
            at: text.at.clone(),
            message: format!("invalid header {what} in `{name}`"),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
        let value = HeaderValue::from_str(&value).map_err(|_| bad("value"))?;
        headers.insert(name, value);
    }

    let mut builder = client
        .request(out.method.clone(), url)
        .timeout(out.limits.timeout);
    builder = match out.body {
        None => builder,
        Some(Body::Json(data)) => {
            let json = templates.render_data(data, ctx)?;
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            builder.body(serde_json::to_vec(&json).expect("JSON values always serialize"))
        }
        Some(Body::Form(pairs)) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, text) in pairs {
                form.append_pair(name, &templates.render_text(text, ctx)?);
            }
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
            }
            builder.body(form.finish())
        }
        Some(Body::Raw(text)) => builder.body(templates.render_text(text, ctx)?.into_owned()),
        Some(Body::Multipart(parts)) => {
            builder.multipart(multipart(templates, parts, out.collection_file, ctx).await?)
        }
    };
    builder
        .headers(headers)
        .build()
        .map_err(|e| ExecError::Build {
            at: out.url.at.clone(),
            message: format!("cannot build the request: {e}"),
        })
}

async fn multipart(
    templates: &Templates,
    parts: &[crate::load::Part],
    collection_file: &str,
    ctx: &Value,
) -> Result<reqwest::multipart::Form, ExecError> {
    let mut form = reqwest::multipart::Form::new();
    for part in parts {
        form = match &part.kind {
            PartKind::Text(text) => form.text(
                part.name.clone(),
                templates.render_text(text, ctx)?.into_owned(),
            ),
            PartKind::File {
                path,
                filename,
                content_type,
            } => {
                let rendered = templates.render_text(path, ctx)?;
                let file = relative_to_collection(collection_file, &rendered);
                let bytes = tokio::fs::read(&file).await.map_err(|e| ExecError::Build {
                    at: path.at.clone(),
                    message: format!("cannot read multipart file {}: {e}", file.display()),
                })?;
                let name = filename.clone().unwrap_or_else(|| {
                    file.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "file".into())
                });
                let mut p = reqwest::multipart::Part::bytes(bytes).file_name(name);
                if let Some(ct) = content_type {
                    p = p.mime_str(ct).map_err(|e| ExecError::Build {
                        at: path.at.clone(),
                        message: format!("invalid content_type `{ct}`: {e}"),
                    })?;
                }
                form.part(part.name.clone(), p)
            }
        };
    }
    Ok(form)
}

/// Sends a built request and reads the whole response within `limits`.
/// `keep_request` keeps a copy of the headers and body sent.
pub async fn exchange(
    client: &Client,
    request: reqwest::Request,
    limits: Limits,
    keep_request: bool,
) -> Result<Exchange, ExecError> {
    let method = request.method().clone();
    let url = request.url().to_string();
    let (request_headers, request_body) = if keep_request {
        let body = request
            .body()
            .and_then(|b| b.as_bytes())
            .map(bytes::Bytes::copy_from_slice);
        (request.headers().clone(), body)
    } else {
        (HeaderMap::new(), None)
    };
    let started = Instant::now();
    let fetched = transfer::fetch(client, request, limits)
        .await
        .map_err(|e: TransferError| ExecError::Send {
            method: method.to_string(),
            url: url.clone(),
            cause: e.to_string(),
            elapsed: started.elapsed(),
        })?;
    Ok(Exchange {
        method,
        url,
        request_headers,
        request_body,
        status: fetched.status,
        version: fetched.version,
        headers: fetched.headers,
        body: fetched.body,
        duration: started.elapsed(),
        redirects: Vec::new(),
    })
}

/// How many parsed URLs [`parse_url`] keeps.
const URLS_KEPT: usize = 8;

thread_local! {
    static URLS: std::cell::RefCell<std::collections::VecDeque<(String, reqwest::Url)>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

/// `text` as a URL. Most requests of a collection go to a few URLs, and
/// parsing one (host, IDNA) costs more than the rest of building a
/// request: the last few parsed are kept.
fn parse_url(text: &str) -> Result<reqwest::Url, url::ParseError> {
    let known =
        URLS.with_borrow(|urls| urls.iter().find(|(t, _)| t == text).map(|(_, u)| u.clone()));
    if let Some(url) = known {
        return Ok(url);
    }
    let url = reqwest::Url::parse(text)?;
    URLS.with_borrow_mut(|urls| {
        if urls.len() == URLS_KEPT {
            urls.pop_back();
        }
        urls.push_front((text.to_string(), url.clone()));
    });
    Ok(url)
}

fn absolute_url(templates: &Templates, out: &Outgoing, ctx: &Value) -> Result<String, ExecError> {
    let url = templates.render_text(out.url, ctx)?;
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(url.into_owned());
    }
    let Some(base) = out.base_url else {
        return Err(ExecError::Build {
            at: out.url.at.clone(),
            message: format!(
                "`{url}` is a relative URL and the collection sets no `defaults.base_url`"
            ),
        });
    };
    let base = templates.render_text(base, ctx)?;
    Ok(format!(
        "{}/{}",
        base.trim_end_matches('/'),
        url.trim_start_matches('/')
    ))
}

/// Multipart files are named relative to the collection file, as a user
/// reading the YAML would expect.
fn relative_to_collection(collection_file: &str, path: &str) -> std::path::PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    Path::new(collection_file)
        .parent()
        .map(|dir| dir.join(p))
        .unwrap_or_else(|| p.to_path_buf())
}

/// reqwest's own message is "error sending request"; the useful part (the
/// refused connection, the DNS failure) sits at the bottom of the chain.
pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let host = e
        .url()
        .map(|u| match u.port() {
            Some(port) => format!("{}:{port}", u.host_str().unwrap_or("")),
            None => u.host_str().unwrap_or("").to_string(),
        })
        .unwrap_or_else(|| "the server".into());
    if let Some(tls) = tls::explain(e, &host) {
        return tls;
    }
    let root = root_cause(e);
    if e.is_connect() {
        format!("could not connect: {root}")
    } else if e.is_body() || e.is_decode() {
        format!("could not read the response body: {root}")
    } else {
        root
    }
}

/// The message of the innermost cause of `e`, which names what happened
/// (the refused connection, the closed socket) where the outer ones say
/// only what was being done.
pub(crate) fn root_cause(e: &dyn std::error::Error) -> String {
    let mut root = e;
    while let Some(next) = root.source() {
        root = next;
    }
    root.to_string()
}
