//! A grant (a token response) and the token an auth takes from it: which
//! value is sent, its claims, when it expires.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use minijinja::Value;
use serde_json::Value as Json;

use super::jwt;
use crate::load::{AuthFlow, AuthSpec, TokenField};
use crate::secrets::{Secret, Secrets};

/// A token response, shared by the auths of a run with the same identity.
#[derive(Clone)]
pub struct Grant {
    pub response: Json,
    pub refresh_token: Option<Secret>,
    pub obtained: SystemTime,
    /// Grants of a run are numbered: a collection holding an older one
    /// knows someone else renewed it.
    pub generation: u64,
}

/// A token in hand.
#[derive(Clone)]
pub struct Token {
    pub value: Secret,
    pub obtained: SystemTime,
    pub expires_at: Option<SystemTime>,
    pub generation: u64,
    /// What templates see as `auth`: `{response, claims, expires_at}`.
    pub view: Value,
}

impl std::fmt::Debug for Token {
    /// The view holds the token response: only the times are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &self.value)
            .field("obtained", &self.obtained)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Still good for a while: renewal happens a tenth of the lifetime
    /// (30 s at most) before expiry, so no request goes out with a token
    /// about to lapse.
    pub fn fresh(&self, now: SystemTime) -> bool {
        let Some(expires_at) = self.expires_at else {
            return true;
        };
        let lifetime = expires_at.duration_since(self.obtained).unwrap_or_default();
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        now + margin < expires_at
    }
}

/// The token `spec` takes from `grant`; its values are registered as
/// secrets. `Err` says what the response lacks.
pub fn token(spec: &AuthSpec, grant: &Grant, secrets: &Secrets) -> Result<Token, String> {
    let response = &grant.response;
    let value = match &spec.token {
        TokenField::AccessToken => response
            .get("access_token")
            .and_then(Json::as_str)
            .map(str::to_string),
        TokenField::IdToken => response
            .get("id_token")
            .and_then(Json::as_str)
            .map(str::to_string),
        TokenField::Path(path) => path
            .query(response)
            .and_then(|v| v.as_str().map(str::to_string)),
    };
    let Some(value) = value else {
        let wanted = match &spec.token {
            TokenField::AccessToken => "access_token".to_string(),
            TokenField::IdToken => "id_token".to_string(),
            TokenField::Path(p) => p.src.to_string(),
        };
        let keys: Vec<&str> = response
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(format!(
            "the token response has no string at `{wanted}` (its keys: {})",
            keys.join(", ")
        ));
    };
    let value = secrets.keep(value);
    for key in ["access_token", "refresh_token", "id_token"] {
        if let Some(t) = response.get(key).and_then(Json::as_str) {
            secrets.add(t);
        }
    }
    let claims = jwt::claims(value.expose())
        .or_else(|| {
            response
                .get("id_token")
                .and_then(Json::as_str)
                .and_then(jwt::claims)
        })
        .unwrap_or_else(|| Json::Object(Default::default()));
    let expires_at = expiry(spec, response, &claims, value.expose(), grant.obtained);
    let mut view = BTreeMap::new();
    view.insert("response", Value::from_serialize(response));
    view.insert("claims", Value::from_serialize(&claims));
    if let Some(e) = expires_at {
        view.insert("expires_at", Value::from(unix_secs(e)));
    }
    Ok(Token {
        value,
        obtained: grant.obtained,
        expires_at,
        generation: grant.generation,
        view: Value::from(view),
    })
}

/// `expires_in` as a number or a numeric string (Cells prints `"599"`),
/// else the custom request's `expires_in`/`expires_at` paths, else the
/// token's JWT `exp`, else the configured lifetime.
fn expiry(
    spec: &AuthSpec,
    response: &Json,
    claims: &Json,
    value: &str,
    obtained: SystemTime,
) -> Option<SystemTime> {
    let seconds = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let Some(secs) = response.get("expires_in").and_then(seconds) {
        return after(obtained, secs);
    }
    if let AuthFlow::Request {
        expires_in,
        expires_at,
        ..
    } = &spec.flow
    {
        let at_path = |p: &Option<crate::load::JsonPath>| {
            p.as_ref()
                .and_then(|p| p.query(response))
                .as_ref()
                .and_then(seconds)
        };
        if let Some(secs) = at_path(expires_in) {
            return after(obtained, secs);
        }
        if let Some(at) = at_path(expires_at) {
            return after(UNIX_EPOCH, at);
        }
    }
    let own_exp = jwt::claims(value).and_then(|c| c.get("exp").and_then(seconds));
    if let Some(exp) = own_exp.or_else(|| {
        claims
            .get("exp")
            .and_then(seconds)
            .filter(|_| jwt::claims(value).is_some())
    }) {
        return after(UNIX_EPOCH, exp);
    }
    spec.lifetime.and_then(|l| obtained.checked_add(l))
}

/// `start` plus what a server said in seconds: nonsense (negative, NaN,
/// `1e400`) counts as none, and ten years is as far as a token lives.
fn after(start: SystemTime, seconds: f64) -> Option<SystemTime> {
    const MAX: f64 = 10.0 * 366.0 * 86400.0;
    if !seconds.is_finite() {
        return None;
    }
    start.checked_add(Duration::from_secs_f64(seconds.clamp(0.0, MAX)))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
