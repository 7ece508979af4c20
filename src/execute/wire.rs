//! Plain HTTP/1.1 without a proxy, sent over hyper's own connection from a
//! pool of ours. reqwest's client stack around the same hyper connection
//! (its redirect, retry and decompression layers, hyper-util's pool, two
//! more parses of each URL) cost about 35,000 instructions a request, a
//! third of a run against a local server, the most common place a test
//! suite runs. TLS, proxies and HTTP/2 stay with reqwest.
//!
//! Everything else is as reqwest 0.12 does it: connections are made by
//! hyper-util's connector with reqwest's settings (Happy Eyeballs, TCP
//! keepalive, the connect timeout), reused for 90 seconds at most, and
//! given back only once ready for another request; the request gets
//! `Host`, `User-Agent`, `Accept: */*` and `Accept-Encoding` where it
//! does not set them; the body is decoded as tower-http decodes it for
//! reqwest ([`decode`]).

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, HOST,
    USER_AGENT,
};
use http::Method;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::Url;
use tower_service::Service;

type Sender = SendRequest<reqwest::Body>;

/// The encodings a response may come in, as reqwest asks for them.
const ENCODINGS: &str = "zstd,gzip,deflate,br";

/// How many idle connections a client keeps, over all hosts.
const MAX_IDLE: usize = 16;

/// How long an idle connection is kept (reqwest's `pool_idle_timeout`).
const IDLE_FOR: Duration = Duration::from_secs(90);

/// Where a connection goes.
#[derive(Clone, PartialEq, Eq)]
struct Origin {
    host: url::Host<String>,
    port: u16,
}

/// An open connection ready for a request, and since when it is idle.
struct Idle {
    origin: Origin,
    sender: Sender,
    since: Instant,
}

/// Plain HTTP/1.1 connections to any host, kept open between requests.
pub struct Wire {
    idle: Arc<Mutex<Vec<Idle>>>,
    connector: HttpConnector,
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
    /// No connection within the connect timeout, which it names.
    ConnectTimeout(Duration),
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
            WireError::ConnectTimeout(_) => f.write_str("could not connect: timed out"),
            WireError::Connect(e) => {
                write!(f, "could not connect: {}", super::root_cause(e.as_ref()))
            }
            WireError::Exchange(e) => f.write_str(&super::root_cause(e.as_ref())),
            WireError::Body(e) => {
                write!(
                    f,
                    "could not read the response body: {}",
                    super::root_cause(e.as_ref())
                )
            }
        }
    }
}

/// The first I/O error in `e`'s chain of causes.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = c.source();
    }
    None
}

