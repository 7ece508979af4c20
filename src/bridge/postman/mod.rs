//! Postman collections (v2.1) and environments → a reqtest collection.
//! Folders, requests, variables, `{{var}}` templates, bodies and auth
//! (basic, bearer, apikey, oauth2, inherited) are converted; the common
//! test-script lines (status, JSON value, saving a variable) become
//! `expect` and `capture`; everything else is listed, never dropped silently.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{json, Map, Value as Json};

use super::curl::templatize;
use super::identifier;

mod request;
mod scripts;
mod token;

use request::request_entry;
use scripts::scripts;

/// A converted Postman collection and what was left out of it.
pub struct Converted {
    /// The reqtest collection, as JSON ready to write out as YAML.
    pub collection: Json,
    /// What could not be converted, one line each.
    pub unconverted: Vec<String>,
}

/// The items of a Postman `{key, value}` list that are switched on
/// (`disabled: true` and `enabled: false` are off), with their keys.
fn enabled(list: Option<&Json>) -> impl Iterator<Item = (&str, &Json)> {
    list.and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter(|item| {
            item.get("disabled").and_then(Json::as_bool) != Some(true)
                && item.get("enabled").and_then(Json::as_bool) != Some(false)
        })
        .filter_map(|item| Some((item.get("key")?.as_str()?, item)))
        .filter(|(key, _)| !key.is_empty())
}

fn dynamic_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{\s*\$([A-Za-z]+)\s*\}\}").expect("valid"))
}

pub(super) struct Converter {
    pub(super) unconverted: Vec<String>,
    /// OAuth2 auths met on folders and requests: (Postman's, name, block).
    auths: Vec<(Json, String, Json)>,
    names: BTreeMap<String, usize>,
}

impl Converter {
    fn quiet() -> Converter {
        Converter {
            unconverted: Vec::new(),
            auths: Vec::new(),
            names: BTreeMap::new(),
        }
    }

    /// Postman's `{{var}}` and dynamic `{{$guid}}` → reqtest templates.
    fn text(&mut self, s: &str, place: &str) -> String {
        let s = dynamic_regex()
            .replace_all(s, |c: &regex::Captures| match &c[1] {
                "guid" | "randomUUID" => "{{ uuid() }}".to_string(),
                "timestamp" => "{{ timestamp() }}".to_string(),
                "isoTimestamp" => "{{ now() }}".to_string(),
                "randomInt" => "{{ random_int(0, 1000) }}".to_string(),
                "randomAlphaNumeric" => "{{ random_string(1) }}".to_string(),
                other => {
                    self.unconverted.push(format!("{place}: the dynamic variable {{{{${other}}}}} has no reqtest helper; it is left as the variable `{other}`"));
                    format!("{{{{ {} }}}}", identifier(other))
                }
            })
            .into_owned();
        templatize(&s)
    }

    fn pairs(&mut self, list: Option<&Json>, place: &str) -> Map<String, Json> {
        let mut out = Map::new();
        for (key, item) in enabled(list) {
            let value = item
                .get("value")
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default();
            out.insert(key.to_string(), Json::from(self.text(&value, place)));
        }
        out
    }

    fn unique_name(&mut self, name: &str) -> String {
        let n = self.names.entry(name.to_string()).or_default();
        *n += 1;
        if *n == 1 {
            name.to_string()
        } else {
            format!("{name} ({n})")
        }
    }
}

/// Postman auth values are lists of `{key, value}`.
fn auth_values(auth: &Json) -> BTreeMap<String, String> {
    let kind = auth.get("type").and_then(Json::as_str).unwrap_or_default();
    auth.get(kind)
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            let k = kv.get("key")?.as_str()?.to_string();
            let v = kv.get("value").map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })?;
            Some((k, v))
        })
        .collect()
}

/// Converts a Postman collection, and its environment if given, to a
/// reqtest collection.
pub fn convert(collection: &Json, environment: Option<&Json>) -> Result<Converted, String> {
    let schema = collection
        .pointer("/info/schema")
        .and_then(Json::as_str)
        .unwrap_or_default();
    if !schema.contains("v2.1") && !schema.contains("v2.0") {
        return Err(format!(
            "not a Postman collection v2.1 (info.schema is `{schema}`)"
        ));
    }
    let mut cx = Converter::quiet();
    let mut out = Map::new();
    let name = collection
        .pointer("/info/name")
        .and_then(Json::as_str)
        .unwrap_or("postman");
    out.insert("name".into(), Json::from(name));
    variables(&mut cx, collection, environment, &mut out);
    let root_auth = collection.get("auth").cloned().unwrap_or(Json::Null);
    let (default_auth, token_request) = collection_auth(&mut cx, collection, &root_auth, &mut out);
    for listen in listeners(collection.get("event")) {
        cx.unconverted.push(format!(
            "the collection's {listen} script: not converted (reqtest runs no JavaScript)"
        ));
    }
    let mut requests = Vec::new();
    let walker = Walk {
        default_auth: default_auth.as_ref(),
        token_item: token_request.as_ref().map(|t| t.item),
    };
    walker.items(
        &mut cx,
        collection.get("item"),
        &[],
        &root_auth,
        &mut requests,
    );
    if requests.is_empty() {
        return Err("the Postman collection has no requests".into());
    }
    let named: Map<String, Json> = cx
        .auths
        .iter()
        .map(|(_, name, block)| (name.clone(), block.clone()))
        .collect();
    if !named.is_empty() {
        out.insert("auths".into(), Json::Object(named));
    }
    out.insert("requests".into(), Json::Array(requests));
    Ok(Converted {
        collection: Json::Object(out),
        unconverted: cx.unconverted,
    })
}

