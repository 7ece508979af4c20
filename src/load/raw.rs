//! The collection file exactly as serde reads it. Field names here are the
//! keys users write; `deny_unknown_fields` turns a typo such as `expcet` into
//! an error that lists the keys allowed at that place.
//!
//! Free-form parts (variables, bodies, assertions) are read as JSON values so
//! that nothing past the load stage depends on the YAML library.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;

use super::raw_auth::RawAuthBlock;

/// A collection file: environments, variables, defaults, auths and requests.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCollection {
    pub name: Option<String>,
    /// Limits on the collection's request times and failures, checked as
    /// one more test, `collection::thresholds`.
    pub thresholds: Option<RawThresholds>,
    /// Labels for every request of the collection (`--tag`, `--skip-tag`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Files of shared pieces (`environments`, `vars`, `auth`, `auths`,
    /// `defaults`), relative to this one; later ones win, and this file's
    /// own keys win over all of them.
    pub include: Option<OneOrMany>,
    pub default_env: Option<String>,
    #[serde(default)]
    pub environments: IndexMap<String, IndexMap<String, Json>>,
    #[serde(default)]
    pub vars: IndexMap<String, Json>,
    /// Names of variables whose values never appear in any output.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The auth every request uses unless it names another or `none`.
    pub auth: Option<RawAuthBlock>,
    /// More auths, by name, for requests that say `auth: NAME`.
    #[serde(default)]
    pub auths: IndexMap<String, RawAuthBlock>,
    pub requests: Vec<RawRequestEntry>,
}

/// An entry of `requests`, left in the document until the loader reads it
/// from there (it may be a request or an `include:`, and each error points
/// at its key); described to editors as either.
#[derive(Debug, Clone, JsonSchema)]
pub struct RawRequestEntry(#[schemars(with = "RawEntrySchema")] ());

impl<'de> Deserialize<'de> for RawRequestEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(RawRequestEntry(()))
    }
}

/// What a `requests` entry may be, for the JSON Schema.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RawEntrySchema {
    /// A request.
    Request(Box<RawRequest>),
    /// Requests spliced from another file.
    Include(RawRequestInclude),
}

/// `- include: flows/login.yaml`: the requests of another file (a YAML
/// list of requests, relative to this one) spliced in here, with `with`
/// values as variables in them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequestInclude {
    /// The file: a YAML list of requests (and includes).
    pub include: String,
    /// Variables for the spliced requests (templates of this collection).
    #[serde(default)]
    pub with: IndexMap<String, Json>,
}

/// Limits on a collection's latency (`p95: 300ms`) and error rate.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    /// The median request time may not exceed this.
    pub p50: Option<Json>,
    /// 95 % of the requests within this.
    pub p95: Option<Json>,
    /// 99 % of the requests within this.
    pub p99: Option<Json>,
    /// The slowest request within this.
    pub max: Option<Json>,
    /// The share of failed requests, from 0 to 1 (`0.01`).
    pub error_rate: Option<f64>,
}

/// A file of shared pieces that collections `include`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPiece {
    /// More pieces this one builds on.
    pub include: Option<OneOrMany>,
    #[serde(default)]
    pub environments: IndexMap<String, IndexMap<String, Json>>,
    #[serde(default)]
    pub vars: IndexMap<String, Json>,
    pub defaults: Option<RawDefaults>,
    /// An auth the including collections use as their `auth`.
    pub auth: Option<RawAuthBlock>,
    #[serde(default)]
    pub auths: IndexMap<String, RawAuthBlock>,
}

/// One form a headless login fills in and submits.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLoginStep {
    pub form: Option<String>,
    #[serde(default)]
    pub fields: IndexMap<String, Json>,
}

/// A token request of the user's own: a request without expectations.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTokenRequest {
    pub method: Option<String>,
    pub url: String,
    #[serde(default)]
    pub query: IndexMap<String, Json>,
    #[serde(default)]
    pub headers: IndexMap<String, Json>,
    pub json: Option<Json>,
    pub form: Option<IndexMap<String, Json>>,
    pub body: Option<String>,
    pub timeout: Option<Json>,
}

