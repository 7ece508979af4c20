//! No secret in any output, whatever it looks like and however a server
//! echoes it. Secrets are generated (random lengths and characters:
//! Unicode, JSON, regex and URL specials, a line break), sent in bodies,
//! query strings, headers and tokens to a server that echoes everything it
//! got in every spelling a real server uses, placed so that each cut of the
//! output (80, 120, 200, 300, 1000 and 4096 characters) falls inside one.
//! Then no 8-character window of any secret of 12 or more characters may
//! appear in the console, `--verbose`, the JUnit and JSON reports, or
//! `reqtest curl`.
//!
//! `LEAK_SECRETS=N`, `LEAK_SEED=S` and `LEAK_BIN=target/release/reqtest`
//! run it wider by hand.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use axum::extract::Query;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const POOL: &[&str] = &[
    "a", "b", "Z", "q", "7", "0", "\"", "\\", "/", "%", "+", "&", "=", "?", "#", "<", ">", "'",
    "{", "}", "[", "]", "$", "^", ".", "*", "|", "(", ")", "!", "@", "~", "`", "-", "_", " ", ":",
    ";", ",", "é", "ü", "中", "文", "😀", "∑", "ß", "\u{2028}",
];

fn secret(rng: &mut StdRng, header_safe: bool, multi_line: bool) -> String {
    let len = rng.random_range(12..64);
    let mut s = String::new();
    while s.chars().count() < len {
        let c = POOL[rng.random_range(0..POOL.len())];
        if header_safe && !c.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            continue;
        }
        s.push_str(c);
        if multi_line && s.chars().count() == len / 2 {
            s.push('\n');
        }
    }
    s
}

/// Every spelling of `s` the echo server answers with.
fn spellings(s: &str) -> Vec<String> {
    let std = base64::engine::general_purpose::STANDARD;
    let std_np = base64::engine::general_purpose::STANDARD_NO_PAD;
    let url = base64::engine::general_purpose::URL_SAFE;
    let url_np = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = serde_json::to_string(s).unwrap();
    let ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                c.encode_utf16(&mut [0; 2])
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    let everything: String = s.encode_utf16().map(|u| format!("\\u{u:04X}")).collect();
    let minijinja = minijinja::Environment::new()
        .render_str("{{ s | urlencode }}", minijinja::context! { s })
        .unwrap();
    let html: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("&#{};", c as u32)
            }
        })
        .collect();
    vec![
        s.to_string(),
        json.clone(),
        ascii,
        everything,
        json.replace('/', "\\/"),
        serde_json::to_string(&json).unwrap(),
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect(),
        minijinja,
        std.encode(s),
        std_np.encode(s),
        url.encode(s),
        url_np.encode(s),
        format!("Basic {}", std.encode(format!("leak-user:{s}"))),
        std.encode(format!("{{\"user\":\"x\",\"secret\":{json},\"n\":1}}")),
        html,
    ]
}

fn echoed(q: &HashMap<String, String>, headers: &HeaderMap, body: &str) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        for s in v["s"].as_array().into_iter().flatten() {
            got.extend(s.as_str().map(str::to_string));
        }
    } else {
        got.extend(url::form_urlencoded::parse(body.as_bytes()).map(|(_, v)| v.into_owned()));
    }
    got.extend(q.get("q").cloned());
    for name in ["x-s", "authorization"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            got.push(v.to_string());
            if let Some(b) = v.strip_prefix("Basic ") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_default();
                got.push(String::from_utf8_lossy(&decoded).into_owned());
            }
        }
    }
    got
}

