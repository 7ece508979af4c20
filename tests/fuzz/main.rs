//! A seeded mutation fuzzer over what reads untrusted input: the loader
//! (bytes → collection, through encodings and YAML), the resolve stage
//! (every template compiled and checked), templates rendered, the response
//! checks (arbitrary bytes as status, headers and body) and the masking of
//! shown text. A panic, or an input that takes more than a few seconds, is
//! a failure; the input is kept under `target/fuzz-findings/`. A crash
//! that cannot be caught (a stack overflow aborts the process) leaves its
//! input in `target/fuzz-current.bin`.
//!
//! `cargo test --test fuzz` runs a slice of ten seconds (CI does). By hand:
//! `FUZZ_INPUTS=1000000 cargo test --release --test fuzz` runs that many
//! inputs, shared between the targets; `FUZZ_SEED` picks another sequence.

mod mutate;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqtest::check::{self, Response};
use reqtest::execute::Exchange;
use reqtest::resolve::{Options, Plan};
use reqtest::secrets::{shown, Secrets};

use mutate::Mutator;

/// How many findings of each kind a target keeps.
const KEPT: u64 = 20;
/// An input slower than this is a finding.
const SLOW: Duration = Duration::from_secs(3);

struct Budget {
    inputs: Option<u64>,
    seconds: f64,
}

impl Budget {
    fn from_env() -> Budget {
        let get = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
        Budget {
            inputs: get("FUZZ_INPUTS").map(|n| n as u64),
            seconds: get("FUZZ_SECONDS").unwrap_or(10.0),
        }
    }
}

/// What one target found.
#[derive(Default)]
struct Tally {
    inputs: u64,
    panics: u64,
    slow: u64,
    slowest: Duration,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn keep(target: &str, kind: &str, n: u64, input: &[u8]) -> PathBuf {
    let dir = root().join("target/fuzz-findings");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{kind}-{n}.bin"));
    std::fs::write(&path, input).unwrap();
    path
}

/// The last panic's message, caught by a quiet hook.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Runs `one` on inputs made by `make` until the target's share of the
/// budget is spent; panics and slow inputs are counted and kept.
fn fuzz(
    target: &str,
    share: (Option<u64>, Duration),
    watchdog: &Arc<AtomicU64>,
    mut make: impl FnMut() -> Vec<u8>,
    one: impl Fn(&[u8]),
) -> Tally {
    let mut tally = Tally::default();
    let started = Instant::now();
    loop {
        let done = match share.0 {
            Some(n) => tally.inputs >= n,
            None => started.elapsed() >= share.1,
        };
        if done {
            return tally;
        }
        let input = make();
        std::fs::write(root().join("target/fuzz-current.bin"), &input).ok();
        watchdog.store(now_ms(), Ordering::SeqCst);
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| one(&input)));
        let took = t.elapsed();
        watchdog.store(0, Ordering::SeqCst);
        tally.inputs += 1;
        tally.slowest = tally.slowest.max(took);
        if result.is_err() {
            tally.panics += 1;
            let message = PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
            if tally.panics <= KEPT {
                let path = keep(target, "panic", tally.panics, &input);
                eprintln!(
                    "{target}: PANIC {}\n  input kept in {}",
                    message.unwrap_or_default(),
                    path.display()
                );
            }
        } else if took > SLOW {
            tally.slow += 1;
            if tally.slow <= KEPT {
                let path = keep(target, "slow", tally.slow, &input);
                eprintln!(
                    "{target}: an input took {took:?}, kept in {}",
                    path.display()
                );
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
}

/// Aborts the run when one input takes more than a minute (a hang), saying
/// where the input is.
fn start_watchdog() -> Arc<AtomicU64> {
    let since = Arc::new(AtomicU64::new(0));
    let watched = since.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let t = watched.load(Ordering::SeqCst);
        if t != 0 && now_ms().saturating_sub(t) > 60_000 {
            eprintln!(
                "fuzz: an input has run for a minute: a hang; it is in target/fuzz-current.bin"
            );
            std::process::exit(1);
        }
    });
    since
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for dir in ["collections", "tests/fuzz"] {
        let mut files: Vec<_> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        seeds.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    }
    seeds.push(b"requests:\n  - {name: r, url: /x, expect: {status: 200}}\n".to_vec());
    seeds
}

const TEMPLATES: &[&str] = &[
    "{{ base }}/user/{{ login }}",
    "{{ a | default('x') }}-{% if b is defined %}{{ b }}{% endif %}",
    "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ 'a:b' | b64encode }} {{ 'x y' | urlencode }} {{ n + 1 }} {{ l | tojson }}",
    "{{ now('%Y-%m-%d') }} {{ uuid() }} {{ random_int(1, 5) }} {{ basic_auth(login, 'pw') }}",
    "{{ env('HOME', default='h') }} {{ o.a.b }} {{ l[0] }} {{ s | upper | replace('a', 'b') }}",
    "{% set x = l | map('string') | join(',') %}{% for i in l %}{% set y = i * 2 %}{{ y }}{% endfor %}{{ x }}",
    "{% macro m(a) %}<{{ a }}>{% endmacro %}{{ m(login) }}",
];

