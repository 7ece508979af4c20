//! A deliberately misbehaving HTTP server, one test per fault: each fault
//! fails its test naming the URL and the cause, within the request's
//! timeout plus a second, in bounded memory, the later requests of the
//! collection are not run, and reqtest exits 1.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server that answers every request with the fault its path names.
struct Faulty {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Faulty {
    fn start() -> Faulty {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let flag = flag.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &flag);
                });
            }
        });
        Faulty { port, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Closes with a TCP reset rather than an orderly end.
fn reset(stream: TcpStream) {
    let _ = socket2_linger_zero(&stream);
    drop(stream);
}

fn socket2_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a properly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn chunk(stream: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    write!(stream, "{:x}\r\n", data.len())?;
    stream.write_all(data)?;
    stream.write_all(b"\r\n")
}

fn serve(mut s: TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
    let head = crate::common::read_head(&mut s)?;
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_string();
    let ok = |s: &mut TcpStream, ct: &str, body: &[u8]| -> std::io::Result<()> {
        write!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )?;
        s.write_all(body)
    };
    match path.as_str() {
        "/ok" => ok(&mut s, "application/json", b"{\"ok\":true}")?,
        "/reset-headers" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/pl")?;
            std::thread::sleep(Duration::from_millis(50));
            reset(s);
        }
        "/reset-body" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")?;
            s.write_all(&[b'x'; 100])?;
            std::thread::sleep(Duration::from_millis(50));
            reset(s);
        }
        "/silent" => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        "/trickle" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")?;
            while !stop.load(Ordering::SeqCst) {
                s.write_all(b"x")?;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        "/trickle-headers" => {
            for b in b"HTTP/1.1 200 OK\r\nx-slow: "
                .iter()
                .chain(std::iter::repeat(&b'a'))
            {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                s.write_all(&[*b])?;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        "/cl-long" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"a\":1}")?;
            s.shutdown(Shutdown::Write)?;
            std::thread::sleep(Duration::from_millis(200));
        }
        "/cl-short" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n{\"a\":1,\"b\":2}")?;
            s.shutdown(Shutdown::Write)?;
            std::thread::sleep(Duration::from_millis(200));
        }
        "/huge-declared" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n")?;
            let block = vec![b'x'; 1 << 16];
            for _ in 0..(1 << 14) {
                s.write_all(&block)?;
            }
        }
        "/huge" | "/endless" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")?;
            let block = vec![b'x'; 1 << 16];
            let blocks = if path == "/huge" { 1 << 14 } else { usize::MAX };
            for _ in 0..blocks {
                chunk(&mut s, &block)?;
            }
            s.write_all(b"0\r\n\r\n")?;
        }
        "/bomb" => {
            let body = gzip_bomb(256 << 20);
            write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )?;
            s.write_all(&body)?;
        }
        "/garbage-status" => s.write_all(b"HTTP/1.1 2OO FINE\r\ncontent-length: 0\r\n\r\n")?,
        "/many-headers" => {
            s.write_all(b"HTTP/1.1 200 OK\r\n")?;
            for i in 0..5000 {
                write!(s, "x-h{i}: {i}\r\n")?;
            }
            s.write_all(b"content-length: 0\r\n\r\n")?;
        }
        "/huge-header" => {
            s.write_all(b"HTTP/1.1 200 OK\r\nx-big: ")?;
            s.write_all(&vec![b'a'; 2 << 20])?;
            s.write_all(b"\r\ncontent-length: 0\r\n\r\n")?;
        }
        _ => ok(&mut s, "text/plain", b"unknown fault")?,
    }
    Ok(())
}

/// A gzip stream of `size` zero bytes in a few hundred KiB: one literal
/// then copies of 258 bytes at distance 1, in a fixed-Huffman deflate block
/// written bit by bit (so it costs nothing to make, even in a debug build).
fn gzip_bomb(size: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u64, bits: u32) {
            let reversed = (0..bits).fold(0, |r, i| r | ((code >> i) & 1) << (bits - 1 - i));
            self.put(reversed, bits);
        }
    }
    let mut b = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // last block
    b.put(1, 2); // fixed Huffman codes
    b.code(0x30, 8); // the literal 0
    for _ in 0..(size - 1) / 258 {
        b.code(0b1100_0101, 8); // length 258
        b.code(0, 5); // distance 1
    }
    b.code(0, 7); // end of block
    b.put(0, 7);
    b.out.extend_from_slice(&[0; 4]); // a CRC no reader gets to check
    b.out.extend_from_slice(&(size as u32).to_le_bytes());
    b.out
}

