//! Every template string of a run, compiled once.
//!
//! Templates are keyed by their source text, so a thousand requests with the
//! same URL template share one compiled template. Strings without template
//! syntax are never compiled and render to themselves.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::ValueKind;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use serde_json::Value as Json;

use super::{calls, helpers};
use crate::load::{Data, Pos, Text};

/// Template instructions one render may run: a loop over `range(100000)`
/// inside another ends with an error in well under a second.
pub const FUEL: u64 = 1_000_000;
/// The most text one template may write.
pub const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// The variables in scope: environment, collection vars, `--var`, captures.
pub type Vars = BTreeMap<String, Value>;

/// A template that failed to compile or render, and where it is written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{at}: {message}")]
pub struct RenderError {
    /// Where the template is written.
    pub at: Pos,
    /// What went wrong.
    pub message: String,
}

/// A compiled text: 24 bytes in its table, as a run may hold a distinct
/// text for each of 100,000 requests.
enum Compiled {
    /// A template of the engine: one expression, or statements.
    Engine(Box<Engine>),
    /// Text with expressions (more than one piece), rendered piece by
    /// piece: each expression is an `Engine` entry of its own
    /// (`{{ expr }}`), shared by every text that uses it.
    Pieces(Box<[Piece]>),
}

struct Engine {
    name: Box<str>,
    /// The template as text and `{{ name }}`, when it is no more than
    /// that: looked up without the engine.
    pieces: Option<Box<[Piece]>>,
    /// Top-level names the template reads, globals left out.
    vars: Box<[String]>,
    /// The auths it reads through `auths.NAME`.
    auths: Box<[String]>,
}

/// Compiled texts by the text as written (foldhash: every render looks
/// its text up).
type Table = foldhash::HashMap<Arc<str>, Compiled>;

/// What templates read.
#[derive(Debug, Default)]
pub struct Reading {
    /// Top-level variables, globals left out.
    pub vars: Vec<String>,
    /// Auths read through `auths.NAME`.
    pub auths: Vec<String>,
}

/// What a compiled text reads, sorted.
fn reads(table: &Table, src: &str) -> Reading {
    let (mut vars, mut auths) = (Vec::new(), Vec::new());
    let mut add = |e: &Engine| {
        vars.extend(e.vars.iter().cloned());
        auths.extend(e.auths.iter().cloned());
    };
    match table.get(src) {
        None => {}
        Some(Compiled::Engine(e)) => add(e.as_ref()),
        Some(Compiled::Pieces(pieces)) => {
            let mut own = String::new();
            for piece in pieces.iter().filter(|p| p.kind != Kind::Text) {
                own.clear();
                write_own_source(&mut own, piece.of(src));
                if let Some(Compiled::Engine(e)) = table.get(own.as_str()) {
                    add(e.as_ref());
                }
            }
            for names in [&mut vars, &mut auths] {
                names.sort();
                names.dedup();
            }
        }
    }
    Reading { vars, auths }
}

/// The run's templates, each compiled once, and the environment they render in.
pub struct Templates {
    env: Environment<'static>,
    /// How many templates the engine holds (their names are `t0`, `t1`...).
    count: usize,
    secrets: crate::secrets::Secrets,
    text: Table,
    /// Strings that are one whole `{{ expression }}`: inside structured data
    /// they keep the expression's type (a number stays a number).
    typed: Table,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `src` holds template syntax (`{{`, `{%` or `{#`).
pub fn is_template(src: &str) -> bool {
    src.contains("{{") || src.contains("{%") || src.contains("{#")
}

/// `{{ expr }}` alone → `expr`.
fn whole_expression(src: &str) -> Option<&str> {
    let inner = src.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    let inner = inner
        .trim_start_matches(['-', '+'])
        .trim_end_matches(['-', '+']);
    Some(inner)
}

impl Templates {
    /// Templates with a fresh set of secrets.
    pub fn new() -> Self {
        Self::with_secrets(crate::secrets::Secrets::new())
    }

