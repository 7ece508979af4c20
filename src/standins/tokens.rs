//! Tokens the stand-ins hand out and later accept: opaque strings or
//! JWT-shaped ones, each with a lifetime, checked by lookup (the signature
//! part is random: nobody outside verifies it). Refresh tokens are used
//! once: redeeming one retires it, as rotating servers do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value as Json};

use super::Config;

/// A token the stand-ins issued and still accept.
#[derive(Debug, Clone)]
pub struct Session {
    /// When it stops being accepted.
    pub expires_at: SystemTime,
}

/// Why a request's token is turned away.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `Authorization` header.
    Missing,
    /// Not a bearer token the stand-ins issued.
    Invalid,
    /// Issued, but its lifetime is over.
    Expired,
}

/// A token just issued, and the lifetime to announce for it.
pub struct Issued {
    pub token: String,
    pub advertised: Duration,
}

impl Issued {
    /// The lifetime to announce, in whole seconds (at least 1).
    pub fn expires_in(&self) -> u64 {
        self.advertised.as_secs().max(1)
    }

    /// When the token is announced to expire, in Unix seconds.
    pub fn expires_at_unix(&self) -> u64 {
        now_secs() + self.expires_in()
    }
}

/// What the stand-ins did, for tests to tell a refresh from a new login
/// and a renewal in time from a rejected token.
#[derive(Debug, Default)]
pub struct Stats {
    /// Tokens issued that open the API (logins and refreshes).
    pub issued: AtomicU32,
    /// Refresh tokens redeemed.
    pub refreshed: AtomicU32,
    /// Requests turned away for a bad or expired token.
    pub rejected: AtomicU32,
}

impl Stats {
    /// The counts now: (issued, refreshed, rejected).
    pub fn get(&self) -> (u32, u32, u32) {
        (
            self.issued.load(Ordering::SeqCst),
            self.refreshed.load(Ordering::SeqCst),
            self.rejected.load(Ordering::SeqCst),
        )
    }
}

/// The tokens one stand-in issued, and the refresh tokens it can still redeem.
pub struct Tokens {
    config: Config,
    stats: Arc<Stats>,
    sessions: Mutex<HashMap<String, Session>>,
    refresh: Mutex<HashMap<String, String>>,
}

/// The time now, in Unix seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

impl Tokens {
    /// A stand-in's tokens, issued as `config` says and counted in `stats`.
    pub fn new(config: Config, stats: Arc<Stats>) -> Self {
        Tokens {
            config,
            stats,
            sessions: Mutex::default(),
            refresh: Mutex::default(),
        }
    }

    /// An opaque token such as Cells v4 hands out; `native` is the system's
    /// own lifetime, which the stand-in configuration may shorten.
    pub fn opaque(&self, native: Duration) -> Issued {
        let token = random(40);
        self.remember(&token, self.config.lifetime(native));
        Issued {
            token,
            advertised: self.config.advertised(native),
        }
    }

    /// A JWT-shaped token whose claims are `claims` plus `sub`, `iat`, `exp`.
    pub fn jwt(&self, subject: &str, native: Duration, claims: Json) -> Issued {
        let now = now_secs();
        let advertised = self.config.advertised(native);
        let mut body =
            json!({"sub": subject, "iat": now, "exp": now + advertised.as_secs().max(1)});
        if let (Some(all), Json::Object(extra)) = (body.as_object_mut(), claims) {
            all.extend(extra);
        }
        let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = b64url(body.to_string().as_bytes());
        let token = format!("{header}.{payload}.{}", b64url(random(32).as_bytes()));
        self.remember(&token, self.config.lifetime(native));
        Issued { token, advertised }
    }

    /// A refresh token for `subject`, good for one use.
    pub fn refresh_token(&self, subject: &str) -> String {
        let token = random(48);
        self.refresh
            .lock()
            .expect("not poisoned")
            .insert(token.clone(), subject.to_string());
        token
    }

    /// The subject of a refresh token, retiring it.
    pub fn redeem_refresh(&self, token: &str) -> Option<String> {
        let subject = self.refresh.lock().expect("not poisoned").remove(token);
        if subject.is_some() {
            self.stats.refreshed.fetch_add(1, Ordering::SeqCst);
        }
        subject
    }

    fn remember(&self, token: &str, lifetime: Duration) {
        self.stats.issued.fetch_add(1, Ordering::SeqCst);
        let session = Session {
            expires_at: SystemTime::now() + lifetime,
        };
        self.sessions
            .lock()
            .expect("not poisoned")
            .insert(token.to_string(), session);
    }

    /// Checks the `Authorization: Bearer` header of a request.
    pub fn check(&self, headers: &HeaderMap) -> Result<Session, TokenProblem> {
        let result = self.lookup(headers);
        if matches!(result, Err(TokenProblem::Invalid | TokenProblem::Expired)) {
            self.stats.rejected.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    fn lookup(&self, headers: &HeaderMap) -> Result<Session, TokenProblem> {
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
        if session.expires_at <= SystemTime::now() {
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

/// A form body or query string as a map.
pub fn form(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}
