//! The way Postman users get a token: a request whose test script stores
//! a response value in a variable, and a collection-level Bearer auth that
//! sends `{{ that variable }}`. Converted, the request becomes the
//! collection's `auth` block, so reqtest gets the token before the first
//! request that needs it and renews it, instead of a request that must run
//! first and a token that lapses.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value as Json};

use super::{auth_values, scripts, Converter};
use crate::bridge::identifier;

/// A request that stores the token the collection's Bearer auth sends.
pub struct TokenRequest<'a> {
    pub item: &'a Json,
    /// Where the token is in its response (`$.id_token`).
    pub path: String,
}

/// The variable a Bearer auth sends when its token is one whole `{{var}}`.
fn bearer_variable(auth: &Json) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^\s*\{\{\s*([^{}\s]+)\s*\}\}\s*$").expect("valid"));
    if auth.get("type").and_then(Json::as_str) != Some("bearer") {
        return None;
    }
    let token = auth_values(auth).remove("token")?;
    re.captures(&token).map(|c| identifier(&c[1]))
}

/// The request whose test script stores the variable the collection's
/// Bearer auth sends, wherever it sits among the folders.
pub fn feeding<'a>(root_auth: &Json, items: Option<&'a Json>) -> Option<TokenRequest<'a>> {
    let var = bearer_variable(root_auth)?;
    find(items, &var)
}

fn find<'a>(items: Option<&'a Json>, var: &str) -> Option<TokenRequest<'a>> {
    for item in items.and_then(Json::as_array).into_iter().flatten() {
        if let Some(found) = find(item.get("item"), var) {
            return Some(found);
        }
        if item.get("request").is_none() {
            continue;
        }
        let stored = scripts::stored(item.get("event"));
        if let Some((_, path)) = stored.into_iter().find(|(k, _)| k == var) {
            return Some(TokenRequest { item, path });
        }
    }
    None
}

/// `token:` of an auth block for a response path.
fn token_field(path: &str) -> Option<Json> {
    match path {
        "$.access_token" => None,
        "$.id_token" => Some(Json::from("id_token")),
        other => Some(Json::from(other)),
    }
}

/// The auth block a converted token request `entry` stands for: an OAuth2
/// grant when its form says one, else a custom token request.
pub fn auth_block(
    cx: &mut Converter,
    t: &TokenRequest,
    entry: &Map<String, Json>,
    place: &str,
) -> Json {
    match oauth_grant(cx, t, entry, place) {
        Some(mut block) => {
            if let Some(token) = token_field(&t.path) {
                block.insert("token".into(), token);
            }
            Json::Object(block)
        }
        None => {
            let mut block = custom(entry);
            block.insert("token".into(), Json::from(t.path.clone()));
            Json::Object(block)
        }
    }
}

/// `password` or `client_credentials` from a POSTed form with that
/// `grant_type` and no query string; the client from the request's Basic
/// auth or the form.
fn oauth_grant(
    cx: &mut Converter,
    t: &TokenRequest,
    entry: &Map<String, Json>,
    place: &str,
) -> Option<Map<String, Json>> {
    let form = entry.get("form")?.as_object()?;
    let kind = match form.get("grant_type")?.as_str()? {
        g @ ("password" | "client_credentials") => g,
        _ => return None,
    };
    let post = entry.get("method").and_then(Json::as_str) == Some("POST");
    if !post || entry.contains_key("query") {
        return None;
    }
    let mut block = Map::new();
    block.insert("type".into(), Json::from(kind));
    block.insert("token_url".into(), entry.get("url")?.clone());
    let auth = t
        .item
        .pointer("/request/auth")
        .cloned()
        .unwrap_or(Json::Null);
    if auth.get("type").and_then(Json::as_str) == Some("basic") {
        let v = auth_values(&auth);
        for (from, to) in [("username", "client_id"), ("password", "client_secret")] {
            let value = cx.text(v.get(from).map(String::as_str).unwrap_or_default(), place);
            block.insert(to.into(), Json::from(value));
        }
    } else if form.contains_key("client_secret") {
        block.insert("client_auth".into(), Json::from("body"));
    }
    let mut extra = Map::new();
    for (k, v) in form {
        match k.as_str() {
            "grant_type" => {}
            "username" | "password" if kind == "password" => {
                block.insert(k.clone(), v.clone());
            }
            "scope" | "client_id" | "client_secret" => {
                block.insert(k.clone(), v.clone());
            }
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    if !extra.is_empty() {
        block.insert("extra".into(), Json::Object(extra));
    }
    for header in entry
        .get("headers")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        if !header.eq_ignore_ascii_case("authorization")
            && !header.eq_ignore_ascii_case("content-type")
        {
            cx.unconverted.push(format!(
                "{place}: header `{header}` is not sent by the `auth` block this token request became"
            ));
        }
    }
    Some(block)
}

/// Any other token request, as it is.
fn custom(entry: &Map<String, Json>) -> Map<String, Json> {
    let mut request = Map::new();
    for key in ["method", "url", "query", "headers", "json", "form", "body"] {
        if let Some(v) = entry.get(key) {
            request.insert(key.into(), v.clone());
        }
    }
    let mut block = Map::new();
    block.insert("type".into(), Json::from("request"));
    block.insert("request".into(), Json::Object(request));
    block
}
