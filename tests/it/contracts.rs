//! Contract checks: responses against JSON Schema files and against the
//! response schemas of OpenAPI 3 and Swagger 2.0 operations, passing and
//! failing with the JSON pointers that failed.

use crate::common::*;
use reqtest::standins::StandIns;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_cells_stand_in_answers_as_the_published_swagger_says() {
    let s = StandIns::start().unwrap();
    let spec = fixture("cells-rest.swagger.json");
    let yaml = format!(
        r#"
auth:
  type: password
  token_url: "{{{{ cells_url }}}}/auth/dex/token"
  client_id: cells-front
  client_secret: cells-front
  username: admin
  password: cells-admin-pw
  token: id_token
defaults:
  base_url: "{{{{ cells_url }}}}/a"
requests:
  - name: GetUser
    url: /user/admin
    expect: {{status: 200, openapi: {{spec: "{spec}", operation: GetUser}}}}
  - name: SearchUsers
    method: POST
    url: /user
    json: {{Queries: [{{Login: admin}}]}}
    expect: {{status: 200, openapi: {{spec: "{spec}", operation: SearchUsers}}}}
  - name: SearchWorkspaces
    method: POST
    url: /workspace
    json: {{Queries: [{{scope: ADMIN}}]}}
    expect: {{status: 200, openapi: {{spec: "{spec}", path: /workspace, method: post}}}}
  - name: ListServices
    url: /config/ctl
    expect: {{status: 200, openapi: {{spec: "{spec}", operation: ListServices}}}}
  - name: BulkStatNodes
    method: POST
    url: /tree/stats
    json: {{NodePaths: ["common-files/*"]}}
    expect: {{status: 200, openapi: {{spec: "{spec}", operation: BulkStatNodes}}}}
  - name: a 404 as documented
    url: /user/nobody
    expect: {{status: 404, openapi: {{spec: "{spec}", operation: GetUser}}}}
"#
    );
    let outcomes = run_suite(reqtest::Suite::new([write_collection(&yaml)]).vars(s.vars()));
    for (name, outcome) in &outcomes {
        assert!(
            matches!(outcome, reqtest::run::Outcome::Passed { .. }),
            "{name}: {outcome:?}"
        );
    }
    assert_eq!(outcomes.len(), 6);
}

#[test]
fn a_swagger_check_that_fails_names_the_pointers() {
    let server = server();
    let spec = fixture("cells-rest.swagger.json");
    // A user as a broken server might send it, checked as GetUser's idmUser.
    let yaml = format!(
        r#"
requests:
  - name: r
    url: "{{{{ base }}}}/bad-user"
    expect:
      openapi: {{spec: "{spec}", operation: GetUser}}
"#
    );
    let message = failure(&run(&yaml, &server.url), "r");
    assert!(
        message
            .contains("the body does not match the 200 response of GetUser (GET /user/{Login}):"),
        "{message}"
    );
    for pointer in [
        "  /Login: 5 is not of type \"string\"",
        "  /Attributes/a: 1 is not of type \"string\"",
        "  /Roles: \"admin\" is not of type \"array\"",
    ] {
        assert!(
            message.contains(pointer),
            "wanted `{pointer}` in:\n{message}"
        );
    }
}

#[test]
fn json_schema_files_pass_and_fail_naming_pointers() {
    let server = server();
    let dir = write_collection("requests: []")
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(
        dir.join("doc.schema.json"),
        r#"{"type": "object", "required": ["id", "name", "nested"],
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                           "tags": {"type": "array", "items": {"type": "string"}},
                           "nested": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("strict.schema.yaml"),
        "type: object\nrequired: [missing]\nproperties:\n  tags:\n    type: array\n    items: {type: integer}\n  nested:\n    properties:\n      n: {type: string}\n",
    )
    .unwrap();
    let yaml = r#"
requests:
  - name: matches
    url: "{{ base }}/json"
    expect: {schema: doc.schema.json}
  - name: does not match
    url: "{{ base }}/json"
    expect: {schema: strict.schema.yaml}
"#;
    std::fs::write(dir.join("c.yaml"), yaml).unwrap();
    let outcomes =
        run_suite(reqtest::Suite::new([dir.join("c.yaml")]).var("base", server.url.as_str()));
    assert!(passed(&outcomes, "matches"), "{outcomes:?}");
    let message = failure(&outcomes, "does not match");
    assert!(
        message.contains("the body does not match strict.schema.yaml:"),
        "{message}"
    );
    for pointer in [
        "  /: \"missing\" is a required property",
        "  /tags/0: \"a\" is not of type \"integer\"",
        "  /nested/n: 42 is not of type \"string\"",
    ] {
        assert!(
            message.contains(pointer),
            "wanted `{pointer}` in:\n{message}"
        );
    }
}

