//! The typed collection the rest of reqtest works on. Every node that can be
//! wrong at run time carries the place in the user's YAML it came from.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use regex::Regex;
use serde_json::Value as Json;

/// A place in a collection file: `collections/cells.yaml:12:7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    /// The start of a file, for what concerns it whole.
    pub fn start(file: &str) -> Pos {
        Pos {
            file: Arc::from(file),
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
    pub src: String,
    pub at: Pos,
}

/// A structured value (JSON body, expected value, variable); every string
/// inside it may hold a template.
#[derive(Debug, Clone)]
pub struct Data {
    pub value: Json,
    pub at: Pos,
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub name: String,
    pub file: Arc<str>,
    pub default_env: Option<String>,
    pub environments: IndexMap<String, IndexMap<String, Data>>,
    pub vars: IndexMap<String, Data>,
    /// Variables whose values are secrets.
    pub secrets: Vec<String>,
    pub defaults: Defaults,
    /// By name; the collection's `auth` is named `default`.
    pub auths: IndexMap<String, AuthSpec>,
    pub requests: Vec<Request>,
}

pub const DEFAULT_AUTH: &str = "default";

impl Collection {
    /// The auth request `index` sends a token of: its own choice, else the
    /// collection's `auth`; `None` for `auth: none` or when there is none.
    pub fn auth_of(&self, index: usize) -> Option<&AuthSpec> {
        match &self.requests[index].auth {
            AuthChoice::None => None,
            AuthChoice::Default => self.auths.get(DEFAULT_AUTH),
            AuthChoice::Named(name) => self.auths.get(name),
        }
    }
}

/// How a collection gets a token, keeps it fresh and sends it.
#[derive(Debug, Clone)]
pub struct AuthSpec {
    pub name: String,
    pub at: Pos,
    pub flow: AuthFlow,
    /// Which token of the response is sent.
    pub token: TokenField,
    pub send: SendToken,
    /// Used when neither the response nor the token says when it expires.
    pub lifetime: Option<Duration>,
    /// Keep refresh tokens across runs in the token cache file.
    pub cache: bool,
    /// How long each network step of the auth may take.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum AuthFlow {
    Password {
        endpoint: TokenEndpoint,
        username: Text,
        password: Text,
        params_in: ParamsIn,
    },
    ClientCredentials {
        endpoint: TokenEndpoint,
        params_in: ParamsIn,
    },
    AuthorizationCode {
        endpoint: TokenEndpoint,
        authorize_url: Text,
        /// More parameters of the authorization request.
        authorize_params: Vec<(String, Text)>,
        redirect_uri: Text,
        pkce: bool,
        login: CodeLogin,
        /// Origins besides the authorize URL's that may see the password.
        login_origins: Vec<Text>,
    },
    RefreshToken {
        endpoint: TokenEndpoint,
        refresh_token: Text,
    },
    /// Any request whose response holds the token.
    Request {
        request: TokenRequest,
        expires_in: Option<JsonPath>,
        expires_at: Option<JsonPath>,
    },
}

impl AuthFlow {
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

#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    pub token_url: Text,
    pub client_id: Option<Text>,
    pub client_secret: Option<Text>,
    pub client_auth: ClientAuth,
    pub scope: Option<Text>,
    pub extra: Vec<(String, Text)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic `client_id:client_secret`.
    Basic,
    /// `client_id` and `client_secret` among the parameters.
    Body,
    /// Only `client_id` among the parameters (public clients).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsIn {
    Body,
    Query,
}

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
    pub fields: Vec<(String, Text)>,
}

#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub at: Pos,
    pub method: http::Method,
    pub url: Text,
    pub query: Vec<(String, Text)>,
    pub headers: Vec<(String, Text)>,
    pub body: Option<Body>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum TokenField {
    AccessToken,
    IdToken,
    Path(JsonPath),
}

#[derive(Debug, Clone)]
pub enum SendToken {
    Header { name: String, prefix: String },
    Query { name: String },
}

/// Which auth a request uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthChoice {
    /// The collection's `auth`, if it has one.
    Default,
    None,
    Named(String),
}

#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub base_url: Option<Text>,
    pub headers: Vec<(String, Text)>,
    pub query: Vec<(String, Text)>,
    pub timeout: Option<Duration>,
    /// The largest response body read, in bytes.
    pub max_body: Option<u64>,
}

