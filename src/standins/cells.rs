//! Pydio Cells: the v1 dex token endpoint and the `/a` REST calls.
//! Quirks kept: `expires_in` is the string `"599"`, the bearer is the
//! id_token, 64-bit numbers are strings, empty fields are left out, a bad
//! token gets a plain-text `Unauthorized.` while a missing one gets JSON.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::credentials::{CELLS_CLIENT, CELLS_USER};
use super::tokens::{basic_credentials, form, Stats, TokenProblem, Tokens};

struct Cells {
    tokens: Tokens,
    /// Logins under way: login challenge → the authorization request.
    challenges: Mutex<HashMap<String, Pending>>,
    /// Codes issued and not yet redeemed.
    codes: Mutex<HashMap<String, Pending>>,
}

#[derive(Clone)]
struct Pending {
    redirect_uri: String,
    state: String,
    scope: String,
    code_challenge: String,
    csrf: String,
    user: String,
}

type Shared = State<Arc<Cells>>;

/// The public client of Cells v2+ and its registered redirect.
const SYNC_CLIENT: &str = "cells-sync";

/// The Cells stand-in's routes, its tokens issued as `config` says.
pub fn router(config: super::Config, stats: Arc<Stats>) -> Router {
    let cells = Cells {
        tokens: Tokens::new(config, stats),
        challenges: Mutex::default(),
        codes: Mutex::default(),
    };
    Router::new()
        .route("/auth/dex/token", post(dex_token))
        .route("/a/frontend/session", post(frontend_session))
        .route("/oidc/oauth2/auth", get(oidc_authorize))
        .route("/oidc/login", get(oidc_login_page).post(oidc_login))
        .route("/oidc/oauth2/token", post(oidc_token))
        .route("/a/user/{login}", get(get_user))
        .route("/a/user", post(search_users))
        .route("/a/workspace", post(search_workspaces))
        .route("/a/config/ctl", get(list_services))
        .route("/a/tree/stats", post(tree_stats))
        .fallback(not_found)
        .with_state(Arc::new(cells))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn rest_error(status: StatusCode, title: &str, detail: &str, code: &str) -> Response {
    (
        status,
        Json(json!({"Title": title, "Detail": detail, "Code": code})),
    )
        .into_response()
}

async fn not_found() -> Response {
    rest_error(
        StatusCode::NOT_FOUND,
        "Not Found",
        "no such route",
        "E_NOT_FOUND",
    )
}

/// Cells v1: dex's token endpoint, password and refresh grants, with the
/// `cells-front` client in HTTP Basic.
async fn dex_token(State(cells): Shared, headers: HeaderMap, body: String) -> Response {
    match basic_credentials(&headers) {
        Some((id, secret)) if (id.as_str(), secret.as_str()) == CELLS_CLIENT => {}
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Invalid client credentials.",
            )
        }
    }
    let params = form(&body);
    let user = match params.get("grant_type").map(String::as_str) {
        Some("password") => {
            let user = params
                .get("username")
                .map(String::as_str)
                .unwrap_or_default();
            let password = params
                .get("password")
                .map(String::as_str)
                .unwrap_or_default();
            if (user, password) != CELLS_USER {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_grant",
                    "Invalid username or password",
                );
            }
            user.to_string()
        }
        Some("refresh_token") => match params
            .get("refresh_token")
            .and_then(|t| cells.tokens.redeem_refresh(t))
        {
            Some(user) => user,
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Refresh token is invalid or has already been claimed by another client.",
                )
            }
        },
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", ""),
    };
    let lifetime = Duration::from_secs(599);
    let claims = json!({"iss": "http://127.0.0.1/auth/dex", "aud": CELLS_CLIENT.0, "name": user,
        "email": format!("{user}@example.com"), "nonce": params.get("nonce").cloned().unwrap_or_default()});
    let id_token = cells.tokens.jwt(&user, lifetime, claims);
    Json(json!({
        // Only the id_token opens /a, as on a real Cells v1.
        "access_token": Tokens::new(Default::default(), Default::default()).opaque(lifetime).token,
        "token_type": "bearer",
        // The Cells docs print a string here.
        "expires_in": id_token.expires_in().to_string(),
        "refresh_token": cells.tokens.refresh_token(&user),
        "id_token": id_token.token,
    }))
    .into_response()
}

