//! Load stage: YAML text → typed [`Collection`], every node with its
//! file:line. This is the only module that knows about the YAML library.
//! JSONPaths and regexes are compiled here so that a bad one is reported
//! before anything runs.

mod auth;
mod contract;
mod convert;
mod data;
mod include;
pub mod openapi;
pub use auth::{PASSWORD_FIELD, USERNAME_FIELD};
pub mod model;
mod raw;
mod raw_auth;
mod templated;
mod yaml;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value as Json;

pub use data::{load_rows, MAX_ROWS};
pub use model::*;
pub use templated::Template;
pub use yaml::{Document, LineCol, Seg};

/// Why a collection could not be loaded: a file unread, or YAML that is not
/// a valid collection.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or folder that could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// YAML that is not a valid collection.
    #[error("{at}: {message}")]
    Invalid {
        /// Where in the YAML.
        at: Pos,
        /// What is wrong.
        message: String,
    },
    /// A folder with no collection files in it.
    #[error("{0}: no collection files (*.yaml, *.yml) in this folder")]
    NoCollections(String),
}

impl LoadError {
    pub(crate) fn invalid(at: Pos, message: impl Into<String>) -> Self {
        LoadError::Invalid {
            at,
            message: message.into(),
        }
    }
}

/// Loads one collection from its text; `file` is the name used in messages.
pub fn load_str(file: &str, text: &str) -> Result<Collection, LoadError> {
    load_owned(file, text.to_string())
}

/// `text` parsed once, every node with its position; an error for text
/// that is not YAML, and for the first key written twice in one mapping
/// (YAML keeps the last, and an assertion or header would vanish).
fn document(file: &FileName, text: impl Into<String>) -> Result<Document, LoadError> {
    checked(file, Document::parse(text))
}

/// A parse's result as the loader takes it: a syntax error, or the first
/// key written twice, is an error placed in `file`.
fn checked(
    file: &FileName,
    parsed: Result<Document, yaml::SyntaxError>,
) -> Result<Document, LoadError> {
    let at = |at: LineCol| Pos {
        file: file.clone(),
        line: at.line,
        col: at.col,
    };
    let index = parsed.map_err(|e| LoadError::invalid(at(e.at), e.message))?;
    if let Some(d) = index.duplicates.first() {
        return Err(LoadError::invalid(
            Pos {
                file: file.clone(),
                line: d.second.line,
                col: d.second.col,
            },
            format!(
                "`{}` is written twice in this mapping (first at line {}, column {}); YAML would keep only the last one and silently drop the first",
                d.key, d.first.line, d.first.col
            ),
        ));
    }
    Ok(index)
}

/// Loads one collection file.
pub fn load_file(path: &Path) -> Result<Collection, LoadError> {
    load_owned(&path.display().to_string(), read(path)?)
}

/// [`load_str`] of a text the document keeps (its scalars are slices of it).
fn load_owned(file: &str, text: String) -> Result<Collection, LoadError> {
    let file: FileName = Arc::new(file.to_string());
    converted(&file, &document(&file, text)?)
}

/// What a run loads: its collections, and the YAML files found in folders
/// that are not collections (no top-level `requests`: a vars file, an
/// OpenAPI document), which are left out.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The collections, in the order found.
    pub collections: Vec<Collection>,
    /// YAML files in folders that are not collections.
    pub skipped: Vec<PathBuf>,
}

/// Loads every collection named: files as given, folders searched
/// recursively for `*.yaml` and `*.yml`, in name order, following no
/// symlinked folder twice.
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if !meta.is_dir() {
            loaded.collections.push(load_file(path)?);
            continue;
        }
        let mut files = Vec::new();
        collect_yaml_files(path, &mut files, &mut HashSet::new())?;
        let before = loaded.collections.len();
        for (file, found) in files.iter().zip(load_all(&files)) {
            match found? {
                Some(c) => loaded.collections.push(c),
                None => loaded.skipped.push(file.clone()),
            }
        }
        if loaded.collections.len() == before {
            return Err(LoadError::NoCollections(path.display().to_string()));
        }
    }
    Ok(loaded)
}

/// The files of a folder, loaded on as many threads as there are cores
/// (each is parsed and converted on its own), in order: `None` for a file
/// that is no collection.
fn load_all(files: &[PathBuf]) -> Vec<Result<Option<Collection>, LoadError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    if threads <= 1 {
        return files.iter().map(|f| load_found(f)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<_>>> =
        files.iter().map(|_| Default::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let found = load_found(file);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every file is loaded")
        })
        .collect()
}

