//! Names that say their value is a secret: JSON keys, form fields and
//! headers whose values are hidden even when reqtest never learnt them (a
//! token response that failed its checks, a server echoing a password).

use std::sync::OnceLock;

use regex::Regex;

use super::MASK;

/// The words that make a key secret-looking, lower case.
const WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "apikey",
    "api_key",
    "api-key",
    "jwt",
    "credential",
    "private_key",
    "privatekey",
];

/// Whether a JSON key or form field name looks like it holds a secret:
/// `access_token`, `refreshToken`, `*password*`, `*secret*`, `apikey`, ...
pub fn is_secret_key(key: &str) -> bool {
    // One pass over the key for all the words (every key of every report
    // item is asked), not a lowercase copy searched twelve times.
    static WORDS_IN: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    WORDS_IN
        .get_or_init(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(WORDS)
                .expect("literal words always build")
        })
        .is_match(key)
}

/// Header names whose values are hidden in shown traffic and curl
/// commands (the scheme word, such as `Bearer`, stays).
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key" | "api-key"
    ) || is_secret_key(&n)
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

/// `text` with the values of secret-looking JSON keys (`"password": "x"`,
/// also in a JSON text cut short) and form fields (`password=x&`) masked.
/// Works on any text, so on the start of a body too large to parse.
pub fn mask_keys_in_text(text: &str) -> std::borrow::Cow<'_, str> {
    static JSON: OnceLock<Regex> = OnceLock::new();
    static FORM: OnceLock<Regex> = OnceLock::new();
    let words = WORDS.join("|");
    let json = JSON.get_or_init(|| {
        Regex::new(&format!(
            r#"(?i)("[^"\\]*(?:{words})[^"\\]*"\s*:\s*)("(?:[^"\\]|\\.)*(?:"|\\?$)|-?[0-9][0-9.eE+-]*)"#
        ))
        .expect("valid")
    });
    let form = FORM.get_or_init(|| {
        Regex::new(&format!(
            r"(?i)((?:^|[?&\s])[A-Za-z0-9_.\-]*(?:{words})[A-Za-z0-9_.\-]*=)([^&\s]+)"
        ))
        .expect("valid")
    });
    let quoted = format!("\"{MASK}\"");
    let text = json.replace_all(text, |c: &regex::Captures| {
        let shown = if c[2].starts_with('"') {
            quoted.as_str()
        } else {
            MASK
        };
        format!("{}{shown}", &c[1])
    });
    match form.replace_all(&text, format!("${{1}}{MASK}")) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(o) => std::borrow::Cow::Owned(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_looking_fields_in_any_text_and_headers() {
        assert_eq!(
            mask_keys_in_text(
                r#"{"access_token":"abc.def","user":{"Password":"x\"1"},"n":1,"pin_secret":1234}"#
            ),
            r#"{"access_token":"***","user":{"Password":"***"},"n":1,"pin_secret":***}"#
        );
        assert_eq!(
            mask_keys_in_text(r#"{"refreshToken": "abcdef"#),
            r#"{"refreshToken": "***""#
        );
        assert_eq!(
            mask_keys_in_text("grant_type=password&password=p%40ss&client_secret=s3&scope=x"),
            "grant_type=password&password=***&client_secret=***&scope=x"
        );
        assert_eq!(mask_header("Authorization", "Bearer abc"), "Bearer ***");
        assert_eq!(
            mask_header("Accept", "application/json"),
            "application/json"
        );
    }
}
