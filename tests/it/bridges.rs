//! curl both ways, end to end: the curl commands of the user's own
//! documents imported and run against the stand-ins, and a request exported
//! as a curl command that curl itself runs.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use reqtest::bridge::curl;
use reqtest::standins::StandIns;
use serde_json::{json, Value};

/// The curl commands of a seed document: each starts with `curl` and goes
/// on while lines end with a backslash, as the docs print them.
fn seed_commands(name_prefix: &str) -> Vec<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(name_prefix)
        })
        .unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    let mut commands = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with("curl ") {
            continue;
        }
        let mut command = line.trim_end().to_string();
        while command.ends_with('\\') {
            command.pop();
            match lines.next() {
                Some(next) => command.push_str(&format!(" {}", next.trim())),
                None => break,
            }
        }
        commands.push(shell_words::split(&command).unwrap());
    }
    commands
}

fn imported(args: &[String]) -> Value {
    let i = curl::import(args, None).unwrap();
    assert!(
        i.notes.iter().all(|n| !n.contains("not understood")),
        "{:?}",
        i.notes
    );
    i.entry
}

fn run_entries(entries: Vec<Value>, vars: Value) -> Vec<(String, reqtest::run::Outcome)> {
    let collection = json!({"vars": vars, "requests": entries});
    let yaml = reqtest::load::to_yaml(&collection);
    run_suite(reqtest::Suite::new([write_collection(&yaml)]))
}

#[test]
fn the_cells_curl_commands_of_the_docs_run_against_the_stand_in() {
    let s = StandIns::start().unwrap();
    let commands = seed_commands("seed-cells");
    assert_eq!(commands.len(), 2, "{commands:?}");

    let mut login = imported(&commands[0]);
    assert_eq!(login["url"], "{{ URL }}/auth/dex/token");
    assert_eq!(login["form"]["grant_type"], "password");
    login["name"] = json!("login");
    login["expect"] = json!({"status": 200});
    login["capture"] = json!({"TOKEN": "$.id_token"});

    let mut user = imported(&commands[1]);
    // The explicit Bearer header wins over -u, as in curl.
    assert_eq!(user["headers"]["Authorization"], "Bearer {{ TOKEN }}");
    assert_eq!(user["url"], "{{ URL }}/user/{{ login }}");
    // The docs' second <URL> is the REST base (Cells serves REST under /a).
    user["url"] = json!("{{ URL }}/a/user/{{ login }}");
    user["name"] = json!("current user");
    user["expect"] = json!({"status": 200, "json": {"$.Login": "admin"}});

    let outcomes = run_entries(
        vec![login, user],
        json!({"URL": format!("http://{}", s.cells), "API_KEY": "cells-front", "APISECRET": "cells-front",
               "USER": "admin", "PASSWORD": "cells-admin-pw", "NONCE": "n0nce", "login": "admin"}),
    );
    assert!(
        passed(&outcomes, "login") && passed(&outcomes, "current user"),
        "{outcomes:?}"
    );
}

#[test]
fn the_regards_curl_commands_of_the_docs_run_against_the_stand_in() {
    let s = StandIns::start().unwrap();
    let commands = seed_commands("seed-regards");
    assert_eq!(commands.len(), 2, "{commands:?}");

    let mut token = imported(&commands[0]);
    assert_eq!(
        token["url"],
        "{{ HOST }}/api/v1/rs-authentication/oauth/token"
    );
    assert_eq!(token["query"]["scope"], "{{ project }}");
    token["name"] = json!("token");
    token["expect"] = json!({"status": 200, "json": {"$.tenant": "project1"}});
    token["capture"] = json!({"access": "$.access_token"});

    let mut rule = imported(&commands[1]);
    assert_eq!(rule["method"], "PUT");
    // The docs' token is a truncated sample: use the one just obtained.
    rule["headers"]["Authorization"] = json!("Bearer {{ access }}");
    rule["name"] = json!("rule");
    // The docs' `--data [...]` is a placeholder on a line of its own, so the
    // command has no body: REGARDS answers with its error shape.
    rule["expect"] = json!({"status": 400, "json": {"$.messages[0]": {"contains": "JSON rule"}}});

    let outcomes = run_entries(
        vec![token, rule],
        json!({"HOST": format!("http://{}", s.regards), "project": "project1", "login": "user@regards.fr", "password": "regards-password"}),
    );
    assert!(
        passed(&outcomes, "token") && passed(&outcomes, "rule"),
        "{outcomes:?}"
    );
}

