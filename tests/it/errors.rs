//! Bad input gets a clear error naming the place in the YAML, before any
//! request is sent, and never a panic.

use crate::common::plan;

/// The error a collection gets, its temporary folder left out so that
/// snapshots are the same on every run.
fn error(yaml: &str) -> String {
    match plan(yaml, "http://127.0.0.1:9") {
        Ok(_) => panic!("the collection should be rejected:\n{yaml}"),
        Err(e) => regex::Regex::new(r"/\S*/reqtest-e2e-\d+-\d+/")
            .unwrap()
            .replace_all(&e, "")
            .into_owned(),
    }
}

#[test]
fn a_misspelled_key_is_rejected_with_the_allowed_keys() {
    let e = error("requests:\n  - name: r\n    url: /x\n    expcet:\n      status: 200\n");
    insta::assert_snapshot!(e);
}

#[test]
fn a_misspelled_key_inside_expect_is_rejected_too() {
    let e = error("requests:\n  - name: r\n    url: /x\n    expect:\n      stauts: 200\n");
    insta::assert_snapshot!(e);
}

#[test]
fn an_unknown_predicate_lists_the_known_ones() {
    let e = error(
        "requests:\n  - name: r\n    url: /x\n    expect:\n      json:\n        $.a: {lenght: 2}\n",
    );
    insta::assert_snapshot!(e);
}

#[test]
fn yaml_syntax_errors_give_line_and_column() {
    let e = error("requests:\n  - name: r\n    url: [unclosed\n");
    insta::assert_snapshot!(e);
    let e = error("requests:\n  - name: r\n    url: a: b\n");
    insta::assert_snapshot!(e);
}

#[test]
fn invalid_jsonpath_and_regex_are_reported_at_load_time() {
    let e =
        error("requests:\n  - name: r\n    url: /x\n    expect:\n      json:\n        $.a[: 1\n");
    assert!(e.contains("c.yaml:6:9: invalid JSONPath `$.a[`"), "{e}");
    let e = error("requests:\n  - name: r\n    url: /x\n    expect:\n      json:\n        $.a: {matches: \"(open\"}\n");
    insta::assert_snapshot!(e);
    let e = error("requests:\n  - name: r\n    url: /x\n    capture:\n      t: {regex: \"[\"}\n");
    insta::assert_snapshot!(e);
    let e = error("requests:\n  - name: r\n    url: /x\n    capture:\n      t: access_token\n");
    insta::assert_snapshot!(e);
}

#[test]
fn an_undefined_variable_is_an_error_naming_it_and_where_it_is_used() {
    let e = error("vars:\n  login: admin\nrequests:\n  - name: r\n    url: \"{{ base }}/a/user/{{ logn }}\"\n");
    insta::assert_snapshot!(e);
}

#[test]
fn a_variable_captured_later_is_not_defined_earlier() {
    let e = error(
        "requests:\n  - name: a\n    url: \"{{ base }}/{{ token }}\"\n  - name: b\n    url: \"{{ base }}\"\n    capture:\n      token: $.t\n",
    );
    insta::assert_snapshot!(e);
}

#[test]
fn an_undefined_variable_in_an_expected_value_is_caught_too() {
    let e = error("requests:\n  - name: r\n    url: \"{{ base }}\"\n    expect:\n      json:\n        $.a: \"{{ nope }}\"\n");
    insta::assert_snapshot!(e);
}

#[test]
fn an_unset_environment_variable_is_an_error_unless_a_default_is_given() {
    let e = error("vars:\n  secret: \"{{ env('REQTEST_TEST_SURELY_UNSET') }}\"\nrequests:\n  - name: r\n    url: \"{{ base }}\"\n");
    insta::assert_snapshot!(e);
    let ok = "vars:\n  s: \"{{ env('REQTEST_TEST_SURELY_UNSET', default='x') }}\"\nrequests:\n  - name: r\n    url: \"{{ base }}/{{ s }}\"\n";
    assert!(crate::common::plan(ok, "http://127.0.0.1:9").is_ok());
}

#[test]
fn template_syntax_errors_are_reported_with_their_place() {
    let e = error("requests:\n  - name: r\n    url: \"{{ base }/x\"\n");
    assert!(
        e.contains("c.yaml:3:5: template syntax error in `{{ base }/x`"),
        "{e}"
    );
}

#[test]
fn environments_must_exist_and_be_chosen() {
    let two = "environments:\n  a: {x: 1}\n  b: {x: 2}\nrequests:\n  - name: r\n    url: \"{{ base }}/{{ x }}\"\n";
    let e = error(two);
    insta::assert_snapshot!(e);

    let path = crate::common::write_collection(two);
    let e = reqtest::Suite::new([path])
        .env("c")
        .var("base", "http://x")
        .plan()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("has no environment `c`; it has `a`, `b`"), "{e}");

    let e =
        error("default_env: prod\nenvironments:\n  dev: {}\nrequests:\n  - name: r\n    url: /x\n");
    insta::assert_snapshot!(e);
}

