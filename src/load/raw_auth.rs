//! `auth` and `auths` blocks as serde reads them: `type` chooses the flow,
//! and each flow is a struct of its own keys, so a key the chosen flow does
//! not take is an error (in the editor too: `reqtest schema` says which
//! keys each flow takes).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;

use super::raw::{RawLoginStep, RawTokenRequest};

/// A flow's own keys, then the keys every flow takes.
macro_rules! auth_flow {
    (
        $(#[$doc:meta])* $name:ident {
            $($(#[$field_doc:meta])* $field:ident : $ty:ty,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: $ty,)*
            /// Which token of the response is sent: `access_token` (the
            /// default), `id_token`, or a JSONPath such as `$.Token.AccessToken`.
            pub token: Option<String>,
            /// How long a token lives when neither the response nor the
            /// token says (`1h`).
            pub lifetime: Option<Json>,
            /// The header the token is sent in (default `Authorization`).
            pub header: Option<String>,
            /// What comes before the token in the header (default `Bearer `).
            pub prefix: Option<String>,
            /// Send the token in this query parameter instead of a header.
            pub query_param: Option<String>,
            /// Keep the refresh token across runs in the token cache.
            pub cache: Option<bool>,
            /// How long each of the auth's network steps may take (default:
            /// the collection's `defaults.timeout`, else 30s).
            pub timeout: Option<Json>,
            /// TLS for the auth's own requests (token endpoint, login
            /// pages) instead of the collection's `defaults.tls`.
            pub tls: Option<super::raw::RawTls>,
        }

        impl $name {
            /// The keys every flow takes.
            pub fn common(&self) -> Common<'_> {
                Common {
                    token: self.token.as_deref(),
                    lifetime: self.lifetime.as_ref(),
                    header: self.header.as_deref(),
                    prefix: self.prefix.as_deref(),
                    query_param: self.query_param.as_deref(),
                    cache: self.cache,
                    timeout: self.timeout.as_ref(),
                    tls: self.tls.as_ref(),
                }
            }
        }
    };
}

/// The keys every flow takes, whichever it is.
pub struct Common<'a> {
    pub token: Option<&'a str>,
    pub lifetime: Option<&'a Json>,
    pub header: Option<&'a str>,
    pub prefix: Option<&'a str>,
    pub query_param: Option<&'a str>,
    pub cache: Option<bool>,
    pub timeout: Option<&'a Json>,
    pub tls: Option<&'a super::raw::RawTls>,
}

/// A token endpoint's keys, whichever OAuth2 flow they belong to.
pub struct Endpoint<'a> {
    pub token_url: &'a str,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub client_auth: Option<RawClientAuth>,
    pub scope: Option<&'a str>,
    pub extra: &'a IndexMap<String, Json>,
}

/// A client id that a flow needs, or one it may do without.
pub trait ClientId {
    fn as_client_id(&self) -> Option<&str>;
}

impl ClientId for String {
    fn as_client_id(&self) -> Option<&str> {
        Some(self)
    }
}

impl ClientId for Option<String> {
    fn as_client_id(&self) -> Option<&str> {
        self.as_deref()
    }
}

