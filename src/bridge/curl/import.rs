//! A curl command, as docs print it, as a request entry: parsed into a
//! [`Command`] first (what the flags say), then converted (what reqtest
//! writes for it). Placeholders such as `<URL>`, `${HOST}` and `{{login}}`
//! become template variables; what cannot be carried over is noted.

use std::sync::OnceLock;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::{json, Map, Value as Json};

use crate::bridge::identifier;

/// What an import could not carry over, said rather than dropped.
pub struct Imported {
    /// The request entry, as JSON ready to write out as YAML.
    pub entry: Json,
    /// What could not be carried over, one line each.
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

/// `a=1&b=2` as decoded pairs.
fn pairs(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

/// What a curl command's flags say.
#[derive(Default)]
struct Command {
    method: Option<String>,
    url: Option<String>,
    headers: IndexMap<String, String>,
    data: Vec<String>,
    json_body: Option<String>,
    form_parts: Vec<(String, String)>,
    user: Option<String>,
    get: bool,
    notes: Vec<String>,
}

/// `-XPOST`, `-H'..'`, `--data=..`: a flag and the value attached to it.
fn split_flag(arg: &str) -> (String, Option<String>) {
    if let Some(rest) = arg.strip_prefix("--") {
        return match rest.split_once('=') {
            Some((f, v)) => (format!("--{f}"), Some(v.to_string())),
            None => (arg.to_string(), None),
        };
    }
    if arg.len() > 2 && arg.starts_with('-') && "XHdbuAeFo".contains(&arg[1..2]) {
        return (arg[..2].to_string(), Some(arg[2..].to_string()));
    }
    (arg.to_string(), None)
}

/// Flags that take a value.
const VALUED: &[&str] = &[
    "-X",
    "--request",
    "-H",
    "--header",
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-ascii",
    "--data-urlencode",
    "--json",
    "-F",
    "--form",
    "-u",
    "--user",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-b",
    "--cookie",
    "--url",
    "-o",
    "--output",
    "-w",
    "--write-out",
    "--max-time",
    "-m",
    "--connect-timeout",
];

/// Flags that change nothing a request entry holds.
const IGNORED: &[&str] = &[
    "-k",
    "--insecure",
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-v",
    "--verbose",
    "-i",
    "--include",
    "--compressed",
    "-f",
    "--fail",
    "-sS",
];

impl Command {
    fn parse(args: &[String]) -> Result<Command, String> {
        let mut cmd = Command::default();
        let mut i = 0;
        while i < args.len() {
            let (flag, attached) = split_flag(&args[i]);
            let value = if VALUED.contains(&flag.as_str()) {
                match attached {
                    Some(v) => Some(v),
                    None => {
                        i += 1;
                        Some(
                            args.get(i)
                                .cloned()
                                .ok_or_else(|| format!("`{flag}` needs a value"))?,
                        )
                    }
                }
            } else {
                None
            };
            if !(flag == "curl" && i == 0) {
                cmd.flag(&flag, value, &args[i]);
            }
            i += 1;
        }
        Ok(cmd)
    }

    fn flag(&mut self, flag: &str, value: Option<String>, arg: &str) {
        let v = value.unwrap_or_default();
        match flag {
            "-X" | "--request" => self.method = Some(v.to_ascii_uppercase()),
            "-H" | "--header" => match v.split_once(':') {
                Some((k, val)) => {
                    self.headers
                        .insert(k.trim().to_string(), val.trim().to_string());
                }
                None => self
                    .notes
                    .push(format!("header `{v}` has no `:`; left out")),
            },
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" => {
                if v.starts_with('@') && flag != "--data-raw" {
                    self.notes.push(format!(
                        "`{flag} {v}` reads a file; the body is left as a placeholder"
                    ));
                }
                self.data.push(v);
            }
            "--data-urlencode" => self.data.push(match v.split_once('=') {
                Some((k, val)) => format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(val.as_bytes()).collect::<String>()
                ),
                None => url::form_urlencoded::byte_serialize(v.as_bytes()).collect(),
            }),
            "--json" => self.json_body = Some(v),
            "-F" | "--form" => match v.split_once('=') {
                Some((k, val)) => self.form_parts.push((k.to_string(), val.to_string())),
                None => self
                    .notes
                    .push(format!("form field `{v}` has no `=`; left out")),
            },
            "-u" | "--user" => self.user = Some(v),
            "-A" | "--user-agent" => self.header("User-Agent", v),
            "-e" | "--referer" => self.header("Referer", v),
            "-b" | "--cookie" => self.header("Cookie", v),
            "--url" => self.url = Some(v),
            "-G" | "--get" => self.get = true,
            "-L" | "--location" => self.notes.push(
                "`-L`: reqtest does not follow redirects; assert the 30x, or request its Location"
                    .into(),
            ),
            "--max-time" | "-m" => self
                .notes
                .push(format!("`{flag} {v}` → set `timeout: {v}s`")),
            "-o" | "--output" | "-w" | "--write-out" | "--connect-timeout" => {}
            f if IGNORED.contains(&f) => {}
            f if f.starts_with('-') && f.len() > 1 => self
                .notes
                .push(format!("`{f}` is not understood; left out")),
            _ if self.url.is_some() => self.notes.push(format!("a second URL `{arg}` is left out")),
            _ => self.url = Some(arg.to_string()),
        }
    }