#[test]
fn the_environment_overrides_collection_vars_and_the_command_line_overrides_both() {
    let yaml = "default_env: dev\nenvironments:\n  dev: {who: env}\nvars:\n  who: collection\n  greeting: \"hi {{ who }}\"\nrequests:\n  - name: r\n    url: /x\n";
    let plan = crate::common::plan(yaml, "http://x").unwrap();
    let vars = &plan.collections[0].vars;
    assert_eq!(vars["who"].to_string(), "env");
    assert_eq!(vars["greeting"].to_string(), "hi env");

    let path = crate::common::write_collection(yaml);
    let plan = reqtest::Suite::new([path])
        .var("who", "cli")
        .plan()
        .unwrap();
    assert_eq!(plan.collections[0].vars["greeting"].to_string(), "hi cli");
}

#[test]
fn duplicate_request_names_are_rejected() {
    let e = error("requests:\n  - name: r\n    url: /x\n  - name: r\n    url: /y\n");
    insta::assert_snapshot!(e);
}

#[test]
fn one_body_per_request() {
    let e = error("requests:\n  - name: r\n    url: /x\n    json: {}\n    body: text\n");
    insta::assert_snapshot!(e);
}

#[test]
fn bad_status_and_duration_values_are_rejected() {
    let e = error("requests:\n  - name: r\n    url: /x\n    expect:\n      status: 2zz\n");
    insta::assert_snapshot!(e);
    let e = error("requests:\n  - name: r\n    url: /x\n    timeout: soon\n");
    insta::assert_snapshot!(e);
}

#[test]
fn a_missing_file_or_an_empty_folder_is_an_error() {
    let e = reqtest::Suite::new(["/nonexistent/reqtest.yaml"])
        .plan()
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("/nonexistent/reqtest.yaml: "), "{e}");
    let dir = std::env::temp_dir().join(format!("reqtest-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = reqtest::Suite::new([&dir])
        .plan()
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("no collection files (*.yaml, *.yml) in this folder"),
        "{e}"
    );
}

#[test]
fn a_key_written_twice_in_any_mapping_is_an_error_naming_both_places() {
    let cases = [
        "requests:\n  - name: r\n    url: /x\n    headers:\n      X-A: 1\n      X-A: 2\n",
        "requests:\n  - name: r\n    url: /x\n    expect:\n      json:\n        $.a: 1\n        $.b: 2\n        $.a: {gt: 0}\n",
        "requests:\n  - name: r\n    url: /x\n    expect:\n      headers: {ETag: a, ETag: b}\n",
        "vars:\n  a: 1\n  b: 2\n  a: 3\nrequests:\n  - {name: r, url: /x}\n",
        "requests:\n  - name: r\n    url: /x\n    capture:\n      id: $.id\n      id: $.other\n",
        "environments:\n  a: {u: 1}\n  a: {u: 2}\nrequests:\n  - {name: r, url: /x}\n",
        "requests:\n  - name: r\n    url: /x\n    url: /y\n",
    ];
    let errors: String = cases.iter().map(|yaml| error(yaml) + "\n").collect();
    insta::assert_snapshot!(errors);
}

#[test]
fn a_vars_file_with_a_key_written_twice_is_rejected() {
    let dir = std::env::temp_dir().join(format!("reqtest-dupvars-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("vars.yaml");
    std::fs::write(&file, "a: 1\na: 2\n").unwrap();
    let e = reqtest::load::load_vars_file(&file)
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("vars.yaml:2:1: `a` is written twice in this mapping (first at line 1, column 1); YAML would keep only the last one and silently drop the first"), "{e}");
}

#[test]
fn variables_read_each_other_in_any_order_and_a_cycle_is_named() {
    let yaml = "vars:\n  url: \"{{ host }}/{{ path }}\"\n  path: v{{ version }}\n  host: http://h\n  version: 2\nrequests:\n  - name: r\n    url: \"{{ url }}\"\n";
    let plan = plan(yaml, "http://127.0.0.1:9").expect("vars in any order resolve");
    assert_eq!(
        plan.collections[0].vars["url"].as_str(),
        Some("http://h/v2")
    );
    let e = error("vars:\n  a: \"{{ b }}\"\n  b: \"x{{ c }}\"\n  c: \"{{ a }}\"\nrequests:\n  - {name: r, url: /x}\n");
    insta::assert_snapshot!(e);
    let e = error("vars:\n  a: \"{{ nope }}\"\nrequests:\n  - {name: r, url: /x}\n");
    insta::assert_snapshot!(e);
}

#[test]
fn predicate_errors_point_at_the_key_that_is_wrong() {
    let with = |json: &str| {
        error(&format!(
            "requests:\n  - name: r\n    url: /x\n    expect:\n      json:\n        $.a:\n{json}"
        ))
    };
    let e = with("          length:\n            lenght: 2\n");
    insta::assert_snapshot!(e);
    let e = with("          matches: 5\n");
    insta::assert_snapshot!(e);
    let e = with("          type: integr\n");
    insta::assert_snapshot!(e);
    let e = with("          {}\n");
    insta::assert_snapshot!(e);
}
