//! Every auth flow against the stand-ins (and the local test server where a
//! stand-in cannot show it): tokens obtained once, sent, renewed in time,
//! renewed after a 401, rejected logins quoted, states checked, the cache.

use std::time::Duration;

use crate::common::*;
use reqtest::standins::{Config, StandIns};
use reqtest::Suite;

fn standins() -> StandIns {
    StandIns::start().unwrap()
}

fn short_lived(lifetime: Duration, advertised: Option<Duration>) -> StandIns {
    StandIns::start_with(Config {
        token_lifetime: Some(lifetime),
        advertised_lifetime: advertised,
    })
    .unwrap()
}

fn suite(yaml: &str, s: &StandIns) -> Suite {
    Suite::new([write_collection(yaml)]).vars(s.vars())
}

fn all_passed(outcomes: &[(String, reqtest::run::Outcome)]) {
    for (name, outcome) in outcomes {
        assert!(
            matches!(outcome, reqtest::run::Outcome::Passed { .. }),
            "`{name}`: {outcome:?}"
        );
    }
}

const CELLS_V1_AUTH: &str = r#"
auth:
  type: password
  token_url: "{{ cells_url }}/auth/dex/token"
  client_id: cells-front
  client_secret: cells-front
  username: admin
  password: "{{ password | default('cells-admin-pw') }}"
  scope: email profile pydio
  extra: {nonce: "{{ random_string(8) }}"}
  token: id_token
defaults:
  base_url: "{{ cells_url }}"
"#;

const CELLS_V4_CODE_AUTH: &str = r#"
auth:
  type: authorization_code
  authorize_url: "{{ cells_url }}/oidc/oauth2/auth"
  token_url: "{{ cells_url }}/oidc/oauth2/token"
  client_id: cells-sync
  redirect_uri: http://localhost:3000/servers/callback
  scope: openid email profile pydio offline
  username: admin
  password: "{{ password | default('cells-admin-pw') }}"
defaults:
  base_url: "{{ cells_url }}"
"#;

#[test]
fn password_grant_with_a_basic_client_sends_the_id_token_once_for_all_requests() {
    let s = standins();
    let yaml = format!(
        "{CELLS_V1_AUTH}requests:
  - name: user
    url: /a/user/admin
    expect:
      json:
        $.Login: \"{{{{ auth.claims.name }}}}\"
        $.Attributes.email: \"{{{{ auth.claims.email }}}}\"
  - name: services
    url: /a/config/ctl
    expect: {{status: 200}}
"
    );
    all_passed(&run_suite(suite(&yaml, &s)));
    let (issued, refreshed, rejected) = s.stats.get();
    assert_eq!(
        (issued, refreshed, rejected),
        (1, 0, 0),
        "one login for both requests"
    );
}

#[test]
fn password_grant_in_the_query_string_exposes_the_response_and_claims() {
    let s = standins();
    let yaml = r#"
auth:
  type: password
  token_url: "{{ regards_url }}/api/v1/rs-authentication/oauth/token"
  params_in: query
  client_id: client
  client_secret: secret
  scope: project1
  username: user@regards.fr
  password: regards-password
requests:
  - name: users
    url: "{{ regards_url }}/api/v1/rs-admin/users"
    expect:
      json:
        $.content[0].content.email: "{{ auth.claims.sub }}"
        $.content[*].content.email: {contains: "{{ auth.response.email }}"}
  - name: claims as expected values
    url: "{{ regards_url }}/api/v1/rs-dam/datasets"
    expect:
      json:
        $.content[0].content.ipId: {contains: "{{ auth.claims.tenant }}"}
        $.content[0].content.type: "{{ 'DATASET' if auth.response.role == 'USER_ROLE' else 'wrong' }}"
"#;
    all_passed(&run_suite(suite(yaml, &s)));
}

#[test]
fn client_credentials_with_basic_or_body_client_authentication() {
    let server = server();
    for client_auth in ["basic", "body"] {
        let yaml = format!(
            r#"
auth:
  type: client_credentials
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  client_secret: svc-secret
  client_auth: {client_auth}
  scope: read-{client_auth}
requests:
  - name: call
    url: "{{{{ base }}}}/api/cc"
    expect:
      json:
        $.scope: read-{client_auth}
"#
        );
        let outcomes = run(&yaml, &server.url);
        assert!(passed(&outcomes, "call"), "{client_auth}: {outcomes:?}");
    }
}

