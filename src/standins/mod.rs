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

use indexmap::IndexMap;
use serde_json::Value as Json;

pub use tokens::Tokens;

/// Credentials the stand-ins accept. They are fixtures, not secrets: the
/// bundled collections' `standin` environment uses them.
pub mod credentials {
    pub const CELLS_CLIENT: (&str, &str) = ("cells-front", "cells-front");
    pub const CELLS_USER: (&str, &str) = ("admin", "admin");
    pub const REGARDS_CLIENT: (&str, &str) = ("client", "secret");
    pub const REGARDS_USER: (&str, &str) = ("user@regards.fr", "regards-password");
    pub const REGARDS_TENANT: &str = "project1";
    pub const NEXTOME_CLIENT: (&str, &str) = ("97sv0tntua35arne6uo30614r9", "nextome-demo-secret");
}

pub struct StandIns {
    pub cells: SocketAddr,
    pub regards: SocketAddr,
    pub nextome: SocketAddr,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StandIns {
    /// Starts the three servers on their own thread.
    pub fn start() -> std::io::Result<Self> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("reqtest-standins".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let bound = async {
                        Ok::<_, std::io::Error>((
                            serve(cells::router(), stop_rx.clone()).await?,
                            serve(regards::router(), stop_rx.clone()).await?,
                            serve(nextome::router(), stop_rx.clone()).await?,
                        ))
                    }
                    .await;
                    let failed = bound.is_err();
                    let _ = addr_tx.send(bound);
                    if failed {
                        return;
                    }
                    let mut stop = stop_rx;
                    let _ = stop.wait_for(|s| *s).await;
                });
            })?;
        let (cells, regards, nextome) = addr_rx
            .recv()
            .map_err(|_| std::io::Error::other("the stand-in thread stopped while starting"))??;
        Ok(StandIns {
            cells,
            regards,
            nextome,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The variables the bundled collections' `standin` environment reads.
    pub fn vars(&self) -> IndexMap<String, Json> {
        let mut vars = IndexMap::new();
        vars.insert(
            "cells_url".into(),
            Json::from(format!("http://{}", self.cells)),
        );
        vars.insert(
            "regards_url".into(),
            Json::from(format!("http://{}", self.regards)),
        );
        vars.insert(
            "nextome_url".into(),
            Json::from(format!("http://{}", self.nextome)),
        );
        vars
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
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
