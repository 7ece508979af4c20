//! Contract checks: JSON Schema files and OpenAPI 3 / Swagger 2.0 response
//! schemas, read and compiled at load time (each document and each
//! operation once per run), so a wrong path or operation is a load error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jsonschema::Draft;
use serde_json::Value as Json;

use super::convert::{Converter, YamlPath};
use super::model::{DocumentedResponse, OpenApiCheck, Schema, SchemaCheck};
use super::raw::RawOpenApi;
use super::LoadError;

type Result<T> = std::result::Result<T, LoadError>;

/// A file named in a collection, relative to the collection's folder.
fn relative(cx: &Converter, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    Path::new(&**cx.file)
        .parent()
        .map(|d| d.join(p))
        .unwrap_or_else(|| p.to_path_buf())
}

/// A JSON or YAML document, read once per run.
fn document(cx: &Converter, p: &YamlPath, file: &str) -> Result<Arc<Json>> {
    let path = relative(cx, file);
    if let Some(doc) = cx.documents.borrow().get(&path) {
        return Ok(doc.clone());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| cx.err(p, format!("cannot read {}: {e}", path.display())))?;
    let doc: Json = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(_) => serde_yaml::from_str(&text).map_err(|e| {
            cx.err(
                p,
                format!("{} is neither JSON nor YAML: {e}", path.display()),
            )
        })?,
    };
    let doc = Arc::new(doc);
    cx.documents.borrow_mut().insert(path, doc.clone());
    Ok(doc)
}

fn compile(
    cx: &Converter,
    p: &YamlPath,
    key: String,
    schema: &Json,
    draft: Option<Draft>,
) -> Result<Schema> {
    if let Some(s) = cx.schemas.borrow().get(&key) {
        return Ok(s.clone());
    }
    let mut options = jsonschema::options();
    if let Some(d) = draft {
        options = options.with_draft(d);
    }
    let validator = options
        .build(schema)
        .map_err(|e| cx.err(p, format!("invalid schema ({key}): {e}")))?;
    let schema = Schema(Arc::new(validator));
    cx.schemas.borrow_mut().insert(key, schema.clone());
    Ok(schema)
}

/// An `expect.schema` check: the file read and its schema compiled.
pub fn schema_check(cx: &Converter, p: &YamlPath, file: &str) -> Result<SchemaCheck> {
    let doc = document(cx, p, file)?;
    let key = relative(cx, file).display().to_string();
    Ok(SchemaCheck {
        at: cx.pos(p),
        file: file.to_string(),
        schema: compile(cx, p, key, &doc, None)?,
    })
}

/// OpenAPI 3.0's `nullable: true` is `type: [T, "null"]` in JSON Schema.
fn nullable_to_type(value: &mut Json) {
    match value {
        Json::Object(map) => {
            if map.get("nullable") == Some(&Json::Bool(true)) {
                if let Some(Json::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), serde_json::json!([t, "null"]));
                }
            }
            for v in map.values_mut() {
                nullable_to_type(v);
            }
        }
        Json::Array(items) => items.iter_mut().for_each(nullable_to_type),
        _ => {}
    }
}

/// What kind of document a spec is: Swagger 2.0's schemas sit under
/// `schema` and `definitions`; OpenAPI 3.0's take `nullable`; 3.1's are JSON
/// Schema 2020-12.
#[derive(Clone, Copy)]
struct Flavour {
    swagger2: bool,
    oas31: bool,
}

impl Flavour {
    fn of(spec: &Json) -> Option<Flavour> {
        let version = |key: &str| spec.get(key).and_then(Json::as_str);
        let swagger2 = version("swagger").is_some_and(|v| v.starts_with('2'));
        if !swagger2 && spec.get("openapi").is_none() {
            return None;
        }
        Some(Flavour {
            swagger2,
            oas31: version("openapi").is_some_and(|v| v.starts_with("3.1")),
        })
    }

    /// OpenAPI 3.0's `nullable` as JSON Schema says it.
    fn fix(self, schema: &mut Json) {
        if !self.swagger2 && !self.oas31 {
            nullable_to_type(schema);
        }
    }
}