#[test]
fn named_auths_give_one_collection_several_identities() {
    let server = server();
    let yaml = r#"
auth:
  type: client_credentials
  token_url: "{{ base }}/oauth/token"
  client_id: svc
  client_secret: svc-secret
  scope: admin
auths:
  reader:
    type: client_credentials
    token_url: "{{ base }}/oauth/token"
    client_id: svc
    client_secret: svc-secret
    scope: reader
requests:
  - name: as admin
    url: "{{ base }}/api/cc"
    expect: {json: {$.scope: admin}}
  - name: as reader
    auth: reader
    url: "{{ base }}/api/cc"
    expect: {json: {$.scope: reader}}
  - name: anonymous
    auth: none
    url: "{{ base }}/api/cc"
    expect: {status: 401}
"#;
    all_passed(&run(yaml, &server.url));
}

#[test]
fn headless_authorization_code_with_pkce_logs_in_through_the_form() {
    let s = standins();
    let yaml = format!(
        "{CELLS_V4_CODE_AUTH}requests:
  - name: user
    url: /a/user/admin
    expect: {{status: 200}}
"
    );
    all_passed(&run_suite(suite(&yaml, &s)));
    assert_eq!(s.stats.get(), (1, 0, 0));
}

#[test]
fn a_refresh_token_handed_over_is_a_flow_of_its_own() {
    let s = standins();
    // What CI would get in an environment variable: a refresh token from
    // an earlier login.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refresh_token: String = runtime.block_on(async {
        let response: serde_json::Value = reqwest::Client::new()
            .post(format!("http://{}/auth/dex/token", s.cells))
            .basic_auth("cells-front", Some("cells-front"))
            .form(&[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "cells-admin-pw"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["refresh_token"].as_str().unwrap().to_string()
    });
    let yaml = r#"
auth:
  type: refresh_token
  token_url: "{{ cells_url }}/auth/dex/token"
  client_id: cells-front
  client_secret: cells-front
  refresh_token: "{{ handed_over }}"
  token: id_token
requests:
  - name: user
    url: "{{ cells_url }}/a/user/admin"
    expect: {status: 200}
"#;
    all_passed(&run_suite(
        suite(yaml, &s).var("handed_over", refresh_token),
    ));
    assert_eq!(
        s.stats.get().1,
        1,
        "the handed-over refresh token was redeemed"
    );
}

#[test]
fn wrong_credentials_fail_the_request_quoting_the_server() {
    let s = standins();
    let cases = [
        (
            format!("{CELLS_V1_AUTH}requests:\n  - name: r\n    url: /a/config/ctl\n"),
            "auth `default`: POST http://127.0.0.1",
            "/auth/dex/token was answered 401 Unauthorized: invalid_grant: Invalid username or password",
        ),
        (
            format!("{CELLS_V4_CODE_AUTH}requests:\n  - name: r\n    url: /a/config/ctl\n"),
            "auth `default`: the login form came back after reqtest submitted it (wrong username or password?)",
            "the page says: Pydio Cells - Sign in — Sign in to Pydio Cells Invalid login or password",
        ),
    ];
    for (yaml, start, end) in cases {
        let outcomes = run_suite(suite(&yaml, &s).var("password", "not-the-password"));
        let message = failure(&outcomes, "r");
        assert!(
            message.starts_with(start) && message.contains(end),
            "{message}"
        );
        assert!(
            !message.contains("not-the-password"),
            "the password leaked: {message}"
        );
    }
    let regards = r#"
auth:
  type: password
  token_url: "{{ regards_url }}/api/v1/rs-authentication/oauth/token"
  params_in: query
  client_id: client
  client_secret: secret
  scope: project1
  username: user@regards.fr
  password: wrong-password
requests:
  - name: r
    url: "{{ regards_url }}/api/v1/rs-admin/users"
"#;
    let message = failure(&run_suite(suite(regards, &s)), "r");
    assert!(
        message.contains("was answered 400 Bad Request: invalid_grant: Bad credentials\n"),
        "{message}"
    );
    assert!(
        !message.contains("wrong-password"),
        "the password in the query string leaked: {message}"
    );
}

