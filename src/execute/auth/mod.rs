//! Tokens: obtained once per identity, sent on every request that uses
//! them, renewed before they expire (refresh token first, a new login if
//! that fails) and after a 401. Token values are never put in a message.

pub mod cache;
mod code;
mod flows;
mod form;
mod grant;
pub mod jwt;
mod oauth;
mod render;
mod shared;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use indexmap::IndexMap;
use minijinja::Value;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value as Json;

use super::Limits;
use crate::load::{AuthSpec, SendToken};
use crate::resolve::{Templates, Vars};
use crate::secrets::Secret;
use grant::{Grant, Token};
use render::Rendered;

pub use oauth::{Call, RenderedEndpoint};
pub use shared::Shared;

/// An auth that could not get or renew its token, and why.
#[derive(Debug, thiserror::Error)]
#[error("auth `{auth}`: {message}")]
pub struct AuthError {
    /// The auth's name.
    pub auth: String,
    /// What went wrong.
    pub message: String,
}

/// A collection's tokens, by auth name, taken from the run's shared grants.
pub struct Tokens<'p> {
    specs: &'p IndexMap<String, AuthSpec>,
    /// The collection's TLS settings, for the login pages.
    tls: &'p crate::resolve::Tls,
    /// The TLS of the auths that have their own.
    auth_tls: &'p IndexMap<String, crate::resolve::Tls>,
    /// The collection's proxy, for the login pages.
    proxy: &'p crate::resolve::Proxy,
    /// The collection's `defaults.timeout`, for auths without their own.
    default_timeout: Option<Duration>,
    shared: Arc<Shared>,
    tokens: HashMap<String, Token>,
    /// Whether a login may wait for a person at a browser.
    pub interactive_allowed: bool,
}