#[test]
fn an_exported_curl_command_runs_in_curl_and_hides_secrets() {
    let s = StandIns::start().unwrap();
    let cells_url = format!("cells_url=http://{}", s.cells);
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args([
            "curl",
            "collections/cells.yaml",
            "garbled token is a plain-text 401",
            "--var",
            &cells_url,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let command = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        command.contains("-H 'authorization: Bearer ***'"),
        "{command}"
    );
    // With the secrets shown, curl itself gets the stand-in's plain-text 401.
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args([
            "curl",
            "collections/cells.yaml",
            "garbled token is a plain-text 401",
            "--var",
            &cells_url,
            "--show-secrets",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let command = String::from_utf8(out.stdout).unwrap();
    assert!(command.contains("Bearer garbled"), "{command}");
    // In a folder of its own: the command keeps a cookie jar there.
    let dir = std::env::temp_dir().join(format!("reqtest-curl-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ran = Command::new("sh")
        .arg("-c")
        .arg(format!("{} -s", command.trim()))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "Unauthorized.");
}

#[test]
fn an_exported_request_with_an_auth_names_its_token_as_a_shell_variable() {
    let s = StandIns::start().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args([
            "curl",
            "collections/cells.yaml",
            "search users by login",
            "--var",
            &format!("cells_url=http://{}", s.cells),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let command = String::from_utf8(out.stdout).unwrap();
    assert!(
        command.contains("# ${user_uuid}: captured by `current user`"),
        "{command}"
    );
    assert!(
        command.contains("-H \"authorization: Bearer ${default_token}\""),
        "{command}"
    );
    assert!(command.contains(r#"--data-raw '{"Queries":[{"Login":"admin","NodeType":"USER"}],"Limit":"10","Offset":"0"}'"#), "{command}");
}

#[test]
fn an_exported_request_reading_its_token_and_cookies_runs_in_curl_after_the_one_before() {
    let server = crate::common::server();
    let dir = std::env::temp_dir().join(format!("reqtest-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jar.yaml");
    std::fs::write(
        &file,
        r#"name: jar
auth:
  type: client_credentials
  token_url: "{{ base }}/oauth/token"
  client_id: svc
  client_secret: svc-secret
requests:
  - name: login
    auth: none
    method: POST
    url: "{{ base }}/token"
    capture: {token: $.access_token}
  - name: me
    auth: none
    url: "{{ base }}/needs-cookie?t={{ token }}"
    headers: {X-Type: "{{ auths.default.response.token_type }}"}
"#,
    )
    .unwrap();
    let export = |name: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
            .args([
                "curl",
                file.to_str().unwrap(),
                name,
                "--var",
                &format!("base={}", server.url),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (login, me) = (export("login"), export("me"));
    assert!(me.contains("# ${auths_default_response_token_type}: `auths.default.response.token_type` of the token"), "{me}");
    assert!(
        me.contains("-H \"x-type: ${auths_default_response_token_type}\""),
        "{me}"
    );
    assert!(me.contains("/needs-cookie?t=${token}\""), "{me}");
    assert!(me.contains("-b jar.cookies -c jar.cookies"), "{me}");
    // Run both commands in a shell, in order, in a folder of their own: the
    // second is let in by the cookie the first one's answer set.
    let script = format!(
        "token=abc; auths_default_response_token_type=Bearer\n{} -s -o /dev/null\n{} -s",
        login
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .trim(),
        me.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
    );
    let ran = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        r#"{"ok":true}"#,
        "{script}"
    );
}