struct Run {
    code: Option<i32>,
    stdout: String,
    elapsed: Duration,
    peak_rss_mib: u64,
}

/// Starts a command from a small Python process that reports its peak
/// memory: a child forked straight from this test process (large, and
/// shared with every other test) would count this process's memory as its
/// own (Linux carries the memory in use at fork over exec).
const MEASURE: &str = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[1:])\n\
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
sys.exit(r.returncode)";

/// Runs the CLI on a collection of the fault then a request that must not
/// run; measures its time and its peak memory.
fn run_fault(name: &str, url: &str, extra: &str) -> Run {
    let dir = std::env::temp_dir().join(format!("reqtest-faults-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.yaml");
    let yaml = format!(
        "name: faults\nrequests:\n  - name: fault\n    url: \"{url}\"\n{extra}  - name: after\n    url: \"{url}\"\n"
    );
    std::fs::write(&file, yaml).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new("python3")
        .args(["-c", MEASURE, env!("CARGO_BIN_EXE_reqtest"), "run"])
        .arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .expect("python3 runs (Python 3 is needed to measure memory)");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib: u64 = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory reported: {stderr}"));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        elapsed,
        peak_rss_mib: kib / 1024,
    }
}

fn check(name: &str, path: &str, timeout: Duration, extra: &str, cause: &str, max_rss_mib: u64) {
    let server = Faulty::start();
    let url = if path == "/refused" {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}/refused")
    } else {
        server.url(path)
    };
    let extra = format!("    timeout: {}ms\n{extra}", timeout.as_millis());
    let run = run_fault(name, &url, &extra);
    eprintln!("{name}: {:?}, peak {} MiB", run.elapsed, run.peak_rss_mib);
    let out = &run.stdout;
    assert_eq!(run.code, Some(1), "{name}: {out}");
    assert!(
        out.contains(&format!("GET {url}: ")) || out.contains(&format!("request:  GET {url}")),
        "{name}: the URL is named:\n{out}"
    );
    assert!(
        out.contains(cause),
        "{name}: the cause `{cause}` is named:\n{out}"
    );
    assert!(
        out.contains("test faults::after ... ignored (not run: `fault` failed)"),
        "{name}: {out}"
    );
    assert!(
        run.elapsed <= timeout + Duration::from_secs(1),
        "{name}: took {:?} with a timeout of {timeout:?}",
        run.elapsed
    );
    assert!(
        run.peak_rss_mib <= max_rss_mib,
        "{name}: peak memory {} MiB, more than {max_rss_mib} MiB",
        run.peak_rss_mib
    );
}

const T: Duration = Duration::from_secs(2);
/// What a debug build of reqtest takes to run a small collection (about
/// 25 MiB), with room.
const BASE_MIB: u64 = 40;
/// The default body cap plus 32 MiB: what reading up to the cap may take.
const CAP_MIB: u64 = 64 + 32;

#[test]
fn a_refused_connection() {
    check("refused", "/refused", T, "", "could not connect", BASE_MIB);
}

#[test]
fn a_reset_in_the_middle_of_the_headers() {
    check(
        "reset-headers",
        "/reset-headers",
        T,
        "",
        "Connection reset by peer",
        BASE_MIB,
    );
}

#[test]
fn a_reset_in_the_middle_of_the_body() {
    check(
        "reset-body",
        "/reset-body",
        T,
        "",
        "could not read the response body",
        BASE_MIB,
    );
}

#[test]
fn a_silent_server() {
    check("silent", "/silent", T, "", "timed out after 2s", BASE_MIB);
}

#[test]
fn a_trickling_body() {
    check("trickle", "/trickle", T, "", "timed out after 2s", BASE_MIB);
}

