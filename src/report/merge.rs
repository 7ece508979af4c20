//! `reqtest report merge`: the JSON reports of a sharded run's parts joined
//! into one report of the whole run, written again as JSON and JUnit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value as Json};

use super::junit::{Case, Junit};

/// The reports in `inputs` as one: their requests in order, their counts
/// summed, the earliest start, the longest part's duration (parts run side
/// by side), and insecure when any part was.
pub fn merge(inputs: &[PathBuf]) -> Result<Json, String> {
    let mut requests = Vec::new();
    let mut started: Option<String> = None;
    let mut insecure = false;
    let mut version = Json::Null;
    let mut counts = [0u64; 3];
    let mut duration = 0f64;
    for path in inputs {
        let report = read(path)?;
        let parts = report["requests"].as_array().cloned().unwrap_or_default();
        requests.extend(parts);
        if let Some(s) = report["started"].as_str() {
            if started.as_deref().is_none_or(|e| s < e) {
                started = Some(s.to_string());
            }
        }
        insecure |= report["tls_insecure"].as_bool().unwrap_or(false);
        version = report["reqtest"].clone();
        let summary = &report["summary"];
        for (i, key) in ["passed", "failed", "not_run"].iter().enumerate() {
            counts[i] += summary[key].as_u64().unwrap_or(0);
        }
        duration = duration.max(summary["duration_ms"].as_f64().unwrap_or(0.0));
    }
    let latency = latency(&requests);
    Ok(json!({
        "reqtest": version,
        "started": started,
        "tls_insecure": insecure,
        "merged_from": inputs.len(),
        "requests": requests,
        "summary": {
            "passed": counts[0],
            "failed": counts[1],
            "not_run": counts[2],
            "duration_ms": duration,
            "latency": latency,
        },
    }))
}

/// Each collection's latency, from the times of its requests that got a
/// response (percentiles cannot be merged, times can).
fn latency(requests: &[Json]) -> Map<String, Json> {
    let mut names: Vec<&str> = Vec::new();
    let mut times = super::latency::Times::default();
    for r in requests.iter().filter(|r| r["status"].is_u64()) {
        let name = r["collection"].as_str().unwrap_or("");
        let ci = names.iter().position(|n| *n == name).unwrap_or_else(|| {
            names.push(name);
            names.len() - 1
        });
        let ms = r["duration_ms"].as_f64().unwrap_or(0.0);
        times.add(ci, seconds(ms / 1000.0));
    }
    names
        .iter()
        .zip(times.summary(names.len()))
        .filter_map(|(n, l)| Some((n.to_string(), serde_json::to_value(l?).ok()?)))
        .collect()
}

/// A duration from a report's seconds, whatever the report says.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// A finished reqtest JSON report, or why `path` is not one.
pub fn read(path: &Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let report: Json = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a reqtest JSON report: {e}", path.display()))?;
    if !report["requests"].is_array() || !report["summary"].is_object() {
        return Err(format!(
            "{} is not a finished reqtest JSON report (no `requests` and `summary`)",
            path.display()
        ));
    }
    Ok(report)
}

/// The merged report as a JUnit file: a suite per collection.
pub fn write_junit(merged: &Json, path: &Path) -> std::io::Result<()> {
    let requests = merged["requests"].as_array().cloned().unwrap_or_default();
    let mut collections: Vec<&str> = Vec::new();
    for r in &requests {
        let c = r["collection"].as_str().unwrap_or("");
        if !collections.contains(&c) {
            collections.push(c);
        }
    }
    let insecure = merged["tls_insecure"].as_bool().unwrap_or(false);
    let mut junit = Junit::create(path, vec![insecure; collections.len()])?;
    for r in &requests {
        let text = |k: &str| r[k].as_str().unwrap_or("");
        let tags = tags_of(r);
        let ci = collections
            .iter()
            .position(|c| *c == text("collection"))
            .expect("listed above");
        junit.case(
            ci,
            &Case {
                collection: text("collection"),
                file: text("file"),
                name: text("request"),
                line: r["line"].as_u64().unwrap_or(0) as u32,
                time: seconds(r["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0),
                result: text("result"),
                message: r["message"].as_str(),
                tags: &tags,
            },
        )?;
    }
    junit.finish()
}

/// The merged report as an HTML page (already masked: the parts were).
pub fn write_html(merged: &Json, path: &Path) -> std::io::Result<()> {
    let mut page = super::html::HtmlReport::create(path)?;
    let mut ends: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    for r in merged["requests"].as_array().into_iter().flatten() {
        let c = r["collection"].as_str().unwrap_or("").to_string();
        let start = ends.get(&c).copied().unwrap_or(0.0);
        page.record_json(r, start)?;
        ends.insert(c, start + r["duration_ms"].as_f64().unwrap_or(0.0));
    }
    let latency = &merged["summary"]["latency"];
    let coverage = Json::Array(Vec::new());
    page.finish(latency, &coverage)
}

/// The merged report as JSON.
pub fn write_json(merged: &Json, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string(merged)?;
    std::fs::write(path, text + "\n")
}

/// `passed 10, failed 1, not run 2 (from 3 reports)`.
pub fn summary_line(merged: &Json) -> String {
    let s: &Map<String, Json> = merged["summary"].as_object().expect("made by merge");
    format!(
        "merged {} reports: {} passed, {} failed, {} not run",
        merged["merged_from"], s["passed"], s["failed"], s["not_run"]
    )
}

/// The tags of a request row of a JSON report.
pub(super) fn tags_of(row: &serde_json::Value) -> Vec<String> {
    row["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