/// What every request of the collection gets unless it says otherwise.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub base_url: Option<String>,
    #[serde(default)]
    pub headers: IndexMap<String, Json>,
    #[serde(default)]
    pub query: IndexMap<String, Json>,
    pub timeout: Option<Json>,
    /// The largest response body read (`64MiB` by default): `512KiB`,
    /// `10MB`, `1GiB`, or a number of bytes. A larger one fails its test.
    pub max_body: Option<Json>,
    /// What to trust and which certificate to show (curl's --cacert,
    /// --cert, --key and --insecure); the command line's options win.
    pub tls: Option<RawTls>,
    /// A forward proxy for every request: its URL, or a mapping with
    /// `url`, `username`, `password` and `no_proxy`. Without it, the
    /// environment's HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY apply.
    pub proxy: Option<RawProxy>,
    /// `"1.1"` or `"2"` (over plain HTTP: prior knowledge, h2c); default:
    /// HTTP/2 where the server offers it over TLS, else 1.1.
    pub http_version: Option<Json>,
    /// How long connecting may take (`2s`); the whole `timeout` still applies.
    pub connect_timeout: Option<Json>,
    /// `true` (up to 50 hops, as curl -L), a number of hops, or `false`
    /// (the default: a test sees the 30x it was answered).
    pub follow_redirects: Option<Json>,
    /// Send every request again until it passes (a request's own wins).
    pub retry: Option<RawRetry>,
}

/// Retries: each attempt is sent afresh (templates rendered again, a token
/// renewed if needed) until the response satisfies `until` (default: the
/// request's `expect`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// How many more times it may be sent (up to 1000).
    pub times: u32,
    /// The wait before the first retry (default `1s`).
    pub interval: Option<Json>,
    /// Each wait is the one before times this (default 1: a fixed interval).
    pub backoff: Option<f64>,
    /// The longest wait, a server's `Retry-After` included (default `1m`).
    pub max_wait: Option<Json>,
    /// What the response must satisfy to stop retrying (the keys of `expect`).
    pub until: Option<Box<RawExpect>>,
}

/// A proxy: its URL alone, or with credentials and the hosts that bypass it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawProxy {
    /// `http://host:port` (credentials may be in it).
    Url(String),
    /// The URL with credentials and exceptions.
    Full(RawProxyFull),
}

/// A proxy with credentials and the hosts that bypass it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProxyFull {
    /// `http://host:port`.
    pub url: String,
    /// The proxy's user name.
    pub username: Option<String>,
    /// The proxy's password (masked in every output).
    pub password: Option<String>,
    /// Hosts that bypass the proxy, comma-separated as in NO_PROXY.
    pub no_proxy: Option<String>,
}

/// TLS settings; every value may be a template.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// A PEM file of CA certificates to trust besides the system's,
    /// relative to the collection.
    pub ca_cert: Option<String>,
    /// A PEM file with the client certificate (and its key, unless
    /// `client_key` is given), relative to the collection.
    pub client_cert: Option<String>,
    /// A PEM file with the client certificate's private key.
    pub client_key: Option<String>,
    /// A PKCS#12 file (.p12, .pfx) with the client certificate and its key,
    /// instead of `client_cert` (needs reqtest built with the `pkcs12`
    /// feature).
    pub pkcs12: Option<String>,
    /// The PKCS#12 file's password (a secret: masked in every output).
    pub password: Option<String>,
    /// `true`: do not check the server's certificate (curl -k). A warning
    /// is printed and the reports say so.
    pub insecure: Option<BoolOrText>,
}

/// `true`/`false`, or a template that renders one of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BoolOrText {
    /// Written as a YAML boolean.
    Bool(bool),
    /// A template rendering `true` or `false`.
    Text(String),
}

