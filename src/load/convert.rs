//! Raw serde structures → typed model, checking everything that can be
//! checked without running: predicates, capture sources, JSONPaths, regexes,
//! durations, status patterns, duplicate names.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value as Json;

use super::model::*;
use super::raw::*;
use super::yaml::{Document, Located};
use super::LoadError;

type Result<T> = std::result::Result<T, LoadError>;

const HEADER_CHECKS: &[&str] = &["eq", "contains", "matches", "present", "absent"];
const CAPTURE_SOURCES: &[&str] = &["jsonpath", "header", "regex", "status", "cookie", "body"];
/// Keys a capture mapping takes besides its source.
const CAPTURE_OPTIONS: &[&str] = &["group", "secret"];

/// What converting one file needs: its name, where each node sits, and what
/// is parsed once per run however often the file repeats it.
pub(super) struct Converter<'a> {
    pub(super) file: &'a FileName,
    index: &'a Document,
    /// Collections repeat the same paths (`$.id` in every request); parse
    /// each distinct one once.
    jsonpaths: RefCell<foldhash::HashMap<String, JsonPath>>,
    /// Texts many requests repeat (`{{ base }}/items`, `Bearer {{ token }}`)
    /// are held once.
    texts: RefCell<foldhash::HashSet<Arc<str>>>,
    /// Schema and OpenAPI documents, and schemas compiled from them, once
    /// per run however many requests name them.
    pub(super) documents: RefCell<HashMap<std::path::PathBuf, Arc<Json>>>,
    pub(super) schemas: RefCell<HashMap<String, Schema>>,
}

/// A path in the document under construction, built by appending keys and
/// indexes as the converter descends. Each step shares its parent, so
/// taking one costs one small allocation, not a copy of the whole path.
#[derive(Clone, Default)]
pub(super) struct YamlPath(Option<Rc<Step>>);

struct Step {
    parent: YamlPath,
    seg: PathPart,
    /// Where the step leads in a document (named by its address), found
    /// once: a request's many positions share its own.
    located: Cell<Option<(usize, Located)>>,
}

/// A step: a key (most are the format's own, written in our code, and
/// not copied) or an index.
enum PathPart {
    Key(std::borrow::Cow<'static, str>),
    Index(usize),
}

impl YamlPath {
    fn then(&self, seg: PathPart) -> YamlPath {
        YamlPath(Some(Rc::new(Step {
            parent: self.clone(),
            seg,
            located: Cell::new(None),
        })))
    }
    /// The entry under a key the user wrote.
    pub(super) fn key(&self, key: &str) -> YamlPath {
        self.then(PathPart::Key(key.to_string().into()))
    }
    /// The entry under one of the format's own keys.
    pub(super) fn field(&self, key: &'static str) -> YamlPath {
        self.then(PathPart::Key(key.into()))
    }
    pub(super) fn index(&self, index: usize) -> YamlPath {
        self.then(PathPart::Index(index))
    }
    /// The steps from the root.
    fn segs(&self) -> Vec<&PathPart> {
        let mut out = Vec::new();
        let mut at = self;
        while let Some(step) = &at.0 {
            out.push(&step.seg);
            at = &step.parent;
        }
        out.reverse();
        out
    }
}

/// How a user would name this place: `requests[2].expect.json`.
impl std::fmt::Display for YamlPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.segs().into_iter().enumerate() {
            match seg {
                PathPart::Key(k) if i == 0 => f.write_str(k)?,
                PathPart::Key(k) => write!(f, ".{k}")?,
                PathPart::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl<'a> Converter<'a> {
    /// A converter for the file `file`, whose nodes `index` locates.
    pub(super) fn new(file: &'a FileName, index: &'a Document) -> Self {
        Converter {
            file,
            index,
            jsonpaths: RefCell::default(),
            texts: RefCell::default(),
            documents: RefCell::default(),
            schemas: RefCell::default(),
        }
    }
}

impl Converter<'_> {
    /// Where `path` leads in this converter's document.
    pub(super) fn locate(&self, path: &YamlPath) -> Located {
        let Some(step) = &path.0 else {
            return self.index.root_located();
        };
        let doc = self.index as *const Document as usize;
        if let Some((d, found)) = step.located.get() {
            if d == doc {
                return found;
            }
        }
        let from = self.locate(&step.parent);
        let found = match &step.seg {
            PathPart::Key(key) => self.index.step_key(from, key),
            PathPart::Index(i) => self.index.step_index(from, *i),
        };
        step.located.set(Some((doc, found)));
        found
    }

    pub(super) fn pos(&self, path: &YamlPath) -> Pos {
        let at = self.locate(path).at;
        Pos {
            file: self.file.clone(),
            line: at.line,
            col: at.col,
        }
    }

    pub(super) fn err(&self, path: &YamlPath, message: impl Into<String>) -> LoadError {
        LoadError::invalid(self.pos(path), message)
    }

    pub(super) fn text(&self, path: &YamlPath, src: &str) -> Text {
        let mut texts = self.texts.borrow_mut();
        let src = match texts.get(src) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = Arc::from(src);
                texts.insert(shared.clone());
                shared
            }
        };
        Text {
            src,
            at: self.pos(path),
        }
    }

    pub(super) fn data(&self, path: &YamlPath, value: Json) -> Data {
        Data {
            value,
            at: self.pos(path),
        }
    }

    /// A scalar that is sent as text (header, query or form value).
    pub(super) fn scalar_text(&self, path: &YamlPath, value: &Json) -> Result<Text> {
        let src = match value {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            other => {
                return Err(self.err(
                    path,
                    format!(
                        "{} must be a string, a number or a boolean, not {}",
                        path,
                        JsonType::of(other)
                    ),
                ))
            }
        };
        Ok(self.text(path, &src))
    }