/// Cells v4: a JSON login without any client, answered with an opaque
/// access token and absolute expiry times.
async fn frontend_session(State(cells): Shared, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let info = &request["AuthInfo"];
    let user = info["login"].as_str().unwrap_or_default();
    let password = info["password"].as_str().unwrap_or_default();
    if info["type"] != "credentials" || (user, password) != CELLS_USER {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "Login failed",
            "cannot find user or wrong password",
            "E_UNAUTHORIZED",
        );
    }
    let access = cells.tokens.opaque(Duration::from_secs(599));
    let id_token = Tokens::new(Default::default(), Default::default()).jwt(
        user,
        Duration::from_secs(599),
        json!({"name": user}),
    );
    let expires_at = access.expires_at_unix();
    Json(json!({
        "JWT": access.token,
        "ExpireTime": expires_at,
        "Token": {
            "AccessToken": access.token,
            "IDToken": id_token.token,
            "RefreshToken": cells.tokens.refresh_token(user),
            "ExpiresAt": expires_at.to_string()
        }
    }))
    .into_response()
}

fn loopback_redirect(uri: &str) -> bool {
    // Cells registers http://localhost:3000/servers/callback for cells-sync;
    // more redirect URLs can be added to pydio.json. The stand-in accepts
    // any loopback one so that tests can listen on a free port.
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1"))
    })
}

fn redirect_error(redirect_uri: &str, state: &str, error: &str, description: &str) -> Response {
    let mut target = url::Url::parse(redirect_uri).expect("checked by loopback_redirect");
    target
        .query_pairs_mut()
        .append_pair("error", error)
        .append_pair("error_description", description)
        .append_pair("state", state);
    Redirect::to(target.as_str()).into_response()
}

/// Hydra's authorization endpoint: checks the request and sends the browser
/// to the login page with a challenge and a CSRF cookie.
async fn oidc_authorize(State(cells): Shared, RawQuery(query): RawQuery) -> Response {
    let q = form(&query.unwrap_or_default());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != SYNC_CLIENT {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).");
    }
    let redirect_uri = get("redirect_uri");
    if !loopback_redirect(&redirect_uri) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.");
    }
    let state = get("state");
    if get("response_type") != "code" {
        return redirect_error(
            &redirect_uri,
            &state,
            "unsupported_response_type",
            "The authorization server does not support obtaining a token using this method.",
        );
    }
    if state.len() < 8 {
        return redirect_error(&redirect_uri, &state, "invalid_state", "The state is missing or does not have enough characters and is therefore considered too weak.");
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        return redirect_error(&redirect_uri, &state, "invalid_request", "Clients must include a code_challenge when performing the authorize code flow, with code_challenge_method S256.");
    }
    let challenge = random(32);
    let csrf = random(32);
    let pending = Pending {
        redirect_uri,
        state,
        scope: get("scope"),
        code_challenge: get("code_challenge"),
        csrf: csrf.clone(),
        user: String::new(),
    };
    cells
        .challenges
        .lock()
        .expect("not poisoned")
        .insert(challenge.clone(), pending);
    (
        StatusCode::FOUND,
        [
            (
                header::LOCATION,
                format!("/oidc/login?login_challenge={challenge}"),
            ),
            (
                header::SET_COOKIE,
                format!("oauth2_authentication_csrf={csrf}; Path=/oidc; HttpOnly; SameSite=Lax"),
            ),
        ],
    )
        .into_response()
}

fn login_page(challenge: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\">{e}</p>"))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html><head><title>Pydio Cells - Sign in</title></head><body><h1>Sign in to Pydio Cells</h1>{error}\
         <form method=\"post\" action=\"/oidc/login\"><input type=\"hidden\" name=\"login_challenge\" value=\"{challenge}\">\
         <label>Login <input type=\"text\" name=\"login\" autocomplete=\"username\"></label>\
         <label>Password <input type=\"password\" name=\"password\"></label>\
         <button type=\"submit\">Enter</button></form></body></html>"
    ))
    .into_response()
}

async fn oidc_login_page(
    State(cells): Shared,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let challenge = q.get("login_challenge").cloned().unwrap_or_default();
    if !cells
        .challenges
        .lock()
        .expect("not poisoned")
        .contains_key(&challenge)
    {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>Unknown or expired login challenge.</p>"),
        )
            .into_response();
    }
    login_page(&challenge, None)
}