    /// Templates whose `env('X', secret=true)` and `basic_auth` register
    /// what they produce in `secrets`.
    pub fn with_secrets(secrets: crate::secrets::Secrets) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Requests are not HTML: never escape what users put in bodies.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_keep_trailing_newline(true);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(100);
        helpers::register(&mut env, &secrets);
        Templates {
            env,
            count: 0,
            secrets,
            text: Table::default(),
            typed: Table::default(),
        }
    }

    /// The secrets templates register what they produce in.
    pub fn secrets(&self) -> &crate::secrets::Secrets {
        &self.secrets
    }

    /// Compiles `text` if needed and returns the variables it reads.
    pub fn compile_text(&mut self, text: &Text) -> Result<Vec<String>, RenderError> {
        self.compile_text_reading(text).map(|r| r.vars)
    }

    /// Compiles `text` if needed and returns what it reads.
    pub fn compile_text_reading(&mut self, text: &Text) -> Result<Reading, RenderError> {
        if !is_template(&text.src) {
            return Ok(Reading::default());
        }
        compile_into(
            &mut self.env,
            &mut self.count,
            &mut self.text,
            (&text.src, Some(&text.src)),
            text.src.to_string(),
            &text.at,
        )
    }

    /// Compiles every string inside `data` and returns the variables read.
    pub fn compile_data(&mut self, data: &Data) -> Result<Vec<String>, RenderError> {
        self.compile_data_reading(data).map(|r| r.vars)
    }

    /// Compiles every string inside `data` and returns what they read.
    pub fn compile_data_reading(&mut self, data: &Data) -> Result<Reading, RenderError> {
        let mut reading = Reading::default();
        self.compile_json(&data.value, &data.at, &mut reading)?;
        Ok(reading)
    }

