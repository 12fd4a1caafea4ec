//! `doorstep serve`: runs the HTTP server over a data directory until SIGINT or SIGTERM.
//!
//! With `--database-url postgres://…` (instead of `--data`) it runs on the PostgreSQL store,
//! and several instances can share the database: `/ready` also checks the schema's version,
//! `/metrics` shows the pool, dashboards' change events go between instances through
//! `NOTIFY`/`LISTEN` (`store::postgres::notify`), and failed logins are counted in the
//! database (`throttle::SharedCounts`).
//!
//! It opens the store, binds the address, prints `listening on http://ADDR` on stdout once the
//! socket is bound (with `--addr 127.0.0.1:0` the real port: tests read this line), and on a
//! signal stops accepting connections and lets in-flight requests finish (within
//! `--shutdown-grace`) before exiting with status 0. Connections are served by
//! `http::connections` within the edge's limits ([`EdgeArgs`]: header, body and idle timeouts,
//! a connection cap fitted under the file descriptor limit). Logs go to stderr as text or, with
//! `--log-format json`, one JSON object a line.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::desk::Desks;
use crate::error::{Error, Result};
use crate::http::connections::{self, Limits};
use crate::http::metrics::{Metrics, PoolGauges};
use crate::http::{app, AppState};
use crate::store::postgres::{notify, PgOptions, PgStore, PgTarget};
use crate::store::{ServerStore, SqliteStore};

/// `doorstep serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory (holds `server.db`); created if missing. Not with
    /// `--database-url`.
    #[arg(
        long,
        env = "DOORSTEP_DATA",
        default_value = "./doorstep-data",
        conflicts_with = "database_url"
    )]
    pub data: PathBuf,
    /// The PostgreSQL database instead of the data directory.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// With `--database-url`: the directory of the managers' desks (their local homes, from
    /// which comments and answers are written); created if missing.
    #[arg(long, env = "DOORSTEP_DESK_DIR", default_value = "./doorstep-desks")]
    pub desk_dir: PathBuf,
    /// The address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "DOORSTEP_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// How long one sync request may work on its messages, in milliseconds, before the rest
    /// are answered `retry_later` (docs/protocol.md §7).
    #[arg(long, env = "DOORSTEP_SYNC_BUDGET_MS", default_value_t = crate::store::SYNC_BUDGET.as_millis() as u64)]
    pub sync_budget_ms: u64,
    /// How log lines are written to stderr: `text` for people, `json` for a log collector
    /// (one object a line, with the request's span: id, method, route).
    #[arg(long, env = "DOORSTEP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The memory the document cache may take, in MiB (an estimate; the least recently used
    /// documents go first).
    #[arg(long, env = "DOORSTEP_DOC_CACHE_MB", default_value_t = (crate::store::sqlite::DOC_CACHE_BYTES >> 20) as u64)]
    pub doc_cache_mb: u64,
    /// The limits at the edge.
    #[command(flatten)]
    pub edge: EdgeArgs,
}

/// A PostgreSQL database as the server's store (`doorstep serve`, `doorstep admin`).
#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// A PostgreSQL database to keep the data in instead of the data directory
    /// (`postgres://user:password@host:5432/doorstep`); several instances may share it.
    /// Migrated to this build's schema at start.
    #[arg(long, env = "DOORSTEP_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// With `--database-url`: the most connections this process opens to the database.
    #[arg(long, env = "DOORSTEP_DB_POOL", default_value_t = PgOptions::default().pool_size, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_pool: u32,
}

impl DatabaseArgs {
    /// The database, if a URL was given (one that does not parse is an error).
    pub fn target(&self) -> Result<Option<PgTarget>> {
        self.database_url
            .as_deref()
            .map(PgTarget::parse)
            .transpose()
    }