async fn oidc_login(State(cells): Shared, headers: HeaderMap, body: String) -> Response {
    let f = form(&body);
    let challenge = f.get("login_challenge").cloned().unwrap_or_default();
    let Some(pending) = cells
        .challenges
        .lock()
        .expect("not poisoned")
        .get(&challenge)
        .cloned()
    else {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>Unknown or expired login challenge.</p>"),
        )
            .into_response();
    };
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !cookie
        .split(';')
        .any(|c| c.trim() == format!("oauth2_authentication_csrf={}", pending.csrf))
    {
        return (
            StatusCode::FORBIDDEN,
            Html("<p>The CSRF cookie is missing or does not match.</p>"),
        )
            .into_response();
    }
    let user = f.get("login").map(String::as_str).unwrap_or_default();
    let password = f.get("password").map(String::as_str).unwrap_or_default();
    if (user, password) != CELLS_USER {
        return login_page(&challenge, Some("Invalid login or password"));
    }
    cells
        .challenges
        .lock()
        .expect("not poisoned")
        .remove(&challenge);
    let code = random(40);
    let mut target = url::Url::parse(&pending.redirect_uri).expect("checked at authorize");
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("scope", &pending.scope)
        .append_pair("state", &pending.state);
    cells.codes.lock().expect("not poisoned").insert(
        code,
        Pending {
            user: user.to_string(),
            ..pending
        },
    );
    Redirect::to(target.as_str()).into_response()
}

/// Hydra's token endpoint for `cells-sync`: authorization code (with the
/// PKCE verifier checked) and refresh grants only.
async fn oidc_token(State(cells): Shared, headers: HeaderMap, body: String) -> Response {
    let f = form(&body);
    let client = basic_credentials(&headers)
        .map(|(id, _)| id)
        .or_else(|| f.get("client_id").cloned());
    if client.as_deref() != Some(SYNC_CLIENT) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).");
    }
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let (user, scope) = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(pending) = cells.codes.lock().expect("not poisoned").remove(&code) else {
                return invalid_grant("The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.");
            };
            if f.get("redirect_uri") != Some(&pending.redirect_uri) {
                return invalid_grant("The 'redirect_uri' from this request does not match the one from the authorize request.");
            }
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            if computed != pending.code_challenge {
                return invalid_grant("The PKCE code challenge did not match the code verifier.");
            }
            (pending.user, pending.scope)
        }
        Some("refresh_token") => match f
            .get("refresh_token")
            .and_then(|t| cells.tokens.redeem_refresh(t))
        {
            Some(user) => (user, "openid email profile pydio offline".to_string()),
            None => return invalid_grant("The refresh token is invalid, expired or revoked."),
        },
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "The client is not authorized to request a token using this method.",
            )
        }
    };
    let access = cells.tokens.opaque(Duration::from_secs(599));
    let id_token = Tokens::new(Default::default(), Default::default()).jwt(
        &user,
        Duration::from_secs(599),
        json!({"name": user, "aud": [SYNC_CLIENT]}),
    );
    Json(json!({
        "access_token": access.token,
        "token_type": "bearer",
        "expires_in": access.expires_in(),
        "refresh_token": cells.tokens.refresh_token(&user),
        "id_token": id_token.token,
        "scope": scope,
    }))
    .into_response()
}

fn random(len: usize) -> String {
    rand::distr::SampleString::sample_string(&rand::distr::Alphanumeric, &mut rand::rng(), len)
}

/// Cells answers a missing token with JSON and a bad one with plain text.
fn authorize(cells: &Cells, headers: &HeaderMap) -> Result<(), Response> {
    match cells.tokens.check(headers) {
        Ok(_) => Ok(()),
        Err(TokenProblem::Missing) => Err(rest_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Empty authorization header",
            "E_UNAUTHORIZED",
        )),
        Err(_) => Err((
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Unauthorized.",
        )
            .into_response()),
    }
}

fn users() -> Vec<Value> {
    vec![
        json!({
            "Uuid": "2f8d6f4e-8c1a-4d5e-9b1f-5a3c2e1d0b9a", "Login": "admin", "GroupPath": "/",
            "Attributes": {"profile": "admin", "displayName": "Administrator", "email": "admin@example.com"},
            "Roles": [
                {"Uuid": "ROOT_GROUP", "Label": "Root Group", "GroupRole": true},
                {"Uuid": "ADMINS", "Label": "Administrators"},
                {"Uuid": "2f8d6f4e-8c1a-4d5e-9b1f-5a3c2e1d0b9a", "Label": "User admin", "UserRole": true}
            ],
            "Policies": [{"Action": "READ", "Effect": "allow", "Subject": "*"}],
            "LastConnected": 1700000000
        }),
        json!({
            "Uuid": "7c1b2a3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "Login": "alice", "GroupPath": "/sales",
            "Attributes": {"profile": "standard", "displayName": "Alice"},
            "Roles": [{"Uuid": "ROOT_GROUP", "Label": "Root Group", "GroupRole": true}],
            "Policies": []
        }),
    ]
}

