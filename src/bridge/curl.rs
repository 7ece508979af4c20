//! curl both ways: a collection's request as a curl command, and a curl
//! command (as docs print them) as a request entry.

use std::sync::OnceLock;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use minijinja::value::{Object, ObjectRepr};
use minijinja::Value;
use regex::Regex;
use serde_json::{json, Value as Json};

use super::identifier;
use crate::execute;
use crate::load::{Body, PartKind, SendToken};
use crate::resolve::Plan;
use crate::secrets::mask_header;

/// Quotes a word for a POSIX shell: single quotes, or double quotes when
/// it holds `${var}` placeholders that the shell must expand.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        return word.to_string();
    }
    if word.contains("${") {
        let escaped = word
            .replace('\\', r"\\")
            .replace('"', "\\\"")
            .replace('`', "\\`");
        return format!("\"{escaped}\"");
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Request `name` of the plan's one collection as a curl command. Variables
/// captured by earlier requests, and the auth token, become shell variables
/// (`${token}`) explained in comments; secrets are masked unless
/// `show_secrets`.
pub async fn export(plan: &Plan, name: &str, show_secrets: bool) -> Result<String, String> {
    let pc = plan.collections.first().ok_or("no collection")?;
    let c = &pc.collection;
    let index = c
        .requests
        .iter()
        .position(|r| r.name == name)
        .ok_or_else(|| {
            let names: Vec<String> = c.requests.iter().map(|r| format!("`{}`", r.name)).collect();
            format!(
                "collection `{}` has no request `{name}`; it has {}",
                c.name,
                names.join(", ")
            )
        })?;
    let request = &c.requests[index];

    let mut comments = Vec::new();
    let mut vars = pc.vars.clone();
    for earlier in &c.requests[..index] {
        for cap in &earlier.captures {
            vars.insert(cap.var.clone(), Value::from(format!("${{{}}}", cap.var)));
            comments.push(format!(
                "# ${{{}}}: captured by `{}`",
                cap.var, earlier.name
            ));
        }
    }
    let auth = c.auth_of(index);
    // Register the auth's secrets so that a body quoting them is masked too.
    for spec in c.auths.values() {
        if let crate::load::AuthFlow::Password { password, .. } = &spec.flow {
            if let Ok(p) = plan
                .templates
                .render_text(password, &Value::from(vars.clone()))
            {
                plan.secrets.add(&p);
            }
        }
        if let Some(secret) = spec.flow.endpoint().and_then(|e| e.client_secret.as_ref()) {
            if let Ok(s) = plan
                .templates
                .render_text(secret, &Value::from(vars.clone()))
            {
                plan.secrets.add(&s);
            }
        }
    }
    // Tokens are not fetched for an export: what templates read of them
    // (`auth.claims.sub`, `auths.svc.response.x`) becomes shell variables.
    let later = Arc::new(Mutex::new(BTreeSet::new()));
    for root in ["auth", "auths"] {
        vars.insert(
            root.into(),
            Value::from_object(ShellVar {
                path: root.into(),
                used: later.clone(),
            }),
        );
    }
    let ctx = Value::from(vars);

    let client = execute::client().map_err(|e| e.to_string())?;
    let mut outgoing = execute::outgoing(pc, index);
    // Multipart bodies are streams: written as -F from the model below.
    if let Some(Body::Multipart(_)) = &request.body {
        outgoing.body = None;
    }
    let built = execute::build(&client, &plan.templates, &outgoing, &ctx)
        .await
        .map_err(|e| e.to_string())?;

    let mut url = unescape_placeholders(built.url().as_str());
    let mut headers: Vec<(String, String)> = built
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Some(spec) = auth {
        let var = format!("{}_token", spec.name);
        comments.push(format!(
            "# ${{{var}}}: a token of auth `{}` ({} flow; `reqtest login` can fill the token cache)",
            spec.name,
            spec.flow.kind()
        ));
        match &spec.send {
            SendToken::Header { name, prefix } => {
                headers.push((name.to_ascii_lowercase(), format!("{prefix}${{{var}}}")))
            }
            SendToken::Query { name } => {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("{name}=${{{var}}}"));
            }
        }
    }

    // Each word is masked before it is quoted: quoting changes how a
    // secret is spelled (`'` becomes `'\''`).
    let word = |text: &str| {
        if show_secrets {
            quote(text)
        } else {
            quote(&plan.secrets.redact(text))
        }
    };
    for path in later.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        comments.push(format!(
            "# ${{{}}}: `{path}` of the token, as a run would have it",
            shell_name(path)
        ));
    }
    let jar = format!("{}.cookies", identifier(&c.name));
    comments.push(format!(
        "# {jar}: the cookies earlier responses set, as a run keeps them (run the collection's requests in order with the same -b/-c)"
    ));
    let mut out = String::new();
    for comment in &comments {
        out.push_str(comment);
        out.push('\n');
    }
    out.push_str(&format!("curl -X {} {}", built.method(), word(&url)));
    out.push_str(&format!(" \\\n  -b {jar} -c {jar}"));
    for (k, v) in &headers {
        let v = if show_secrets || v.contains("${") {
            v.clone()
        } else {
            mask_header(k, v)
        };
        out.push_str(&format!(" \\\n  -H {}", word(&format!("{k}: {v}"))));
    }
    if let Some(bytes) = built.body().and_then(|b| b.as_bytes()) {
        out.push_str(&format!(
            " \\\n  --data-raw {}",
            word(&String::from_utf8_lossy(bytes))
        ));
    }
    if let Some(Body::Multipart(parts)) = &request.body {
        for part in parts {
            let field = match &part.kind {
                PartKind::Text(t) => format!(
                    "{}={}",
                    part.name,
                    plan.templates
                        .render_text(t, &ctx)
                        .map_err(|e| e.to_string())?
                ),
                PartKind::File {
                    path,
                    filename,
                    content_type,
                } => {
                    let mut f = format!(
                        "{}=@{}",
                        part.name,
                        plan.templates
                            .render_text(path, &ctx)
                            .map_err(|e| e.to_string())?
                    );
                    if let Some(ct) = content_type {
                        f.push_str(&format!(";type={ct}"));
                    }
                    if let Some(name) = filename {
                        f.push_str(&format!(";filename={name}"));
                    }
                    f
                }
            };
            out.push_str(&format!(" \\\n  -F {}", word(&field)));
        }
    }
    out.push('\n');
    Ok(if show_secrets {
        out
    } else {
        plan.secrets.redact(&out).into_owned()
    })
}

