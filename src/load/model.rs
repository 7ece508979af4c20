//! The typed collection the rest of reqtest works on. Every node that can be
//! wrong at run time carries the place in the user's YAML it came from.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use regex::Regex;
use serde_json::Value as Json;

/// A file's name as messages give it, shared by every place in it. One
/// pointer wide (an `Arc<str>` is two), so that a [`Pos`] is 16 bytes.
pub type FileName = Arc<String>;

/// A place in a collection file: `collections/cells.yaml:12:7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    /// The file, as named in messages.
    pub file: FileName,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub col: u32,
}

impl Pos {
    /// The start of a file, for what concerns it whole.
    pub fn start(file: &str) -> Pos {
        Pos {
            file: Arc::new(file.to_string()),
            line: 1,
            col: 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A string as the user wrote it; it may hold a template.
#[derive(Debug, Clone)]
pub struct Text {
    /// The text as written; shared by the requests that write the same.
    pub src: Arc<str>,
    /// Where it is written.
    pub at: Pos,
}

/// A structured value (JSON body, expected value, variable); every string
/// inside it may hold a template.
#[derive(Debug, Clone)]
pub struct Data {
    /// The value as written.
    pub value: Json,
    /// Where it is written.
    pub at: Pos,
}

/// A loaded collection: its environments, variables, auths and requests.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Its `name`, else the file's name without extension; the first part
    /// of its test names.
    pub name: String,
    /// The file it was loaded from, as named in messages.
    pub file: FileName,
    /// The environment used when none is chosen.
    pub default_env: Option<String>,
    /// Each environment's variables, by environment name.
    pub environments: IndexMap<String, IndexMap<String, Data>>,
    /// The collection's own variables, which environments override.
    pub vars: IndexMap<String, Data>,
    /// Variables whose values are secrets.
    pub secrets: Vec<String>,
    /// What every request gets unless it says otherwise.
    pub defaults: Defaults,
    /// By name; the collection's `auth` is named `default`.
    pub auths: IndexMap<String, AuthSpec>,
    /// The requests, in file order.
    pub requests: Vec<Request>,
    /// Labels every request carries.
    pub tags: Vec<String>,
    /// Limits on its request times and failures, if any.
    pub thresholds: Option<Thresholds>,
}

/// Limits on a collection's request times and failures, checked as the
/// test `collection::thresholds` once its requests are done.
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// `(name, limit)`: `p50`, `p95`, `p99`, `max`.
    pub times: Vec<(&'static str, Duration)>,
    /// The largest share of failed requests.
    pub error_rate: Option<f64>,
    /// Where `thresholds` is written.
    pub at: Pos,
}

/// The name of a collection's thresholds test.
pub const THRESHOLDS_TEST: &str = "thresholds";

/// The name of the collection's own `auth` among its auths.
pub const DEFAULT_AUTH: &str = "default";

impl Collection {
    /// The auth request `index` sends a token of: its own choice, else the
    /// collection's `auth`; `None` for `auth: none` or when there is none.
    pub fn auth_of(&self, index: usize) -> Option<&AuthSpec> {
        match &self.requests[index].auth {
            AuthChoice::None => None,
            AuthChoice::Default => self.auths.get(DEFAULT_AUTH),
            AuthChoice::Named(named) => self.auths.get(&named.0),
        }
    }
}

/// How a collection gets a token, keeps it fresh and sends it.
#[derive(Debug, Clone)]
pub struct AuthSpec {
    /// The auth's name: `default` for the collection's `auth`.
    pub name: String,
    /// Where the auth is written.
    pub at: Pos,
    /// How the token is obtained.
    pub flow: AuthFlow,
    /// Which token of the response is sent.
    pub token: TokenField,
    /// Where the token goes in each request.
    pub send: SendToken,
    /// Used when neither the response nor the token says when it expires.
    pub lifetime: Option<Duration>,
    /// Keep refresh tokens across runs in the token cache file.
    pub cache: bool,
    /// How long each network step of the auth may take.
    pub timeout: Option<Duration>,
    /// TLS for the auth's own requests, instead of the collection's.
    pub tls: Option<TlsSpec>,
}

/// How an auth obtains its token.
#[derive(Debug, Clone)]
pub enum AuthFlow {
    /// OAuth2 resource owner password grant.
    Password {
        /// The token endpoint and client.
        endpoint: TokenEndpoint,
        /// The user name.
        username: Text,
        /// The password.
        password: Text,
        /// Where the grant's parameters go.
        params_in: ParamsIn,
    },
    /// OAuth2 client credentials grant.
    ClientCredentials {
        /// The token endpoint and client.
        endpoint: TokenEndpoint,
        /// Where the grant's parameters go.
        params_in: ParamsIn,
    },
    /// OAuth2 authorization code grant, headless or with a person at a browser.
    AuthorizationCode {
        /// The token endpoint and client.
        endpoint: TokenEndpoint,
        /// Where the login starts.
        authorize_url: Text,
        /// More parameters of the authorization request.
        authorize_params: Vec<(String, Text)>,
        /// Where the server sends the code back.
        redirect_uri: Text,
        /// Whether to send a PKCE challenge (S256).
        pkce: bool,
        /// Who logs in: a person, or reqtest through the forms.
        login: CodeLogin,
        /// Origins besides the authorize URL's that may see the password.
        login_origins: Vec<Text>,
    },
    /// OAuth2 refresh grant from a refresh token the user gives.
    RefreshToken {
        /// The token endpoint and client.
        endpoint: TokenEndpoint,
        /// The refresh token to trade.
        refresh_token: Text,
    },
    /// Any request whose response holds the token.
    Request {
        /// The request to send.
        request: TokenRequest,
        /// Where the response says how many seconds the token lasts.
        expires_in: Option<JsonPath>,
        /// Where the response says when the token expires.
        expires_at: Option<JsonPath>,
    },
}

impl AuthFlow {
    /// The flow's name as collections write it (`client_credentials`).
    pub fn kind(&self) -> &'static str {
        match self {
            AuthFlow::Password { .. } => "password",
            AuthFlow::ClientCredentials { .. } => "client_credentials",
            AuthFlow::AuthorizationCode { .. } => "authorization_code",
            AuthFlow::RefreshToken { .. } => "refresh_token",
            AuthFlow::Request { .. } => "request",
        }
    }

    /// The OAuth2 token endpoint, for every flow but a custom request.
    pub fn endpoint(&self) -> Option<&TokenEndpoint> {
        match self {
            AuthFlow::Password { endpoint, .. }
            | AuthFlow::ClientCredentials { endpoint, .. }
            | AuthFlow::AuthorizationCode { endpoint, .. }
            | AuthFlow::RefreshToken { endpoint, .. } => Some(endpoint),
            AuthFlow::Request { .. } => None,
        }
    }
}

/// An OAuth2 token endpoint and the client that calls it.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    /// The endpoint's URL.
    pub token_url: Text,
    /// The client's id, if it has one.
    pub client_id: Option<Text>,
    /// The client's secret, if it has one.
    pub client_secret: Option<Text>,
    /// How the client proves who it is.
    pub client_auth: ClientAuth,
    /// The scope asked for.
    pub scope: Option<Text>,
    /// More parameters sent with every grant.
    pub extra: Vec<(String, Text)>,
}

