//! Against a real OpenID provider that none of us wrote: panva's
//! `oidc-provider` from npm (tests/oidc/server.js), started on 127.0.0.1 by
//! each test, with access tokens that live 2 seconds.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::*;
use serde_json::Value;

struct Provider {
    issuer: String,
    child: Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start() -> Provider {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        install(&dir);
        let mut child = Command::new("node")
            .arg("server.js")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (Node.js is needed for the OpenID provider tests)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the provider did not start ({e}): {line:?}"));
        Provider {
            issuer: started["issuer"].as_str().unwrap().to_string(),
            child,
        }
    }

    /// Grants by type and bearer tokens rejected, as the provider counted them.
    fn stats(&self) -> Value {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            reqwest::get(format!("{}/stats", self.issuer))
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    }
}

/// `npm ci` once, when the provider is not installed yet (.ci/run does it
/// beforehand; a developer's first `cargo test` does it here).
fn install(dir: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if dir.join("node_modules/oidc-provider").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in tests/oidc failed");
    });
}

fn run_against(provider: &Provider, yaml: &str) -> Vec<(String, reqtest::run::Outcome)> {
    run_suite(reqtest::Suite::new([write_collection(yaml)]).var("issuer", provider.issuer.as_str()))
}

#[test]
fn client_credentials_from_a_real_provider_renewed_during_the_run() {
    let provider = Provider::start();
    let yaml = r#"
auth:
  type: client_credentials
  token_url: "{{ issuer }}/token"
  client_id: reqtest-cc
  client_secret: cc-secret
requests:
  - name: first
    url: "{{ issuer }}/api/whoami"
    expect:
      json:
        $.client_id: reqtest-cc
  - name: after the token expired
    delay: 2500ms
    url: "{{ issuer }}/api/whoami"
    expect:
      status: 200
"#;
    let outcomes = run_against(&provider, yaml);
    assert!(
        passed(&outcomes, "first") && passed(&outcomes, "after the token expired"),
        "{outcomes:?}"
    );
    let stats = provider.stats();
    assert_eq!(stats["grants"]["client_credentials"], 2, "{stats}");
    assert_eq!(
        stats["rejected"], 0,
        "renewed before use, never rejected: {stats}"
    );
}

#[test]
fn headless_pkce_code_flow_and_refresh_with_a_real_provider() {
    let provider = Provider::start();
    // The dev login form takes any login; a consent form follows, which
    // reqtest submits as it is.
    let yaml = r#"
auth:
  type: authorization_code
  authorize_url: "{{ issuer }}/auth"
  token_url: "{{ issuer }}/token"
  client_id: reqtest-pkce
  redirect_uri: http://127.0.0.1:9/callback
  scope: openid email offline_access
  username: alice
  password: any-password
requests:
  - name: whoami
    url: "{{ issuer }}/api/whoami"
    expect:
      json:
        $.sub: "{{ auth.claims.sub }}"
        $.client_id: reqtest-pkce
  - name: after the access token expired
    delay: 2500ms
    url: "{{ issuer }}/api/whoami"
    expect:
      json:
        $.sub: alice
"#;
    let outcomes = run_against(&provider, yaml);
    assert!(
        passed(&outcomes, "whoami") && passed(&outcomes, "after the access token expired"),
        "{outcomes:?}"
    );
    let stats = provider.stats();
    assert_eq!(stats["grants"]["authorization_code"], 1, "{stats}");
    assert_eq!(
        stats["grants"]["refresh_token"], 1,
        "renewed with the refresh token: {stats}"
    );
    assert_eq!(stats["rejected"], 0, "{stats}");
}

#[test]
fn a_wrong_client_secret_is_quoted_from_the_real_provider() {
    let provider = Provider::start();
    let yaml = r#"
auth:
  type: client_credentials
  token_url: "{{ issuer }}/token"
  client_id: reqtest-cc
  client_secret: not-the-secret
requests:
  - name: r
    url: "{{ issuer }}/api/whoami"
"#;
    let message = failure(&run_against(&provider, yaml), "r");
    assert!(
        message.contains(
            "/token was answered 401 Unauthorized: invalid_client: client authentication failed"
        ),
        "{message}"
    );
    assert!(!message.contains("not-the-secret"), "{message}");
}

/// Runs every collection given and returns each outcome by test name.
fn run_all(provider: &Provider, yamls: &[String]) -> Vec<(String, reqtest::run::Outcome)> {
    let files: Vec<_> = yamls.iter().map(|y| write_collection(y)).collect();
    let plan = reqtest::Suite::new(files)
        .var("issuer", provider.issuer.as_str())
        .plan()
        .unwrap();
    let selection = reqtest::run::Selection::from_reported(&plan, |_, _| true);
    let events = std::sync::Mutex::new(Vec::new());
    let options = reqtest::run::RunOptions {
        concurrency: yamls.len(),
        traffic: false,
    };
    reqtest::run::run(&plan, &selection, &options, |e| {
        events.lock().unwrap().push(e)
    });
    events
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|e| {
            let c = &plan.collections[e.collection].collection;
            (
                format!("{}::{}", c.name, c.requests[e.request].name),
                e.outcome,
            )
        })
        .collect()
}

#[test]
fn parallel_collections_with_one_identity_share_one_login_and_one_refresh() {
    let provider = Provider::start();
    // oidc-provider rotates the refresh tokens of public clients and
    // revokes the whole grant when an old one is used again: four
    // collections refreshing each on its own would be turned away.
    let yamls: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"
name: c{i}
auth:
  type: authorization_code
  authorize_url: "{{{{ issuer }}}}/auth"
  token_url: "{{{{ issuer }}}}/token"
  client_id: reqtest-pkce
  redirect_uri: http://127.0.0.1:9/callback
  scope: openid email offline_access
  username: alice
  password: any-password
requests:
  - name: whoami
    url: "{{{{ issuer }}}}/api/whoami"
    expect: {{json: {{$.sub: alice}}}}
  - name: after the access token expired
    delay: 2500ms
    url: "{{{{ issuer }}}}/api/whoami"
    expect: {{json: {{$.sub: alice}}}}
"#
            )
        })
        .collect();
    let outcomes = run_all(&provider, &yamls);
    assert_eq!(outcomes.len(), 8);
    for (name, outcome) in &outcomes {
        assert!(
            matches!(outcome, reqtest::run::Outcome::Passed { .. }),
            "{name}: {outcome:?}"
        );
    }
    let stats = provider.stats();
    assert_eq!(
        stats["grants"]["authorization_code"], 1,
        "one login: {stats}"
    );
    assert_eq!(stats["grants"]["refresh_token"], 1, "one refresh: {stats}");
    assert_eq!(stats["rejected"], 0, "{stats}");
}
