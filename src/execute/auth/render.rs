//! An auth's templates rendered with the run's variables, and the keys
//! that name who a token is for.

use minijinja::Value;
use sha2::{Digest, Sha256};

use super::oauth::{Call, RenderedEndpoint};
use super::AuthError;
use crate::execute::Limits;
use crate::load::{AuthFlow, AuthSpec, Body, CodeLogin, Text, TokenEndpoint, USERNAME_FIELD};
use crate::resolve::Templates;
use crate::secrets::{Secret, Secrets};

/// The values of an auth's templates, rendered with the run's variables.
pub struct Rendered<'a> {
    pub auth: &'a str,
    pub templates: &'a Templates,
    pub ctx: Value,
    pub limits: Limits,
    /// The collection's TLS settings.
    pub tls: &'a crate::resolve::Tls,
    /// The collection's proxy.
    pub proxy: &'a crate::resolve::Proxy,
}

impl Rendered<'_> {
    /// A template rendered with the run's variables.
    pub fn text(&self, text: &Text) -> Result<String, AuthError> {
        self.templates
            .render_text(text, &self.ctx)
            .map(|s| s.into_owned())
            .map_err(|e| self.error(e.to_string()))
    }

    /// An optional template rendered, if there is one.
    pub fn opt(&self, text: &Option<Text>) -> Result<Option<String>, AuthError> {
        text.as_ref().map(|t| self.text(t)).transpose()
    }

    /// A value that must never be shown: rendered, then registered.
    pub fn secret(&self, text: &Text) -> Result<Secret, AuthError> {
        let value = self.text(text)?;
        Ok(self.secrets().keep(value))
    }

    /// The run's secrets, which messages mask.
    pub fn secrets(&self) -> &Secrets {
        self.templates.secrets()
    }

    /// What the auth's network steps need: its name, the secrets, its limits.
    pub fn call(&self) -> Call<'_> {
        Call {
            auth: self.auth,
            secrets: self.secrets(),
            limits: self.limits,
        }
    }

    /// An error of this auth.
    pub fn error(&self, message: impl Into<String>) -> AuthError {
        self.call().error(message)
    }

    /// The token endpoint with its templates rendered; the client secret
    /// is kept as a secret.
    pub fn endpoint(&self, ep: &TokenEndpoint) -> Result<RenderedEndpoint, AuthError> {
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

    /// The user an auth logs in as, when it says.
    fn user(&self, spec: &AuthSpec) -> Result<Option<String>, AuthError> {
        match &spec.flow {
            AuthFlow::Password { username, .. } => Ok(Some(self.text(username)?)),
            AuthFlow::AuthorizationCode {
                login: CodeLogin::Headless(steps),
                ..
            } => {
                let named = ["username", "login", "email", "user"];
                steps
                    .iter()
                    .flat_map(|s| &s.fields)
                    .find(|(k, _)| k == USERNAME_FIELD || named.contains(&k.as_str()))
                    .map(|(_, v)| self.text(v))
                    .transpose()
            }
            _ => Ok(None),
        }
    }

    /// Server, client, user and scope: what makes a cached refresh token
    /// the right one. `None` when the cache is not used.
    pub fn cache_key(&self, spec: &AuthSpec, use_cache: bool) -> Result<Option<String>, AuthError> {
        let Some(ep) = spec.flow.endpoint().filter(|_| use_cache) else {
            return Ok(None);
        };
        Ok(Some(format!(
            "{}|{}|{}|{}",
            self.text(&ep.token_url)?,
            self.opt(&ep.client_id)?.unwrap_or_default(),
            self.user(spec)?.unwrap_or_default(),
            self.opt(&ep.scope)?.unwrap_or_default()
        )))
    }

    /// Who a token is for: flow, token URL, client, user and scope (for a
    /// custom token request, a digest of the request). Auths of a run with
    /// the same identity share one token and one renewal.
    pub fn identity(&self, spec: &AuthSpec) -> Result<String, AuthError> {
        if let AuthFlow::Request { request, .. } = &spec.flow {
            let mut digest = Sha256::new();
            digest.update(request.method.as_str());
            digest.update(self.text(&request.url)?);
            for (k, v) in request.query.iter().chain(&request.headers) {
                digest.update(format!("\0{k}\0{}", self.text(v)?));
            }
            match &request.body {
                Some(Body::Json(d)) => {
                    let json = self
                        .templates
                        .render_data(d, &self.ctx)
                        .map_err(|e| self.error(e.to_string()))?;
                    digest.update(json.to_string());
                }
                Some(Body::Raw(t)) => digest.update(self.text(t)?),
                Some(Body::Form(pairs)) => {
                    for (k, v) in pairs {
                        digest.update(format!("\0{k}\0{}", self.text(v)?));
                    }
                }
                _ => {}
            }
            let hex: String = digest
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            return Ok(format!("request|{hex}"));
        }
        let key = self.cache_key(spec, true)?.unwrap_or_default();
        Ok(format!("{}|{key}", spec.flow.kind()))
    }
}
