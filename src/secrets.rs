//! The secrets of a run and how to hide them: passwords and client secrets
//! of auths, every token and refresh token obtained, variables and captures
//! marked secret, `env('X', secret=true)`. Every output (console, failure
//! messages, JUnit, JSON, curl, verbose logs) goes through [`Secrets::redact`],
//! which also hides the forms a secret takes on the wire: URL-encoded,
//! JSON-escaped, base64, and inside an HTTP Basic credential.
//!
//! A leaf module: every stage may register secrets, the report stage reads.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use regex::Regex;

pub const MASK: &str = "***";

/// Shorter values are not hidden: masking every `1` or `ab` in a report
/// would hide the report, not the secret.
const MIN_LEN: usize = 4;

#[derive(Default)]
struct Inner {
    values: BTreeSet<String>,
    /// The values and their encoded forms, longest first, compiled.
    matcher: Option<AhoCorasick>,
}

#[derive(Default, Clone)]
pub struct Secrets {
    inner: Arc<RwLock<Inner>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values themselves.
        write!(f, "Secrets({} values)", self.len())
    }
}

fn forms(value: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut out = vec![
        value.to_string(),
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
        b64.encode(value),
        b64url.encode(value),
    ];
    if let Ok(json) = serde_json::to_string(value) {
        out.push(json[1..json.len() - 1].to_string());
    }
    out.retain(|f| f.len() >= MIN_LEN);
    out.sort();
    out.dedup();
    out
}

fn basic_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)\b(basic)\s+([A-Za-z0-9+/=_-]{4,})").expect("valid"))
}

impl Secrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value (and so its encoded forms).
    pub fn add(&self, value: &str) {
        if value.len() < MIN_LEN {
            return;
        }
        let mut inner = self.inner.write().expect("not poisoned");
        if inner.values.insert(value.to_string()) {
            inner.matcher = None;
        }
    }

    pub fn contains(&self, value: &str) -> bool {
        self.inner
            .read()
            .expect("not poisoned")
            .values
            .contains(value)
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("not poisoned").values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn matcher(&self) -> Option<AhoCorasick> {
        if let Some(m) = &self.inner.read().expect("not poisoned").matcher {
            return Some(m.clone());
        }
        let mut inner = self.inner.write().expect("not poisoned");
        if inner.values.is_empty() {
            return None;
        }
        let patterns: BTreeSet<String> = inner.values.iter().flat_map(|v| forms(v)).collect();
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns)
            .expect("literal patterns always build");
        inner.matcher = Some(matcher.clone());
        Some(matcher)
    }

    /// `text` with every secret, in any of its forms, replaced by `***`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(matcher) = self.matcher() else {
            return Cow::Borrowed(text);
        };
        let mut out: Cow<'a, str> = if matcher.is_match(text) {
            Cow::Owned(matcher.replace_all(text, &vec![MASK; matcher.patterns_len()]))
        } else {
            Cow::Borrowed(text)
        };
        // `Basic base64(user:password)`: the password is in there, but no
        // substring of the base64 is the base64 of the password.
        if basic_regex().is_match(&out) {
            let replaced = basic_regex()
                .replace_all(&out, |c: &regex::Captures| {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(&c[2])
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok());
                    match decoded {
                        Some(d) if matcher.is_match(&d) => format!("{} {MASK}", &c[1]),
                        _ => c[0].to_string(),
                    }
                })
                .into_owned();
            out = Cow::Owned(replaced);
        }
        out
    }
}

/// JSON object keys whose string values are hidden in shown bodies even when
/// the value was never registered (a login response that failed its checks).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "jwt",
        "credential",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Header names whose values are hidden in verbose output and curl
/// commands (the scheme word, such as `Bearer`, stays).
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key" | "api-key"
    ) || n.contains("token")
        || n.contains("secret")
}

/// A header value as shown: `Bearer ***` for a secret header.
pub fn mask_header(name: &str, value: &str) -> String {
    if !is_secret_header(name) {
        return value.to_string();
    }
    match value.split_once(' ') {
        Some((scheme, _))
            if scheme.len() < 16 && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            format!("{scheme} {MASK}")
        }
        _ => MASK.to_string(),
    }
}

/// A body as shown: if it is JSON, string values under secret-looking keys
/// are masked; then the registered secrets.
pub fn mask_body(secrets: &Secrets, body: &str) -> String {
    let masked = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut json) => {
            if mask_json(&mut json) {
                json.to_string()
            } else {
                body.to_string()
            }
        }
        Err(_) => body.to_string(),
    };
    secrets.redact(&masked).into_owned()
}

/// Masks string values under secret-looking keys; true when it changed any.
pub fn mask_json(value: &mut serde_json::Value) -> bool {
    let mut changed = false;
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && v.is_string() {
                    *v = serde_json::Value::from(MASK);
                    changed = true;
                } else {
                    changed |= mask_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                changed |= mask_json(v);
            }
        }
        _ => {}
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_a_secret_in_every_form_it_travels_in() {
        let s = Secrets::new();
        s.add("p@ss word/1");
        let b64 = base64::engine::general_purpose::STANDARD.encode("admin:p@ss word/1");
        let text = format!(
            "plain p@ss word/1, form p%40ss+word%2F1, url p%40ss%20word%2F1, json {}, basic Basic {b64}, b64 {}",
            serde_json::to_string("p@ss word/1").unwrap(),
            base64::engine::general_purpose::STANDARD.encode("p@ss word/1"),
        );
        let out = s.redact(&text);
        assert!(!out.contains("word"), "{out}");
        assert!(!out.contains(&b64), "{out}");
        assert_eq!(out.matches(MASK).count(), 6, "{out}");
    }

    #[test]
    fn leaves_text_without_secrets_alone_and_ignores_tiny_values() {
        let s = Secrets::new();
        s.add("ab");
        assert!(matches!(s.redact("ab cd"), Cow::Borrowed(_)));
        s.add("longsecret");
        assert_eq!(s.redact("x longsecret y"), "x *** y");
        assert_eq!(s.redact("Basic dXNlcjpvdGhlcg=="), "Basic dXNlcjpvdGhlcg==");
    }

    #[test]
    fn masks_secret_looking_json_fields_and_headers() {
        let s = Secrets::new();
        let body = r#"{"access_token":"abc.def","user":{"password":"x1"},"n":1}"#;
        assert_eq!(
            mask_body(&s, body),
            r#"{"access_token":"***","user":{"password":"***"},"n":1}"#
        );
        assert_eq!(mask_header("Authorization", "Bearer abc"), "Bearer ***");
        assert_eq!(
            mask_header("Accept", "application/json"),
            "application/json"
        );
    }
}
