//! Report files read back by real consumers, and no secret in any output of
//! runs that fail in every way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use base64::Engine as _;
use serde_json::Value;

fn reqtest(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reqtest"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reqtest-reports-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Python with junitparser: a venv under target/, made on first use
/// (.ci/run makes it beforehand).
fn junit_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/junit-venv");
    let python = venv.join("bin/python");
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let has = |p: &Path| {
            Command::new(p)
                .args(["-c", "import junitparser"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if python.exists() && has(&python) {
            return;
        }
        assert!(Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success());
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(root.join("tests/junit/requirements.txt"))
            .status()
            .unwrap();
        assert!(pip.success(), "pip install junitparser failed");
    });
    python
}

const MIXED: &str = r#"
name: mixed
requests:
  - name: passes
    url: "{{ base }}/json"
    expect:
      status: 200
      json:
        $.nested.n: 42
        $.tags: {length: 2}
  - name: fails <&> "quoted"
    url: "{{ base }}/json"
    expect:
      json:
        $.nested.n: 43
  - name: not run
    url: "{{ base }}/json"
"#;

#[test]
fn junit_for_passing_failing_and_not_run_requests_reads_back_in_junitparser() {
    let server = server();
    let dir = temp_dir("junit");
    let collection = dir.join("mixed.yaml");
    std::fs::write(&collection, MIXED).unwrap();
    let junit = dir.join("report.xml");
    let base = format!("base={}", server.url);
    let out = reqtest(
        &[
            "run",
            collection.to_str().unwrap(),
            "--var",
            &base,
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));

    let read = Command::new(junit_python())
        .arg("tests/junit/read.py")
        .arg(&junit)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let parsed: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(
        (
            parsed["tests"].as_u64(),
            parsed["failures"].as_u64(),
            parsed["skipped"].as_u64()
        ),
        (Some(3), Some(1), Some(1)),
        "{parsed}"
    );
    let suite = &parsed["suites"][0];
    assert_eq!(suite["name"], "mixed");
    let cases = suite["cases"].as_array().unwrap();
    assert_eq!(cases[0]["result"], "passed");
    assert_eq!(cases[0]["classname"], "mixed");
    assert!(cases[0]["time"].as_f64().unwrap() > 0.0);
    assert_eq!(cases[1]["name"], "fails <&> \"quoted\"");
    assert_eq!(cases[1]["result"], "failure");
    assert!(
        cases[1]["message"]
            .as_str()
            .unwrap()
            .ends_with("$.nested.n: expected 43, got 42"),
        "{}",
        cases[1]
    );
    let text = cases[1]["text"].as_str().unwrap();
    assert!(
        text.contains("request:  GET http://127.0.0.1:") && text.contains("body:     {\"id\":1"),
        "{text}"
    );
    assert_eq!(cases[2]["result"], "skipped");
    assert_eq!(
        cases[2]["message"],
        "not run: `fails <&> \"quoted\"` failed"
    );
}

#[test]
fn the_json_report_lists_every_request_with_its_assertions_and_values() {
    let server = server();
    let dir = temp_dir("json");
    let collection = dir.join("mixed.yaml");
    std::fs::write(&collection, MIXED).unwrap();
    let report = dir.join("report.json");
    let base = format!("base={}", server.url);
    reqtest(
        &[
            "run",
            collection.to_str().unwrap(),
            "--var",
            &base,
            "--json",
            report.to_str().unwrap(),
        ],
        &[],
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["summary"]["passed"], 1);
    assert_eq!(json["summary"]["failed"], 1);
    assert_eq!(json["summary"]["not_run"], 1);
    let first = &json["requests"][0];
    assert_eq!(first["result"], "passed");
    assert_eq!(first["status"], 200);
    assert_eq!(first["method"], "GET");
    assert!(first["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(first["assertions"][1]["subject"], "$.nested.n");
    assert_eq!(first["assertions"][1]["actual"], 42);
    assert_eq!(
        first["assertions"][1]["at"],
        format!("{}:9:9", collection.display())
    );
    assert_eq!(
        first["assertions"][2]["actual"],
        serde_json::json!(["a", "b"])
    );
    let second = &json["requests"][1];
    assert_eq!(second["assertions"][0]["passed"], false);
    assert_eq!(
        second["assertions"][0]["message"],
        "$.nested.n: expected 43, got 42"
    );
    assert_eq!(json["requests"][2]["result"], "not_run");
}

/// Every form a secret can travel in.
fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        secret.replace('!', "%21").replace('@', "%40"),
        b64.encode(secret),
        b64.encode(format!("leak-user:{secret}")),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
    ]
}

#[test]
fn no_secret_appears_in_any_output_of_runs_that_fail_in_every_way() {
    let server = server();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("secrets");
    let db_password = "Sup3r-Secret!@pw";
    let api_key = "api-key-from-the-env-123";
    let client_secret = "svc-secret";
    let yaml = format!(
        r#"
name: leaky
vars:
  db_password: "{db_password}"
  api_key: "{{{{ env('REQTEST_LEAK_API_KEY', secret=true) }}}}"
secrets: [db_password]
auth:
  type: client_credentials
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  client_secret: {client_secret}
  scope: leakscope
requests:
  - name: echo everything and fail
    method: POST
    url: "{{{{ base }}}}/echo?key={{{{ api_key }}}}"
    headers:
      X-Api-Key: "{{{{ api_key }}}}"
      X-Basic: "{{{{ basic_auth('leak-user', db_password) }}}}"
    json: {{password: "{{{{ db_password }}}}", key: "{{{{ api_key }}}}"}}
    expect:
      status: 500
      json:
        $.json.password: "{{{{ db_password }}}}x"
        $.headers.authorization: {{matches: "^nope"}}
  - name: not run
    url: "{{{{ base }}}}/json"
"#
    );
    let leaky = dir.join("leaky.yaml");
    std::fs::write(&leaky, yaml).unwrap();
    let closed_yaml = format!(
        "name: closed\nvars:\n  k: \"{{{{ env('REQTEST_LEAK_API_KEY', secret=true) }}}}\"\nrequests:\n  - name: refused\n    url: \"http://127.0.0.1:{closed}/x?k={{{{ k }}}}\"\n"
    );
    let closed_file = dir.join("closed.yaml");
    std::fs::write(&closed_file, closed_yaml).unwrap();

    let junit = dir.join("r.xml");
    let json = dir.join("r.json");
    let base = format!("base={}", server.url);
    let envs = [("REQTEST_LEAK_API_KEY", api_key)];
    let run = reqtest(
        &[
            "run",
            leaky.to_str().unwrap(),
            closed_file.to_str().unwrap(),
            "--var",
            &base,
            "--verbose",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--test-threads",
            "1",
        ],
        &envs,
    );
    assert_eq!(run.status.code(), Some(1));
    let curl = reqtest(
        &[
            "curl",
            leaky.to_str().unwrap(),
            "echo everything and fail",
            "--var",
            &base,
        ],
        &envs,
    );
    assert!(
        curl.status.success(),
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );

    let mut everything = String::new();
    for out in [&run, &curl] {
        everything.push_str(&String::from_utf8_lossy(&out.stdout));
        everything.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    everything.push_str(&std::fs::read_to_string(&junit).unwrap());
    everything.push_str(&std::fs::read_to_string(&json).unwrap());

    // The run really went through the secrets: they were sent and echoed.
    assert!(everything.contains("\"password\":\"***\""), "{everything}");
    assert!(everything.contains("/echo?key=***"), "{everything}");
    assert!(
        everything.contains("x-basic: Basic ***")
            || everything.contains("\"x-basic\":\"Basic ***\""),
        "{everything}"
    );
    assert!(
        everything.contains(&format!("127.0.0.1:{closed}/x?k=***")),
        "{everything}"
    );
    for secret in [db_password, api_key, client_secret, "cc-leakscope"] {
        for form in forms(secret) {
            assert!(
                !everything.contains(&form),
                "`{secret}` leaked as `{form}`:\n{everything}"
            );
        }
    }
}

#[test]
fn requests_that_got_no_answer_carry_method_url_and_time_in_every_report() {
    let server = server();
    let dir = temp_dir("no-answer");
    let slow = dir.join("slow.yaml");
    std::fs::write(
        &slow,
        "name: slow\nrequests:\n  - name: times out\n    url: \"{{ base }}/slow?ms=3000\"\n    timeout: 300ms\n",
    )
    .unwrap();
    let auth = dir.join("auth.yaml");
    std::fs::write(
        &auth,
        "name: authfail\nauth:\n  type: client_credentials\n  token_url: \"{{ base }}/oauth/token\"\n  client_id: svc\n  client_secret: wrong-secret\nrequests:\n  - name: needs a token\n    method: POST\n    url: \"{{ base }}/api/cc?x=1\"\n",
    )
    .unwrap();
    let junit = dir.join("r.xml");
    let json = dir.join("r.json");
    let base = format!("base={}", server.url);
    let out = reqtest(
        &[
            "run",
            slow.to_str().unwrap(),
            auth.to_str().unwrap(),
            "--var",
            &base,
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(
        console.contains(&format!(
            "GET {}/slow?ms=3000: timed out after 300ms",
            server.url
        )),
        "{console}"
    );
    assert!(
        console.contains(&format!(
            "request:  POST {}/api/cc?x=1 (not sent; gave up after",
            server.url
        )),
        "{console}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let by_name = |n: &str| {
        report["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["request"] == n)
            .unwrap()
            .clone()
    };
    let timed_out = by_name("times out");
    assert_eq!(timed_out["method"], "GET");
    assert_eq!(timed_out["url"], format!("{}/slow?ms=3000", server.url));
    assert!(
        timed_out["duration_ms"].as_f64().unwrap() >= 300.0,
        "{timed_out}"
    );
    let auth_failed = by_name("needs a token");
    assert_eq!(auth_failed["method"], "POST");
    assert_eq!(auth_failed["url"], format!("{}/api/cc?x=1", server.url));
    assert!(
        auth_failed["duration_ms"].as_f64().unwrap() > 0.0,
        "{auth_failed}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let case = xml
        .lines()
        .find(|l| l.contains("name=\"times out\""))
        .unwrap();
    let time: f64 = case
        .split("time=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(time >= 0.3, "{case}");
    assert!(xml.contains(&format!(
        "GET {}/slow?ms=3000: timed out after 300ms",
        server.url
    )));
}

#[test]
fn skipped_requests_are_never_sent_and_a_needed_capture_is_a_clear_error() {
    let server = server();
    let dir = temp_dir("skip");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = dir.join("c.yaml");
    std::fs::write(
        &file,
        format!(
            "name: c\nrequests:\n  - name: login\n    method: POST\n    url: \"{{{{ base }}}}/token\"\n    capture: {{token: $.access_token}}\n  - name: broken\n    url: http://127.0.0.1:{closed}/\n  - name: me\n    url: \"{{{{ base }}}}/echo\"\n    headers: {{X-T: \"{{{{ token }}}}\"}}\n  - name: plain\n    url: \"{{{{ base }}}}/json\"\n"
        ),
    )
    .unwrap();
    let base = format!("base={}", server.url);
    let run = |extra: &[&str]| {
        let mut args = vec!["run", file.to_str().unwrap(), "--var", &base];
        args.extend_from_slice(extra);
        reqtest(&args, &[])
    };
    // `broken` would fail and stop `plain` if it were sent as a dependency.
    let out = run(&["--filter", "c::plain", "--skip", "c::broken"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("test c::plain ... ok"), "{text}");
    let out = run(&["--skip", "login", "--skip", "broken"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "`c::me` reads `token`, which `c::login` captures, but --skip leaves `c::login` out"
        ),
        "{err}"
    );
}
