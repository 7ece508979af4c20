//! Collections run against a real local server, end to end: load, resolve,
//! HTTP, checks, captures and the order of outcomes.

use crate::common::*;
use reqtest::run::Outcome;

fn one_request(expect_json: &str) -> String {
    format!(
        "requests:\n  - name: r\n    url: \"{{{{ base }}}}/json\"\n    expect:\n      json:\n{}",
        expect_json
            .lines()
            .map(|l| format!("        {l}\n"))
            .collect::<String>()
    )
}

#[test]
fn every_jsonpath_predicate_passes_on_matching_values() {
    let server = server();
    let yaml = one_request(
        r#"$.name: alice
$.nested.n: 42
$.price: {eq: 9.5, ne: 10, lt: 10, le: 9.5, gt: 9, ge: 9.5}
$.name#2: {ne: bob}
$.tags: {contains: a, length: 2, type: array}
$.name#3: {contains: lic, matches: "^al", one_of: [bob, alice], type: string}
$.nested: {contains: n, type: object, eq: {n: 42}}
$.missing: {exists: false}
$.missing#2: {absent: true}
$.empty: {type: "null", exists: true}
$.id: {type: integer}
$.price#2: {type: number}
$.items: {length: {ge: 2, lt: 3}}
$.items[*].id: {every: {type: integer, gt: 0}}
$.items[*].t: [x, y]
$.when: {gt: "2024-01-01", lt: "2025-01-01"}"#,
    )
    // The same path twice is not valid YAML; `#n` suffixes keep keys unique
    // and are stripped below by writing the path in another equivalent form.
    .replace("$.name#2", "$['name']")
    .replace("$.name#3", "$[\"name\"]")
    .replace("$.missing#2", "$.missing2")
    .replace("$.price#2", "$['price']");
    let outcomes = run(&yaml, &server.url);
    assert!(passed(&outcomes, "r"), "{outcomes:?}");
}

#[test]
fn every_jsonpath_predicate_fails_with_what_it_expected_and_what_came() {
    let server = server();
    let cases = [
        ("$.nested.n: 43", "$.nested.n: expected 43, got 42"),
        ("$.name: {ne: alice}", "expected anything but \"alice\""),
        ("$.price: {lt: 9}", "expected < 9, got 9.5"),
        ("$.price: {le: 9}", "expected <= 9, got 9.5"),
        ("$.price: {gt: 10}", "expected > 10, got 9.5"),
        ("$.price: {ge: 10}", "expected >= 10, got 9.5"),
        (
            "$.tags: {contains: z}",
            "expected [\"a\",\"b\"] to contain \"z\"",
        ),
        (
            "$.name: {one_of: [bob, carol]}",
            "expected one of [\"bob\",\"carol\"], got \"alice\"",
        ),
        (
            "$.name: {matches: \"^b\"}",
            "expected to match /^b/, got \"alice\"",
        ),
        (
            "$.missing: {exists: true}",
            "$.missing: expected a value, found none",
        ),
        ("$.name: {absent: true}", "expected no value, got \"alice\""),
        (
            "$.name: {type: number}",
            "expected type number, got string \"alice\"",
        ),
        ("$.tags: {length: 3}", "length 2: expected 3, got 2"),
        (
            "$.items[*].id: {every: {lt: 2}}",
            "item [1]: expected < 2, got 2",
        ),
        ("$.missing: 1", "$.missing: no value at this path"),
        (
            "$.name: {gt: 3}",
            "cannot compare string \"alice\" with integer 3",
        ),
    ];
    for (assertion, wanted) in cases {
        let outcomes = run(&one_request(assertion), &server.url);
        let message = failure(&outcomes, "r");
        assert!(
            message.contains(wanted),
            "for `{assertion}` wanted `{wanted}` in:\n{message}"
        );
        // The failure points at the assertion's line in the YAML.
        assert!(
            message.contains("c.yaml:6:9: "),
            "no file:line:col in:\n{message}"
        );
    }
}

