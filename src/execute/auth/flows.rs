//! Logging in afresh, one function per flow; each returns the token
//! response.

use serde_json::Value as Json;

use super::code::{self, CodeFlow};
use super::oauth;
use super::render::Rendered;
use super::AuthError;
use crate::execute::{self, Limits, Outgoing};
use crate::load::{AuthFlow, AuthSpec, CodeLogin, LoginStep, TokenRequest, PASSWORD_FIELD};

/// Logs in with `spec`'s flow; an interactive one only if `interactive`.
pub async fn login(
    spec: &AuthSpec,
    client: &crate::execute::transfer::Client,
    auth: &Rendered<'_>,
    interactive: bool,
) -> Result<Json, AuthError> {
    match &spec.flow {
        AuthFlow::Password {
            endpoint,
            username,
            password,
            params_in,
        } => {
            let password = auth.secret(password)?;
            let params = vec![
                ("grant_type".to_string(), "password".to_string()),
                ("username".to_string(), auth.text(username)?),
                ("password".to_string(), password.expose().to_string()),
            ];
            let ep = auth.endpoint(endpoint)?;
            oauth::token(client, auth.call(), &ep, params, *params_in).await
        }
        AuthFlow::ClientCredentials {
            endpoint,
            params_in,
        } => {
            let params = vec![("grant_type".to_string(), "client_credentials".to_string())];
            let ep = auth.endpoint(endpoint)?;
            oauth::token(client, auth.call(), &ep, params, *params_in).await
        }
        AuthFlow::RefreshToken {
            endpoint,
            refresh_token,
        } => {
            let ep = auth.endpoint(endpoint)?;
            oauth::refresh(client, auth.call(), &ep, &auth.secret(refresh_token)?).await
        }
        AuthFlow::AuthorizationCode { login, .. } => {
            let flow = code_flow(spec, auth)?;
            match login {
                CodeLogin::Headless(steps) => flow.headless(client, &steps_of(auth, steps)?).await,
                CodeLogin::Interactive if interactive => flow.interactive(client).await,
                CodeLogin::Interactive => Err(auth.error(format!(
                    "this auth logs in through a browser and no one is here to do it; run `reqtest login {} --auth {}` once (with `cache: true`) so that later runs use its refresh token",
                    spec.at.file, spec.name
                ))),
            }
        }
        AuthFlow::Request { request, .. } => custom(request, client, auth).await,
    }
}

fn code_flow<'a>(spec: &AuthSpec, auth: &'a Rendered<'_>) -> Result<CodeFlow<'a>, AuthError> {
    let AuthFlow::AuthorizationCode {
        endpoint,
        authorize_url,
        authorize_params,
        redirect_uri,
        pkce,
        login_origins,
        ..
    } = &spec.flow
    else {
        unreachable!("called for the authorization code flow only")
    };
    Ok(CodeFlow {
        call: auth.call(),
        endpoint: auth.endpoint(endpoint)?,
        authorize_url: auth.text(authorize_url)?,
        authorize_params: authorize_params
            .iter()
            .map(|(k, v)| Ok((k.clone(), auth.text(v)?)))
            .collect::<Result<_, AuthError>>()?,
        redirect_uri: auth.text(redirect_uri)?,
        pkce: *pkce,
        login_origins: login_origins
            .iter()
            .map(|o| auth.text(o))
            .collect::<Result<_, _>>()?,
        tls: auth.tls,
        proxy: auth.proxy,
    })
}

/// The login steps rendered; password fields are secrets.
fn steps_of(auth: &Rendered<'_>, steps: &[LoginStep]) -> Result<Vec<code::Step>, AuthError> {
    let mut rendered = Vec::with_capacity(steps.len());
    for step in steps {
        let mut fields = Vec::with_capacity(step.fields.len());
        for (k, v) in &step.fields {
            let secret = k == PASSWORD_FIELD
                || crate::secrets::is_secret_key(k)
                || k.to_ascii_lowercase().contains("pass");
            let value = if secret {
                code::Field::Secret(auth.secret(v)?)
            } else {
                code::Field::Plain(auth.text(v)?)
            };
            fields.push((k.clone(), value));
        }
        rendered.push((step.form.clone(), fields));
    }
    Ok(rendered)
}

/// A token request of the user's own: any request whose JSON answer holds
/// the token.
async fn custom(
    request: &TokenRequest,
    client: &crate::execute::transfer::Client,
    auth: &Rendered<'_>,
) -> Result<Json, AuthError> {
    let outgoing = Outgoing {
        method: &request.method,
        url: &request.url,
        base_url: None,
        query: request.query.iter().collect(),
        headers: request.headers.iter().collect(),
        body: request.body.as_ref(),
        limits: Limits {
            timeout: request.timeout.unwrap_or(auth.limits.timeout),
            ..auth.limits
        },
        collection_file: &request.at.file,
        // The token request goes out on the collection's client as it is.
        connection: execute::Connection {
            http_version: None,
            connect_timeout: None,
        },
    };
    let built = execute::build(client, auth.templates, &outgoing, &auth.ctx)
        .await
        .map_err(|e| auth.error(e.to_string()))?;
    let ex = execute::exchange(client, built, outgoing.limits, false)
        .await
        .map_err(|e| auth.error(e.to_string()))?;
    if !ex.status.is_success() {
        return Err(auth.error(format!(
            "{} {} was answered {}: {}",
            ex.method,
            ex.url,
            ex.status,
            oauth::describe_error_body(&ex.body, ex.content_type(), auth.secrets())
        )));
    }
    serde_json::from_slice(&ex.body)
        .map_err(|e| auth.error(format!("the token response of {} is not JSON: {e}", ex.url)))
}
