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

use super::form::{self, Form};
use super::oauth::{self, Call, RenderedEndpoint};
use super::AuthError;
use crate::execute::transfer::Fetched;
use crate::load::{ParamsIn, PASSWORD_FIELD, USERNAME_FIELD};
use crate::resolve::Tls;
use crate::secrets::{shown, Secret};

/// How many redirects and forms a headless login may go through.
const MAX_HOPS: usize = 30;
/// Forms submitted as they are after the declared steps (consent screens).
const MAX_AUTO_SUBMITS: usize = 3;
const INTERACTIVE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// One authorization code login, its templates rendered.
pub struct CodeFlow<'a> {
    pub call: Call<'a>,
    /// The token endpoint the code is traded at.
    pub endpoint: RenderedEndpoint,
    pub authorize_url: String,
    /// Parameters added to the authorize URL's query.
    pub authorize_params: Vec<(String, String)>,
    pub redirect_uri: String,
    /// Whether to send a PKCE challenge (S256).
    pub pkce: bool,
    /// Origins besides the authorize URL's that may see the credentials.
    pub login_origins: Vec<String>,
    /// The collection's TLS settings, for the login pages too.
    pub tls: &'a Tls,
    /// The collection's proxy, for the login pages too.
    pub proxy: &'a crate::resolve::Proxy,
}

/// Where a headless login stands between two pages.
#[derive(Default)]
struct Walk {
    step: usize,
    auto_submits: usize,
    last_filled: Option<String>,
}

/// The form to submit next, its values, and whether they hold the user's
/// credentials (a declared or default login step).
struct Submit<'f> {
    form: &'f Form,
    values: Vec<(String, String)>,
    credentials: bool,
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

/// A declared login step, rendered: `(form filter, fields)`.
pub type Step = (Option<String>, Vec<(String, Field)>);

/// Every declared login step, rendered.
pub type Steps = [Step];

impl CodeFlow<'_> {
    fn error(&self, message: impl Into<String>) -> AuthError {
        self.call.error(message)
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
            q.extend_pairs(&self.authorize_params);
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

    /// Logs in without a person: follows the redirects and fills the forms,
    /// then trades the code for tokens.
    pub async fn headless(
        &self,
        token_client: &crate::execute::transfer::Client,
        steps: &Steps,
    ) -> Result<Json, AuthError> {
        let started = self.start()?;
        let allowed = self.allowed_origins(&started.url)?;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("reqtest/", env!("CARGO_PKG_VERSION")));
        let browser = crate::execute::tls::configure(browser, self.tls, None)
            .and_then(|b| crate::execute::proxy::configure(b, self.proxy, self.call.secrets))
            .map_err(|e| self.error(e))?
            .build()
            .map_err(|e| self.error(format!("cannot create a client: {e}")))?;
        // The browser's own cookies, apart from the collection's.
        let browser = crate::execute::transfer::Client::new(browser, Default::default());
        let mut next = browser.get(started.url.clone());
        let mut walk = Walk::default();
        for _ in 0..MAX_HOPS {
            let request = next
                .timeout(self.call.limits.timeout)
                .build()
                .map_err(|e| self.error(format!("cannot build a login request: {e}")))?;
            let url = request.url().clone();
            let shown = format!("{} {}", request.method(), without_query(&url));
            let page = self.call.fetch(&browser, request, &shown).await?;
            if page.status.is_redirection() {
                let target = self.location(&page, &url, &shown)?;
                if self.is_redirect_target(&target) {
                    return self.finish(token_client, &target, &started).await;
                }
                next = browser.get(target);
                continue;
            }
            let body = String::from_utf8_lossy(&page.body);
            let forms = form::forms(&body);
            let submit = self.choose(&page, &forms, steps, &mut walk, &shown)?;
            let action = if submit.form.action.is_empty() {
                url.clone()
            } else {
                url.join(&submit.form.action).map_err(|e| {
                    self.error(format!("a form at {shown} has an invalid action: {e}"))
                })?
            };
            if submit.credentials {
                check_origin(&allowed, &url, &action).map_err(|m| self.error(m))?;
            }
            next = if submit.form.method == "post" {
                browser.post(action).form(&submit.values)
            } else {
                let mut target = action;
                target.query_pairs_mut().extend_pairs(&submit.values);
                browser.get(target)
            };
        }
        Err(self.error(format!(
            "the login did not reach the redirect URI in {MAX_HOPS} steps"
        )))
    }

    /// The authorize URL's origin and those the auth lists in
    /// `login_origins`: the only places credentials are sent to.
    fn allowed_origins(&self, authorize: &Url) -> Result<Vec<url::Origin>, AuthError> {
        let mut allowed = vec![authorize.origin()];
        for o in &self.login_origins {
            let url = Url::parse(o).map_err(|e| {
                self.error(format!(
                    "`{o}` in `login_origins` is not a URL such as https://login.example.com: {e}"
                ))
            })?;
            allowed.push(url.origin());
        }
        Ok(allowed)
    }

    fn location(&self, page: &Fetched, url: &Url, shown: &str) -> Result<Url, AuthError> {
        let location = page
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.error(format!("{shown} redirected without a Location")))?;
        url.join(location)
            .map_err(|e| self.error(format!("{shown} redirected to an invalid URL: {e}")))
    }

    /// The form of this page to submit next: the next declared step's (its
    /// fields filled in), else the page's first form as it is (a consent
    /// screen), unless it is the login form coming back.
    fn choose<'f>(
        &self,
        page: &Fetched,
        forms: &'f [Form],
        steps: &Steps,
        walk: &mut Walk,
        shown: &str,
    ) -> Result<Submit<'f>, AuthError> {
        let content_type = page
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let says = || shown::body(self.call.secrets, &page.body, Some("text/html"), 200);
        if !page.status.is_success() {
            return Err(self.error(format!(
                "{shown} was answered {}: {}",
                page.status,
                oauth::describe_error_body(&page.body, content_type, self.call.secrets)
            )));
        }
        let Some(first) = forms.first() else {
            return Err(self.error(format!(
                "the login stopped at {shown} ({}) with neither a form nor a redirect; the page says: {}",
                page.status,
                says()
            )));
        };
        if let Some((filter, fields)) = steps.get(walk.step) {
            walk.step += 1;
            let form = match filter {
                Some(f) => forms
                    .iter()
                    .find(|x| x.action.contains(f.as_str()))
                    .ok_or_else(|| {
                        self.error(format!(
                            "login step {}: no form at {shown} has an action containing `{f}`",
                            walk.step
                        ))
                    })?,
                None => first,
            };
            walk.last_filled = Some(form.action.clone());
            let values = self.fill(form, fields, shown)?;
            return Ok(Submit {
                form,
                values,
                credentials: !fields.is_empty(),
            });
        }
        if walk.last_filled.as_deref() == Some(first.action.as_str()) {
            return Err(self.error(format!(
                "the login form came back after reqtest submitted it (wrong username or password?); the page says: {}",
                says()
            )));
        }
        walk.auto_submits += 1;
        if walk.auto_submits > MAX_AUTO_SUBMITS {
            return Err(self.error(format!("the login did not reach the redirect URI after {MAX_AUTO_SUBMITS} more forms; last at {shown}")));
        }
        let values = first
            .inputs
            .iter()
            .map(|i| (i.name.clone(), i.value.clone()))
            .collect();
        Ok(Submit {
            form: first,
            values,
            credentials: false,
        })
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

    /// Logs in through a person's browser, waits for the redirect, then
    /// trades the code for tokens.
    pub async fn interactive(
        &self,
        token_client: &crate::execute::transfer::Client,
    ) -> Result<Json, AuthError> {
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
            self.call.auth, started.url, self.redirect_uri
        );
        open_browser(started.url.as_str());
        let callback =
            tokio::time::timeout(INTERACTIVE_WAIT, self.await_redirect(listener, &target))
                .await
                .map_err(|_| {
                    self.error(format!(
                        "no login came back within {} s",
                        INTERACTIVE_WAIT.as_secs()
                    ))
                })??;
        self.finish(token_client, &callback, &started).await
    }

    /// Serves the redirect URI until a request with `code` or `error`
    /// comes, answering anything else 404.
    async fn await_redirect(
        &self,
        listener: tokio::net::TcpListener,
        target: &Url,
    ) -> Result<Url, AuthError> {
        let (sender, mut came) = tokio::sync::mpsc::channel::<Url>(1);
        let target = target.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (sender, target) = (sender.clone(), target.clone());
            async move { redirect_reply(&target, &uri, &sender) }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let url = came.recv().await;
        let _ = stop.send(());
        let _ = server.await;
        url.ok_or_else(|| self.error("the redirect listener stopped before a login came back"))
    }

    /// Checks the redirect (error, state) and trades its code for tokens.
    async fn finish(
        &self,
        token_client: &crate::execute::transfer::Client,
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
            self.call,
            &self.endpoint,
            params,
            ParamsIn::Body,
        )
        .await
    }
}

