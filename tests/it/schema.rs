//! `reqtest schema`: the JSON Schema editors use, generated from the types
//! the loader reads, accepts every bundled collection and flags typos.

use std::process::Command;

use serde_json::Value;

fn schema() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn yaml(text: &str) -> Value {
    reqtest::load::parse_value(text).unwrap()
}

#[test]
fn every_bundled_collection_is_valid_under_the_schema() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/collections");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let doc = yaml(&std::fs::read_to_string(&path).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 4);
}

#[test]
fn the_schema_flags_what_the_loader_rejects() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let typo = yaml("requests:\n  - name: r\n    url: /x\n    expcet: {status: 200}\n");
    let errors: Vec<String> = validator
        .iter_errors(&typo)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("/requests/0") && e.contains("expcet")),
        "{errors:?}"
    );
    let auth = yaml("auth: {type: password, tokn_url: x}\nrequests: [{name: r, url: /x}]\n");
    assert!(!validator.is_valid(&auth));
    let missing = yaml("requests: [{url: /x}]\n");
    assert!(!validator.is_valid(&missing), "a request needs a name");
    let tls = |block: &str| {
        yaml(&format!(
            "defaults: {{tls: {block}}}\nrequests: [{{name: r, url: /x}}]\n"
        ))
    };
    assert!(validator.is_valid(&tls("{ca_cert: ca.pem, insecure: true}")));
    assert!(validator.is_valid(&tls("{insecure: \"{{ insecure }}\"}")));
    assert!(
        !validator.is_valid(&tls("{cacert: ca.pem}")),
        "curl's spelling is the CLI's"
    );
}

#[test]
fn the_schema_rejects_a_misspelt_predicate_and_accepts_values_and_predicates() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let with = |json: &str| {
        yaml(&format!(
            "requests:\n  - name: r\n    url: /x\n    expect:\n      json:\n{json}"
        ))
    };
    assert!(!validator.is_valid(&with("        $.a: {lenght: 2}\n")));
    assert!(!validator.is_valid(&with("        $.a: {length: {lenght: 2}}\n")));
    assert!(!validator.is_valid(&with("        $.a: {type: integr}\n")));
    for good in [
        "        $.a: 42\n",
        "        $.a: [1, 2]\n",
        "        $.a: {eq: {id: 1}, length: 2}\n",
        "        $.a: {every: {type: integer, gt: 0}, length: {ge: 1}}\n",
        "        $.a: {type: boolean}\n",
    ] {
        let doc = with(good);
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{good}: {errors:?}");
    }
}

#[test]
fn the_schema_rejects_a_key_the_chosen_auth_flow_does_not_take() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let auth = |block: &str| {
        yaml(&format!(
            "auth: {block}\nrequests: [{{name: r, url: /x}}]\n"
        ))
    };
    for wrong in [
        "{type: client_credentials, token_url: x, client_id: c, username: u}",
        "{type: refresh_token, token_url: x, refresh_token: r, authorize_url: y}",
        "{type: request, request: {url: /t}, token: $.t, token_url: x}",
        "{type: password, token_url: x, username: u}",
        "{type: pasword, token_url: x}",
    ] {
        assert!(
            !validator.is_valid(&auth(wrong)),
            "{wrong} should be rejected"
        );
    }
    for right in [
        "{type: client_credentials, token_url: x, client_id: c, scope: s, timeout: 2s}",
        "{type: password, token_url: x, username: u, password: p, params_in: query}",
        "{type: authorization_code, authorize_url: a, token_url: t, client_id: c, redirect_uri: r, interactive: true}",
        "{type: request, request: {method: POST, url: /t}, token: $.t, expires_in: $.ttl}",
    ] {
        let doc = auth(right);
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{right}: {errors:?}");
    }
}
