//! A local API for the end-to-end tests, and helpers that run a collection
//! written inline against it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use reqtest::resolve::Plan;
use reqtest::run::{Event, Outcome, Selection};
use serde_json::{json, Value};

pub struct TestServer {
    pub url: String,
    _thread: reqtest::standins::ServerThread,
}

pub const DOC: &str = r#"{"id":1,"name":"alice","tags":["a","b"],"nested":{"n":42},"price":9.5,
"items":[{"id":1,"t":"x","at":"2024-01-01"},{"id":2,"t":"y","at":"2024-01-02"}],"empty":null,"when":"2024-05-01T10:00:00Z"}"#;

fn router() -> Router {
    Router::new()
        .route(
            "/json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], DOC) }),
        )
        .route(
            "/token",
            post(|| async {
                (
                    [(header::SET_COOKIE, "session=s123; Path=/; HttpOnly")],
                    Json(json!({"access_token": "abc", "expires_in": "599"})),
                )
            }),
        )
        .route("/needs-token", get(needs_token))
        .route("/needs-cookie", get(needs_cookie))
        .route("/echo", any(echo))
        .route("/slow", get(slow))
        .route(
            "/text",
            get(|| async { "hello world, order id=12345; state=open" }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
            }),
        )
        .route(
            "/headers",
            get(|| async {
                (
                    [
                        ("x-request-id", "r-1"),
                        ("etag", "\"v1\""),
                        ("content-type", "application/json"),
                    ],
                    "{}",
                )
            }),
        )
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/json")]) }),
        )
        .route("/oauth/token", post(oauth_token))
        .route("/api/cc", get(needs_cc_token))
        .route(
            "/always-401",
            get(|| async { (StatusCode::UNAUTHORIZED, Json(json!({"error": "nope"}))) }),
        )
        .route("/authorize-forged", get(authorize_forged))
        .route("/authorize-check", get(authorize_check))
        .route("/login-elsewhere", get(login_elsewhere))
        .route("/redirect-to", any(redirect_to))
        .route("/steal", any(steal))
        .route(
            "/html-error",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<!DOCTYPE html>\n<html><head><title>Error 500</title><style>body{font:12px sans-serif;color:#333}</style></head><body><div class=\"box\"><h1>invalid_redirect_uri</h1><p>The redirect URI is not registered &amp; was refused.</p></div><script>track()</script></body></html>",
                )
            }),
        )
        .route(
            "/png",
            get(|| async {
                let mut png = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
                png.resize(5120, 0);
                ([(header::CONTENT_TYPE, "image/png")], png)
            }),
        )
        .route(
            "/bad-user",
            get(|| async { Json(json!({"Login": 5, "Attributes": {"a": 1}, "Roles": "admin"})) }),
        )
}

/// Token requests seen, by scope (tests run in parallel; each uses its own).
static TOKEN_CALLS: std::sync::Mutex<Option<HashMap<String, usize>>> = std::sync::Mutex::new(None);

pub fn token_calls(scope: &str) -> usize {
    TOKEN_CALLS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(scope).copied())
        .unwrap_or(0)
}

/// A client-credentials token endpoint: client `svc` / `svc-secret`, by
/// HTTP Basic or in the body.
async fn oauth_token(headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    *TOKEN_CALLS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(form.get("scope").cloned().unwrap_or_default())
        .or_default() += 1;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b| {
            use base64::Engine as _;
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_default(),
            )
            .unwrap_or_default()
        });
    let body_client = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some(format!("{id}:{secret}")),
        _ => None,
    };
    if basic.or(body_client).as_deref() != Some("svc:svc-secret") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": "Client authentication failed"}))).into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    Json(json!({"access_token": format!("cc-{scope}"), "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

async fn needs_cc_token(headers: HeaderMap) -> Response {
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v.starts_with("Bearer cc-") => {
            Json(json!({"scope": v.trim_start_matches("Bearer cc-")})).into_response()
        }
        _ => (StatusCode::UNAUTHORIZED, Json(json!({"error": "no token"}))).into_response(),
    }
}

/// An authorization endpoint that answers with a state of its own.
async fn authorize_forged(Query(q): Query<HashMap<String, String>>) -> Response {
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            format!("{redirect}?code=abc&state=forged-state"),
        )],
    )
        .into_response()
}

