//! Tokens: obtained once per auth, sent on every request that uses it,
//! renewed before they expire (refresh token first, a new login if that
//! fails) and after a 401. Token values are never put in a message.

pub mod cache;
mod code;
mod form;
pub mod jwt;
mod oauth;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use minijinja::Value;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value as Json;

use super::Limits;
use crate::check::json::query;
use crate::load::{AuthFlow, AuthSpec, SendToken, Text, TokenField};
use crate::resolve::{Templates, Vars};
use crate::secrets::{Secret, Secrets};

pub use oauth::{Call, RenderedEndpoint};

#[derive(Debug, thiserror::Error)]
#[error("auth `{auth}`: {message}")]
pub struct AuthError {
    pub auth: String,
    pub message: String,
}

/// A token in hand.
#[derive(Clone)]
pub struct Token {
    pub value: Secret,
    pub refresh_token: Option<Secret>,
    pub obtained: SystemTime,
    pub expires_at: Option<SystemTime>,
    /// What templates see as `auth`: `{response, claims, expires_at}`.
    pub view: Value,
}

impl std::fmt::Debug for Token {
    /// The view holds the token response: only the times are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &self.value)
            .field("obtained", &self.obtained)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Still good for a while: renewal happens a tenth of the lifetime
    /// (30 s at most) before expiry, so no request goes out with a token
    /// about to lapse.
    fn fresh(&self, now: SystemTime) -> bool {
        let Some(expires_at) = self.expires_at else {
            return true;
        };
        let lifetime = expires_at.duration_since(self.obtained).unwrap_or_default();
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        now + margin < expires_at
    }
}

pub struct Tokens<'p> {
    specs: &'p IndexMap<String, AuthSpec>,
    /// The collection's `defaults.timeout`, for auths without their own.
    default_timeout: Option<Duration>,
    tokens: HashMap<String, Token>,
    cache: Option<cache::TokenCache>,
    cache_path: Option<std::path::PathBuf>,
    pub interactive_allowed: bool,
}

/// The values of an auth's templates, rendered with the run's variables.
struct Rendered<'a> {
    auth: &'a str,
    templates: &'a Templates,
    ctx: Value,
    limits: Limits,
}

impl Rendered<'_> {
    fn text(&self, text: &Text) -> Result<String, AuthError> {
        self.templates
            .render_text(text, &self.ctx)
            .map(|s| s.into_owned())
            .map_err(|e| self.error(e.to_string()))
    }

    fn opt(&self, text: &Option<Text>) -> Result<Option<String>, AuthError> {
        text.as_ref().map(|t| self.text(t)).transpose()
    }

    /// A value that must never be shown: rendered, then registered.
    fn secret(&self, text: &Text) -> Result<Secret, AuthError> {
        let value = self.text(text)?;
        Ok(self.secrets().keep(value))
    }

    fn secrets(&self) -> &Secrets {
        self.templates.secrets()
    }

    fn call(&self) -> Call<'_> {
        Call {
            auth: self.auth,
            secrets: self.secrets(),
            limits: self.limits,
        }
    }

    fn error(&self, message: impl Into<String>) -> AuthError {
        AuthError {
            auth: self.auth.to_string(),
            message: message.into(),
        }
    }

    fn endpoint(&self, ep: &crate::load::TokenEndpoint) -> Result<RenderedEndpoint, AuthError> {
        let mut extra = Vec::with_capacity(ep.extra.len());
        for (k, v) in &ep.extra {
            extra.push((k.clone(), self.text(v)?));
        }
        Ok(RenderedEndpoint {
            token_url: self.text(&ep.token_url)?,
            client_id: self.opt(&ep.client_id)?,
            client_secret: ep
                .client_secret
                .as_ref()
                .map(|t| self.secret(t))
                .transpose()?,
            client_auth: ep.client_auth,
            scope: self.opt(&ep.scope)?,
            extra,
        })
    }
}