/// Collection variables as `vars`, an environment as the one environment
/// (its secret values listed under `secrets`).
fn variables(
    cx: &mut Converter,
    collection: &Json,
    environment: Option<&Json>,
    out: &mut Map<String, Json>,
) {
    let mut vars = Map::new();
    for v in collection
        .get("variable")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(k) = v.get("key").and_then(Json::as_str) {
            let value = match v.get("value").cloned().unwrap_or(Json::from("")) {
                Json::String(s) => Json::from(cx.text(&s, "collection variables")),
                other => other,
            };
            vars.insert(identifier(k), value);
        }
    }
    let mut secrets = Vec::new();
    if let Some(env) = environment {
        let env_name = env.get("name").and_then(Json::as_str).unwrap_or("postman");
        let mut values = Map::new();
        for (k, v) in enabled(env.get("values")) {
            let value = v.get("value").and_then(Json::as_str).unwrap_or_default();
            if v.get("type").and_then(Json::as_str) == Some("secret") {
                secrets.push(Json::from(identifier(k)));
            }
            values.insert(identifier(k), Json::from(cx.text(value, "environment")));
        }
        out.insert("default_env".into(), Json::from(env_name));
        out.insert("environments".into(), json!({ env_name: values }));
    }
    if !vars.is_empty() {
        out.insert("vars".into(), Json::Object(vars));
    }
    if !secrets.is_empty() {
        out.insert("secrets".into(), Json::Array(secrets));
    }
}

/// The collection's own auth as its `auth` block: an OAuth2 one, or a
/// request storing the token its Bearer auth sends. Returns the Postman
/// auth the block stands for, and that request.
fn collection_auth<'c>(
    cx: &mut Converter,
    collection: &'c Json,
    root_auth: &Json,
    out: &mut Map<String, Json>,
) -> (Option<Json>, Option<token::TokenRequest<'c>>) {
    if root_auth.get("type").and_then(Json::as_str) == Some("oauth2") {
        if let Some(block) = oauth2(cx, root_auth, "the collection's auth") {
            out.insert("auth".into(), block);
            return (Some(root_auth.clone()), None);
        }
    }
    match token::feeding(root_auth, collection.get("item")) {
        Some(t) => {
            out.insert("auth".into(), token_auth(cx, &t));
            (Some(root_auth.clone()), Some(t))
        }
        None => (None, None),
    }
}

/// What each script of an item listens to (`test`, `prerequest`).
fn listeners(events: Option<&Json>) -> impl Iterator<Item = &str> {
    events
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|e| e.get("listen").and_then(Json::as_str).unwrap_or("script"))
}

/// The auth block a token request becomes.
fn token_auth(cx: &mut Converter, t: &token::TokenRequest) -> Json {
    let name = t.item.get("name").and_then(Json::as_str).unwrap_or("token");
    let place = format!("request `{name}`");
    let own = t
        .item
        .pointer("/request/auth")
        .filter(|a| a.get("type").and_then(Json::as_str) != Some("inherit"))
        .cloned()
        .unwrap_or(Json::Null);
    let request = t.item.get("request").cloned().unwrap_or(Json::Null);
    let entry = request_entry(cx, name, &request, t.item.get("event"), &own, None);
    let entry = entry.as_object().cloned().unwrap_or_default();
    token::auth_block(cx, t, &entry, &place)
}

/// How the items of a collection are walked: which auth the collection's
/// `auth` block stands for, and which item it was made from (left out).
struct Walk<'a> {
    default_auth: Option<&'a Json>,
    token_item: Option<&'a Json>,
}

