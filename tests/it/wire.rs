//! Plain http:// requests go over reqtest's own connections
//! (src/execute/wire.rs), not reqwest's: they carry the headers reqwest
//! would add, bodies in every encoding reqwest decodes are decoded, a kept
//! connection is used again, one the server closed is replaced, and only an
//! idempotent request is sent again when its kept connection dies under it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const JSON: &[u8] = br#"{"n": 42, "s": "decoded"}"#;

/// A raw HTTP/1.1 server that keeps the head of every request it reads
/// and counts the connections it accepts.
struct Raw {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Raw {
    fn start() -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Raw {
            port,
            heads: Arc::default(),
            connections: Arc::default(),
            stop: Arc::default(),
        };
        let (heads, connections, stop) = (
            server.heads.clone(),
            server.connections.clone(),
            server.stop.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                let heads = heads.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &heads);
                });
            }
        });
        server
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    fn run(&self, requests: &str) -> (Option<i32>, String) {
        let dir =
            std::env::temp_dir().join(format!("reqtest-wire-{}-{}", std::process::id(), self.port));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        let yaml = format!(
            "name: wire\ndefaults:\n  base_url: http://127.0.0.1:{}\nrequests:\n{requests}",
            self.port
        );
        std::fs::write(&file, yaml).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_reqtest"))
            .arg("run")
            .arg(&file)
            .env("NO_COLOR", "1")
            // A proxy would take the requests off the wire.
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Answers requests on one connection until the client closes it; on
/// `/close/...` it closes the connection after its answer, without saying
/// so in a header, as a server whose keep-alive ran out does; on
/// `/stale/...` it reads the next request on the connection and closes it
/// without an answer, as one whose keep-alive ran out just then does.
fn serve(mut s: TcpStream, heads: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut answered_stale = false;
    loop {
        let head = crate::common::read_head(&mut s)?;
        if head.is_empty() {
            return Ok(());
        }
        if answered_stale {
            heads.lock().unwrap().push(head);
            return Ok(());
        }
        let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let mut body = vec![0; length];
        s.read_exact(&mut body)?;
        heads.lock().unwrap().push(head.clone());
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let encoding = path.rsplit('/').next().unwrap_or("");
        let encoded = encode(encoding, JSON);
        write!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            encoded.len()
        )?;
        if encoding != "identity" {
            write!(s, "content-encoding: {encoding}\r\n")?;
        }
        s.write_all(b"\r\n")?;
        s.write_all(&encoded)?;
        if path.starts_with("/close/") {
            return Ok(());
        }
        answered_stale = path.starts_with("/stale/");
    }
}

fn encode(encoding: &str, data: &[u8]) -> Vec<u8> {
    use flate2::write::{GzEncoder, ZlibEncoder};
    match encoding {
        "gzip" => {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            e.write_all(data).unwrap();
            drop(e);
            out
        }
        "zstd" => zstd::stream::encode_all(data, 3).unwrap(),
        _ => data.to_vec(),
    }
}

/// The value of header `name` in `head`, the first if it is there twice.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn count(head: &str, name: &str) -> usize {
    head.lines()
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
        .count()
}

fn decoded(name: &str, path: &str) -> String {
    format!(
        "  - name: {name}\n    url: {path}\n    expect:\n      status: 200\n      json:\n        $.n: 42\n        $.s: decoded\n"
    )
}

#[test]
fn bodies_in_every_encoding_are_decoded_over_one_kept_connection() {
    let server = Raw::start();
    let mut requests = String::new();
    for round in 0..2 {
        for encoding in ["gzip", "deflate", "br", "zstd", "identity"] {
            requests += &decoded(&format!("{encoding} {round}"), &format!("/json/{encoding}"));
        }
    }
    let (code, out) = server.run(&requests);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("10 passed"), "{out}");
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "the ten requests share one connection"
    );
    let heads = server.heads();
    assert_eq!(heads.len(), 10);
    let host = format!("127.0.0.1:{}", server.port);
    for head in &heads {
        assert!(head.starts_with("GET /json/"), "origin form: {head}");
        assert_eq!(header(head, "host"), Some(host.as_str()), "{head}");
        assert!(
            header(head, "user-agent").is_some_and(|v| v.starts_with("reqtest/")),
            "{head}"
        );
        assert_eq!(header(head, "accept"), Some("*/*"), "{head}");
        assert_eq!(
            header(head, "accept-encoding"),
            Some("zstd,gzip,deflate,br"),
            "{head}"
        );
    }
}

#[test]
fn headers_the_request_sets_win_and_a_body_is_sent_with_its_length() {
    let server = Raw::start();
    let requests = "  - name: own headers\n    method: POST\n    url: /json/identity?q=a%20b\n    headers:\n      Accept: application/json\n      Accept-Encoding: identity\n      User-Agent: mine/1\n    json: {\"k\": \"v\"}\n    expect:\n      status: 200\n";
    let (code, out) = server.run(requests);
    assert_eq!(code, Some(0), "{out}");
    let heads = server.heads();
    let own = &heads[0];
    assert!(
        own.starts_with("POST /json/identity?q=a%20b HTTP/1.1"),
        "{own}"
    );
    for (name, value) in [
        ("accept", "application/json"),
        ("accept-encoding", "identity"),
        ("user-agent", "mine/1"),
        ("content-length", "9"),
    ] {
        assert_eq!(header(own, name), Some(value), "{own}");
        assert_eq!(count(own, name), 1, "{name} once: {own}");
    }
}

#[test]
fn a_url_too_long_for_http_fails_instead_of_going_elsewhere() {
    let server = Raw::start();
    let long = "a".repeat(70_000);
    let (code, out) = server.run(&format!(
        "  - name: long\n    url: /json/identity?q={long}\n    expect:\n      status: 200\n"
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("too long"), "the cause is named: {out}");
    assert!(
        server.heads().is_empty(),
        "nothing was sent: {:?}",
        server.heads()
    );
}

#[test]
fn an_idempotent_request_is_sent_again_when_its_kept_connection_dies() {
    let server = Raw::start();
    let (code, out) =
        server.run(&(decoded("first", "/stale/gzip") + &decoded("again", "/stale/gzip")));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2, "{out}");
    let heads = server.heads();
    assert_eq!(heads.len(), 3, "the second request twice: {heads:?}");
}

#[test]
fn a_post_is_not_sent_again_when_its_kept_connection_dies() {
    let server = Raw::start();
    let post = "  - name: post\n    method: POST\n    url: /stale/identity\n    json: {\"order\": 1}\n    expect:\n      status: 200\n";
    let (code, out) = server.run(&(decoded("first", "/stale/gzip") + post));
    assert_eq!(code, Some(1), "{out}");
    // The server closes with the body unread: the client meets a reset.
    assert!(out.contains("/stale/identity: Connection reset"), "{out}");
    let posts = server
        .heads()
        .iter()
        .filter(|h| h.starts_with("POST"))
        .count();
    assert_eq!(posts, 1, "the POST went once");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn a_kept_connection_the_server_closed_is_replaced() {
    let server = Raw::start();
    let requests: String = (0..20)
        .map(|i| decoded(&format!("closing {i}"), "/close/gzip"))
        .collect();
    let (code, out) = server.run(&requests);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("20 passed"), "{out}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 20);
}