    pub(super) fn pairs(
        &self,
        path: &YamlPath,
        map: &IndexMap<String, Json>,
    ) -> Result<Vec<(String, Text)>> {
        let mut out = Vec::with_capacity(map.len());
        for (name, value) in map {
            let p = path.key(name);
            match value {
                // A list repeats the parameter: `ids: [1, 2]` → `ids=1&ids=2`.
                Json::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        out.push((name.clone(), self.scalar_text(&p.index(i), item)?));
                    }
                }
                _ => out.push((name.clone(), self.scalar_text(&p, value)?)),
            }
        }
        Ok(out)
    }

    pub(super) fn regex(&self, path: &YamlPath, pattern: &str) -> Result<Regex> {
        Regex::new(pattern).map_err(|e| self.err(path, format!("invalid regex `{pattern}`: {e}")))
    }

    pub(super) fn jsonpath(&self, path: &YamlPath, src: &str) -> Result<JsonPath> {
        if let Some(parsed) = self.jsonpaths.borrow().get(src) {
            return Ok(parsed.clone());
        }
        let parsed =
            JsonPath::parse(src).map_err(|e| self.err(path, describe_jsonpath_error(src, &e)))?;
        self.jsonpaths
            .borrow_mut()
            .insert(src.to_string(), parsed.clone());
        Ok(parsed)
    }

    /// A timeout, delay or response time: at most a day.
    pub(super) fn duration(&self, path: &YamlPath, value: &Json) -> Result<Duration> {
        self.duration_within(path, value, MAX_DURATION)
    }

    /// A duration the user wrote, at most `max`: a huge one (`1e400`,
    /// `18446744073709551615h`) is a mistake, and would overflow timers.
    pub(super) fn duration_within(
        &self,
        path: &YamlPath,
        value: &Json,
        max: Duration,
    ) -> Result<Duration> {
        let d = parse_duration(value).ok_or_else(|| {
            self.err(
                path,
                format!(
                    "{}: expected a duration such as `500ms`, `2s`, `1m`, `1h` or `1d` (a bare number is milliseconds), got {value}",
                    path
                ),
            )
        })?;
        if d > max {
            return Err(self.err(
                path,
                format!(
                    "{}: {value} is longer than the most it may be, {}",
                    path,
                    format_duration(max)
                ),
            ));
        }
        Ok(d)
    }
}

impl Converter<'_> {
    /// A typed part of the format read from its JSON tree at `path`: serde
    /// checks it against the type (unknown keys, wrong kinds of values), and
    /// the mistake says which key is wrong.
    pub(super) fn read_typed<T: serde::de::DeserializeOwned>(
        &self,
        path: &YamlPath,
        value: &Json,
    ) -> std::result::Result<T, Box<Mistake>> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let mut at = path.clone();
            for seg in e.path().iter() {
                match seg {
                    serde_path_to_error::Segment::Map { key } => at = at.key(key),
                    serde_path_to_error::Segment::Seq { index } => at = at.index(*index),
                    _ => {}
                }
            }
            let field = e.path().iter().next_back().map(|s| s.to_string());
            Box::new(Mistake::new(at, field, e.inner().to_string()))
        })
    }

    /// [`Converter::read_typed`], an unknown key called an unknown `noun` and
    /// followed by `hint`.
    pub(super) fn typed<T: serde::de::DeserializeOwned>(
        &self,
        path: &YamlPath,
        value: &Json,
        noun: &str,
        hint: &str,
    ) -> Result<T> {
        self.read_typed(path, value).map_err(|m| match &m.unknown {
            Some((key, expected)) => self.err(
                &m.at.key(key),
                format!("unknown {noun} `{key}`; {expected}{hint}"),
            ),
            None => {
                let field = m
                    .field
                    .as_ref()
                    .map(|f| format!("`{f}`: "))
                    .unwrap_or_default();
                self.err(&m.at, format!("{field}{}", m.message))
            }
        })
    }

    /// A body size: `64MiB`, `512KiB`, `10MB`, `1GiB`, or bytes.
    pub(super) fn size(&self, path: &YamlPath, value: &Json) -> Result<u64> {
        let bytes = parse_size(value).ok_or_else(|| {
            self.err(
                path,
                format!(
                    "{}: expected a size such as `512KiB`, `10MB` or `1GiB` (a bare number is bytes), got {value}",
                    path
                ),
            )
        })?;
        if bytes == 0 || bytes > MAX_MAX_BODY {
            return Err(self.err(
                path,
                format!(
                    "{}: {value} is not between 1 byte and {}",
                    path,
                    format_size(MAX_MAX_BODY)
                ),
            ));
        }
        Ok(bytes)
    }
}

/// `512KiB`, `10MB`, `1.5GiB`, `1024`: bytes, or `None`.
pub fn parse_size(value: &Json) -> Option<u64> {
    let (number, unit) = match value {
        Json::Number(n) => return n.as_u64(),
        Json::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            (s[..split].parse::<f64>().ok()?, s[split..].trim())
        }
        _ => return None,
    };
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * scale;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// The longest timeout, delay or `max_duration`.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The longest token `lifetime`.
pub const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);

/// The parser's own message is a multi-line pest report; users need the
/// column and, for the usual mistake, how to write a name with a dash.
fn describe_jsonpath_error(src: &str, error: &str) -> String {
    let column = error
        .split_once("--> 1:")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|c| !c.is_empty());
    let mut message = format!("invalid JSONPath `{src}`");
    if let Some(c) = column {
        message.push_str(&format!(" (at character {c})"));
    } else if let Some(first) = error.lines().next() {
        message.push_str(&format!(": {first}"));
    }
    if !src.starts_with('$') {
        message.push_str("; a JSONPath starts with `$`");
    } else if src.contains('-') || src.contains(' ') {
        message.push_str(
            "; a name with `-` or a space needs brackets, as in $.headers['content-type']",
        );
    }
    message
}

/// `250ms`, `1.5s`, `2m`, `1h`, `1d`, or a bare number of milliseconds;
/// `None` for anything else, negative, or too large for a `Duration`.
pub fn parse_duration(value: &Json) -> Option<Duration> {
    let seconds = match value {
        Json::Number(n) => n.as_f64()? / 1000.0,
        Json::String(s) => {
            let s = s.trim();
            let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
                (v, 0.001)
            } else if let Some(v) = s.strip_suffix('s') {
                (v, 1.0)
            } else if let Some(v) = s.strip_suffix('m') {
                (v, 60.0)
            } else if let Some(v) = s.strip_suffix('h') {
                (v, 3600.0)
            } else if let Some(v) = s.strip_suffix('d') {
                (v, 86400.0)
            } else {
                (s, 0.001)
            };
            num.trim().parse::<f64>().ok()? * scale
        }
        _ => return None,
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

pub(super) fn expected_one_of(list: &[&str]) -> String {
    list.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The typed collection for the parsed YAML of `file`, every node placed
/// by `index`.
pub fn collection(raw: RawCollection, file: &FileName, index: &Document) -> Result<Collection> {
    let cx = Converter::new(file, index);
    let root = YamlPath::default();
    let mut environments = environments(&cx, &raw.environments)?;
    let name = match raw.name {
        Some(n) if !n.trim().is_empty() => n,
        _ => std::path::Path::new(&**file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "collection".into()),
    };
    let mut vars = raw
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), cx.data(&root.field("vars").key(k), v.clone())))
        .collect();
    let mut defaults = defaults(&cx, &raw.defaults)?;
    let mut auths = auths(&cx, raw.auth, raw.auths)?;
    if let Some(paths) = raw.include {
        let site = cx.pos(&root.field("include"));
        let mut stack = Vec::from_iter(std::path::Path::new(&**file).canonicalize().ok());
        let included = super::include::pieces(
            std::path::Path::new(&**file),
            &paths.into_vec(),
            &site,
            &mut stack,
        )?;
        let mut own = Collection {
            name: String::new(),
            file: file.clone(),
            default_env: None,
            environments,
            vars,
            secrets: Vec::new(),
            defaults,
            auths,
            requests: Vec::new(),
            tags: Vec::new(),
            thresholds: None,
        };
        super::include::apply(&mut own, included);
        (environments, vars, defaults, auths) =
            (own.environments, own.vars, own.defaults, own.auths);
    }
    check_default_env(&cx, raw.default_env.as_ref(), &environments)?;
    let collection_tags = tags(&cx, &root.field("tags"), &raw.tags)?;
    let mut requests = requests(&cx, raw.requests, &auths)?;
    for request in &mut requests {
        if collection_tags.is_empty() {
            continue;
        }
        let own = std::mem::take(&mut request.tags);
        let mut tags = collection_tags.clone();
        tags.extend(
            own.into_vec()
                .into_iter()
                .filter(|t| !collection_tags.contains(t)),
        );
        request.tags = tags.into();
    }
    Ok(Collection {
        name,
        file: file.clone(),
        default_env: raw.default_env,
        environments,
        vars,
        secrets: raw.secrets,
        defaults,
        auths,
        thresholds: thresholds(&cx, raw.thresholds.as_ref(), &requests)?,
        requests,
        tags: collection_tags,
    })
}

