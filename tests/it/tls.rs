//! TLS against Debian's nginx on 127.0.0.1: certificates made here (a
//! private CA, a good server certificate, an expired one, one for another
//! name, a self-signed one, a client certificate), each failure told in
//! words, and every way to trust a CA or show a client certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::common::text;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A CA certificate with its key.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A leaf certificate for `names`, valid in `years` (from, to).
    fn issue(&self, names: &[&str], years: (i32, i32), client: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        params
            .distinguished_name
            .push(DnType::CommonName, "reqtest test");
        if client {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

const VALID: (i32, i32) = (2020, 2090);
const EXPIRED: (i32, i32) = (2020, 2021);

/// nginx serving one TLS virtual host per kind of certificate; stopped
/// when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
    /// good, expired, wrong name, self-signed, client certificate
    /// required, plain HTTP/2 (h2c)
    ports: [u16; 6],
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nginx_binary() -> &'static str {
    let bin = "/usr/sbin/nginx";
    assert!(
        Path::new(bin).exists(),
        "the TLS tests need Debian's nginx: apt-get install nginx (see .ci/run)"
    );
    bin
}

/// The PKI of a test run: written once into `dir`.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn make(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let ca = Ca::new("reqtest test CA");
        let client_ca = Ca::new("reqtest client CA");
        let write = |name: &str, (cert, key): (String, String)| {
            std::fs::write(dir.join(format!("{name}.pem")), cert).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), key).unwrap();
        };
        std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.join("client-ca.pem"), client_ca.cert.pem()).unwrap();
        write("good", ca.issue(&["localhost", "127.0.0.1"], VALID, false));
        write(
            "expired",
            ca.issue(&["localhost", "127.0.0.1"], EXPIRED, false),
        );
        write(
            "wrong",
            ca.issue(&["api.example.org", "www.example.org"], VALID, false),
        );
        // Self-signed: the leaf signs itself, as `openssl req -x509` makes it.
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "self-signed");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        write("self", (cert.pem(), key.serialize_pem()));
        write("client", client_ca.issue(&["client"], VALID, true));
        write(
            "stranger",
            Ca::new("other CA").issue(&["client"], VALID, true),
        );
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn server_block(port: u16, cert: &str, dir: &Path, extra: &str) -> String {
    format!(
        r#"  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {d}/{cert}.pem;
    ssl_certificate_key {d}/{cert}.key;
    {extra}
    location /json {{ default_type application/json; return 200 '{{"ok": true, "server": "{cert}"}}'; }}
    location / {{ return 404; }}
  }}
"#,
        d = dir.display()
    )
}

impl Nginx {
    fn start(pki: &Pki) -> Nginx {
        let bin = nginx_binary();
        let dir = pki.dir.clone();
        // Held open together, so that no two are the same.
        let held: Vec<std::net::TcpListener> = (0..6)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: [u16; 6] = std::array::from_fn(|i| held[i].local_addr().unwrap().port());
        drop(held);
        let mtls = format!(
            "ssl_client_certificate {}/client-ca.pem; ssl_verify_client on;",
            dir.display()
        );
        let servers = [
            server_block(ports[0], "good", &dir, ""),
            server_block(ports[1], "expired", &dir, ""),
            server_block(ports[2], "wrong", &dir, ""),
            server_block(ports[3], "self", &dir, ""),
            server_block(ports[4], "good", &dir, &mtls),
            format!(
                "  server {{\n    listen 127.0.0.1:{} http2;\n    location /json {{ default_type application/json; return 200 '{{\"ok\": true}}'; }}\n  }}\n",
                ports[5]
            ),
        ]
        .concat();
        let d = dir.display();
        let conf = format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{servers}}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(bin)
            .args(["-p", &dir.display().to_string(), "-c"])
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off; master_process off;"])
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx { child, dir, ports };
        nginx.wait_ready();
        nginx
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        for port in self.ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "nginx did not listen on {port}: {}",
                    std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn url(&self, which: usize, host: &str) -> String {
        format!("https://{host}:{}", self.ports[which])
    }
}

