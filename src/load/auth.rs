//! `auth` and `auths` blocks → [`AuthSpec`]. Which keys each flow takes and
//! needs is in the types of `raw_auth`; here, what is checked beyond them
//! and the defaults.

use serde_json::Value as Json;

use super::convert::{body, method, Converter, Mistake, RawBodies, YamlPath};
use super::model::*;
use super::raw::RawLoginStep;
use super::raw_auth::*;
use super::LoadError;

type Result<T> = std::result::Result<T, LoadError>;

/// An auth block (as written) → its spec, named `name`.
pub fn spec(cx: &Converter, p: &YamlPath, name: &str, block: &Json) -> Result<AuthSpec> {
    let raw: RawAuth = cx
        .read_typed(p, block)
        .map_err(|m| explain(cx, p, block, &m))?;
    let common = raw.common();
    let flow = match &raw {
        RawAuth::Password(f) => AuthFlow::Password {
            endpoint: endpoint(cx, p, f.endpoint())?,
            username: cx.text(&p.field("username"), &f.username),
            password: cx.text(&p.field("password"), &f.password),
            params_in: params_in(f.params_in),
        },
        RawAuth::ClientCredentials(f) => AuthFlow::ClientCredentials {
            endpoint: endpoint(cx, p, f.endpoint())?,
            params_in: params_in(f.params_in),
        },
        RawAuth::AuthorizationCode(f) => code_flow(cx, p, f)?,
        RawAuth::RefreshToken(f) => AuthFlow::RefreshToken {
            endpoint: endpoint(cx, p, f.endpoint())?,
            refresh_token: cx.text(&p.field("refresh_token"), &f.refresh_token),
        },
        RawAuth::Request(f) => request_flow(cx, p, f)?,
    };
    Ok(AuthSpec {
        name: name.to_string(),
        at: cx.pos(p),
        token: token_field(cx, p, &raw, common.token)?,
        send: send(cx, p, &common)?,
        flow,
        lifetime: common
            .lifetime
            .map(|l| cx.duration_within(&p.field("lifetime"), l, super::convert::MAX_LIFETIME))
            .transpose()?,
        cache: common.cache.unwrap_or(false),
        timeout: common
            .timeout
            .map(|t| cx.duration(&p.field("timeout"), t))
            .transpose()?,
        tls: common
            .tls
            .map(|t| super::convert::tls(cx, &p.field("tls"), t))
            .transpose()?,
    })
}

/// serde's word on an auth block, in the words of the format: which flow
/// takes which keys.
fn explain(cx: &Converter, p: &YamlPath, block: &Json, m: &Mistake) -> LoadError {
    let kind = block.get("type").and_then(Json::as_str).unwrap_or("?");
    if let Some((wrong, expected)) = &m.variant {
        let expected = expected.trim_start_matches("expected ");
        return cx.err(
            &p.field("type"),
            format!("unknown auth type `{wrong}`; expected {expected}"),
        );
    }
    if block.get("type").is_none() {
        return cx.err(p, "an auth needs `type`: password, client_credentials, authorization_code, refresh_token or request");
    }
    if let Some((key, expected)) = &m.unknown {
        let takes = expected
            .trim_start_matches("expected one of ")
            .trim_start_matches("expected ");
        return cx.err(
            &m.at.key(key),
            format!("an auth of type `{kind}` does not take `{key}`; it takes `type`, {takes}"),
        );
    }
    if let Some(key) = &m.missing {
        return cx.err(&m.at, format!("an auth of type `{kind}` needs `{key}`"));
    }
    let field = m
        .field
        .as_ref()
        .map(|f| format!("`{f}`: "))
        .unwrap_or_default();
    cx.err(&m.at, format!("{field}{}", m.message))
}

fn params_in(raw: Option<RawParamsIn>) -> ParamsIn {
    match raw {
        None | Some(RawParamsIn::Body) => ParamsIn::Body,
        Some(RawParamsIn::Query) => ParamsIn::Query,
    }
}

fn endpoint(cx: &Converter, p: &YamlPath, ep: Endpoint) -> Result<TokenEndpoint> {
    let client_auth = match (ep.client_auth, ep.client_secret) {
        (Some(RawClientAuth::Basic), _) => ClientAuth::Basic,
        (Some(RawClientAuth::Body), _) => ClientAuth::Body,
        (Some(RawClientAuth::None), _) => ClientAuth::None,
        (None, Some(_)) => ClientAuth::Basic,
        (None, None) => ClientAuth::None,
    };
    if client_auth != ClientAuth::None && ep.client_secret.is_none() {
        return Err(cx.err(p, "`client_auth: basic` or `body` needs `client_secret`"));
    }
    let opt = |key: &str, v: Option<&str>| v.map(|v| cx.text(&p.key(key), v));
    Ok(TokenEndpoint {
        token_url: cx.text(&p.field("token_url"), ep.token_url),
        client_id: opt("client_id", ep.client_id),
        client_secret: opt("client_secret", ep.client_secret),
        client_auth,
        scope: opt("scope", ep.scope),
        extra: cx.pairs(&p.field("extra"), ep.extra)?,
    })
}