/// A value a run would know and an exported command cannot: it prints as
/// a shell variable named after its path (`${auth_claims_sub}`), and so
/// does any attribute of it.
#[derive(Debug)]
struct ShellVar {
    path: String,
    used: Arc<Mutex<BTreeSet<String>>>,
}

impl Object for ShellVar {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| key.to_string());
        Some(Value::from_object(ShellVar {
            path: format!("{}.{key}", self.path),
            used: self.used.clone(),
        }))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.path.clone());
        write!(f, "${{{}}}", shell_name(&self.path))
    }
}

/// A URL with its `${var}` placeholders as the shell must see them: the
/// URL parser percent-encodes their braces (and `$` in a query).
fn unescape_placeholders(url: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"(?:\$|%24)%7B([A-Za-z0-9_]+)%7D").expect("valid"));
    re.replace_all(url, "$${${1}}").into_owned()
}

/// `auth.claims.sub` → `auth_claims_sub`.
fn shell_name(path: &str) -> String {
    path.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// What an import could not carry over, said rather than dropped.
pub struct Imported {
    pub entry: Json,
    pub notes: Vec<String>,
    /// The placeholders found, as variables to define.
    pub vars: Vec<String>,
}

fn placeholder_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // `<API_KEY>`, `${HOST}`, `$HOST`, `{{login}}`, with stray backticks.
    RE.get_or_init(|| Regex::new(r"`?(?:<([A-Za-z][\w-]*)>|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)|\{\{\s*([A-Za-z_][\w.-]*)\s*\}\})`?").expect("valid"))
}

