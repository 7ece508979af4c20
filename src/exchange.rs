//! An HTTP exchange as data: the request as it was sent and the response as
//! it came. A leaf below the stages: `execute` makes exchanges, `check`
//! and `run` read them, none of them need the others for it.

use std::time::Duration;

use http::header::{HeaderMap, CONTENT_TYPE};
use http::{Method, StatusCode};

/// The request as it was sent and the response as it came.
#[derive(Debug)]
pub struct Exchange {
    /// The HTTP method.
    pub method: Method,
    /// The URL as sent.
    pub url: String,
    /// As sent (for verbose output and reports, masked there).
    pub request_headers: HeaderMap,
    /// The body as sent, if there was one.
    pub request_body: Option<bytes::Bytes>,
    /// The response's status.
    pub status: StatusCode,
    /// The HTTP version the response came in.
    pub version: http::Version,
    /// The response's headers.
    pub headers: HeaderMap,
    /// The response's body.
    pub body: bytes::Bytes,
    /// From sending the request to the last byte of the body.
    pub duration: Duration,
    /// The redirects followed to get here, in order (none unless asked for).
    pub redirects: Vec<Redirect>,
}

/// One redirect followed.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// The redirect's status (301, 302, 303, 307, 308).
    pub status: u16,
    /// The URL that answered it.
    pub url: String,
    /// Where it pointed.
    pub location: String,
    /// Whether it left the first origin, so credentials stayed behind.
    pub left_origin: bool,
}

impl Exchange {
    /// The body as text, invalid UTF-8 replaced.
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The response's content type, if it says one.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }
}

/// `1.1`, `2`, as users write versions.
pub fn version_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "?",
    }
}