#[test]
fn object_equality_shows_a_line_diff() {
    let server = server();
    let outcomes = run(
        &one_request("$.items[0]: {eq: {id: 1, t: z, at: \"2024-01-01\"}}"),
        &server.url,
    );
    let message = failure(&outcomes, "r");
    assert!(
        message.contains("-   \"t\": \"z\",") && message.contains("+   \"t\": \"x\","),
        "{message}"
    );
}

#[test]
fn status_headers_and_response_time_assertions() {
    let server = server();
    let yaml = r#"
requests:
  - name: code list and class
    url: "{{ base }}/status/204"
    expect:
      status: [200, 2xx]
  - name: headers
    url: "{{ base }}/headers"
    expect:
      status: 200
      headers:
        X-Request-Id: r-1
        ETag: {matches: '^"v\d"$'}
        Content-Type: {contains: json, present: true}
        X-Missing: {absent: true}
      max_duration: 5s
  - name: wrong status
    url: "{{ base }}/status/503"
    expect:
      status: [200, 4xx]
"#;
    let outcomes = run(yaml, &server.url);
    assert!(passed(&outcomes, "code list and class"));
    assert!(passed(&outcomes, "headers"));
    assert!(failure(&outcomes, "wrong status").contains("status: expected 200 or 4xx, got 503"));

    let bad_headers = r#"
requests:
  - name: h
    url: "{{ base }}/headers"
    expect:
      headers:
        X-Request-Id: r-2
        ETag: {matches: "^v"}
        X-Missing: {present: true}
        Content-Type: {absent: true}
"#;
    let message = failure(&run(bad_headers, &server.url), "h");
    for wanted in [
        "header X-Request-Id: expected \"r-2\", got \"r-1\"",
        "header ETag: expected to match /^v/",
        "header X-Missing: expected to be present, it is absent",
        "header Content-Type: expected to be absent",
    ] {
        assert!(message.contains(wanted), "wanted `{wanted}` in:\n{message}");
    }

    let slow = r#"
requests:
  - name: slow
    url: "{{ base }}/slow?ms=150"
    expect:
      max_duration: 50ms
"#;
    let message = failure(&run(slow, &server.url), "slow");
    assert!(
        message.contains("response time: expected at most 50ms, took"),
        "{message}"
    );
}

#[test]
fn body_json_equality_ignores_listed_paths_and_diffs_the_rest() {
    let server = server();
    let yaml = r#"
requests:
  - name: equal but for ignored paths
    url: "{{ base }}/json"
    expect:
      body:
        json: {id: 1, name: alice, tags: [a, b], nested: {n: 42}, price: 9.5, items: [{id: 1, t: x}, {id: 2, t: y}], empty: ~}
        ignore: ["$.items[*].at", "$.when"]
  - name: different
    url: "{{ base }}/json"
    expect:
      body:
        json: {id: 1, name: bob}
        ignore: ["$.tags", "$.nested", "$.price", "$.items", "$.empty", "$.when"]
"#;
    let outcomes = run(yaml, &server.url);
    assert!(
        passed(&outcomes, "equal but for ignored paths"),
        "{outcomes:?}"
    );
    let message = failure(&outcomes, "different");
    assert!(
        message.contains("body JSON differs (ignoring $.tags"),
        "{message}"
    );
    assert!(
        message.contains("-   \"name\": \"bob\"") && message.contains("+   \"name\": \"alice\""),
        "{message}"
    );
}

#[test]
fn body_text_contains_matches_and_equals() {
    let server = server();
    let yaml = r#"
requests:
  - name: text ok
    url: "{{ base }}/text"
    expect:
      body:
        contains: [hello, "id=12345"]
        matches: "state=(open|closed)"
  - name: equals ok
    url: "{{ base }}/text"
    expect:
      body:
        equals: "hello world, order id=12345; state=open"
  - name: text wrong
    url: "{{ base }}/text"
    expect:
      body:
        contains: goodbye
        matches: "^bye"
        equals: hello
"#;
    let outcomes = run(yaml, &server.url);
    assert!(passed(&outcomes, "text ok"));
    assert!(passed(&outcomes, "equals ok"));
    let message = failure(&outcomes, "text wrong");
    assert!(
        message.contains("body: expected to contain \"goodbye\""),
        "{message}"
    );
    assert!(
        message.contains("body: expected to match /^bye/"),
        "{message}"
    );
    assert!(
        message.contains("body differs:") && message.contains("    - hello\n"),
        "{message}"
    );
}