/// The largest response body read when nothing says otherwise.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;
/// The largest `max_body` a collection may ask for.
pub const MAX_MAX_BODY: u64 = 4 * 1024 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    pub at: Pos,
    pub method: http::Method,
    pub url: Text,
    pub query: Vec<(String, Text)>,
    pub headers: Vec<(String, Text)>,
    pub body: Option<Body>,
    pub timeout: Option<Duration>,
    pub max_body: Option<u64>,
    pub delay: Option<Duration>,
    pub auth: AuthChoice,
    /// `Some(reason)` when the request is marked `ignore`.
    pub ignore: Option<String>,
    pub expect: Expect,
    pub captures: Vec<Capture>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(Data),
    Form(Vec<(String, Text)>),
    Multipart(Vec<Part>),
    Raw(Text),
}

#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub kind: PartKind,
}

#[derive(Debug, Clone)]
pub enum PartKind {
    Text(Text),
    File {
        path: Text,
        filename: Option<String>,
        content_type: Option<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub status: Option<StatusExpect>,
    pub headers: Vec<HeaderExpect>,
    pub max_duration: Option<(Duration, Pos)>,
    pub json: Vec<JsonAssert>,
    pub body: Option<BodyExpect>,
    pub schema: Option<SchemaCheck>,
    pub openapi: Option<OpenApiCheck>,
}

/// A compiled JSON Schema.
#[derive(Clone)]
pub struct Schema(pub std::sync::Arc<jsonschema::Validator>);

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schema")
    }
}

#[derive(Debug, Clone)]
pub struct SchemaCheck {
    pub at: Pos,
    pub file: String,
    pub schema: Schema,
}

#[derive(Debug, Clone)]
pub struct OpenApiCheck {
    pub at: Pos,
    /// `GetUser (GET /user/{Login})`, for messages.
    pub operation: String,
    /// Documented responses by status (`200`, `2XX`, `default`).
    pub responses: Vec<(String, Option<Schema>)>,
    /// The status to check against, when given.
    pub status: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StatusExpect {
    pub allowed: Vec<StatusPattern>,
    pub at: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Code(u16),
    /// `2xx` is `Class(2)`.
    Class(u16),
}

impl StatusPattern {
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

#[derive(Debug, Clone)]
pub struct HeaderExpect {
    pub name: String,
    pub at: Pos,
    pub checks: Vec<HeaderCheck>,
}

#[derive(Debug, Clone)]
pub enum HeaderCheck {
    Equals(Text),
    Contains(Text),
    Matches(Regex),
    Present(bool),
}

#[derive(Debug, Clone)]
pub struct JsonAssert {
    pub path: JsonPath,
    pub at: Pos,
    pub predicates: Vec<Predicate>,
}

/// A compiled JSONPath. A singular path (`$.a.b[0]`) yields one value or
/// none; any other path (wildcards, slices, filters, `..`) yields the list of
/// everything it matched.
#[derive(Debug, Clone)]
pub struct JsonPath {
    pub src: String,
    pub query: JpQuery,
    pub singular: bool,
}

impl JsonPath {
    pub fn parse(src: &str) -> Result<Self, String> {
        let query = match simple_path(src) {
            Some(q) => q,
            None => jsonpath_rust::parser::parse_json_path(src).map_err(|e| e.to_string())?,
        };
        let singular = query.segments.iter().all(|s| {
            matches!(
                s,
                Segment::Selector(Selector::Name(_)) | Segment::Selector(Selector::Index(_))
            )
        });
        Ok(JsonPath {
            src: src.to_string(),
            query,
            singular,
        })
    }
}

impl JsonPath {
    /// What the path points at in `doc`: one value or nothing for a
    /// singular path, the list of every match otherwise.
    pub fn query(&self, doc: &Json) -> Option<Json> {
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

#[derive(Debug, Clone)]
pub enum Predicate {
    Eq(Data),
    Ne(Data),
    Lt(Data),
    Le(Data),
    Gt(Data),
    Ge(Data),
    Contains(Data),
    OneOf(Data),
    Matches(Regex),
    Exists(bool),
    Type(JsonType),
    Length(Vec<Predicate>),
    Every(Vec<Predicate>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

impl JsonType {
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

#[derive(Debug, Clone)]
pub struct BodyExpect {
    pub at: Pos,
    pub json: Option<Data>,
    pub ignore: Vec<JsonPath>,
    pub equals: Option<Text>,
    pub contains: Vec<Text>,
    pub matches: Option<(Regex, Pos)>,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub var: String,
    pub at: Pos,
    pub source: CaptureSource,
    /// The captured value is a secret (a token from a login request).
    pub secret: bool,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    JsonPath(JsonPath),
    Header(String),
    Regex { regex: Regex, group: RegexGroup },
    Status,
    Cookie(String),
    Body,
}

#[derive(Debug, Clone)]
pub enum RegexGroup {
    Index(usize),
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
