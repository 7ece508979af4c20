//! reqtest runs declarative API tests written in YAML and reports each
//! request as a test.
//!
//! Data flows one way, one module per stage:
//! [`load`] (YAML → typed model) → [`resolve`] (environment, variables,
//! templates) → [`execute`] (HTTP) → [`check`] (assertions, captures) →
//! [`run`] (ordering, events) → [`report`] (console, JUnit, JSON); [`app`]
//! joins them for the command line and a user's `harness = false` test.
//!
//! A user's own crate runs its collections as tests with a `harness = false`
//! test target whose `main` is one line:
//!
//! ```no_run
//! // tests/api.rs, with `harness = false` for it in Cargo.toml:
//! // fn main() { reqtest::test_main(["tests/api"]) }
//! reqtest::test_main(["tests/api"])
//! ```

#![warn(missing_docs)]

pub mod app;
pub mod bridge;
pub mod check;
pub mod exchange;
pub mod execute;
pub mod load;
pub mod report;
pub mod resolve;
pub mod run;
pub mod secrets;
/// The built-in stand-ins for Cells, REGARDS and Nextome, for the demo and
/// tests; a crate that only runs its own collections can leave them out
/// with `default-features = false`.
#[cfg(feature = "standins")]
pub mod standins;

pub use app::{test_main, Suite};

/// The direction of flow, checked: a stage uses only the stages before it
/// and the leaves below all of them.
#[cfg(test)]
mod layers {
    use std::path::Path;

    /// Each module and the modules it may use.
    const ALLOWED: &[(&str, &[&str])] = &[
        ("secrets", &[]),
        ("exchange", &[]),
        ("standins", &[]),
        ("load", &[]),
        ("resolve", &["load", "secrets"]),
        ("execute", &["exchange", "load", "resolve", "secrets"]),
        ("check", &["exchange", "load", "resolve", "secrets"]),
        (
            "run",
            &["check", "exchange", "execute", "load", "resolve", "secrets"],
        ),
        ("report", &["exchange", "load", "resolve", "run", "secrets"]),
        (
            "bridge",
            &["exchange", "execute", "load", "resolve", "secrets"],
        ),
        (
            "app",
            &[
                "bridge", "check", "exchange", "execute", "load", "report", "resolve", "run",
                "secrets", "standins",
            ],
        ),
    ];

    fn files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                files(&entry.unwrap().path(), out);
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
    }

    #[test]
    fn no_stage_uses_a_later_one() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut modules: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .filter(|m| m != "lib" && m != "main")
            .collect();
        modules.sort();
        let mut wrong = Vec::new();
        for module in &modules {
            let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| m == module) else {
                wrong.push(format!(
                    "module `{module}` has no place in the layers: add it to ALLOWED"
                ));
                continue;
            };
            let mut paths = Vec::new();
            files(&src.join(module), &mut paths);
            files(&src.join(format!("{module}.rs")), &mut paths);
            for path in paths {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    for used in line.split("crate::").skip(1) {
                        let used: String = used
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if used != *module
                            && !allowed.contains(&used.as_str())
                            && modules.contains(&used)
                        {
                            wrong.push(format!(
                                "{}:{}: `{module}` uses `{used}`",
                                path.display(),
                                n + 1
                            ));
                        }
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "a stage may use only those before it:\n{}",
            wrong.join("\n")
        );
    }
}