impl Wire {
    /// A pool whose connections are made within `connect_timeout`, if set.
    pub fn new(connect_timeout: Option<Duration>) -> Arc<Wire> {
        // reqwest's defaults for its connector.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(connect_timeout);
        connector.set_keepalive(Some(Duration::from_secs(15)));
        connector.set_keepalive_interval(Some(Duration::from_secs(15)));
        connector.set_keepalive_retries(Some(3));
        // As reqwest: only where the option exists.
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        connector.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        Arc::new(Wire {
            idle: Arc::default(),
            connector,
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
        let mut message = message(request)?;
        // A kept connection the server has closed meanwhile either fails
        // before anything is sent, and hyper hands the request back, or
        // dies under it: then an idempotent request, which RFC 9110 lets a
        // client send again, goes on the next connection.
        while let Some(mut sender) = self.idle_to(&origin) {
            let copy = idempotent(message.method())
                .then(|| replayable(&message))
                .flatten();
            match sender.try_send_request(message).await {
                Ok(response) => return Ok((response, Lease { origin, sender })),
                Err(mut e) => match (e.take_message(), copy) {
                    (Some(back), _) => message = back,
                    // Sent again once, as curl does, on a new connection.
                    (None, Some(copy)) if died(e.error()) => {
                        message = copy;
                        break;
                    }
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

    /// Keeps `lease`'s connection for the next request to its host, once
    /// it is ready for one: a connection still sending a request body the
    /// server answered early is kept only when that is done.
    pub fn release(&self, lease: Lease) {
        let Lease { origin, mut sender } = lease;
        if sender.is_ready() {
            return keep(&self.idle, origin, sender);
        }
        let idle = self.idle.clone();
        tokio::spawn(async move {
            let ready = tokio::time::timeout(IDLE_FOR, sender.ready()).await;
            if matches!(ready, Ok(Ok(()))) {
                keep(&idle, origin, sender);
            }
        });
    }

    /// The most recently kept connection to `origin` still open.
    fn idle_to(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|i| i.sender.is_ready() && i.since.elapsed() < IDLE_FOR);
        let at = idle.iter().rposition(|i| i.origin == *origin)?;
        Some(idle.remove(at).sender)
    }

    async fn connect(&self, origin: &Origin) -> Result<Sender, WireError> {
        let port = origin.port;
        let uri = http::Uri::try_from(format!("http://{}:{port}/", origin.host))
            .map_err(|e| WireError::Connect(e.into()))?;
        let connecting = self.connector.clone().call(uri);
        // The connector bounds each address it tries; as reqwest, the
        // limit also covers the name lookup and all the tries together.
        let connected = match self.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, connecting)
                .await
                .map_err(|_| WireError::ConnectTimeout(limit))?,
            None => connecting.await,
        };
        let stream = connected.map_err(|e| match (io_kind(&e), self.connect_timeout) {
            (Some(std::io::ErrorKind::TimedOut), Some(limit)) => WireError::ConnectTimeout(limit),
            _ => WireError::Connect(e.into()),
        })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(stream)
            .await
            .map_err(|e| WireError::Connect(e.into()))?;
        // The connection's errors reach the request that meets them.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

fn keep(idle: &Mutex<Vec<Idle>>, origin: Origin, sender: Sender) {
    let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
    idle.retain(|i| i.since.elapsed() < IDLE_FOR);
    if idle.len() == MAX_IDLE {
        idle.remove(0);
    }
    idle.push(Idle {
        origin,
        sender,
        since: Instant::now(),
    });
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
fn message(request: &mut reqwest::Request) -> Result<http::Request<reqwest::Body>, WireError> {
    let url = request.url();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    // http refuses a target of 64 KiB or more, as reqwest then does.
    let target = http::Uri::try_from(target).map_err(|e| WireError::Exchange(e.into()))?;
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
    headers
        .entry(ACCEPT_ENCODING)
        .or_insert(HeaderValue::from_static(ENCODINGS));
    let body = request.body_mut().take().unwrap_or_default();
    let mut message = http::Request::new(body);
    *message.method_mut() = request.method().clone();
    *message.uri_mut() = target;
    *message.headers_mut() = headers;
    Ok(message)
}

/// Whether RFC 9110 (9.2.2) lets a client send `method` again by itself.
fn idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
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
    match io_kind(e) {
        Some(kind) => matches!(
            kind,
            BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
        ),
        None => e.is_incomplete_message() || e.is_canceled(),
    }
}

/// Why a body could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// Decoded, it is larger than the cap.
    TooLarge,
    /// It is not in the encoding its header names.
    Invalid(WireError),
}

/// An encoding reqwest decodes.
enum Codec {
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Codec {
    /// The codec a `Content-Encoding` names, by tower-http's test for
    /// reqwest: the header's exact bytes.
    fn of(headers: &HeaderMap) -> Option<Codec> {
        Some(match headers.get(CONTENT_ENCODING)?.as_bytes() {
            b"gzip" => Codec::Gzip,
            b"deflate" => Codec::Deflate,
            b"br" => Codec::Br,
            b"zstd" => Codec::Zstd,
            _ => return None,
        })
    }

    fn reader<'a>(&self, raw: &'a [u8]) -> std::io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Codec::Gzip => Box::new(flate2::read::GzDecoder::new(raw)),
            Codec::Deflate => Box::new(flate2::read::ZlibDecoder::new(raw)),
            Codec::Br => Box::new(brotli::Decompressor::new(raw, 4096)),
            // One frame, as tower-http's decoder (and one gzip member).
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?.single_frame()),
        })
    }
}

