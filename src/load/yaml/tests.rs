use super::*;

fn p(segs: &[Seg]) -> Vec<Seg> {
    segs.to_vec()
}

#[test]
fn records_mapping_entries_and_sequence_items() {
    let text = "name: demo\nrequests:\n  - name: a\n    url: /a\n    expect:\n      json:\n        $.x.y: 1\n  - name: b\n    url: /b\n";
    let idx = Document::parse(text).unwrap();
    assert_eq!(idx.find(&p(&["name".into()])).line, 1);
    assert_eq!(
        idx.find(&p(&["requests".into(), 0.into()])),
        LineCol { line: 3, col: 5 }
    );
    assert_eq!(
        idx.find(&p(&["requests".into(), 0.into(), "url".into()]))
            .line,
        4
    );
    let json_entry = p(&[
        "requests".into(),
        0.into(),
        "expect".into(),
        "json".into(),
        "$.x.y".into(),
    ]);
    assert_eq!(idx.find(&json_entry), LineCol { line: 7, col: 9 });
    assert_eq!(
        idx.find(&p(&["requests".into(), 1.into(), "url".into()]))
            .line,
        9
    );
}

#[test]
fn unknown_paths_fall_back_to_the_nearest_ancestor() {
    let text = "requests:\n  - name: a\n";
    let idx = Document::parse(text).unwrap();
    let missing = p(&[
        "requests".into(),
        0.into(),
        "expect".into(),
        "status".into(),
    ]);
    assert_eq!(idx.find(&missing).line, 2);
}

#[test]
fn keys_written_twice_in_one_mapping_are_recorded_with_both_places() {
    let text = "vars:\n  a: 1\n  b: 2\n  a: 3\nheaders: {X: 1, \"X\": 2}\nvars2:\n  a: 1\n";
    let idx = Document::parse(text).unwrap();
    assert_eq!(
        idx.duplicates,
        vec![
            Duplicate {
                key: "a".into(),
                first: LineCol { line: 2, col: 3 },
                second: LineCol { line: 4, col: 3 }
            },
            Duplicate {
                key: "X".into(),
                first: LineCol { line: 5, col: 11 },
                second: LineCol { line: 5, col: 17 }
            },
        ]
    );
}

#[test]
fn wide_mappings_are_found_by_hash() {
    let text: String = (0..1000).map(|i| format!("k{i}: {i}\n")).collect();
    let idx = Document::parse(&text).unwrap();
    assert_eq!(idx.find(&p(&["k999".into()])).line, 1000);
    assert!(idx.duplicates.is_empty());
}

#[test]
fn flow_collections_are_indexed_too() {
    let text = "a: {b: [1, {c: 2}]}\n";
    let idx = Document::parse(text).unwrap();
    let c = p(&["a".into(), "b".into(), 1.into(), "c".into()]);
    assert_eq!(idx.find(&c), LineCol { line: 1, col: 13 });
}

#[derive(Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Req {
    name: String,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    requests: Vec<Req>,
}

fn value(text: &str) -> serde_json::Value {
    Document::parse(text).unwrap().deserialize().unwrap()
}

#[test]
fn plain_scalars_are_typed_as_yaml_says_and_quoted_ones_stay_text() {
    let v = value("[~, null, '', true, False, 42, -7, 0x1f, 0o17, 1.5, 1e3, .inf, 007, '42', \"true\", 1_000, abc]");
    let want = serde_json::json!([
        null, null, "", true, false, 42, -7, 31, 15, 1.5, 1000.0, null, "007", "42", "true",
        "1_000", "abc"
    ]);
    // JSON has no infinity: serde_json keeps it as null.
    assert_eq!(v, want);
    assert_eq!(value("a:\n"), serde_json::json!({"a": null}));
    assert_eq!(value("!!str 42"), serde_json::json!("42"));
}

#[test]
fn a_number_is_read_as_text_where_text_is_wanted() {
    let top: Top = Document::parse("requests:\n  - name: 2024\n    tags: [1, x]\n")
        .unwrap()
        .deserialize()
        .unwrap();
    assert_eq!(top.requests[0].name, "2024");
    assert_eq!(top.requests[0].tags, ["1", "x"]);
}

#[test]
fn errors_name_the_path_and_the_node_where_they_happen() {
    let doc =
        Document::parse("requests:\n  - name: a\n    timeout: soon\n  - name: b\n    urll: x\n")
            .unwrap();
    let e = doc.deserialize::<Top>().unwrap_err();
    assert_eq!(e.path, "requests[0].timeout");
    assert_eq!(e.at, Some(LineCol { line: 3, col: 14 }));
    assert!(
        e.message
            .starts_with("invalid type: string \"soon\", expected u32"),
        "{e}"
    );
    let doc = Document::parse("requests:\n  - name: b\n    urll: x\n").unwrap();
    let e = doc.deserialize::<Top>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "requests[0]: unknown field `urll`, expected one of `name`, `timeout`, `tags`, `value`"
    );
    assert_eq!(e.at, Some(LineCol { line: 3, col: 5 }));
    let e = Document::parse("requests:\n  - timeout: 1\n")
        .unwrap()
        .deserialize::<Top>()
        .unwrap_err();
    assert_eq!(e.to_string(), "requests[0]: missing field `name`");
}

#[test]
fn aliases_repeat_their_anchor_within_a_budget() {
    assert_eq!(
        value("a: &x [1, 2]\nb: *x\n"),
        serde_json::json!({"a": [1, 2], "b": [1, 2]})
    );
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h"])
    {
        laughs.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let e = Document::parse(&laughs).unwrap_err();
    assert!(
        e.message.contains("aliases repeat more than"),
        "{}",
        e.message
    );
}

#[test]
fn syntax_errors_and_second_documents_are_placed() {
    let e = Document::parse("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(e.at.line >= 1, "{e:?}");
    let e = Document::parse("a: 1\n---\nb: 2\n").unwrap_err();
    assert_eq!(e.at.line, 2);
    assert!(e.message.contains("more than one document"));
}

#[test]
fn an_alias_inside_its_own_node_and_deep_nesting_are_errors() {
    for text in ["vars: &x {b: *x}\n", "vars: {a: &s [*s]}\n"] {
        let e = Document::parse(text).unwrap_err();
        assert!(
            e.message.contains("an alias inside the node it names"),
            "{text}: {}",
            e.message
        );
    }
    let deep = "- ".repeat(50_000) + "x\n";
    let e = Document::parse(deep).unwrap_err();
    assert!(
        e.message.contains("nested more than 128 deep"),
        "{}",
        e.message
    );
    let fine = "- ".repeat(100) + "x\n";
    assert!(Document::parse(fine).is_ok());
}
