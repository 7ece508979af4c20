//! `auth` and `auths` blocks → [`AuthSpec`]: which keys each flow takes,
//! which it needs, and their defaults.

use super::convert::{body, expected_one_of, method, Cx, RawBodies, P};
use super::model::*;
use super::raw::{RawAuth, RawLoginStep};
use super::LoadError;

type Result<T> = std::result::Result<T, LoadError>;

const FLOWS: &[&str] = &[
    "password",
    "client_credentials",
    "authorization_code",
    "refresh_token",
    "request",
];
const COMMON: &[&str] = &[
    "type",
    "timeout",
    "token",
    "lifetime",
    "header",
    "prefix",
    "query_param",
    "cache",
];
const ENDPOINT: &[&str] = &[
    "token_url",
    "client_id",
    "client_secret",
    "client_auth",
    "scope",
    "extra",
];

fn flow_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "password" => &["username", "password", "params_in"],
        "client_credentials" => &["params_in"],
        "authorization_code" => &[
            "authorize_url",
            "authorize_params",
            "login_origins",
            "redirect_uri",
            "pkce",
            "interactive",
            "login",
            "username",
            "password",
        ],
        "refresh_token" => &["refresh_token"],
        "request" => &["request", "expires_in", "expires_at"],
        _ => &[],
    }
}

/// The keys the user wrote, for checking them against a flow's list.
fn keys_set(r: &RawAuth) -> Vec<&'static str> {
    let mut set = vec!["type"];
    let flags: [(&'static str, bool); 27] = [
        ("timeout", r.timeout.is_some()),
        ("authorize_params", !r.authorize_params.is_empty()),
        ("login_origins", r.login_origins.is_some()),
        ("token_url", r.token_url.is_some()),
        ("authorize_url", r.authorize_url.is_some()),
        ("redirect_uri", r.redirect_uri.is_some()),
        ("client_id", r.client_id.is_some()),
        ("client_secret", r.client_secret.is_some()),
        ("client_auth", r.client_auth.is_some()),
        ("username", r.username.is_some()),
        ("password", r.password.is_some()),
        ("scope", r.scope.is_some()),
        ("params_in", r.params_in.is_some()),
        ("extra", !r.extra.is_empty()),
        ("refresh_token", r.refresh_token.is_some()),
        ("pkce", r.pkce.is_some()),
        ("interactive", r.interactive.is_some()),
        ("login", r.login.is_some()),
        ("request", r.request.is_some()),
        ("token", r.token.is_some()),
        ("expires_in", r.expires_in.is_some()),
        ("expires_at", r.expires_at.is_some()),
        ("lifetime", r.lifetime.is_some()),
        ("header", r.header.is_some()),
        ("prefix", r.prefix.is_some()),
        ("query_param", r.query_param.is_some()),
        ("cache", r.cache.is_some()),
    ];
    set.extend(flags.iter().filter(|(_, on)| *on).map(|(k, _)| *k));
    set
}

