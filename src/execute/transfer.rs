//! One HTTP exchange within its limits: the whole of it (connecting,
//! sending, the headers, the last byte of the body) within one deadline,
//! and the body read as a stream under a cap, after decompression, so that
//! a silent, trickling, endless or huge answer, or a compression bomb, is a
//! clear failure in bounded time and memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::Url;
use reqwest::{StatusCode, Version};
use tokio::time::{timeout_at, Instant};

use crate::load::{format_duration, format_size};

/// The cookies of a collection's clients, kept as a browser keeps them
/// (cookie_store, which reqwest's own jar wraps).
#[derive(Default)]
pub struct Jar(std::sync::Mutex<cookie_store::CookieStore>);

impl Jar {
    fn store(&self) -> std::sync::MutexGuard<'_, cookie_store::CookieStore> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Cookie header a request to `url` sends, if any.
    fn header(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.store();
        let mut pairs = store.get_request_values(url);
        let (name, value) = pairs.next()?;
        let mut text = format!("{name}={value}");
        for (name, value) in pairs {
            text.push_str("; ");
            text.push_str(name);
            text.push('=');
            text.push_str(value);
        }
        HeaderValue::from_str(&text).ok()
    }

    /// Keeps the cookies a response from `url` sets.
    fn keep(&self, headers: &HeaderMap, url: &Url) {
        let mut set = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .filter_map(|v| cookie_store::RawCookie::parse(v.to_owned()).ok())
            .peekable();
        if set.peek().is_some() {
            self.store().store_response_cookies(set, url);
        }
    }
}

/// An HTTP client and the cookie jar it sends from and keeps into. The jar
/// is ours, not reqwest's "cookies" feature: its layer parses every
/// request's URL again (about 6,000 instructions a request) to find what
/// [`reqwest::Request::url`] already holds.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    jar: Arc<Jar>,
}

impl Client {
    /// `http` (built without a cookie store) keeping its cookies in `jar`.
    pub fn new(http: reqwest::Client, jar: Arc<Jar>) -> Client {
        Client { http, jar }
    }
}

impl std::ops::Deref for Client {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        &self.http
    }
}

/// How long an exchange may take and how large a body it may read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole exchange, from connecting to the last byte of the body.
    pub timeout: Duration,
    /// The largest body read, in bytes, after decompression.
    pub max_body: u64,
    /// How long connecting may take, if less than `timeout`.
    pub connect_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: super::DEFAULT_TIMEOUT,
            max_body: crate::load::DEFAULT_MAX_BODY,
            connect_timeout: None,
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Fetched {
    /// The response's status.
    pub status: StatusCode,
    /// The HTTP version it came in.
    pub version: Version,
    /// The response's headers.
    pub headers: HeaderMap,
    /// The body, decompressed.
    pub body: Bytes,
}

/// Why an exchange did not complete.
#[derive(Debug)]
pub enum TransferError {
    /// The deadline passed; the duration is the timeout.
    Timeout(Duration),
    /// No connection within `connect_timeout`.
    ConnectTimeout(Duration),
    /// The body is larger than `max_body`.
    TooLarge {
        /// The cap, in bytes.
        max_body: u64,
        /// The size `Content-Length` announced; `None` when the body went
        /// over as it came.
        announced: Option<u64>,
    },
    /// The connection or the HTTP exchange failed.
    Http(reqwest::Error),
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferError::Timeout(t) => write!(
                f,
                "timed out after {} (the `timeout` of the whole request)",
                format_duration(*t)
            ),
            TransferError::ConnectTimeout(t) => write!(
                f,
                "could not connect within {} (`connect_timeout`)",
                format_duration(*t)
            ),
            TransferError::TooLarge {
                max_body,
                announced,
            } => {
                let size = match announced {
                    Some(n) => format!("announced as {} bytes", n),
                    None => "still coming".to_string(),
                };
                write!(
                    f,
                    "the response body is larger than the {} cap ({size}); raise `max_body` in `defaults` or on the request if that is right",
                    format_size(*max_body)
                )
            }
            TransferError::Http(e) => f.write_str(&super::describe_reqwest_error(e)),
        }
    }
}

fn http_error(e: reqwest::Error, limits: Limits) -> TransferError {
    if let (true, true, Some(limit)) = (e.is_connect(), e.is_timeout(), limits.connect_timeout) {
        TransferError::ConnectTimeout(limit)
    } else if e.is_timeout() {
        TransferError::Timeout(limits.timeout)
    } else {
        TransferError::Http(e)
    }
}

/// Sends `request` and reads the whole response within `limits`.
pub async fn fetch(
    client: &Client,
    mut request: reqwest::Request,
    limits: Limits,
) -> Result<Fetched, TransferError> {
    let deadline = Instant::now() + limits.timeout;
    let timeout = || TransferError::Timeout(limits.timeout);
    // As a browser and reqwest's cookie layer do: a Cookie header the
    // request sets itself wins over the jar.
    if !request.headers().contains_key(COOKIE) {
        if let Some(cookies) = client.jar.header(request.url()) {
            request.headers_mut().insert(COOKIE, cookies);
        }
    }
    let mut response = timeout_at(deadline, client.http.execute(request))
        .await
        .map_err(|_| timeout())?
        .map_err(|e| http_error(e, limits))?;
    client.jar.keep(response.headers(), response.url());
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limits.max_body) {
        return Err(TransferError::TooLarge {
            max_body: limits.max_body,
            announced,
        });
    }
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let chunk = timeout_at(deadline, response.chunk())
            .await
            .map_err(|_| timeout())?
            .map_err(|e| http_error(e, limits))?;
        let Some(chunk) = chunk else { break };
        total += chunk.len() as u64;
        if total > limits.max_body {
            return Err(TransferError::TooLarge {
                max_body: limits.max_body,
                announced: None,
            });
        }
        chunks.push(chunk);
    }
    Ok(Fetched {
        status: response.status(),
        version: response.version(),
        headers: std::mem::take(response.headers_mut()),
        body: join(chunks, total as usize),
    })
}

fn join(mut chunks: Vec<Bytes>, total: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().expect("one chunk");
    }
    let mut body = Vec::with_capacity(total);
    for c in chunks {
        body.extend_from_slice(&c);
    }
    Bytes::from(body)
}