fn thresholds(
    cx: &Converter,
    raw: Option<&RawThresholds>,
    requests: &[Request],
) -> Result<Option<Thresholds>> {
    let Some(raw) = raw else { return Ok(None) };
    let p = YamlPath::default().field("thresholds");
    if let Some(r) = requests.iter().find(|r| r.name == THRESHOLDS_TEST) {
        return Err(LoadError::invalid(
            r.at.clone(),
            "a collection with `thresholds` has a test of that name: call this request something else",
        ));
    }
    let mut times = Vec::new();
    for (name, value) in [
        ("p50", &raw.p50),
        ("p95", &raw.p95),
        ("p99", &raw.p99),
        ("max", &raw.max),
    ] {
        if let Some(v) = value {
            times.push((name, cx.duration(&p.key(name), v)?));
        }
    }
    if let Some(rate) = raw.error_rate.filter(|r| !(0.0..=1.0).contains(r)) {
        return Err(cx.err(
            &p.field("error_rate"),
            format!("`error_rate` is a share from 0 to 1, not {rate}"),
        ));
    }
    if times.is_empty() && raw.error_rate.is_none() {
        return Err(cx.err(
            &p,
            "`thresholds` sets none of `p50`, `p95`, `p99`, `max`, `error_rate`",
        ));
    }
    Ok(Some(Thresholds {
        times,
        error_rate: raw.error_rate,
        at: cx.pos(&p),
    }))
}

/// Tags: letters, digits, `_`, `-`, `.` and `:`, each once.
fn tags(cx: &Converter, p: &YamlPath, raw: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, tag) in raw.iter().enumerate() {
        let ok = !tag.is_empty()
            && tag
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !ok {
            return Err(cx.err(
                &p.index(i),
                format!("`{tag}` is not a tag: letters, digits, `_`, `-`, `.` and `:`"),
            ));
        }
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    Ok(out)
}

/// The parts of an included file, converted with its own positions.
pub(super) fn piece(cx: &Converter, raw: RawPiece) -> Result<super::include::Piece> {
    let root = YamlPath::default();
    Ok(super::include::Piece {
        environments: environments(cx, &raw.environments)?,
        vars: raw
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), cx.data(&root.field("vars").key(k), v.clone())))
            .collect(),
        defaults: raw.defaults.as_ref().map(|d| defaults(cx, d)).transpose()?,
        auths: auths(cx, raw.auth, raw.auths)?,
    })
}

type Environments = IndexMap<String, IndexMap<String, Data>>;

fn environments(
    cx: &Converter,
    raw: &IndexMap<String, IndexMap<String, Json>>,
) -> Result<Environments> {
    let root = YamlPath::default();
    let mut environments = IndexMap::new();
    for (env_name, vars) in raw {
        let p = root.field("environments").key(env_name);
        let vars = vars
            .iter()
            .map(|(k, v)| (k.clone(), cx.data(&p.key(k), v.clone())))
            .collect();
        environments.insert(env_name.clone(), vars);
    }
    Ok(environments)
}

/// `default_env` names one of the environments (included ones too).
fn check_default_env(
    cx: &Converter,
    default_env: Option<&String>,
    environments: &Environments,
) -> Result<()> {
    let root = YamlPath::default();
    if let Some(default) = default_env.filter(|d| !environments.contains_key(*d)) {
        return Err(cx.err(
            &root.field("default_env"),
            format!(
                "default_env `{default}` is not one of the environments: {}",
                expected_one_of(&environments.keys().map(String::as_str).collect::<Vec<_>>())
            ),
        ));
    }
    Ok(())
}

fn defaults(cx: &Converter, raw: &RawDefaults) -> Result<Defaults> {
    let dp = YamlPath::default().field("defaults");
    Ok(Defaults {
        base_url: raw
            .base_url
            .as_deref()
            .map(|u| cx.text(&dp.field("base_url"), u)),
        headers: cx.pairs(&dp.field("headers"), &raw.headers)?,
        query: cx.pairs(&dp.field("query"), &raw.query)?,
        timeout: optional(cx, &dp, "timeout", &raw.timeout, Converter::duration)?,
        max_body: optional(cx, &dp, "max_body", &raw.max_body, Converter::size)?,
        tls: raw
            .tls
            .as_ref()
            .map(|t| tls(cx, &dp.field("tls"), t))
            .transpose()?,
        proxy: raw.proxy.as_ref().map(|p| proxy(cx, &dp.field("proxy"), p)),
        http_version: optional(cx, &dp, "http_version", &raw.http_version, http_version)?,
        connect_timeout: optional(cx, &dp, "connect_timeout", &raw.connect_timeout, Converter::duration)?,
        follow_redirects: optional(cx, &dp, "follow_redirects", &raw.follow_redirects, follow_redirects)?,
        retry: match &raw.retry {
            Some(r) if r.until.is_some() => {
                return Err(cx.err(
                    &dp.field("retry").field("until"),
                    "`until` belongs to a request's own `retry`: what ends the polling differs from request to request",
                ))
            }
            Some(r) => Some(retry(cx, &dp.field("retry"), r)?),
            None => None,
        },
    })
}

