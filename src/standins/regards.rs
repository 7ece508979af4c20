//! CNES REGARDS behind its gateway: `/api/v1/<microservice>/...`. The token
//! endpoint takes its parameters in the query string (a form body works too)
//! with a Basic client; lists are HATEOAS pages; errors are `{"messages":[..]}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::credentials::{REGARDS_CLIENT, REGARDS_TENANT, REGARDS_USER};
use super::tokens::{basic_credentials, form, TokenProblem, Tokens};

struct Regards {
    tokens: Tokens,
}

type Shared = State<Arc<Regards>>;

/// The REGARDS stand-in's routes, its tokens issued as `config` says.
pub fn router(config: super::Config, stats: Arc<super::tokens::Stats>) -> Router {
    Router::new()
        .route("/api/v1/rs-authentication/oauth/token", post(token))
        .route("/api/v1/rs-admin/users", get(list_users))
        .route("/api/v1/rs-admin/users/{id}", get(get_user))
        .route("/api/v1/rs-dam/datasets", get(list_datasets))
        .route("/api/v1/rs-notifier/rule", axum::routing::put(put_rule))
        .fallback(|| async { messages(StatusCode::NOT_FOUND, "No handler found") })
        .with_state(Arc::new(Regards {
            tokens: Tokens::new(config, stats),
        }))
}

fn messages(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"messages": [message]}))).into_response()
}

async fn token(
    State(r): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    match basic_credentials(&headers) {
        Some((id, secret)) if (id.as_str(), secret.as_str()) == REGARDS_CLIENT => {}
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "unauthorized", "error_description": "Full authentication is required to access this resource"})),
            )
                .into_response()
        }
    }
    // The documented call puts everything in the query string; third-party
    // clients send a form body. Accept both.
    let mut params = form(&query.unwrap_or_default());
    params.extend(form(&body));
    if params.get("grant_type").map(String::as_str) != Some("password") {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}))).into_response();
    }
    let user = params
        .get("username")
        .map(String::as_str)
        .unwrap_or_default();
    let password = params
        .get("password")
        .map(String::as_str)
        .unwrap_or_default();
    if (user, password) != REGARDS_USER {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Bad credentials"})),
        )
            .into_response();
    }
    let tenant = params.get("scope").cloned().unwrap_or_default();
    if tenant != REGARDS_TENANT {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_scope", "error_description": format!("Unknown project {tenant}")}))).into_response();
    }
    let lifetime = Duration::from_secs(43199);
    let claims = json!({"email": user, "role": "USER_ROLE", "tenant": tenant});
    let issued = r.tokens.jwt(user, lifetime, claims);
    Json(json!({
        "access_token": issued.token, "email": user, "expires_in": issued.expires_in(), "role": "USER_ROLE",
        "scope": tenant, "sub": user, "tenant": tenant, "token_type": "bearer"
    }))
    .into_response()
}

fn authorize(r: &Regards, headers: &HeaderMap) -> Result<(), Response> {
    match r.tokens.check(headers) {
        Ok(_) => Ok(()),
        Err(TokenProblem::Missing) => Err(messages(StatusCode::FORBIDDEN, "Access denied")),
        Err(_) => Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token", "error_description": "Invalid access token"})),
        )
            .into_response()),
    }
}

fn users() -> Vec<Value> {
    vec![
        json!({"id": 1, "email": "user@regards.fr", "firstName": "Regards", "lastName": "User", "status": "ACCESS_GRANTED",
               "role": {"id": 3, "name": "PUBLIC", "native": true}, "licenseAccepted": true}),
        json!({"id": 2, "email": "admin@regards.fr", "firstName": "Regards", "lastName": "Admin", "status": "ACCESS_GRANTED",
               "role": {"id": 5, "name": "ADMIN", "native": true}, "licenseAccepted": true}),
        json!({"id": 3, "email": "pending@regards.fr", "firstName": "Pending", "lastName": "User", "status": "WAITING_ACCESS",
               "role": {"id": 3, "name": "PUBLIC", "native": true}, "licenseAccepted": false}),
    ]
}

fn entity(base: &str, item: Value) -> Value {
    let id = item["id"].clone();
    json!({"content": item, "links": [{"rel": "self", "href": format!("{base}/{id}")}]})
}

fn page(base: &str, items: Vec<Value>, params: &HashMap<String, String>) -> Value {
    let size: usize = params
        .get("size")
        .and_then(|s| s.parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(20);
    let number: usize = params.get("page").and_then(|s| s.parse().ok()).unwrap_or(0);
    let total = items.len();
    let content: Vec<Value> = items
        .into_iter()
        .skip(number * size)
        .take(size)
        .map(|i| entity(base, i))
        .collect();
    json!({
        "metadata": {"size": size, "totalElements": total, "totalPages": total.div_ceil(size), "number": number},
        "content": content,
        "links": []
    })
}

async fn list_users(
    State(r): Shared,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = authorize(&r, &headers) {
        return resp;
    }
    let mut list = users();
    if let Some(status) = params.get("status") {
        list.retain(|u| u["status"] == status.as_str());
    }
    Json(page("/api/v1/rs-admin/users", list, &params)).into_response()
}

async fn get_user(State(r): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(resp) = authorize(&r, &headers) {
        return resp;
    }
    match users()
        .into_iter()
        .find(|u| u["id"].as_u64().is_some_and(|n| n.to_string() == id))
    {
        Some(u) => Json(entity("/api/v1/rs-admin/users", u)).into_response(),
        None => messages(
            StatusCode::NOT_FOUND,
            &format!("Entity ProjectUser with id : {id} doesn't exist"),
        ),
    }
}

async fn list_datasets(
    State(r): Shared,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = authorize(&r, &headers) {
        return resp;
    }
    let dataset = |id: u64, label: &str| {
        json!({"type": "DATASET", "id": id, "ipId": format!("URN:AIP:DATASET:project1:{id:08}-0000-0000-0000-000000000000:V1"),
               "feature": {"label": label, "providerId": label.to_lowercase().replace(' ', "-"), "properties": {"mission": "SWOT"}}})
    };
    Json(page(
        "/api/v1/rs-dam/datasets",
        vec![
            dataset(10, "Ocean Topography"),
            dataset(11, "Sea Level Anomaly"),
        ],
        &params,
    ))
    .into_response()
}

/// Imports notifier rules (seed 002): a JSON rule, else a 400 in REGARDS'
/// own error shape.
async fn put_rule(State(r): Shared, headers: HeaderMap, body: String) -> Response {
    if let Err(resp) = authorize(&r, &headers) {
        return resp;
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(rule) if rule.is_object() || rule.is_array() => {
            Json(json!({"content": rule, "links": []})).into_response()
        }
        _ => messages(
            StatusCode::BAD_REQUEST,
            "Invalid rule: a JSON rule is expected",
        ),
    }
}