/// Answers 500 with everything it got: first raw after `pad` characters
/// (so that the output's cuts fall inside it), then every spelling, as
/// text, JSON or an HTML page.
async fn leak(
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let pad = "x".repeat(q.get("pad").and_then(|p| p.parse().ok()).unwrap_or(0));
    let got = echoed(&q, &headers, &body);
    let all: Vec<String> = got.iter().flat_map(|s| spellings(s)).collect();
    let first = got.first().cloned().unwrap_or_default();
    let (ct, text) = match q.get("mode").map(String::as_str) {
        Some("json") => (
            "application/json",
            serde_json::json!({"pad": pad, "raw": first, "got": got, "forms": all}).to_string(),
        ),
        Some("html") => (
            "text/html",
            format!(
                "<!DOCTYPE html><html><head><title>{pad}{first}</title></head><body><p>{}</p></body></html>",
                all.join("</p><p>")
            ),
        ),
        Some("oauth") => (
            "application/json",
            serde_json::json!({"error": "server_error", "error_description": format!("{pad}{first} {}", all.join(" "))}).to_string(),
        ),
        _ => ("text/plain", format!("{pad}{first}\n{}", all.join("\n"))),
    };
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, ct)],
        text,
    )
        .into_response()
}

/// A long, random token, as an identity provider hands out.
async fn token() -> Response {
    let mut rng = StdRng::from_os_rng();
    let part = |rng: &mut StdRng, n: usize| -> String {
        (0..n)
            .map(|_| {
                let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                c[rng.random_range(0..c.len())] as char
            })
            .collect()
    };
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.{}",
        part(&mut rng, 240),
        part(&mut rng, 43)
    );
    axum::Json(serde_json::json!({"token": jwt})).into_response()
}

/// `LEAK_BIN` runs another build (a release one, for wide runs by hand).
fn reqtest(args: &[&str], env: &[(&str, &str)]) -> Output {
    let bin = std::env::var("LEAK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_reqtest").into());
    Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// The cuts of reqtest's outputs, and paddings that put a secret across each.
const PADS: &[usize] = &[0, 75, 118, 195, 295, 990, 4080];