/// An `expect.openapi` check: the operation found and its response
/// schemas compiled, by status.
pub fn openapi_check(cx: &Converter, p: &YamlPath, raw: &RawOpenApi) -> Result<OpenApiCheck> {
    let sp = p.field("spec");
    let spec = document(cx, &sp, &raw.spec)?;
    let flavour = Flavour::of(&spec).ok_or_else(|| {
        cx.err(
            &sp,
            format!("{} is not an OpenAPI 3 or Swagger 2.0 document", raw.spec),
        )
    })?;
    let (path, method, op) = operation(cx, p, raw, &spec)?;
    let name = match op.get("operationId").and_then(Json::as_str) {
        Some(id) => format!("{id} ({} {path})", method.to_uppercase()),
        None => format!("{} {path}", method.to_uppercase()),
    };
    let mut responses = Vec::new();
    for (status, response) in op
        .get("responses")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        let compiled = match response_schema(flavour, response) {
            None => None,
            Some(schema) => {
                let root = with_definitions(flavour, &spec, schema);
                let key = format!("{} {name} {status}", relative(cx, &raw.spec).display());
                let draft = if flavour.oas31 {
                    Draft::Draft202012
                } else {
                    Draft::Draft4
                };
                Some(compile(cx, &sp, key, &root, Some(draft))?)
            }
        };
        responses.push(DocumentedResponse {
            status: status.clone(),
            schema: compiled,
            media_types: media_types(flavour, &spec, &op, response),
            required_headers: required_headers(flavour, response),
        });
    }
    let status = raw.status.as_ref().map(|s| match s {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    });
    if let Some(s) = status
        .as_ref()
        .filter(|s| !responses.iter().any(|r| r.status == **s))
    {
        return Err(cx.err(
            &p.field("status"),
            format!("{name} documents no response `{s}`"),
        ));
    }
    Ok(OpenApiCheck {
        at: cx.pos(p),
        spec: relative(cx, &raw.spec),
        operation: name,
        responses,
        status,
    })
}

/// The operation asked for: by `operationId`, or by `path` and `method`.
fn operation(
    cx: &Converter,
    p: &YamlPath,
    raw: &RawOpenApi,
    spec: &Json,
) -> Result<(String, String, Json)> {
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let paths = spec
        .get("paths")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    match (&raw.operation, &raw.path, &raw.method) {
        (Some(id), None, None) => paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS.iter().filter_map(move |m| {
                    item.get(*m)
                        .map(|op| (path.clone(), m.to_string(), op.clone()))
                })
            })
            .find(|(_, _, op)| op.get("operationId").and_then(Json::as_str) == Some(id.as_str()))
            .ok_or_else(|| {
                cx.err(
                    &p.field("operation"),
                    format!("{} has no operation `{id}`", raw.spec),
                )
            }),
        (None, Some(path), Some(method)) => {
            let m = method.to_ascii_lowercase();
            let op = paths
                .get(path)
                .and_then(|item| item.get(&m))
                .cloned()
                .ok_or_else(|| {
                    cx.err(
                        &p.field("path"),
                        format!("{} has no operation {} {path}", raw.spec, m.to_uppercase()),
                    )
                })?;
            Ok((path.clone(), m, op))
        }
        _ => Err(cx.err(
            p,
            "`openapi` takes `operation` (an operationId), or `path` and `method`",
        )),
    }
}

/// The media types a response may come in: OpenAPI 3 `content`'s keys;
/// Swagger's `produces` (the operation's, else the document's) for a
/// response with a schema.
fn media_types(flavour: Flavour, spec: &Json, op: &Json, response: &Json) -> Vec<String> {
    let strings = |v: Option<&Json>| -> Vec<String> {
        v.and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default()
    };
    if flavour.swagger2 {
        if response.get("schema").is_none() {
            return Vec::new();
        }
        let produces = strings(op.get("produces"));
        return if produces.is_empty() {
            strings(spec.get("produces"))
        } else {
            produces
        };
    }
    response
        .get("content")
        .and_then(Json::as_object)
        .map(|c| c.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

/// The headers an OpenAPI 3 response marks `required`.
fn required_headers(flavour: Flavour, response: &Json) -> Vec<String> {
    if flavour.swagger2 {
        return Vec::new();
    }
    response
        .get("headers")
        .and_then(Json::as_object)
        .map(|h| {
            h.iter()
                .filter(|(_, v)| v.get("required").and_then(Json::as_bool) == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A documented response's schema. Swagger: `schema`; OpenAPI 3:
/// `content` by media type, JSON first.
fn response_schema(flavour: Flavour, response: &Json) -> Option<Json> {
    if flavour.swagger2 {
        return response.get("schema").cloned();
    }
    let content = response.get("content").and_then(Json::as_object)?;
    content
        .iter()
        .find(|(media, _)| media.contains("json"))
        .or_else(|| content.iter().next())
        .and_then(|(_, m)| m.get("schema").cloned())
}

/// The response schema with the document's definitions beside it, so that
/// its `$ref`s resolve.
fn with_definitions(flavour: Flavour, spec: &Json, mut schema: Json) -> Json {
    flavour.fix(&mut schema);
    let mut root = serde_json::json!({"allOf": [schema]});
    for key in ["definitions", "components"] {
        if let Some(mut defs) = spec.get(key).cloned() {
            flavour.fix(&mut defs);
            root[key] = defs;
        }
    }
    root
}
