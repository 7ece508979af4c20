//! What an output shows of a body or a value: masked whole, then cut; an
//! HTML page as its title and text; a binary body as a one-line summary.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as Json;

use super::keys::mask_keys_in_text;
use super::{Secrets, MASK};

/// How much of an HTML page is turned into text.
const HTML_READ: usize = 256 * 1024;

/// A body as failure messages, auth errors and verbose logs show it: a
/// summary when it is binary, the text of an HTML page, otherwise the text
/// with secret-looking fields and every registered secret masked; at most
/// `max_chars` characters.
pub fn body(
    secrets: &Secrets,
    body: &[u8],
    content_type: Option<&str>,
    max_chars: usize,
) -> String {
    if body.is_empty() {
        return String::new();
    }
    if is_binary(body, content_type) {
        return summary(body.len(), content_type);
    }
    let head = &body[..body.len().min(HTML_READ.max(max_chars * 4) + 64 * 1024)];
    let text = String::from_utf8_lossy(head);
    let html = is_html(&text, content_type);
    let limit = if html {
        HTML_READ
    } else {
        max_chars.saturating_mul(4)
    };
    // Masked first: turning HTML into text or cutting would change how a
    // secret is spelled, and then it would no longer be found.
    let (masked, truncated) = secrets.mask_prefix(&text, limit);
    let masked = mask_keys_in_text(&masked);
    let shown = if html {
        html_text(&masked)
    } else {
        masked.into_owned()
    };
    let shown_cut = super::cut(&shown, max_chars);
    if (truncated || head.len() < body.len()) && !shown_cut.ends_with('…') {
        shown_cut + "…"
    } else {
        shown_cut
    }
}

/// `<5,120 bytes, image/png>`
pub fn summary(len: usize, content_type: Option<&str>) -> String {
    let kind = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty())
        .unwrap_or("binary");
    format!("<{} bytes, {kind}>", thousands(len))
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether a body is no text to print on a terminal: a media type that
/// says so, bytes that are not UTF-8, or control characters text has not.
pub fn is_binary(body: &[u8], content_type: Option<&str>) -> bool {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let binary_type = ["image/", "audio/", "video/", "font/"]
        .iter()
        .any(|p| ct.starts_with(p))
        || [
            "application/octet-stream",
            "application/pdf",
            "application/zip",
            "application/gzip",
            "application/x-protobuf",
            "application/protobuf",
            "application/grpc",
        ]
        .iter()
        .any(|t| ct.starts_with(t));
    if binary_type && !ct.contains("svg") {
        return true;
    }
    let head = &body[..body.len().min(8192)];
    // A character cut by the 8 KiB window is still text.
    if matches!(std::str::from_utf8(head), Err(e) if e.error_len().is_some()) {
        return true;
    }
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    head.contains(&0) || controls * 20 > head.len()
}

fn is_html(text: &str, content_type: Option<&str>) -> bool {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("html") {
        return true;
    }
    let start = text
        .trim_start()
        .get(..15)
        .unwrap_or("")
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// The title and visible text of an HTML page, for a person to read:
/// scripts, styles and tags left out, entities decoded, spaces collapsed.
pub fn html_text(html: &str) -> String {
    static TITLE: OnceLock<Regex> = OnceLock::new();
    static HIDDEN: OnceLock<Regex> = OnceLock::new();
    static TAG: OnceLock<Regex> = OnceLock::new();
    let title_re =
        TITLE.get_or_init(|| Regex::new(r"(?is)<title[^>]*>(.*?)</title>").expect("valid"));
    let hidden = HIDDEN.get_or_init(|| {
        Regex::new(r"(?is)<(script|style|head|template|noscript)\b.*?</(script|style|head|template|noscript)\s*>|<!--.*?-->")
            .expect("valid")
    });
    let tag = TAG.get_or_init(|| Regex::new(r"(?s)<[^>]*>").expect("valid"));
    let clean = |s: &str| {
        unescape(&tag.replace_all(s, " "))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let title = title_re
        .captures(html)
        .map(|c| clean(&c[1]))
        .unwrap_or_default();
    let text = clean(&hidden.replace_all(html, " "));
    match (title.is_empty(), text.starts_with(&title)) {
        (true, _) | (false, true) => text,
        (false, false) if text.is_empty() => title,
        (false, false) => format!("{title} — {text}"),
    }
}

/// The usual HTML entities, as error and login pages use them.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

/// A value on one line, masked, at most 120 characters; `***` for a value
/// that sits under a secret-looking key (`hide`).
pub fn brief(secrets: &Secrets, value: &Json, hide: bool) -> String {
    if hide && !matches!(value, Json::Object(_) | Json::Array(_) | Json::Null) {
        return MASK.to_string();
    }
    secrets.excerpt(&secrets.mask_value(value).to_string(), 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_pages_are_shown_as_their_text() {
        let page = "<!DOCTYPE html><html><head><title>Login failed</title><style>p{color:red}</style></head><body><h1>Sorry</h1><p>Invalid username &amp; password</p><script>x()</script></body></html>";
        assert_eq!(
            body(&Secrets::new(), page.as_bytes(), Some("text/html"), 300),
            "Login failed — Sorry Invalid username & password"
        );
    }

    #[test]
    fn binary_bodies_are_summarised() {
        let png = [0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0xff, 0xfe];
        let mut big = png.to_vec();
        big.resize(5120, 0);
        assert_eq!(
            body(&Secrets::new(), &big, Some("image/png"), 300),
            "<5,120 bytes, image/png>"
        );
        assert_eq!(
            body(&Secrets::new(), &[0, 1, 2, 0xff], None, 300),
            "<4 bytes, binary>"
        );
        assert_eq!(
            body(&Secrets::new(), b"plain text", None, 300),
            "plain text"
        );
    }

    #[test]
    fn json_bodies_hide_secret_fields_and_long_ones_are_cut() {
        let s = Secrets::new();
        let shown = body(
            &s,
            br#"{"access_token":"abc","n":1}"#,
            Some("application/json"),
            300,
        );
        assert_eq!(shown, r#"{"access_token":"***","n":1}"#);
        let long = "y".repeat(500);
        assert_eq!(body(&s, long.as_bytes(), None, 10), "yyyyyyyyyy…");
    }
}