fn retry(cx: &Converter, p: &YamlPath, raw: &RawRetry) -> Result<Retry> {
    if raw.times > MAX_RETRIES {
        return Err(cx.err(
            &p.field("times"),
            format!("`times` is at most {MAX_RETRIES}, not {}", raw.times),
        ));
    }
    let backoff = raw.backoff.unwrap_or(1.0);
    if !(1.0..=10.0).contains(&backoff) {
        return Err(cx.err(
            &p.field("backoff"),
            format!("`backoff` multiplies each wait: between 1 and 10, not {backoff}"),
        ));
    }
    let duration = |key: &str, v: &Option<Json>, default: Duration| match v {
        Some(v) => cx.duration(&p.key(key), v),
        None => Ok(default),
    };
    let until = match &raw.until {
        Some(u) => Some(Box::new(expect(cx, &p.field("until"), (**u).clone())?)),
        None => None,
    };
    Ok(Retry {
        times: raw.times,
        interval: duration("interval", &raw.interval, Duration::from_secs(1))?,
        backoff,
        max_wait: duration("max_wait", &raw.max_wait, Duration::from_secs(60))?,
        until,
    })
}

/// A request's `for_each`: an inline list, a template rendering one, or a
/// data file read now (relative to the collection).
fn for_each(cx: &Converter, p: &YamlPath, value: &Json, name: Option<&str>) -> Result<ForEach> {
    let fp = p.field("for_each");
    let name = name.unwrap_or("item").to_string();
    if !is_identifier(&name) {
        return Err(cx.err(&p.field("as"), format!("`{name}` cannot name a variable")));
    }
    match value {
        Json::Array(items) => Ok(ForEach::List {
            items: items.clone(),
            name,
        }),
        Json::String(s) if s.contains("{{") => Ok(ForEach::Var {
            data: Data {
                value: value.clone(),
                at: cx.pos(&fp),
            },
            name,
        }),
        Json::Object(o) if o.len() == 1 && o.get("file").is_some_and(Json::is_string) => {
            let file = o["file"].as_str().unwrap_or_default();
            let dir = std::path::Path::new(&**cx.file).parent().unwrap_or(std::path::Path::new(""));
            let items = super::data::load_rows(&dir.join(file)).map_err(|e| {
                cx.err(&fp.field("file"), format!("cannot use `{file}`: {e}"))
            })?;
            Ok(ForEach::List { items, name })
        }
        other => Err(cx.err(
            &fp,
            format!("`for_each` takes a list, a template holding one (\"{{{{ users }}}}\") or {{file: data.csv}}, not {other}"),
        )),
    }
}

/// `true` (curl's 50 hops), `false` (none) or a number of hops.
fn follow_redirects(cx: &Converter, p: &YamlPath, value: &Json) -> Result<u32> {
    match value {
        Json::Bool(true) => Ok(MAX_REDIRECTS),
        Json::Bool(false) => Ok(0),
        Json::Number(n) => n
            .as_u64()
            .filter(|n| *n <= 1000)
            .map(|n| n as u32)
            .ok_or_else(|| cx.err(p, format!("`follow_redirects` takes true, false or a number of hops up to 1000, not {n}"))),
        other => Err(cx.err(
            p,
            format!("`follow_redirects` takes true, false or a number of hops, not {other}"),
        )),
    }
}

/// `"1.1"` or `"2"` (also written as numbers).
fn http_version(cx: &Converter, p: &YamlPath, value: &Json) -> Result<HttpVersion> {
    let text = match value {
        Json::String(s) => s.trim().to_string(),
        Json::Number(n) => n.to_string(),
        _ => String::new(),
    };
    match text.as_str() {
        "1.1" | "1" => Ok(HttpVersion::Http1),
        "2" | "2.0" => Ok(HttpVersion::Http2),
        _ => Err(cx.err(
            p,
            format!("`http_version` is \"1.1\" or \"2\", not {value}"),
        )),
    }
}

fn proxy(cx: &Converter, p: &YamlPath, raw: &RawProxy) -> ProxySpec {
    match raw {
        RawProxy::Url(url) => ProxySpec {
            url: cx.text(p, url),
            username: None,
            password: None,
            no_proxy: None,
        },
        RawProxy::Full(full) => {
            let text =
                |key: &str, v: &Option<String>| v.as_deref().map(|s| cx.text(&p.key(key), s));
            ProxySpec {
                url: cx.text(&p.field("url"), &full.url),
                username: text("username", &full.username),
                password: text("password", &full.password),
                no_proxy: text("no_proxy", &full.no_proxy),
            }
        }
    }
}

/// A `tls` block (the collection's `defaults.tls`, or an auth's own).
pub(super) fn tls(cx: &Converter, p: &YamlPath, raw: &RawTls) -> Result<TlsSpec> {
    if raw.client_key.is_some() && raw.client_cert.is_none() {
        return Err(cx.err(
            &p.field("client_key"),
            "`client_key` goes with `client_cert`, the certificate it belongs to",
        ));
    }
    if raw.pkcs12.is_some() && raw.client_cert.is_some() {
        return Err(cx.err(
            &p.field("pkcs12"),
            "a client certificate comes from `pkcs12` or from `client_cert`, not both",
        ));
    }
    if raw.password.is_some() && raw.pkcs12.is_none() {
        return Err(cx.err(
            &p.field("password"),
            "`password` opens a `pkcs12` file (PEM keys are not encrypted here)",
        ));
    }
    let text = |key: &str, v: &Option<String>| v.as_deref().map(|s| cx.text(&p.key(key), s));
    let insecure = raw.insecure.as_ref().map(|i| match i {
        BoolOrText::Bool(b) => cx.text(&p.field("insecure"), if *b { "true" } else { "false" }),
        BoolOrText::Text(t) => cx.text(&p.field("insecure"), t),
    });
    Ok(TlsSpec {
        ca_cert: text("ca_cert", &raw.ca_cert),
        client_cert: text("client_cert", &raw.client_cert),
        client_key: text("client_key", &raw.client_key),
        pkcs12: text("pkcs12", &raw.pkcs12),
        password: text("password", &raw.password),
        insecure,
        at: cx.pos(p),
    })
}

/// The collection's `auth` (named `default`) and its named `auths`.
fn auths(
    cx: &Converter,
    default: Option<super::raw_auth::RawAuthBlock>,
    named: IndexMap<String, super::raw_auth::RawAuthBlock>,
) -> Result<IndexMap<String, AuthSpec>> {
    let root = YamlPath::default();
    let mut auths = IndexMap::new();
    if let Some(spec) = default {
        let spec = super::auth::spec(cx, &root.field("auth"), DEFAULT_AUTH, &spec.0)?;
        auths.insert(DEFAULT_AUTH.to_string(), spec);
    }
    for (name, spec) in named {
        let ap = root.field("auths").key(&name);
        if name == DEFAULT_AUTH || name == "none" || !is_identifier(&name) {
            return Err(cx.err(
                &ap,
                format!("`{name}` cannot name an auth: `default` and `none` are taken, and a name is letters, digits and `_`"),
            ));
        }
        auths.insert(name.clone(), super::auth::spec(cx, &ap, &name, &spec.0)?);
    }
    Ok(auths)
}

