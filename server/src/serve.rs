//! `doorstep serve`: runs the HTTP server over a data directory until SIGINT or SIGTERM.
//!
//! It opens the store, binds the address, prints `listening on http://ADDR` on stdout once the
//! socket is bound (with `--addr 127.0.0.1:0` the real port: tests read this line), and on a
//! signal stops accepting connections and lets in-flight requests finish before exiting.
//! Connections are served by `http::connections` within the edge's limits ([`EdgeArgs`]:
//! header, body and idle timeouts, a connection cap fitted under the file descriptor limit).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::error::{Error, Result};
use crate::http::connections::{self, Limits};
use crate::http::{app, AppState};
use crate::store::{ServerStore, SqliteStore};

/// `doorstep serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory (holds `server.db`); created if missing.
    #[arg(long, env = "DOORSTEP_DATA", default_value = "./doorstep-data")]
    pub data: PathBuf,
    /// The address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "DOORSTEP_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// How long one sync request may work on its messages, in milliseconds, before the rest
    /// are answered `retry_later` (docs/protocol.md §7).
    #[arg(long, env = "DOORSTEP_SYNC_BUDGET_MS", default_value_t = crate::store::SYNC_BUDGET.as_millis() as u64)]
    pub sync_budget_ms: u64,
    /// The memory the document cache may take, in MiB (an estimate; the least recently used
    /// documents go first).
    #[arg(long, env = "DOORSTEP_DOC_CACHE_MB", default_value_t = (crate::store::sqlite::DOC_CACHE_BYTES >> 20) as u64)]
    pub doc_cache_mb: u64,
    /// The limits at the edge.
    #[command(flatten)]
    pub edge: EdgeArgs,
}

/// The HTTP edge's limits and trust, as flags (each also an environment variable).
#[derive(Clone, Debug, Args)]
pub struct EdgeArgs {
    /// Seconds a client has to send a request's head (on a kept-alive connection, counted
    /// from the previous response: it also ends idle keep-alives).
    #[arg(long, env = "DOORSTEP_HEADER_TIMEOUT", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a client has to send a request's whole body, counted from its head.
    #[arg(long, env = "DOORSTEP_BODY_TIMEOUT", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Seconds a connection may sit with no byte moving while no request is being handled.
    #[arg(long, env = "DOORSTEP_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Connections held at once (lowered to fit the process's file descriptor limit); past
    /// it, new connections wait until one ends.
    #[arg(long, env = "DOORSTEP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// The server is behind a reverse proxy: take the client's address from the last
    /// `X-Forwarded-For` entry and mark the session cookie `Secure` when `X-Forwarded-Proto`
    /// says https. Without it those headers are ignored (anyone could send them).
    /// As a variable it takes `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
    #[arg(long, env = "DOORSTEP_TRUST_PROXY", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_proxy: bool,
    /// Sync requests working at once (default: one per core); the others wait their turn
    /// without holding a thread.
    #[arg(long, env = "DOORSTEP_SYNC_CONCURRENCY", default_value_t = crate::http::sync::default_sync_concurrency() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub sync_concurrency: u64,
}

impl Default for EdgeArgs {
    fn default() -> Self {
        let limits = Limits::default();
        EdgeArgs {
            header_timeout: limits.header_timeout.as_secs(),
            body_timeout: limits.body_timeout.as_secs(),
            idle_timeout: limits.idle_timeout.as_secs(),
            max_connections: limits.max_connections as u64,
            trust_proxy: false,
            sync_concurrency: crate::http::sync::default_sync_concurrency() as u64,
        }
    }
}

impl EdgeArgs {
    /// The connection limits.
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(self.header_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }
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
    let store = SqliteStore::open(&args.data)?
        .with_sync_budget(std::time::Duration::from_millis(args.sync_budget_ms))
        .with_doc_cache_bytes(
            usize::try_from(args.doc_cache_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        );
    tracing::info!(data = %args.data.display(), "data directory opened");
    serve_store(Arc::new(store), args.addr, &args.edge, |local| {
        // A closed stdout (`| head`) must not stop the server.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{local}");
        let _ = out.flush();
        Ok(Ready::Serve)
    })
}

/// What the server does once `serve_store`'s `ready` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// Keep serving until a signal.
    Serve,
    /// Stop now (gracefully).
    Stop,
}

/// Serves `store` on `addr` until SIGINT or SIGTERM, then lets in-flight requests finish.
///
/// `ready` runs on a thread of its own once the socket is bound, with the real address, while
/// requests are already answered (`doorstep demo` syncs its simulated phones there). If it
/// fails, the server stops and the error is returned; if it says [`Ready::Stop`], it stops.
pub fn serve_store(
    store: Arc<dyn ServerStore>,
    addr: SocketAddr,
    edge: &EdgeArgs,
    ready: impl FnOnce(SocketAddr) -> Result<Ready> + Send + 'static,
) -> Result<()> {
    let mut state = AppState::new(store);
    state.trust_proxy = edge.trust_proxy;
    state.sync_admission =
        crate::http::sync::Admission::new(usize::try_from(edge.sync_concurrency).unwrap_or(1));
    let mut limits = edge.limits();
    let room = connections::descriptor_room();
    if limits.max_connections > room {
        tracing::warn!(
            max_connections = limits.max_connections,
            room,
            "the file descriptor limit lowers the connection cap"
        );
        limits.max_connections = room;
    }
    let events = state.events.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Io {
                path: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Io {
            path: addr.to_string(),
            source,
        })?;
        tracing::info!(%local, "doorstep server started");
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<Ready>>();
        std::thread::spawn(move || {
            let _ = ready_tx.send(ready(local));
        });
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let failed_in = failed.clone();
        connections::serve(listener, app(state), limits, async move {
            let stop = async {
                let failure = match ready_rx.await {
                    Ok(Ok(Ready::Serve)) => std::future::pending::<Option<Error>>().await,
                    Ok(Ok(Ready::Stop)) => None,
                    Ok(Err(e)) => Some(e),
                    // The thread panicked (a closed stdout, say): stop rather than serve
                    // a half-done job.
                    Err(_) => Some(Error::Internal("the start-up work failed".into())),
                };
                *failed_in.lock().unwrap_or_else(|p| p.into_inner()) = failure;
            };
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = stop => {}
            }
            // Open dashboards' event streams end, or the graceful stop would wait for them.
            events.close();
        })
        .await;
        tracing::info!("doorstep server stopped");
        let failure = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
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