#[test]
fn a_token_about_to_expire_is_renewed_before_the_request_with_its_refresh_token() {
    let s = short_lived(Duration::from_secs(2), None);
    let yaml = format!(
        "{CELLS_V4_CODE_AUTH}requests:
  - name: first
    url: /a/config/ctl
    expect: {{status: 200}}
  - name: after expiry
    delay: 2100ms
    url: /a/config/ctl
    expect: {{status: 200}}
"
    );
    all_passed(&run_suite(suite(&yaml, &s)));
    let (issued, refreshed, rejected) = s.stats.get();
    assert_eq!(
        (issued, refreshed, rejected),
        (2, 1, 0),
        "renewed by refresh, never rejected"
    );
}

#[test]
fn without_a_refresh_token_renewal_is_a_new_login() {
    let s = short_lived(Duration::from_secs(2), None);
    let yaml = r#"
auth:
  type: request
  request:
    method: POST
    url: "{{ nextome_url }}/apps/auth"
    json: {clientId: 97sv0tntua35arne6uo30614r9, clientSecret: nextome-demo-secret}
  token: $.accessToken
requests:
  - name: first
    url: "{{ nextome_url }}/venues/42"
  - name: after expiry
    delay: 2100ms
    url: "{{ nextome_url }}/venues/42"
    expect: {status: 200}
"#;
    all_passed(&run_suite(suite(yaml, &s)));
    assert_eq!(
        s.stats.get(),
        (2, 0, 0),
        "two logins (the JWT's exp told when), no rejection"
    );
}

#[test]
fn a_401_is_retried_once_after_renewing_the_token() {
    // The server says 600 s and means 1 s: the client believes its token
    // fresh, is turned away, renews and retries.
    let s = short_lived(Duration::from_secs(1), Some(Duration::from_secs(600)));
    let yaml = format!(
        "{CELLS_V1_AUTH}requests:
  - name: first
    url: /a/config/ctl
  - name: token revoked meanwhile
    delay: 1200ms
    url: /a/config/ctl
    expect: {{status: 200}}
"
    );
    all_passed(&run_suite(suite(&yaml, &s)));
    let (issued, refreshed, rejected) = s.stats.get();
    assert_eq!((issued, refreshed, rejected), (2, 1, 1));
}

#[test]
fn a_request_still_401_after_one_renewal_fails() {
    let server = server();
    let scope = format!("once-{}", std::process::id());
    let yaml = format!(
        r#"
auth:
  type: client_credentials
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  client_secret: svc-secret
  scope: {scope}
requests:
  - name: r
    url: "{{{{ base }}}}/always-401"
    expect: {{status: 200}}
"#
    );
    let message = failure(&run(&yaml, &server.url), "r");
    assert!(
        message.contains("status: expected 200, got 401"),
        "{message}"
    );
    assert_eq!(token_calls(&scope), 2, "one login, one renewal, no more");
}

#[test]
fn a_401_the_request_expects_is_checked_not_renewed() {
    let server = server();
    let scope = format!("expects-401-{}", std::process::id());
    let yaml = format!(
        r#"
auth:
  type: client_credentials
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  client_secret: svc-secret
  scope: {scope}
requests:
  - name: r
    url: "{{{{ base }}}}/always-401"
    expect: {{status: [200, 401], json: {{$.error: nope}}}}
"#
    );
    assert!(passed(&run(&yaml, &server.url), "r"));
    assert_eq!(token_calls(&scope), 1, "one login, no renewal and resend");
}

#[test]
fn a_state_that_does_not_come_back_is_rejected() {
    let server = server();
    let yaml = r#"
auth:
  type: authorization_code
  authorize_url: "{{ base }}/authorize-forged"
  token_url: "{{ base }}/oauth/token"
  client_id: svc
  redirect_uri: http://127.0.0.1:9/callback
  username: u
  password: p
requests:
  - name: r
    url: "{{ base }}/api/cc"
"#;
    let message = failure(&run(yaml, &server.url), "r");
    assert!(
        message.contains("the redirect came back with another `state` than the one sent: rejected"),
        "{message}"
    );
}

