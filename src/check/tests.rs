//! The check stage against canned exchanges: no server, no network. Each
//! test loads a one-request collection, hands `check` and `capture` a
//! response written here, and pins what the user reads (snapshots, so a
//! change of wording is a reviewed diff).

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use minijinja::Value;

use super::{capture, check, describe, failures, json, Response};
use crate::exchange::Exchange;
use crate::resolve::{resolve, Options, Plan};
use serde_json::Value as Json;

/// A response as a server might send it.
struct Canned<'a> {
    status: u16,
    headers: &'a [(&'a str, &'a str)],
    body: &'a str,
}

impl Canned<'_> {
    fn json(body: &str) -> Canned<'_> {
        Canned {
            status: 200,
            headers: &[("content-type", "application/json")],
            body,
        }
    }

    fn exchange(&self) -> Exchange {
        let mut headers = HeaderMap::new();
        for (k, v) in self.headers {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Exchange {
            method: Method::GET,
            url: "http://api.test/items/7".into(),
            request_headers: HeaderMap::new(),
            request_body: None,
            status: StatusCode::from_u16(self.status).unwrap(),
            version: http::Version::HTTP_11,
            headers,
            body: bytes::Bytes::copy_from_slice(self.body.as_bytes()),
            duration: Duration::from_millis(12),
            redirects: Vec::new(),
        }
    }
}

/// The plan of a collection whose one request has `request_keys` (YAML
/// lines at the request's indentation).
fn plan(request_keys: &str) -> Plan {
    let keys: String = request_keys.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "name: canned\nsecrets: [api_key]\nvars: {{expected_id: 7, api_key: sk-canned-0123456789}}\nrequests:\n  - name: r\n    url: http://api.test/items/7\n{keys}"
    );
    let collection = crate::load::load_str("canned.yaml", &yaml).expect("the collection loads");
    resolve(vec![collection], &Options::default()).expect("the collection resolves")
}

/// What the user reads when the response fails `expect` (an indented YAML
/// block), or `passed`.
fn verdict(expect: &str, canned: &Canned) -> String {
    let plan = plan(&format!("expect:\n{}", indent(expect)));
    let planned = &plan.collections[0];
    let ex = canned.exchange();
    let secrets = plan.templates.secrets();
    let response = Response::new(&ex, secrets);
    let ctx = Value::from(planned.vars.clone());
    let assertions = check(
        &response,
        &planned.collection.requests[0].expect,
        &plan.templates,
        &ctx,
    );
    let failed = failures(&assertions);
    if failed.is_empty() {
        "passed".into()
    } else {
        describe(&failed, &ex, secrets)
    }
}

/// The captured values as `name = json` lines, or the capture's failure.
fn captured(captures: &str, canned: &Canned) -> String {
    let plan = plan(&format!("capture:\n{}", indent(captures)));
    let ex = canned.exchange();
    let response = Response::new(&ex, plan.templates.secrets());
    match capture(
        &response,
        &plan.collections[0].collection.requests[0].captures,
    ) {
        Ok(values) => values.iter().map(|(k, v)| format!("{k} = {v}\n")).collect(),
        Err(f) => f.to_string(),
    }
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}

const ITEM: &str = r#"{"id": 7, "name": "report.pdf", "size": 1.0, "tags": ["a", "b"], "owner": {"login": "alice"}}"#;

#[test]
fn a_response_that_meets_every_kind_of_expectation_passes() {
    let expect = r#"status: 200
headers:
  Content-Type: {contains: json}
max_duration: 1s
json:
  $.id: "{{ expected_id }}"
  $.size: 1
  $.name: {matches: "\\.pdf$", type: string}
  $.tags: {length: 2, contains: b}
  $.tags[*]: {every: {one_of: [a, b]}}
  $.owner.login: {ne: bob}
  $.missing: {exists: false}
body:
  contains: report.pdf"#;
    assert_eq!(verdict(expect, &Canned::json(ITEM)), "passed");
}

#[test]
fn status_and_header_failures_name_what_was_expected_and_seen() {
    let canned = Canned {
        status: 404,
        headers: &[("content-type", "text/plain"), ("x-trace", "abc")],
        body: "no such item",
    };
    let expect = "status: [200, 2xx]\nheaders:\n  Content-Type: {contains: json}\n  X-Trace: {absent: true}\n  X-Request-Id: {present: true}";
    insta::assert_snapshot!(verdict(expect, &canned));
}

#[test]
fn json_predicates_fail_with_the_path_the_expected_and_the_actual_value() {
    let expect = r#"json:
  $.id: 8
  $.name: {matches: "^img-", length: {lt: 5}}
  $.tags: {contains: c}
  $.owner.login: {one_of: [bob, carol]}
  $.size: {type: string}
  $.missing: {exists: true}"#;
    insta::assert_snapshot!(verdict(expect, &Canned::json(ITEM)));
}