/// The requests, each named once and naming only auths that exist.
fn requests(
    cx: &Converter,
    raw: Vec<RawRequestEntry>,
    auths: &IndexMap<String, AuthSpec>,
) -> Result<Vec<Request>> {
    let root = YamlPath::default();
    if raw.is_empty() {
        return Err(cx.err(
            &root.field("requests"),
            "`requests` is empty: a collection needs at least one request",
        ));
    }
    let mut stack = Vec::from_iter(std::path::Path::new(&**cx.file).canonicalize().ok());
    let mut all = Vec::with_capacity(raw.len());
    entries(cx, &root.field("requests"), raw, &mut stack, &mut all)?;
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for request in &all {
        if let Some(first) = seen.get(request.name.as_str()) {
            return Err(LoadError::invalid(
                request.at.clone(),
                format!(
                    "two requests are named `{}` (the first at line {first}): test names must be unique",
                    request.name
                ),
            ));
        }
        if let AuthChoice::Named(named) = &request.auth {
            let (name, p) = &**named;
            if !auths.contains_key(name) {
                let known: Vec<&str> = ["none"]
                    .into_iter()
                    .chain(auths.keys().map(String::as_str))
                    .collect();
                return Err(LoadError::invalid(
                    p.clone(),
                    format!(
                        "no auth named `{name}`; this collection has {}",
                        expected_one_of(&known)
                    ),
                ));
            }
        }
        seen.insert(&request.name, request.at.line);
    }
    Ok(all)
}

/// The requests of `raw` (entries under `at`), included files spliced in;
/// each with the place of its `auth` key, for messages.
pub(super) fn entries(
    cx: &Converter,
    at: &YamlPath,
    raw: Vec<RawRequestEntry>,
    stack: &mut Vec<std::path::PathBuf>,
    out: &mut Vec<Request>,
) -> Result<()> {
    for i in 0..raw.len() {
        let p = at.index(i);
        if cx.index.has_key(cx.locate(&p), "include") {
            let include: RawRequestInclude = read_entry(cx, &p)?;
            let with: Vec<(String, Data)> = include
                .with
                .iter()
                .map(|(k, v)| (k.clone(), cx.data(&p.field("with").key(k), v.clone())))
                .collect();
            let site = cx.pos(&p.field("include"));
            let start = out.len();
            super::include::requests(cx.file, &include.include, &site, stack, out)?;
            for request in &mut out[start..] {
                // The outer include's values come first: inner ones win.
                let mut bound = with.clone();
                bound.extend(std::mem::take(&mut request.with));
                request.with = bound.into();
            }
            continue;
        }
        let raw: RawRequest = read_entry(cx, &p)?;
        out.push(request(cx, &p, raw)?);
    }
    Ok(())
}

/// A request's own settings, boxed only when it has some.
fn tuning(cx: &Converter, p: &YamlPath, r: &RawRequest) -> Result<Option<Box<Tuning>>> {
    let tuning = Tuning {
        timeout: optional(cx, p, "timeout", &r.timeout, Converter::duration)?,
        max_body: optional(cx, p, "max_body", &r.max_body, Converter::size)?,
        delay: optional(cx, p, "delay", &r.delay, Converter::duration)?,
        http_version: optional(cx, p, "http_version", &r.http_version, http_version)?,
        connect_timeout: optional(
            cx,
            p,
            "connect_timeout",
            &r.connect_timeout,
            Converter::duration,
        )?,
        follow_redirects: optional(
            cx,
            p,
            "follow_redirects",
            &r.follow_redirects,
            follow_redirects,
        )?,
    };
    Ok((tuning != Tuning::default()).then(|| Box::new(tuning)))
}

/// The value of `key` under `p`, read by `read`, when it is written.
fn optional<'c, T>(
    cx: &Converter<'c>,
    p: &YamlPath,
    key: &str,
    value: &Option<Json>,
    read: impl Fn(&Converter<'c>, &YamlPath, &Json) -> Result<T>,
) -> Result<Option<T>> {
    value.as_ref().map(|v| read(cx, &p.key(key), v)).transpose()
}

/// A `requests` entry read as `T` from the document, an error pointing at
/// the node it is about.
fn read_entry<T: serde::de::DeserializeOwned>(cx: &Converter, p: &YamlPath) -> Result<T> {
    cx.index.deserialize_located(cx.locate(p), p).map_err(|e| {
        let mut at = cx.pos(p);
        if let Some(found) = e.at {
            (at.line, at.col) = (found.line, found.col);
        }
        LoadError::invalid(at, e.to_string())
    })
}

fn request(cx: &Converter, p: &YamlPath, r: RawRequest) -> Result<Request> {
    if r.name.trim().is_empty() {
        return Err(cx.err(&p.field("name"), "a request needs a non-empty `name`"));
    }
    let method = method(cx, p, r.method.as_deref())?;
    let tuning = tuning(cx, p, &r)?;
    let body = body(
        cx,
        p,
        RawBodies {
            json: r.json,
            form: r.form.as_ref(),
            multipart: r.multipart.as_ref(),
            raw: r.body.as_deref(),
        },
    )?;
    let auth = match r.auth.as_deref() {
        None | Some(DEFAULT_AUTH) => AuthChoice::Default,
        Some("none") => AuthChoice::None,
        Some(name) => AuthChoice::Named(Box::new((name.to_string(), cx.pos(&p.field("auth"))))),
    };

    let ignore = match &r.ignore {
        None | Some(Json::Bool(false)) => None,
        Some(Json::Bool(true)) => Some(String::new()),
        Some(Json::String(reason)) => Some(reason.clone()),
        Some(other) => {
            return Err(cx.err(
                &p.field("ignore"),
                format!("`ignore` takes true, false or a reason, not {other}"),
            ))
        }
    };

    Ok(Request {
        at: cx.pos(p),
        name: r.name,
        method,
        url: cx.text(&p.field("url"), &r.url),
        query: cx.pairs(&p.field("query"), &r.query)?.into(),
        headers: cx.pairs(&p.field("headers"), &r.headers)?.into(),
        body: body.map(Box::new),
        tuning,
        retry: r
            .retry
            .as_ref()
            .map(|rt| retry(cx, &p.field("retry"), rt).map(Box::new))
            .transpose()?,
        when: r
            .when
            .as_deref()
            .map(|w| Box::new(cx.text(&p.field("when"), w))),
        always: r.always.unwrap_or(false),
        for_each: match &r.for_each {
            Some(f) => Some(Box::new(for_each(cx, p, f, r.item_name.as_deref())?)),
            None if r.item_name.is_some() => {
                return Err(cx.err(&p.field("as"), "`as` names the item of a `for_each`"))
            }
            None => None,
        },
        item: None,
        with: Box::default(),
        tags: tags(cx, &p.field("tags"), &r.tags)?.into(),
        auth,
        ignore,
        expect: expect(cx, &p.field("expect"), *r.expect)?,
        captures: captures(cx, &p.field("capture"), &r.capture)?.into(),
    })
}