/// One request: what to send, what to expect back and what to capture.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: String,
    pub method: Option<String>,
    pub url: String,
    #[serde(default)]
    pub query: IndexMap<String, Json>,
    #[serde(default)]
    pub headers: IndexMap<String, Json>,
    pub json: Option<Json>,
    pub form: Option<IndexMap<String, Json>>,
    pub multipart: Option<IndexMap<String, Json>>,
    pub body: Option<String>,
    pub timeout: Option<Json>,
    /// The largest response body read, over `defaults.max_body`.
    pub max_body: Option<Json>,
    /// Wait this long before sending (polling, letting a token expire).
    pub delay: Option<Json>,
    /// `"1.1"` or `"2"`, over `defaults.http_version`.
    pub http_version: Option<Json>,
    /// How long connecting may take, over `defaults.connect_timeout`.
    pub connect_timeout: Option<Json>,
    /// `true`, a number of hops or `false`, over `defaults.follow_redirects`.
    pub follow_redirects: Option<Json>,
    /// Send it again until it passes (polling an asynchronous job).
    pub retry: Option<RawRetry>,
    /// Send it only when this renders `true` (`"{{ environment == 'real' }}"`),
    /// evaluated when its turn comes, with the captures so far; otherwise it
    /// is reported ignored, saying why.
    pub when: Option<String>,
    /// Send it even when an earlier request of the collection failed (a
    /// cleanup such as `DELETE /items/{{ id }}`).
    pub always: Option<bool>,
    /// Send it once per item: a list, a variable holding one
    /// (`"{{ users }}"`), or `{file: data/users.csv}` (CSV with a header
    /// row, or a YAML/JSON list). One test per item, named by `name`
    /// (`create {{ item.login }}`), else `name[N]`.
    pub for_each: Option<Json>,
    /// The variable each item is bound to (default `item`).
    #[serde(rename = "as")]
    pub item_name: Option<String>,
    /// Labels besides the collection's (`--tag smoke` runs the tagged ones).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `none`, `default`, or the name of one of the collection's `auths`.
    pub auth: Option<String>,
    pub ignore: Option<Json>,
    /// Boxed: most of a request's size, and a collection holds thousands.
    #[serde(default)]
    pub expect: Box<RawExpect>,
    #[serde(default)]
    pub capture: IndexMap<String, Json>,
}

/// What the response must be: status, headers, time, JSON values, body, schema.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub status: Option<Json>,
    #[serde(default)]
    pub headers: IndexMap<String, Json>,
    pub max_duration: Option<Json>,
    /// JSONPath → a value it must equal, or a mapping of predicates.
    #[serde(default)]
    pub json: IndexMap<String, RawExpected>,
    pub body: Option<RawBodyExpect>,
    /// A JSON Schema file (JSON or YAML) the response body must satisfy.
    pub schema: Option<String>,
    /// An operation of an OpenAPI 3 or Swagger 2.0 document whose response
    /// schema the body must satisfy.
    pub openapi: Option<RawOpenApi>,
    /// The HTTP version the response must come in: `"1.1"` or `"2"`.
    pub http_version: Option<Json>,
}

/// An OpenAPI operation whose documented response schema the body must satisfy.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOpenApi {
    /// The OpenAPI or Swagger file, relative to the collection.
    pub spec: String,
    /// The operation's `operationId`; or give `path` and `method`.
    pub operation: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
    /// Which documented response to check against (default: the status
    /// that came, else `default`).
    pub status: Option<Json>,
}

/// Checks of the whole response body.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBodyExpect {
    pub json: Option<Json>,
    #[serde(default)]
    pub ignore: Vec<String>,
    pub equals: Option<String>,
    pub contains: Option<OneOrMany>,
    pub matches: Option<String>,
}

/// One string or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The strings as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// What a JSONPath must satisfy: a value to equal, or a mapping of
/// predicates. A mapping is always predicates (compare with an object
/// using `eq: {..}`), so a misspelt predicate is an error, not an object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct RawExpected(pub Json);

impl JsonSchema for RawExpected {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Expected".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let predicates = generator.subschema_for::<RawPredicates>();
        schemars::json_schema!({
            "description": "A value to equal, or a mapping of predicates.",
            "anyOf": [predicates, {"not": {"type": "object"}}]
        })
    }
}

/// Predicates a value must all satisfy.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPredicates {
    /// Equal to this (numbers by value; an object compared whole).
    pub eq: Option<Json>,
    /// Anything but this.
    pub ne: Option<Json>,
    /// Less than this number or string (ISO dates compare as strings).
    pub lt: Option<Json>,
    /// At most this.
    pub le: Option<Json>,
    /// More than this.
    pub gt: Option<Json>,
    /// At least this.
    pub ge: Option<Json>,
    /// A substring, a list element or an object key.
    pub contains: Option<Json>,
    /// One of these values.
    pub one_of: Option<Vec<Json>>,
    /// Matches this regex.
    pub matches: Option<String>,
    /// Whether the path finds a value.
    pub exists: Option<bool>,
    /// Whether the path finds no value.
    pub absent: Option<bool>,
    /// The JSON type of the value.
    #[serde(rename = "type")]
    pub kind: Option<RawJsonType>,
    /// The length of a list, object or string: a value or predicates.
    pub length: Option<RawExpected>,
    /// Predicates every element of a list satisfies.
    pub every: Option<RawExpected>,
}

/// A JSON type, as `type:` names it.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawJsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}