/// Whether a response with `headers` comes encoded, to be decoded.
pub fn encoded(headers: &HeaderMap) -> bool {
    Codec::of(headers).is_some()
}

/// `body` decoded as its `Content-Encoding` (gzip, deflate, br or zstd)
/// says, within `max_body` bytes; as reqwest does, the header then goes,
/// with `Content-Length`, which no longer describes the body (even when
/// there is none, as for HEAD).
pub fn decode(headers: &mut HeaderMap, body: Bytes, max_body: u64) -> Result<Bytes, DecodeError> {
    let Some(codec) = Codec::of(headers) else {
        return Ok(body);
    };
    headers.remove(CONTENT_ENCODING);
    headers.remove(CONTENT_LENGTH);
    if body.is_empty() {
        return Ok(body);
    }
    let invalid = |e: std::io::Error| DecodeError::Invalid(WireError::Body(e.into()));
    read_capped(codec.reader(&body).map_err(invalid)?, max_body).map_err(|e| match e {
        Some(e) => invalid(e),
        None => DecodeError::TooLarge,
    })
}

/// All of `reader` if it is at most `max` bytes; `Err(None)` past that.
/// Read in pieces and joined once, so that a body near the cap takes
/// twice its size beside the encoded body, and one past it no more than
/// the cap.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    fn headers(encoding: &'static str, length: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        h.insert(CONTENT_LENGTH, HeaderValue::from(length));
        h
    }

    #[test]
    fn a_decoded_body_loses_its_encoding_and_length_headers() {
        let body = gzip(b"{\"n\": 42}");
        let mut h = headers("gzip", body.len());
        let decoded = decode(&mut h, body, 1000).unwrap();
        assert_eq!(&decoded[..], b"{\"n\": 42}");
        assert!(h.get(CONTENT_ENCODING).is_none() && h.get(CONTENT_LENGTH).is_none());
    }

    #[test]
    fn an_empty_encoded_body_loses_them_too_as_with_reqwest() {
        let mut h = headers("br", 120);
        assert!(decode(&mut h, Bytes::new(), 1000).unwrap().is_empty());
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn an_encoding_reqwest_does_not_decode_is_left_as_it_came() {
        for name in ["compress", "GZIP", "gzip, br", "identity"] {
            let mut h = headers(name, 3);
            let body = decode(&mut h, Bytes::from_static(b"abc"), 1000).unwrap();
            assert_eq!(&body[..], b"abc");
            assert_eq!(h.len(), 2, "{name}: headers kept");
        }
    }

    #[test]
    fn a_body_not_in_its_encoding_is_an_error_naming_the_body() {
        let mut h = headers("gzip", 3);
        let Err(DecodeError::Invalid(e)) = decode(&mut h, Bytes::from_static(b"abc"), 1000) else {
            panic!("not an error");
        };
        assert!(
            e.to_string()
                .starts_with("could not read the response body: "),
            "{e}"
        );
    }

    #[test]
    fn a_decoded_body_over_the_cap_is_too_large_and_one_at_it_is_not() {
        let data = vec![b'x'; 200_000];
        let body = gzip(&data);
        let mut h = headers("gzip", body.len());
        assert!(matches!(
            decode(&mut h, body.clone(), 199_999),
            Err(DecodeError::TooLarge)
        ));
        let mut h = headers("gzip", body.len());
        assert_eq!(decode(&mut h, body, 200_000).unwrap().len(), 200_000);
    }

    #[test]
    fn only_idempotent_methods_are_sent_again() {
        for m in [Method::GET, Method::PUT, Method::DELETE, Method::HEAD] {
            assert!(idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!idempotent(&m), "{m}");
        }
    }
}