pub(super) fn method(cx: &Converter, p: &YamlPath, raw: Option<&str>) -> Result<http::Method> {
    let src = raw.unwrap_or("GET").to_ascii_uppercase();
    http::Method::from_bytes(src.as_bytes())
        .map_err(|_| cx.err(&p.field("method"), format!("`{src}` is not an HTTP method")))
}

pub(super) struct RawBodies<'a> {
    pub json: Option<Json>,
    pub form: Option<&'a IndexMap<String, Json>>,
    pub multipart: Option<&'a IndexMap<String, Json>>,
    pub raw: Option<&'a str>,
}

pub(super) fn body(cx: &Converter, p: &YamlPath, b: RawBodies) -> Result<Option<Body>> {
    let set: Vec<&str> = [
        ("json", b.json.is_some()),
        ("form", b.form.is_some()),
        ("multipart", b.multipart.is_some()),
        ("body", b.raw.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| *k)
    .collect();
    if set.len() > 1 {
        return Err(cx.err(
            &p.key(set[1]),
            format!(
                "a request has one body: `{}` and `{}` are both set",
                set[0], set[1]
            ),
        ));
    }
    Ok(if let Some(json) = b.json {
        Some(Body::Json(cx.data(&p.field("json"), json)))
    } else if let Some(form) = b.form {
        Some(Body::Form(cx.pairs(&p.field("form"), form)?))
    } else if let Some(parts) = b.multipart {
        Some(Body::Multipart(multipart(
            cx,
            &p.field("multipart"),
            parts,
        )?))
    } else {
        b.raw.map(|raw| Body::Raw(cx.text(&p.field("body"), raw)))
    })
}

fn multipart(cx: &Converter, p: &YamlPath, parts: &IndexMap<String, Json>) -> Result<Vec<Part>> {
    let mut out = Vec::new();
    for (name, value) in parts {
        let pp = p.key(name);
        let kind = match value {
            Json::Object(map) => {
                for key in map.keys() {
                    if !["file", "filename", "content_type"].contains(&key.as_str()) {
                        return Err(cx.err(
                            &pp.key(key),
                            format!(
                                "unknown key `{key}` in a multipart file part; expected one of {}",
                                expected_one_of(&["file", "filename", "content_type"])
                            ),
                        ));
                    }
                }
                let path = match map.get("file") {
                    Some(Json::String(f)) => cx.text(&pp.field("file"), f),
                    _ => return Err(cx.err(&pp, "a multipart file part needs `file: PATH`")),
                };
                let opt = |k: &str| map.get(k).and_then(Json::as_str).map(str::to_string);
                PartKind::File {
                    path,
                    filename: opt("filename"),
                    content_type: opt("content_type"),
                }
            }
            _ => PartKind::Text(cx.scalar_text(&pp, value)?),
        };
        out.push(Part {
            name: name.clone(),
            kind,
        });
    }
    Ok(out)
}

fn expect(cx: &Converter, p: &YamlPath, raw: RawExpect) -> Result<Expect> {
    let status = raw
        .status
        .as_ref()
        .map(|s| status(cx, &p.field("status"), s))
        .transpose()?;
    let mut headers = Vec::with_capacity(raw.headers.len());
    for (name, value) in &raw.headers {
        headers.push(header_expect(
            cx,
            &p.field("headers").key(name),
            name,
            value,
        )?);
    }
    let max_duration = match &raw.max_duration {
        Some(d) => {
            let dp = p.field("max_duration");
            Some((cx.duration(&dp, d)?, cx.pos(&dp)))
        }
        None => None,
    };
    let mut json = Vec::with_capacity(raw.json.len());
    for (path_src, value) in &raw.json {
        let jp = p.field("json").key(path_src);
        json.push(JsonAssert {
            path: cx.jsonpath(&jp, path_src)?,
            at: cx.pos(&jp),
            predicates: predicates(cx, &jp, &value.0)?.into(),
        });
    }
    let body = raw
        .body
        .map(|b| body_expect(cx, &p.field("body"), b))
        .transpose()?;
    let schema = raw
        .schema
        .as_deref()
        .map(|f| super::contract::schema_check(cx, &p.field("schema"), f))
        .transpose()?;
    let openapi = raw
        .openapi
        .as_ref()
        .map(|o| super::contract::openapi_check(cx, &p.field("openapi"), o))
        .transpose()?;
    let http_version = match &raw.http_version {
        Some(v) => {
            let vp = p.field("http_version");
            Some((http_version(cx, &vp, v)?, cx.pos(&vp)))
        }
        None => None,
    };
    Ok(Expect {
        status,
        headers: headers.into(),
        max_duration: max_duration.map(Box::new),
        json: json.into(),
        body: body.map(Box::new),
        schema: schema.map(Box::new),
        openapi: openapi.map(Box::new),
        http_version: http_version.map(Box::new),
    })
}

fn status(cx: &Converter, p: &YamlPath, value: &Json) -> Result<StatusExpect> {
    let one = |v: &Json, at: &YamlPath| -> Result<StatusPattern> {
        let bad = || {
            cx.err(
                at,
                format!("a status is a code such as 200 or a class such as `2xx`, not {v}"),
            )
        };
        match v {
            Json::Number(n) => {
                let code = n
                    .as_u64()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(bad)?;
                Ok(StatusPattern::Code(code as u16))
            }
            Json::String(s) => {
                let s = s.trim().to_ascii_lowercase();
                if let Some(class) = s.strip_suffix("xx") {
                    match class.parse::<u16>() {
                        Ok(c) if (1..=5).contains(&c) => Ok(StatusPattern::Class(c)),
                        _ => Err(bad()),
                    }
                } else {
                    match s.parse::<u16>() {
                        Ok(c) if (100..=599).contains(&c) => Ok(StatusPattern::Code(c)),
                        _ => Err(bad()),
                    }
                }
            }
            _ => Err(bad()),
        }
    };
    let allowed = match value {
        Json::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| one(v, &p.index(i)))
            .collect::<Result<_>>()?,
        other => vec![one(other, p)?],
    };
    Ok(StatusExpect {
        allowed: allowed.into(),
        at: cx.pos(p),
    })
}