/// How a client sends its credentials to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic `client_id:client_secret`.
    Basic,
    /// `client_id` and `client_secret` among the parameters.
    Body,
    /// Only `client_id` among the parameters (public clients).
    None,
}

/// Where a grant's parameters go: the form body or the URL query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsIn {
    /// A form-encoded body.
    Body,
    /// The URL's query string.
    Query,
}

/// Who logs in during an authorization code flow.
#[derive(Debug, Clone)]
pub enum CodeLogin {
    /// reqtest listens on the redirect URI and a person logs in.
    Interactive,
    /// reqtest fills and submits the login forms itself.
    Headless(Vec<LoginStep>),
}

/// One form to submit on the way to the redirect URI.
#[derive(Debug, Clone)]
pub struct LoginStep {
    /// Picks the form whose `action` contains this; the first form otherwise.
    pub form: Option<String>,
    /// Field names and the values to fill in.
    pub fields: Vec<(String, Text)>,
}

/// The request of a `request` auth, whose response holds the token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Where the request is written.
    pub at: Pos,
    /// The HTTP method.
    pub method: http::Method,
    /// The URL, a template.
    pub url: Text,
    /// Query parameters added to the URL.
    pub query: Box<[(String, Text)]>,
    /// Headers to send.
    pub headers: Box<[(String, Text)]>,
    /// The body to send, if any.
    pub body: Option<Body>,
    /// How long the request may take.
    pub timeout: Option<Duration>,
}

