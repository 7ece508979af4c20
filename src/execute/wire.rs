//! Plain HTTP/1.1 without a proxy, sent over hyper's own connection from a
//! pool of ours. reqwest's client stack around the same hyper connection
//! (its redirect, retry and decompression layers, hyper-util's pool, two
//! more parses of each URL) cost about 35,000 instructions a request, a
//! third of a run against a local server, the most common place a test
//! suite runs. TLS, proxies and HTTP/2 stay with reqwest.
//!
//! What reqwest adds to a request is added here too: `Host`, `User-Agent`,
//! `Accept: */*` and `Accept-Encoding`, each only where the request does
//! not set it; the body is decoded as reqwest decodes it ([`decode`]).

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, HOST, RANGE,
    USER_AGENT,
};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpStream;

type Sender = SendRequest<reqwest::Body>;

/// The encodings a response may come in, as reqwest asks for them.
const ENCODINGS: &str = "gzip, deflate, br, zstd";

/// How many idle connections a client keeps, over all hosts.
const MAX_IDLE: usize = 16;

/// Where a connection goes.
#[derive(Clone, PartialEq, Eq)]
struct Origin {
    host: url::Host<String>,
    port: u16,
}

/// Plain HTTP/1.1 connections to any host, kept open between requests.
pub struct Wire {
    idle: Mutex<Vec<(Origin, Sender)>>,
    connect_timeout: Option<Duration>,
}

/// A connection in use; given back with [`Wire::release`] once its
/// response is read whole, or closed when dropped.
pub struct Lease {
    origin: Origin,
    sender: Sender,
}

/// Why a request over the wire failed.
#[derive(Debug)]
pub enum WireError {
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// The connection could not be made.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The exchange failed once connected.
    Exchange(Box<dyn std::error::Error + Send + Sync>),
    /// The body could not be read or decoded.
    Body(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As `describe_reqwest_error` words reqwest's: the root cause, which
        // names the refused connection or the closed socket.
        match self {
            WireError::ConnectTimeout => f.write_str("could not connect: timed out"),
            WireError::Connect(e) => write!(f, "could not connect: {}", root(e.as_ref())),
            WireError::Exchange(e) => f.write_str(&root(e.as_ref())),
            WireError::Body(e) => {
                write!(f, "could not read the response body: {}", root(e.as_ref()))
            }
        }
    }
}

fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut root = e;
    while let Some(next) = root.source() {
        root = next;
    }
    root.to_string()
}

impl Wire {
    /// A pool whose connections are made within `connect_timeout`, if set.
    pub fn new(connect_timeout: Option<Duration>) -> Arc<Wire> {
        Arc::new(Wire {
            idle: Mutex::new(Vec::new()),
            connect_timeout,
        })
    }

    /// Whether a request to `url` goes over the wire.
    pub fn takes(url: &Url) -> bool {
        url.scheme() == "http" && url.host().is_some()
    }

    /// Sends `request`, taking its method, headers and body (its URL stays),
    /// and returns the response's head with the connection it came on.
    pub async fn send(
        &self,
        request: &mut reqwest::Request,
    ) -> Result<(http::Response<hyper::body::Incoming>, Lease), WireError> {
        let origin = Origin::of(request.url());
        let mut message = message(request);
        // A kept connection the server has closed meanwhile either fails
        // before anything is sent, and hyper hands the request back, or
        // dies under it: then, as curl does, the request is sent again on
        // the next connection (when its body can be sent again).
        while let Some(mut sender) = self.idle_to(&origin) {
            if sender.ready().await.is_err() {
                continue;
            }
            let copy = replayable(&message);
            match sender.try_send_request(message).await {
                Ok(response) => return Ok((response, Lease { origin, sender })),
                Err(mut e) => match (e.take_message(), copy) {
                    (Some(back), _) => message = back,
                    (None, Some(copy)) if died(e.error()) => message = copy,
                    _ => return Err(WireError::Exchange(e.into_error().into())),
                },
            }
        }
        let mut sender = self.connect(&origin).await?;
        let response = sender
            .send_request(message)
            .await
            .map_err(|e| WireError::Exchange(e.into()))?;
        Ok((response, Lease { origin, sender }))
    }

    /// Keeps `lease`'s connection for the next request to its host.
    pub fn release(&self, lease: Lease) {
        if lease.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() == MAX_IDLE {
            idle.remove(0);
        }
        idle.push((lease.origin, lease.sender));
    }