fn header_expect(cx: &Converter, p: &YamlPath, name: &str, value: &Json) -> Result<HeaderExpect> {
    let mut checks = Vec::new();
    match value {
        Json::Object(map) => {
            for (op, arg) in map {
                let ap = p.key(op);
                let check = match op.as_str() {
                    "eq" => HeaderCheck::Equals(cx.scalar_text(&ap, arg)?),
                    "contains" => HeaderCheck::Contains(cx.scalar_text(&ap, arg)?),
                    "matches" => match arg {
                        Json::String(re) => HeaderCheck::Matches(cx.regex(&ap, re)?),
                        _ => return Err(cx.err(&ap, "`matches` takes a regex string")),
                    },
                    "present" | "absent" => match arg {
                        Json::Bool(b) => {
                            HeaderCheck::Present(if op == "present" { *b } else { !*b })
                        }
                        _ => return Err(cx.err(&ap, format!("`{op}` takes true or false"))),
                    },
                    _ => {
                        return Err(cx.err(
                            &ap,
                            format!(
                            "unknown header check `{op}` for header `{name}`; expected one of {}",
                            expected_one_of(HEADER_CHECKS)
                        ),
                        ))
                    }
                };
                checks.push(check);
            }
        }
        _ => checks.push(HeaderCheck::Equals(cx.scalar_text(p, value)?)),
    }
    Ok(HeaderExpect {
        name: name.to_string(),
        at: cx.pos(p),
        checks,
    })
}

/// A mapping is always a set of predicates (so that a typo is an error, not
/// an object compared for equality); any other value is compared with `eq`.
fn predicates(cx: &Converter, p: &YamlPath, value: &Json) -> Result<Vec<Predicate>> {
    const HINT: &str = " (compare with an object using `eq: {..}`)";
    let Json::Object(map) = value else {
        return Ok(vec![Predicate::Eq(cx.data(p, value.clone()))]);
    };
    if map.is_empty() {
        return Err(cx.err(
            p,
            format!(
                "an empty mapping asserts nothing; use one of {}{HINT}",
                expected_keys::<RawPredicates>()
            ),
        ));
    }
    let raw: RawPredicates = cx.typed(p, value, "predicate", HINT)?;
    let data = |key: &str, v: Json| cx.data(&p.key(key), v);
    let mut out = Vec::new();
    let comparisons = [
        ("eq", raw.eq, Predicate::Eq as fn(Data) -> Predicate),
        ("ne", raw.ne, Predicate::Ne),
        ("lt", raw.lt, Predicate::Lt),
        ("le", raw.le, Predicate::Le),
        ("gt", raw.gt, Predicate::Gt),
        ("ge", raw.ge, Predicate::Ge),
        ("contains", raw.contains, Predicate::Contains),
        ("one_of", raw.one_of.map(Json::Array), Predicate::OneOf),
    ];
    for (key, value, predicate) in comparisons {
        out.extend(value.map(|v| predicate(data(key, v))));
    }
    if let Some(re) = &raw.matches {
        out.push(Predicate::Matches(cx.regex(&p.field("matches"), re)?));
    }
    out.extend(raw.exists.map(Predicate::Exists));
    out.extend(raw.absent.map(|absent| Predicate::Exists(!absent)));
    out.extend(raw.kind.map(|t| Predicate::Type(json_type(t))));
    if let Some(length) = &raw.length {
        out.push(Predicate::Length(predicates(
            cx,
            &p.field("length"),
            &length.0,
        )?));
    }
    if let Some(every) = &raw.every {
        out.push(Predicate::Every(predicates(
            cx,
            &p.field("every"),
            &every.0,
        )?));
    }
    Ok(out)
}

fn json_type(t: RawJsonType) -> JsonType {
    match t {
        RawJsonType::String => JsonType::String,
        RawJsonType::Number => JsonType::Number,
        RawJsonType::Integer => JsonType::Integer,
        RawJsonType::Boolean => JsonType::Boolean,
        RawJsonType::Array => JsonType::Array,
        RawJsonType::Object => JsonType::Object,
        RawJsonType::Null => JsonType::Null,
    }
}

/// What went wrong reading a typed part of the format: where, and what
/// serde said, with the key it did not know or the one that was missing.
pub(super) struct Mistake {
    pub at: YamlPath,
    /// The last key of the path, when the mistake is in a value.
    pub field: Option<String>,
    pub message: String,
    /// An unknown key and what serde expected instead (`expected one of ..`).
    pub unknown: Option<(String, String)>,
    /// A key that must be there.
    pub missing: Option<String>,
    /// An unknown variant (an auth `type`) and the known ones.
    pub variant: Option<(String, String)>,
}

impl Mistake {
    fn new(at: YamlPath, field: Option<String>, message: String) -> Mistake {
        let quoted = |prefix: &str| -> Option<(String, String)> {
            let rest = message.strip_prefix(prefix)?;
            let (key, after) = rest.split_once('`')?;
            Some((key.to_string(), after.trim_start_matches(", ").to_string()))
        };
        Mistake {
            unknown: quoted("unknown field `"),
            missing: quoted("missing field `").map(|(k, _)| k),
            variant: quoted("unknown variant `"),
            at,
            field,
            message,
        }
    }
}

/// The keys a typed part of the format takes, as serde lists them when it
/// meets one it does not know: one list, the type's own.
pub(super) fn expected_keys<T: serde::de::DeserializeOwned>() -> String {
    let probe = serde_json::json!({ "\u{0}": null });
    match serde_json::from_value::<T>(probe) {
        Err(e) => {
            let message = e.to_string();
            message
                .split_once("expected one of ")
                .map(|(_, keys)| keys.to_string())
                .unwrap_or(message)
        }
        Ok(_) => String::new(),
    }
}

fn body_expect(cx: &Converter, p: &YamlPath, raw: RawBodyExpect) -> Result<BodyExpect> {
    if !raw.ignore.is_empty() && raw.json.is_none() {
        return Err(cx.err(
            &p.field("ignore"),
            "`ignore` lists paths left out of `json`; set `json` too",
        ));
    }
    Ok(BodyExpect {
        at: cx.pos(p),
        json: raw.json.map(|j| cx.data(&p.field("json"), j)),
        ignore: raw
            .ignore
            .iter()
            .enumerate()
            .map(|(i, src)| cx.jsonpath(&p.field("ignore").index(i), src))
            .collect::<Result<_>>()?,
        equals: raw
            .equals
            .as_deref()
            .map(|s| cx.text(&p.field("equals"), s)),
        contains: raw
            .contains
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|s| cx.text(&p.field("contains"), s))
            .collect(),
        matches: raw
            .matches
            .as_deref()
            .map(|re| -> Result<_> {
                Ok((
                    cx.regex(&p.field("matches"), re)?,
                    cx.pos(&p.field("matches")),
                ))
            })
            .transpose()?,
    })
}

