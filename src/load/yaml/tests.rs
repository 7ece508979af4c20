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

/// The tree as text: each node's kind, position and scalar text, and the
/// duplicate keys; or the error and its position.
fn dump(parsed: &Result<Document, SyntaxError>) -> String {
    fn node(doc: &Document, id: u32, depth: usize, out: &mut String) {
        let n = doc.nodes[id as usize];
        let pad = "  ".repeat(depth);
        let at = format!("{}:{}", n.at.line, n.at.col);
        match n.kind() {
            Kind::Scalar { plain, string } => {
                let text = doc.scalar(id).unwrap();
                out.push_str(&format!("{pad}{at} scalar {plain} {string} {text:?}\n"));
            }
            kind => {
                out.push_str(&format!("{pad}{at} {kind:?}\n"));
                for &child in &doc.children[n.start as usize..(n.start + n.len()) as usize] {
                    node(doc, child, depth + 1, out);
                }
            }
        }
    }
    match parsed {
        Err(e) => format!("error at {:?}", e.at),
        Ok(doc) => {
            let mut out = format!("{:?}\n", doc.duplicates);
            if let Some(root) = doc.root {
                node(doc, root, 0, &mut out);
            }
            out
        }
    }
}

/// Parses `text` with and without the fast scanner; says whether the fast
/// scanner took it.
fn same_tree(text: &str) -> bool {
    let slow = dump(&Document::parse_with(text.to_string(), false));
    let fast = dump(&Document::parse_with(text.to_string(), true));
    assert_eq!(fast, slow, "the two parses differ on:\n{text}");
    fast::build(text, &mut Builder::default()).is_some()
}

const EDGES: &[&str] = &[
    "a:\nb: x\nc:\n- 1\n-\n- k: v\n  e:\n  f: \"q\" # c\nd: 'z'\ng:\n  - - 1\n    - 2\n",
    "a :\nx:\n  k: v   # c\n  \"q\": 1\n  's' :\n  u: http://x:1/y#z a\n  l:\n    - a\n    -  b\n    - \n    - c:\n      d: 1\n",
    "- a\n- b: 1\n  c: 2\n-\n  - x\n- - y\n  - z\n",
    "- a:\n  - x\n  b: 1\n",
    "name: d\nrequests:\n  - name: x\n    url: /x  \n    headers:\n      A: \"Bearer {{ t }}\"\n    expect:\n      json:\n        $.a.b: 42\n",
    "  a: 1\n  b: 2\n",
    "a: 1\n  b: 2\n",
    "a:\n    b: 1\n  c: 2\n",
    "a: b: c\n",
    "a: 'it''s'\n",
    "a: \"x\\ty\"\n",
    "a: \"x\" y\n",
    "a: \"x\"#y\n",
    "a: x #y\nb: x#y\n",
    "a: [1, 2]\nb: {c: 1}\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  x\n",
    "a: >\n  x\n",
    "a: x\n  y\n",
    "a: x\n\n  y\n",
    "a: x\n  # c\nb: 1\n",
    "---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "a: 1\n...\n",
    "%YAML 1.2\n---\na: 1\n",
    "# only a comment\n",
    "",
    "hello\n",
    "a: 1\na: 2\n",
    "a:\tb\n",
    "a: 1\r\nb: 2\r\n",
    "é: ü\nñ:\n  - ö: 1\n",
    "a: \u{85}\n",
    "? a\n: b\n",
    "a: - b\n",
    "- a\nb: 1\n",
    "a:\n- b\n- c\nd: 1\n",
    "a:\n-\n- c\n",
    "a: -1\nb: -x\nc: ?x\nd: :x\n",
    "a:b\n",
    "a: b:\n",
    "\"a\": 1\n'b': 2\n\"c\" : 3\n",
    "a: \"unclosed\n",
    "a: 'x\n  y'\n",
    "a: @x\n",
    "a: `x\n",
    "a: 1 # c\n# c\n  # c\nb: 2\n",
    "- \n- x\n",
    "-\n",
    "a:\n",
    "a:\n  b:\n    c:\n",
    "a: {c: x, d: {ge: 1}, e: [L, \"C\"], j: [], k: {}}\nb: [1, {x: y}, [z] ]\n",
    "a: {f: , g:, 'h':1, i}\n",
    "a: [1, ]\n",
    "a: [1,, 2]\n",
    "a: {x: 1}}\n",
    "a: {x: 1} y\n",
    "a: {x: 1} # c\n- {y: 2}\n",
    "- {y: 2, z: [3]}\n- [a: b]\n",
    "- [-, a:b, ?x, \"q\", 'r']\n",
    "a: {x: 1,\n  y: 2}\n",
    "a: [x #c]\n",
    "{a: 1}: x\n",
];

