//! Flow: polling an asynchronous job with `retry`, against a local server
//! whose jobs finish after a few polls and that asks to wait with
//! `Retry-After`.

use std::collections::HashMap;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::text;
use crate::common::write_collection;

/// Polls per job so far.
type Polls = Arc<Mutex<HashMap<String, u32>>>;

/// A job is `running` until its third poll, then `done`.
async fn job(State(polls): State<Polls>, Path(id): Path<String>) -> Json<Value> {
    let mut polls = polls.lock().unwrap();
    let n = polls.entry(id.clone()).or_insert(0);
    *n += 1;
    let state = if *n >= 3 { "done" } else { "running" };
    Json(json!({"id": id, "state": state, "polls": *n}))
}

/// Busy (503, `Retry-After: 1`) on the first call, then fine.
async fn busy(State(polls): State<Polls>, Path(id): Path<String>) -> Response {
    let mut polls = polls.lock().unwrap();
    let n = polls.entry(format!("busy-{id}")).or_insert(0);
    *n += 1;
    if *n == 1 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "busy",
        )
            .into_response()
    } else {
        Json(json!({"ok": true})).into_response()
    }
}

/// A token per call, counted: `t1`, `t2`...
async fn token(State(polls): State<Polls>) -> Json<Value> {
    let mut polls = polls.lock().unwrap();
    let n = polls.entry("logins".into()).or_insert(0);
    *n += 1;
    Json(json!({"access_token": format!("t{n}"), "expires_in": 3600}))
}

/// Who the bearer is, and the header the defaults add.
async fn me(headers: axum::http::HeaderMap) -> Json<Value> {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    Json(json!({"authorization": get("authorization"), "team": get("x-team")}))
}

struct Jobs {
    url: String,
    _thread: reqtest::standins::ServerThread,
}

fn jobs() -> Jobs {
    let (thread, addr) = reqtest::standins::ServerThread::spawn(|stop| {
        let app = Router::new()
            .route("/jobs/{id}", get(job))
            .route("/busy/{id}", get(busy))
            .route("/token", axum::routing::post(token))
            .route("/me", get(me))
            .with_state(Polls::default());
        reqtest::standins::serve(app, stop)
    })
    .unwrap();
    Jobs {
        url: format!("http://{addr}"),
        _thread: thread,
    }
}

/// Runs `yaml` with a JSON report; the output and the report.
fn run(yaml: &str, args: &[&str]) -> (Output, Value) {
    let path = write_collection(yaml);
    let report = path.with_extension("json");
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&path)
        .arg("--json")
        .arg(&report)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let json = std::fs::read_to_string(&report)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (out, json)
}

