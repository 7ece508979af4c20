//! reqtest's integration tests, as one test binary (one link, shared
//! helpers): every server they talk to is started by the tests on
//! 127.0.0.1, among them a real OpenID provider (tests/oidc) and a
//! deliberately misbehaving one.

mod common;

mod auth;
mod bridges;
mod cli;
mod contracts;
mod e2e;
mod errors;
mod faults;
mod flow;
mod html;
mod leaks;
mod oidc;
mod postman;
mod proxy;
mod redirects;
mod reports;
mod schema;
mod tags;
mod tls;
mod wire;