/// Docs' placeholders (`<URL>`, `${HOST}`, `{{login}}`) become template
/// variables, so that an imported request runs once they are defined.
pub fn templatize(text: &str) -> String {
    placeholder_regex()
        .replace_all(text, |c: &regex::Captures| {
            let name = c
                .get(1)
                .or(c.get(2))
                .or(c.get(3))
                .or(c.get(4))
                .map(|m| m.as_str())
                .unwrap_or_default();
            format!("{{{{ {} }}}}", identifier(name))
        })
        .into_owned()
}

/// The variables an imported entry reads, for the collection around it.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names: Vec<String> = placeholder_regex()
        .captures_iter(text)
        .filter_map(|c| {
            c.get(1)
                .or(c.get(2))
                .or(c.get(3))
                .or(c.get(4))
                .map(|m| identifier(m.as_str()))
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A curl command's arguments (after `curl`) as a request entry.
pub fn import(args: &[String], name: Option<&str>) -> Result<Imported, String> {
    let mut method: Option<String> = None;
    let mut url: Option<String> = None;
    let mut headers: IndexMap<String, String> = IndexMap::new();
    let mut data: Vec<String> = Vec::new();
    let mut json_body: Option<String> = None;
    let mut form_parts: Vec<(String, String)> = Vec::new();
    let mut user: Option<String> = None;
    let mut get = false;
    let mut notes = Vec::new();

    let mut i = 0;
    let next = |i: &mut usize, flag: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("`{flag}` needs a value"))
    };
    while i < args.len() {
        let arg = args[i].clone();
        // -XPOST, -H'..', --data=..: split attached values.
        let (flag, attached) = if let Some(rest) = arg.strip_prefix("--") {
            match rest.split_once('=') {
                Some((f, v)) => (format!("--{f}"), Some(v.to_string())),
                None => (arg.clone(), None),
            }
        } else if arg.len() > 2 && arg.starts_with('-') && "XHdbuAeFo".contains(&arg[1..2]) {
            (arg[..2].to_string(), Some(arg[2..].to_string()))
        } else {
            (arg.clone(), None)
        };
        let value = |i: &mut usize| -> Result<String, String> {
            match &attached {
                Some(v) => Ok(v.clone()),
                None => next(i, &flag),
            }
        };
        match flag.as_str() {
            "curl" if i == 0 => {}
            "-X" | "--request" => method = Some(value(&mut i)?.to_ascii_uppercase()),
            "-H" | "--header" => {
                let h = value(&mut i)?;
                match h.split_once(':') {
                    Some((k, v)) => {
                        headers.insert(k.trim().to_string(), v.trim().to_string());
                    }
                    None => notes.push(format!("header `{h}` has no `:`; left out")),
                }
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" => {
                let d = value(&mut i)?;
                if d.starts_with('@') && flag != "--data-raw" {
                    notes.push(format!(
                        "`{flag} {d}` reads a file; the body is left as a placeholder"
                    ));
                }
                data.push(d);
            }
            "--data-urlencode" => {
                let d = value(&mut i)?;
                let encoded = match d.split_once('=') {
                    Some((k, v)) => format!(
                        "{k}={}",
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    ),
                    None => url::form_urlencoded::byte_serialize(d.as_bytes()).collect(),
                };
                data.push(encoded);
            }
            "--json" => json_body = Some(value(&mut i)?),
            "-F" | "--form" => {
                let f = value(&mut i)?;
                match f.split_once('=') {
                    Some((k, v)) => form_parts.push((k.to_string(), v.to_string())),
                    None => notes.push(format!("form field `{f}` has no `=`; left out")),
                }
            }
            "-u" | "--user" => user = Some(value(&mut i)?),
            "-A" | "--user-agent" => {
                headers.insert("User-Agent".into(), value(&mut i)?);
            }
            "-e" | "--referer" => {
                headers.insert("Referer".into(), value(&mut i)?);
            }
            "-b" | "--cookie" => {
                headers.insert("Cookie".into(), value(&mut i)?);
            }
            "--url" => url = Some(value(&mut i)?),
            "-G" | "--get" => get = true,
            "-L" | "--location" => notes.push(
                "`-L`: reqtest does not follow redirects; assert the 30x, or request its Location"
                    .into(),
            ),
            "-o" | "--output" | "-w" | "--write-out" | "--max-time" | "-m"
            | "--connect-timeout" => {
                let v = value(&mut i)?;
                if flag == "--max-time" || flag == "-m" {
                    notes.push(format!("`{flag} {v}` → set `timeout: {v}s`"));
                }
            }
            "-k" | "--insecure" | "-s" | "--silent" | "-S" | "--show-error" | "-v"
            | "--verbose" | "-i" | "--include" | "--compressed" | "-f" | "--fail" | "-sS" => {}
            f if f.starts_with('-') && f.len() > 1 => {
                notes.push(format!("`{f}` is not understood; left out"))
            }
            _ => {
                if url.is_some() {
                    notes.push(format!("a second URL `{arg}` is left out"));
                } else {
                    url = Some(arg.clone());
                }
            }
        }
        i += 1;
    }
    let url = url.ok_or("the curl command has no URL")?;
    let has_body = !data.is_empty() || json_body.is_some() || !form_parts.is_empty();
    let method = method.unwrap_or_else(|| {
        if has_body && !get {
            "POST".into()
        } else {
            "GET".into()
        }
    });

    let mut entry = serde_json::Map::new();
    let url_t = templatize(url.trim_matches('`'));
    let path = url_t
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit("}}")
        .next()
        .unwrap_or_default();
    let path = reqwest::Url::parse(&url_t)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| path.to_string());
    entry.insert(
        "name".into(),
        Json::from(
            name.map(str::to_string)
                .unwrap_or_else(|| format!("{method} {path}")),
        ),
    );
    entry.insert("method".into(), Json::from(method.clone()));

    let mut query = serde_json::Map::new();
    // Parameters in the URL go to `query`, where templates in them stay readable.
    let url_only = match url_t.split_once('?') {
        Some((base, q)) => {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                query.insert(decode(k), Json::from(decode(v)));
            }
            base.to_string()
        }
        None => url_t.clone(),
    };
    entry.insert("url".into(), Json::from(url_only));

    // As in curl, an explicit Authorization header wins over `-u`.
    let has_authorization = headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("authorization"));
    if let Some(u) = user.as_ref().filter(|_| !has_authorization) {
        let (name, pass) = u.split_once(':').unwrap_or((u.as_str(), ""));
        headers.insert(
            "Authorization".into(),
            format!(
                "{{{{ basic_auth('{}', '{}') }}}}",
                templatize(name).replace('\'', "\\'"),
                templatize(pass).replace('\'', "\\'")
            )
            .replace("'{{ ", "")
            .replace(" }}'", ""),
        );
    }
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase());

    if get && !data.is_empty() {
        for pair in data.join("&").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            query.insert(templatize(&decode(k)), Json::from(templatize(&decode(v))));
        }
    } else if let Some(j) = json_body {
        let t = templatize(&j);
        entry.insert(
            "json".into(),
            serde_json::from_str(&t).unwrap_or(Json::from(t)),
        );
    } else if !data.is_empty() {
        let joined = data.join("&");
        let is_json = content_type.as_deref().is_some_and(|c| c.contains("json"));
        if is_json {
            match serde_json::from_str::<Json>(&joined) {
                Ok(j) => {
                    entry.insert("json".into(), templatize_json(j));
                    headers.retain(|k, v| {
                        !(k.eq_ignore_ascii_case("content-type")
                            && v.to_ascii_lowercase().starts_with("application/json"))
                    });
                }
                Err(_) => {
                    entry.insert("body".into(), Json::from(templatize(&joined)));
                }
            }
        } else if content_type.is_none()
            || content_type
                .as_deref()
                .is_some_and(|c| c.contains("x-www-form-urlencoded"))
        {
            let mut form = serde_json::Map::new();
            for pair in joined.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                form.insert(decode(k), Json::from(templatize(&decode(v))));
            }
            entry.insert("form".into(), Json::Object(form));
            headers.retain(|k, _| !k.eq_ignore_ascii_case("content-type"));
        } else {
            entry.insert("body".into(), Json::from(templatize(&joined)));
        }
    }
    if !form_parts.is_empty() {
        let mut parts = serde_json::Map::new();
        for (k, v) in form_parts {
            let part = match v.strip_prefix('@') {
                Some(file) => {
                    let mut segs = file.split(';');
                    let mut p = json!({"file": segs.next().unwrap_or_default()});
                    for seg in segs {
                        if let Some(t) = seg.strip_prefix("type=") {
                            p["content_type"] = Json::from(t);
                        } else if let Some(f) = seg.strip_prefix("filename=") {
                            p["filename"] = Json::from(f);
                        }
                    }
                    p
                }
                None => Json::from(templatize(&v)),
            };
            parts.insert(k, part);
        }
        entry.insert("multipart".into(), Json::Object(parts));
    }
    if !query.is_empty() {
        let query: serde_json::Map<String, Json> = query
            .into_iter()
            .map(|(k, v)| (k, Json::from(templatize(v.as_str().unwrap_or_default()))))
            .collect();
        entry.insert("query".into(), Json::Object(query));
    }
    if !headers.is_empty() {
        let h: serde_json::Map<String, Json> = headers
            .into_iter()
            .map(|(k, v)| (k, Json::from(templatize(&v))))
            .collect();
        entry.insert("headers".into(), Json::Object(h));
    }
    Ok(Imported {
        entry: Json::Object(entry),
        notes,
        vars: placeholders(&args.join(" ")),
    })
}