/// A YAML file found in a folder: a collection when it has a top-level
/// `requests`, or when it cannot be parsed at all (then loading it says
/// what is wrong, rather than leaving it out silently); else `None`.
fn load_found(path: &Path) -> Result<Option<Collection>, LoadError> {
    let text = read(path)?;
    let file: FileName = Arc::new(path.display().to_string());
    let parsed = Document::parse(text);
    if parsed.as_ref().is_ok_and(|d| !d.root_has_key("requests")) {
        return Ok(None);
    }
    converted(&file, &checked(&file, parsed)?).map(Some)
}

/// The collection a checked document holds.
fn converted(file: &FileName, doc: &Document) -> Result<Collection, LoadError> {
    let raw: raw::RawCollection = typed(file, doc)?;
    convert::collection(raw, file, doc)
}

/// Variables from a `--vars-file`: a YAML (or JSON) mapping of names to values.
pub fn load_vars_file(path: &Path) -> Result<IndexMap<String, Json>, LoadError> {
    let file: FileName = Arc::new(path.display().to_string());
    typed(&file, &document(&file, read(path)?)?)
}

fn read(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decode(&path.display().to_string(), bytes)
}

/// A file's text: UTF-8 (a byte order mark left out), or UTF-16 as some
/// Windows editors save it (with a byte order mark, or recognised by its
/// zero bytes). Anything else is an error with the place of the first
/// byte that is not text.
pub fn decode(file: &str, bytes: Vec<u8>) -> Result<String, LoadError> {
    let utf16 = match bytes.as_slice() {
        [0xFF, 0xFE, ..] => Some((true, 2)),
        [0xFE, 0xFF, ..] => Some((false, 2)),
        [a, 0, ..] if *a != 0 => Some((true, 0)),
        [0, b, ..] if *b != 0 => Some((false, 0)),
        _ => None,
    };
    if let Some((little, skip)) = utf16 {
        let units = bytes[skip..].chunks(2).map(|c| match (c, little) {
            ([a, b], true) => u16::from_le_bytes([*a, *b]),
            ([a, b], false) => u16::from_be_bytes([*a, *b]),
            ([a], _) => *a as u16,
            _ => 0,
        });
        return char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| {
                LoadError::invalid(
                    Pos::start(file),
                    "the file looks like UTF-16 but is not valid UTF-16 text; save it as UTF-8",
                )
            });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(match text.strip_prefix('\u{FEFF}') {
            Some(rest) => rest.to_string(),
            None => text,
        }),
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
            let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let col = String::from_utf8_lossy(&good[line_start..]).chars().count() as u32 + 1;
            let byte = e.as_bytes()[good.len()];
            Err(LoadError::invalid(
                Pos {
                    file: Arc::new(file.to_string()),
                    line,
                    col,
                },
                format!("byte 0x{byte:02X} is not UTF-8 text; save the file as UTF-8"),
            ))
        }
    }
}

fn collect_yaml_files(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), LoadError> {
    let io_err = |source| LoadError::Io {
        path: dir.display().to_string(),
        source,
    };
    // A symlink loop would otherwise be walked forever.
    if !seen.insert(std::fs::canonicalize(dir).map_err(io_err)?) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_yaml_files(&path, out, seen)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// The document as a `T`, or an error placed at the node that is wrong.
fn typed<T: serde::de::DeserializeOwned>(file: &FileName, doc: &Document) -> Result<T, LoadError> {
    doc.deserialize().map_err(|e| {
        let at = e.at.unwrap_or(LineCol { line: 1, col: 1 });
        LoadError::invalid(
            Pos {
                file: file.clone(),
                line: at.line,
                col: at.col,
            },
            e.to_string(),
        )
    })
}

/// YAML text for a value, for the bridges that write collections (curl and
/// Postman import): the YAML library stays in this module.
pub fn to_yaml(value: &Json) -> String {
    serde_yaml::to_string(value).expect("JSON values always serialize to YAML")
}

/// The JSON Schema of the collection format, generated from the types the
/// loader reads, for editors (`reqtest schema`).
pub fn json_schema() -> Json {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(raw::RawCollection)).expect("schemas serialize");
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), Json::from("reqtest collection"));
        obj.insert(
            "description".into(),
            Json::from("A reqtest collection: environments, variables, defaults, auth and an ordered list of requests."),
        );
    }
    schema
}

/// Any YAML (or JSON) text as a JSON value, for tools around collections.
pub fn parse_value(text: &str) -> Result<Json, String> {
    let doc = Document::parse(text)
        .map_err(|e| format!("{} at line {} column {}", e.message, e.at.line, e.at.col))?;
    doc.deserialize().map_err(|e| {
        let at = e.at.unwrap_or_default();
        format!("{e} at line {} column {}", at.line, at.col)
    })
}
