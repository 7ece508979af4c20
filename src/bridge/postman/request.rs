//! One Postman request as a request entry: its URL and query, its body,
//! its auth (the collection's block, headers for the simple kinds, an auth
//! block for OAuth2) and its test scripts.

use serde_json::{json, Map, Value as Json};

use super::{auth_values, enabled, joined, oauth2, scripts, templatize_json, Converter};

/// What a request entry is made in: the converter, the place for notes,
/// the entry and its headers.
struct Entry<'c> {
    cx: &'c mut Converter,
    place: String,
    fields: Map<String, Json>,
    headers: Map<String, Json>,
}

pub(super) fn request_entry(
    cx: &mut Converter,
    name: &str,
    request: &Json,
    events: Option<&Json>,
    auth: &Json,
    default_auth: Option<&Json>,
) -> Json {
    let request = match request {
        // v2.1 allows a request as a bare URL string.
        Json::String(url) => json!({"method": "GET", "url": url}),
        other => other.clone(),
    };
    let place = format!("request `{name}`");
    let headers = cx.pairs(request.get("header"), &place);
    let mut e = Entry {
        cx,
        place,
        fields: Map::new(),
        headers,
    };
    e.fields.insert("name".into(), Json::from(name));
    let method = request
        .get("method")
        .and_then(Json::as_str)
        .unwrap_or("GET");
    e.fields.insert("method".into(), Json::from(method));
    e.url(request.get("url"));
    if let Some(body) = request.get("body").filter(|b| !b.is_null()) {
        e.body(body);
    }
    e.auth(auth, default_auth);
    if !e.headers.is_empty() {
        let headers = std::mem::take(&mut e.headers);
        e.fields.insert("headers".into(), Json::Object(headers));
    }
    let place = e.place.clone();
    scripts(e.cx, &place, events, &mut e.fields);
    Json::Object(e.fields)
}