#[test]
fn openapi_3_documents_with_components_and_nullable() {
    let server = server();
    let dir = write_collection("requests: []")
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(
        dir.join("api.yaml"),
        r##"openapi: 3.0.3
info: {title: test, version: "1"}
paths:
  /json:
    get:
      operationId: getDoc
      responses:
        "200":
          description: a document
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Doc"}
        default:
          description: an error
          content:
            application/json:
              schema: {type: object, required: [error]}
components:
  schemas:
    Doc:
      type: object
      required: [id, empty]
      properties:
        id: {type: integer}
        empty: {type: string, nullable: true}
        nested: {$ref: "#/components/schemas/Nested"}
    Nested:
      type: object
      properties:
        n: {type: integer, maximum: 10}
"##,
    )
    .unwrap();
    let yaml = r#"
requests:
  - name: checked
    url: "{{ base }}/json"
    expect:
      openapi: {spec: api.yaml, operation: getDoc}
"#;
    std::fs::write(dir.join("c.yaml"), yaml).unwrap();
    let outcomes =
        run_suite(reqtest::Suite::new([dir.join("c.yaml")]).var("base", server.url.as_str()));
    let message = failure(&outcomes, "checked");
    // `empty` is null and nullable: fine; `nested.n` is 42 > 10: not.
    assert!(message.contains("the body does not match the 200 response of getDoc (GET /json):\n  /nested/n: 42 is greater than the maximum of 10"), "{message}");
    assert!(!message.contains("/empty"), "{message}");
}

#[test]
fn unknown_operations_and_missing_files_are_load_errors() {
    let spec = fixture("cells-rest.swagger.json");
    let e = plan(&format!("requests:\n  - name: r\n    url: /x\n    expect:\n      openapi: {{spec: \"{spec}\", operation: NoSuchOp}}\n"), "x").err().unwrap();
    assert!(
        e.contains("c.yaml:5:") && e.contains("has no operation `NoSuchOp`"),
        "{e}"
    );
    let e = plan(
        "requests:\n  - name: r\n    url: /x\n    expect:\n      schema: nowhere.json\n",
        "x",
    )
    .err()
    .unwrap();
    assert!(
        e.contains("c.yaml:5:7: cannot read ") && e.contains("nowhere.json"),
        "{e}"
    );
}

#[test]
fn a_response_must_come_in_a_documented_status_media_type_and_with_required_headers() {
    let server = server();
    let dir = write_collection("requests: []")
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(
        dir.join("strict.yaml"),
        r##"openapi: 3.0.3
info: {title: strict, version: "1"}
paths:
  /json:
    get:
      operationId: getXml
      responses:
        "200":
          description: XML only, rate-limited
          headers:
            X-Rate-Limit: {required: true, schema: {type: integer}}
            X-Optional: {schema: {type: string}}
          content:
            application/xml: {schema: {type: object}}
  /echo:
    get:
      operationId: onlyNotFound
      responses:
        "404": {description: missing}
"##,
    )
    .unwrap();
    let yaml = r#"
requests:
  - name: xml
    url: "{{ base }}/json"
    expect:
      openapi: {spec: strict.yaml, operation: getXml}
  - name: undocumented
    url: "{{ base }}/echo"
    always: true
    expect:
      openapi: {spec: strict.yaml, operation: onlyNotFound}
"#;
    std::fs::write(dir.join("strict-c.yaml"), yaml).unwrap();
    let outcomes = run_suite(
        reqtest::Suite::new([dir.join("strict-c.yaml")]).var("base", server.url.as_str()),
    );
    let message = failure(&outcomes, "xml");
    assert!(
        message.contains("Content-Type `application/json` is not one getXml (GET /json) documents for 200 (application/xml)"),
        "{message}"
    );
    assert!(
        message.contains(
            "getXml (GET /json) requires the header(s) X-Rate-Limit in its 200 response; none came"
        ),
        "{message}"
    );
    let message = failure(&outcomes, "undocumented");
    assert!(
        message.contains("onlyNotFound (GET /echo) documents no response for status 200"),
        "{message}"
    );
}

#[test]
fn openapi_coverage_counts_operations_and_responses_exercised() {
    let dir = std::env::temp_dir().join(format!("reqtest-coverage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("r.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args([
            "demo",
            "--openapi-coverage",
            &fixture("cells-rest.swagger.json"),
            "--json",
        ])
        .arg(&json)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    let line = console
        .lines()
        .find(|l| l.starts_with("openapi coverage of "))
        .unwrap_or_else(|| panic!("no coverage line: {console}"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let figures = &report["summary"]["openapi_coverage"][0];
    let (called, total) = (
        figures["operations"][0].as_u64().unwrap(),
        figures["operations"][1].as_u64().unwrap(),
    );
    // 90 paths, 108 operations (path and method) in Cells' published document.
    assert_eq!(total, 108, "{figures}");
    // The Cells collections call GET /user/{Login}, PUT /user/{Login},
    // PUT /workspace/{Slug}, GET /config/ctl, POST /tree/stats at least.
    assert!(called >= 4 && called < total, "{figures}");
    assert!(line.contains(&format!("{called}/108 operations")), "{line}");
    let uncalled = figures["uncalled"].as_array().unwrap();
    assert_eq!(uncalled.len() as u64, total - called);
    assert!(console.contains("never called: "), "{console}");
}
