//! The usual lines of Postman test scripts as `expect` and `capture`:
//! a status check, a JSON value check, and a response value stored in a
//! variable, however a script spells it (`pm.environment.set`,
//! `pm.collectionVariables.set`, `pm.globals.set`, `pm.variables.set`,
//! `postman.setEnvironmentVariable`, `postman.setGlobalVariable`; read
//! from `pm.response.json()`, `JSON.parse(responseBody)`, or a variable
//! holding either). Every other line is listed, never dropped.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{json, Map, Value as Json};

use super::Converter;
use crate::bridge::identifier;

/// The response body as JSON, as scripts read it.
const RESPONSE_JSON: &str = r"(?:pm\.response\.json\(\)|JSON\.parse\(\s*responseBody\s*\))";
/// `.a.b[0]["x-y"]` after it.
const PATH: &str = r#"((?:\.[A-Za-z_$][\w$]*|\[\d+\]|\[\s*["'][^"']+["']\s*\])*)"#;

fn regex(cell: &'static OnceLock<Regex>, pattern: impl FnOnce() -> String) -> &'static Regex {
    cell.get_or_init(|| Regex::new(&pattern()).expect("valid"))
}

fn status_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, || r"pm\.response\.to\.have\.status\((\d{3})\)".into())
}

fn equals_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, || {
        format!(
            r"pm\.expect\(\s*{RESPONSE_JSON}{PATH}\s*\)\s*\.to\.(?:eql|equal|eq)\(\s*([^)]+?)\s*\)"
        )
    })
}

/// `var jsonData = pm.response.json();`
fn alias_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, || {
        format!(r"^\s*(?:var|let|const)\s+([A-Za-z_$][\w$]*)\s*=\s*{RESPONSE_JSON}\s*;?\s*$")
    })
}

/// `pm.environment.set("k", <source><path>)`, source captured whole.
fn set_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, || {
        format!(
            r#"(?:pm\.(?:environment|collectionVariables|globals|variables)\.set|postman\.set(?:Environment|Global)Variable)\(\s*["']([^"']+)["']\s*,\s*({RESPONSE_JSON}|[A-Za-z_$][\w$]*){PATH}\s*\)"#
        )
    })
}

/// A script's property path as a JSONPath: `.a[0]["x-y"]` → `$.a[0]['x-y']`.
fn jsonpath(path: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let quoted = regex(&RE, || r#"\[\s*["']([^"']+)["']\s*\]"#.into());
    format!("${}", quoted.replace_all(path, "['$1']"))
}

/// The lines of a script event.
fn lines_of(event: &Json) -> Vec<String> {
    match event.pointer("/script/exec") {
        Some(Json::Array(l)) => l
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect(),
        Some(Json::String(s)) => s.lines().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// The variables a request's test scripts store, with the JSONPath of the
/// response value each one takes.
pub fn stored(events: Option<&Json>) -> Vec<(String, String)> {
    let mut entry = Map::new();
    let mut cx = Converter::quiet();
    scripts(&mut cx, "", events, &mut entry);
    entry
        .get("capture")
        .and_then(Json::as_object)
        .map(|c| {
            c.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The usual test-script lines as `expect` and `capture`; the rest listed.
pub fn scripts(
    cx: &mut Converter,
    place: &str,
    events: Option<&Json>,
    entry: &mut Map<String, Json>,
) {
    for e in events.and_then(Json::as_array).into_iter().flatten() {
        let listen = e.get("listen").and_then(Json::as_str).unwrap_or("script");
        let lines = lines_of(e);
        if listen != "test" {
            if lines.iter().any(|l| !l.trim().is_empty()) {
                cx.unconverted.push(format!(
                    "{place}: its {listen} script ({} lines) was not converted",
                    lines.len()
                ));
            }
            continue;
        }
        let mut aliases = BTreeSet::new();
        let left: Vec<String> = lines
            .iter()
            .filter(|line| !convert_line(line, &mut aliases, entry))
            .map(|l| l.trim().to_string())
            .filter(|l| !is_scaffolding(l))
            .collect();
        if !left.is_empty() {
            cx.unconverted.push(format!(
                "{place}: test script lines not converted: {}",
                left.join(" | ")
            ));
        }
    }
}

/// Converts one line into `entry`; false when it holds nothing reqtest
/// took from it.
fn convert_line(line: &str, aliases: &mut BTreeSet<String>, entry: &mut Map<String, Json>) -> bool {
    if let Some(c) = alias_re().captures(line) {
        aliases.insert(c[1].to_string());
        return true;
    }
    let mut used = false;
    if let Some(c) = status_re().captures(line) {
        let code: u16 = c[1].parse().unwrap_or(200);
        let expect = entry.entry("expect").or_insert_with(|| json!({}));
        expect["status"] = Json::from(code);
        used = true;
    }
    if let Some(c) = equals_re().captures(line) {
        let value: Json = serde_json::from_str(c[2].trim())
            .unwrap_or_else(|_| Json::from(c[2].trim().trim_matches(['"', '\''])));
        let expect = entry.entry("expect").or_insert_with(|| json!({}));
        let json_map = expect
            .as_object_mut()
            .expect("an object")
            .entry("json")
            .or_insert_with(|| json!({}));
        json_map[jsonpath(&c[1])] = value;
        used = true;
    }
    for c in set_re().captures_iter(line) {
        let source = &c[2];
        let from_response = source.contains('(') || aliases.contains(source);
        if !from_response {
            continue;
        }
        let capture = entry.entry("capture").or_insert_with(|| json!({}));
        capture[identifier(&c[1])] = Json::from(jsonpath(&c[3]));
        used = true;
    }
    used
}

/// Only the opening and closing of a pm.test block are scaffolding; a
/// one-line pm.test holds a check.
fn is_scaffolding(trimmed: &str) -> bool {
    let opens_test = trimmed.starts_with("pm.test(") && trimmed.ends_with('{');
    trimmed.is_empty()
        || trimmed.starts_with("//")
        || matches!(trimmed, "});" | "}" | "})")
        || opens_test
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_ways_of_storing_a_response_value_become_captures() {
        let events = json!([{"listen": "test", "script": {"exec": [
            "var jsonData = pm.response.json();",
            "pm.environment.set(\"dex_token\", jsonData.id_token);",
            "let body = JSON.parse(responseBody);",
            "postman.setEnvironmentVariable('user', body.users[0][\"login-name\"]);",
            "pm.globals.set(\"g\", pm.response.json().a.b);",
            "pm.collectionVariables.set(\"c\", JSON.parse(responseBody).c);",
            "pm.environment.set(\"other\", someFunction());"
        ]}}]);
        let mut cx = Converter::quiet();
        let mut entry = Map::new();
        scripts(&mut cx, "r", Some(&events), &mut entry);
        assert_eq!(
            entry["capture"],
            json!({"dex_token": "$.id_token", "user": "$.users[0]['login-name']", "g": "$.a.b", "c": "$.c"})
        );
        assert_eq!(cx.unconverted.len(), 1, "{:?}", cx.unconverted);
        assert!(cx.unconverted[0].contains("someFunction()"));
    }
}