#[test]
fn every_capture_kind_feeds_later_requests() {
    let server = server();
    let yaml = r#"
requests:
  - name: token
    method: POST
    url: "{{ base }}/token"
    capture:
      token: $.access_token
      lifetime: {jsonpath: $.expires_in}
      session: {cookie: session}
      code: {status: true}
  - name: headers and regex
    url: "{{ base }}/headers"
    capture:
      request_id: {header: X-Request-Id}
  - name: regex over text
    url: "{{ base }}/text"
    capture:
      order: {regex: "id=(\\d+)"}
      state: {regex: "state=(?P<s>\\w+)", group: s}
      whole: {body: true}
  - name: use them all
    method: POST
    url: "{{ base }}/echo"
    headers:
      Authorization: "Bearer {{ token }}"
    json:
      lifetime: "{{ lifetime }}"
      session: "{{ session }}"
      code: "{{ code }}"
      request_id: "{{ request_id }}"
      order: "{{ order | int }}"
      state: "{{ state }}"
      whole_len: "{{ whole | length }}"
    expect:
      json:
        $.headers.authorization: Bearer abc
        $.json: {eq: {lifetime: "599", session: s123, code: 200, request_id: r-1, order: 12345, state: open, whole_len: 39}}
"#;
    let outcomes = run(yaml, &server.url);
    for name in [
        "token",
        "headers and regex",
        "regex over text",
        "use them all",
    ] {
        assert!(passed(&outcomes, name), "{name}: {outcomes:?}");
    }
}

#[test]
fn a_capture_that_finds_nothing_fails_its_request() {
    let server = server();
    let yaml = r#"
requests:
  - name: r
    url: "{{ base }}/json"
    capture:
      nope: $.not.there
"#;
    let message = failure(&run(yaml, &server.url), "r");
    assert!(
        message.contains("capture `nope`: nothing at $.not.there"),
        "{message}"
    );
}

#[test]
fn cookies_are_kept_between_requests_of_a_collection() {
    let server = server();
    let yaml = r#"
requests:
  - name: login sets a cookie
    method: POST
    url: "{{ base }}/token"
  - name: cookie is sent back
    url: "{{ base }}/needs-cookie"
    expect:
      status: 200
"#;
    let outcomes = run(yaml, &server.url);
    assert!(passed(&outcomes, "cookie is sent back"), "{outcomes:?}");
}

#[test]
fn bodies_as_json_form_multipart_and_raw_text() {
    let server = server();
    let dir = write_collection("requests: []")
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(dir.join("upload.txt"), "file-contents-here").unwrap();
    let yaml = r#"
vars:
  n: 7
requests:
  - name: json keeps types of whole expressions
    method: POST
    url: "{{ base }}/echo"
    json: {n: "{{ n }}", label: "n={{ n }}", list: ["{{ n * 2 }}"], flag: true}
    expect:
      json:
        $.headers['content-type']: application/json
        $.json: {eq: {n: 7, label: "n=7", list: [14], flag: true}}
  - name: form
    method: POST
    url: "{{ base }}/echo"
    form: {grant_type: password, scope: "email profile", n: "{{ n }}"}
    expect:
      json:
        $.headers['content-type']: application/x-www-form-urlencoded
        $.body: "grant_type=password&scope=email+profile&n=7"
  - name: multipart
    method: POST
    url: "{{ base }}/echo"
    multipart:
      note: hello
      upload: {file: upload.txt, content_type: text/plain}
    expect:
      json:
        $.headers['content-type']: {matches: "^multipart/form-data; boundary="}
        $.body: {contains: "file-contents-here"}
        $.body#2: {matches: "name=\"upload\"; filename=\"upload.txt\""}
        $.body#3: {matches: "name=\"note\"\r\n\r\nhello"}
  - name: raw text with its own content type
    method: PUT
    url: "{{ base }}/echo"
    headers: {Content-Type: text/csv}
    body: "a,b\n{{ n }},2\n"
    expect:
      json:
        $.method: PUT
        $.headers['content-type']: text/csv
        $.body: "a,b\n7,2\n"
"#
    .replace("$.body#2", "$['body']")
    .replace("$.body#3", "$[\"body\"]");
    let path = dir.join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let plan = reqtest::Suite::new([path])
        .var("base", server.url.as_str())
        .plan()
        .unwrap();
    let selection = reqtest::run::Selection::from_reported(&plan, |_, _| true);
    let events = std::sync::Mutex::new(Vec::new());
    reqtest::run::run(&plan, &selection, &Default::default(), |e| {
        events.lock().unwrap().push(e)
    });
    let events = events.into_inner().unwrap();
    assert_eq!(events.len(), 4);
    for e in events {
        assert!(
            matches!(e.outcome, Outcome::Passed { .. }),
            "request {}: {:?}",
            e.request,
            e.outcome
        );
    }
}