/// An authorization endpoint that gives a code only when the extra
/// parameters came: `prompt=login` and `login_hint=alice`.
async fn authorize_check(Query(q): Query<HashMap<String, String>>) -> Response {
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let ok = q.get("prompt").map(String::as_str) == Some("login")
        && q.get("login_hint").map(String::as_str) == Some("alice");
    let to = if ok {
        format!("{redirect}?code=abc&state={state}")
    } else {
        format!("{redirect}?error=missing_params&state={state}")
    };
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// A login page whose form posts to `to`, wherever that is.
async fn login_elsewhere(Query(q): Query<HashMap<String, String>>) -> Response {
    let to = q.get("to").cloned().unwrap_or_default();
    let page = format!(
        "<html><body><form method=\"post\" action=\"{to}\"><input type=\"text\" name=\"login\"><input type=\"password\" name=\"password\"></form></body></html>"
    );
    ([(header::CONTENT_TYPE, "text/html")], page).into_response()
}

/// A redirect to `to`, with status `code` (302 unless given).
async fn redirect_to(Query(q): Query<HashMap<String, String>>) -> Response {
    let to = q.get("to").cloned().unwrap_or_default();
    let code = q
        .get("code")
        .and_then(|c| c.parse().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::FOUND);
    (code, [(header::LOCATION, to)]).into_response()
}

/// Requests that reached `/steal`, the credentials' wrong destination.
pub static STOLEN: AtomicUsize = AtomicUsize::new(0);

async fn steal() -> Response {
    STOLEN.fetch_add(1, Ordering::SeqCst);
    (StatusCode::OK, "thanks").into_response()
}

async fn needs_token(headers: HeaderMap) -> Response {
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some("Bearer abc") => Json(json!({"ok": true})).into_response(),
        _ => (StatusCode::UNAUTHORIZED, Json(json!({"error": "no token"}))).into_response(),
    }
}

async fn needs_cookie(headers: HeaderMap) -> Response {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if cookie.contains("session=s123") {
        Json(json!({"ok": true})).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "no cookie"})),
        )
            .into_response()
    }
}

async fn echo(
    method: axum::http::Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Json<Value> {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                Value::from(v.to_str().unwrap_or_default()),
            )
        })
        .collect();
    let json_body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    Json(
        json!({"method": method.as_str(), "headers": headers, "query": query, "body": body, "json": json_body}),
    )
}

async fn slow(Query(q): Query<HashMap<String, u64>>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(q.get("ms").copied().unwrap_or(100))).await;
    Json(json!({"slept": true}))
}

pub fn server() -> TestServer {
    let (thread, addr) =
        reqtest::standins::ServerThread::spawn(|stop| reqtest::standins::serve(router(), stop))
            .unwrap();
    TestServer {
        url: format!("http://{addr}"),
        _thread: thread,
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Writes `yaml` to a fresh file and returns its path.
pub fn write_collection(yaml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reqtest-e2e-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

pub fn plan(yaml: &str, base: &str) -> Result<Plan, String> {
    let path = write_collection(yaml);
    reqtest::Suite::new([path])
        .var("base", base)
        .plan()
        .map_err(|e| e.to_string())
}

/// Runs every request of the collection and returns (request name, outcome).
pub fn run(yaml: &str, base: &str) -> Vec<(String, Outcome)> {
    let plan = plan(yaml, base).unwrap_or_else(|e| panic!("the collection should load: {e}"));
    run_plan(&plan)
}

/// Runs every request of the collections a suite plans; (request name, outcome).
pub fn run_suite(suite: reqtest::Suite) -> Vec<(String, Outcome)> {
    let plan = suite
        .plan()
        .unwrap_or_else(|e| panic!("the collection should load: {e}"));
    run_plan(&plan)
}

fn run_plan(plan: &Plan) -> Vec<(String, Outcome)> {
    let selection = Selection::from_reported(plan, |_, _| true);
    let events = std::sync::Mutex::new(Vec::<Event>::new());
    reqtest::run::run(plan, &selection, &Default::default(), |e| {
        events.lock().unwrap().push(e)
    });
    let requests = &plan.collections[0].collection.requests;
    events
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|e| (requests[e.request].name.clone(), e.outcome))
        .collect()
}

pub fn passed(outcomes: &[(String, Outcome)], name: &str) -> bool {
    matches!(find(outcomes, name), Outcome::Passed { .. })
}

pub fn failure(outcomes: &[(String, Outcome)], name: &str) -> String {
    match find(outcomes, name) {
        Outcome::Failed { message, .. } => message.clone(),
        other => panic!("`{name}` should have failed, got {other:?}"),
    }
}

pub fn find<'a>(outcomes: &'a [(String, Outcome)], name: &str) -> &'a Outcome {
    &outcomes
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no outcome for `{name}` in {outcomes:?}"))
        .1
}

/// What a command printed: its standard output, then its standard error.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The head of the next request on `stream`, read a byte at a time so that
/// nothing after it is consumed; empty when the client closed.
pub fn read_head(stream: &mut std::net::TcpStream) -> std::io::Result<String> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