/// Which value of a token response is the token.
#[derive(Debug, Clone)]
pub enum TokenField {
    /// `access_token`.
    AccessToken,
    /// `id_token`.
    IdToken,
    /// Whatever a JSONPath finds in the response.
    Path(JsonPath),
}

/// How a token is sent with a request.
#[derive(Debug, Clone)]
pub enum SendToken {
    /// In a header, after a prefix (`Authorization: Bearer <token>`).
    Header {
        /// The header's name.
        name: String,
        /// What comes before the token, such as `Bearer `.
        prefix: String,
    },
    /// As a query parameter.
    Query {
        /// The parameter's name.
        name: String,
    },
}

/// Which auth a request uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthChoice {
    /// The collection's `auth`, if it has one.
    Default,
    /// `auth: none`: no token.
    None,
    /// The auth of this name, and where the name is written.
    Named(Box<(String, Pos)>),
}

/// The collection's `defaults`, applied to every request.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// Prefixed to request URLs that are not absolute.
    pub base_url: Option<Text>,
    /// Headers for every request; a request's own header of the same name
    /// wins.
    pub headers: Vec<(String, Text)>,
    /// Query parameters for every request, before the request's own.
    pub query: Vec<(String, Text)>,
    /// How long a request may take.
    pub timeout: Option<Duration>,
    /// The largest response body read, in bytes.
    pub max_body: Option<u64>,
    /// What to trust and which certificate to show, if set.
    pub tls: Option<TlsSpec>,
    /// The proxy every request goes through, if set.
    pub proxy: Option<ProxySpec>,
    /// The HTTP version to speak (default: HTTP/2 where TLS offers it).
    pub http_version: Option<HttpVersion>,
    /// How long connecting may take (default: the whole `timeout`).
    pub connect_timeout: Option<Duration>,
    /// How many redirects to follow (default: none).
    pub follow_redirects: Option<u32>,
    /// Send requests again until they pass (default: once).
    pub retry: Option<Retry>,
}

/// `retry`: a request sent again, afresh, until its response passes.
#[derive(Debug, Clone)]
pub struct Retry {
    /// How many more times it may be sent.
    pub times: u32,
    /// The wait before the first retry.
    pub interval: Duration,
    /// Each wait is the one before times this (1: a fixed interval).
    pub backoff: f64,
    /// The longest wait, `Retry-After` included.
    pub max_wait: Duration,
    /// What stops the retries; `None`: the request's own `expect`.
    pub until: Option<Box<Expect>>,
}

/// Where a `for_each` request's items come from.
#[derive(Debug, Clone)]
pub enum ForEach {
    /// A list written inline, or read from a data file.
    List {
        /// The items.
        items: Vec<Json>,
        /// The variable each item is bound to.
        name: String,
    },
    /// A template that renders a list (`"{{ users }}"`), from the
    /// starting variables.
    Var {
        /// The template.
        data: Data,
        /// The variable each item is bound to.
        name: String,
    },
}

/// One item of a `for_each` request's copy.
#[derive(Debug, Clone)]
pub struct Item {
    /// The variable it is bound to (`item`, or `as`).
    pub name: String,
    /// Its value.
    pub value: Json,
    /// The index of the `for_each` request it was copied from: copies of
    /// one request run on when one of them fails.
    pub group: usize,
}