#[test]
fn trickling_headers() {
    check(
        "trickle-headers",
        "/trickle-headers",
        T,
        "",
        "timed out after 2s",
        BASE_MIB,
    );
}

#[test]
fn a_content_length_longer_than_the_body() {
    check(
        "cl-long",
        "/cl-long",
        T,
        "",
        "could not read the response body",
        BASE_MIB,
    );
}

#[test]
fn a_content_length_shorter_than_the_body() {
    let expect = "    expect: {json: {$.b: 2}}\n";
    check(
        "cl-short",
        "/cl-short",
        T,
        expect,
        "the response body is not JSON",
        BASE_MIB,
    );
}

#[test]
fn a_huge_body_announced_by_its_length() {
    let cause = "the response body is larger than the 64 MiB cap (announced as 1073741824 bytes)";
    check("huge-declared", "/huge-declared", T, "", cause, BASE_MIB);
}

#[test]
fn a_huge_chunked_body_stops_at_the_cap() {
    let cause = "the response body is larger than the 64 MiB cap (still coming)";
    check("huge", "/huge", Duration::from_secs(20), "", cause, CAP_MIB);
}

#[test]
fn an_endless_body_stops_at_a_smaller_cap() {
    let cause = "the response body is larger than the 1 MiB cap";
    check(
        "endless",
        "/endless",
        T,
        "    max_body: 1MiB\n",
        cause,
        BASE_MIB,
    );
}

#[test]
fn a_compression_bomb_stops_at_the_cap_of_the_decoded_body() {
    let cause = "the response body is larger than the 64 MiB cap (still coming)";
    check("bomb", "/bomb", Duration::from_secs(20), "", cause, CAP_MIB);
}

#[test]
fn a_garbage_status_line() {
    check(
        "garbage-status",
        "/garbage-status",
        T,
        "",
        "invalid HTTP status",
        BASE_MIB,
    );
}

#[test]
fn thousands_of_headers() {
    check(
        "many-headers",
        "/many-headers",
        T,
        "",
        "message head is too large",
        BASE_MIB,
    );
}

#[test]
fn a_huge_header() {
    check(
        "huge-header",
        "/huge-header",
        T,
        "",
        "message head is too large",
        BASE_MIB,
    );
}

/// Runs a collection that needs auth `auth` (YAML) and returns its output
/// and how long it took.
fn run_auth(name: &str, auth: &str) -> (String, Duration) {
    let dir = std::env::temp_dir().join(format!("reqtest-faults-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.yaml");
    std::fs::write(
        &file,
        format!("name: faults\n{auth}requests:\n  - name: r\n    url: http://127.0.0.1:9/\n"),
    )
    .unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .args(["run", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn every_network_step_of_an_auth_honours_its_timeout_then_the_collections() {
    let server = Faulty::start();
    let cases = [
        (
            "token",
            format!("auth:\n  type: client_credentials\n  token_url: {}\n  client_id: x\n  timeout: 1s\n", server.url("/trickle")),
            format!("auth `default`: POST {}: timed out after 1s", server.url("/trickle")),
        ),
        (
            "login",
            format!("defaults: {{timeout: 1s}}\nauth:\n  type: authorization_code\n  authorize_url: {}\n  token_url: {}\n  client_id: x\n  redirect_uri: http://127.0.0.1:9/cb\n  username: someone\n  password: a-password\n", server.url("/silent"), server.url("/ok")),
            format!("auth `default`: GET {}: timed out after 1s", server.url("/silent")),
        ),
        (
            "request",
            format!("auth:\n  type: request\n  timeout: 1s\n  request: {{method: POST, url: \"{}\"}}\n  token: $.t\n", server.url("/trickle-headers")),
            format!("auth `default`: POST {}: timed out after 1s", server.url("/trickle-headers")),
        ),
    ];
    for (name, auth, wanted) in cases {
        let (out, took) = run_auth(name, &auth);
        assert!(out.contains(&wanted), "{name}: {out}");
        assert!(took < Duration::from_secs(2), "{name}: took {took:?}");
    }
}
