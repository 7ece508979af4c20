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

use super::wire::{self, Wire, WireError};
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
    /// Where plain `http://` requests go instead of `http`, if they may.
    wire: Option<Arc<Wire>>,
}

impl Client {
    /// `http` (built without a cookie store) keeping its cookies in `jar`.
    pub fn new(http: reqwest::Client, jar: Arc<Jar>) -> Client {
        Client {
            http,
            jar,
            wire: None,
        }
    }

    /// This client sending its plain `http://` requests over `wire`: for
    /// a client with no proxy for them and no HTTP/2 without TLS.
    pub fn with_wire(self, wire: Arc<Wire>) -> Client {
        Client {
            wire: Some(wire),
            ..self
        }
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
    /// The same, over the wire.
    Wire(WireError),
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
            TransferError::Wire(e) => e.fmt(f),
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
    // As a browser and reqwest's cookie layer do: a Cookie header the
    // request sets itself wins over the jar.
    if !request.headers().contains_key(COOKIE) {
        if let Some(cookies) = client.jar.header(request.url()) {
            request.headers_mut().insert(COOKIE, cookies);
        }
    }
    let (mut head, mut body) = timeout_at(deadline, open(client, request, limits))
        .await
        .map_err(|_| TransferError::Timeout(limits.timeout))??;
    let announced = body.announced(&head.headers);
    if announced.is_some_and(|n| n > limits.max_body) {
        return Err(TransferError::TooLarge {
            max_body: limits.max_body,
            announced,
        });
    }
    let mut bytes = read_all(&mut body, deadline, limits).await?;
    if let Body::Wire(_, lease) = &mut body {
        if let (Some(wire), Some(lease)) = (&client.wire, lease.take()) {
            wire.release(lease);
        }
        bytes = wire::decode(&mut head.headers, bytes, limits.max_body).map_err(|e| match e {
            wire::DecodeError::TooLarge => too_large(limits),
            wire::DecodeError::Invalid(e) => TransferError::Wire(e),
        })?;
    }
    Ok(Fetched {
        status: head.status,
        version: head.version,
        headers: head.headers,
        body: bytes,
    })
}

fn too_large(limits: Limits) -> TransferError {
    TransferError::TooLarge {
        max_body: limits.max_body,
        announced: None,
    }
}

/// The whole of `body`, by `deadline` and within `max_body`.
async fn read_all(
    body: &mut Body,
    deadline: Instant,
    limits: Limits,
) -> Result<Bytes, TransferError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let chunk = timeout_at(deadline, body.chunk(limits))
            .await
            .map_err(|_| TransferError::Timeout(limits.timeout))??;
        let Some(chunk) = chunk else { break };
        total += chunk.len() as u64;
        if total > limits.max_body {
            return Err(too_large(limits));
        }
        chunks.push(chunk);
    }
    Ok(join(chunks, total as usize))
}

/// A response's status line and headers.
struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
}

/// A response's body as it comes.
enum Body {
    /// From reqwest, decoded as it comes.
    Reqwest(reqwest::Response),
    /// Over the wire, as sent, with its connection until it is read.
    Wire(hyper::body::Incoming, Option<wire::Lease>),
}

impl Body {
    /// The body's size as its headers announce it, if they do.
    fn announced(&self, head: &HeaderMap) -> Option<u64> {
        match self {
            Body::Reqwest(response) => response.content_length(),
            // The encoded size: the cap is on the decoded body, and the
            // encoded one is held to it as it comes.
            Body::Wire(_, _) if wire::encoded(head) => None,
            Body::Wire(incoming, _) => hyper::body::Body::size_hint(incoming).exact(),
        }
    }

    /// The next piece of the body, `None` at its end.
    async fn chunk(&mut self, limits: Limits) -> Result<Option<Bytes>, TransferError> {
        match self {
            Body::Reqwest(response) => response.chunk().await.map_err(|e| http_error(e, limits)),
            Body::Wire(incoming, _) => loop {
                use http_body_util::BodyExt;
                let Some(frame) = incoming.frame().await else {
                    return Ok(None);
                };
                let frame = frame.map_err(|e| TransferError::Wire(WireError::Body(e.into())))?;
                // Trailers are not kept, as reqwest does not keep them.
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            },
        }
    }
}

/// Sends `request` and keeps the cookies its response sets.
async fn open(
    client: &Client,
    mut request: reqwest::Request,
    limits: Limits,
) -> Result<(Head, Body), TransferError> {
    if let Some(wire) = client
        .wire
        .as_deref()
        .filter(|_| Wire::takes(request.url()))
    {
        let (response, lease) = wire.send(&mut request).await.map_err(|e| match e {
            WireError::ConnectTimeout(limit) => TransferError::ConnectTimeout(limit),
            other => TransferError::Wire(other),
        })?;
        let (parts, incoming) = response.into_parts();
        client.jar.keep(&parts.headers, request.url());
        let head = Head {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
        };
        return Ok((head, Body::Wire(incoming, Some(lease))));
    }
    let mut response = client
        .http
        .execute(request)
        .await
        .map_err(|e| http_error(e, limits))?;
    client.jar.keep(response.headers(), response.url());
    let head = Head {
        status: response.status(),
        version: response.version(),
        headers: std::mem::take(response.headers_mut()),
    };
    Ok((head, Body::Reqwest(response)))
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