#[test]
fn a_job_polled_until_done_passes_and_every_attempt_is_reported() {
    let server = jobs();
    let yaml = format!(
        r#"name: poll
requests:
  - name: wait for the job
    url: {url}/jobs/a
    retry:
      times: 5
      interval: 20ms
      backoff: 2
      until: {{json: {{$.state: done}}}}
    expect:
      status: 200
      json: {{$.polls: 3}}
"#,
        url = server.url
    );
    let (out, report) = run(&yaml, &["--verbose"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let attempts = report["requests"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{report}");
    assert_eq!(attempts[0]["waited_ms"], 20.0);
    assert_eq!(attempts[1]["waited_ms"], 40.0);
    assert!(
        attempts[0]["failure"]
            .as_str()
            .unwrap()
            .contains(r#"$.state: expected "done", got "running""#),
        "{report}"
    );
    assert!(text(&out).contains("* attempt 1: 200 in"), "{}", text(&out));
}

#[test]
fn a_job_that_never_finishes_fails_with_the_attempt_count_and_the_last_failure() {
    let server = jobs();
    let yaml = format!(
        r#"name: poll
requests:
  - name: wait for the job
    url: {url}/jobs/b
    retry: {{times: 1, interval: 10ms}}
    expect:
      json: {{$.state: done}}
"#,
        url = server.url
    );
    let (out, _) = run(&yaml, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("after 2 attempts"), "{all}");
    // An `until` that never holds fails the test even when `expect` holds.
    let with_until = format!(
        "name: poll\nrequests:\n  - name: until never holds\n    url: {}/jobs/c\n    retry: {{times: 1, interval: 10ms, until: {{json: {{$.state: done}}}}}}\n    expect: {{status: 200}}\n",
        server.url
    );
    let (out, _) = run(&with_until, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(r#"$.state: expected "done", got "running""#),
        "{all}"
    );
    assert!(
        all.contains(r#"$.state: expected "done", got "running""#),
        "{all}"
    );
}

#[test]
fn retry_after_on_a_503_is_honoured_within_max_wait() {
    let server = jobs();
    let yaml = format!(
        r#"name: busy
defaults:
  retry: {{times: 3, interval: 10ms, max_wait: 5s}}
requests:
  - name: honoured
    url: {url}/busy/a
    expect: {{status: 200}}
  - name: capped
    url: {url}/busy/b
    retry: {{times: 3, interval: 10ms, max_wait: 200ms}}
    expect: {{status: 200}}
"#,
        url = server.url
    );
    let (out, report) = run(&yaml, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let waited = |i: usize| {
        report["requests"][i]["attempts"][0]["waited_ms"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(waited(0), 1000.0, "{report}");
    assert_eq!(waited(1), 200.0, "{report}");
    assert_eq!(report["requests"][0]["attempts"][0]["status"], 503);
}

/// Runs `yaml` against the shared test API (`{{ base }}`) and returns each
/// request's result and message from the JSON report.
fn results(yaml: &str, args: &[&str]) -> (Output, Vec<(String, String)>) {
    let api = crate::common::server();
    let mut all = vec!["--var", "base=URL"];
    let base = format!("base={}", api.url);
    all[1] = &base;
    all.extend(args);
    let (out, report) = run(yaml, &all);
    let rows = report["requests"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    (
                        r["result"].as_str().unwrap_or("").to_string(),
                        r["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (out, rows)
}

#[test]
fn cleanup_marked_always_runs_after_a_failure_once_and_only_with_its_captures() {
    let yaml = r#"name: cleanup
requests:
  - name: create
    method: POST
    url: "{{ base }}/echo"
    json: {id: 7}
    capture: {id: $.json.id}
  - name: check fails
    url: "{{ base }}/echo"
    expect: {status: 418}
  - name: skipped by the failure
    url: "{{ base }}/echo"
  - name: delete
    method: DELETE
    url: "{{ base }}/echo?id={{ id }}"
    always: true
    expect: {json: {$.method: DELETE, $.query.id: "7"}}
  - name: never captured
    url: "{{ base }}/echo"
    capture: {other: $.method}
    always: false
  - name: needs what never came
    url: "{{ base }}/echo?other={{ other }}"
    always: true
"#;
    let (out, rows) = results(yaml, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let got: Vec<&str> = rows.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        got,
        ["passed", "failed", "not_run", "passed", "not_run", "not_run"],
        "{rows:?}"
    );
    assert_eq!(
        rows[5].1,
        "not run: `check fails` failed, and it reads `other`, which was never captured"
    );
    let all = text(&out);
    let delete_ran = all
        .lines()
        .filter(|l| l.starts_with("test cleanup::delete ") && l.ends_with("... ok"))
        .count();
    assert_eq!(delete_ran, 1, "{all}");
}

#[test]
fn when_decides_at_its_turn_with_the_environment_and_the_captures_so_far() {
    let yaml = r#"name: cond
default_env: local
environments:
  local: {}
  real: {}
requests:
  - name: capture a flag
    url: "{{ base }}/echo?mode=fast"
    capture: {mode: $.query.mode}
  - name: only on real
    url: "{{ base }}/echo"
    when: "{{ environment == 'real' }}"
  - name: only when fast
    url: "{{ base }}/echo"
    when: "{{ mode == 'fast' }}"
"#;
    let (out, rows) = results(yaml, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got: Vec<&str> = rows.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(got, ["passed", "not_run", "passed"]);
    assert_eq!(
        rows[1].1,
        "not run: `when: {{ environment == 'real' }}` was false"
    );
    assert!(
        text(&out).contains("... ignored (not run: `when: {{ environment == 'real' }}` was false)"),
        "{}",
        text(&out)
    );
    let (out, rows) = results(yaml, &["--env", "real"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(rows.iter().all(|(r, _)| r == "passed"), "{rows:?}");
}

#[test]
fn data_runs_each_collection_once_per_row_named_by_its_number() {
    let dir = std::env::temp_dir().join(format!("reqtest-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("users.csv");
    std::fs::write(&csv, "login,role\nalice,admin\nbob,user\ncarol,admin\n").unwrap();
    let json = dir.join("users.json");
    std::fs::write(
        &json,
        r#"[{"login": "dave", "n": 1}, {"login": "erin", "n": 2}]"#,
    )
    .unwrap();
    let yaml = r#"name: users
requests:
  - name: echo the row
    url: "{{ base }}/echo?login={{ row.login }}"
    expect:
      json: {$.query.login: "{{ row.login }}"}
  - name: admins only
    url: "{{ base }}/echo"
    expect:
      json: {$.method: "{{ 'GET' if row.role == 'admin' else 'POST' }}"}
"#;
    let (out, rows) = results(yaml, &["--data", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Collections run side by side: the report's order is theirs.
    let failed = rows.iter().filter(|(r, _)| r == "failed").count();
    assert_eq!((rows.len(), failed), (6, 1), "{rows:?}");
    let all = text(&out);
    assert!(
        all.contains("test users[2]::admins only  ... FAILED"),
        "{all}"
    );
    assert!(all.contains("test users[3]::echo the row"), "{all}");

    let path = write_collection(yaml);
    let listed = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args([
            "run",
            path.to_str().unwrap(),
            "--list",
            "--data",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("users[1]::echo the row: test")
            && listed.contains("users[2]::admins only: test"),
        "{listed}"
    );

    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"login": "x"}"#).unwrap();
    let (out, _) = results(yaml, &["--data", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("a data file is a list of objects"),
        "{}",
        text(&out)
    );
}

#[test]
fn for_each_runs_one_test_per_item_from_a_list_a_variable_or_a_file() {
    let dir = std::env::temp_dir().join(format!("reqtest-foreach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("users.csv"),
        "login,ok\nalice,yes\nbob,no\ncarol,yes\n",
    )
    .unwrap();
    let yaml = r#"name: each
vars:
  ids: [1, 2]
requests:
  - name: "inline {{ item }}"
    url: "{{ base }}/echo?n={{ item }}"
    for_each: [a, b]
  - name: by variable
    url: "{{ base }}/echo?id={{ id }}"
    for_each: "{{ ids }}"
    as: id
    expect: {json: {$.query.id: "{{ id | string }}"}}
  - name: "user {{ user.login }}"
    url: "{{ base }}/echo?login={{ user.login }}"
    for_each: {file: users.csv}
    as: user
    expect: {json: {$.method: "{{ 'GET' if user.ok == 'yes' else 'POST' }}"}}
  - name: after the users
    url: "{{ base }}/echo"
"#;
    let file = dir.join("each.yaml");
    std::fs::write(&file, yaml).unwrap();
    let api = crate::common::server();
    let base = format!("base={}", api.url);
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args(["run", file.to_str().unwrap(), "--var", &base])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for line in [
        "test each::inline a ",
        "test each::inline b ",
        "test each::by variable[1] ",
        "test each::by variable[2] ",
        "test each::user alice ",
        "test each::user carol ",
    ] {
        assert!(
            all.lines()
                .any(|l| l.starts_with(line) && l.ends_with("... ok")),
            "{line}: {all}"
        );
    }
    assert!(
        all.lines()
            .any(|l| l.starts_with("test each::user bob ") && l.ends_with("FAILED")),
        "{all}"
    );
    assert!(
        all.contains("ignored (not run: `user bob` failed)"),
        "the request after the items waits for all of them: {all}"
    );
    let listed = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args(["run", file.to_str().unwrap(), "--var", &base, "--list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("each::user carol: test"), "{listed}");
}

const CAPTURED_LIST: &str = r#"name: captured
requests:
  - name: list
    url: "{{ base }}/json"
    capture: {tags: $.tags}
  - name: each tag
    url: "{{ base }}/echo?tag={{ item }}"
    for_each: "{{ tags }}"
    expect:
      json: {$.query.tag: "{{ item }}"}
  - name: only {{ tag }}
    url: "{{ base }}/echo?tag={{ tag }}"
    for_each: "{{ tags }}"
    as: tag
    expect:
      json: {$.query.tag: a}
  - name: after
    url: "{{ base }}/echo"
"#;

/// The `test NAME ... RESULT` lines libtest printed, in order.
fn test_lines(all: &str) -> Vec<String> {
    all.lines()
        .filter(|l| l.starts_with("test ") && l.contains(" ... "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn a_for_each_over_a_captured_list_is_one_test_per_item() {
    let (out, report) = {
        let api = crate::common::server();
        run(CAPTURED_LIST, &["--var", &format!("base={}", api.url)])
    };
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let mut lines = test_lines(&all);
    lines.sort();
    assert_eq!(
        lines,
        [
            "test captured::after ... ignored (not run: `only b` failed)",
            "test captured::each tag[1] ... ok",
            "test captured::each tag[2] ... ok",
            "test captured::list ... ok",
            "test captured::only a ... ok",
            "test captured::only b ... FAILED",
        ],
        "{all}"
    );
    assert!(all.contains("4 passed; 1 failed; 1 ignored"), "{all}");
    assert!(
        all.contains(r#"$.query.tag: expected "a", got "b""#),
        "{all}"
    );
    let rows: Vec<(&str, &str, &str)> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["request"].as_str().unwrap(),
                r["item_of"].as_str().unwrap_or(""),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("list", "", "passed"),
            ("each tag[1]", "each tag", "passed"),
            ("each tag[2]", "each tag", "passed"),
            ("only a", "only {{ tag }}", "passed"),
            ("only b", "only {{ tag }}", "failed"),
            ("after", "", "not_run"),
        ]
    );
}

#[test]
fn items_of_a_captured_list_are_filtered_listed_and_rerun_by_their_request() {
    let api = crate::common::server();
    let base = format!("base={}", api.url);
    // A filter on the request's written name runs its items, and the
    // request that captures the list as a dependency.
    let (out, _) = run(CAPTURED_LIST, &["--var", &base, "--filter", "only"]);
    let all = text(&out);
    let mut lines = test_lines(&all);
    lines.sort();
    assert_eq!(
        lines,
        [
            "test captured::only a ... ok",
            "test captured::only b ... FAILED"
        ],
        "{all}"
    );
    // --list cannot send anything: the request shows as written.
    let (out, _) = run(CAPTURED_LIST, &["--var", &base, "--list"]);
    assert!(
        text(&out).contains("captured::only {{ tag }}: test"),
        "{}",
        text(&out)
    );
    // A failed item reruns its request, with every item: here `only b`
    // brings back `only {{ tag }}` and `after`, which it blocked.
    let (out, first) = run(CAPTURED_LIST, &["--var", &base]);
    assert_eq!(out.status.code(), Some(1));
    let failed = write_collection("").with_file_name("failed.json");
    std::fs::write(&failed, first.to_string()).unwrap();
    let (out, _) = run(
        CAPTURED_LIST,
        &["--var", &base, "--rerun-failed", failed.to_str().unwrap()],
    );
    let all = text(&out);
    let mut lines = test_lines(&all);
    lines.sort();
    assert_eq!(
        lines,
        [
            "test captured::after ... ignored (not run: `only b` failed)",
            "test captured::only a ... ok",
            "test captured::only b ... FAILED",
        ],
        "{all}"
    );
}

#[test]
fn a_captured_list_that_never_comes_is_one_test_that_says_why() {
    let api = crate::common::server();
    let yaml = CAPTURED_LIST.replace("capture: {tags: $.tags}", "capture: {tags: $.missing}");
    let (out, _) = run(&yaml, &["--var", &format!("base={}", api.url)]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let lines = test_lines(&all);
    assert!(
        lines.contains(&"test captured::list ... FAILED".to_string()),
        "{all}"
    );
    assert!(
        lines.contains(&"test captured::each tag ... ignored (not run: `list` failed)".to_string()),
        "{all}"
    );
    assert!(
        lines.contains(
            &"test captured::only {{ tag }} ... ignored (not run: `list` failed)".to_string()
        ),
        "{all}"
    );
}

#[test]
fn included_pieces_give_environments_vars_defaults_and_one_shared_login() {
    let server = jobs();
    let dir = std::env::temp_dir().join(format!("reqtest-include-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("shared")).unwrap();
    std::fs::write(
        dir.join("shared/auth.yaml"),
        "auth:\n  type: request\n  request: {method: POST, url: \"{{ api }}/token\"}\n  token: $.access_token\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("shared/env.yaml"),
        format!("include: auth.yaml\nenvironments:\n  local: {{api: \"{}\"}}\nvars: {{team: blue, who: included}}\ndefaults:\n  headers: {{X-Team: \"{{{{ team }}}}\"}}\n", server.url),
    )
    .unwrap();
    let collection = |name: &str| {
        format!(
            "name: {name}\ninclude: [shared/env.yaml]\nvars: {{team: red}}\nrequests:\n  - name: me\n    url: \"{{{{ api }}}}/me\"\n    expect:\n      json: {{$.authorization: Bearer t1, $.team: red}}\n"
        )
    };
    std::fs::write(dir.join("one.yaml"), collection("one")).unwrap();
    std::fs::write(dir.join("two.yaml"), collection("two")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(dir.join("one.yaml"))
        .arg(dir.join("two.yaml"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    // Both collections log in once between them (t1), and the collection's
    // own `team` wins over the included one.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_include_cycle_and_a_bad_line_inside_an_included_file_name_both_places() {
    let dir = std::env::temp_dir().join(format!("reqtest-include-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), "include: b.yaml\n").unwrap();
    std::fs::write(dir.join("b.yaml"), "vars: {x: 1}\ninclude: a.yaml\n").unwrap();
    std::fs::write(
        dir.join("bad.yaml"),
        "vars: {x: 1}\nauth:\n  type: password\n  tokn_url: x\n",
    )
    .unwrap();
    let run = |yaml: &str| {
        let file = dir.join("c.yaml");
        std::fs::write(&file, yaml).unwrap();
        Command::new(env!("CARGO_BIN_EXE_reqtest"))
            .arg("run")
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = run("include: a.yaml\nrequests:\n  - {name: r, url: http://127.0.0.1:9/}\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("these files include each other in a circle:"),
        "{all}"
    );
    assert!(
        all.contains("a.yaml → ") && all.contains("b.yaml → "),
        "{all}"
    );
    let out = run(
        "vars: {y: 2}\ninclude: [bad.yaml]\nrequests:\n  - {name: r, url: http://127.0.0.1:9/}\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("bad.yaml:4:3:"),
        "the included file's line: {all}"
    );
    assert!(
        all.contains("(in a file included at ") && all.contains("c.yaml:2:1)"),
        "the include site: {all}"
    );
}

#[test]
fn a_request_list_is_spliced_from_another_file_with_its_parameters() {
    let server = jobs();
    let dir = std::env::temp_dir().join(format!("reqtest-splice-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(
        dir.join("flows/login.yaml"),
        "- name: \"log in {{ user }}\"\n  url: \"{{ api }}/jobs/{{ user }}\"\n  expect: {json: {$.id: \"{{ user }}\"}}\n  capture: {polls: $.polls}\n- include: check.yaml\n  with: {expected: 1}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("flows/check.yaml"),
        "- name: \"check {{ user }}\"\n  url: \"{{ api }}/jobs/{{ user }}\"\n  expect: {json: {$.polls: \"{{ expected + 1 }}\"}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("flows/broken.yaml"),
        "- name: fine\n  url: /x\n- name: broken\n  url: /y\n  expcet: {status: 200}\n",
    )
    .unwrap();
    let collection = dir.join("c.yaml");
    std::fs::write(
        &collection,
        format!("vars: {{api: \"{}\"}}\nrequests:\n  - include: flows/login.yaml\n    with: {{user: alice}}\n  - name: after\n    url: \"{{{{ api }}}}/jobs/x\"\n", server.url),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&collection)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for name in ["c::log in alice", "c::check alice", "c::after"] {
        assert!(all.contains(&format!("test {name} ")), "{name}: {all}");
    }
    std::fs::write(&collection, "requests:\n  - include: flows/broken.yaml\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&collection)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let all = text(&out);
    assert!(
        all.contains("broken.yaml:5:3: [1]: unknown field `expcet`"),
        "{all}"
    );
    assert!(
        all.contains("(in a file included at ") && all.contains("c.yaml:2:5)"),
        "{all}"
    );
}

#[test]
fn thresholds_are_one_more_test_naming_the_figure_over_its_limit() {
    let yaml = r#"name: perf
thresholds:
  p95: 20ms
  error_rate: 0.4
requests:
  - name: quick
    url: "{{ base }}/echo"
  - name: slow
    url: "{{ base }}/slow?ms=60"
  - name: fails
    url: "{{ base }}/echo"
    expect: {status: 418}
    always: true
"#;
    let (out, rows) = results(yaml, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("perf::thresholds"), "{all}");
    assert!(
        rows.iter().any(|(r, m)| r == "failed"
            && m.contains("p95: ")
            && m.contains("over the threshold of 20ms")),
        "the thresholds test is a row of the JSON report: {rows:?}"
    );
    let line = all
        .lines()
        .find(|l| l.contains(":2:1: p95: "))
        .unwrap_or_else(|| panic!("no thresholds failure: {all}"));
    assert!(line.contains("over the threshold of 20ms"), "{line}");
    assert!(!line.contains("error_rate"), "1 of 3 is within 0.4: {line}");
    let generous = yaml.replace("p95: 20ms", "p95: 10s").replace("0.4", "0.5");
    let (out, _) = results(&generous, &[]);
    let all = text(&out);
    assert!(
        all.lines()
            .any(|l| l.starts_with("test perf::thresholds") && l.ends_with("ok")),
        "{all}"
    );
    let strict = yaml.replace("p95: 20ms", "p95: 10s").replace("0.4", "0.2");
    let (out, _) = results(&strict, &[]);
    let all = text(&out);
    assert!(
        all.contains("error_rate: 0.333 (1 of 3 requests failed), over the threshold of 0.2"),
        "{all}"
    );
}