pub fn spec(cx: &Cx, p: &P, name: &str, r: RawAuth) -> Result<AuthSpec> {
    let kind = r.kind.as_str();
    if !FLOWS.contains(&kind) {
        return Err(cx.err(
            &p.k("type"),
            format!(
                "unknown auth type `{kind}`; expected one of {}",
                expected_one_of(FLOWS)
            ),
        ));
    }
    let allowed: Vec<&str> = COMMON
        .iter()
        .chain(if kind == "request" { &[][..] } else { ENDPOINT })
        .chain(flow_keys(kind))
        .copied()
        .collect();
    for key in keys_set(&r) {
        if !allowed.contains(&key) {
            return Err(cx.err(
                &p.k(key),
                format!(
                    "an auth of type `{kind}` does not take `{key}`; it takes {}",
                    expected_one_of(&allowed)
                ),
            ));
        }
    }
    let need = |value: &Option<String>, key: &str| -> Result<Text> {
        match value {
            Some(v) => Ok(cx.text(&p.k(key), v)),
            None => Err(cx.err(p, format!("an auth of type `{kind}` needs `{key}`"))),
        }
    };
    let opt = |value: &Option<String>, key: &str| value.as_deref().map(|v| cx.text(&p.k(key), v));

    let endpoint = || -> Result<TokenEndpoint> {
        let client_auth = match r.client_auth.as_deref() {
            Some("basic") => ClientAuth::Basic,
            Some("body") => ClientAuth::Body,
            Some("none") => ClientAuth::None,
            None if r.client_secret.is_some() => ClientAuth::Basic,
            None => ClientAuth::None,
            Some(other) => {
                return Err(cx.err(
                    &p.k("client_auth"),
                    format!("`client_auth` is basic, body or none, not `{other}`"),
                ))
            }
        };
        if client_auth != ClientAuth::None && r.client_secret.is_none() {
            return Err(cx.err(p, "`client_auth: basic` or `body` needs `client_secret`"));
        }
        Ok(TokenEndpoint {
            token_url: need(&r.token_url, "token_url")?,
            client_id: opt(&r.client_id, "client_id"),
            client_secret: opt(&r.client_secret, "client_secret"),
            client_auth,
            scope: opt(&r.scope, "scope"),
            extra: cx.pairs(&p.k("extra"), &r.extra)?,
        })
    };
    let params_in = || match r.params_in.as_deref() {
        None | Some("body") => Ok(ParamsIn::Body),
        Some("query") => Ok(ParamsIn::Query),
        Some(other) => Err(cx.err(
            &p.k("params_in"),
            format!("`params_in` is body or query, not `{other}`"),
        )),
    };

    let flow = match kind {
        "password" => AuthFlow::Password {
            endpoint: endpoint()?,
            username: need(&r.username, "username")?,
            password: need(&r.password, "password")?,
            params_in: params_in()?,
        },
        "client_credentials" => {
            if r.client_id.is_none() {
                return Err(cx.err(p, "an auth of type `client_credentials` needs `client_id`"));
            }
            AuthFlow::ClientCredentials {
                endpoint: endpoint()?,
                params_in: params_in()?,
            }
        }
        "authorization_code" => {
            if r.client_id.is_none() {
                return Err(cx.err(p, "an auth of type `authorization_code` needs `client_id`"));
            }
            let login = if r.interactive == Some(true) {
                if r.login.is_some() {
                    return Err(cx.err(
                        &p.k("login"),
                        "`login` steps are for headless logins; drop them or `interactive`",
                    ));
                }
                CodeLogin::Interactive
            } else {
                CodeLogin::Headless(login_steps(cx, p, &r)?)
            };
            AuthFlow::AuthorizationCode {
                endpoint: endpoint()?,
                authorize_url: need(&r.authorize_url, "authorize_url")?,
                authorize_params: cx.pairs(&p.k("authorize_params"), &r.authorize_params)?,
                redirect_uri: need(&r.redirect_uri, "redirect_uri")?,
                pkce: r.pkce.unwrap_or(true),
                login,
                login_origins: r
                    .login_origins
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, o)| cx.text(&p.k("login_origins").i(i), o))
                    .collect(),
            }
        }
        "refresh_token" => AuthFlow::RefreshToken {
            endpoint: endpoint()?,
            refresh_token: need(&r.refresh_token, "refresh_token")?,
        },
        "request" => {
            let Some(req) = r.request else {
                return Err(cx.err(
                    p,
                    "an auth of type `request` needs `request` (method, url, body)",
                ));
            };
            if r.token.as_deref().is_none_or(|t| !t.starts_with('$')) {
                return Err(cx.err(
                    p,
                    "an auth of type `request` needs `token: $.path`, the JSONPath of the token in its response",
                ));
            }
            let rp = p.k("request");
            let expires = |key: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|src| cx.jsonpath(&p.k(key), src))
                    .transpose()
            };
            AuthFlow::Request {
                request: TokenRequest {
                    at: cx.pos(&rp),
                    method: method(cx, &rp, req.method.as_deref())?,
                    url: cx.text(&rp.k("url"), &req.url),
                    query: cx.pairs(&rp.k("query"), &req.query)?,
                    headers: cx.pairs(&rp.k("headers"), &req.headers)?,
                    body: body(
                        cx,
                        &rp,
                        RawBodies {
                            json: req.json,
                            form: req.form.as_ref(),
                            multipart: None,
                            raw: req.body.as_deref(),
                        },
                    )?,
                    timeout: req
                        .timeout
                        .as_ref()
                        .map(|t| cx.duration(&rp.k("timeout"), t))
                        .transpose()?,
                },
                expires_in: expires("expires_in", &r.expires_in)?,
                expires_at: expires("expires_at", &r.expires_at)?,
            }
        }
        _ => unreachable!("checked against FLOWS"),
    };

    let token = match r.token.as_deref() {
        None | Some("access_token") => TokenField::AccessToken,
        Some("id_token") => TokenField::IdToken,
        Some(path) if path.starts_with('$') => TokenField::Path(cx.jsonpath(&p.k("token"), path)?),
        Some(other) => {
            return Err(cx.err(
                &p.k("token"),
                format!("`token` is access_token, id_token or a JSONPath such as $.Token.AccessToken, not `{other}`"),
            ))
        }
    };
    let send = match (&r.query_param, &r.header) {
        (Some(_), Some(_)) => {
            return Err(cx.err(
                &p.k("query_param"),
                "a token goes in a header or a query parameter, not both",
            ))
        }
        (Some(q), None) => {
            if r.prefix.is_some() {
                return Err(cx.err(&p.k("prefix"), "`prefix` goes with a header"));
            }
            SendToken::Query { name: q.clone() }
        }
        (None, header) => SendToken::Header {
            name: header.clone().unwrap_or_else(|| "Authorization".into()),
            prefix: r.prefix.clone().unwrap_or_else(|| "Bearer ".into()),
        },
    };
    Ok(AuthSpec {
        name: name.to_string(),
        at: cx.pos(p),
        flow,
        token,
        send,
        lifetime: r
            .lifetime
            .as_ref()
            .map(|l| cx.duration_within(&p.k("lifetime"), l, super::convert::MAX_LIFETIME))
            .transpose()?,
        cache: r.cache.unwrap_or(false),
        timeout: r
            .timeout
            .as_ref()
            .map(|t| cx.duration(&p.k("timeout"), t))
            .transpose()?,
    })
}

/// Declared steps, or by default one step that fills the username and
/// password fields of the first form, found by their names and types.
fn login_steps(cx: &Cx, p: &P, r: &RawAuth) -> Result<Vec<LoginStep>> {
    if let Some(steps) = &r.login {
        return steps
            .iter()
            .enumerate()
            .map(|(i, RawLoginStep { form, fields })| {
                Ok(LoginStep {
                    form: form.clone(),
                    fields: cx.pairs(&p.k("login").i(i).k("fields"), fields)?,
                })
            })
            .collect();
    }
    match (&r.username, &r.password) {
        (Some(user), Some(password)) => Ok(vec![LoginStep {
            form: None,
            fields: vec![
                (USERNAME_FIELD.into(), cx.text(&p.k("username"), user)),
                (PASSWORD_FIELD.into(), cx.text(&p.k("password"), password)),
            ],
        }]),
        _ => Err(cx.err(
            p,
            "a headless `authorization_code` login needs `username` and `password`, or `login` steps, or `interactive: true`",
        )),
    }
}

/// Stand-ins for "the form's user name field" and "its password field" in
/// default login steps.
pub const USERNAME_FIELD: &str = "$username";
pub const PASSWORD_FIELD: &str = "$password";