impl<'p> Tokens<'p> {
    /// No tokens yet; interactive logins only when stderr is a terminal.
    pub fn new(
        specs: &'p IndexMap<String, AuthSpec>,
        shared: Arc<Shared>,
        default_timeout: Option<Duration>,
        tls: &'p crate::resolve::Tls,
        auth_tls: &'p IndexMap<String, crate::resolve::Tls>,
        proxy: &'p crate::resolve::Proxy,
    ) -> Self {
        Tokens {
            specs,
            tls,
            auth_tls,
            proxy,
            default_timeout,
            shared,
            tokens: HashMap::new(),
            interactive_allowed: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn rendered<'a>(&self, name: &'a str, templates: &'a Templates, vars: &Vars) -> Rendered<'a>
    where
        'p: 'a,
    {
        let spec = &self.specs[name];
        Rendered {
            auth: name,
            tls: self.auth_tls.get(name).unwrap_or(self.tls),
            proxy: self.proxy,
            templates,
            ctx: Value::from(vars.clone()),
            // Each network step of the auth: its own timeout, else the
            // collection's, else 30 s.
            limits: Limits {
                timeout: spec
                    .timeout
                    .or(self.default_timeout)
                    .unwrap_or(super::DEFAULT_TIMEOUT),
                ..Limits::default()
            },
        }
    }

    /// Makes sure auth `name` has a fresh token; `force` renews it anyway
    /// (after a 401). Another collection of the run with the same identity
    /// may have renewed it already: then its grant is taken as it is.
    pub async fn ensure(
        &mut self,
        name: &str,
        client: &crate::execute::transfer::Client,
        templates: &Templates,
        vars: &Vars,
        force: bool,
    ) -> Result<(), AuthError> {
        let spec = &self.specs[name];
        let now = SystemTime::now();
        let held = self.tokens.get(name);
        if !force && held.is_some_and(|t| t.fresh(now)) {
            return Ok(());
        }
        let held = held.map(|t| t.generation);
        let auth = self.rendered(name, templates, vars);
        let slot = self.shared.slot(&auth.identity(spec)?);
        let mut grant = slot.lock().await;
        if let Some(g) = grant
            .as_ref()
            .filter(|g| held.is_none_or(|h| g.generation > h))
        {
            let token = grant::token(spec, g, auth.secrets()).map_err(|m| auth.error(m))?;
            if token.fresh(now) {
                self.tokens.insert(name.to_string(), token);
                return Ok(());
            }
        }
        let renewed = self.renew(spec, client, &auth, grant.as_ref()).await?;
        let token = grant::token(spec, &renewed, auth.secrets()).map_err(|m| auth.error(m))?;
        *grant = Some(renewed);
        self.tokens.insert(name.to_string(), token);
        Ok(())
    }

    /// A new grant: refreshed with the run's refresh token, else the
    /// cache's, else by logging in again.
    async fn renew(
        &self,
        spec: &AuthSpec,
        client: &crate::execute::transfer::Client,
        auth: &Rendered<'_>,
        previous: Option<&Grant>,
    ) -> Result<Grant, AuthError> {
        let cache_key = auth.cache_key(spec, spec.cache)?;
        let mut refresh_tokens: Vec<Secret> = previous
            .and_then(|g| g.refresh_token.clone())
            .into_iter()
            .collect();
        if let Some(key) = &cache_key {
            let cached = self
                .shared
                .cached(key, auth.secrets())
                .map_err(|m| auth.error(m))?;
            refresh_tokens.extend(cached.filter(|rt| !refresh_tokens.contains(rt)));
        }
        if let Some(ep) = spec.flow.endpoint() {
            let endpoint = auth.endpoint(ep)?;
            for rt in refresh_tokens {
                // A refresh that fails falls back to a new login.
                if let Ok(response) = oauth::refresh(client, auth.call(), &endpoint, &rt).await {
                    return Ok(self.grant(auth, response, Some(rt), cache_key.as_deref()));
                }
            }
        }
        let response = flows::login(spec, client, auth, self.interactive_allowed).await?;
        Ok(self.grant(auth, response, None, cache_key.as_deref()))
    }

    /// A grant of `response`; its refresh token (or the one used, when a
    /// refresh response leaves it out) is kept in the cache under `key`.
    fn grant(
        &self,
        auth: &Rendered<'_>,
        response: Json,
        used: Option<Secret>,
        key: Option<&str>,
    ) -> Grant {
        let refresh_token = response
            .get("refresh_token")
            .and_then(Json::as_str)
            .map(|t| auth.secrets().keep(t))
            .or(used);
        if let (Some(key), Some(rt)) = (key, &refresh_token) {
            if let Err(e) = self.shared.keep(key, rt, auth.secrets()) {
                eprintln!("warning: {e}; the login worked, but the next run will log in again");
            }
        }
        Grant {
            response,
            refresh_token,
            obtained: SystemTime::now(),
            generation: self.shared.next_generation(),
        }
    }

    /// Logs in afresh (interactively if the auth says so) and keeps the
    /// refresh token in the cache, whatever the auth's `cache` says: what
    /// `reqtest login` does. Returns the cache file when something was kept.
    pub async fn login_and_cache(
        &mut self,
        name: &str,
        client: &crate::execute::transfer::Client,
        templates: &Templates,
        vars: &Vars,
    ) -> Result<Option<PathBuf>, AuthError> {
        let spec = &self.specs[name];
        let auth = self.rendered(name, templates, vars);
        let key = auth.cache_key(spec, true)?;
        let response = flows::login(spec, client, &auth, self.interactive_allowed).await?;
        let refresh_token = response
            .get("refresh_token")
            .and_then(Json::as_str)
            .map(|t| auth.secrets().keep(t));
        let grant = Grant {
            response,
            refresh_token: refresh_token.clone(),
            obtained: SystemTime::now(),
            generation: self.shared.next_generation(),
        };
        let token = grant::token(spec, &grant, auth.secrets()).map_err(|m| auth.error(m))?;
        self.tokens.insert(name.to_string(), token);
        match (key, refresh_token) {
            (Some(key), Some(rt)) => self
                .shared
                .keep(&key, &rt, auth.secrets())
                .map(Some)
                .map_err(|m| auth.error(m)),
            _ => Ok(None),
        }
    }

    /// The header auth `name` sends its token in, if it sends it in one.
    pub fn token_header(&self, name: &str) -> Option<HeaderName> {
        match &self.specs[name].send {
            SendToken::Header { name, .. } => HeaderName::from_bytes(name.as_bytes()).ok(),
            SendToken::Query { .. } => None,
        }
    }

    /// Puts the token of auth `name` on a built request.
    pub fn apply(&self, name: &str, request: &mut reqwest::Request) -> Result<(), AuthError> {
        let spec = &self.specs[name];
        let token = &self.tokens[name];
        match &spec.send {
            SendToken::Header {
                name: header,
                prefix,
            } => {
                let header_name =
                    HeaderName::from_bytes(header.as_bytes()).map_err(|_| AuthError {
                        auth: name.to_string(),
                        message: format!("`{header}` is not a header name"),
                    })?;
                let mut value = HeaderValue::from_str(&format!("{prefix}{}", token.value.expose())).map_err(|_| AuthError {
                    auth: name.to_string(),
                    message: "the token cannot be sent in a header (it has characters headers do not allow)".into(),
                })?;
                value.set_sensitive(true);
                request.headers_mut().insert(header_name, value);
            }
            SendToken::Query { name: param } => {
                request
                    .url_mut()
                    .query_pairs_mut()
                    .append_pair(param, token.value.expose());
            }
        }
        Ok(())
    }

    /// The template context: the variables, plus `auth` (the token view of
    /// the request's auth) and `auths` (every token obtained so far).
    pub fn context(&self, vars: &Vars, current: Option<&str>) -> Value {
        if self.tokens.is_empty() {
            return Value::from(vars.clone());
        }
        let mut map = vars.clone();
        let auths: BTreeMap<&str, Value> = self
            .tokens
            .iter()
            .map(|(k, t)| (k.as_str(), t.view.clone()))
            .collect();
        map.insert("auths".into(), Value::from(auths));
        if let Some(token) = current.and_then(|c| self.tokens.get(c)) {
            map.insert("auth".into(), token.view.clone());
        }
        Value::from(map)
    }

    /// `url` with the token of auth `name` masked, when it travels in the
    /// query string: URLs are shown in failure messages.
    pub fn mask(&self, name: &str, url: &str) -> String {
        match (&self.specs[name].send, self.tokens.get(name)) {
            (SendToken::Query { .. }, Some(token)) => {
                let value = token.value.expose();
                let encoded: String =
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                url.replace(&encoded, "***").replace(value, "***")
            }
            _ => url.to_string(),
        }
    }
}