impl Entry<'_> {
    fn text(&mut self, s: &str) -> String {
        self.cx.text(s, &self.place)
    }

    /// `url` and `query`, from a URL string or Postman's parts of one.
    fn url(&mut self, url: Option<&Json>) {
        let mut query = Map::new();
        let url = match url {
            Some(Json::String(raw)) => raw.clone(),
            Some(u) => {
                query = self.cx.pairs(u.get("query"), &self.place);
                u.get("raw")
                    .and_then(Json::as_str)
                    .map(|raw| raw.split('?').next().unwrap_or_default().to_string())
                    .unwrap_or_else(|| {
                        let protocol = u
                            .get("protocol")
                            .and_then(Json::as_str)
                            .map(|p| format!("{p}://"))
                            .unwrap_or_default();
                        format!(
                            "{protocol}{}/{}",
                            joined(u, "host", "."),
                            joined(u, "path", "/")
                        )
                    })
            }
            None => String::new(),
        };
        let (url, inline_query) = match url.split_once('?') {
            Some((base, q)) if query.is_empty() => (base.to_string(), q.to_string()),
            _ => (url.clone(), String::new()),
        };
        for pair in inline_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = self.text(v);
            query.insert(k.to_string(), Json::from(v));
        }
        let url = self.text(&url);
        self.fields.insert("url".into(), Json::from(url));
        if !query.is_empty() {
            self.fields.insert("query".into(), Json::Object(query));
        }
    }

    fn body(&mut self, body: &Json) {
        match body.get("mode").and_then(Json::as_str) {
            Some("raw") => self.raw_body(body),
            Some("urlencoded") => {
                let form = self.cx.pairs(body.get("urlencoded"), &self.place);
                self.fields.insert("form".into(), Json::Object(form));
            }
            Some("formdata") => {
                let parts = self.form_data(body.get("formdata"));
                self.fields.insert("multipart".into(), Json::Object(parts));
            }
            Some("graphql") => {
                let q = body
                    .pointer("/graphql/query")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                let vars = body
                    .pointer("/graphql/variables")
                    .and_then(Json::as_str)
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or(json!({}));
                let query = self.text(q);
                self.fields
                    .insert("json".into(), json!({"query": query, "variables": vars}));
            }
            Some(other) => {
                let note = format!("{}: a `{other}` body was not converted", self.place);
                self.cx.unconverted.push(note);
            }
            None => {}
        }
    }

    /// JSON as `json` (its JSON content type left out), other text as `body`.
    fn raw_body(&mut self, body: &Json) {
        let raw = body.get("raw").and_then(Json::as_str).unwrap_or_default();
        let language = body
            .pointer("/options/raw/language")
            .and_then(Json::as_str)
            .unwrap_or("text");
        let is_content_type = |k: &String| k.eq_ignore_ascii_case("content-type");
        match serde_json::from_str::<Json>(raw) {
            Ok(parsed) if language == "json" || parsed.is_object() || parsed.is_array() => {
                let json = templatize_json(self.cx, parsed, &self.place);
                self.fields.insert("json".into(), json);
                self.headers.retain(|k, v| {
                    !(is_content_type(k) && v.as_str().is_some_and(|v| v.contains("json")))
                });
            }
            _ => {
                if language == "json" && !self.headers.keys().any(is_content_type) {
                    self.headers
                        .insert("Content-Type".into(), Json::from("application/json"));
                }
                let text = self.text(raw);
                self.fields.insert("body".into(), Json::from(text));
            }
        }
    }

    fn form_data(&mut self, list: Option<&Json>) -> Map<String, Json> {
        let mut parts = Map::new();
        for (key, p) in enabled(list) {
            if p.get("type").and_then(Json::as_str) == Some("file") {
                let src = p.get("src").and_then(Json::as_str).unwrap_or_default();
                parts.insert(key.into(), json!({"file": src}));
            } else {
                let v = p.get("value").and_then(Json::as_str).unwrap_or_default();
                parts.insert(key.into(), Json::from(self.text(v)));
            }
        }
        parts
    }

    fn auth(&mut self, auth: &Json, default_auth: Option<&Json>) {
        if default_auth == Some(auth) {
            return; // the collection's auth block sends it
        }
        match auth.get("type").and_then(Json::as_str) {
            None | Some("noauth") => {
                if default_auth.is_some() {
                    self.fields.insert("auth".into(), Json::from("none"));
                }
            }
            Some("bearer") => {
                let v = auth_values(auth);
                let token = self.text(v.get("token").map(String::as_str).unwrap_or_default());
                self.headers.insert(
                    "Authorization".into(),
                    Json::from(format!("Bearer {token}")),
                );
            }
            Some("basic") => {
                let header = self.basic(auth);
                self.headers
                    .insert("Authorization".into(), Json::from(header));
            }
            Some("apikey") => self.api_key(auth),
            Some("oauth2") => {
                if let Some(name) = self.oauth2_auth(auth) {
                    self.fields.insert("auth".into(), Json::from(name));
                }
            }
            Some(other) => {
                let note = format!("{}: `{other}` auth was not converted", self.place);
                self.cx.unconverted.push(note);
            }
        }
    }

    /// `{{ basic_auth(user, password) }}`, variables passed as they are.
    fn basic(&mut self, auth: &Json) -> String {
        let v = auth_values(auth);
        let mut arg = |key: &str| {
            let t = self.text(v.get(key).map(String::as_str).unwrap_or_default());
            match t.strip_prefix("{{ ").and_then(|t| t.strip_suffix(" }}")) {
                Some(var) if !var.contains("{{") => var.to_string(),
                _ => format!("'{}'", t.replace('\'', "\\'")),
            }
        };
        let (user, password) = (arg("username"), arg("password"));
        format!("{{{{ basic_auth({user}, {password}) }}}}")
    }

    fn api_key(&mut self, auth: &Json) {
        let v = auth_values(auth);
        let key = v.get("key").cloned().unwrap_or_else(|| "X-API-Key".into());
        let value = Json::from(self.text(v.get("value").map(String::as_str).unwrap_or_default()));
        if v.get("in").map(String::as_str) == Some("query") {
            let q = self.fields.entry("query").or_insert_with(|| json!({}));
            q[key] = value;
        } else {
            self.headers.insert(key, value);
        }
    }

    /// The name of the auth block an OAuth2 auth becomes (one per distinct
    /// auth, `oauth2_1`, `oauth2_2`, ...).
    fn oauth2_auth(&mut self, auth: &Json) -> Option<String> {
        let existing = self.cx.auths.iter().find(|(a, _, _)| a == auth);
        if let Some((_, name, _)) = existing {
            return Some(name.clone());
        }
        let block = oauth2(self.cx, auth, &self.place)?;
        let name = format!("oauth2_{}", self.cx.auths.len() + 1);
        self.cx.auths.push((auth.clone(), name.clone(), block));
        Some(name)
    }
}
