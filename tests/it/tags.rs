//! Tags: `tags:` on a collection and its requests, `--tag` and
//! `--skip-tag` choosing the tests, tags in --list, JSON and JUnit.

use std::process::{Command, Output};

use crate::common::{server, write_collection};

const YAML: &str = r#"name: t
tags: [cells]
requests:
  - name: login
    method: POST
    url: "{{ base }}/token"
    tags: [auth]
    capture: {token: $.access_token}
  - name: a
    url: "{{ base }}/echo?t={{ token }}"
    tags: [smoke]
  - name: b
    url: "{{ base }}/echo"
  - name: c
    url: "{{ base }}/echo"
    tags: [smoke, slow]
"#;

fn run(args: &[&str]) -> Output {
    let api = server();
    let path = write_collection(YAML);
    let base = format!("base={}", api.url);
    Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&path)
        .args(["--var", &base])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Standard output, runs of spaces (libtest's column padding) as one.
fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn tag_chooses_the_tests_and_what_they_need_still_runs() {
    let out = run(&["--tag", "smoke"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("running 2 tests"), "{text}");
    assert!(
        text.contains("test [cells,smoke] t::a ... ok"),
        "a reads login's capture: {text}"
    );
    assert!(
        text.contains("test [cells,smoke,slow] t::c ... ok"),
        "{text}"
    );
    assert!(
        !text.contains("t::b") && !text.contains("t::login"),
        "{text}"
    );

    let out = run(&["--skip-tag", "smoke", "--skip-tag", "auth"]);
    let text = stdout(&out);
    assert!(text.contains("running 1 test"), "{text}");
    assert!(text.contains("test [cells] t::b ... ok"), "{text}");

    // --skip matches the tags too, as libtest shows them, and a skipped
    // request is never sent: `a` reads login's capture, so skipping the
    // tag `auth` is refused before anything is sent.
    let out = run(&["--skip", "auth"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));

    let out = run(&["--list", "--tag", "slow"]);
    assert_eq!(stdout(&out).trim(), "[cells,smoke,slow] t::c: test");
}

#[test]
fn tags_are_in_the_json_and_junit_reports() {
    let dir = std::env::temp_dir().join(format!("reqtest-tags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, xml) = (dir.join("r.json"), dir.join("r.xml"));
    let out = run(&[
        "--json",
        json.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let tags: Vec<&serde_json::Value> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["tags"])
        .collect();
    assert!(
        tags.contains(&&serde_json::json!(["cells", "smoke", "slow"])),
        "{report}"
    );
    let junit = std::fs::read_to_string(&xml).unwrap();
    assert!(
        junit.contains(r#"<properties><property name="tag" value="cells"/><property name="tag" value="auth"/></properties>"#),
        "{junit}"
    );
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])",
        ])
        .arg(&xml)
        .status()
        .expect("python3 reads the JUnit XML");
    assert!(
        parsed.success(),
        "the JUnit report is well-formed XML:\n{junit}"
    );
}

#[test]
fn rerun_failed_runs_what_failed_or_did_not_run_and_what_it_needs() {
    let api = server();
    let yaml = r#"name: rr
requests:
  - name: login
    method: POST
    url: "{{ base }}/token"
    capture: {token: $.access_token}
  - name: fine
    url: "{{ base }}/echo"
  - name: flaky
    url: "{{ base }}/echo?t={{ token }}"
    expect: {json: {$.query.t: "{{ expected }}"}}
  - name: after
    url: "{{ base }}/echo"
"#;
    let path = write_collection(yaml);
    let report = path.with_extension("json");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_reqtest"))
            .arg("run")
            .arg(&path)
            .args(["--var", &format!("base={}", api.url)])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let first = run(&["--var", "expected=nope", "--json", report.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(1));
    let again = run(&[
        "--var",
        "expected=abc",
        "--rerun-failed",
        report.to_str().unwrap(),
    ]);
    let text = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert!(text.contains("running 2 tests"), "flaky and after: {text}");
    assert!(
        text.contains("test rr::flaky ... ok") && text.contains("test rr::after ... ok"),
        "{text}"
    );
    assert!(
        !text.contains("rr::fine") && !text.contains("rr::login"),
        "{text}"
    );
}
