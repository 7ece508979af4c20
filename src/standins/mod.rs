//! Local stand-ins for the REST APIs our users test: Pydio Cells, CNES
//! REGARDS and Nextome, answering like the real ones as far as their public
//! documents and code show (paths, JSON shapes, error bodies, quirks).
//! They listen on 127.0.0.1 with ephemeral ports and stop when dropped.
//!
//! They are no part of the load → report pipeline: only entry points (the
//! `demo` command, the bundled tests) start them.

// Handlers return their error response early; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod cells;
mod nextome;
mod regards;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value as Json;

pub use tokens::Stats;

/// How the stand-ins issue tokens. The default is each system's own
/// lifetimes; tests shorten them to see tokens expire during a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    /// How long every token really lives.
    pub token_lifetime: Option<Duration>,
    /// What token responses say about it (default: the truth). Saying more
    /// than the truth makes a server reject a token its client believes
    /// fresh, as after a revocation.
    pub advertised_lifetime: Option<Duration>,
}

impl Config {
    fn lifetime(&self, native: Duration) -> Duration {
        self.token_lifetime.unwrap_or(native)
    }

    fn advertised(&self, native: Duration) -> Duration {
        self.advertised_lifetime.unwrap_or(self.lifetime(native))
    }
}

/// Credentials the stand-ins accept. They are fixtures, not secrets: the
/// bundled collections' `standin` environment uses them.
pub mod credentials {
    /// Cells' OAuth2 client: (id, secret).
    pub const CELLS_CLIENT: (&str, &str) = ("cells-front", "cells-front");
    /// The Cells user: (login, password).
    pub const CELLS_USER: (&str, &str) = ("admin", "cells-admin-pw");
    /// REGARDS' OAuth2 client: (id, secret).
    pub const REGARDS_CLIENT: (&str, &str) = ("client", "secret");
    /// The REGARDS user: (email, password).
    pub const REGARDS_USER: (&str, &str) = ("user@regards.fr", "regards-password");
    /// The REGARDS project, given as the token request's `scope`.
    pub const REGARDS_TENANT: &str = "project1";
    /// Nextome's app client: (id, secret).
    pub const NEXTOME_CLIENT: (&str, &str) = ("97sv0tntua35arne6uo30614r9", "nextome-demo-secret");
}

/// The three stand-ins, running until this is dropped.
pub struct StandIns {
    /// Where the Cells stand-in listens.
    pub cells: SocketAddr,
    /// Where the REGARDS stand-in listens.
    pub regards: SocketAddr,
    /// Where the Nextome stand-in listens.
    pub nextome: SocketAddr,
    /// What they did, counted across the three.
    pub stats: Arc<Stats>,
    _servers: ServerThread,
}

impl StandIns {
    /// Starts the three servers on their own thread.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(Config::default())
    }

    /// Starts the three servers on their own thread, issuing tokens as
    /// `config` says.
    pub fn start_with(config: Config) -> std::io::Result<Self> {
        let stats = Arc::new(Stats::default());
        let shared = stats.clone();
        let (servers, (cells, regards, nextome)) = ServerThread::spawn(move |stop| async move {
            Ok((
                serve(cells::router(config, shared.clone()), stop.clone()).await?,
                serve(regards::router(config, shared.clone()), stop.clone()).await?,
                serve(nextome::router(config, shared), stop).await?,
            ))
        })?;
        Ok(StandIns {
            cells,
            regards,
            nextome,
            stats,
            _servers: servers,
        })
    }

    /// The variables the bundled collections' `standin` environment reads.
    pub fn vars(&self) -> IndexMap<String, Json> {
        [
            ("cells_url", self.cells),
            ("regards_url", self.regards),
            ("nextome_url", self.nextome),
        ]
        .into_iter()
        .map(|(name, addr)| (name.to_string(), Json::from(format!("http://{addr}"))))
        .collect()
    }
}

/// Servers running on a thread of their own (a current-thread runtime),
/// stopped and joined when this is dropped.
pub struct ServerThread {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    /// Runs `start` on the new thread; what it returns (the bound addresses)
    /// comes back here once the servers listen. The servers get `stop`.
    pub fn spawn<T, F>(
        start: impl FnOnce(tokio::sync::watch::Receiver<bool>) -> F + Send + 'static,
    ) -> std::io::Result<(Self, T)>
    where
        T: Send + 'static,
        F: std::future::Future<Output = std::io::Result<T>>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("reqtest-servers".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let started = start(stop_rx.clone()).await;
                    let failed = started.is_err();
                    let _ = ready_tx.send(started);
                    if !failed {
                        let mut stop = stop_rx;
                        let _ = stop.wait_for(|s| *s).await;
                    }
                });
            })?;
        let value = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the server thread stopped while starting"))??;
        Ok((
            ServerThread {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            value,
        ))
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds 127.0.0.1 on an ephemeral port and serves `router` until `stop`.
pub async fn serve(
    router: axum::Router,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let mut stop = stop;
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok(addr)
}