fn template_target(input: &[u8], rng_seed: u64) {
    let src = String::from_utf8_lossy(input).into_owned();
    let at = reqtest::load::Pos::start("fuzz.yaml");
    let text = reqtest::load::Text {
        src: src.into(),
        at,
    };
    let mut templates = reqtest::resolve::Templates::new();
    if templates.compile_text(&text).is_ok() {
        let ctx = minijinja::context! {
            base => "http://x", login => "alice", n => rng_seed % 7, a => 1, b => "b",
            l => vec![1, 2, 3], o => minijinja::context! { a => minijinja::context! { b => 2 } }, s => "abc",
        };
        let _ = templates.render_text(&text, &ctx);
    }
}

fn load_target(input: &[u8]) {
    let Ok(text) = reqtest::load::decode("fuzz.yaml", input.to_vec()) else {
        return;
    };
    if let Ok(c) = reqtest::load::load_str("tests/fuzz/fuzz.yaml", &text) {
        let _ = reqtest::resolve::resolve(vec![c], &Options::default());
    }
}

const BODIES: &[&str] = &[
    r#"{"id":1,"name":"alice","tags":["a","b"],"owner":{"id":1,"name":"alice"},"price":9.5,"items":[{"id":1,"t":"x","at":"2024-01-01"},{"id":2,"t":"y"}],"when":"2024-05-01T10:00:00Z","access_token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln","deleted":null}"#,
    "<!DOCTYPE html><html><head><title>Error</title></head><body><p>id=12 state=open &amp; more</p></body></html>",
    "hello world, order id=12345; state=open",
    "\u{89}PNG\r\n\u{1a}\n\0\0\0\rIHDR",
    "[1,2,3]",
];

/// An exchange made of the input: a status, a few headers, the rest as
/// the body.
fn exchange(input: &[u8]) -> Exchange {
    let status = u16::from_le_bytes([
        input.first().copied().unwrap_or(200),
        input.get(1).copied().unwrap_or(0),
    ]);
    let status =
        reqwest::StatusCode::from_u16(100 + status % 500).unwrap_or(reqwest::StatusCode::OK);
    let mut headers = reqwest::header::HeaderMap::new();
    let split = input.iter().position(|&b| b == 0xFF).unwrap_or(0);
    for line in input[..split].split(|&b| b == b'\n') {
        let mut kv = line.splitn(2, |&b| b == b':');
        let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
            continue;
        };
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k),
            reqwest::header::HeaderValue::from_bytes(v.trim_ascii()),
        ) {
            headers.append(k, v);
        }
    }
    Exchange {
        method: reqwest::Method::POST,
        url: "http://127.0.0.1:9/items/2?q=alice".into(),
        request_headers: Default::default(),
        request_body: None,
        status,
        version: reqwest::Version::HTTP_11,
        headers,
        body: bytes::Bytes::copy_from_slice(&input[split.min(input.len())..]),
        duration: Duration::from_millis(input.len() as u64 % 3000),
        redirects: Vec::new(),
    }
}

fn check_target(plan: &Plan, input: &[u8]) {
    let pc = &plan.collections[0];
    let secrets = plan.templates.secrets();
    let ex = exchange(input);
    let mut vars = pc.vars.clone();
    for (k, v) in [
        ("id", "1"),
        ("raw", "r"),
        ("first", "{}"),
        ("code", "200"),
        ("order", "12"),
        ("token", "t"),
    ] {
        vars.insert(k.into(), minijinja::Value::from(v));
    }
    let ctx = minijinja::Value::from(vars);
    for request in &pc.collection.requests {
        let response = Response::new(&ex, secrets);
        let assertions = check::check(&response, &request.expect, &plan.templates, &ctx);
        let mut failures = check::failures(&assertions);
        if let Err(f) = check::capture(&response, &request.captures) {
            failures.push(f);
        }
        let _ = check::describe(&failures, &ex, secrets);
    }
    let _ = shown::body(secrets, &ex.body, ex.content_type(), 300);
}