/// A flow of OAuth2's token endpoint: its keys, then the endpoint's.
macro_rules! oauth_flow {
    (
        $(#[$doc:meta])* $name:ident (client_id: $client:ty) {
            $($(#[$field_doc:meta])* $field:ident : $ty:ty,)*
        }
    ) => {
        auth_flow! {
            $(#[$doc])* $name {
                $($(#[$field_doc])* $field: $ty,)*
                /// The token endpoint.
                token_url: String,
                /// The client, when the server asks for one.
                client_id: $client,
                /// The client's secret (sent as HTTP Basic by default).
                client_secret: Option<String>,
                /// How the client authenticates (default: basic with a secret, else none).
                client_auth: Option<RawClientAuth>,
                /// The scope asked for.
                scope: Option<String>,
                /// More parameters of the token request.
                #[serde(default)]
                extra: IndexMap<String, Json>,
            }
        }

        impl $name {
            /// The token endpoint's keys.
            pub fn endpoint(&self) -> Endpoint<'_> {
                Endpoint {
                    token_url: &self.token_url,
                    client_id: self.client_id.as_client_id(),
                    client_secret: self.client_secret.as_deref(),
                    client_auth: self.client_auth,
                    scope: self.scope.as_deref(),
                    extra: &self.extra,
                }
            }
        }
    };
}

/// How an auth gets its token: `type` chooses the flow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RawAuth {
    Password(RawPasswordAuth),
    ClientCredentials(RawClientCredentialsAuth),
    AuthorizationCode(RawCodeAuth),
    RefreshToken(RawRefreshTokenAuth),
    Request(RawRequestAuth),
}

impl RawAuth {
    /// The keys every flow takes.
    pub fn common(&self) -> Common<'_> {
        match self {
            RawAuth::Password(f) => f.common(),
            RawAuth::ClientCredentials(f) => f.common(),
            RawAuth::AuthorizationCode(f) => f.common(),
            RawAuth::RefreshToken(f) => f.common(),
            RawAuth::Request(f) => f.common(),
        }
    }
}

oauth_flow! {
    /// OAuth2's resource owner password grant.
    RawPasswordAuth (client_id: Option<String>) {
        /// The user.
        username: String,
        /// The user's password (a secret: never shown).
        password: String,
        /// Where the grant's parameters go: `body` (default) or `query`.
        params_in: Option<RawParamsIn>,
    }
}

oauth_flow! {
    /// OAuth2's client credentials grant.
    RawClientCredentialsAuth (client_id: String) {
        /// Where the grant's parameters go: `body` (default) or `query`.
        params_in: Option<RawParamsIn>,
    }
}

oauth_flow! {
    /// OAuth2's authorization code flow with PKCE: headless (reqtest fills
    /// the login form) or interactive (a person logs in in a browser).
    RawCodeAuth (client_id: String) {
        /// The authorization endpoint.
        authorize_url: String,
        /// More parameters of the authorization request (`prompt`, `nonce`,
        /// `login_hint`, `resource`, `audience`, ...).
        #[serde(default)]
        authorize_params: IndexMap<String, Json>,
        /// Where the authorization server sends the browser back.
        redirect_uri: String,
        /// Use PKCE (S256); default true.
        pkce: Option<bool>,
        /// A person logs in in a browser.
        interactive: Option<bool>,
        /// The forms a headless login submits.
        login: Option<Vec<RawLoginStep>>,
        /// The user, for the default login step.
        username: Option<String>,
        /// The user's password, for the default login step.
        password: Option<String>,
        /// Origins besides the authorize URL's that a headless login may
        /// send the user name and password to (`https://login.example.com`).
        login_origins: Option<Vec<String>>,
    }
}

oauth_flow! {
    /// A refresh token handed over (to CI, say), traded for tokens.
    RawRefreshTokenAuth (client_id: Option<String>) {
        /// The refresh token (a secret: never shown).
        refresh_token: String,
    }
}

auth_flow! {
    /// Any request whose JSON answer holds the token.
    RawRequestAuth {
        /// The token request.
        request: RawTokenRequest,
        /// The JSONPath of a lifetime in seconds in the answer.
        expires_in: Option<String>,
        /// The JSONPath of an expiry time (Unix seconds) in the answer.
        expires_at: Option<String>,
    }
}

/// How a client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawClientAuth {
    /// HTTP Basic `client_id:client_secret`.
    Basic,
    /// `client_id` and `client_secret` among the parameters.
    Body,
    /// Only `client_id` among the parameters (public clients).
    None,
}

/// Where a grant's parameters go.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawParamsIn {
    Body,
    Query,
}

/// An `auth` block as written, kept as its tree until the loader reads it
/// as a [`RawAuth`] (so that an error can point at its key); described to
/// editors as a `RawAuth`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct RawAuthBlock(#[schemars(with = "RawAuth")] pub Json);
