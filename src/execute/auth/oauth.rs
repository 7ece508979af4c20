//! Calls to an OAuth2 token endpoint.

use base64::Engine as _;
use serde_json::Value as Json;

use super::AuthError;
use crate::load::{ClientAuth, ParamsIn};
use crate::secrets::{shown, Secret, Secrets};

/// A token endpoint with its templates rendered.
#[derive(Debug, Clone)]
pub struct RenderedEndpoint {
    pub token_url: String,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_auth: ClientAuth,
    pub scope: Option<String>,
    pub extra: Vec<(String, String)>,
}

/// A refresh grant. It leaves `scope` out, which means "as granted"
/// (RFC 6749, 6): asking again for a scope the server did not grant, such as
/// `offline_access`, makes servers refuse the refresh.
pub async fn refresh(
    client: &reqwest::Client,
    auth: &str,
    ep: &RenderedEndpoint,
    refresh_token: &Secret,
    secrets: &Secrets,
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
    token(client, auth, &as_granted, params, ParamsIn::Body, secrets).await
}

/// POSTs a grant to the token endpoint and returns its JSON answer, or an
/// error quoting the server's `error` and `error_description`.
pub async fn token(
    client: &reqwest::Client,
    auth: &str,
    ep: &RenderedEndpoint,
    mut params: Vec<(String, String)>,
    params_in: ParamsIn,
    secrets: &Secrets,
) -> Result<Json, AuthError> {
    let error = |message: String| AuthError {
        auth: auth.to_string(),
        message,
    };
    if let Some(scope) = &ep.scope {
        params.push(("scope".into(), scope.clone()));
    }
    match ep.client_auth {
        ClientAuth::Basic => {}
        ClientAuth::Body => {
            params.extend(ep.client_id.clone().map(|id| ("client_id".to_string(), id)));
            params.extend(
                ep.client_secret
                    .as_ref()
                    .map(|s| ("client_secret".to_string(), s.expose().to_string())),
            );
        }
        ClientAuth::None => {
            params.extend(ep.client_id.clone().map(|id| ("client_id".to_string(), id)))
        }
    }
    params.extend(ep.extra.iter().cloned());

    let mut url = reqwest::Url::parse(&ep.token_url)
        .map_err(|e| error(format!("`{}` is not a valid token URL: {e}", ep.token_url)))?;
    let body = match params_in {
        ParamsIn::Body => Some(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish(),
        ),
        ParamsIn::Query => {
            url.query_pairs_mut().extend_pairs(&params);
            None
        }
    };
    let mut request = client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(body) = body {
        request = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
    }
    if ep.client_auth == ClientAuth::Basic {
        let id = ep.client_id.clone().unwrap_or_default();
        let secret = ep.client_secret.as_ref().map(Secret::expose).unwrap_or("");
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| error("the client credentials cannot go in a header".into()))?;
        value.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    // The URL without its query: with `params_in: query` it holds the password.
    let shown = format!(
        "POST {}",
        ep.token_url.split('?').next().unwrap_or_default()
    );
    let response = request
        .timeout(super::super::DEFAULT_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            error(format!(
                "{shown}: {}",
                super::super::describe_reqwest_error(&e, super::super::DEFAULT_TIMEOUT)
            ))
        })?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response
        .bytes()
        .await
        .map_err(|e| error(format!("{shown}: {e}")))?;
    if !status.is_success() {
        return Err(error(format!(
            "{shown} was answered {status}: {}",
            describe_error_body(&body, content_type.as_deref(), secrets)
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| error(format!("{shown}: the token response is not JSON ({e})")))
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