/// Secrets made of the input's start, the text of the rest (mixed with
/// their spellings); the masked outputs must hold none of them.
fn mask_target(input: &[u8], rng: &mut StdRng) {
    let text = String::from_utf8_lossy(input);
    let mut chars = text.chars();
    let secrets = Secrets::new();
    let mut kept = Vec::new();
    for _ in 0..rng.random_range(1..4) {
        let n = rng.random_range(1..40);
        let s: String = chars.by_ref().take(n).collect();
        secrets.add(&s);
        kept.push(s);
    }
    let rest: String = chars.collect();
    let mut shown_text = rest.clone();
    for s in &kept {
        let at = rng.random_range(0..=shown_text.chars().count());
        let i = shown_text
            .char_indices()
            .nth(at)
            .map_or(shown_text.len(), |(i, _)| i);
        let spelled = match rng.random_range(0..3) {
            0 => s.clone(),
            1 => serde_json::to_string(s).unwrap(),
            _ => url::form_urlencoded::byte_serialize(s.as_bytes()).collect(),
        };
        shown_text.insert_str(i, &spelled);
    }
    let outputs = [
        secrets.redact(&shown_text).into_owned(),
        secrets.excerpt(&shown_text, rng.random_range(0..400)),
        secrets.mask_prefix(&shown_text, rng.random_range(0..400)).0,
        shown::body(&secrets, shown_text.as_bytes(), None, 300),
        secrets
            .mask_value(&serde_json::json!({"a": shown_text, "password": "x"}))
            .to_string(),
    ];
    for s in kept
        .iter()
        .filter(|s| s.chars().count() >= 8 && !s.contains(['*', '…']) && !s.trim().is_empty())
    {
        for out in &outputs {
            assert!(
                !out.contains(s.as_str()),
                "the secret {s:?} shows in {out:?}"
            );
        }
    }
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.to_string());
    }));
    std::env::set_current_dir(root()).unwrap();
    let budget = Budget::from_env();
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let watchdog = start_watchdog();
    let share = (
        budget.inputs.map(|n| n.div_ceil(4)),
        Duration::from_secs_f64(budget.seconds / 4.0),
    );
    let yaml = seeds();
    let kitchen = std::fs::read_to_string("tests/fuzz/kitchen.yaml").unwrap();
    let plan = reqtest::resolve::resolve(
        vec![reqtest::load::load_str("tests/fuzz/kitchen.yaml", &kitchen)
            .expect("the kitchen collection loads")],
        &Options::default(),
    )
    .expect("the kitchen collection resolves");

    let mut m = Mutator {
        rng: StdRng::seed_from_u64(seed),
    };
    let rng = Mutex::new(StdRng::seed_from_u64(seed ^ 0x5eed));
    let pick = |m: &mut Mutator, pool: &[Vec<u8>]| {
        let a = &pool[m.rng.random_range(0..pool.len())];
        let b = &pool[m.rng.random_range(0..pool.len())];
        m.mutate(a, b)
    };
    let templates: Vec<Vec<u8>> = TEMPLATES.iter().map(|t| t.as_bytes().to_vec()).collect();
    let bodies: Vec<Vec<u8>> = BODIES
        .iter()
        .map(|b| {
            let mut input = b"\xc8\x00content-type: application/json\netag: \"v1\"\nset-cookie: session=s1\n\xff".to_vec();
            input.extend_from_slice(b.as_bytes());
            input
        })
        .collect();
    let secret_texts: Vec<Vec<u8>> = yaml
        .iter()
        .map(|y| y[..y.len().min(2000)].to_vec())
        .collect();

    let started = Instant::now();
    let tallies = [
        (
            "load",
            fuzz(
                "load",
                share,
                &watchdog,
                || pick(&mut m, &yaml),
                load_target,
            ),
        ),
        ("templates", {
            let mut m2 = Mutator {
                rng: StdRng::seed_from_u64(seed + 1),
            };
            fuzz(
                "templates",
                share,
                &watchdog,
                || pick(&mut m2, &templates),
                |i| template_target(i, seed),
            )
        }),
        ("checks", {
            let mut m3 = Mutator {
                rng: StdRng::seed_from_u64(seed + 2),
            };
            fuzz(
                "checks",
                share,
                &watchdog,
                || pick(&mut m3, &bodies),
                |i| check_target(&plan, i),
            )
        }),
        ("masking", {
            let mut m4 = Mutator {
                rng: StdRng::seed_from_u64(seed + 3),
            };
            fuzz(
                "masking",
                share,
                &watchdog,
                || pick(&mut m4, &secret_texts),
                |i| mask_target(i, &mut rng.lock().unwrap_or_else(|e| e.into_inner())),
            )
        }),
    ];
    let mut failed = false;
    let total: u64 = tallies.iter().map(|(_, t)| t.inputs).sum();
    for (name, t) in &tallies {
        println!(
            "fuzz {name:<9} {:>9} inputs, {} panics, {} slow, slowest {:?}",
            t.inputs, t.panics, t.slow, t.slowest
        );
        failed |= t.panics > 0 || t.slow > 0;
    }
    println!(
        "fuzz total     {total:>9} inputs in {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_file(Path::new("target/fuzz-current.bin"));
    if failed {
        eprintln!("fuzz: findings are in target/fuzz-findings/");
        std::process::exit(1);
    }
}