/// The most retries a request may ask for.
pub const MAX_RETRIES: u32 = 1000;

/// The most redirects `follow_redirects: true` and `--location` follow
/// (curl's own default).
pub const MAX_REDIRECTS: u32 = 50;

/// An HTTP version a request is sent with, or a response came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2: over TLS by ALPN, over plain HTTP with prior knowledge (h2c).
    Http2,
}

impl HttpVersion {
    /// As users write it: `1.1` or `2`.
    pub fn name(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }
}

/// `defaults.proxy`: a forward proxy for every request of the collection
/// (instead of the environment's `HTTPS_PROXY` and the like).
#[derive(Debug, Clone)]
pub struct ProxySpec {
    /// `http://host:port`; credentials in it are masked like any secret.
    pub url: Text,
    /// The proxy's user name.
    pub username: Option<Text>,
    /// The proxy's password: a secret.
    pub password: Option<Text>,
    /// Hosts that bypass the proxy, as in `NO_PROXY`.
    pub no_proxy: Option<Text>,
}

/// `defaults.tls`: the CAs to trust besides the system's, a client
/// certificate, or no check at all; each value a template, so that an
/// environment can set it.
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// A PEM file of one or more CA certificates, relative to the collection.
    pub ca_cert: Option<Text>,
    /// A PEM file with the client certificate (and its key, unless
    /// `client_key` names another file).
    pub client_cert: Option<Text>,
    /// A PEM file with the client certificate's private key.
    pub client_key: Option<Text>,
    /// A PKCS#12 file (`.p12`, `.pfx`) with the client certificate and key.
    pub pkcs12: Option<Text>,
    /// The PKCS#12 file's password: a secret.
    pub password: Option<Text>,
    /// `true` (or a template rendering `true`): certificates are not checked.
    pub insecure: Option<Text>,
    /// Where `tls` is written.
    pub at: Pos,
}

/// The largest response body read when nothing says otherwise.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;
/// The largest `max_body` a collection may ask for.
pub const MAX_MAX_BODY: u64 = 4 * 1024 * 1024 * 1024;

/// One request of a collection: what to send and what to expect back.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its name, unique in the collection; the second part of its test name.
    pub name: String,
    /// Where the request is written.
    pub at: Pos,
    /// The HTTP method.
    pub method: http::Method,
    /// The URL, a template; relative to `base_url` unless absolute.
    pub url: Text,
    /// Query parameters added to the URL.
    pub query: Box<[(String, Text)]>,
    /// Headers to send.
    pub headers: Box<[(String, Text)]>,
    /// The body to send, if any.
    pub body: Option<Box<Body>>,
    /// Its own timing and connection settings; `None` when it has none
    /// (most requests), read through [`Request::tuning`].
    pub tuning: Option<Box<Tuning>>,
    /// Send again until the response passes; overrides the default.
    pub retry: Option<Box<Retry>>,
    /// Sent only when this renders `true`, evaluated when its turn comes.
    pub when: Option<Box<Text>>,
    /// Sent even after an earlier request of its collection failed (cleanup).
    pub always: bool,
    /// Sent once per item of a list, as `item` (or the name `as` gives).
    pub for_each: Option<Box<ForEach>>,
    /// The item this copy of a `for_each` request is sent with (set when
    /// the resolve stage expands the request into one copy per item).
    pub item: Option<Box<Item>>,
    /// Variables an `include` of its file gives it (`with:`), innermost
    /// last; templates of the including file.
    pub with: Box<[(String, Data)]>,
    /// Its labels: the collection's, then its own.
    pub tags: Box<[String]>,
    /// Which auth's token it sends.
    pub auth: AuthChoice,
    /// `Some(reason)` when the request is marked `ignore`.
    pub ignore: Option<String>,
    /// What the response is checked against.
    pub expect: Expect,
    /// Values taken from the response into variables for later requests.
    pub captures: Box<[Capture]>,
}

