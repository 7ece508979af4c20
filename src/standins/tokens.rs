//! Tokens the stand-ins hand out and later accept: opaque strings or
//! JWT-shaped ones, each with a lifetime, checked by lookup (the signature
//! part is random: nobody outside verifies it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value as Json};

#[derive(Debug, Clone)]
pub struct Session {
    pub subject: String,
    pub expires_at: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Invalid,
    Expired,
}

#[derive(Default)]
pub struct Tokens {
    sessions: Mutex<HashMap<String, Session>>,
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Tokens {
    /// An opaque token such as Cells v4 hands out.
    pub fn opaque(&self, subject: &str, lifetime: Duration) -> String {
        let token = Alphanumeric.sample_string(&mut rand::rng(), 40);
        self.remember(&token, subject, lifetime);
        token
    }

    /// A JWT-shaped token whose claims are `claims` plus `sub`, `iat`, `exp`.
    pub fn jwt(&self, subject: &str, lifetime: Duration, claims: Json) -> String {
        let now = now_secs();
        let mut body = json!({"sub": subject, "iat": now, "exp": now + lifetime.as_secs()});
        if let (Some(all), Json::Object(extra)) = (body.as_object_mut(), claims) {
            all.extend(extra);
        }
        let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = b64url(body.to_string().as_bytes());
        let signature = b64url(Alphanumeric.sample_string(&mut rand::rng(), 32).as_bytes());
        let token = format!("{header}.{payload}.{signature}");
        self.remember(&token, subject, lifetime);
        token
    }

    fn remember(&self, token: &str, subject: &str, lifetime: Duration) {
        let session = Session {
            subject: subject.to_string(),
            expires_at: now_secs() + lifetime.as_secs(),
        };
        self.sessions
            .lock()
            .expect("not poisoned")
            .insert(token.to_string(), session);
    }

    /// Checks the `Authorization: Bearer` header of a request.
    pub fn check(&self, headers: &HeaderMap) -> Result<Session, TokenProblem> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(TokenProblem::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(TokenProblem::Invalid)?
            .trim();
        let session = self
            .sessions
            .lock()
            .expect("not poisoned")
            .get(token)
            .cloned()
            .ok_or(TokenProblem::Invalid)?;
        if session.expires_at <= now_secs() {
            return Err(TokenProblem::Expired);
        }
        Ok(session)
    }
}

/// `Authorization: Basic` → (user, password).
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}
