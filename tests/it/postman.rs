//! Postman collections (v2.1) imported and run against a local server, with
//! what could not be converted listed.

use std::process::Command;

use crate::common::*;

fn import(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("import")
        .arg("postman")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_newman_benchmark_collection_runs_with_its_scripts_as_checks() {
    let server = server();
    let (yaml, notes) = import(&["tests/fixtures/bench.postman_collection.json"]);
    assert!(notes.is_empty(), "everything converts: {notes}");
    // pm.test(status 200) and pm.expect(json().nested.n).to.eql(42) became
    // expectations, pm.collectionVariables.set a capture.
    assert!(
        yaml.contains("$.nested.n: 42") && yaml.contains("token: $.access_token"),
        "{yaml}"
    );
    let outcomes = run(&yaml, &server.url);
    assert_eq!(outcomes.len(), 4);
    for (name, _) in &outcomes {
        assert!(passed(&outcomes, name), "{name}: {outcomes:?}");
    }
    // The converted checks can fail: the same collection asserting 43.
    let failing = yaml.replace("$.nested.n: 42", "$.nested.n: 43");
    let message = failure(&run(&failing, &server.url), "json 1");
    assert!(
        message.contains("$.nested.n: expected 43, got 42"),
        "{message}"
    );
}

#[test]
fn a_collection_with_folders_auths_bodies_and_an_environment_runs() {
    let server = server();
    let (yaml, notes) = import(&[
        "tests/fixtures/shop.postman_collection.json",
        "--environment",
        "tests/fixtures/shop.postman_environment.json",
    ]);
    // What could not be converted is listed, on stderr and in the file.
    for expected in [
        "the collection's prerequest script: not converted",
        "request `Orders / Create with a JSON body`: its prerequest script (1 lines) was not converted",
        "request `Login`: test script lines not converted: pm.test(\"type\"",
    ] {
        assert!(notes.contains(expected), "wanted `{expected}` in:\n{notes}");
        assert!(yaml.contains(expected), "wanted `{expected}` in the YAML");
    }
    assert!(
        yaml.contains("secrets:\n- password\n- svc_secret"),
        "{yaml}"
    );

    let outcomes = run_suite(
        reqtest::Suite::new([write_collection(&yaml)]).var("base_url", server.url.as_str()),
    );
    // `Login` stores the token the collection's Bearer sends: it became the
    // collection's auth block.
    assert!(
        yaml.contains("auth:\n  type: request\n  request:\n    method: POST\n    url: '{{ base_url }}/token'\n")
            && yaml.contains("  token: $.access_token\n"),
        "{yaml}"
    );
    let names = [
        "Orders / Protected, inheriting the bearer token",
        "Orders / Create with a JSON body",
        "Forms / Urlencoded with basic auth",
        "Forms / Multipart",
        "Service / Client credentials",
        "Service / API key in the query",
    ];
    assert_eq!(outcomes.len(), names.len(), "{outcomes:?}");
    for name in names {
        assert!(passed(&outcomes, name), "{name}: {outcomes:?}");
    }
}

#[test]
fn a_file_that_is_not_a_postman_collection_is_refused() {
    let path = write_collection(
        "{\"info\": {\"schema\": \"https://example.invalid/other\"}, \"item\": []}",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args(["import", "postman"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Postman collection v2.1"));
}

/// Seed 001 (Cells' REST API docs): a token request whose test script
/// stores the id_token in `dex_token`, and requests inheriting the
/// collection's Bearer `{{dex_token}}`. Imported, the token request is the
/// collection's auth, and the whole runs against the Cells stand-in.
#[test]
fn the_seed_001_postman_setup_imports_and_runs_against_the_cells_stand_in() {
    let dir = std::env::temp_dir().join(format!("reqtest-seed001-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cells.yaml");
    let (_, notes) = import(&[
        "tests/fixtures/cells-seed-001.postman_collection.json",
        "--environment",
        "tests/fixtures/cells-seed-001.postman_environment.json",
        "-o",
        file.to_str().unwrap(),
    ]);
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.ends_with('\n'), "the file ends with a newline");
    assert!(
        !notes.contains("jsonData"),
        "the script lines converted: {notes}"
    );
    assert!(
        yaml.contains("auth:\n  type: password\n  token_url: '{{ url }}/auth/dex/token'\n  client_id: cells-front\n  client_secret: cells-front\n")
            && yaml.contains("  token: id_token\n"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("name: Get a token") && !yaml.contains("Bearer"),
        "{yaml}"
    );
    let standins = reqtest::standins::StandIns::start().unwrap();
    let cells = format!("http://{}", standins.cells);
    let outcomes = run_suite(
        reqtest::Suite::new([&file])
            .var("url", cells.as_str())
            .var("password", "cells-admin-pw"),
    );
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    for (name, _) in &outcomes {
        assert!(passed(&outcomes, name), "{name}: {outcomes:?}");
    }
}