    /// Opens the PostgreSQL store (migrating the database), if a URL was given.
    pub fn open(&self) -> Result<Option<PgStore>> {
        let Some(target) = self.target()? else {
            return Ok(None);
        };
        target
            .open(PgOptions {
                pool_size: self.db_pool,
                ..PgOptions::default()
            })
            .map(Some)
    }
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
    /// The proxy's own address (repeat, or comma-separated in the variable): the forwarded
    /// headers are believed only on connections from these addresses, as with
    /// `--trust-proxy`; from anyone else they are ignored. Implies `--trust-proxy`.
    #[arg(
        long = "trusted-proxy",
        env = "DOORSTEP_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds in-flight requests have to finish after SIGTERM or SIGINT (the server stops
    /// accepting at once); connections still open then are dropped.
    #[arg(long, env = "DOORSTEP_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
    /// A token `GET /metrics` then asks for (`Authorization: Bearer …`); without it the
    /// metrics are open to whoever reaches the port (they hold no customer data).
    #[arg(long, env = "DOORSTEP_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Sync requests working at once (default: one per core); the others wait their turn
    /// without holding a thread.
    #[arg(long, env = "DOORSTEP_SYNC_CONCURRENCY", default_value_t = crate::http::sync::default_sync_concurrency() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub sync_concurrency: u64,
    /// Seconds a sync request waits for its turn before it is answered `503 busy` with
    /// `Retry-After` (0: at once); keep it well below the phones' 60 s request timeout.
    #[arg(long, env = "DOORSTEP_SYNC_QUEUE_WAIT_SECS", default_value_t = crate::http::sync::DEFAULT_QUEUE_WAIT.as_secs(), value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub sync_queue_wait_secs: u64,
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
            trusted_proxies: Vec::new(),
            shutdown_grace: limits.shutdown_grace.as_secs(),
            metrics_token: None,
            sync_concurrency: crate::http::sync::default_sync_concurrency() as u64,
            sync_queue_wait_secs: crate::http::sync::DEFAULT_QUEUE_WAIT.as_secs(),
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
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, its spans before it (`request{id=… route=…}: answered`).
    Text,
    /// One JSON object per event: `timestamp`, `level`, `fields`, `target`, and `span` (the
    /// request's id, method and route).
    Json,
}

/// Logs go to stderr as text, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    init_logging_as(LogFormat::Text);
}