fn captures(cx: &Converter, p: &YamlPath, raw: &IndexMap<String, Json>) -> Result<Vec<Capture>> {
    let mut out = Vec::new();
    for (var, spec) in raw {
        let cp = p.key(var);
        if !is_identifier(var) {
            return Err(cx.err(
                &cp,
                format!("`{var}` cannot be a variable name: use letters, digits and `_`, not starting with a digit"),
            ));
        }
        let source = match spec {
            Json::String(path) if path.starts_with('$') => CaptureSource::JsonPath(cx.jsonpath(&cp, path)?),
            Json::Object(map) => capture_source(cx, &cp, map)?,
            other => {
                return Err(cx.err(
                    &cp,
                    format!(
                        "capture `{var}`: expected a JSONPath starting with `$`, or a mapping with one of {}; got {other}",
                        expected_one_of(CAPTURE_SOURCES)
                    ),
                ))
            }
        };
        let secret = match spec.get("secret") {
            None | Some(Json::Bool(false)) => false,
            Some(Json::Bool(true)) => true,
            Some(_) => return Err(cx.err(&cp.field("secret"), "`secret` takes true or false")),
        };
        out.push(Capture {
            var: var.clone(),
            at: cx.pos(&cp),
            source,
            secret,
        });
    }
    Ok(out)
}

fn capture_source(
    cx: &Converter,
    p: &YamlPath,
    map: &serde_json::Map<String, Json>,
) -> Result<CaptureSource> {
    let sources: Vec<&String> = map
        .keys()
        .filter(|k| CAPTURE_SOURCES.contains(&k.as_str()))
        .collect();
    for key in map.keys() {
        if !CAPTURE_SOURCES.contains(&key.as_str()) && !CAPTURE_OPTIONS.contains(&key.as_str()) {
            return Err(cx.err(
                &p.key(key),
                format!(
                    "unknown key `{key}` in a capture; expected one of {}, and optionally `secret`, or `group` with `regex`",
                    expected_one_of(CAPTURE_SOURCES)
                ),
            ));
        }
    }
    let [source] = sources.as_slice() else {
        return Err(cx.err(
            p,
            format!(
                "a capture takes exactly one of {}",
                expected_one_of(CAPTURE_SOURCES)
            ),
        ));
    };
    if map.contains_key("group") && source.as_str() != "regex" {
        return Err(cx.err(&p.field("group"), "`group` goes with `regex`"));
    }
    let sp = p.key(source);
    let arg = &map[source.as_str()];
    let string_arg = || {
        arg.as_str()
            .map(str::to_string)
            .ok_or_else(|| cx.err(&sp, format!("`{source}` takes a string")))
    };
    let flag = || match arg {
        Json::Bool(true) => Ok(()),
        _ => Err(cx.err(&sp, format!("write `{source}: true`"))),
    };
    Ok(match source.as_str() {
        "jsonpath" => CaptureSource::JsonPath(cx.jsonpath(&sp, &string_arg()?)?),
        "header" => CaptureSource::Header(string_arg()?),
        "cookie" => CaptureSource::Cookie(string_arg()?),
        "status" => {
            flag()?;
            CaptureSource::Status
        }
        "body" => {
            flag()?;
            CaptureSource::Body
        }
        "regex" => {
            let regex = cx.regex(&sp, &string_arg()?)?;
            let group = regex_group(cx, &p.field("group"), &regex, map.get("group"))?;
            CaptureSource::Regex { regex, group }
        }
        _ => unreachable!("filtered to CAPTURE_SOURCES above"),
    })
}

/// Which group of `regex` a capture keeps: `group` as written (a number
/// or a name the regex has), else the first group, else the whole match.
fn regex_group(
    cx: &Converter,
    at: &YamlPath,
    regex: &Regex,
    group: Option<&Json>,
) -> Result<RegexGroup> {
    match group {
        None => Ok(RegexGroup::Index(usize::from(regex.captures_len() > 1))),
        Some(Json::Number(n)) => {
            let i = n.as_u64().unwrap_or(u64::MAX) as usize;
            if i >= regex.captures_len() {
                return Err(cx.err(
                    at,
                    format!(
                        "the regex has {} group(s); group {i} does not exist",
                        regex.captures_len() - 1
                    ),
                ));
            }
            Ok(RegexGroup::Index(i))
        }
        Some(Json::String(name)) => {
            if !regex.capture_names().flatten().any(|n| n == name) {
                return Err(cx.err(at, format!("the regex has no group named `{name}`")));
            }
            Ok(RegexGroup::Name(name.clone()))
        }
        Some(other) => Err(cx.err(at, format!("`group` takes a number or a name, not {other}"))),
    }
}

/// Whether `name` can name a variable or an auth: a letter or `_`, then
/// letters, digits and `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_bare_milliseconds() {
        assert_eq!(
            parse_duration(&Json::from("250ms")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration(&Json::from("2s")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_duration(&Json::from("1.5s")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_duration(&Json::from("1m")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_duration(&Json::from("1h")),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_duration(&Json::from(300)),
            Some(Duration::from_millis(300))
        );
        assert_eq!(parse_duration(&Json::from("soon")), None);
        assert_eq!(parse_duration(&Json::from(-1)), None);
        assert_eq!(
            parse_duration(&Json::from("2d")),
            Some(Duration::from_secs(172800))
        );
        assert_eq!(parse_duration(&Json::from(f64::MAX)), None);
        assert_eq!(parse_duration(&Json::from("18446744073709551615h")), None);
        assert_eq!(parse_duration(&Json::from("1e400")), None);
        assert_eq!(parse_duration(&Json::from("NaNs")), None);
    }

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        assert_eq!(parse_size(&Json::from("64MiB")), Some(64 << 20));
        assert_eq!(parse_size(&Json::from("512 KiB")), Some(512 << 10));
        assert_eq!(parse_size(&Json::from("10MB")), Some(10_000_000));
        assert_eq!(parse_size(&Json::from("1.5GiB")), Some(3 << 29));
        assert_eq!(parse_size(&Json::from(1024)), Some(1024));
        assert_eq!(parse_size(&Json::from("lots")), None);
        assert_eq!(parse_size(&Json::from("1e30GB")), None);
    }
}