    /// The most recently kept open connection to `origin`.
    fn idle_to(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, s)| !s.is_closed());
        let at = idle.iter().rposition(|(o, _)| o == origin)?;
        Some(idle.remove(at).1)
    }

    async fn connect(&self, origin: &Origin) -> Result<Sender, WireError> {
        let tcp = async {
            let stream = match &origin.host {
                url::Host::Domain(name) => TcpStream::connect((name.as_str(), origin.port)).await,
                url::Host::Ipv4(ip) => TcpStream::connect((*ip, origin.port)).await,
                url::Host::Ipv6(ip) => TcpStream::connect((*ip, origin.port)).await,
            }?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        let stream = match self.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, tcp)
                .await
                .map_err(|_| WireError::ConnectTimeout)?,
            None => tcp.await,
        }
        .map_err(|e| WireError::Connect(e.into()))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| WireError::Connect(e.into()))?;
        // The connection's errors reach the request that meets them.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

impl Origin {
    fn of(url: &Url) -> Origin {
        Origin {
            host: url
                .host()
                .map(|h| h.to_owned())
                .expect("Wire::takes checks the host"),
            port: url.port_or_known_default().unwrap_or(80),
        }
    }
}

/// The HTTP/1.1 message for `request`, in origin form, with the headers
/// reqwest would add.
fn message(request: &mut reqwest::Request) -> http::Request<reqwest::Body> {
    let url = request.url();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut headers = std::mem::take(request.headers_mut());
    if let Ok(host) = HeaderValue::try_from(host) {
        headers.entry(HOST).or_insert(host);
    }
    headers
        .entry(USER_AGENT)
        .or_insert(HeaderValue::from_static(concat!(
            "reqtest/",
            env!("CARGO_PKG_VERSION")
        )));
    headers
        .entry(ACCEPT)
        .or_insert(HeaderValue::from_static("*/*"));
    if !headers.contains_key(RANGE) {
        headers
            .entry(ACCEPT_ENCODING)
            .or_insert(HeaderValue::from_static(ENCODINGS));
    }
    let body = request.body_mut().take().unwrap_or_default();
    let mut message = http::Request::new(body);
    *message.method_mut() = request.method().clone();
    // A path and query from a parsed URL are always a valid target.
    *message.uri_mut() = http::Uri::try_from(target).unwrap_or_default();
    *message.headers_mut() = headers;
    message
}

/// A copy of `message` to send again, unless its body is a stream.
fn replayable(message: &http::Request<reqwest::Body>) -> Option<http::Request<reqwest::Body>> {
    let body = message.body().as_bytes()?;
    let mut copy = http::Request::new(reqwest::Body::from(Bytes::copy_from_slice(body)));
    *copy.method_mut() = message.method().clone();
    *copy.uri_mut() = message.uri().clone();
    *copy.headers_mut() = message.headers().clone();
    Some(copy)
}

/// Whether `e` says the connection was gone, rather than that the server
/// answered something wrong.
fn died(e: &hyper::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
            );
        }
        cause = c.source();
    }
    e.is_incomplete_message() || e.is_canceled()
}

/// Why a body could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// Decoded, it is larger than the cap.
    TooLarge,
    /// It is not in the encoding its header names.
    Invalid(WireError),
}

/// `body` decoded as its `Content-Encoding` (gzip, deflate, br or zstd)
/// says, within `max_body` bytes; as reqwest does, the header then goes,
/// with `Content-Length`, which no longer describes the body.
pub fn decode(headers: &mut HeaderMap, body: Bytes, max_body: u64) -> Result<Bytes, DecodeError> {
    let Some(encoding) = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return Ok(body);
    };
    if body.is_empty() {
        // A HEAD or 304 answer: its headers describe the body not sent.
        return Ok(body);
    }
    let raw = &body[..];
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(raw)),
        "br" => Box::new(brotli::Decompressor::new(raw, 4096)),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| DecodeError::Invalid(WireError::Body(e.into())))?,
        ),
        _ => return Ok(body),
    };
    headers.remove(CONTENT_ENCODING);
    headers.remove(CONTENT_LENGTH);
    read_capped(reader, max_body).map_err(|e| match e {
        Some(e) => DecodeError::Invalid(WireError::Body(e.into())),
        None => DecodeError::TooLarge,
    })
}

/// All of `reader` if it is at most `max` bytes; `Err(None)` past that.
/// Read in pieces and joined once, so that a body near the cap takes no
/// more than twice its size, and one past it no more than the cap.
fn read_capped(mut reader: impl Read, max: u64) -> Result<Bytes, Option<std::io::Error>> {
    const PIECE: usize = 64 * 1024;
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let mut piece = Vec::with_capacity(PIECE);
        let read = (&mut reader)
            .take(PIECE as u64)
            .read_to_end(&mut piece)
            .map_err(Some)?;
        total += read as u64;
        if total > max {
            return Err(None);
        }
        if read == 0 {
            break;
        }
        pieces.push(piece);
    }
    if pieces.len() == 1 {
        return Ok(Bytes::from(pieces.pop().expect("one piece")));
    }
    Ok(Bytes::from(pieces.concat()))
}
