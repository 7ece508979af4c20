//! The `reqtest` binary as users run it: output, filters and exit codes.

use std::process::{Command, Output};

fn reqtest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("reqtest-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn demo_passes_one_test_per_bundled_request() {
    let out = reqtest(&["demo"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let bundled: usize = std::fs::read_dir("collections")
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|yaml| yaml.lines().filter(|l| l.starts_with("  - name: ")).count())
        .sum();
    assert_eq!(text.matches(" ... ok").count(), bundled, "{text}");
    assert!(
        text.contains(&format!("test result: ok. {bundled} passed; 0 failed")),
        "{text}"
    );
    assert!(
        text.contains("test cells-v4::current user") && text.contains("test regards::datasets"),
        "{text}"
    );
}

#[test]
fn list_prints_the_tests_without_running_them() {
    let out = reqtest(&["run", "collections", "--list"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("cells::current user: test"), "{text}");
    assert!(text.contains("nextome::venue: test"), "{text}");
}

#[test]
fn a_filter_runs_the_selected_request_and_its_dependencies_silently() {
    let out = reqtest(&[
        "run",
        "--standins",
        "collections",
        "--exact",
        "--filter",
        "cells::tree stats",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("running 1 test"), "{text}");
    assert!(text.contains("test cells::tree stats ... ok"), "{text}");
    // libtest's own argument form after `--` works too.
    let out = reqtest(&[
        "run",
        "--standins",
        "collections",
        "--",
        "nextome::",
        "--skip",
        "unknown",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("running 3 tests") && !text.contains("unknown venue"),
        "{text}"
    );
}

#[test]
fn a_broken_assertion_fails_with_a_diff_and_the_yaml_line() {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/collections/nextome.yaml"
    ))
    .unwrap()
    .replace(
        "$.categories: {length: {gt: 0}}",
        "$.categories[0]: {eq: {id: 1, name: Offices}}",
    );
    let line = yaml
        .lines()
        .position(|l| l.contains("$.categories[0]"))
        .unwrap()
        + 1;
    let path = temp_file("nextome.yaml", &yaml);
    let out = reqtest(&["run", "--standins", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "nextome.yaml:{line}:9: $.categories[0]: values differ:"
        )),
        "{text}"
    );
    assert!(
        text.contains("-   \"name\": \"Offices\"")
            && text.contains("+   \"name\": \"Meeting rooms\","),
        "{text}"
    );
    assert!(text.contains("request:  GET http://127.0.0.1:"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("test nextome::maps of the venue ")
                && l.ends_with("... ignored (not run: `venue` failed)")),
        "{text}"
    );
}

#[test]
fn a_failing_dependency_outside_the_filter_still_fails_the_run() {
    let yaml = "requests:\n  - name: login\n    url: \"{{ base }}/nowhere\"\n  - name: read\n    url: \"{{ base }}/x\"\n";
    let path = temp_file("dep.yaml", yaml);
    let out = reqtest(&[
        "run",
        path.to_str().unwrap(),
        "--var",
        "base=http://127.0.0.1:9",
        "--filter",
        "read",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("not run: `login`") && text.contains("which this request depends on, failed"),
        "{text}"
    );
}

#[test]
fn bad_input_exits_2_with_a_located_message() {
    let path = temp_file(
        "bad.yaml",
        "requests:\n  - name: r\n    url: /x\n    expcet: {}\n",
    );
    let out = reqtest(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ")
            && err.contains("bad.yaml:4:5: requests[0]: unknown field `expcet`"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(reqtest(&["run"]).status.code(), Some(2));
    assert_eq!(reqtest(&["frobnicate"]).status.code(), Some(2));
    let out = reqtest(&["run", "collections", "--var", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`novalue` should be NAME=VALUE"));
    let out = reqtest(&["run", "collections", "--color", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[possible values: auto, always, never]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn vars_files_and_vars_set_variables_with_var_winning() {
    let vars = temp_file("vars.yaml", "who: file\nother: from-file\n");
    let yaml = "requests:\n  - name: r\n    url: \"http://127.0.0.1:9/{{ who }}/{{ other }}\"\n    ignore: true\n";
    let path = temp_file("vars-c.yaml", yaml);
    let out = reqtest(&[
        "run",
        path.to_str().unwrap(),
        "--vars-file",
        vars.to_str().unwrap(),
        "--var",
        "who=cli",
        "--list",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn ignored_requests_are_reported_ignored_and_run_with_ignored() {
    let yaml = "requests:\n  - name: fine\n    url: \"{{ cells_url }}/a/config/ctl\"\n    expect: {status: 401}\n  - name: later\n    ignore: flaky upstream\n    url: \"{{ cells_url }}/a/config/ctl\"\n    expect: {status: 200}\n";
    let path = temp_file("ignored.yaml", yaml);
    let path = path.to_str().unwrap();
    let out = reqtest(&["run", "--standins", path]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 passed; 0 failed; 1 ignored"), "{text}");
    // --ignored runs only the ignored request, which fails here (no token).
    let out = reqtest(&["run", "--standins", path, "--ignored"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("running 1 test") && text.contains("status: expected 200, got 401"),
        "{text}"
    );
}

#[test]
fn interactive_login_waits_for_the_browser_and_fills_the_token_cache() {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        r#"
default_env: standin
environments:
  standin: {{base_url: "{{{{ cells_url }}}}"}}
auth:
  type: authorization_code
  interactive: true
  authorize_url: "{{{{ base_url }}}}/oidc/oauth2/auth"
  token_url: "{{{{ base_url }}}}/oidc/oauth2/token"
  client_id: cells-sync
  redirect_uri: http://127.0.0.1:{port}/servers/callback
  scope: openid email profile pydio offline
  cache: true
requests:
  - name: r
    url: "{{{{ base_url }}}}/a/config/ctl"
"#
    );
    let path = temp_file("interactive.yaml", &yaml);
    let cache = path.with_file_name("tokens.json");
    // The user's $BROWSER: a script that notes the address it was given.
    let opened = path.with_file_name("opened.txt");
    let _ = std::fs::remove_file(&opened);
    let browser_script = path.with_file_name("browser.sh");
    std::fs::write(
        &browser_script,
        format!("#!/bin/sh\nprintf %s \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser_script,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args(["login", path.to_str().unwrap(), "--standins"])
        .env("REQTEST_TOKEN_CACHE", &cache)
        .env_remove("DISPLAY")
        .env("BROWSER", &browser_script)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "reqtest printed no address: {printed}"
        );
        printed.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("http://") {
            break format!("http://{u}");
        }
    };
    let waited = std::time::Instant::now();
    while !opened.exists() && waited.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap_or_default(),
        url,
        "the browser named by $BROWSER was opened on the login address"
    );

    // The person at the browser: follow the redirect to the login page,
    // submit it, and let the browser go to the redirect URI.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let to_login = browser.get(&url).send().await.unwrap();
        let login_page = reqwest::Url::parse(&url)
            .unwrap()
            .join(to_login.headers()["location"].to_str().unwrap())
            .unwrap();
        let challenge = login_page
            .query_pairs()
            .find(|(k, _)| k == "login_challenge")
            .unwrap()
            .1
            .into_owned();
        let submitted = browser
            .post(login_page.join("/oidc/login").unwrap())
            .form(&[
                ("login_challenge", challenge.as_str()),
                ("login", "admin"),
                ("password", "cells-admin-pw"),
            ])
            .send()
            .await
            .unwrap();
        let callback = submitted.headers()["location"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            callback.starts_with(&format!("http://127.0.0.1:{port}/servers/callback?code=")),
            "{callback}"
        );
        let elsewhere = format!("http://127.0.0.1:{port}/favicon.ico");
        let stray = browser.get(&elsewhere).send().await.unwrap();
        assert_eq!(stray.status(), 404, "only the redirect ends the wait");
        let done = browser.get(&callback).send().await.unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().starts_with("Logged in."));
    });

    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(status.success(), "{printed}{rest}");
    assert!(
        rest.contains("auth `default`: logged in; its refresh token is kept in"),
        "{rest}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cache).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_non_interactive_run_explains_how_to_log_in_first() {
    let yaml = "auth:\n  type: authorization_code\n  interactive: true\n  authorize_url: \"{{ cells_url }}/oidc/oauth2/auth\"\n  token_url: \"{{ cells_url }}/oidc/oauth2/token\"\n  client_id: cells-sync\n  redirect_uri: http://127.0.0.1:9/cb\nrequests:\n  - name: r\n    url: \"{{ cells_url }}/a/config/ctl\"\n";
    let path = temp_file("needs-login.yaml", yaml);
    let out = reqtest(&["run", "--standins", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("logs in through a browser and no one is here to do it; run `reqtest login"),
        "{text}"
    );
}

#[test]
fn verbose_shows_each_exchange_masked_and_nothing_extra_without_a_terminal() {
    let out = reqtest(&[
        "demo",
        "--verbose",
        "--filter",
        "cells::current user",
        "--exact",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("* cells::current user\n> GET http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("> authorization: Bearer ***"), "{err}");
    assert!(
        err.contains("< HTTP/1.1 200 (") && err.contains("< content-type: application/json"),
        "{err}"
    );
    assert!(err.contains("< {\"Uuid\""), "{err}");
    // Not a terminal: no progress line, nothing on stderr but what was asked.
    let quiet = reqtest(&["demo", "-q"]);
    assert_eq!(stderr(&quiet), "");
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("reqtest-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A collection whose one request needs no server: it is never sent.
const IGNORED: &str = "requests:\n  - name: r\n    url: http://127.0.0.1:9/\n    ignore: true\n";

#[test]
fn a_closed_stdout_ends_the_listing_quietly() {
    use std::io::{BufRead, BufReader};
    let many: String = (0..20000)
        .map(|i| format!("  - {{name: request number {i}, url: /x}}\n"))
        .collect();
    let file = temp_file("many.yaml", &format!("requests:\n{many}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args(["run", file.to_str().unwrap(), "--list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reading end is closed here, as `| head -1` does.
    let out = child.wait_with_output().unwrap();
    assert!(first.contains("request number 0: test"), "{first}");
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn zero_test_threads_is_a_usage_error_not_a_hang() {
    let file = temp_file("threads.yaml", IGNORED);
    for args in [
        vec!["run", file.to_str().unwrap(), "--test-threads", "0"],
        vec!["run", file.to_str().unwrap(), "--", "--test-threads", "0"],
    ] {
        let out = reqtest(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("--test-threads takes a number of at least 1"));
    }
}

#[test]
fn huge_durations_and_bad_helpers_are_load_errors_not_panics() {
    let cases = [
        (
            "    timeout: 1e400\n",
            "c.yaml:5:5: requests[0].timeout: expected a duration",
        ),
        (
            "    delay: 18446744073709551615h\n",
            "requests[0].delay: expected a duration",
        ),
        (
            "    timeout: 25h\n",
            "requests[0].timeout: \"25h\" is longer than the most it may be, 24h",
        ),
        (
            "    expect: {max_duration: 1e300}\n",
            "requests[0].expect.max_duration: expected a duration",
        ),
        (
            "    headers: {X-T: \"{{ now('%Q') }}\"}\n",
            "now(\"%Q\"): not a strftime format",
        ),
    ];
    for (extra, wanted) in cases {
        let dir = temp_dir("durations");
        let file = dir.join("c.yaml");
        std::fs::write(&file, format!("{IGNORED}{extra}")).unwrap();
        let out = reqtest(&["run", file.to_str().unwrap(), "--include-ignored"]);
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(wanted), "{extra}: {}", stderr(&out));
    }
    let lifetime = "auth:\n  type: client_credentials\n  token_url: http://127.0.0.1:9/t\n  client_id: x\n  lifetime: 1e400\n";
    let file = temp_file("lifetime.yaml", &format!("{lifetime}{IGNORED}"));
    let out = reqtest(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("auth.lifetime: expected a duration"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_folder_with_a_symlink_loop_is_walked_once() {
    let dir = temp_dir("symlinks");
    std::fs::write(dir.join("c.yaml"), IGNORED).unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("again")).unwrap();
    let out = reqtest(&["run", dir.to_str().unwrap(), "--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("c::r: test").count(),
        1,
        "{}",
        stdout(&out)
    );
}

#[test]
fn byte_order_marks_and_utf16_files_load_and_other_bytes_are_located() {
    let dir = temp_dir("encodings");
    let text = format!("name: enc\n{IGNORED}");
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    std::fs::write(dir.join("bom.yaml"), bom).unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(dir.join("utf16.yaml"), utf16).unwrap();
    for f in ["bom.yaml", "utf16.yaml"] {
        let out = reqtest(&["run", dir.join(f).to_str().unwrap(), "--list"]);
        assert_eq!(out.status.code(), Some(0), "{f}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("enc::r: test"),
            "{f}: {}",
            stdout(&out)
        );
    }
    std::fs::write(
        dir.join("latin1.yaml"),
        b"requests:\n  - name: caf\xe9\n    url: /x\n",
    )
    .unwrap();
    let out = reqtest(&["run", dir.join("latin1.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("latin1.yaml:2:14: byte 0xE9 is not UTF-8 text; save the file as UTF-8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_folder_run_leaves_out_yaml_files_that_are_not_collections_saying_so_once() {
    let dir = temp_dir("mixed");
    std::fs::write(dir.join("c.yaml"), IGNORED).unwrap();
    std::fs::write(dir.join("vars.yaml"), "base: http://x\n").unwrap();
    std::fs::create_dir(dir.join("specs")).unwrap();
    std::fs::write(dir.join("specs/api.yaml"), "openapi: 3.0.0\npaths: {}\n").unwrap();
    std::fs::write(dir.join("broken.yml"), "requests: [\n").unwrap();
    let out = reqtest(&["run", dir.to_str().unwrap(), "--list"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a broken file is still an error"
    );
    assert!(stderr(&out).contains("broken.yml"), "{}", stderr(&out));
    std::fs::remove_file(dir.join("broken.yml")).unwrap();
    let out = reqtest(&["run", dir.to_str().unwrap(), "--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("note: ").count(), 1, "{err}");
    assert!(
        err.contains(
            "2 YAML file(s) without a top-level `requests` are not collections and were left out"
        ) && err.contains("vars.yaml")
            && err.contains("api.yaml"),
        "{err}"
    );
    assert!(stdout(&out).contains("c::r: test"));
}

#[test]
fn shards_of_a_run_are_disjoint_and_together_the_whole_run() {
    let listed = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["demo", "--list"];
        all.extend(args);
        let out = reqtest(&all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.ends_with(": test"))
            .map(str::to_string)
            .collect()
    };
    let whole = listed(&[]);
    let mut union = Vec::new();
    for k in 1..=3 {
        let part = listed(&["--shard", &format!("{k}/3")]);
        assert!(!part.is_empty(), "part {k} of 3 is empty");
        assert!(part.iter().all(|t| !union.contains(t)), "parts overlap");
        assert_eq!(
            part,
            listed(&["--shard", &format!("{k}/3")]),
            "the same part each time"
        );
        union.extend(part);
    }
    union.sort();
    let mut whole_sorted = whole.clone();
    whole_sorted.sort();
    assert_eq!(union, whole_sorted);
    let out = reqtest(&["demo", "--shard", "4/3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--shard takes K/N with 1 ≤ K ≤ N"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn merged_shard_reports_are_the_report_of_the_whole_run() {
    let dir = std::env::temp_dir().join(format!("reqtest-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    let run = |args: &[&str]| {
        let out = reqtest(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };
    run(&["demo", "--json", &path("whole.json")]);
    run(&["demo", "--shard", "1/2", "--json", &path("a.json")]);
    run(&["demo", "--shard", "2/2", "--json", &path("b.json")]);
    let out = reqtest(&[
        "report",
        "merge",
        &path("a.json"),
        &path("b.json"),
        "--json",
        &path("merged.json"),
        "--junit",
        &path("merged.xml"),
        "--html",
        &path("merged.html"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("merged 2 reports:"),
        "{}",
        stderr(&out)
    );
    let tests = |name: &str| {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path(name)).unwrap()).unwrap();
        let mut rows: Vec<String> = report["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}::{} {}", r["collection"], r["request"], r["result"]))
            .collect();
        rows.sort();
        (rows, report["summary"]["passed"].clone())
    };
    assert_eq!(tests("merged.json"), tests("whole.json"));
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("merged.json")).unwrap()).unwrap();
    let whole: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("whole.json")).unwrap()).unwrap();
    let counts = |r: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        let mut c: Vec<_> = r["summary"]["latency"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["count"].clone()))
            .collect();
        c.sort_by(|a, b| a.0.cmp(&b.0));
        c
    };
    assert_eq!(
        counts(&merged),
        counts(&whole),
        "latency recomputed from the parts' times"
    );
    let xml = std::fs::read_to_string(path("merged.xml")).unwrap();
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, tests("whole.json").0.len(), "{xml}");
    let page = std::fs::read_to_string(path("merged.html")).unwrap();
    assert_eq!(
        page.matches("<script>add(").count(),
        cases,
        "every request on the page"
    );
    let bad = reqtest(&["report", "merge", &path("nowhere.json")]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn each_collections_latency_is_summarised_on_the_console_and_in_the_json_report() {
    let dir = std::env::temp_dir().join(format!("reqtest-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("r.json");
    let out = reqtest(&["demo", "--json", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let console = String::from_utf8_lossy(&out.stdout);
    let header = console
        .lines()
        .find(|l| l.starts_with("latency "))
        .unwrap_or_else(|| panic!("no latency table: {console}"));
    assert!(
        header.contains("p50 ms") && header.contains("p99 ms"),
        "{header}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let latency = report["summary"]["latency"].as_object().unwrap();
    assert!(!latency.is_empty(), "{report}");
    for (name, l) in latency {
        let count = l["count"].as_u64().unwrap();
        let requests = report["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["collection"] == name.as_str())
            .count() as u64;
        assert_eq!(count, requests, "{name}");
        assert!(l["p50_ms"].as_f64() <= l["p95_ms"].as_f64());
        assert!(l["p99_ms"].as_f64() <= l["max_ms"].as_f64());
        assert!(
            console.lines().any(|line| line.starts_with(name.as_str())),
            "{console}"
        );
    }
}
