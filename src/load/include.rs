//! `include:` at the top of a collection: named pieces (environments,
//! vars, auths, defaults) read from other YAML files, each converted with
//! its own positions so an error points into the file that holds it and
//! says where it was included from. Later includes win over earlier ones,
//! and the collection's own keys over all of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::convert::{self, Converter, YamlPath};
use super::model::*;
use super::raw::RawPiece;
use super::LoadError;

/// The most files one collection may include, nested ones counted.
const MAX_INCLUDES: usize = 64;

/// What included files contribute to a collection.
#[derive(Default)]
pub(super) struct Piece {
    pub environments: IndexMap<String, IndexMap<String, Data>>,
    pub vars: IndexMap<String, Data>,
    pub auths: IndexMap<String, AuthSpec>,
    pub defaults: Option<Defaults>,
}

impl Piece {
    /// `later` over this piece, key by key.
    fn overlay(&mut self, later: Piece) {
        for (env, vars) in later.environments {
            self.environments.entry(env).or_default().extend(vars);
        }
        self.vars.extend(later.vars);
        self.auths.extend(later.auths);
        self.defaults = match (self.defaults.take(), later.defaults) {
            (Some(earlier), Some(later)) => Some(over(later, earlier)),
            (a, b) => b.or(a),
        };
    }
}

/// The collection's own parts over what its includes gave.
pub(super) fn apply(c: &mut Collection, included: Piece) {
    for (env, vars) in included.environments {
        let own = c.environments.entry(env).or_default();
        for (k, v) in vars {
            own.entry(k).or_insert(v);
        }
    }
    for (k, v) in included.vars {
        c.vars.entry(k).or_insert(v);
    }
    for (k, v) in included.auths {
        c.auths.entry(k).or_insert(v);
    }
    if let Some(defaults) = included.defaults {
        c.defaults = over(std::mem::take(&mut c.defaults), defaults);
    }
}

/// `top`'s defaults, with `below`'s where `top` sets none (headers and
/// query parameters merged by name).
fn over(top: Defaults, below: Defaults) -> Defaults {
    let merge = |top: Vec<(String, Text)>, below: Vec<(String, Text)>| {
        let mut out: Vec<(String, Text)> = below
            .into_iter()
            .filter(|(k, _)| !top.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)))
            .collect();
        out.extend(top);
        out
    };
    Defaults {
        base_url: top.base_url.or(below.base_url),
        headers: merge(top.headers, below.headers),
        query: merge(top.query, below.query),
        timeout: top.timeout.or(below.timeout),
        max_body: top.max_body.or(below.max_body),
        tls: top.tls.or(below.tls),
        proxy: top.proxy.or(below.proxy),
        http_version: top.http_version.or(below.http_version),
        connect_timeout: top.connect_timeout.or(below.connect_timeout),
        follow_redirects: top.follow_redirects.or(below.follow_redirects),
        retry: top.retry.or(below.retry),
    }
}

/// The pieces `paths` name (relative to `from`), in order, later ones
/// winning; `site` is where they are included, `stack` the files being
/// included around this one (a cycle is an error).
pub(super) fn pieces(
    from: &Path,
    paths: &[String],
    site: &Pos,
    stack: &mut Vec<PathBuf>,
) -> Result<Piece, LoadError> {
    let mut all = Piece::default();
    for path in paths {
        let full = from.parent().unwrap_or(Path::new("")).join(path);
        let piece = piece(&full, site, stack).map_err(|e| included_from(e, site))?;
        all.overlay(piece);
    }
    Ok(all)
}

fn piece(path: &Path, site: &Pos, stack: &mut Vec<PathBuf>) -> Result<Piece, LoadError> {
    let canonical = enter(path, site, stack)?;
    let text = super::read(path)?;
    let file: FileName = Arc::new(path.display().to_string());
    let index = super::document(&file, text)?;
    let raw: RawPiece = super::typed(&file, &index)?;
    let cx = Converter::new(&file, &index);
    stack.push(canonical);
    let nested = match &raw.include {
        Some(paths) => {
            let at = cx.pos(&YamlPath::default().field("include"));
            pieces(path, &paths.clone().into_vec(), &at, stack)?
        }
        None => Piece::default(),
    };
    stack.pop();
    // This file's own keys win over what it includes.
    let mut all = nested;
    all.overlay(convert::piece(&cx, raw)?);
    Ok(all)
}

/// An error inside an included file, saying where it was included from.
fn included_from(e: LoadError, site: &Pos) -> LoadError {
    match e {
        LoadError::Invalid { at, message } if at.file != site.file => LoadError::Invalid {
            at,
            message: format!("{message}\n  (in a file included at {site})"),
        },
        LoadError::Invalid { .. } => e,
        other => LoadError::invalid(site.clone(), format!("in an included file: {other}")),
    }
}

/// `- include: FILE` in `requests`: the requests of `path` (a YAML list,
/// relative to `from`), nested includes spliced too, each with its place in
/// its own file; `site` is the include, `stack` the files around it.
pub(super) fn requests(
    from: &FileName,
    path: &str,
    site: &Pos,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Request>,
) -> Result<(), LoadError> {
    let full = Path::new(&**from)
        .parent()
        .unwrap_or(Path::new(""))
        .join(path);
    spliced(&full, site, stack, out).map_err(|e| included_from(e, site))
}

fn spliced(
    path: &Path,
    site: &Pos,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Request>,
) -> Result<(), LoadError> {
    let canonical = enter(path, site, stack)?;
    let text = super::read(path)?;
    let file: FileName = Arc::new(path.display().to_string());
    let index = super::document(&file, text)?;
    let raw: Vec<super::raw::RawRequestEntry> = super::typed(&file, &index)?;
    if raw.is_empty() {
        return Err(LoadError::invalid(
            site.clone(),
            format!("{} holds no requests", path.display()),
        ));
    }
    let cx = Converter::new(&file, &index);
    stack.push(canonical);
    let result = convert::entries(&cx, &YamlPath::default(), raw, stack, out);
    stack.pop();
    result
}

/// `path`, canonical, unless including it closes a circle or nests too deep.
fn enter(path: &Path, site: &Pos, stack: &[PathBuf]) -> Result<PathBuf, LoadError> {
    let canonical = path.canonicalize().map_err(|e| {
        LoadError::invalid(
            site.clone(),
            format!("cannot include {}: {e}", path.display()),
        )
    })?;
    if let Some(i) = stack.iter().position(|p| *p == canonical) {
        let circle: Vec<String> = stack[i..]
            .iter()
            .chain([&canonical])
            .map(|p| p.display().to_string())
            .collect();
        return Err(LoadError::invalid(
            site.clone(),
            format!(
                "these files include each other in a circle: {}",
                circle.join(" → ")
            ),
        ));
    }
    if stack.len() >= MAX_INCLUDES {
        return Err(LoadError::invalid(site.clone(), "includes nest too deep"));
    }
    Ok(canonical)
}
