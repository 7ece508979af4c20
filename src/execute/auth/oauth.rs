//! Calls to an OAuth2 token endpoint.

use base64::Engine as _;
use serde_json::Value as Json;

use super::AuthError;
use crate::execute::transfer::{self, Fetched, Limits};
use crate::load::{ClientAuth, ParamsIn};
use crate::secrets::{shown, Secret, Secrets};

/// A token endpoint with its templates rendered.
#[derive(Debug, Clone)]
pub struct RenderedEndpoint {
    /// The endpoint's URL.
    pub token_url: String,
    /// The client's id, if it has one.
    pub client_id: Option<String>,
    /// The client's secret, if it has one.
    pub client_secret: Option<Secret>,
    /// How the client proves who it is.
    pub client_auth: ClientAuth,
    /// The scope asked for.
    pub scope: Option<String>,
    /// More parameters sent with every grant.
    pub extra: Vec<(String, String)>,
}

/// What every network step of one auth needs: its name for messages, the
/// run's secrets to mask them, and how long and how large an answer may be.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    /// The auth's name, for messages.
    pub auth: &'a str,
    /// The run's secrets, masked in messages.
    pub secrets: &'a Secrets,
    /// How long and how large each answer may be.
    pub limits: Limits,
}

impl Call<'_> {
    /// An error of this auth.
    pub fn error(&self, message: impl Into<String>) -> AuthError {
        AuthError {
            auth: self.auth.to_string(),
            message: message.into(),
        }
    }

    /// Sends one request of the auth within its limits.
    pub async fn fetch(
        &self,
        client: &crate::execute::transfer::Client,
        request: reqwest::Request,
        shown: &str,
    ) -> Result<Fetched, AuthError> {
        transfer::fetch(client, request, self.limits)
            .await
            .map_err(|e| self.error(format!("{shown}: {e}")))
    }
}

/// A refresh grant. It leaves `scope` out, which means "as granted"
/// (RFC 6749, 6): asking again for a scope the server did not grant, such as
/// `offline_access`, makes servers refuse the refresh.
pub async fn refresh(
    client: &crate::execute::transfer::Client,
    call: Call<'_>,
    ep: &RenderedEndpoint,
    refresh_token: &Secret,
) -> Result<Json, AuthError> {
    let params = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        (
            "refresh_token".to_string(),
            refresh_token.expose().to_string(),
        ),
    ];
    let as_granted = RenderedEndpoint {
        scope: None,
        ..ep.clone()
    };
    token(client, call, &as_granted, params, ParamsIn::Body).await
}

/// The grant's parameters with the endpoint's own: scope, client
/// credentials in the body when it takes them, `extra`.
fn all_params(ep: &RenderedEndpoint, mut params: Vec<(String, String)>) -> Vec<(String, String)> {
    if let Some(scope) = &ep.scope {
        params.push(("scope".into(), scope.clone()));
    }
    let id = || ep.client_id.clone().map(|id| ("client_id".to_string(), id));
    match ep.client_auth {
        ClientAuth::Basic => {}
        ClientAuth::Body => {
            params.extend(id());
            params.extend(
                ep.client_secret
                    .as_ref()
                    .map(|s| ("client_secret".to_string(), s.expose().to_string())),
            );
        }
        ClientAuth::None => params.extend(id()),
    }
    params.extend(ep.extra.iter().cloned());
    params
}

/// POSTs a grant to the token endpoint and returns its JSON answer, or an
/// error quoting the server's `error` and `error_description`.
pub async fn token(
    client: &crate::execute::transfer::Client,
    call: Call<'_>,
    ep: &RenderedEndpoint,
    params: Vec<(String, String)>,
    params_in: ParamsIn,
) -> Result<Json, AuthError> {
    let params = all_params(ep, params);
    let url = reqwest::Url::parse(&ep.token_url)
        .map_err(|e| call.error(format!("`{}` is not a valid token URL: {e}", ep.token_url)))?;
    let mut request = client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(call.limits.timeout);
    match params_in {
        ParamsIn::Body => {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish();
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
        }
        ParamsIn::Query => request = request.query(&params),
    }
    if ep.client_auth == ClientAuth::Basic {
        let id = ep.client_id.clone().unwrap_or_default();
        let secret = ep.client_secret.as_ref().map(Secret::expose).unwrap_or("");
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| call.error("the client credentials cannot go in a header"))?;
        value.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    // The URL without its query: with `params_in: query` it holds the password.
    let shown = format!(
        "POST {}",
        ep.token_url.split('?').next().unwrap_or_default()
    );
    let request = request
        .build()
        .map_err(|e| call.error(format!("{shown}: cannot build the request: {e}")))?;
    let answer = call.fetch(client, request, &shown).await?;
    if !answer.status.is_success() {
        let content_type = answer
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        return Err(call.error(format!(
            "{shown} was answered {}: {}",
            answer.status,
            describe_error_body(&answer.body, content_type, call.secrets)
        )));
    }
    serde_json::from_slice(&answer.body)
        .map_err(|e| call.error(format!("{shown}: the token response is not JSON ({e})")))
}

/// An error body as users need it: OAuth2's `error: error_description`,
/// Cells' `Title: Detail`, REGARDS' `messages`, Nextome's `message`, or
/// the start of the text (an HTML page's own text); masked, then cut.
pub fn describe_error_body(body: &[u8], content_type: Option<&str>, secrets: &Secrets) -> String {
    let said = said_in_error_body(body);
    match said {
        Some(text) => secrets.excerpt(&text, 300),
        None if body.iter().all(u8::is_ascii_whitespace) => "(empty body)".into(),
        None => shown::body(secrets, body, content_type, 200),
    }
}

fn said_in_error_body(body: &[u8]) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<Json>(body) {
        let s = |k: &str| json.get(k).and_then(Json::as_str);
        if let Some(error) = s("error") {
            return Some(match s("error_description").filter(|d| !d.is_empty()) {
                Some(d) => format!("{error}: {d}"),
                None => error.to_string(),
            });
        }
        if let Some(title) = s("Title") {
            return Some(match s("Detail") {
                Some(d) => format!("{title}: {d}"),
                None => title.to_string(),
            });
        }
        if let Some(messages) = json.get("messages").and_then(Json::as_array) {
            return Some(
                messages
                    .iter()
                    .filter_map(Json::as_str)
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        if let Some(m) = s("message") {
            return Some(m.to_string());
        }
    }
    None
}