fn templatize_json(value: Json) -> Json {
    match value {
        Json::String(s) => Json::from(templatize(&s)),
        Json::Array(a) => Json::Array(a.into_iter().map(templatize_json).collect()),
        Json::Object(o) => Json::Object(
            o.into_iter()
                .map(|(k, v)| (k, templatize_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The entry as YAML, as one item of a `requests:` list, with the notes as
/// comments above it.
pub fn to_yaml(imported: &Imported) -> String {
    let mut out = String::new();
    for note in &imported.notes {
        out.push_str(&format!("# note: {note}\n"));
    }
    if !imported.vars.is_empty() {
        out.push_str(&format!(
            "# variables to define: {}\n",
            imported.vars.join(", ")
        ));
    }
    let yaml = crate::load::to_yaml(&Json::Array(vec![imported.entry.clone()]));
    out.push_str(&yaml);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn imports_the_cells_token_request_of_the_docs() {
        let imported = import(
            &args(&[
                "-X", "POST", "<URL>/auth/dex/token", "-u", "<API_KEY>:<APISECRET>", "-H", "Cache-Control: no-cache",
                "-H", "Content-Type: application/x-www-form-urlencoded",
                "-d", "grant_type=password&username=<USER>&password=<PASSWORD>&scope=email%20profile%20pydio&nonce=<NONCE>",
            ]),
            None,
        )
        .unwrap();
        let e = &imported.entry;
        assert_eq!(e["method"], "POST");
        assert_eq!(e["url"], "{{ URL }}/auth/dex/token");
        assert_eq!(
            e["headers"]["Authorization"],
            "{{ basic_auth(API_KEY, APISECRET) }}"
        );
        assert_eq!(e["form"]["scope"], "email profile pydio");
        assert_eq!(e["form"]["username"], "{{ USER }}");
        assert!(e["headers"].get("Content-Type").is_none());
    }

    #[test]
    fn query_string_parameters_and_json_bodies() {
        let imported = import(
            &args(&[
                "-XPUT",
                "`${HOST}`/api/v1/x?a=1&b=<login>",
                "--data",
                r#"{"k": "$VALUE"}"#,
                "-H",
                "Content-Type: application/json",
            ]),
            None,
        )
        .unwrap();
        let e = &imported.entry;
        assert_eq!(e["method"], "PUT");
        assert_eq!(e["url"], "{{ HOST }}/api/v1/x");
        assert_eq!(e["query"]["b"], "{{ login }}");
        assert_eq!(e["json"]["k"], "{{ VALUE }}");
    }

    #[test]
    fn shell_quoting_round_trips() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(
            quote("Authorization: Bearer ${t}"),
            "\"Authorization: Bearer ${t}\""
        );
    }
}