/// A request's own timing and connection settings, each overriding the
/// collection's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuning {
    /// How long the request may take.
    pub timeout: Option<Duration>,
    /// The largest response body read, in bytes.
    pub max_body: Option<u64>,
    /// How long to wait before sending.
    pub delay: Option<Duration>,
    /// The HTTP version to speak.
    pub http_version: Option<HttpVersion>,
    /// How long connecting may take.
    pub connect_timeout: Option<Duration>,
    /// How many redirects to follow.
    pub follow_redirects: Option<u32>,
}

/// No settings of its own.
static UNTUNED: Tuning = Tuning {
    timeout: None,
    max_body: None,
    delay: None,
    http_version: None,
    connect_timeout: None,
    follow_redirects: None,
};

impl Request {
    /// Its own settings (all `None` when it has none).
    pub fn tuning(&self) -> &Tuning {
        self.tuning.as_deref().unwrap_or(&UNTUNED)
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// A JSON document.
    Json(Data),
    /// Form-encoded fields.
    Form(Vec<(String, Text)>),
    /// A multipart form.
    Multipart(Vec<Part>),
    /// Text sent as it is.
    Raw(Text),
}

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub struct Part {
    /// The part's field name.
    pub name: String,
    /// What it holds.
    pub kind: PartKind,
}

/// What a multipart part holds: text or a file.
#[derive(Debug, Clone)]
pub enum PartKind {
    /// A text value.
    Text(Text),
    /// A file read from disk.
    File {
        /// The file, relative to the collection file.
        path: Text,
        /// The file name sent, if not the file's own.
        filename: Option<String>,
        /// The part's content type, if given.
        content_type: Option<String>,
    },
}

/// A request's `expect` block: every check its response must pass.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The statuses allowed.
    pub status: Option<StatusExpect>,
    /// Checks of response headers.
    pub headers: Box<[HeaderExpect]>,
    /// The longest the response may take, and where that is written.
    pub max_duration: Option<Box<(Duration, Pos)>>,
    /// Assertions on values in the JSON body.
    pub json: Box<[JsonAssert]>,
    /// Checks of the whole body.
    pub body: Option<Box<BodyExpect>>,
    /// A JSON Schema the body must match.
    pub schema: Option<Box<SchemaCheck>>,
    /// An OpenAPI operation whose documented response the body must match.
    pub openapi: Option<Box<OpenApiCheck>>,
    /// The HTTP version the response must have come in, and where that is written.
    pub http_version: Option<Box<(HttpVersion, Pos)>>,
}

/// A compiled JSON Schema.
#[derive(Clone)]
pub struct Schema(pub std::sync::Arc<jsonschema::Validator>);

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schema")
    }
}

/// An `expect.schema` check: a JSON Schema file, compiled.
#[derive(Debug, Clone)]
pub struct SchemaCheck {
    /// Where the check is written.
    pub at: Pos,
    /// The schema file as the collection names it.
    pub file: String,
    /// The compiled schema.
    pub schema: Schema,
}

/// An `expect.openapi` check: one operation's documented responses, compiled.
#[derive(Debug, Clone)]
pub struct OpenApiCheck {
    /// Where the check is written.
    pub at: Pos,
    /// `GetUser (GET /user/{Login})`, for messages.
    pub operation: String,
    /// The OpenAPI document's file (its coverage is reported too).
    pub spec: std::path::PathBuf,
    /// Documented responses by status (`200`, `2XX`, `default`).
    pub responses: Vec<DocumentedResponse>,
    /// The status to check against, when given.
    pub status: Option<String>,
}

/// A response an OpenAPI operation documents.
#[derive(Debug, Clone)]
pub struct DocumentedResponse {
    /// `200`, `2XX` or `default`.
    pub status: String,
    /// The body's schema, compiled, if it documents one.
    pub schema: Option<Schema>,
    /// The media types it may come in (empty: not documented).
    pub media_types: Vec<String>,
    /// Headers it must carry (OpenAPI 3 `required: true`).
    pub required_headers: Vec<String>,
}

/// The statuses a response may have.
#[derive(Debug, Clone)]
pub struct StatusExpect {
    /// Any one of these will do.
    pub allowed: Box<[StatusPattern]>,
    /// Where the check is written.
    pub at: Pos,
}

