//! An OpenAPI 3 or Swagger 2.0 document read for coverage: its operations
//! (method and path template under the document's base path) and the
//! statuses each one documents.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A document's operations.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The file, as named.
    pub file: PathBuf,
    /// The path its operations' paths are under (`/a` for Cells' `basePath`).
    pub base_path: String,
    /// Every operation, in document order.
    pub operations: Vec<Operation>,
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `GET`.
    pub method: String,
    /// `/user/{Login}`.
    pub path: String,
    /// Its statuses as documented: `200`, `2XX`, `default`.
    pub statuses: Vec<String>,
}

impl Spec {
    /// Reads `file` (JSON or YAML).
    pub fn read(file: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let doc: Json = serde_json::from_str(&text)
            .or_else(|_| serde_yaml::from_str(&text))
            .map_err(|e| format!("{} is neither JSON nor YAML: {e}", file.display()))?;
        if doc.get("openapi").is_none() && doc.get("swagger").is_none() {
            return Err(format!(
                "{} is not an OpenAPI 3 or Swagger 2.0 document",
                file.display()
            ));
        }
        Ok(Spec {
            file: file.to_path_buf(),
            base_path: base_path(&doc),
            operations: operations(&doc),
        })
    }

    /// The operation a request of `method` to `path` (the URL's path) is,
    /// if the document has it: its index. A document that names no base
    /// path may still be served under one (Cells' REST API is under `/a`):
    /// then the path's first segment may be that base.
    pub fn find(&self, method: &str, path: &str) -> Option<usize> {
        self.find_under(method, path).or_else(|| {
            let unnamed = self.base_path.trim_matches('/').is_empty();
            let rest = path.strip_prefix('/')?;
            let after = &rest[rest.find('/')?..];
            unnamed.then(|| self.find_under(method, after)).flatten()
        })
    }

    fn find_under(&self, method: &str, path: &str) -> Option<usize> {
        let base = self.base_path.trim_end_matches('/');
        let rest = path.strip_prefix(base)?;
        let rest = if rest.is_empty() { "/" } else { rest };
        if !rest.starts_with('/') {
            return None;
        }
        let got: Vec<&str> = rest.split('/').collect();
        self.operations.iter().position(|op| {
            op.method.eq_ignore_ascii_case(method) && {
                let want: Vec<&str> = op.path.split('/').collect();
                want.len() == got.len()
                    && want.iter().zip(&got).all(|(w, g)| {
                        (w.starts_with('{') && w.ends_with('}') && !g.is_empty()) || w == g
                    })
            }
        })
    }
}

/// Swagger's `basePath`, or the path of OpenAPI 3's first server URL.
fn base_path(doc: &Json) -> String {
    if let Some(base) = doc.get("basePath").and_then(Json::as_str) {
        return base.to_string();
    }
    let server = doc
        .get("servers")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("url"))
        .and_then(Json::as_str)
        .unwrap_or("");
    match url::Url::parse(server) {
        Ok(u) => u.path().to_string(),
        // A relative server URL is a path already.
        Err(_) => server.to_string(),
    }
}

fn operations(doc: &Json) -> Vec<Operation> {
    let Some(paths) = doc.get("paths").and_then(Json::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, item) in paths {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                let statuses = op
                    .get("responses")
                    .and_then(Json::as_object)
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default();
                out.push(Operation {
                    method: m.to_uppercase(),
                    path: path.clone(),
                    statuses,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(doc: serde_json::Value) -> Spec {
        Spec {
            file: PathBuf::from("t.json"),
            base_path: base_path(&doc),
            operations: operations(&doc),
        }
    }

    #[test]
    fn requests_match_templates_under_the_base_path() {
        let v3 = spec(serde_json::json!({
            "openapi": "3.0.0",
            "servers": [{"url": "https://api.test/v2"}],
            "paths": {"/users/{id}": {"get": {"responses": {"200": {}}}, "delete": {}}}
        }));
        assert_eq!(v3.find("GET", "/v2/users/7"), Some(0));
        assert_eq!(v3.find("DELETE", "/v2/users/7"), Some(1));
        assert_eq!(v3.find("GET", "/users/7"), None, "the base path is named");
        assert_eq!(v3.find("GET", "/v2/users/7/extra"), None);
        assert_eq!(
            v3.find("GET", "/v2/users/"),
            None,
            "a parameter is not empty"
        );
        let bare = spec(serde_json::json!({
            "swagger": "2.0",
            "paths": {"/user/{Login}": {"get": {"responses": {"200": {}}}}}
        }));
        assert_eq!(bare.find("GET", "/user/admin"), Some(0));
        assert_eq!(
            bare.find("GET", "/a/user/admin"),
            Some(0),
            "served under an unnamed base"
        );
        assert_eq!(bare.find("POST", "/a/user/admin"), None);
    }
}
