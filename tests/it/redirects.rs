//! Redirects, followed only when asked, as curl -L follows them: methods
//! and bodies per status, credentials kept from another origin, each hop
//! in --verbose and the JSON report.

use std::process::{Command, Output};

use serde_json::Value;

use crate::common::text;
use crate::common::{server, write_collection};

fn run(yaml: &str, args: &[&str]) -> Output {
    let path = write_collection(yaml);
    Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&path)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn report(args: &[&str], yaml: &str) -> (Output, Value) {
    let path = std::env::temp_dir().join(format!(
        "reqtest-redirects-{}-{}.json",
        std::process::id(),
        rand_suffix()
    ));
    let mut all = vec!["--json", path.to_str().unwrap()];
    all.extend(args);
    let out = run(yaml, &all);
    let json = std::fs::read_to_string(&path)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (out, json)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn redirects_are_followed_only_when_asked() {
    let api = server();
    let to = |code: u16, path: &str| format!("{}/redirect-to?code={code}&to={path}", api.url);
    let yaml = format!(
        r#"name: follow
requests:
  - name: not followed
    url: "{first}"
    expect: {{status: 302, headers: {{Location: /echo}}}}
  - name: followed
    url: "{first}"
    follow_redirects: true
    expect:
      status: 200
      json: {{$.method: GET}}
  - name: one hop allowed of two
    url: "{twice}"
    follow_redirects: 1
    expect: {{status: 302}}
"#,
        first = to(302, "/echo"),
        twice = to(302, &urlencode(&to(302, "/echo"))),
    );
    let (out, json) = report(&["--verbose"], &yaml);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let requests = json["requests"].as_array().unwrap();
    assert!(requests[0].get("redirects").is_none());
    assert_eq!(requests[1]["redirects"][0]["status"], 302);
    assert_eq!(
        requests[1]["redirects"][0]["location"],
        format!("{}/echo", api.url)
    );
    assert_eq!(requests[2]["redirects"].as_array().unwrap().len(), 1);
    assert!(
        text(&out).contains(&format!(
            "< 302 from {}\n> followed to {}/echo",
            to(302, "/echo"),
            api.url
        )),
        "{}",
        text(&out)
    );
    // --location follows where the collection does not say.
    let plain = format!(
        "requests:\n  - name: r\n    url: \"{}\"\n    expect: {{status: 200}}\n",
        to(302, "/echo")
    );
    assert_eq!(run(&plain, &[]).status.code(), Some(1));
    assert_eq!(run(&plain, &["--location"]).status.code(), Some(0));
    assert_eq!(run(&plain, &["-L"]).status.code(), Some(0));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn a_post_becomes_a_get_on_303_and_stays_a_post_with_its_body_on_307() {
    let api = server();
    let yaml = format!(
        r#"name: methods
defaults: {{follow_redirects: true}}
requests:
  - name: see other
    method: POST
    url: "{base}/redirect-to?code=303&to=/echo"
    json: {{a: 1}}
    expect:
      json: {{$.method: GET, $.body: ""}}
  - name: temporary
    method: POST
    url: "{base}/redirect-to?code=307&to=/echo"
    json: {{a: 1}}
    expect:
      json: {{$.method: POST, $.json.a: 1}}
  - name: permanent
    method: PUT
    url: "{base}/redirect-to?code=308&to=/echo"
    body: kept
    expect:
      json: {{$.method: PUT, $.body: kept}}
  - name: a put stays a put on 302
    method: PUT
    url: "{base}/redirect-to?code=302&to=/echo"
    body: kept
    expect:
      json: {{$.method: PUT, $.body: kept}}
"#,
        base = api.url
    );
    let out = run(&yaml, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn credentials_and_cookies_stay_behind_when_a_hop_leaves_the_origin() {
    let api = server();
    let other = server();
    let yaml = format!(
        r#"name: origins
auth:
  type: request
  request:
    method: POST
    url: "{base}/token"
  token: $.access_token
  header: X-Auth-Token
  prefix: ""
defaults:
  follow_redirects: true
  headers: {{Authorization: "Basic dXNlcjpwdw==", X-Api-Key: k-123}}
requests:
  - name: same origin
    url: "{base}/redirect-to?to=/echo"
    expect:
      json:
        $.headers.authorization: "Basic dXNlcjpwdw=="
        $.headers['x-auth-token']: abc
        $.headers.cookie: session=s123
  - name: other origin
    url: "{base}/redirect-to?to={elsewhere}"
    expect:
      json:
        $.headers.authorization: {{exists: false}}
        $.headers['x-api-key']: {{exists: false}}
        $.headers['x-auth-token']: {{exists: false}}
        $.headers.cookie: {{exists: false}}
"#,
        base = api.url,
        // Another host name, as cookies know no ports.
        elsewhere = urlencode(&format!(
            "{}/echo",
            other.url.replace("127.0.0.1", "localhost")
        )),
    );
    let (out, json) = report(&["--verbose"], &yaml);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let requests = json["requests"].as_array().unwrap();
    assert_eq!(requests[0]["redirects"][0]["left_origin"], false);
    assert_eq!(requests[1]["redirects"][0]["left_origin"], true);
    assert!(
        text(&out).contains("(another origin: Authorization, the token and cookies stay behind)"),
        "{}",
        text(&out)
    );
}