#[test]
fn the_token_cache_is_private_and_a_later_run_refreshes_from_it() {
    let s = standins();
    let dir = std::env::temp_dir().join(format!("reqtest-cache-{}", std::process::id()));
    let cache = dir.join("tokens.json");
    let _ = std::fs::remove_file(&cache);
    let yaml = format!("{CELLS_V4_CODE_AUTH}  \nrequests:\n  - name: r\n    url: /a/config/ctl\n    expect: {{status: 200}}\n")
        .replace("  password: \"{{ password | default('cells-admin-pw') }}\"\n", "  password: \"{{ password | default('cells-admin-pw') }}\"\n  cache: true\n");
    let path = write_collection(&yaml);

    all_passed(&run_suite(
        Suite::new([&path]).vars(s.vars()).token_cache(&cache),
    ));
    assert_eq!(s.stats.get(), (1, 0, 0), "the first run logs in");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cache).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    let key = kept.as_object().unwrap().keys().next().unwrap().clone();
    assert!(
        key.ends_with("/oidc/oauth2/token|cells-sync|admin|openid email profile pydio offline"),
        "{key}"
    );

    all_passed(&run_suite(
        Suite::new([&path]).vars(s.vars()).token_cache(&cache),
    ));
    assert_eq!(
        s.stats.get(),
        (2, 1, 0),
        "the second run refreshes the cached token instead of logging in"
    );
}

