//! Execute stage: renders a request's templates, sends it over the
//! collection's client and returns what came back, timed.

use std::path::Path;
use std::time::{Duration, Instant};

use minijinja::Value;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::load::{Body, PartKind, Pos, Request};
use crate::resolve::{PlannedCollection, RenderError, Templates};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    Render(#[from] RenderError),
    #[error("{at}: {message}")]
    Build { at: Pos, message: String },
    #[error("{method} {url}: {cause}")]
    Send {
        method: String,
        url: String,
        cause: String,
    },
}

/// The request as it was sent and the response as it came.
#[derive(Debug)]
pub struct Exchange {
    pub method: reqwest::Method,
    pub url: String,
    pub status: reqwest::StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    /// From sending the request to the last byte of the body.
    pub duration: Duration,
}

impl Exchange {
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// One client per collection: its connections are kept alive and its
/// cookies kept between the collection's requests. Redirects are not
/// followed, so a test sees the 30x it was answered.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .user_agent(concat!("reqtest/", env!("CARGO_PKG_VERSION")))
        .build()
}

pub async fn send(
    client: &reqwest::Client,
    templates: &Templates,
    planned: &PlannedCollection,
    index: usize,
    ctx: &Value,
) -> Result<Exchange, ExecError> {
    let collection = &planned.collection;
    let request = &collection.requests[index];
    let plan = &planned.requests[index];
    let defaults = &collection.defaults;

    let url = absolute_url(templates, planned, request, ctx)?;
    let mut url = reqwest::Url::parse(&url).map_err(|e| ExecError::Build {
        at: request.url.at.clone(),
        message: format!("`{url}` is not a valid URL: {e}"),
    })?;
    let query = plan
        .default_query
        .iter()
        .map(|&i| &defaults.query[i])
        .chain(&request.query);
    let mut rendered_query = Vec::new();
    for (name, text) in query {
        rendered_query.push((name, templates.render_text(text, ctx)?));
    }
    if !rendered_query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &rendered_query {
            pairs.append_pair(name, value);
        }
    }

    let mut headers = HeaderMap::new();
    let default_headers = plan.default_headers.iter().map(|&i| &defaults.headers[i]);
    // Request headers come last and replace a default of the same name.
    for (name, text) in default_headers.chain(&request.headers) {
        let value = templates.render_text(text, ctx)?;
        let bad = |what: &str| ExecError::Build {
            at: text.at.clone(),
            message: format!("invalid header {what} in `{name}`"),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
        let value = HeaderValue::from_str(&value).map_err(|_| bad("value"))?;
        headers.insert(name, value);
    }

    let method = request.method.clone();
    let mut builder = client.request(method.clone(), url.clone()).timeout(
        request
            .timeout
            .or(defaults.timeout)
            .unwrap_or(DEFAULT_TIMEOUT),
    );
    builder = match &request.body {
        None => builder,
        Some(Body::Json(data)) => {
            let json = templates.render_data(data, ctx)?;
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            builder.body(serde_json::to_vec(&json).expect("JSON values always serialize"))
        }
        Some(Body::Form(pairs)) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, text) in pairs {
                form.append_pair(name, &templates.render_text(text, ctx)?);
            }
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
            }
            builder.body(form.finish())
        }
        Some(Body::Raw(text)) => builder.body(templates.render_text(text, ctx)?.into_owned()),
        Some(Body::Multipart(parts)) => {
            let mut form = reqwest::multipart::Form::new();
            for part in parts {
                form = match &part.kind {
                    PartKind::Text(text) => form.text(
                        part.name.clone(),
                        templates.render_text(text, ctx)?.into_owned(),
                    ),
                    PartKind::File {
                        path,
                        filename,
                        content_type,
                    } => {
                        let rendered = templates.render_text(path, ctx)?;
                        let file = relative_to_collection(&collection.file, &rendered);
                        let bytes = tokio::fs::read(&file).await.map_err(|e| ExecError::Build {
                            at: path.at.clone(),
                            message: format!("cannot read multipart file {}: {e}", file.display()),
                        })?;
                        let name = filename.clone().unwrap_or_else(|| {
                            file.file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_else(|| "file".into())
                        });
                        let mut p = reqwest::multipart::Part::bytes(bytes).file_name(name);
                        if let Some(ct) = content_type {
                            p = p.mime_str(ct).map_err(|e| ExecError::Build {
                                at: path.at.clone(),
                                message: format!("invalid content_type `{ct}`: {e}"),
                            })?;
                        }
                        form.part(part.name.clone(), p)
                    }
                };
            }
            builder.multipart(form)
        }
    };
    let builder = builder.headers(headers);

    let started = Instant::now();
    let send_error = |e: reqwest::Error| ExecError::Send {
        method: method.to_string(),
        url: url.to_string(),
        cause: describe_reqwest_error(
            &e,
            request
                .timeout
                .or(defaults.timeout)
                .unwrap_or(DEFAULT_TIMEOUT),
        ),
    };
    let response = builder.send().await.map_err(send_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(send_error)?;
    Ok(Exchange {
        method,
        url: url.to_string(),
        status,
        headers,
        body,
        duration: started.elapsed(),
    })
}

fn absolute_url(
    templates: &Templates,
    planned: &PlannedCollection,
    request: &Request,
    ctx: &Value,
) -> Result<String, ExecError> {
    let url = templates.render_text(&request.url, ctx)?;
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(url.into_owned());
    }
    let Some(base) = &planned.collection.defaults.base_url else {
        return Err(ExecError::Build {
            at: request.url.at.clone(),
            message: format!(
                "`{url}` is a relative URL and the collection sets no `defaults.base_url`"
            ),
        });
    };
    let base = templates.render_text(base, ctx)?;
    Ok(format!(
        "{}/{}",
        base.trim_end_matches('/'),
        url.trim_start_matches('/')
    ))
}

/// Multipart files are named relative to the collection file, as a user
/// reading the YAML would expect.
fn relative_to_collection(collection_file: &str, path: &str) -> std::path::PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    Path::new(collection_file)
        .parent()
        .map(|dir| dir.join(p))
        .unwrap_or_else(|| p.to_path_buf())
}

/// reqwest's own message is "error sending request"; the useful part (the
/// refused connection, the DNS failure) sits at the bottom of the chain.
fn describe_reqwest_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", crate::load::format_duration(timeout));
    }
    let mut root: &dyn std::error::Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let root = root.to_string();
    if e.is_connect() {
        format!("could not connect: {root}")
    } else if e.is_body() || e.is_decode() {
        format!("could not read the response body: {root}")
    } else {
        root
    }
}
