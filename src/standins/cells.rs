//! Pydio Cells: the v1 dex token endpoint and the `/a` REST calls.
//! Quirks kept: `expires_in` is the string `"599"`, the bearer is the
//! id_token, 64-bit numbers are strings, empty fields are left out, a bad
//! token gets a plain-text `Unauthorized.` while a missing one gets JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::credentials::{CELLS_CLIENT, CELLS_USER};
use super::tokens::{basic_credentials, TokenProblem, Tokens};

#[derive(Default)]
struct Cells {
    tokens: Tokens,
}

type Shared = State<Arc<Cells>>;

pub fn router() -> Router {
    Router::new()
        .route("/auth/dex/token", post(dex_token))
        .route("/a/user/{login}", get(get_user))
        .route("/a/user", post(search_users))
        .route("/a/workspace", post(search_workspaces))
        .route("/a/config/ctl", get(list_services))
        .route("/a/tree/stats", post(tree_stats))
        .fallback(not_found)
        .with_state(Arc::new(Cells::default()))
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
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    if form.get("grant_type").map(String::as_str) != Some("password") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    let user = form.get("username").map(String::as_str).unwrap_or_default();
    let password = form.get("password").map(String::as_str).unwrap_or_default();
    if (user, password) != CELLS_USER {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "Invalid username or password",
        );
    }
    let lifetime = Duration::from_secs(599);
    let claims = json!({"iss": "http://127.0.0.1/auth/dex", "aud": CELLS_CLIENT.0, "name": user,
        "email": format!("{user}@example.com"), "nonce": form.get("nonce").cloned().unwrap_or_default()});
    let id_token = cells.tokens.jwt(user, lifetime, claims);
    Json(json!({
        // Only the id_token opens /a, as on a real Cells v1.
        "access_token": Tokens::default().opaque(user, lifetime),
        "token_type": "bearer",
        "expires_in": "599",
        "refresh_token": Tokens::default().opaque(user, Duration::from_secs(1800)),
        "id_token": id_token,
    }))
    .into_response()
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
