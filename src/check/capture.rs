//! Captures: the variables a response gives the requests after it.

use serde_json::Value as Json;

use super::{fail, Failure, Response};
use crate::exchange::Exchange;
use crate::load::{Capture, CaptureSource, RegexGroup};

/// The variables a request captures, or the first capture that failed.
pub fn capture(response: &Response, captures: &[Capture]) -> Result<Vec<(String, Json)>, Failure> {
    let ex = response.exchange;
    let mut out = Vec::with_capacity(captures.len());
    for c in captures {
        let what = |m: String| fail(&c.at, format!("capture `{}`: {m}", c.var));
        let value = match &c.source {
            CaptureSource::JsonPath(path) => {
                let doc = response.json().map_err(what)?;
                path.query(doc)
                    .ok_or_else(|| what(format!("nothing at {}", path.src)))?
            }
            CaptureSource::Header(name) => Json::String(
                response
                    .header(name)
                    .ok_or_else(|| what(format!("no header `{name}` in the response")))?,
            ),
            CaptureSource::Status => Json::from(ex.status.as_u16()),
            CaptureSource::Body => Json::String(ex.body_text().into_owned()),
            CaptureSource::Cookie(name) => Json::String(
                set_cookie(ex, name)
                    .ok_or_else(|| what(format!("the response sets no cookie `{name}`")))?,
            ),
            CaptureSource::Regex { regex, group } => {
                let text = ex.body_text();
                let caps = regex
                    .captures(&text)
                    .ok_or_else(|| what(format!("/{regex}/ does not match the body")))?;
                let m = match group {
                    RegexGroup::Index(i) => caps.get(*i),
                    RegexGroup::Name(n) => caps.name(n),
                };
                Json::String(
                    m.ok_or_else(|| what(format!("/{regex}/ matched, but not its group")))?
                        .as_str()
                        .to_string(),
                )
            }
        };
        out.push((c.var.clone(), value));
    }
    Ok(out)
}

/// The value the response sets for cookie `name` (the last `Set-Cookie`
/// wins, as in a browser), parsed by the `cookie` crate: quotes and
/// attributes are not part of it.
fn set_cookie(ex: &Exchange, name: &str) -> Option<String> {
    ex.headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookie::Cookie::parse(v).ok())
        .rfind(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_string())
}
