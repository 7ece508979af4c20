//! JSONPath evaluation, numeric-aware equality and readable diffs.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value as Json;
use similar::{ChangeTag, TextDiff};

use crate::load::{JsonPath, PathStep};

/// JSON equality where `1` equals `1.0`, as a reader of the YAML would expect.
pub fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Removes everything `path` matches from `doc`.
pub fn remove_matches(doc: &mut Json, path: &JsonPath) {
    let found: Vec<String> = jsonpath_rust::query::js_path_process(&path.query, &*doc)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.path())
        .collect();
    // Remove deeper and later matches first so earlier array indexes stay valid.
    let mut pointers: Vec<Vec<Step>> = found.iter().filter_map(|p| parse_normalized(p)).collect();
    pointers.sort_by(|a, b| b.cmp(a));
    for steps in pointers {
        remove_at(doc, &steps);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses a normalized path as jsonpath-rust prints it: `$['a'][0]['b']`.
fn parse_normalized(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        rest = rest.strip_prefix('[')?;
        if let Some(quoted) = rest.strip_prefix('\'') {
            let mut key = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => key.push(chars.next()?.1),
                    '\'' => break i,
                    _ => key.push(c),
                }
            };
            rest = quoted[end + 1..].strip_prefix(']')?;
            steps.push(Step::Key(key));
        } else {
            let close = rest.find(']')?;
            steps.push(Step::Index(rest[..close].parse().ok()?));
            rest = &rest[close + 1..];
        }
    }
    Some(steps)
}

fn remove_at(doc: &mut Json, steps: &[Step]) {
    let Some((last, parents)) = steps.split_last() else {
        return;
    };
    let mut node = doc;
    for step in parents {
        node = match (step, node) {
            (Step::Key(k), Json::Object(m)) => match m.get_mut(k) {
                Some(n) => n,
                None => return,
            },
            (Step::Index(i), Json::Array(a)) => match a.get_mut(*i) {
                Some(n) => n,
                None => return,
            },
            _ => return,
        };
    }
    match (last, node) {
        (Step::Key(k), Json::Object(m)) => {
            m.shift_remove(k);
        }
        (Step::Index(i), Json::Array(a)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// Whether a value is worth a line diff rather than a one-line message.
pub fn wants_diff(expected: &Json, actual: &Json) -> bool {
    let big = |v: &Json| matches!(v, Json::Object(_) | Json::Array(_)) || v.to_string().len() > 60;
    big(expected) || big(actual)
}

/// How many lines of a diff a message shows.
pub const DIFF_LINES: usize = 200;

/// A line diff of two values: `-` lines are expected, `+` lines came.
pub fn diff(expected: &Json, actual: &Json) -> String {
    let e = pretty(expected);
    let a = pretty(actual);
    diff_text(&e, &a)
}

/// A line diff of two texts, at most [`DIFF_LINES`] lines of it.
pub fn diff_text(expected: &str, actual: &str) -> String {
    // A diff of two large, very different texts could take long: similar
    // then gives a coarser diff.
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_millis(500))
        .diff_lines(expected, actual);
    let mut out = String::from("    --- expected\n    +++ actual\n");
    let mut lines = 0usize;
    let total: usize = diff
        .grouped_ops(3)
        .iter()
        .flatten()
        .map(|op| op.new_range().len().max(op.old_range().len()))
        .sum();
    for group in diff.grouped_ops(3) {
        for op in group {
            for change in diff.iter_changes(&op) {
                lines += 1;
                if lines > DIFF_LINES {
                    out.push_str(&format!(
                        "    ... the diff goes on (about {} more lines)\n",
                        total.saturating_sub(DIFF_LINES)
                    ));
                    return out;
                }
                let sign = match change.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                out.push_str("    ");
                out.push(sign);
                out.push(' ');
                out.push_str(change.value().trim_end_matches('\n'));
                out.push('\n');
            }
        }
    }
    out
}

fn pretty(v: &Json) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// The value at `steps` in the JSON `body`, read without building the rest
/// of the body (no map, string or list of it is made): `Ok(None)` when
/// nothing is there. The whole body is still read, so a body that is not
/// JSON is the same error as for a full parse, and of a key written twice
/// the last one counts, as in a parsed object.
pub fn value_at(body: &[u8], steps: &[PathStep]) -> Result<Option<Json>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Follow(steps).deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// Follows the steps left into the value being read.
struct Follow<'s, 'p>(&'s [PathStep<'p>]);

impl<'de> DeserializeSeed<'de> for Follow<'_, '_> {
    type Value = Option<Json>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.0.split_first() {
            None => Json::deserialize(d).map(Some),
            Some((step, rest)) => d.deserialize_any(Inside { step: *step, rest }),
        }
    }
}

/// A value to take `step` into, then the rest.
struct Inside<'s, 'p> {
    step: PathStep<'p>,
    rest: &'s [PathStep<'p>],
}

impl<'de> Visitor<'de> for Inside<'_, '_> {
    type Value = Option<Json>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let name = match self.step {
            PathStep::Name(name) => Some(name),
            PathStep::Index(_) => None,
        };
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyIs(name))? {
            if hit {
                found = map.next_value_seed(Follow(self.rest))?;
            } else {
                map.next_value_seed(Skip)?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let index = match self.step {
            PathStep::Index(i) => Some(i),
            PathStep::Name(_) => None,
        };
        let mut found = None;
        for i in 0.. {
            if index == Some(i) {
                match seq.next_element_seed(Follow(self.rest))? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element_seed(Skip)?.is_none() {
                break;
            }
        }
        Ok(found)
    }
}

/// A value read and checked as a full parse checks it (UTF-8, escapes,
/// numbers in range, nesting depth), then dropped: nothing is built.
/// (serde's IgnoredAny checks less, so a body a full parse rejects could
/// pass.)
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }
}

/// Whether an object's key is `name`, read without copying it.
struct KeyIs<'p>(Option<&'p str>);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(self.0 == Some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn singular_paths_give_a_value_and_others_a_list() {
        let doc = json!({"a": {"b": [1, 2, 3]}});
        assert_eq!(
            JsonPath::parse("$.a.b[1]").unwrap().query(&doc),
            Some(json!(2))
        );
        assert_eq!(JsonPath::parse("$.a.missing").unwrap().query(&doc), None);
        assert_eq!(
            JsonPath::parse("$.a.b[*]").unwrap().query(&doc),
            Some(json!([1, 2, 3]))
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!({"a": [1]}), &json!({"a": [1.0]})));
        assert!(!json_eq(&json!("1"), &json!(1)));
    }

    #[test]
    fn ignored_paths_are_removed_including_array_items() {
        let mut doc =
            json!({"id": 1, "at": "now", "items": [{"t": 1, "k": "a"}, {"t": 2, "k": "b"}]});
        remove_matches(&mut doc, &JsonPath::parse("$.at").unwrap());
        remove_matches(&mut doc, &JsonPath::parse("$.items[*].t").unwrap());
        assert_eq!(doc, json!({"id": 1, "items": [{"k": "a"}, {"k": "b"}]}));
    }
}