#[test]
fn a_body_that_is_not_json_fails_json_assertions_showing_its_start() {
    let canned = Canned {
        status: 200,
        headers: &[("content-type", "text/html")],
        body: "<html><head><title>Maintenance</title></head><body><p>Back soon</p></body></html>",
    };
    insta::assert_snapshot!(verdict("json:\n  $.id: 7", &canned));
}

#[test]
fn whole_body_checks_fail_with_a_diff_of_what_differs() {
    let canned = Canned {
        status: 200,
        headers: &[("content-type", "text/plain")],
        body: "line one\nline two\nline three\n",
    };
    insta::assert_snapshot!(verdict(
        "body:\n  equals: \"line one\\nline 2\\nline three\\n\"",
        &canned
    ));
}

#[test]
fn a_secret_in_the_response_never_shows_in_the_failure() {
    let body =
        r#"{"error": "bad key sk-canned-0123456789", "echo": "c2stY2FubmVkLTAxMjM0NTY3ODk="}"#;
    let text = verdict("status: 200\njson:\n  $.error: fine", &{
        let mut c = Canned::json(body);
        c.status = 403;
        c
    });
    assert!(!text.contains("sk-canned"), "{text}");
    assert!(!text.contains("c2stY2FubmVk"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn captures_read_json_headers_cookies_and_regex_groups() {
    let canned = Canned {
        status: 201,
        headers: &[
            ("content-type", "application/json"),
            ("location", "/items/7"),
            ("set-cookie", "session=old; Path=/"),
            ("set-cookie", "session=\"s3\"; Path=/; HttpOnly"),
            ("set-cookie", "theme=dark"),
        ],
        body: ITEM,
    };
    let captures = "id: $.id\nlogin: $.owner.login\nwhere: {header: Location}\nsession: {cookie: session}\nsuffix: {regex: \"report\\\\.(\\\\w+)\", group: 1}\nstatus: {status: true}";
    insta::assert_snapshot!(captured(captures, &canned));
}

#[test]
fn a_capture_that_finds_nothing_says_which_and_why() {
    let canned = Canned::json(ITEM);
    insta::assert_snapshot!(captured("token: $.access_token", &canned));
    insta::assert_snapshot!(captured("session: {cookie: session}", &canned));
}

#[test]
fn bodies_that_differ_only_in_the_last_newline_say_so() {
    let canned = Canned {
        status: 200,
        headers: &[("content-type", "text/plain")],
        body: "done\n",
    };
    insta::assert_snapshot!(verdict("body:\n  equals: done", &canned));
}

#[test]
fn a_path_followed_while_reading_finds_what_a_full_parse_finds() {
    let bodies = [
        r#"{"id":1,"name":"alice","tags":["a","b"],"nested":{"n":42}}"#,
        r#"{"nested":{"n":1},"nested":{"m":2}}"#,
        r#"{"nested":{"n":[1,{"x":true},null]},"n":1.5e300}"#,
        r#"{"a\"b":{"\u0041":"é"},"big":18446744073709551616,"neg":-7}"#,
        r#"[{"n":1},{"n":2},[3]]"#,
        r#""text""#,
        "  {\"nested\" : { \"n\" : \"x\" } }  ",
    ];
    let paths = [
        "$",
        "$.nested",
        "$.nested.n",
        "$.nested.n[1].x",
        "$.nested.n[2]",
        "$.nested.n[9]",
        "$.nested.m",
        "$.id",
        "$.tags[1]",
        "$.tags[0].x",
        "$.n",
        "$['a\"b'].A",
        "$.big",
        "$.neg",
        "$[1].n",
        "$[2][0]",
        "$[5]",
        "$.missing.deeper",
    ];
    for body in bodies {
        let doc: Json = serde_json::from_str(body).unwrap();
        for src in paths {
            let path = crate::load::JsonPath::parse(src).unwrap();
            let Some(steps) = path.forward_steps() else {
                continue;
            };
            let streamed = json::value_at(body.as_bytes(), &steps).unwrap();
            assert_eq!(streamed, path.query(&doc), "{src} in {body}");
        }
    }
}

#[test]
fn a_body_that_is_not_json_is_an_error_however_it_is_read() {
    let path = crate::load::JsonPath::parse("$.a").unwrap();
    let steps = path.forward_steps().unwrap();
    let deep = format!(r#"{{"a":1,"b":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"a":1} trailing"#.to_vec(),
        br#"{"a":1"#.to_vec(),
        br#"{"b":[1,}"#.to_vec(),
        b"".to_vec(),
        b"nope".to_vec(),
        // What serde's IgnoredAny lets through where a full parse does not.
        b"{\"a\":1,\"x\":\"\xff\"}".to_vec(),
        br#"{"a":1,"x":1e400}"#.to_vec(),
        br#"{"a":1,"x":"\ud800"}"#.to_vec(),
        deep.into_bytes(),
    ];
    for body in bodies {
        let full = serde_json::from_slice::<Json>(&body)
            .unwrap_err()
            .to_string();
        let streamed = json::value_at(&body, &steps).unwrap_err().to_string();
        assert_eq!(streamed, full, "{}", String::from_utf8_lossy(&body));
    }
}