/// A status or a class of statuses (`200`, `2xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    /// Exactly this status.
    Code(u16),
    /// `2xx` is `Class(2)`.
    Class(u16),
}

impl StatusPattern {
    /// Whether `status` is this one or in this class.
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Code(c) => c == status,
            StatusPattern::Class(c) => status / 100 == c,
        }
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusPattern::Code(c) => write!(f, "{c}"),
            StatusPattern::Class(c) => write!(f, "{c}xx"),
        }
    }
}

/// Checks of one response header.
#[derive(Debug, Clone)]
pub struct HeaderExpect {
    /// The header's name.
    pub name: String,
    /// Where the checks are written.
    pub at: Pos,
    /// Every check the header must pass.
    pub checks: Vec<HeaderCheck>,
}

/// One check of a header's value.
#[derive(Debug, Clone)]
pub enum HeaderCheck {
    /// The value is exactly this.
    Equals(Text),
    /// The value contains this.
    Contains(Text),
    /// The value matches this regex.
    Matches(Regex),
    /// The header is there (`true`) or not (`false`).
    Present(bool),
}

/// Predicates on what a JSONPath finds in the response body.
#[derive(Debug, Clone)]
pub struct JsonAssert {
    /// Where in the body to look.
    pub path: JsonPath,
    /// Where the assertion is written.
    pub at: Pos,
    /// Every predicate the value must satisfy.
    pub predicates: Box<[Predicate]>,
}

/// A compiled JSONPath. A singular path (`$.a.b[0]`) yields one value or
/// none; any other path (wildcards, slices, filters, `..`) yields the list of
/// everything it matched. Shared: a path written in many requests is
/// parsed and held once.
#[derive(Debug, Clone)]
pub struct JsonPath {
    /// The path as written.
    pub src: std::sync::Arc<str>,
    /// The parsed path.
    pub query: std::sync::Arc<JpQuery>,
    /// Whether it can match at most one value (names and indexes only).
    pub singular: bool,
    /// Whether it is written as dotted names and indexes only (`$.a.b[0]`),
    /// which [`JsonPath::query`] follows without the general engine.
    dotted: bool,
}

impl JsonPath {
    /// Parses a JSONPath; the error says what is wrong with it.
    pub fn parse(src: &str) -> Result<Self, String> {
        let (query, dotted) = match simple_path(src) {
            Some(q) => (q, true),
            None => (
                jsonpath_rust::parser::parse_json_path(src).map_err(|e| e.to_string())?,
                false,
            ),
        };
        let singular = query.segments.iter().all(|s| {
            matches!(
                s,
                Segment::Selector(Selector::Name(_)) | Segment::Selector(Selector::Index(_))
            )
        });
        Ok(JsonPath {
            src: src.into(),
            query: std::sync::Arc::new(query),
            singular,
            dotted,
        })
    }
}

impl JsonPath {
    /// What the path points at in `doc`: one value or nothing for a
    /// singular path, the list of every match otherwise.
    pub fn query(&self, doc: &Json) -> Option<Json> {
        if self.dotted {
            return self.follow(doc).cloned();
        }
        let found = jsonpath_rust::query::js_path_process(&self.query, doc).unwrap_or_default();
        if self.singular {
            found.into_iter().next().map(|r| r.val().clone())
        } else {
            Some(Json::Array(
                found.into_iter().map(|r| r.val().clone()).collect(),
            ))
        }
    }
}

/// One step of a dotted path with no index from the end.
#[derive(Debug, Clone, Copy)]
pub enum PathStep<'p> {
    /// A member of an object.
    Name(&'p str),
    /// An item of an array, from 0.
    Index(usize),
}

impl JsonPath {
    /// The steps of a dotted path that counts no index from the end, which
    /// can be followed while the body is read; `None` for any other path.
    pub fn forward_steps(&self) -> Option<Vec<PathStep<'_>>> {
        if !self.dotted {
            return None;
        }
        self.query
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Selector(Selector::Name(name)) => Some(PathStep::Name(name)),
                Segment::Selector(Selector::Index(i)) => {
                    usize::try_from(*i).ok().map(PathStep::Index)
                }
                _ => None,
            })
            .collect()
    }
}