    fn compile_json(
        &mut self,
        value: &Json,
        at: &Pos,
        reading: &mut Reading,
    ) -> Result<(), RenderError> {
        match value {
            Json::String(s) if is_template(s) => {
                let found = match whole_expression(s) {
                    Some(expr) => {
                        let source = format!("{{{{ ({expr}) | tojson }}}}");
                        let typed = &mut self.typed;
                        compile_into(&mut self.env, &mut self.count, typed, (s, None), source, at)?
                    }
                    None => {
                        let text = &mut self.text;
                        let key = (s.as_str(), None);
                        compile_into(&mut self.env, &mut self.count, text, key, s.clone(), at)?
                    }
                };
                reading.vars.extend(found.vars);
                reading.auths.extend(found.auths);
            }
            Json::Array(items) => {
                for item in items {
                    self.compile_json(item, at, reading)?;
                }
            }
            Json::Object(map) => {
                for item in map.values() {
                    self.compile_json(item, at, reading)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Renders `text` with `ctx`; text without template syntax is returned
    /// as it is.
    pub fn render_text<'a>(
        &self,
        text: &'a Text,
        ctx: &Value,
    ) -> Result<Cow<'a, str>, RenderError> {
        if !is_template(&text.src) {
            return Ok(Cow::Borrowed(&text.src));
        }
        self.render(&self.text, &text.src, ctx, &text.at)
            .map(Cow::Owned)
    }

    /// Renders every string inside `data`; a string that is one whole
    /// `{{ expr }}` keeps its type.
    pub fn render_data(&self, data: &Data, ctx: &Value) -> Result<Json, RenderError> {
        self.render_json(&data.value, ctx, &data.at)
    }

    fn render_json(&self, value: &Json, ctx: &Value, at: &Pos) -> Result<Json, RenderError> {
        Ok(match value {
            Json::String(s) if is_template(s) => match whole_expression(s) {
                Some(_) => {
                    let out = self.render(&self.typed, s, ctx, at)?;
                    serde_json::from_str(&out).map_err(|e| RenderError {
                        at: at.clone(),
                        message: format!("`{s}` did not give a JSON value: {e}"),
                    })?
                }
                None => Json::String(self.render(&self.text, s, ctx, at)?),
            },
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.render_json(i, ctx, at))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_json(v, ctx, at)?)))
                    .collect::<Result<_, RenderError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn render(
        &self,
        table: &Table,
        src: &str,
        ctx: &Value,
        at: &Pos,
    ) -> Result<String, RenderError> {
        // Every template of the model is compiled by the resolve stage (one
        // walk, `Request::templates`); one that was not is reqtest's bug,
        // reported where it is rather than a panic.
        let not_compiled = || RenderError {
            at: at.clone(),
            message: format!(
                "`{src}` was not compiled before the run (a bug in reqtest: please report it)"
            ),
        };
        let compiled = table.get(src).ok_or_else(not_compiled)?;
        let pieces = match compiled {
            Compiled::Engine(e) => e.pieces.as_deref(),
            Compiled::Pieces(pieces) => Some(&**pieces),
        };
        if let Some(out) = pieces.and_then(|p| render_simple(p, src, ctx)) {
            return Ok(out);
        }
        let mut out = Limited(Vec::new());
        let rendered = match compiled {
            Compiled::Engine(e) => self.render_engine(&e.name, ctx, &mut out),
            Compiled::Pieces(pieces) => self.render_pieces(table, pieces, src, ctx, &mut out),
        };
        rendered.map_err(|e| RenderError {
            at: at.clone(),
            message: render_message(&e, table, src, ctx),
        })?;
        Ok(String::from_utf8(out.0)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn render_engine(
        &self,
        name: &str,
        ctx: &Value,
        out: &mut Limited,
    ) -> Result<(), minijinja::Error> {
        self.env
            .get_template(name)?
            .render_captured_to(ctx, out)
            .map(drop)
    }

    /// Text as it is, each expression through its own template: as the
    /// engine renders the whole (no escaping, trailing newlines kept; with
    /// no statement, expressions share no state).
    fn render_pieces(
        &self,
        table: &Table,
        pieces: &[Piece],
        src: &str,
        ctx: &Value,
        out: &mut Limited,
    ) -> Result<(), minijinja::Error> {
        use std::io::Write as _;
        let mut own = String::new();
        for piece in pieces {
            let part = piece.of(src);
            let looked_up = match piece.kind {
                Kind::Text => Some(Cow::Borrowed(part)),
                Kind::Var => scalar(ctx, part).map(Cow::Owned),
                Kind::Expr => None,
            };
            if let Some(text) = looked_up {
                out.write_all(text.as_bytes())
                    .map_err(|e| minijinja::Error::new(ErrorKind::WriteFailure, e.to_string()))?;
                continue;
            }
            own.clear();
            write_own_source(&mut own, part);
            let Some(Compiled::Engine(engine)) = table.get(own.as_str()) else {
                let missing = format!("`{part}`");
                return Err(minijinja::Error::new(ErrorKind::TemplateNotFound, missing));
            };
            self.render_engine(&engine.name, ctx, out)?;
        }
        Ok(())
    }
}

/// The template of expression `expr` alone, which texts of several
/// pieces share.
fn own_source(expr: &str) -> String {
    let mut own = String::new();
    write_own_source(&mut own, expr);
    own
}

fn write_own_source(out: &mut String, expr: &str) {
    out.push_str("{{ ");
    out.push_str(expr);
    out.push_str(" }}");
}

/// A part of a template that is only text and expressions: where it is
/// in the template's text (12 bytes, not a copy of it).
#[derive(Debug, Clone, Copy)]
struct Piece {
    kind: Kind,
    start: u32,
    end: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// A plain name: `{{ token }}`.
    Var,
    /// Any other expression: `{{ token | length }}`, `{{ env('BASE') }}`.
    Expr,
}

impl Piece {
    fn of(self, src: &str) -> &str {
        &src[self.start as usize..self.end as usize]
    }
}

/// `src` as text and `{{ expression }}`s, if that is all it is: no
/// statement, no comment, no whitespace control.
fn pieces(src: &str) -> Option<Box<[Piece]>> {
    u32::try_from(src.len()).ok()?;
    let at = |part: &str| (part.as_ptr() as usize - src.as_ptr() as usize) as u32;
    let piece = |kind, part: &str| Piece {
        kind,
        start: at(part),
        end: at(part) + part.len() as u32,
    };
    let mut pieces = Vec::new();
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        let (text, after) = rest.split_at(open);
        let body = &after[2..];
        let close = expression_end(body)?;
        let raw = &body[..close];
        let expr = raw.trim();
        if expr.is_empty() || raw.starts_with(['-', '+']) || raw.ends_with(['-', '+']) {
            return None;
        }
        if !text.is_empty() {
            pieces.push(piece(Kind::Text, text));
        }
        let is_name = expr
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        pieces.push(piece(if is_name { Kind::Var } else { Kind::Expr }, expr));
        rest = &body[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(piece(Kind::Text, rest));
    }
    let statement = |p: &Piece| {
        let t = p.of(src);
        p.kind == Kind::Text && (t.contains("{%") || t.contains("{#") || t.contains("}}"))
    };
    (!pieces.iter().any(statement)).then(|| pieces.into_boxed_slice())
}

/// Where the `}}` closing an expression is, string literals skipped.
fn expression_end(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, c @ (b'\'' | b'"')) => quote = Some(c),
            (None, b'}') if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A variable's value as minijinja writes it, when it is a string, a
/// number or a bool.
fn scalar(ctx: &Value, name: &str) -> Option<String> {
    let value = ctx.get_attr(name).ok()?;
    match value.kind() {
        ValueKind::String => value.as_str().map(str::to_string),
        ValueKind::Number | ValueKind::Bool => Some(value.to_string()),
        _ => None,
    }
}

/// Text and plain variables rendered by looking them up, as minijinja
/// would write them; `None` (render it with the engine) for any other
/// expression, a variable that is undefined (an error the engine words)
/// or not a scalar, or output too large.
fn render_simple(pieces: &[Piece], src: &str, ctx: &Value) -> Option<String> {
    let mut out = String::new();
    for piece in pieces {
        match piece.kind {
            Kind::Text => out.push_str(piece.of(src)),
            Kind::Var => out.push_str(&scalar(ctx, piece.of(src))?),
            Kind::Expr => return None,
        }
        if out.len() > MAX_OUTPUT {
            return None;
        }
    }
    Some(out)
}

/// A render's output, refusing to grow past [`MAX_OUTPUT`].
struct Limited(Vec<u8>);

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            return Err(std::io::Error::other("template output too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a failed render of `src` says.
fn render_message(e: &minijinja::Error, table: &Table, src: &str, ctx: &Value) -> String {
    match e.kind() {
        ErrorKind::UndefinedError => undefined_message(e, &reads(table, src).vars, ctx, src),
        ErrorKind::WriteFailure => format!(
            "`{src}` writes more than {} MiB",
            MAX_OUTPUT / (1024 * 1024)
        ),
        ErrorKind::OutOfFuel => {
            format!("`{src}` does too much work (more than {FUEL} steps): a loop too long?")
        }
        _ => describe_error(e, src),
    }
}

fn undefined_message(e: &minijinja::Error, vars: &[String], ctx: &Value, src: &str) -> String {
    let missing: Vec<&str> = vars
        .iter()
        .filter(|v| ctx.get_attr(v).map(|x| x.is_undefined()).unwrap_or(true))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        format!(
            "undefined value in `{src}`: {}",
            e.detail().unwrap_or("an attribute or item does not exist")
        )
    } else {
        format!(
            "undefined variable {} in `{src}`",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Compiles `source` as the template of `key` (the text as written, kept
/// as the model's own `Arc` when it has one), unless it already is.
fn compile_into(
    env: &mut Environment<'static>,
    count: &mut usize,
    table: &mut Table,
    (key, shared): (&str, Option<&Arc<str>>),
    source: String,
    at: &Pos,
) -> Result<Reading, RenderError> {
    if table.contains_key(key) {
        return Ok(reads(table, key));
    }
    // Pieces are places in the key: a typed template's source is not it.
    let pieces = if source == key { pieces(key) } else { None };
    let compiled = match pieces {
        // The engine keeps at least 9 KiB for each template it compiles: a
        // collection of a thousand distinct URLs would hold 9 MiB. Text and
        // expressions need only a template for each distinct expression.
        Some(pieces) if pieces.len() > 1 => {
            match compile_pieces(env, count, table, &pieces, key, at) {
                Ok(()) => Compiled::Pieces(pieces),
                // Compiled whole, for the error to quote the whole text.
                Err(_) => compile_engine(env, count, key, source, Some(pieces), at)?,
            }
        }
        pieces => compile_engine(env, count, key, source, pieces, at)?,
    };
    table.insert(shared.cloned().unwrap_or_else(|| Arc::from(key)), compiled);
    Ok(reads(table, key))
}

/// A text of pieces: each expression is compiled alone, once.
fn compile_pieces(
    env: &mut Environment<'static>,
    count: &mut usize,
    table: &mut Table,
    pieces: &[Piece],
    src: &str,
    at: &Pos,
) -> Result<(), RenderError> {
    for piece in pieces.iter().filter(|p| p.kind != Kind::Text) {
        let own = own_source(piece.of(src));
        compile_into(env, count, table, (&own, None), own.clone(), at)?;
    }
    Ok(())
}

/// Sorted, without duplicates, in no more memory than it needs.
fn sorted(mut names: Vec<String>) -> Box<[String]> {
    names.sort();
    names.dedup();
    names.into_boxed_slice()
}

fn compile_engine(
    env: &mut Environment<'static>,
    count: &mut usize,
    key: &str,
    source: String,
    pieces: Option<Box<[Piece]>>,
    at: &Pos,
) -> Result<Compiled, RenderError> {
    let name = format!("t{count}");
    *count += 1;
    env.add_template_owned(name.clone(), source)
        .map_err(|e| RenderError {
            at: at.clone(),
            message: describe_error(&e, key),
        })?;
    let calls = calls::check(env, &name).map_err(|message| RenderError {
        at: at.clone(),
        message: format!("in `{key}`: {message}"),
    })?;
    if let Some(unknown) = calls
        .functions
        .iter()
        .find(|f| !helpers::is_global(f) && !calls.locals.contains(f))
    {
        return Err(RenderError {
            at: at.clone(),
            message: format!(
                "in `{key}`: unknown function `{unknown}()`; the functions are {}",
                helpers::FUNCTIONS.join(", ")
            ),
        });
    }
    // One walk of the template (each parses it again): `a.b.c` read as
    // nested names gives both the top-level `a` and, for `auths.NAME...`,
    // the auth.
    let read = env.get_template(&name).expect("just added");
    let (vars, auths) = names_read(&read.undeclared_variables(true), key);
    Ok(Compiled::Engine(Box::new(Engine {
        name: name.into_boxed_str(),
        pieces,
        vars,
        auths,
    })))
}

/// From the dotted names a template reads: the top-level variables it
/// needs (globals, and names it guards itself, left out), and `default`
/// and `svc` for `auths.default.claims.sub` and `auths.svc`.
fn names_read(
    read: &std::collections::HashSet<String>,
    key: &str,
) -> (Box<[String]>, Box<[String]>) {
    let top = |v: &str| v.split('.').next().unwrap_or(v).to_string();
    let vars = read
        .iter()
        .map(|v| top(v))
        .filter(|v| !helpers::is_global(v) && !guarded(key, v))
        .collect();
    let auths = read
        .iter()
        .filter_map(|v| v.strip_prefix("auths.").map(top))
        .collect();
    (sorted(vars), sorted(auths))
}

/// Whether the template itself copes with `name` being undefined:
/// `name | default(..)`, `name is defined`, `name is not defined`. Strict
/// mode allows exactly these uses of an undefined value.
fn guarded(source: &str, name: &str) -> bool {
    // Scanned by hand: a regex compiled per template and variable was
    // half a million instructions each, the bulk of resolving a collection.
    !name.is_empty()
        && source.match_indices(name).any(|(at, _)| {
            let starts_word = source[..at].chars().next_back().is_none_or(|c| !word(c));
            starts_word && guards(&source[at + name.len()..])
        })
}

fn word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `rest`, the text after a variable's name, goes on with
/// `| default` (or `| d`), `is defined` or `is not defined`.
fn guards(rest: &str) -> bool {
    // `keyword` and then no word character; at least one space.
    let token = |s: &'_ str, keyword: &str| -> Option<usize> {
        s.strip_prefix(keyword)
            .filter(|after| !after.starts_with(word))
            .map(|after| s.len() - after.len())
    };
    let spaced = |s: &str| {
        let t = s.trim_start();
        (t.len() < s.len()).then_some(s.len() - t.len())
    };
    if let Some(filter) = rest.trim_start().strip_prefix('|') {
        let filter = filter.trim_start();
        return token(filter, "default").is_some() || token(filter, "d").is_some();
    }
    let Some(gap) = spaced(rest) else {
        return false;
    };
    let Some(test) = token(&rest[gap..], "is").map(|n| &rest[gap + n..]) else {
        return false;
    };
    let Some(gap) = spaced(test) else {
        return false;
    };
    let test = &test[gap..];
    let defined = token(test, "not")
        .and_then(|n| spaced(&test[n..]).map(|g| &test[n + g..]))
        .unwrap_or(test);
    token(defined, "defined").is_some()
}

fn describe_error(e: &minijinja::Error, src: &str) -> String {
    let detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    match e.kind() {
        ErrorKind::SyntaxError => format!("template syntax error in `{src}`: {detail}"),
        _ => format!("in `{src}`: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_templates_render_as_the_engine_does() {
        let ctx = minijinja::context! {
            token => "abc", a => 1, b => "b", n => -42, f => 1.5, t => true, big => 1e300,
        };
        let engine = Environment::new();
        for src in [
            "Bearer {{ token }}",
            "{{a}}-{{ b }}",
            "x{{ n }}y",
            "{{ f }}",
            "{{ t }}",
            "{{ big }}",
            "plain",
        ] {
            let pieces = pieces(src).expect(src);
            assert_eq!(
                render_simple(&pieces, src, &ctx).as_deref(),
                Some(engine.render_str(src, &ctx).unwrap().as_str()),
                "{src}"
            );
        }
        for src in ["{{ a | upper }}", "{{ a.b }}", "{{ a + 1 }}", "x{{ '}}' }}"] {
            let pieces = pieces(src).expect(src);
            assert_eq!(render_simple(&pieces, src, &ctx), None, "{src}");
        }
        for src in [
            "{% if a %}x{% endif %}",
            "{{- a }}",
            "{{ a -}}",
            "{# c #}{{ a }}",
            "{{ a",
            "a }}",
        ] {
            assert!(pieces(src).is_none(), "{src}");
        }
        // Undefined, or a list: the engine renders it (and words the error).
        let missing = "{{ missing }}";
        assert_eq!(
            render_simple(&pieces(missing).unwrap(), missing, &ctx),
            None
        );
        let list = minijinja::context! { l => vec![1, 2] };
        assert_eq!(
            render_simple(&pieces("{{ l }}").unwrap(), "{{ l }}", &list),
            None
        );
    }

    fn at() -> Pos {
        Pos {
            file: Arc::new("t.yaml".to_string()),
            line: 3,
            col: 5,
        }
    }

    fn text_at(src: &str) -> Text {
        Text {
            src: src.into(),
            at: at(),
        }
    }

    fn ctx(pairs: &[(&str, Value)]) -> Value {
        let vars: Vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Value::from(vars)
    }

    #[test]
    fn whole_expressions_keep_their_type_inside_data() {
        let mut t = Templates::new();
        let data = Data {
            value: serde_json::json!({"n": "{{ n }}", "s": "id-{{ n }}", "l": ["{{ n + 1 }}"]}),
            at: at(),
        };
        assert_eq!(
            t.compile_data(&data).unwrap(),
            vec!["n".to_string(), "n".to_string(), "n".to_string()]
        );
        let out = t
            .render_data(&data, &ctx(&[("n", Value::from(41))]))
            .unwrap();
        assert_eq!(out, serde_json::json!({"n": 41, "s": "id-41", "l": [42]}));
    }

    #[test]
    fn texts_of_several_variables_share_one_template_per_variable_and_render_as_the_engine() {
        let mut t = Templates::new();
        let sources = [
            "a{{ l }}-{{ n }}\n",
            "{{ l }}{{ l }}",
            "x{{ n }}y",
            "{{ n }}",
            "{{ l | length }}:{{ s ~ '}}' }}",
            "y{{ l | length }}:{{ s ~ '}}' }}",
            "{{ \"a\\\"}}\" }}/{{ s }}",
        ];
        let texts: Vec<Text> = sources
            .iter()
            .map(|s| Text {
                src: (*s).into(),
                at: at(),
            })
            .collect();
        for text in &texts {
            t.compile_text(text).unwrap();
        }
        assert_eq!(
            t.count, 6,
            "one engine template for each distinct expression"
        );
        // A list and none are rendered by the engine, piece by piece.
        let values = ctx(&[
            ("l", Value::from(vec![1, 2])),
            ("n", Value::from(())),
            ("s", Value::from("s")),
        ]);
        for text in &texts {
            assert_eq!(
                t.render_text(text, &values).unwrap(),
                t.env.render_str(&text.src, &values).unwrap(),
                "{}",
                text.src
            );
        }
    }

    #[test]
    fn an_expression_that_does_not_compile_is_reported_in_its_whole_text() {
        let mut t = Templates::new();
        let text = text_at("a{{ n }}{{ nope( }}b");
        let err = t.compile_text(&text).unwrap_err().to_string();
        assert!(err.starts_with("t.yaml:3:5: "), "{err}");
        assert!(err.contains("`a{{ n }}{{ nope( }}b`"), "{err}");
    }

    #[test]
    fn texts_of_several_variables_keep_the_output_limit() {
        let mut t = Templates::new();
        let text = text_at("{{ s }}+{{ s }}");
        t.compile_text(&text).unwrap();
        let half = "x".repeat(MAX_OUTPUT / 2 + 1);
        let err = t
            .render_text(&text, &ctx(&[("s", Value::from(half))]))
            .unwrap_err();
        assert!(err.to_string().contains("writes more than"), "{err}");
    }

    #[test]
    fn an_undefined_variable_is_an_error_naming_it_and_its_place() {
        let mut t = Templates::new();
        let text = text_at("{{ base }}/user/{{ login }}");
        t.compile_text(&text).unwrap();
        let err = t
            .render_text(&text, &ctx(&[("base", Value::from("http://x"))]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yaml:3:5: undefined variable `login` in `{{ base }}/user/{{ login }}`"
        );
    }

    #[test]
    fn helpers_encode_and_fail_on_unset_environment_variables() {
        let mut t = Templates::new();
        let text = text_at("{{ 'a:b' | b64encode }} {{ 'a b&c' | urlencode }} {{ env('REQTEST_SURELY_UNSET', default='d') }}");
        t.compile_text(&text).unwrap();
        assert_eq!(t.render_text(&text, &ctx(&[])).unwrap(), "YTpi a%20b%26c d");

        let unset = text_at("{{ env('REQTEST_SURELY_UNSET') }}");
        let err = t.compile_text(&unset).unwrap_err();
        assert!(
            err.message
                .contains("environment variable `REQTEST_SURELY_UNSET` is not set"),
            "{err}"
        );
    }

    fn compile_error(src: &str) -> String {
        let mut t = Templates::new();
        let text = Text {
            src: src.into(),
            at: at(),
        };
        t.compile_text(&text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_filters_tests_and_functions_and_bad_constant_arguments_fail_at_compile_time() {
        let cases = [
            ("{{ x | b64encod }}", "unknown filter `b64encod`"),
            ("{% if x is evne %}{% endif %}", "unknown test `evne`"),
            (
                "{{ uuidv4() }}",
                "unknown function `uuidv4()`; the functions are env, uuid",
            ),
            ("{{ now('%Q') }}", "now(\"%Q\"): not a strftime format"),
            (
                "{{ random_string(10000000000) }}",
                "random_string(10000000000): at most 1048576 characters",
            ),
            (
                "{{ env('REQTEST_SURELY_UNSET', secret=true) }}",
                "`REQTEST_SURELY_UNSET` is not set",
            ),
        ];
        for (src, wanted) in cases {
            let e = compile_error(src);
            assert!(
                e.starts_with("t.yaml:3:5: in `") && e.contains(wanted),
                "{src}: {e}"
            );
        }
        let mut t = Templates::new();
        for ok in [
            "{{ env('REQTEST_SURELY_UNSET', default='d') }}",
            "{{ env('REQTEST_SURELY_UNSET', 'd') }}",
            "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1) }}",
            "{{ now('%Y') }} {{ x | default('y') | upper }}",
        ] {
            let text = Text {
                src: ok.into(),
                at: at(),
            };
            t.compile_text(&text)
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn runaway_templates_stop_with_a_clear_error_quickly() {
        let mut t = Templates::new();
        let started = std::time::Instant::now();
        for (src, wanted) in [
            (
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                "does too much work",
            ),
            (
                "{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}",
                "writes more than 64 MiB",
            ),
            (
                "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
                "recursion",
            ),
        ] {
            let text = Text {
                src: src.into(),
                at: at(),
            };
            t.compile_text(&text).unwrap();
            let e = t.render_text(&text, &ctx(&[])).unwrap_err();
            assert!(e.message.contains(wanted), "{src}: {e}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        let mut t = Templates::new();
        let text = text_at("{{ oops ");
        let err = t.compile_text(&text).unwrap_err();
        assert!(
            err.message
                .starts_with("template syntax error in `{{ oops `"),
            "{err}"
        );
    }

    #[test]
    fn guarded_finds_exactly_what_the_regex_of_its_rule_finds() {
        let rule = |source: &str, name: &str| {
            let e = regex::escape(name);
            regex::Regex::new(&format!(
                r"\b{e}\s*\|\s*(default|d)\b|\b{e}\s+is\s+(not\s+)?defined\b"
            ))
            .unwrap()
            .is_match(source)
        };
        let sources = [
            "{{ x | default('a') }}",
            "{{ x|d }}",
            "{{x|d(1)}}",
            "{{ x | dx }}",
            "{{ x | upper | default }}",
            "{% if x is defined %}",
            "{% if x is not defined %}",
            "{% if x  is  not\tdefined %}",
            "{% if x isdefined %}",
            "{% if x is notdefined %}",
            "{% if x is definedy %}",
            "{% if x is not %}",
            "{{ ax | default }}",
            "{{ xa | default }}",
            "{{ é_x | d }} {{ x is defined }}",
            "{{ x }} {{ x.y | default }}",
            "{{ x is defined and x }}",
            "x is",
            "",
        ];
        for source in sources {
            for name in ["x", "x_1"] {
                assert_eq!(
                    guarded(source, name),
                    rule(source, name),
                    "{source:?} {name}"
                );
            }
        }
    }

    #[test]
    fn variables_guarded_by_default_or_is_defined_may_be_absent() {
        let mut t = Templates::new();
        let text =
            text_at("{{ a | default('x') }}-{% if b is defined %}{{ b }}{% endif %}-{{ c }}");
        assert_eq!(t.compile_text(&text).unwrap(), vec!["c".to_string()]);
        assert_eq!(
            t.render_text(&text, &ctx(&[("c", Value::from(1))]))
                .unwrap(),
            "x--1"
        );
    }

    #[test]
    fn identical_sources_compile_once() {
        let mut t = Templates::new();
        for _ in 0..100 {
            t.compile_text(&text_at("{{ a }}")).unwrap();
        }
        assert_eq!(t.env.templates().count(), 1);
    }
}
