//! Following redirects when a request asks for it, as curl `-L` does: 301,
//! 302 and 303 turn a POST into a GET without its body, 307 and 308 send
//! the same request again; when a hop leaves the first origin, the
//! `Authorization`, `Cookie` and auth token headers stay behind. Every hop
//! is kept for `--verbose` and the reports.

use std::time::Instant;

use reqwest::header::{HeaderName, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Method, StatusCode, Url};

use super::transfer::Limits;
use super::{exchange, ExecError};
use crate::exchange::{Exchange, Redirect};

/// The most hops `follow_redirects: true` and `--location` allow (curl's
/// own default).
pub const MAX_REDIRECTS: u32 = 50;

/// Sends `request`, then follows up to `max_hops` redirects within the
/// request's one `timeout`; `token_header` is the auth's header, dropped
/// with the credentials when a hop changes origin.
pub async fn send_following(
    client: &crate::execute::transfer::Client,
    request: reqwest::Request,
    limits: Limits,
    keep_request: bool,
    max_hops: u32,
    token_header: Option<&HeaderName>,
) -> Result<Exchange, ExecError> {
    let started = Instant::now();
    let origin = request.url().origin();
    let mut next = Some(request);
    let mut hops: Vec<Redirect> = Vec::new();
    loop {
        let request = next.take().expect("a request to send");
        let again = if (hops.len() as u32) < max_hops {
            request.try_clone()
        } else {
            None
        };
        let remaining = limits.timeout.saturating_sub(started.elapsed());
        let hop_limits = Limits {
            timeout: remaining,
            ..limits
        };
        let mut answer = exchange(client, request, hop_limits, keep_request).await?;
        let location = redirect_target(&answer);
        let (Some(location), Some(mut again)) = (location, again) else {
            answer.duration = started.elapsed();
            answer.redirects = hops;
            return Ok(answer);
        };
        let left_origin = location.origin() != origin;
        rewrite(&mut again, answer.status, location.clone());
        if left_origin {
            strip_credentials(&mut again, token_header);
        }
        hops.push(Redirect {
            status: answer.status.as_u16(),
            url: answer.url.clone(),
            location: location.to_string(),
            left_origin,
        });
        next = Some(again);
    }
}

/// Where a redirect answer points, if it is one and says where.
fn redirect_target(answer: &Exchange) -> Option<Url> {
    if !matches!(answer.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = answer.headers.get(LOCATION)?.to_str().ok()?;
    Url::parse(&answer.url).ok()?.join(location).ok()
}

/// The next hop's request: the new URL, and a GET without a body where
/// the status says so (a POST after 301/302, anything after 303).
fn rewrite(request: &mut reqwest::Request, status: StatusCode, to: Url) {
    *request.url_mut() = to;
    // RFC 9110: 301 and 302 turn a POST into a GET; 303 anything but
    // GET and HEAD.
    let becomes_get = match status.as_u16() {
        301 | 302 => *request.method() == Method::POST,
        303 => *request.method() != Method::GET && *request.method() != Method::HEAD,
        _ => false,
    };
    if becomes_get {
        *request.method_mut() = Method::GET;
        *request.body_mut() = None;
        request.headers_mut().remove(CONTENT_TYPE);
        request.headers_mut().remove(CONTENT_LENGTH);
    }
}

/// Another origin gets neither the credentials nor the cookie header of
/// the first one (the cookie jar keeps each origin's own cookies).
fn strip_credentials(request: &mut reqwest::Request, token_header: Option<&HeaderName>) {
    let headers = request.headers_mut();
    headers.remove(AUTHORIZATION);
    headers.remove(COOKIE);
    headers.remove(reqwest::header::PROXY_AUTHORIZATION);
    if let Some(name) = token_header {
        headers.remove(name);
    }
    // Any header named like a credential (`X-Api-Key`, `X-Auth-Token`).
    let secret: Vec<_> = headers
        .keys()
        .filter(|k| crate::secrets::is_secret_header(k.as_str()))
        .cloned()
        .collect();
    for name in secret {
        headers.remove(name);
    }
}