impl Walk<'_> {
    fn items(
        &self,
        cx: &mut Converter,
        items: Option<&Json>,
        folders: &[String],
        inherited: &Json,
        out: &mut Vec<Json>,
    ) {
        for item in items.and_then(Json::as_array).into_iter().flatten() {
            if self.token_item.is_some_and(|t| std::ptr::eq(t, item)) {
                continue;
            }
            let name = item
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or("request")
                .to_string();
            // An item's own auth (a folder's, or its request's), unless it
            // says to inherit.
            let own = item.get("auth").or_else(|| item.pointer("/request/auth"));
            let auth = match own {
                Some(a)
                    if a.get("type").and_then(Json::as_str) != Some("inherit") && !a.is_null() =>
                {
                    a.clone()
                }
                _ => inherited.clone(),
            };
            if let Some(children) = item.get("item") {
                let mut path = folders.to_vec();
                path.push(name.clone());
                for listen in listeners(item.get("event")) {
                    cx.unconverted.push(format!(
                        "folder `{}`: its {listen} script was not converted",
                        path.join(" / ")
                    ));
                }
                self.items(cx, Some(children), &path, &auth, out);
                continue;
            }
            let full = if folders.is_empty() {
                name
            } else {
                format!("{} / {name}", folders.join(" / "))
            };
            let full = cx.unique_name(&full);
            if let Some(request) = item.get("request") {
                out.push(request_entry(
                    cx,
                    &full,
                    request,
                    item.get("event"),
                    &auth,
                    self.default_auth,
                ));
            }
        }
    }
}

/// A URL part Postman stores as a list of segments (`host`, `path`).
fn joined(url: &Json, key: &str, separator: &str) -> String {
    url.get(key)
        .and_then(Json::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(Json::as_str)
                .collect::<Vec<_>>()
                .join(separator)
        })
        .unwrap_or_default()
}

fn templatize_json(cx: &mut Converter, value: Json, place: &str) -> Json {
    match value {
        Json::String(s) => Json::from(cx.text(&s, place)),
        Json::Array(a) => Json::Array(
            a.into_iter()
                .map(|v| templatize_json(cx, v, place))
                .collect(),
        ),
        Json::Object(o) => Json::Object(
            o.into_iter()
                .map(|(k, v)| (k, templatize_json(cx, v, place)))
                .collect(),
        ),
        other => other,
    }
}

/// A Postman OAuth2 auth as an auth block, or `None` (and a note) for a
/// grant reqtest does not have.
fn oauth2(cx: &mut Converter, auth: &Json, place: &str) -> Option<Json> {
    let v = auth_values(auth);
    let get = |cx: &mut Converter, k: &str| {
        v.get(k)
            .filter(|s| !s.is_empty())
            .map(|s| Json::from(cx.text(s, place)))
    };
    let grant = v
        .get("grant_type")
        .map(String::as_str)
        .unwrap_or("authorization_code");
    let mut block = Map::new();
    let kind = match grant {
        "password_credentials" => "password",
        "client_credentials" => "client_credentials",
        "authorization_code" | "authorization_code_with_pkce" => "authorization_code",
        other => {
            cx.unconverted
                .push(format!("{place}: OAuth2 grant `{other}` was not converted"));
            return None;
        }
    };
    block.insert("type".into(), Json::from(kind));
    for (from, to) in [
        ("accessTokenUrl", "token_url"),
        ("clientId", "client_id"),
        ("clientSecret", "client_secret"),
        ("scope", "scope"),
    ] {
        if let Some(value) = get(cx, from) {
            block.insert(to.into(), value);
        }
    }
    if v.get("client_authentication").map(String::as_str) == Some("body")
        && block.contains_key("client_secret")
    {
        block.insert("client_auth".into(), Json::from("body"));
    }
    match kind {
        "password" => {
            for k in ["username", "password"] {
                block.insert(k.into(), get(cx, k).unwrap_or(Json::from("")));
            }
        }
        "authorization_code" => {
            if let Some(u) = get(cx, "authUrl") {
                block.insert("authorize_url".into(), u);
            }
            block.insert(
                "redirect_uri".into(),
                get(cx, "redirect_uri").unwrap_or(Json::from("http://localhost:3000/callback")),
            );
            block.insert("interactive".into(), Json::from(true));
            cx.unconverted.push(format!("{place}: the OAuth2 code flow is interactive, as in Postman; give `username` and `password` (and drop `interactive`) for a headless login"));
        }
        _ => {}
    }
    if v.get("addTokenTo").map(String::as_str) == Some("queryParams") {
        block.insert("query_param".into(), Json::from("access_token"));
    }
    Some(Json::Object(block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_variables_and_dynamic_variables() {
        let mut cx = Converter {
            unconverted: Vec::new(),
            auths: Vec::new(),
            names: BTreeMap::new(),
        };
        assert_eq!(
            cx.text("{{base-url}}/x/{{$guid}}", "p"),
            "{{ base_url }}/x/{{ uuid() }}"
        );
        assert_eq!(cx.text("{{$randomColor}}", "p"), "{{ randomColor }}");
        assert_eq!(cx.unconverted.len(), 1);
    }
}