async fn get_user(State(cells): Shared, headers: HeaderMap, Path(login): Path<String>) -> Response {
    if let Err(r) = authorize(&cells, &headers) {
        return r;
    }
    match users().into_iter().find(|u| u["Login"] == login.as_str()) {
        Some(u) => Json(u).into_response(),
        None => rest_error(
            StatusCode::NOT_FOUND,
            "User not found",
            &format!("Cannot find user {login}"),
            "E_NOT_FOUND",
        ),
    }
}

async fn search_users(State(cells): Shared, headers: HeaderMap, body: String) -> Response {
    if let Err(r) = authorize(&cells, &headers) {
        return r;
    }
    let query: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                &e.to_string(),
                "E_BAD_REQUEST",
            )
        }
    };
    let filters = query["Queries"].as_array().cloned().unwrap_or_default();
    let matches = |u: &Value| {
        filters.is_empty()
            || filters.iter().any(|q| {
                let login_ok = match q["Login"].as_str() {
                    Some(l) if l.ends_with('*') => u["Login"]
                        .as_str()
                        .is_some_and(|x| x.starts_with(l.trim_end_matches('*'))),
                    Some(l) => u["Login"] == l,
                    None => true,
                };
                let group_ok = q["GroupPath"].as_str().is_none_or(|g| u["GroupPath"] == g);
                login_ok && group_ok
            })
    };
    let found: Vec<Value> = users().into_iter().filter(matches).collect();
    Json(json!({"Users": found, "Total": found.len()})).into_response()
}

async fn search_workspaces(State(cells): Shared, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&cells, &headers) {
        return r;
    }
    Json(json!({
        "Workspaces": [
            {"UUID": "ws-common", "Slug": "common-files", "Label": "Common Files", "Description": "Data shared by all users",
             "Scope": "ADMIN", "Attributes": "{\"DEFAULT_RIGHTS\":\"rw\"}", "RootUUIDs": ["DATASOURCE:pydiods1"]},
            {"UUID": "ws-personal", "Slug": "personal-files", "Label": "My Files", "Description": "User personal data",
             "Scope": "ADMIN", "Attributes": "{\"DEFAULT_RIGHTS\":\"rw\"}", "RootUUIDs": ["my-files"]}
        ],
        "Total": 2
    }))
    .into_response()
}

async fn list_services(State(cells): Shared, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&cells, &headers) {
        return r;
    }
    let service = |name: &str, description: &str| {
        json!({"Name": name, "Version": "4.0.0", "Description": description, "Tag": "idm", "Controllable": true,
               "Status": "STARTED", "RunningPeers": [{"Id": "peer-1", "Address": "127.0.0.1"}]})
    };
    Json(json!({
        "Services": [
            service("pydio.grpc.user", "Users persistence layer"),
            service("pydio.rest.user", "REST provider for users"),
            service("pydio.web.oauth", "OAuth2 provider"),
        ],
        "Total": 3
    }))
    .into_response()
}

async fn tree_stats(State(cells): Shared, headers: HeaderMap, body: String) -> Response {
    if let Err(r) = authorize(&cells, &headers) {
        return r;
    }
    let query: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let tree = [
        json!({"Uuid": "n-1", "Path": "common-files/report.pdf", "Type": "LEAF", "Size": "1024", "MTime": "1700000000", "Etag": "a1b2c3"}),
        json!({"Uuid": "n-2", "Path": "common-files/photos", "Type": "COLLECTION", "Size": "2048", "MTime": "1700000100"}),
        json!({"Uuid": "n-3", "Path": "personal-files/notes.txt", "Type": "LEAF", "Size": "12", "MTime": "1700000200", "Etag": "d4e5f6"}),
    ];
    let wanted: Vec<&str> = query["NodePaths"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let nodes: Vec<&Value> = tree
        .iter()
        .filter(|n| {
            let path = n["Path"].as_str().unwrap_or_default();
            wanted.iter().any(|w| match w.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == *w,
            })
        })
        .collect();
    if nodes.is_empty() {
        // protobuf leaves empty lists out
        return Json(json!({})).into_response();
    }
    Json(json!({"Nodes": nodes})).into_response()
}