impl JsonPath {
    /// A dotted path followed step by step, as RFC 9535 reads it: a name
    /// in an object, an index in an array (negative from its end).
    fn follow<'d>(&self, doc: &'d Json) -> Option<&'d Json> {
        let mut at = doc;
        for segment in &self.query.segments {
            at = match segment {
                Segment::Selector(Selector::Name(name)) => at.as_object()?.get(name.as_str())?,
                Segment::Selector(Selector::Index(i)) => {
                    let items = at.as_array()?;
                    let i = if *i < 0 { items.len() as i64 + i } else { *i };
                    items.get(usize::try_from(i).ok()?)?
                }
                _ => return None,
            };
        }
        Some(at)
    }
}

/// `$.a.b[0]`, the paths nearly every assertion uses, without the general
/// parser (ten times slower): names as RFC 9535's shorthand allows them
/// (ASCII here), indexes without leading zeros. Anything else: `None`.
fn simple_path(src: &str) -> Option<JpQuery> {
    let mut rest = src.strip_prefix('$')?.as_bytes();
    let mut segments = Vec::new();
    while let Some((&first, tail)) = rest.split_first() {
        match first {
            b'.' => {
                let len = tail
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .unwrap_or(tail.len());
                let name = &tail[..len];
                if name.is_empty() || name[0].is_ascii_digit() {
                    return None;
                }
                segments.push(Segment::Selector(Selector::Name(
                    String::from_utf8(name.to_vec()).ok()?,
                )));
                rest = &tail[len..];
            }
            b'[' => {
                let close = tail.iter().position(|c| *c == b']')?;
                let digits = std::str::from_utf8(&tail[..close]).ok()?;
                let unsigned = digits.strip_prefix('-').unwrap_or(digits);
                let canonical = !unsigned.is_empty()
                    && unsigned.bytes().all(|c| c.is_ascii_digit())
                    && (unsigned == "0" || !unsigned.starts_with('0'))
                    && digits != "-0";
                if !canonical {
                    return None;
                }
                segments.push(Segment::Selector(Selector::Index(digits.parse().ok()?)));
                rest = &tail[close + 1..];
            }
            _ => return None,
        }
    }
    Some(JpQuery::new(segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_find_what_the_general_engine_finds() {
        let doc: Json = serde_json::json!({
            "a": {"b_2": [10, 20, {"c": null}]},
            "items": [{"id": 1}, {"id": 2}],
            "n": 5,
        });
        for src in [
            "$",
            "$.a",
            "$.a.b_2[0]",
            "$.a.b_2[-1]",
            "$.a.b_2[-1].c",
            "$.a.b_2[-4]",
            "$.a.b_2[3]",
            "$.items[1].id",
            "$.n.x",
            "$.n[0]",
            "$.missing",
            "$.items.id",
        ] {
            let fast = JsonPath::parse(src).unwrap();
            assert!(fast.dotted, "{src}");
            let mut general = fast.clone();
            general.dotted = false;
            assert_eq!(fast.query(&doc), general.query(&doc), "{src}");
        }
    }

    #[test]
    fn simple_paths_parse_as_the_general_parser_parses_them() {
        for src in [
            "$",
            "$.a",
            "$.a.b_2[0]",
            "$.items[12].id",
            "$._x[-1]",
            "$.A9.z",
        ] {
            let general = jsonpath_rust::parser::parse_json_path(src).unwrap();
            assert_eq!(simple_path(src), Some(general), "{src}");
        }
        for other in [
            "$.1a", "$[01]", "$[-0]", "$.a[*]", "$..a", "$['a']", "$.é", "$.a[", "a", "$.a.",
            "$[1:2]",
        ] {
            assert_eq!(simple_path(other), None, "{other}");
        }
    }
}

/// One condition on a value found in the body, as `expect.json` writes it.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// `eq`: equal to this.
    Eq(Data),
    /// `ne`: not equal to this.
    Ne(Data),
    /// `lt`: less than this.
    Lt(Data),
    /// `le`: at most this.
    Le(Data),
    /// `gt`: greater than this.
    Gt(Data),
    /// `ge`: at least this.
    Ge(Data),
    /// `contains`: has this substring, list element or object key.
    Contains(Data),
    /// `one_of`: equal to one of these.
    OneOf(Data),
    /// `matches`: a string this regex matches.
    Matches(Regex),
    /// `exists` (or `absent`): whether the path finds anything.
    Exists(bool),
    /// `type`: of this JSON type.
    Type(JsonType),
    /// `length`: its length satisfies these.
    Length(Vec<Predicate>),
    /// `every`: each element satisfies these.
    Every(Vec<Predicate>),
}

/// A JSON type as `type` names it; `integer` is a number without a fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A string.
    String,
    /// Any number, integers included.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A list.
    Array,
    /// An object.
    Object,
    /// `null`.
    Null,
}