/// Logs go to stderr in `format`, filtered by `RUST_LOG` (default `info`).
pub fn init_logging_as(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Runs the server until a signal.
pub fn run(args: ServeArgs) -> Result<()> {
    init_logging_as(args.log_format);
    if args.database.database_url.is_some() {
        return run_postgres(args);
    }
    let store = SqliteStore::open(&args.data)?
        .with_sync_budget(std::time::Duration::from_millis(args.sync_budget_ms))
        .with_doc_cache_bytes(
            usize::try_from(args.doc_cache_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        );
    // Held while serving: `doorstep admin migrate` refuses a directory being served.
    let _serving = crate::store::sqlite::hold_serve_lock(&args.data, false)?;
    tracing::info!(data = %args.data.display(), "data directory opened");
    serve_store(
        Arc::new(store),
        Desks::in_data_dir(&args.data),
        args.addr,
        &args.edge,
        print_listening,
    )
}

/// The dashboards' events of an instance on a shared PostgreSQL database: a change is
/// published (`NOTIFY`) and comes back to this instance's dashboards through its listener, as
/// it comes to every other instance's, so each dashboard hears it once; after the listener
/// lost its connection, every dashboard refreshes. The events stay fed while the listener is
/// kept.
pub fn shared_events(target: &PgTarget) -> (crate::http::events::Events, notify::Listener) {
    let config = target.config();
    let notifier = notify::Notifier::start(config);
    let events = crate::http::events::Events::published_by(move |team| {
        notifier.notify(team.as_str());
    });
    let fed = events.clone();
    let listener = notify::listen(config, move |heard| match heard {
        notify::Heard::Changed(team) => match team.parse() {
            Ok(team) => fed.deliver(&team),
            Err(_) => tracing::warn!("a change notice for no valid team ignored"),
        },
        notify::Heard::Reconnected => fed.deliver_everything(),
    });
    (events, listener)
}

/// Prints `listening on http://ADDR` (what tests and scripts wait for).
fn print_listening(local: SocketAddr) -> Result<Ready> {
    // A closed stdout (`| head`) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{local}");
    let _ = out.flush();
    Ok(Ready::Serve)
}

/// `doorstep serve --database-url`: the PostgreSQL store, with what several instances on one
/// database share wired in (readiness, pool gauges, change notices, login throttling).
fn run_postgres(args: ServeArgs) -> Result<()> {
    let target = args
        .database
        .target()?
        .ok_or_else(|| Error::Internal("run_postgres without a database url".into()))?;
    let options = PgOptions {
        pool_size: args.database.db_pool,
        ..PgOptions::default()
    };
    let store = Arc::new(
        target
            .open(options)?
            .with_sync_budget(Duration::from_millis(args.sync_budget_ms)),
    );
    tracing::info!(
        database = %target.describe(),
        pool = args.database.db_pool,
        "postgresql database opened"
    );
    // Held while serving: one instance per desk directory (a desk home is one actor).
    let _desks = Desks::hold_dir(&args.desk_dir)?;
    let (events, _listener) = shared_events(&target);
    let mut state = AppState::new(store.clone(), Desks::in_dir(&args.desk_dir));
    state.events = events;
    state.logins = Arc::new(crate::http::login_guard::LoginGuard::new().with_shared(store.clone()));
    let ready = store.clone();
    state.readiness = Some(Arc::new(move || ready.database().ready()));
    let pool = store;
    serve_state(
        state,
        Some(Box::new(move || {
            let p = pool.database().pool_state();
            PoolGauges {
                in_use: p.in_use,
                idle: p.idle,
                max: p.max,
            }
        })),
        args.addr,
        &args.edge,
        print_listening,
    )
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
    desks: Desks,
    addr: SocketAddr,
    edge: &EdgeArgs,
    ready: impl FnOnce(SocketAddr) -> Result<Ready> + Send + 'static,
) -> Result<()> {
    serve_state(AppState::new(store, desks), None, addr, edge, ready)
}

/// [`serve_store`] with the application's state made by the caller, and the database pool's
/// gauges for `/metrics` when there is a pool.
pub fn serve_state(
    mut state: AppState,
    pool: Option<Box<dyn Fn() -> PoolGauges + Send + Sync>>,
    addr: SocketAddr,
    edge: &EdgeArgs,
    ready: impl FnOnce(SocketAddr) -> Result<Ready> + Send + 'static,
) -> Result<()> {
    let store_for_metrics = state.store.clone();
    state.trust_proxy = edge.trust_proxy || !edge.trusted_proxies.is_empty();
    state.trusted_proxies = Arc::from(edge.trusted_proxies.as_slice());
    let mut metrics = Metrics::new();
    if let Some(token) = edge.metrics_token.as_deref().filter(|t| !t.is_empty()) {
        metrics = metrics.with_token(token);
    }
    if let Some(pool) = pool {
        metrics = metrics.with_pool(pool);
    }
    state.metrics = Arc::new(metrics);
    let open_connections = state.metrics.connections();
    // The cache gauge reads the store when it is free and otherwise repeats the last reading.
    let commits = store_for_metrics.clone();
    state
        .metrics
        .set_group_commit_source(move || commits.group_commit_counts());
    let (cached, last) = (store_for_metrics, std::sync::atomic::AtomicU64::new(0));
    state.metrics.set_cache_bytes_source(move || {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(bytes) = cached.document_cache_bytes() {
            last.store(bytes, Relaxed);
        }
        last.load(Relaxed)
    });
    state.sync_admission =
        crate::http::sync::Admission::new(usize::try_from(edge.sync_concurrency).unwrap_or(1))
            .with_queue_wait(Duration::from_secs(edge.sync_queue_wait_secs));
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
    let outcome = runtime.block_on(async move {
        let signalled = shutdown_signal();
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
        connections::serve(listener, app(state), limits, open_connections, async move {
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
                _ = signalled => {}
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
    });
    // Storage work of a request dropped after the grace may still run on a blocking thread;
    // its transaction either commits or is rolled back by SQLite when the process exits.
    runtime.shutdown_timeout(Duration::from_secs(5));
    outcome
}

/// Installs the SIGINT and SIGTERM handlers now (before the server answers anything: a
/// signal arriving right after the first answer must stop it gracefully, not kill it), and
/// returns the future that completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            /// The next signal of a stream, or never if it could not be installed.
            async fn next(stream: Option<tokio::signal::unix::Signal>) {
                match stream {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            let (int, term) = streams;
            tokio::select! {
                _ = next(int) => {},
                _ = next(term) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("signal received: finishing in-flight requests");
    }
}