/// A PKI and an nginx of the test's own (stopped when it ends: a server
/// shared by the module would outlive the test process).
fn setup() -> (Pki, Nginx) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("reqtest-tls-{}-{n}", std::process::id()));
    let pki = Pki::make(&dir);
    let nginx = Nginx::start(&pki);
    (pki, nginx)
}

const GOOD: usize = 0;
const EXPIRED_HOST: usize = 1;
const WRONG_NAME: usize = 2;
const SELF_SIGNED: usize = 3;
const MTLS: usize = 4;
const H2C: usize = 5;

/// Runs a one-request collection against `url` with `tls` as its
/// `defaults.tls` block (YAML lines, may be empty) and `args`.
fn run(pki: &Pki, url: &str, tls: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let defaults = if tls.is_empty() {
        String::new()
    } else {
        format!(
            "defaults:\n  tls:\n{}",
            tls.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        )
    };
    let yaml = format!(
        "name: tls\n{defaults}requests:\n  - name: get\n    url: {url}/json\n    expect:\n      status: 200\n      json:\n        $.ok: true\n"
    );
    let file = pki.dir.join(format!("c-{}.yaml", free_port()));
    std::fs::write(&file, yaml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&file)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn passes(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
}

#[test]
fn a_server_signed_by_an_unknown_ca_says_which_option_trusts_it() {
    let (pki, nginx) = setup();
    let out = run(&pki, &nginx.url(GOOD, "localhost"), "", &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "the certificate of localhost:{} is self-signed or signed by a CA this machine does not trust: trust its CA with --cacert FILE, `defaults.tls.ca_cert` or SSL_CERT_FILE, or skip the check with --insecure",
            nginx.ports[GOOD]
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn a_self_signed_server_is_named_as_such() {
    let (pki, nginx) = setup();
    let out = run(&pki, &nginx.url(SELF_SIGNED, "localhost"), "", &[], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "the certificate of localhost:{} is self-signed",
            nginx.ports[SELF_SIGNED]
        )),
        "{all}"
    );
}

#[test]
fn a_certificate_for_another_name_lists_the_names_it_holds() {
    let (pki, nginx) = setup();
    let out = run(
        &pki,
        &nginx.url(WRONG_NAME, "localhost"),
        "",
        &["--cacert", &pki.path("ca.pem")],
        &[],
    );
    let all = text(&out);
    assert!(
        all.contains(&format!(
            "the certificate of localhost:{} is for `api.example.org`, `www.example.org`, not for localhost:{}",
            nginx.ports[WRONG_NAME], nginx.ports[WRONG_NAME]
        )),
        "{all}"
    );
}

#[test]
fn an_expired_certificate_gives_its_date() {
    let (pki, nginx) = setup();
    let out = run(
        &pki,
        &nginx.url(EXPIRED_HOST, "127.0.0.1"),
        "",
        &["--cacert", &pki.path("ca.pem")],
        &[],
    );
    let all = text(&out);
    assert!(
        all.contains(&format!(
            "the certificate of 127.0.0.1:{} expired on 2021-01-01 00:00:00 UTC",
            nginx.ports[EXPIRED_HOST]
        )),
        "{all}"
    );
}

#[test]
fn a_private_ca_is_trusted_by_cacert_ssl_cert_file_or_the_collection() {
    let (pki, nginx) = setup();
    let url = nginx.url(GOOD, "localhost");
    passes(&run(
        &pki,
        &url,
        "",
        &["--cacert", &pki.path("ca.pem")],
        &[],
    ));
    passes(&run(
        &pki,
        &url,
        "",
        &[],
        &[("SSL_CERT_FILE", &pki.path("ca.pem"))],
    ));
    let only_ca = pki.dir.join("cert-dir");
    std::fs::create_dir_all(&only_ca).unwrap();
    std::fs::copy(pki.dir.join("ca.pem"), only_ca.join("ca.pem")).unwrap();
    passes(&run(
        &pki,
        &url,
        "",
        &[],
        &[("SSL_CERT_DIR", only_ca.to_str().unwrap())],
    ));
    // Relative to the collection file, and a template an environment sets.
    passes(&run(&pki, &url, "ca_cert: ca.pem", &[], &[]));
    passes(&run(
        &pki,
        &url,
        "ca_cert: \"{{ ca }}\"",
        &["--var", "ca=ca.pem"],
        &[],
    ));
    // The command line wins over the collection.
    let out = run(
        &pki,
        &url,
        "ca_cert: missing.pem",
        &["--cacert", &pki.path("ca.pem")],
        &[],
    );
    passes(&out);
}

#[test]
fn insecure_skips_the_check_with_one_loud_warning_and_marked_reports() {
    let (pki, nginx) = setup();
    let json = pki.dir.join("insecure.json");
    let junit = pki.dir.join("insecure.xml");
    let out = run(
        &pki,
        &nginx.url(SELF_SIGNED, "localhost"),
        "",
        &[
            "-k",
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[],
    );
    passes(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches("WARNING: TLS certificates are not checked")
            .count(),
        1,
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["tls_insecure"], true);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<property name="reqtest.tls.insecure" value="true"/>"#),
        "{xml}"
    );
    // The same from the collection.
    let out = run(
        &pki,
        &nginx.url(WRONG_NAME, "localhost"),
        "insecure: true",
        &[],
        &[],
    );
    passes(&out);
    assert!(text(&out).contains("WARNING: TLS certificates are not checked"));
}

#[test]
fn a_client_certificate_opens_a_server_that_requires_one() {
    let (pki, nginx) = setup();
    let url = nginx.url(MTLS, "localhost");
    let ca = pki.path("ca.pem");
    passes(&run(
        &pki,
        &url,
        "",
        &[
            "--cacert",
            &ca,
            "--cert",
            &pki.path("client.pem"),
            "--key",
            &pki.path("client.key"),
        ],
        &[],
    ));
    passes(&run(
        &pki,
        &url,
        "ca_cert: ca.pem\nclient_cert: client.pem\nclient_key: client.key",
        &[],
        &[],
    ));
    // Without one, or with one from a CA nginx does not know: nginx answers 400.
    let all = text(&run(&pki, &url, "ca_cert: ca.pem", &[], &[]));
    assert!(
        all.contains("No required SSL certificate was sent"),
        "{all}"
    );
    let all = text(&run(
        &pki,
        &url,
        "ca_cert: ca.pem\nclient_cert: stranger.pem\nclient_key: stranger.key",
        &[],
        &[],
    ));
    assert!(all.contains("The SSL certificate error"), "{all}");
}

#[test]
fn unusable_certificate_files_are_bad_input_with_their_place() {
    let (pki, nginx) = setup();
    let url = nginx.url(GOOD, "localhost");
    let out = run(&pki, &url, "ca_cert: nowhere.pem", &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(":4:5: cannot read") && all.contains("nowhere.pem"),
        "{all}"
    );
    let out = run(&pki, &url, "ca_cert: client.key", &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no PEM certificate in it"),
        "{}",
        text(&out)
    );
    let out = run(&pki, &url, "", &["--cert", &pki.path("client.pem")], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--cert") && text(&out).contains("no private key"),
        "{}",
        text(&out)
    );
}

/// Runs `yaml` (a whole collection, written next to the PKI) with `args`.
fn run_yaml(pki: &Pki, yaml: &str, args: &[&str]) -> Output {
    let file = pki.dir.join(format!("v-{}.yaml", free_port()));
    std::fs::write(&file, yaml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&file)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn http2_is_negotiated_over_tls_and_a_version_can_be_asked_for_and_asserted() {
    let (pki, nginx) = setup();
    let tls = nginx.url(GOOD, "localhost");
    let h2c = format!("http://127.0.0.1:{}", nginx.ports[H2C]);
    let yaml = format!(
        r#"name: versions
defaults:
  tls: {{ca_cert: ca.pem}}
requests:
  - name: alpn
    url: {tls}/json
    expect: {{status: 200, http_version: "2"}}
  - name: one-one
    url: {tls}/json
    http_version: "1.1"
    expect: {{status: 200, http_version: "1.1"}}
  - name: prior-knowledge
    url: {h2c}/json
    http_version: 2
    expect: {{status: 200, http_version: "2"}}
"#
    );
    let json = pki.dir.join("versions.json");
    let out = run_yaml(
        &pki,
        &yaml,
        &["--json", json.to_str().unwrap(), "--verbose"],
    );
    passes(&out);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let versions: Vec<&str> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["http_version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2", "1.1", "2"]);
    assert!(text(&out).contains("< HTTP/2 200"), "{}", text(&out));

    let wrong = format!(
        "name: wrong\ndefaults:\n  tls: {{ca_cert: ca.pem}}\nrequests:\n  - name: r\n    url: {tls}/json\n    expect: {{http_version: \"1.1\"}}\n"
    );
    let out = run_yaml(&pki, &wrong, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(":7:14: http_version: expected HTTP/1.1, the response came in HTTP/2"),
        "{}",
        text(&out)
    );
}

/// `client.pem` and `client.key` as a PKCS#12 archive, as `openssl pkcs12
/// -export` makes it (modern, or `-legacy` RC2/3DES for older tools).
#[cfg(feature = "pkcs12")]
fn export_pkcs12(pki: &Pki, password: &str, legacy: bool) -> String {
    let out = pki
        .dir
        .join(if legacy { "legacy.p12" } else { "client.p12" });
    let mut command = Command::new("openssl");
    command
        .args(["pkcs12", "-export", "-in"])
        .arg(pki.path("client.pem"));
    command.arg("-inkey").arg(pki.path("client.key"));
    command.arg("-out").arg(&out);
    command.arg("-passout").arg(format!("pass:{password}"));
    if legacy {
        command.arg("-legacy");
    }
    let status = command
        .status()
        .expect("the PKCS#12 test needs the openssl command: apt-get install openssl");
    assert!(status.success());
    out.file_name().unwrap().to_string_lossy().into_owned()
}

#[cfg(feature = "pkcs12")]
#[test]
fn a_pkcs12_client_certificate_with_its_password_opens_the_server() {
    let (pki, nginx) = setup();
    let url = nginx.url(MTLS, "localhost");
    let password = "p12-Secret-9f3";
    for legacy in [false, true] {
        let file = export_pkcs12(&pki, password, legacy);
        let tls = format!("ca_cert: ca.pem\npkcs12: {file}\npassword: \"{{{{ p12_password }}}}\"");
        let out = run(
            &pki,
            &url,
            &tls,
            &["--var", &format!("p12_password={password}")],
            &[],
        );
        passes(&out);
        let wrong = run(&pki, &url, &tls, &["--var", "p12_password=nope"], &[]);
        assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
        let all = text(&wrong);
        assert!(all.contains("cannot open the PKCS#12 file"), "{all}");
        assert!(!text(&out).contains(password) && !all.contains(password));
    }
}

#[test]
fn an_auth_can_trust_its_own_ca_for_its_token_endpoint() {
    let (pki, nginx) = setup();
    let api = crate::common::server();
    let collection = |auth_tls: &str| {
        format!(
            r#"name: auth-tls
auth:
  type: request
  request: {{url: "{token}/json"}}
  token: $.server
{auth_tls}requests:
  - name: r
    url: {api}/echo
    expect:
      json: {{$.headers.authorization: Bearer good}}
"#,
            token = nginx.url(GOOD, "localhost"),
            api = api.url,
        )
    };
    let out = run_yaml(&pki, &collection("  tls: {ca_cert: ca.pem}\n"), &[]);
    passes(&out);
    let out = run_yaml(&pki, &collection(""), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("is self-signed or signed by a CA this machine does not trust"),
        "{}",
        text(&out)
    );
}