fn collections(dir: &Path, url: &str, names: &[String], header_secret: &str) -> Vec<String> {
    let secrets = names.join(", ");
    let body = names
        .iter()
        .map(|n| format!("\"{{{{ {n} }}}}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut files = Vec::new();
    for (i, pad) in PADS.iter().enumerate() {
        for mode in ["text", "json", "html"] {
            let first = &names[i % names.len()];
            let yaml = format!(
                r#"name: leak-{mode}-{pad}
secrets: [{secrets}]
auth:
  type: request
  request:
    method: POST
    url: {url}/token
    json: {{clientSecret: "{{{{ {first} }}}}"}}
  token: $.token
requests:
  - name: echo
    method: POST
    url: {url}/leak
    query: {{pad: {pad}, mode: {mode}, q: "{{{{ {first} }}}}"}}
    headers: {{X-S: "{{{{ {header_secret} }}}}"}}
    json: {{s: [{body}]}}
    expect:
      status: 200
      headers: {{Content-Type: "{{{{ {first} }}}}"}}
      json:
        $.raw: "{{{{ {first} }}}}!"
        $.got: ["{{{{ {first} }}}}"]
      body:
        contains: "{{{{ {first} }}}}-absent"
        equals: "{{{{ {first} }}}}"
"#
            );
            let file = dir.join(format!("leak-{mode}-{pad}.yaml"));
            std::fs::write(&file, yaml).unwrap();
            files.push(file.display().to_string());
        }
        // A token endpoint that fails, echoing the client secret and the
        // password around the cut of auth messages.
        let (a, b) = (&names[i % names.len()], &names[(i + 1) % names.len()]);
        let yaml = format!(
            r#"name: auth-{pad}
secrets: [{secrets}]
auth:
  type: password
  token_url: "{url}/leak?pad={pad}&mode={mode}"
  client_id: leak-user
  client_secret: "{{{{ {a} }}}}"
  username: someone
  password: "{{{{ {b} }}}}"
requests:
  - name: needs a token
    url: {url}/leak
"#,
            mode = if i % 2 == 0 { "oauth" } else { "text" }
        );
        let file = dir.join(format!("auth-{pad}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        files.push(file.display().to_string());
    }
    files
}

/// Every 8-character window of every secret of 12 or more characters that
/// appears in `text`.
fn leaked_windows(secrets: &[String], text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for s in secrets.iter().filter(|s| s.chars().count() >= 12) {
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(8) {
            let window: String = w.iter().collect();
            if text.contains(&window) {
                found.push(format!("{window:?} of {s:?}"));
            }
        }
    }
    found
}

/// The strings of a JSON document, decoded, one per line.
fn json_strings(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push_str(k);
            out.push('\n');
            json_strings(v, out)
        }),
        _ => {}
    }
}

#[test]
fn generated_secrets_echoed_in_every_form_never_reach_any_output() {
    let count: usize = std::env::var("LEAK_SECRETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("LEAK_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut values: Vec<String> = (0..count)
        .map(|i| secret(&mut rng, false, i == 1))
        .collect();
    values.push(secret(&mut rng, true, false));
    let names: Vec<String> = (0..values.len()).map(|i| format!("s{i}")).collect();

    let (thread, addr) = reqtest::standins::ServerThread::spawn(|stop| {
        let app = Router::new()
            .route("/leak", post(leak).get(leak))
            .route("/token", post(token));
        reqtest::standins::serve(app, stop)
    })
    .unwrap();
    let url = format!("http://{addr}");
    let dir = std::env::temp_dir().join(format!("reqtest-leaks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vars: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (n.clone(), serde_json::Value::from(v.clone())))
        .collect();
    let vars_file = dir.join("vars.json");
    std::fs::write(&vars_file, serde_json::to_string(&vars).unwrap()).unwrap();
    let files = collections(&dir, &url, &names, names.last().unwrap());
    let junit = dir.join("r.xml");
    let json = dir.join("r.json");

    let mut args = vec![
        "run",
        "--vars-file",
        vars_file.to_str().unwrap(),
        "--verbose",
    ];
    args.extend([
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    args.extend(files.iter().map(String::as_str));
    let started = std::time::Instant::now();
    let run = reqtest(&args, &[]);
    eprintln!("the run took {:?}", started.elapsed());
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let curl = reqtest(
        &[
            "curl",
            &files[1],
            "echo",
            "--vars-file",
            vars_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        curl.status.success(),
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );

    let mut outputs: Vec<(&str, String)> = Vec::new();
    outputs.push(("stdout", String::from_utf8_lossy(&run.stdout).into_owned()));
    outputs.push((
        "stderr (--verbose)",
        String::from_utf8_lossy(&run.stderr).into_owned(),
    ));
    let junit_text = std::fs::read_to_string(&junit).unwrap();
    outputs.push((
        "JUnit, decoded",
        reqtest::secrets::shown::unescape(&junit_text).replace("&apos;", "'"),
    ));
    outputs.push(("JUnit", junit_text));
    let json_text = std::fs::read_to_string(&json).unwrap();
    let mut strings = String::new();
    json_strings(&serde_json::from_str(&json_text).unwrap(), &mut strings);
    outputs.push(("JSON report, decoded", strings));
    outputs.push(("JSON report", json_text));
    outputs.push(("curl", String::from_utf8_lossy(&curl.stdout).into_owned()));

    // The secrets really went out and came back, masked.
    let stdout = &outputs[0].1;
    assert!(stdout.matches("***").count() > 50, "{stdout}");
    assert!(stdout.contains("was answered 500"), "{stdout}");
    drop(thread);
    for (i, (name, text)) in outputs.iter().enumerate() {
        std::fs::write(dir.join(format!("output-{i}.txt")), text).unwrap();
        let leaks = leaked_windows(&values, text);
        assert!(
            leaks.is_empty(),
            "{} windows leaked in {name} (kept in {}), first: {}",
            leaks.len(),
            dir.join(format!("output-{i}.txt")).display(),
            leaks[0]
        );
    }
    let windows: usize = values
        .iter()
        .map(|s| s.chars().count().saturating_sub(7))
        .sum();
    let bytes: usize = outputs.iter().map(|(_, t)| t.len()).sum();
    eprintln!(
        "leaks: {} secrets ({windows} windows of 8 characters) echoed in {} spellings by {} collections; {} outputs, {bytes} bytes, checked: 0 leaked windows",
        values.len(),
        spellings("x").len(),
        files.len(),
        outputs.len()
    );
}