#[test]
fn query_parameters_default_headers_and_base_url() {
    let server = server();
    let yaml = r#"
defaults:
  base_url: "{{ base }}"
  headers:
    X-Team: api
    Authorization: "Bearer {{ token }}"
  query:
    lang: en
requests:
  - name: login
    method: POST
    url: /token
    capture:
      token: $.access_token
  - name: echo
    url: /echo
    query:
      ids: [1, 2]
      q: "a b"
    headers:
      X-Team: override
    expect:
      json:
        $.query.lang: en
        $.query.q: a b
        $.headers['x-team']: override
        $.headers.authorization: Bearer abc
  - name: protected
    url: /needs-token
    expect:
      status: 200
"#;
    let outcomes = run(yaml, &server.url);
    assert!(passed(&outcomes, "login"));
    assert!(passed(&outcomes, "echo"), "{outcomes:?}");
    assert!(passed(&outcomes, "protected"));
}

#[test]
fn the_default_header_waits_for_its_captured_variable() {
    let server = server();
    // The login request itself must not send `Authorization: Bearer ...`
    // while `token` does not exist yet.
    let yaml = r#"
defaults:
  headers:
    Authorization: "Bearer {{ token }}"
requests:
  - name: login
    method: POST
    url: "{{ base }}/echo"
    expect:
      json:
        $.headers.authorization: {exists: false}
    capture:
      token: $.method
"#;
    assert!(passed(&run(yaml, &server.url), "login"));
}

#[test]
fn redirects_are_not_followed() {
    let server = server();
    let yaml = r#"
requests:
  - name: r
    url: "{{ base }}/redirect"
    expect:
      status: 302
      headers:
        Location: /json
"#;
    assert!(passed(&run(yaml, &server.url), "r"));
}

#[test]
fn requests_after_a_failure_are_not_run() {
    let server = server();
    let yaml = r#"
requests:
  - name: first
    url: "{{ base }}/json"
  - name: breaks
    url: "{{ base }}/status/500"
    expect:
      status: 200
  - name: after one
    url: "{{ base }}/json"
  - name: after two
    url: "{{ base }}/json"
"#;
    let outcomes = run(yaml, &server.url);
    assert!(passed(&outcomes, "first"));
    assert!(failure(&outcomes, "breaks").contains("status: expected 200, got 500"));
    for name in ["after one", "after two"] {
        match find(&outcomes, name) {
            Outcome::NotRun { blocked_by, .. } => assert_eq!(blocked_by, "breaks"),
            other => panic!("`{name}` should not have run, got {other:?}"),
        }
    }
}

#[test]
fn a_closed_port_is_a_failed_test_naming_the_url_and_the_cause() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let yaml = "requests:\n  - name: r\n    url: \"{{ base }}/x\"\n";
    let message = failure(&run(yaml, &base), "r");
    assert!(
        message.starts_with(&format!("GET {base}/x: could not connect:")),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[test]
fn a_timeout_is_a_failed_test() {
    let server = server();
    let yaml = r#"
requests:
  - name: r
    url: "{{ base }}/slow?ms=2000"
    timeout: 100ms
"#;
    let message = failure(&run(yaml, &server.url), "r");
    assert!(
        message
            .contains("/slow?ms=2000: timed out after 100ms (the `timeout` of the whole request)"),
        "{message}"
    );
}

/// A listener whose accept queue is full: a new connection's handshake
/// gets no answer, as with a firewall that drops packets.
fn unanswering_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Linux lets listen() shrink the backlog of a listening socket.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().unwrap();
    let queued = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).ok()
        })
        .collect();
    (listener, queued)
}

