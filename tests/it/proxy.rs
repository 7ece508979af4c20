//! Proxies through Debian's tinyproxy on 127.0.0.1: its log proves a
//! request went through it, or did not; its credentials never show.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::common::server;
use crate::common::text;

/// tinyproxy, stopped when dropped.
struct TinyProxy {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for TinyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TinyProxy {
    /// A proxy that asks for `user`/`password` when given.
    fn start(credentials: Option<(&str, &str)>) -> TinyProxy {
        let bin = "/usr/bin/tinyproxy";
        assert!(
            Path::new(bin).exists(),
            "the proxy tests need Debian's tinyproxy: apt-get install tinyproxy (see .ci/run)"
        );
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("reqtest-proxy-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let auth = credentials
            .map(|(u, p)| format!("BasicAuth {u} {p}\n"))
            .unwrap_or_default();
        let conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{d}/tinyproxy.log\"\nLogLevel Info\nPidFile \"{d}/tinyproxy.pid\"\nMaxClients 20\nAllow 127.0.0.1\nDisableViaHeader Yes\n{auth}",
            d = dir.display()
        );
        std::fs::write(dir.join("tinyproxy.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("tinyproxy.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tinyproxy starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "tinyproxy did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TinyProxy { child, dir, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }
}

/// Runs a one-request collection (`proxy` as its `defaults.proxy` YAML,
/// may be empty) getting `url`, with `args` and `env`.
fn run(dir: &Path, url: &str, proxy: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let defaults = if proxy.is_empty() {
        String::new()
    } else {
        format!("defaults:\n  proxy: {proxy}\n")
    };
    let yaml = format!(
        "name: p\n{defaults}requests:\n  - name: get\n    url: \"{url}\"\n    expect:\n      status: 200\n"
    );
    let file = dir.join("c.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_reqtest"));
    command
        .arg("run")
        .arg(&file)
        .args(args)
        .env("NO_COLOR", "1");
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied()).output().unwrap()
}

#[test]
fn a_request_goes_through_the_proxy_the_command_line_or_the_environment_names() {
    let api = server();
    let proxy = TinyProxy::start(None);
    let by_flag = format!("{}/json?via=flag", api.url);
    let out = run(&proxy.dir, &by_flag, "", &["--proxy", &proxy.url()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for (name, via) in [
        ("HTTP_PROXY", "upper"),
        ("http_proxy", "lower"),
        ("ALL_PROXY", "all"),
    ] {
        let url = format!("{}/json?via={via}", api.url);
        let out = run(&proxy.dir, &url, "", &[], &[(name, &proxy.url())]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
    }
    let by_file = format!("{}/json?via=file", api.url);
    let out = run(&proxy.dir, &by_file, &proxy.url(), &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = proxy.log();
    for via in ["flag", "upper", "lower", "all", "file"] {
        assert!(
            log.contains(&format!("GET {}/json?via={via} ", api.url)),
            "the proxy saw no request via {via}:\n{log}"
        );
    }
}

#[test]
fn no_proxy_hosts_go_direct() {
    let api = server();
    let proxy = TinyProxy::start(None);
    let url = format!("{}/json?via=direct-env", api.url);
    let env = [
        ("HTTP_PROXY", proxy.url()),
        ("NO_PROXY", "localhost,127.0.0.1".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(&proxy.dir, &url, "", &[], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let url = format!("{}/json?via=direct-flag", api.url);
    let out = run(
        &proxy.dir,
        &url,
        "",
        &["--proxy", &proxy.url(), "--noproxy", "127.0.0.1"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = proxy.log();
    assert!(
        !log.contains("via=direct"),
        "went through the proxy:\n{log}"
    );
}

#[test]
fn proxy_credentials_are_sent_and_never_shown() {
    let api = server();
    let password = "pr0xyS3cretValue9";
    let proxy = TinyProxy::start(Some(("tester", password)));
    let url = format!("{}/json?via=auth", api.url);
    let block = format!(
        "{{url: \"{}\", username: tester, password: \"{{{{ proxy_password }}}}\"}}",
        proxy.url()
    );
    let json = proxy.dir.join("r.json");
    let ok = run(
        &proxy.dir,
        &url,
        &block,
        &[
            "--var",
            &format!("proxy_password={password}"),
            "--verbose",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(proxy.log().contains("via=auth"), "{}", proxy.log());

    // A wrong password: tinyproxy answers 401 (407 is for none at all).
    let wrong = format!("http://tester:{password}wrong@127.0.0.1:{}", proxy.port);
    let refused = run(&proxy.dir, &url, "", &["--proxy", &wrong, "--verbose"], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("got 401"), "{}", text(&refused));

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("tester:{password}"));
    let report = std::fs::read_to_string(&json).unwrap();
    for shown in [text(&ok), text(&refused), report] {
        assert!(!shown.contains(password), "{shown}");
        assert!(!shown.contains(&basic[..basic.len() - 4]), "{shown}");
    }
}
