//! reqtest runs declarative API tests written in YAML and reports each
//! request as a test.
//!
//! Data flows one way, one module per stage:
//! [`load`] (YAML → typed model) → [`resolve`] (environment, variables,
//! templates) → [`execute`] (HTTP) → [`check`] (assertions, captures) →
//! [`run`] (ordering, events) → [`report`] (libtest-mimic).
//!
//! A user's own crate runs its collections as tests with a `harness = false`
//! test target whose `main` is one line:
//!
//! ```no_run
//! // tests/api.rs, with `harness = false` for it in Cargo.toml:
//! // fn main() { reqtest::test_main(["tests/api"]) }
//! reqtest::test_main(["tests/api"])
//! ```

pub mod bridge;
pub mod check;
pub mod execute;
pub mod load;
pub mod report;
pub mod resolve;
pub mod run;
pub mod secrets;
pub mod standins;

pub use report::{test_main, Suite};