fn code_flow(cx: &Converter, p: &YamlPath, f: &RawCodeAuth) -> Result<AuthFlow> {
    let login = if f.interactive == Some(true) {
        if f.login.is_some() {
            return Err(cx.err(
                &p.field("login"),
                "`login` steps are for headless logins; drop them or `interactive`",
            ));
        }
        CodeLogin::Interactive
    } else {
        CodeLogin::Headless(login_steps(cx, p, f)?)
    };
    Ok(AuthFlow::AuthorizationCode {
        endpoint: endpoint(cx, p, f.endpoint())?,
        authorize_url: cx.text(&p.field("authorize_url"), &f.authorize_url),
        authorize_params: cx.pairs(&p.field("authorize_params"), &f.authorize_params)?,
        redirect_uri: cx.text(&p.field("redirect_uri"), &f.redirect_uri),
        pkce: f.pkce.unwrap_or(true),
        login,
        login_origins: f
            .login_origins
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, o)| cx.text(&p.field("login_origins").index(i), o))
            .collect(),
    })
}

fn request_flow(cx: &Converter, p: &YamlPath, f: &RawRequestAuth) -> Result<AuthFlow> {
    if f.token.as_deref().is_none_or(|t| !t.starts_with('$')) {
        return Err(cx.err(
            p,
            "an auth of type `request` needs `token: $.path`, the JSONPath of the token in its response",
        ));
    }
    let rp = p.field("request");
    let req = &f.request;
    let expires = |key: &str, v: &Option<String>| {
        v.as_deref()
            .map(|src| cx.jsonpath(&p.key(key), src))
            .transpose()
    };
    let bodies = RawBodies {
        json: req.json.clone(),
        form: req.form.as_ref(),
        multipart: None,
        raw: req.body.as_deref(),
    };
    Ok(AuthFlow::Request {
        request: TokenRequest {
            at: cx.pos(&rp),
            method: method(cx, &rp, req.method.as_deref())?,
            url: cx.text(&rp.field("url"), &req.url),
            query: cx.pairs(&rp.field("query"), &req.query)?.into(),
            headers: cx.pairs(&rp.field("headers"), &req.headers)?.into(),
            body: body(cx, &rp, bodies)?,
            timeout: req
                .timeout
                .as_ref()
                .map(|t| cx.duration(&rp.field("timeout"), t))
                .transpose()?,
        },
        expires_in: expires("expires_in", &f.expires_in)?,
        expires_at: expires("expires_at", &f.expires_at)?,
    })
}

fn token_field(
    cx: &Converter,
    p: &YamlPath,
    raw: &RawAuth,
    token: Option<&str>,
) -> Result<TokenField> {
    Ok(match token {
        _ if matches!(raw, RawAuth::Request(_)) => {
            TokenField::Path(cx.jsonpath(&p.field("token"), token.unwrap_or("$"))?)
        }
        None | Some("access_token") => TokenField::AccessToken,
        Some("id_token") => TokenField::IdToken,
        Some(path) if path.starts_with('$') => TokenField::Path(cx.jsonpath(&p.field("token"), path)?),
        Some(other) => {
            return Err(cx.err(
                &p.field("token"),
                format!("`token` is access_token, id_token or a JSONPath such as $.Token.AccessToken, not `{other}`"),
            ))
        }
    })
}

fn send(cx: &Converter, p: &YamlPath, common: &Common) -> Result<SendToken> {
    match (common.query_param, common.header) {
        (Some(_), Some(_)) => Err(cx.err(
            &p.field("query_param"),
            "a token goes in a header or a query parameter, not both",
        )),
        (Some(_), None) if common.prefix.is_some() => {
            Err(cx.err(&p.field("prefix"), "`prefix` goes with a header"))
        }
        (Some(q), None) => Ok(SendToken::Query {
            name: q.to_string(),
        }),
        (None, header) => Ok(SendToken::Header {
            name: header.unwrap_or("Authorization").to_string(),
            prefix: common.prefix.unwrap_or("Bearer ").to_string(),
        }),
    }
}

/// Declared steps, or by default one step that fills the username and
/// password fields of the first form, found by their names and types.
fn login_steps(cx: &Converter, p: &YamlPath, f: &RawCodeAuth) -> Result<Vec<LoginStep>> {
    if let Some(steps) = &f.login {
        return steps
            .iter()
            .enumerate()
            .map(|(i, RawLoginStep { form, fields })| {
                Ok(LoginStep {
                    form: form.clone(),
                    fields: cx.pairs(&p.field("login").index(i).field("fields"), fields)?,
                })
            })
            .collect();
    }
    match (&f.username, &f.password) {
        (Some(user), Some(password)) => Ok(vec![LoginStep {
            form: None,
            fields: vec![
                (USERNAME_FIELD.into(), cx.text(&p.field("username"), user)),
                (PASSWORD_FIELD.into(), cx.text(&p.field("password"), password)),
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
/// See [`USERNAME_FIELD`]: the form's password field.
pub const PASSWORD_FIELD: &str = "$password";
