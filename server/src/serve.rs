//! `doorstep serve`: runs the HTTP server over a data directory until SIGINT or SIGTERM.
//!
//! It opens the store, binds the address, prints `listening on http://ADDR` on stdout once the
//! socket is bound (with `--addr 127.0.0.1:0` the real port: tests read this line), and on a
//! signal stops accepting connections and lets in-flight requests finish before exiting.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::error::{Error, Result};
use crate::http::{app, AppState};
use crate::store::SqliteStore;

/// `doorstep serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory (holds `server.db`); created if missing.
    #[arg(long, env = "DOORSTEP_DATA", default_value = "./doorstep-data")]
    pub data: PathBuf,
    /// The address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "DOORSTEP_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs the server until a signal.
pub fn run(args: ServeArgs) -> Result<()> {
    init_logging();
    let store = SqliteStore::open(&args.data)?;
    let state = AppState::new(Arc::new(store));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|source| Error::Io {
                path: args.addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Io {
            path: args.addr.to_string(),
            source,
        })?;
        println!("listening on http://{local}");
        let _ = std::io::stdout().flush();
        tracing::info!(%local, data = %args.data.display(), "doorstep server started");
        axum::serve(listener, app(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|source| Error::Io {
                path: local.to_string(),
                source,
            })?;
        tracing::info!("doorstep server stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("signal received: finishing in-flight requests");
}