    fn header(&mut self, name: &str, value: String) {
        self.headers.insert(name.into(), value);
    }

    fn has_body(&self) -> bool {
        !self.data.is_empty() || self.json_body.is_some() || !self.form_parts.is_empty()
    }

    /// As in curl, an explicit Authorization header wins over `-u`.
    fn basic_auth(&mut self) {
        let has = self
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("authorization"));
        let Some(u) = self.user.as_ref().filter(|_| !has) else {
            return;
        };
        let (name, pass) = u.split_once(':').unwrap_or((u.as_str(), ""));
        let value = format!(
            "{{{{ basic_auth('{}', '{}') }}}}",
            templatize(name).replace('\'', "\\'"),
            templatize(pass).replace('\'', "\\'")
        )
        .replace("'{{ ", "")
        .replace(" }}'", "");
        self.headers.insert("Authorization".into(), value);
    }

    fn content_type(&self) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase())
    }

    fn drop_header(&mut self, name: &str, when: impl Fn(&str) -> bool) {
        self.headers
            .retain(|k, v| !(k.eq_ignore_ascii_case(name) && when(&v.to_ascii_lowercase())));
    }
}

/// A curl command's arguments (after `curl`) as a request entry.
pub fn import(args: &[String], name: Option<&str>) -> Result<Imported, String> {
    let mut cmd = Command::parse(args)?;
    let url = cmd.url.clone().ok_or("the curl command has no URL")?;
    let method = cmd.method.clone().unwrap_or_else(|| {
        if cmd.has_body() && !cmd.get {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let mut entry = Map::new();
    let url = templatize(url.trim_matches('`'));
    entry.insert(
        "name".into(),
        Json::from(
            name.map(str::to_string)
                .unwrap_or_else(|| format!("{method} {}", path_of(&url))),
        ),
    );
    entry.insert("method".into(), Json::from(method));
    // Parameters in the URL go to `query`, where templates in them stay readable.
    let mut query: IndexMap<String, String> = IndexMap::new();
    let base = match url.split_once('?') {
        Some((base, q)) => {
            query.extend(pairs(q));
            base.to_string()
        }
        None => url.clone(),
    };
    entry.insert("url".into(), Json::from(base));
    cmd.basic_auth();
    body(&mut cmd, &mut entry, &mut query);
    multipart(&cmd, &mut entry);
    let templatized = |m: IndexMap<String, String>| -> Json {
        Json::Object(
            m.into_iter()
                .map(|(k, v)| (templatize(&k), Json::from(templatize(&v))))
                .collect(),
        )
    };
    if !query.is_empty() {
        entry.insert("query".into(), templatized(query));
    }
    if !cmd.headers.is_empty() {
        entry.insert(
            "headers".into(),
            templatized(std::mem::take(&mut cmd.headers)),
        );
    }
    Ok(Imported {
        entry: Json::Object(entry),
        notes: cmd.notes,
        vars: placeholders(&args.join(" ")),
    })
}

/// The path of a URL, for a request's default name.
fn path_of(url: &str) -> String {
    let fallback = url
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit("}}")
        .next()
        .unwrap_or_default();
    reqwest::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| fallback.to_string())
}

/// The data of `-d` and friends: query parameters with `-G`, `json` for
/// JSON, `form` for a urlencoded form, else a raw `body`.
fn body(cmd: &mut Command, entry: &mut Map<String, Json>, query: &mut IndexMap<String, String>) {
    if let Some(j) = &cmd.json_body {
        let t = templatize(j);
        entry.insert(
            "json".into(),
            serde_json::from_str(&t).unwrap_or(Json::from(t)),
        );
        return;
    }
    if cmd.data.is_empty() {
        return;
    }
    let joined = cmd.data.join("&");
    if cmd.get {
        query.extend(pairs(&joined));
        return;
    }
    let content_type = cmd.content_type();
    if content_type.as_deref().is_some_and(|c| c.contains("json")) {
        match serde_json::from_str::<Json>(&joined) {
            Ok(j) => {
                entry.insert("json".into(), templatize_json(j));
                cmd.drop_header("content-type", |v| v.starts_with("application/json"));
            }
            Err(_) => {
                entry.insert("body".into(), Json::from(templatize(&joined)));
            }
        }
    } else if content_type
        .as_deref()
        .is_none_or(|c| c.contains("x-www-form-urlencoded"))
    {
        let form: Map<String, Json> = pairs(&joined)
            .map(|(k, v)| (k, Json::from(templatize(&v))))
            .collect();
        entry.insert("form".into(), Json::Object(form));
        cmd.drop_header("content-type", |_| true);
    } else {
        entry.insert("body".into(), Json::from(templatize(&joined)));
    }
}

/// `-F name=value` and `-F file=@path;type=..;filename=..`.
fn multipart(cmd: &Command, entry: &mut Map<String, Json>) {
    if cmd.form_parts.is_empty() {
        return;
    }
    let mut parts = Map::new();
    for (k, v) in &cmd.form_parts {
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
            None => Json::from(templatize(v)),
        };
        parts.insert(k.clone(), part);
    }
    entry.insert("multipart".into(), Json::Object(parts));
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
