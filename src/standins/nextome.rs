//! Nextome: `POST /apps/auth` with a JSON body gives `accessToken` (a
//! Cognito-style RS256 JWT that lives one hour); the read calls take it as a
//! Bearer token. Error bodies are not public: `{"message": ..}` is a guess.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::credentials::NEXTOME_CLIENT;
use super::tokens::Tokens;

struct Nextome {
    tokens: Tokens,
}

type Shared = State<Arc<Nextome>>;

/// The Nextome stand-in's routes, its tokens issued as `config` says.
pub fn router(config: super::Config, stats: Arc<super::tokens::Stats>) -> Router {
    Router::new()
        .route("/apps/auth", post(auth))
        .route("/venues/{id}", get(venue))
        .route("/maps/by-venue/{id}", get(maps))
        .fallback(|| async { message(StatusCode::NOT_FOUND, "Not Found") })
        .with_state(Arc::new(Nextome {
            tokens: Tokens::new(config, stats),
        }))
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"message": text}))).into_response()
}

async fn auth(State(n): Shared, body: String) -> Response {
    let creds: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let id = creds["clientId"].as_str().unwrap_or_default();
    let secret = creds["clientSecret"].as_str().unwrap_or_default();
    if (id, secret) != NEXTOME_CLIENT {
        return message(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let claims = json!({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_standin", "client_id": id,
                        "token_use": "access", "scope": "nextome/read"});
    let issued = n.tokens.jwt(
        "b1548a1a-d0f9-4ead-8189-db0cd1c909d5",
        Duration::from_secs(3600),
        claims,
    );
    Json(json!({"accessToken": issued.token})).into_response()
}

fn authorize(n: &Nextome, headers: &HeaderMap) -> Result<(), Response> {
    n.tokens
        .check(headers)
        .map(|_| ())
        .map_err(|_| message(StatusCode::UNAUTHORIZED, "Unauthorized"))
}

async fn venue(State(n): Shared, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    if let Err(r) = authorize(&n, &headers) {
        return r;
    }
    if id != 42 {
        return message(StatusCode::NOT_FOUND, &format!("Venue {id} not found"));
    }
    Json(json!({
        "id": 42, "name": "Bari Headquarters", "timezone": "Europe/Rome",
        "categories": [
            {"id": 1, "name": "Meeting rooms", "features": ["projector", "whiteboard"]},
            {"id": 2, "name": "Labs", "features": ["badge-access"]}
        ]
    }))
    .into_response()
}

async fn maps(State(n): Shared, headers: HeaderMap, Path(venue): Path<u64>) -> Response {
    if let Err(r) = authorize(&n, &headers) {
        return r;
    }
    let maps: Vec<Value> = if venue == 42 {
        (0..2)
            .map(|floor| {
                json!({"id": 100 + floor, "uuid": format!("6b1f2c3d-0000-4000-8000-00000000010{floor}"), "floor": floor,
                       "name": format!("Floor {floor}"), "scale": 0.05, "outdoor": false, "venue": 42, "height": 1024, "width": 2048})
            })
            .collect()
    } else {
        Vec::new()
    };
    Json(maps).into_response()
}