#[test]
fn a_token_cache_that_cannot_be_written_does_not_fail_the_login_that_worked() {
    let s = standins();
    let dir = std::env::temp_dir().join(format!("reqtest-cache-blocked-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blocked = dir.join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let yaml = format!("{CELLS_V1_AUTH}requests:\n  - name: r\n    url: /a/config/ctl\n    expect: {{status: 200}}\n")
        .replace("  token: id_token\n", "  token: id_token\n  cache: true\n");
    all_passed(&run_suite(
        Suite::new([write_collection(&yaml)])
            .vars(s.vars())
            .token_cache(blocked.join("tokens.json")),
    ));
}

#[test]
fn collections_of_one_run_with_the_same_identity_share_one_token() {
    let server = server();
    let scope = format!("shared-{}", std::process::id());
    let yaml = |name: &str| {
        format!(
            r#"
name: {name}
auth:
  type: client_credentials
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  client_secret: svc-secret
  scope: {scope}
requests:
  - name: r
    url: "{{{{ base }}}}/api/cc"
"#
        )
    };
    let files: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| write_collection(&yaml(n)))
        .collect();
    let outcomes = run_suite(Suite::new(files).var("base", server.url.as_str()));
    assert_eq!(outcomes.len(), 3);
    all_passed(&outcomes);
    assert_eq!(
        token_calls(&scope),
        1,
        "one token request for three collections"
    );
}

#[test]
fn a_token_sent_in_the_query_string_is_masked_in_failures() {
    let server = server();
    let yaml = r#"
auth:
  type: client_credentials
  token_url: "{{ base }}/oauth/token"
  client_id: svc
  client_secret: svc-secret
  scope: secretscope
  query_param: access_token
requests:
  - name: r
    url: "{{ base }}/json"
    expect: {status: 500}
"#;
    let message = failure(&run(yaml, &server.url), "r");
    assert!(message.contains("/json?access_token=***"), "{message}");
    assert!(
        !message.contains("cc-secretscope"),
        "the token leaked: {message}"
    );
}

#[test]
fn auth_errors_in_the_collection_are_reported_at_load_time() {
    let cases = [
        ("auth:\n  type: pasword\n", "c.yaml:2:3: unknown auth type `pasword`; expected one of `password`"),
        ("auth:\n  type: password\n  token_url: x\n  username: u\n", "c.yaml:1:1: an auth of type `password` needs `password`"),
        ("auth:\n  type: client_credentials\n  token_url: x\n  client_id: c\n  username: u\n", "c.yaml:5:3: an auth of type `client_credentials` does not take `username`"),
        ("auth:\n  type: request\n  request: {url: /x}\n", "needs `token: $.path`"),
        ("auth:\n  type: password\n  token_url: x\n  username: u\n  password: p\n  token: refresh\n", "c.yaml:6:3: `token` is access_token, id_token or a JSONPath"),
    ];
    for (auth, wanted) in cases {
        let yaml = format!("{auth}requests:\n  - name: r\n    url: http://127.0.0.1:9/\n");
        let e = plan(&yaml, "http://127.0.0.1:9")
            .err()
            .unwrap_or_else(|| panic!("should fail: {auth}"));
        assert!(e.contains(wanted), "wanted `{wanted}` in: {e}");
    }
    let e = plan(
        "requests:\n  - name: r\n    auth: admin\n    url: /x\n",
        "x",
    )
    .err()
    .unwrap();
    assert!(
        e.contains("c.yaml:3:5: no auth named `admin`; this collection has `none`"),
        "{e}"
    );
    let e = plan(
        "auth:\n  type: password\n  token_url: \"{{ tokn_url }}\"\n  username: u\n  password: p\nrequests:\n  - name: r\n    url: /x\n",
        "x",
    )
    .err()
    .unwrap();
    assert!(
        e.contains("c.yaml:3:3: undefined variable `tokn_url`"),
        "{e}"
    );
}

#[test]
fn the_password_goes_only_to_the_authorize_urls_origin_or_listed_ones() {
    let home = server();
    let elsewhere = server();
    let auth = |authorize: &str, extra: &str| {
        format!(
            r#"
auth:
  type: authorization_code
  authorize_url: "{authorize}"
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  redirect_uri: http://127.0.0.1:9/callback
  username: alice
  password: alices-password
{extra}requests:
  - name: r
    url: "{{{{ base }}}}/json"
"#
        )
    };
    let steal = format!("{}/steal", elsewhere.url);
    let posts_away = format!("{}/login-elsewhere?to={steal}", home.url);
    let message = failure(&run(&auth(&posts_away, ""), &home.url), "r");
    assert!(
        message.contains(&format!(
            "posts to {}, which is not the authorize URL's origin ({})",
            elsewhere.url, home.url
        )),
        "{message}"
    );
    let page_away = format!(
        "{}/redirect-to?to={}",
        home.url,
        url::form_urlencoded::byte_serialize(
            format!("{}/login-elsewhere?to={steal}", elsewhere.url).as_bytes()
        )
        .collect::<String>()
    );
    let message = failure(&run(&auth(&page_away, ""), &home.url), "r");
    assert!(
        message.contains(&format!("is served from {}", elsewhere.url)),
        "{message}"
    );
    assert_eq!(
        STOLEN.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing was posted away"
    );

    let listed = format!("  login_origins: [\"{}\"]\n", elsewhere.url);
    let message = failure(&run(&auth(&posts_away, &listed), &home.url), "r");
    assert!(!message.contains("authorize URL's origin"), "{message}");
    assert_eq!(
        STOLEN.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a listed origin gets the form"
    );
}

#[test]
fn authorize_params_go_to_the_authorization_request() {
    let server = server();
    let yaml = |params: &str| {
        format!(
            r#"
auth:
  type: authorization_code
  authorize_url: "{{{{ base }}}}/authorize-check"
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  redirect_uri: http://127.0.0.1:9/callback
  username: alice
  password: pw
{params}requests:
  - name: r
    url: "{{{{ base }}}}/json"
"#
        )
    };
    let without = failure(&run(&yaml(""), &server.url), "r");
    assert!(
        without.contains("the authorization server answered missing_params"),
        "{without}"
    );
    let with = failure(
        &run(
            &yaml("  authorize_params: {prompt: login, login_hint: \"{{ 'alice' }}\"}\n"),
            &server.url,
        ),
        "r",
    );
    // Past the authorization request, on to the token request.
    assert!(with.contains("/oauth/token was answered 401"), "{with}");
}

#[test]
fn the_default_auth_is_reachable_as_auths_default_from_any_request() {
    let server = server();
    let scope = format!("reach-{}", std::process::id());
    let yaml = format!(
        r#"
auth:
  type: client_credentials
  token_url: "{{{{ base }}}}/oauth/token"
  client_id: svc
  client_secret: svc-secret
  scope: {scope}
requests:
  - name: first, without a token of its own
    auth: none
    url: "{{{{ base }}}}/echo"
    headers: {{X-Type: "{{{{ auths.default.response.token_type }}}}"}}
    expect:
      json:
        $.headers.x-type: Bearer
        $.headers.authorization: {{absent: true}}
"#
    );
    let yaml = yaml.replace("$.headers.x-type", "$.headers['x-type']");
    assert!(passed(
        &run(&yaml, &server.url),
        "first, without a token of its own"
    ));
    assert_eq!(token_calls(&scope), 1);
    let e = plan(
        "auth:\n  type: client_credentials\n  token_url: http://x/t\n  client_id: svc\nrequests:\n  - name: r\n    url: \"http://x/{{ auths.nope.response }}\"\n",
        &server.url,
    )
    .err()
    .unwrap();
    assert!(
        e.contains("request `r` reads `auths.nope`, and this collection has no auth `nope` (it has `default`)"),
        "{e}"
    );
}
