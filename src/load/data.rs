//! Data files for data-driven runs (`--data` and `for_each: {file: ..}`):
//! CSV with a header row, or a YAML or JSON list of objects. Each row
//! becomes an object; CSV values stay strings, as Newman and k6 keep them.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use super::{FileName, LoadError, Pos};

/// The most rows a data file may hold.
pub const MAX_ROWS: usize = 100_000;

/// The rows of `path`: CSV by its `.csv` extension, else YAML or JSON.
pub fn load_rows(path: &Path) -> Result<Vec<Json>, LoadError> {
    let text = super::read(path)?;
    let file: FileName = Arc::new(path.display().to_string());
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let rows = if is_csv {
        csv_rows(&file, &text)?
    } else {
        let doc = super::document(&file, text)?;
        list_rows(&file, super::typed(&file, &doc)?)?
    };
    if rows.len() > MAX_ROWS {
        return Err(invalid(
            &file,
            1,
            format!("{} rows: at most {MAX_ROWS}", rows.len()),
        ));
    }
    Ok(rows)
}

fn invalid(file: &FileName, line: u32, message: String) -> LoadError {
    LoadError::invalid(
        Pos {
            file: file.clone(),
            line,
            col: 1,
        },
        message,
    )
}

fn csv_rows(file: &FileName, text: &str) -> Result<Vec<Json>, LoadError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| invalid(file, 1, format!("not CSV with a header row: {e}")))?
        .clone();
    if headers.is_empty() || headers.iter().any(str::is_empty) {
        return Err(invalid(file, 1, "the header row names every column".into()));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(1, |p| p.line() as u32);
            invalid(file, line, format!("{e}"))
        })?;
        let row: serde_json::Map<String, Json> = headers
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.to_string(), Json::from(v)))
            .collect();
        rows.push(Json::Object(row));
    }
    Ok(rows)
}

fn list_rows(file: &FileName, value: Json) -> Result<Vec<Json>, LoadError> {
    match value {
        Json::Array(items) => {
            if let Some(i) = items.iter().position(|r| !r.is_object()) {
                return Err(invalid(
                    file,
                    1,
                    format!(
                        "row {} is not an object (a data file is a list of objects)",
                        i + 1
                    ),
                ));
            }
            Ok(items)
        }
        _ => Err(invalid(
            file,
            1,
            "a data file is a list of objects (or CSV with a header row)".into(),
        )),
    }
}