impl<'p> Tokens<'p> {
    pub fn new(
        specs: &'p IndexMap<String, AuthSpec>,
        cache_path: Option<std::path::PathBuf>,
        default_timeout: Option<Duration>,
    ) -> Self {
        Tokens {
            specs,
            default_timeout,
            tokens: HashMap::new(),
            cache: None,
            cache_path,
            interactive_allowed: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    /// How long each network step of `spec` may take: its own `timeout`,
    /// else the collection's, else 30 s.
    fn limits(&self, spec: &AuthSpec) -> Limits {
        Limits {
            timeout: spec
                .timeout
                .or(self.default_timeout)
                .unwrap_or(super::DEFAULT_TIMEOUT),
            ..Limits::default()
        }
    }

    /// Makes sure auth `name` has a fresh token; `force` renews it anyway
    /// (after a 401).
    pub async fn ensure(
        &mut self,
        name: &str,
        client: &reqwest::Client,
        templates: &Templates,
        vars: &Vars,
        force: bool,
    ) -> Result<(), AuthError> {
        let spec = &self.specs[name];
        let now = SystemTime::now();
        if !force && self.tokens.get(name).is_some_and(|t| t.fresh(now)) {
            return Ok(());
        }
        let previous = self.tokens.remove(name);
        let r = Rendered {
            auth: name,
            templates,
            ctx: Value::from(vars.clone()),
            limits: self.limits(spec),
        };
        let cache_key = self.cache_key(spec, &r, spec.cache)?;

        // A refresh token from this run, then one from the cache.
        let mut refresh_tokens: Vec<Secret> =
            previous.and_then(|t| t.refresh_token).into_iter().collect();
        if let Some(key) = &cache_key {
            if let Some(rt) = self.cache()?.refresh_token(key) {
                refresh_tokens.push(templates.secrets().keep(rt));
            }
        }
        if let Some(ep) = spec.flow.endpoint() {
            let endpoint = r.endpoint(ep)?;
            for rt in refresh_tokens {
                // A refresh that fails falls back to a new login.
                if let Ok(response) = oauth::refresh(client, r.call(), &endpoint, &rt).await {
                    return self.store(spec, &r, response, Some(rt), cache_key.as_deref());
                }
            }
        }
        let response = self.login(spec, client, &r).await?;
        self.store(spec, &r, response, None, cache_key.as_deref())
    }

    async fn login(
        &self,
        spec: &AuthSpec,
        client: &reqwest::Client,
        r: &Rendered<'_>,
    ) -> Result<Json, AuthError> {
        let name = spec.name.as_str();
        match &spec.flow {
            AuthFlow::Password {
                endpoint,
                username,
                password,
                params_in,
            } => {
                let password = r.secret(password)?;
                let params = vec![
                    ("grant_type".to_string(), "password".to_string()),
                    ("username".to_string(), r.text(username)?),
                    ("password".to_string(), password.expose().to_string()),
                ];
                let ep = r.endpoint(endpoint)?;
                oauth::token(client, r.call(), &ep, params, *params_in).await
            }
            AuthFlow::ClientCredentials {
                endpoint,
                params_in,
            } => {
                let params = vec![("grant_type".to_string(), "client_credentials".to_string())];
                let ep = r.endpoint(endpoint)?;
                oauth::token(client, r.call(), &ep, params, *params_in).await
            }
            AuthFlow::RefreshToken {
                endpoint,
                refresh_token,
            } => {
                let ep = r.endpoint(endpoint)?;
                oauth::refresh(client, r.call(), &ep, &r.secret(refresh_token)?).await
            }
            AuthFlow::AuthorizationCode {
                endpoint,
                authorize_url,
                authorize_params,
                redirect_uri,
                pkce,
                login,
                login_origins,
            } => {
                let flow = code::CodeFlow {
                    call: r.call(),
                    endpoint: r.endpoint(endpoint)?,
                    authorize_url: r.text(authorize_url)?,
                    authorize_params: authorize_params
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), r.text(v)?)))
                        .collect::<Result<_, AuthError>>()?,
                    redirect_uri: r.text(redirect_uri)?,
                    pkce: *pkce,
                    login_origins: login_origins
                        .iter()
                        .map(|o| r.text(o))
                        .collect::<Result<_, _>>()?,
                };
                match login {
                    crate::load::CodeLogin::Headless(steps) => {
                        let mut rendered_steps = Vec::with_capacity(steps.len());
                        for step in steps {
                            let mut fields = Vec::with_capacity(step.fields.len());
                            for (k, v) in &step.fields {
                                let value = if k == crate::load::PASSWORD_FIELD
                                    || crate::secrets::is_secret_key(k)
                                    || k.to_ascii_lowercase().contains("pass")
                                {
                                    code::Field::Secret(r.secret(v)?)
                                } else {
                                    code::Field::Plain(r.text(v)?)
                                };
                                fields.push((k.clone(), value));
                            }
                            rendered_steps.push((step.form.clone(), fields));
                        }
                        flow.headless(client, &rendered_steps).await
                    }
                    crate::load::CodeLogin::Interactive => {
                        if !self.interactive_allowed {
                            return Err(r.error(format!(
                                "this auth logs in through a browser and no one is here to do it; run `reqtest login {} --auth {name}` once (with `cache: true`) so that later runs use its refresh token",
                                spec.at.file
                            )));
                        }
                        flow.interactive(client).await
                    }
                }
            }
            AuthFlow::Request { request, .. } => {
                let outgoing = super::Outgoing {
                    method: &request.method,
                    url: &request.url,
                    base_url: None,
                    query: request.query.iter().collect(),
                    headers: request.headers.iter().collect(),
                    body: request.body.as_ref(),
                    limits: Limits {
                        timeout: request.timeout.unwrap_or(r.limits.timeout),
                        ..r.limits
                    },
                    collection_file: &request.at.file,
                };
                let built = super::build(client, r.templates, &outgoing, &r.ctx)
                    .await
                    .map_err(|e| r.error(e.to_string()))?;
                let ex = super::exchange(client, built, outgoing.limits, false)
                    .await
                    .map_err(|e| r.error(e.to_string()))?;
                if !ex.status.is_success() {
                    return Err(r.error(format!(
                        "{} {} was answered {}: {}",
                        ex.method,
                        ex.url,
                        ex.status,
                        oauth::describe_error_body(
                            &ex.body,
                            crate::check::content_type(&ex),
                            r.secrets()
                        )
                    )));
                }
                serde_json::from_slice(&ex.body).map_err(|e| {
                    r.error(format!("the token response of {} is not JSON: {e}", ex.url))
                })
            }
        }
    }

    fn store(
        &mut self,
        spec: &AuthSpec,
        r: &Rendered<'_>,
        response: Json,
        used_refresh_token: Option<Secret>,
        cache_key: Option<&str>,
    ) -> Result<(), AuthError> {
        let obtained = SystemTime::now();
        let value = match &spec.token {
            TokenField::AccessToken => response
                .get("access_token")
                .and_then(Json::as_str)
                .map(str::to_string),
            TokenField::IdToken => response
                .get("id_token")
                .and_then(Json::as_str)
                .map(str::to_string),
            TokenField::Path(path) => {
                query(path, &response).and_then(|v| v.as_str().map(str::to_string))
            }
        };
        let Some(value) = value else {
            let wanted = match &spec.token {
                TokenField::AccessToken => "access_token".to_string(),
                TokenField::IdToken => "id_token".to_string(),
                TokenField::Path(p) => p.src.clone(),
            };
            let keys: Vec<&str> = response
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(r.error(format!(
                "the token response has no string at `{wanted}` (its keys: {})",
                keys.join(", ")
            )));
        };
        let secrets = r.secrets();
        let value = secrets.keep(value);
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = response.get(key).and_then(Json::as_str) {
                secrets.add(t);
            }
        }
        // A refresh response may leave the refresh token out: keep the old one.
        let refresh_token = response
            .get("refresh_token")
            .and_then(Json::as_str)
            .map(|t| secrets.keep(t))
            .or(used_refresh_token);
        let claims = jwt::claims(value.expose())
            .or_else(|| {
                response
                    .get("id_token")
                    .and_then(Json::as_str)
                    .and_then(jwt::claims)
            })
            .unwrap_or_else(|| Json::Object(Default::default()));
        let expires_at = expiry(spec, &response, &claims, value.expose(), obtained);
        let mut view = BTreeMap::new();
        view.insert("response", Value::from_serialize(&response));
        view.insert("claims", Value::from_serialize(&claims));
        if let Some(e) = expires_at {
            view.insert("expires_at", Value::from(unix_secs(e)));
        }
        if let (Some(key), Some(rt)) = (cache_key, &refresh_token) {
            self.cache()?.store(key, rt.expose())?;
        }
        self.tokens.insert(
            spec.name.clone(),
            Token {
                value,
                refresh_token,
                obtained,
                expires_at,
                view: Value::from(view),
            },
        );
        Ok(())
    }

    fn cache(&mut self) -> Result<&mut cache::TokenCache, AuthError> {
        if self.cache.is_none() {
            self.cache = Some(cache::TokenCache::open(self.cache_path.as_deref()).map_err(
                |e| AuthError {
                    auth: "cache".into(),
                    message: e,
                },
            )?);
        }
        Ok(self.cache.as_mut().expect("just opened"))
    }

    /// Logs in afresh (interactively if the auth says so) and keeps the
    /// refresh token in the cache, whatever the auth's `cache` says: what
    /// `reqtest login` does. Returns the cache file when something was kept.
    pub async fn login_and_cache(
        &mut self,
        name: &str,
        client: &reqwest::Client,
        templates: &Templates,
        vars: &Vars,
    ) -> Result<Option<std::path::PathBuf>, AuthError> {
        let spec = &self.specs[name];
        let r = Rendered {
            auth: name,
            templates,
            ctx: Value::from(vars.clone()),
            limits: self.limits(spec),
        };
        let key = self.cache_key(spec, &r, true)?;
        let response = self.login(spec, client, &r).await?;
        self.store(spec, &r, response, None, key.as_deref())?;
        let kept = key.is_some() && self.tokens[name].refresh_token.is_some();
        Ok(if kept {
            Some(self.cache()?.path().to_path_buf())
        } else {
            None
        })
    }

    /// Server, client, user and scope: what makes a cached refresh token
    /// the right one. `None` when the cache is not used.
    fn cache_key(
        &self,
        spec: &AuthSpec,
        r: &Rendered<'_>,
        use_cache: bool,
    ) -> Result<Option<String>, AuthError> {
        if !use_cache {
            return Ok(None);
        }
        let Some(ep) = spec.flow.endpoint() else {
            return Ok(None);
        };
        let user = match &spec.flow {
            AuthFlow::Password { username, .. } => Some(r.text(username)?),
            AuthFlow::AuthorizationCode { login, .. } => match login {
                crate::load::CodeLogin::Headless(steps) => {
                    let mut user = None;
                    for (k, v) in steps.iter().flat_map(|s| &s.fields) {
                        if k == crate::load::USERNAME_FIELD
                            || ["username", "login", "email", "user"].contains(&k.as_str())
                        {
                            user = Some(r.text(v)?);
                            break;
                        }
                    }
                    user
                }
                crate::load::CodeLogin::Interactive => None,
            },
            _ => None,
        };
        Ok(Some(format!(
            "{}|{}|{}|{}",
            r.text(&ep.token_url)?,
            r.opt(&ep.client_id)?.unwrap_or_default(),
            user.unwrap_or_default(),
            r.opt(&ep.scope)?.unwrap_or_default()
        )))
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

/// `expires_in` as a number or a numeric string (Cells prints `"599"`),
/// else the custom request's `expires_in`/`expires_at` paths, else the
/// token's JWT `exp`, else the configured lifetime.
fn expiry(
    spec: &AuthSpec,
    response: &Json,
    claims: &Json,
    value: &str,
    obtained: SystemTime,
) -> Option<SystemTime> {
    let seconds = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let Some(secs) = response.get("expires_in").and_then(seconds) {
        return after(obtained, secs);
    }
    if let AuthFlow::Request {
        expires_in,
        expires_at,
        ..
    } = &spec.flow
    {
        if let Some(secs) = expires_in
            .as_ref()
            .and_then(|p| query(p, response))
            .as_ref()
            .and_then(seconds)
        {
            return after(obtained, secs);
        }
        if let Some(at) = expires_at
            .as_ref()
            .and_then(|p| query(p, response))
            .as_ref()
            .and_then(seconds)
        {
            return after(UNIX_EPOCH, at);
        }
    }
    let own_exp = jwt::claims(value).and_then(|c| c.get("exp").and_then(seconds));
    if let Some(exp) = own_exp.or_else(|| {
        claims
            .get("exp")
            .and_then(seconds)
            .filter(|_| jwt::claims(value).is_some())
    }) {
        return after(UNIX_EPOCH, exp);
    }
    spec.lifetime.and_then(|l| obtained.checked_add(l))
}

/// `start` plus what a server said in seconds: nonsense (negative, NaN,
/// `1e400`) counts as none, and ten years is as far as a token lives.
fn after(start: SystemTime, seconds: f64) -> Option<SystemTime> {
    const MAX: f64 = 10.0 * 366.0 * 86400.0;
    if !seconds.is_finite() {
        return None;
    }
    let seconds = seconds.clamp(0.0, MAX);
    start.checked_add(Duration::from_secs_f64(seconds))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