impl JsonType {
    /// The narrowest type of `value`.
    pub fn of(value: &Json) -> JsonType {
        match value {
            Json::Null => JsonType::Null,
            Json::Bool(_) => JsonType::Boolean,
            Json::Number(n) if n.is_i64() || n.is_u64() => JsonType::Integer,
            Json::Number(_) => JsonType::Number,
            Json::String(_) => JsonType::String,
            Json::Array(_) => JsonType::Array,
            Json::Object(_) => JsonType::Object,
        }
    }

    /// Whether `value` is of this type (an integer is a number too).
    pub fn accepts(self, value: &Json) -> bool {
        let actual = JsonType::of(value);
        actual == self || (self == JsonType::Number && actual == JsonType::Integer)
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        };
        f.write_str(name)
    }
}

/// Checks of the whole response body.
#[derive(Debug, Clone)]
pub struct BodyExpect {
    /// Where the checks are written.
    pub at: Pos,
    /// The body, as JSON, equals this.
    pub json: Option<Data>,
    /// What to leave out of both sides when comparing `json`.
    pub ignore: Vec<JsonPath>,
    /// The body, as text, is exactly this.
    pub equals: Option<Text>,
    /// The body contains each of these.
    pub contains: Vec<Text>,
    /// The body matches this regex, written there.
    pub matches: Option<(Regex, Pos)>,
}

/// A value taken from the response into a variable.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The variable it goes into.
    pub var: String,
    /// Where the capture is written.
    pub at: Pos,
    /// Where in the response it comes from.
    pub source: CaptureSource,
    /// The captured value is a secret (a token from a login request).
    pub secret: bool,
}

/// Where in a response a captured value comes from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// What a JSONPath finds in the body.
    JsonPath(JsonPath),
    /// A header's value.
    Header(String),
    /// A regex group of the body.
    Regex {
        /// The regex run on the body.
        regex: Regex,
        /// The group whose text is taken.
        group: RegexGroup,
    },
    /// The status code.
    Status,
    /// A cookie the response sets.
    Cookie(String),
    /// The whole body, as text.
    Body,
}

/// Which group of a regex match to capture.
#[derive(Debug, Clone)]
pub enum RegexGroup {
    /// By number; 0 is the whole match.
    Index(usize),
    /// By name.
    Name(String),
}

/// A size the way users write them: `64 MiB`, `512 KiB`, `1,024 bytes`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    if bytes >= 1 << 20 {
        return format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64);
    }
    format!("{bytes} bytes")
}

/// A duration the way users write them in collections: `250ms`, `1.5s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs >= 3600 && secs.is_multiple_of(3600) {
        return format!("{}h", secs / 3600);
    }
    if d.subsec_nanos() == 0 && secs >= 60 && secs.is_multiple_of(60) {
        return format!("{}m", secs / 60);
    }
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{}ms", (ms * 10.0).round() / 10.0)
    } else {
        format!("{}s", (ms / 10.0).round() / 100.0)
    }
}