/// Keys whose colon saphyr finds too far on (more than 1024 characters).
#[test]
fn the_fast_scanner_leaves_long_keys_to_saphyr() {
    let long = "k".repeat(1100);
    let padded = format!("{}{}", "k".repeat(1000), " ".repeat(25));
    for text in [
        format!("\"{long}\": v\n"),
        format!("{long}: v\n"),
        format!("{padded}: v\n"),
    ] {
        assert!(
            !same_tree(&text),
            "the fast scanner took a key of {} bytes",
            text.len()
        );
    }
}

#[test]
fn the_fast_scanner_builds_what_saphyr_builds_for_edge_cases() {
    let taken = EDGES.iter().filter(|t| same_tree(t)).count();
    assert!(taken >= 20, "the fast scanner took only {taken} cases");
}

#[test]
fn the_fast_scanner_takes_the_bundled_collections() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/collections");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(same_tree(&text), "{} left the fast path", path.display());
    }
}

/// Mutated collections: the fast scanner builds what saphyr builds, or
/// leaves the text to it.
#[test]
fn the_fast_scanner_agrees_with_saphyr_on_mutated_collections() {
    const PIECES: &[&str] = &[
        " ", "  ", "\n", "\n  ", "- ", "-", ": ", ":", "#", " #", "\"", "'", "''", "\\", "a", "é",
        "[", "{", "&a ", "*a", "!!str ", "|", ">", "? ", "---", "\t", "\r", "~", "\n- ", "\n-\n",
        "{", "}", "[", "]", ",", ", ", "{a: 1}", "[x, y]", "a: ", "\"a\": ",
    ];
    let mut seeds: Vec<String> = EDGES.iter().map(|s| s.to_string()).collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/collections");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        // Pieces of the collections keep each parse quick.
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for chunk in lines.chunks(25) {
            seeds.push(chunk.join("\n") + "\n");
        }
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let (mut taken, mut tried) = (0, 0);
    for seed in &seeds {
        for _ in 0..100 {
            let mut text = seed.clone();
            for _ in 0..1 + next(3) {
                let mut at = next(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match next(3) {
                    0 => text.insert_str(at, PIECES[next(PIECES.len())]),
                    1 => {
                        let mut to = (at + 1 + next(4)).min(text.len());
                        while !text.is_char_boundary(to) {
                            to += 1;
                        }
                        text.replace_range(at..to, "");
                    }
                    _ => {
                        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                        text.insert_str(line_start, PIECES[next(2)]);
                    }
                }
            }
            tried += 2;
            taken += usize::from(same_tree(&text));
            // And without its last line break, for what ends at the text's end.
            taken += usize::from(same_tree(text.trim_end()));
        }
    }
    // Enough mutants stay in the subset for the comparison to mean something.
    assert!(
        taken * 8 > tried,
        "the fast scanner took {taken} of {tried}"
    );
}

#[test]
fn a_scalar_written_many_times_is_kept_once() {
    let text = "- url: http://127.0.0.1:18080/json\n  name: \"x\"\n".repeat(1000);
    let doc = Document::parse(text).unwrap();
    assert_eq!(doc.text, "urlhttp://127.0.0.1:18080/jsonnamex");
    let root = doc.root.unwrap();
    let last = doc.items(root)[999];
    let (_, url) = doc.entry(last, "url").unwrap();
    assert_eq!(doc.scalar(url), Some("http://127.0.0.1:18080/json"));
}
