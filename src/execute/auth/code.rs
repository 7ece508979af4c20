//! The OAuth2 authorization code flow with PKCE (S256) and a random state:
//! headless (reqtest follows the redirects with its own cookie jar, fills
//! and submits the login forms, and stops at the redirect URI without
//! requesting it) or interactive (a person logs in in a browser and the
//! redirect comes back to a port reqtest listens on).

use base64::Engine as _;
use rand::distr::{Alphanumeric, SampleString};
use reqwest::Url;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::form::{self, Form};
use super::oauth::{self, RenderedEndpoint};
use super::AuthError;
use crate::load::{ParamsIn, PASSWORD_FIELD, USERNAME_FIELD};
use crate::secrets::{shown, Secret, Secrets};

/// How many redirects and forms a headless login may go through.
const MAX_HOPS: usize = 30;
/// Forms submitted as they are after the declared steps (consent screens).
const MAX_AUTO_SUBMITS: usize = 3;
const INTERACTIVE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

pub struct CodeFlow<'a> {
    pub auth: &'a str,
    pub secrets: &'a Secrets,
    pub endpoint: RenderedEndpoint,
    pub authorize_url: String,
    pub redirect_uri: String,
    pub pkce: bool,
}

struct Started {
    url: Url,
    state: String,
    verifier: String,
}

/// A login form field's value, rendered; a password is a [`Secret`].
#[derive(Debug, Clone)]
pub enum Field {
    Plain(String),
    Secret(Secret),
}

impl Field {
    fn expose(&self) -> &str {
        match self {
            Field::Plain(s) => s,
            Field::Secret(s) => s.expose(),
        }
    }
}

/// `(form filter, fields)` for each declared login step, rendered.
pub type Steps = [(Option<String>, Vec<(String, Field)>)];