/// Credentials go only to an allowed origin: the page that asks for them
/// and the address its form posts to must both be one.
fn check_origin(allowed: &[url::Origin], page: &Url, action: &Url) -> Result<(), String> {
    let listed = |o: &url::Origin| allowed.contains(o);
    let wrong = if !listed(&page.origin()) {
        Some(("is served from", page))
    } else if !listed(&action.origin()) {
        Some(("posts to", action))
    } else {
        None
    };
    match wrong {
        None => Ok(()),
        Some((how, url)) => Err(format!(
            "the login form at {} {how} {}, which is not the authorize URL's origin ({}); reqtest sends the user name and password nowhere else (list the origin under `login_origins` if it is right)",
            without_query(page),
            url.origin().ascii_serialization(),
            allowed[0].ascii_serialization()
        )),
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

/// The answer to a request on the redirect URI; the one that brings the
/// login back (`code` or `error` on the redirect path) is handed on.
fn redirect_reply(
    target: &Url,
    uri: &axum::http::Uri,
    sender: &tokio::sync::mpsc::Sender<Url>,
) -> (axum::http::StatusCode, &'static str) {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = target.join(path).ok().filter(|url| {
        url.path() == target.path() && url.query_pairs().any(|(k, _)| k == "code" || k == "error")
    });
    match url.map(|url| sender.try_send(url).is_ok()) {
        Some(true) => (
            axum::http::StatusCode::OK,
            "Logged in. You can close this tab and go back to reqtest.",
        ),
        _ => (
            axum::http::StatusCode::NOT_FOUND,
            "Not the redirect reqtest waits for.",
        ),
    }
}

/// Opens the address in the user's browser (`$BROWSER` first, as on every
/// platform webbrowser supports); never fails, since the address is also
/// printed. Without a display on Linux and the BSDs only `$BROWSER` is
/// tried, so that a text browser never takes over the terminal.
fn open_browser(url: &str) {
    let headless = cfg!(all(unix, not(target_os = "macos")))
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
        && std::env::var_os("BROWSER").is_none();
    if headless {
        return;
    }
    let url = url.to_string();
    // A text browser would block until it quits: off the async threads.
    tokio::task::spawn_blocking(move || {
        let _ = webbrowser::open(&url);
    });
}