#[test]
fn a_connect_timeout_says_it_was_the_connection_not_the_response() {
    let (listener, _queued) = unanswering_listener();
    let yaml = format!(
        "requests:\n  - name: r\n    url: http://{}/x\n    connect_timeout: 300ms\n    timeout: 10s\n",
        listener.local_addr().unwrap()
    );
    let started = std::time::Instant::now();
    let message = failure(&run(&yaml, "http://unused"), "r");
    assert!(
        message.contains("could not connect within 300ms (`connect_timeout`)"),
        "{message}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // From the collection's defaults too.
    let yaml = format!(
        "defaults: {{connect_timeout: 200ms}}\nrequests:\n  - name: r\n    url: http://{}/x\n",
        listener.local_addr().unwrap()
    );
    let message = failure(&run(&yaml, "http://unused"), "r");
    assert!(
        message.contains("could not connect within 200ms"),
        "{message}"
    );
}

#[test]
fn an_undefined_attribute_at_run_time_fails_with_its_place() {
    let server = server();
    let yaml = r#"
requests:
  - name: capture an object
    url: "{{ base }}/json"
    capture:
      doc: $.nested
  - name: use a missing field
    url: "{{ base }}/echo?x={{ doc.missing }}"
"#;
    let message = failure(&run(yaml, &server.url), "use a missing field");
    assert!(
        message.contains("c.yaml:8:5: undefined value in `{{ base }}/echo?x={{ doc.missing }}`"),
        "{message}"
    );
}

#[test]
fn an_html_error_page_is_shown_as_its_text_and_a_binary_body_as_a_summary() {
    let server = server();
    let yaml = r#"
requests:
  - name: html
    url: "{{ base }}/html-error"
    expect: {status: 200}
"#;
    let message = failure(&run(yaml, &server.url), "html");
    assert!(
        message.contains("body:     Error 500 — invalid_redirect_uri The redirect URI is not registered & was refused."),
        "{message}"
    );
    assert!(
        !message.contains("<style>") && !message.contains("track()"),
        "{message}"
    );
    let yaml = r#"
requests:
  - name: png
    url: "{{ base }}/png"
    expect: {status: 201, body: {contains: "IHDR"}}
"#;
    let message = failure(&run(yaml, &server.url), "png");
    assert!(
        message.contains("body:     <5,120 bytes, image/png>"),
        "{message}"
    );
    assert!(
        message.contains("it starts with \"<5,120 bytes, image/png>\""),
        "{message}"
    );
    assert!(
        !message.contains('\u{1a}') && !message.contains('\0'),
        "{message}"
    );
}

#[test]
fn texts_of_several_expressions_are_sent_as_the_engine_renders_them() {
    let srv = server();
    let yaml = r#"
name: pieces
vars:
  who: ann
  list: [1, 2]
  nothing: null
requests:
  - name: echo
    url: "{{ base }}/echo?a={{ who | upper }}&b={{ 'x}}y' }}&c={{ list }}&d={{ nothing }}&n={{ who }}"
    headers:
      X-Both: "{{ who }}-{{ who | length }}-{{ who }}"
    expect:
      status: 200
      json:
        $.query.a: ANN
        $.query.b: "x}}y"
        $.query.c: "[1, 2]"
        $.query.d: None
        $.query.n: ann
        $.headers['x-both']: ann-3-ann
"#;
    let out = run(yaml, &srv.url);
    assert!(passed(&out, "echo"), "{}", failure(&out, "echo"));
}

#[test]
fn a_variable_read_unguarded_in_one_expression_is_needed_even_if_another_guards_it() {
    let srv = server();
    let yaml = r#"
name: guards
requests:
  - name: r
    url: "{{ base }}/echo?a={{ maybe | default('x') }}&b={{ maybe }}"
"#;
    let err = plan(yaml, &srv.url).err().expect("`maybe` is undefined");
    assert!(err.contains("`maybe`"), "{err}");
}