impl CodeFlow<'_> {
    fn error(&self, message: impl Into<String>) -> AuthError {
        AuthError {
            auth: self.auth.to_string(),
            message: message.into(),
        }
    }

    fn start(&self) -> Result<Started, AuthError> {
        let state = Alphanumeric.sample_string(&mut rand::rng(), 24);
        let verifier = Alphanumeric.sample_string(&mut rand::rng(), 64);
        let mut url = Url::parse(&self.authorize_url).map_err(|e| {
            self.error(format!(
                "`{}` is not a valid authorize URL: {e}",
                self.authorize_url
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code");
            if let Some(id) = &self.endpoint.client_id {
                q.append_pair("client_id", id);
            }
            q.append_pair("redirect_uri", &self.redirect_uri);
            if let Some(scope) = &self.endpoint.scope {
                q.append_pair("scope", scope);
            }
            q.append_pair("state", &state);
            if self.pkce {
                let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                q.append_pair("code_challenge", &challenge);
                q.append_pair("code_challenge_method", "S256");
            }
        }
        Ok(Started {
            url,
            state,
            verifier,
        })
    }

    /// Whether `url` is the redirect URI (query and fragment aside).
    fn is_redirect_target(&self, url: &Url) -> bool {
        let Ok(target) = Url::parse(&self.redirect_uri) else {
            return false;
        };
        url.scheme() == target.scheme()
            && url.host_str() == target.host_str()
            && url.port_or_known_default() == target.port_or_known_default()
            && url.path() == target.path()
    }

    pub async fn headless(
        &self,
        token_client: &reqwest::Client,
        steps: &Steps,
    ) -> Result<Json, AuthError> {
        let started = self.start()?;
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("reqtest/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| self.error(format!("cannot create a client: {e}")))?;
        let mut next = browser.get(started.url.clone());
        let mut step = 0;
        let mut auto_submits = 0;
        let mut last_filled: Option<String> = None;
        for _ in 0..MAX_HOPS {
            let request = next
                .build()
                .map_err(|e| self.error(format!("cannot build a login request: {e}")))?;
            let (method, url) = (request.method().clone(), request.url().clone());
            let shown = format!("{method} {}", without_query(&url));
            let response = browser.execute(request).await.map_err(|e| {
                self.error(format!(
                    "{shown}: {}",
                    super::super::describe_reqwest_error(&e, super::super::DEFAULT_TIMEOUT)
                ))
            })?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| self.error(format!("{shown} redirected without a Location")))?;
                let target = url.join(location).map_err(|e| {
                    self.error(format!("{shown} redirected to an invalid URL: {e}"))
                })?;
                if self.is_redirect_target(&target) {
                    return self.finish(token_client, &target, &started).await;
                }
                next = browser.get(target);
                continue;
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(self.error(format!(
                    "{shown} was answered {status}: {}",
                    oauth::describe_error_body(
                        body.as_bytes(),
                        content_type.as_deref(),
                        self.secrets
                    )
                )));
            }
            let forms = form::forms(&body);
            let page = || shown::body(self.secrets, body.as_bytes(), Some("text/html"), 200);
            let Some(first) = forms.first() else {
                return Err(self.error(format!(
                    "the login stopped at {shown} ({status}) with neither a form nor a redirect; the page says: {}",
                    page()
                )));
            };
            let (form, values) = if let Some((filter, fields)) = steps.get(step) {
                step += 1;
                let form = match filter {
                    Some(f) => forms.iter().find(|x| x.action.contains(f.as_str())).ok_or_else(|| {
                        self.error(format!("login step {step}: no form at {shown} has an action containing `{f}`"))
                    })?,
                    None => first,
                };
                last_filled = Some(form.action.clone());
                (form, self.fill(form, fields, &shown)?)
            } else {
                if last_filled.as_deref() == Some(first.action.as_str()) {
                    return Err(self.error(format!(
                        "the login form came back after reqtest submitted it (wrong username or password?); the page says: {}",
                        page()
                    )));
                }
                auto_submits += 1;
                if auto_submits > MAX_AUTO_SUBMITS {
                    return Err(self.error(format!("the login did not reach the redirect URI after {MAX_AUTO_SUBMITS} more forms; last at {shown}")));
                }
                (
                    first,
                    first
                        .inputs
                        .iter()
                        .map(|i| (i.name.clone(), i.value.clone()))
                        .collect(),
                )
            };
            let action = if form.action.is_empty() {
                url.clone()
            } else {
                url.join(&form.action).map_err(|e| {
                    self.error(format!("a form at {shown} has an invalid action: {e}"))
                })?
            };
            next = if form.method == "post" {
                browser.post(action).form(&values)
            } else {
                let mut target = action;
                target.query_pairs_mut().extend_pairs(&values);
                browser.get(target)
            };
        }
        Err(self.error(format!(
            "the login did not reach the redirect URI in {MAX_HOPS} steps"
        )))
    }

    /// The form's own fields (hidden ones included) with the step's values
    /// filled in.
    fn fill(
        &self,
        form: &Form,
        fields: &[(String, Field)],
        shown: &str,
    ) -> Result<Vec<(String, String)>, AuthError> {
        let mut values: Vec<(String, String)> = form
            .inputs
            .iter()
            .map(|i| (i.name.clone(), i.value.clone()))
            .collect();
        for (key, value) in fields {
            let name = match key.as_str() {
                USERNAME_FIELD => username_field(form)
                    .ok_or_else(|| self.error(format!("the login form at {shown} has no user name field; name it in `login` steps")))?,
                PASSWORD_FIELD => form
                    .inputs
                    .iter()
                    .find(|i| i.kind == "password")
                    .map(|i| i.name.clone())
                    .ok_or_else(|| self.error(format!("the login form at {shown} has no password field; name it in `login` steps")))?,
                other => other.to_string(),
            };
            let value = value.expose().to_string();
            match values.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => values.push((name, value)),
            }
        }
        Ok(values)
    }

    pub async fn interactive(&self, token_client: &reqwest::Client) -> Result<Json, AuthError> {
        let started = self.start()?;
        let target = Url::parse(&self.redirect_uri).map_err(|e| {
            self.error(format!(
                "`{}` is not a valid redirect URI: {e}",
                self.redirect_uri
            ))
        })?;
        let host = match target.host_str() {
            Some("localhost") | None => "127.0.0.1",
            Some(h) => h,
        };
        let port = target.port_or_known_default().unwrap_or(80);
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .map_err(|e| {
                self.error(format!(
                    "cannot listen on {host}:{port} for the redirect: {e}"
                ))
            })?;
        eprintln!(
            "auth `{}`: open this address to log in:\n\n  {}\n\nwaiting for the redirect to {} ...",
            self.auth, started.url, self.redirect_uri
        );
        open_browser(started.url.as_str());
        let callback =
            tokio::time::timeout(INTERACTIVE_WAIT, self.await_redirect(&listener, &target))
                .await
                .map_err(|_| {
                    self.error(format!(
                        "no login came back within {} s",
                        INTERACTIVE_WAIT.as_secs()
                    ))
                })??;
        self.finish(token_client, &callback, &started).await
    }

    /// Serves the redirect URI until a request with `code` or `error` comes.
    async fn await_redirect(
        &self,
        listener: &tokio::net::TcpListener,
        target: &Url,
    ) -> Result<Url, AuthError> {
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| self.error(format!("accepting the redirect: {e}")))?;
            let mut buf = vec![0u8; 16 * 1024];
            let mut len = 0;
            while len < buf.len() {
                match stream.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let Ok(url) = target.join(path) else { continue };
            let done = url.path() == target.path()
                && url.query_pairs().any(|(k, _)| k == "code" || k == "error");
            let (status, text) = if done {
                (
                    "200 OK",
                    "Logged in. You can close this tab and go back to reqtest.",
                )
            } else {
                ("404 Not Found", "Not the redirect reqtest waits for.")
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            if done {
                return Ok(url);
            }
        }
    }

    /// Checks the redirect (error, state) and trades its code for tokens.
    async fn finish(
        &self,
        token_client: &reqwest::Client,
        callback: &Url,
        started: &Started,
    ) -> Result<Json, AuthError> {
        let get = |k: &str| {
            callback
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = get("error") {
            let description = get("error_description")
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Err(self.error(format!(
                "the authorization server answered {error}{description}"
            )));
        }
        match get("state") {
            Some(state) if state == started.state => {}
            Some(_) => return Err(self.error("the redirect came back with another `state` than the one sent: rejected (a forged or mixed-up login)")),
            None => return Err(self.error("the redirect came back without the `state` that was sent: rejected")),
        }
        let code =
            get("code").ok_or_else(|| self.error("the redirect came back without a `code`"))?;
        let mut params = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code),
            ("redirect_uri".to_string(), self.redirect_uri.clone()),
        ];
        if self.pkce {
            params.push(("code_verifier".to_string(), started.verifier.clone()));
        }
        oauth::token(
            token_client,
            self.auth,
            &self.endpoint,
            params,
            ParamsIn::Body,
            self.secrets,
        )
        .await
    }
}

fn username_field(form: &Form) -> Option<String> {
    let visible: Vec<_> = form
        .inputs
        .iter()
        .filter(|i| matches!(i.kind.as_str(), "text" | "email"))
        .collect();
    let named = visible.iter().find(|i| {
        let n = i.name.to_ascii_lowercase();
        ["user", "login", "email", "name"]
            .iter()
            .any(|w| n.contains(w))
    });
    named.or(visible.first()).map(|i| i.name.clone())
}

fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// Opens the address in a browser where one can be opened; never fails.
fn open_browser(url: &str) {
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let program = std::env::var("BROWSER")
        .ok()
        .or_else(|| has_display.then(|| "xdg-open".to_string()));
    if let Some(program) = program {
        let _ = std::process::Command::new(program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}
