//! The HTML report as a person sees it: Debian's Chromium loads the file
//! from disk, headless, and the test reads the page it rendered.

use std::path::Path;
use std::process::Command;

use crate::common::{server, write_collection};

fn chromium() -> &'static str {
    let bin = "/usr/bin/chromium";
    assert!(
        Path::new(bin).exists(),
        "the HTML report test needs Debian's Chromium: apt-get install chromium (see .ci/run)"
    );
    bin
}

/// The page as Chromium renders it (scripts run), its DOM serialised.
fn rendered(file: &Path) -> String {
    let profile = file.with_extension("profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_shows_counts_timelines_and_failures_masked() {
    let api = server();
    let yaml = r#"name: shop
secrets: [api_key]
vars: {api_key: sk-html-0123456789abcdef}
tags: [smoke]
requests:
  - name: list items
    url: "{{ base }}/json"
  - name: echo the key
    url: "{{ base }}/echo?key={{ api_key }}"
    expect: {status: 201}
  - name: after the failure
    url: "{{ base }}/json"
"#;
    let path = write_collection(yaml);
    let html = path.with_extension("html");
    let out = Command::new(env!("CARGO_BIN_EXE_reqtest"))
        .arg("run")
        .arg(&path)
        .args(["--var", &format!("base={}", api.url), "--html"])
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let file = std::fs::read_to_string(&html).unwrap();
    assert!(
        !file.contains("sk-html-0123456789abcdef"),
        "the key is in the file"
    );
    assert!(
        !file.contains("src=\"http") && !file.contains("href=\"http"),
        "nothing fetched"
    );
    let dom = rendered(&html);
    assert!(dom.contains(r#"<b id="passed">1</b>"#), "{dom}");
    assert!(dom.contains(r#"<b id="failed">1</b>"#), "{dom}");
    assert!(dom.contains(r#"<b id="not_run">1</b>"#), "{dom}");
    assert!(
        dom.contains(r#"data-name="shop::list items""#),
        "a timeline row: {dom}"
    );
    assert!(dom.contains(r#"data-name="shop::echo the key""#), "{dom}");
    assert!(
        dom.contains("status: expected 201, got 200"),
        "the failure's message: {dom}"
    );
    assert!(dom.contains("Failures (1)"), "{dom}");
    assert!(
        !dom.contains("sk-html-0123456789abcdef"),
        "the key on the page"
    );
    assert!(dom.contains("key=***"), "masked, not dropped: {dom}");
}
