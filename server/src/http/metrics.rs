//! `GET /metrics`: what an operator's Prometheus scrapes — requests, latency, sync rounds,
//! refusals, open connections, the store's cache and group commit — in the Prometheus text
//! format.
//!
//! Every label takes its values from a small fixed set, so that no client can grow the series
//! without bound: the route is the router's *template* (`/v1/customers/{id}`, never the path a
//! client sent; `other` when no route matched), the method one of the standard ones or
//! `other`, an error's code one of the crate's stable codes. The metrics hold no customer
//! data: who may read them is an operator's choice (`doorstep serve --metrics-token`: without
//! it the route is open; docs/security.md says why). The registry belongs to the app's state,
//! not to a global recorder, so two servers in one process (tests) count apart.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use client_core::protocol::Rejection;
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use sha2::{Digest, Sha256};

use super::{AppError, AppState};
use crate::error::Error;
use crate::store::GroupCommitCounts;

/// The route label of a request no route matched (the dashboard's fallback, unknown paths).
pub const OTHER_ROUTE: &str = "other";

/// The code a refused answer carries, left in the response's extensions by whoever wrote the
/// error body (`AppError`, `json_errors`), for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets, seconds: 5 ms to ~20 s.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    ])
}

/// Documents per sync request: 0 to the protocol's 5,000.
fn documents_histogram() -> Histogram {
    Histogram::new([0.0, 1.0, 5.0, 20.0, 100.0, 500.0, 2000.0, 5000.0])
}

/// The codes a sync's per-document refusal may carry (client-core's protocol); anything else
/// is counted as `other`.
const SYNC_REFUSAL_CODES: [&str; 5] = [
    "forbidden",
    "forged_actor",
    "corrupt",
    "invalid",
    client_core::protocol::RETRY_LATER,
];

/// A source of the document cache's size in bytes, read at every scrape.
type BytesSource = Box<dyn Fn() -> u64 + Send + Sync>;

/// The database pool's connections at one moment (PostgreSQL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolGauges {
    /// Connections lent out to a request.
    pub in_use: u32,
    /// Connections open and waiting.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// A source of the pool's gauges, read at every scrape.
type PoolSource = Box<dyn Fn() -> PoolGauges + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// The pool's gauges and where they are read from.
struct Pool {
    connections: Family<PoolLabels, Gauge>,
    max: Gauge,
    source: PoolSource,
}

/// Where the group commit counts come from.
type CommitSource = Box<dyn Fn() -> Option<GroupCommitCounts> + Send + Sync>;

/// The SQLite store's group commit, as counters that follow the store's own counts.
struct CommitCounters {
    writes: Counter,
    fsyncs: Counter,
    covered: Counter,
    source: RwLock<CommitSource>,
}

impl CommitCounters {
    fn register(registry: &mut Registry) -> CommitCounters {
        let (writes, fsyncs, covered) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register(
            "store_writes",
            "Calls through the SQLite store's document writer that wrote; each waited for its \
             writes to be on disk before answering",
            writes.clone(),
        );
        registry.register(
            "store_wal_fsyncs",
            "fsyncs of the SQLite write-ahead log run by group commit (one covers every write \
             committed before it started)",
            fsyncs.clone(),
        );
        registry.register(
            "store_writes_covered",
            "Writes whose fsync another call had already run (group commit shared it)",
            covered.clone(),
        );
        CommitCounters {
            writes,
            fsyncs,
            covered,
            source: RwLock::new(Box::new(|| None)),
        }
    }

    /// Brings the counters up to the store's counts (which only grow).
    fn catch_up(&self) {
        let read = self.source.read().unwrap_or_else(|p| p.into_inner());
        let Some(now) = read() else {
            return;
        };
        for (counter, value) in [
            (&self.writes, now.writes),
            (&self.fsyncs, now.fsyncs),
            (&self.covered, now.covered),
        ] {
            counter.inc_by(value.saturating_sub(counter.get()));
        }
    }
}

/// The server's metrics and the registry they are encoded from.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    errors: Family<CodeLabels, Counter>,
    sync_rounds: Counter,
    documents_received: Histogram,
    documents_sent: Histogram,
    sync_refusals: Family<CodeLabels, Counter>,
    login_refusals: Family<CodeLabels, Counter>,
    connections: Gauge,
    cache_bytes: Gauge,
    cache_source: RwLock<BytesSource>,
    commits: CommitCounters,
    pool: Option<Pool>,
    /// SHA-256 of the token `/metrics` asks for, if any.
    token_hash: Option<[u8; 32]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero; `/metrics` open to anyone.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("doorstep");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer's head, by method and route template",
            Unit::Seconds,
            latency.clone(),
        );
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "http_errors",
            "Error answers by their body's code (`{\"error\": {\"code\"}}`)",
            errors.clone(),
        );
        let sync_rounds = Counter::default();
        registry.register(
            "sync_rounds",
            "Sync requests (POST /v1/sync) answered 200",
            sync_rounds.clone(),
        );
        let documents_received = documents_histogram();
        registry.register(
            "sync_documents_received",
            "Documents a device sent a message for, per answered sync request",
            documents_received.clone(),
        );
        let documents_sent = documents_histogram();
        registry.register(
            "sync_documents_sent",
            "Documents the server answered a message for, per answered sync request",
            documents_sent.clone(),
        );
        let sync_refusals = Family::<CodeLabels, Counter>::default();
        registry.register(
            "sync_refusals",
            "Documents of answered sync requests that were refused (or deferred: retry_later), \
             by code",
            sync_refusals.clone(),
        );
        let login_refusals = Family::<CodeLabels, Counter>::default();
        registry.register(
            "login_refusals",
            "Dashboard logins refused: unauthorized (wrong name or password), \
             too_many_attempts (throttled), busy (password checks full), forbidden (not a \
             manager), link (a login link not honoured)",
            login_refusals.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "open_connections",
            "TCP connections the server holds",
            connections.clone(),
        );
        let cache_bytes = Gauge::default();
        registry.register_with_unit(
            "document_cache",
            "Bytes held by the store's document cache",
            Unit::Bytes,
            cache_bytes.clone(),
        );
        let commits = CommitCounters::register(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            errors,
            sync_rounds,
            documents_received,
            documents_sent,
            sync_refusals,
            login_refusals,
            connections,
            cache_bytes,
            cache_source: RwLock::new(Box::new(|| 0)),
            commits,
            pool: None,
            token_hash: None,
        }
    }

    /// The same metrics, readable only with `Authorization: Bearer <token>`.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token_hash = Some(Sha256::digest(token.as_bytes()).into());
        self
    }

    /// The same metrics with the database pool's gauges (PostgreSQL), read from `source` at
    /// every scrape: `doorstep_db_pool_connections{state="in_use"|"idle"}` and
    /// `doorstep_db_pool_max_connections`.
    pub fn with_pool(mut self, source: impl Fn() -> PoolGauges + Send + Sync + 'static) -> Self {
        let connections = Family::<PoolLabels, Gauge>::default();
        self.registry.register(
            "db_pool_connections",
            "The database pool's open connections: in_use (lent to a request) and idle",
            connections.clone(),
        );
        let max = Gauge::default();
        self.registry.register(
            "db_pool_max_connections",
            "The most connections the database pool opens (--db-pool)",
            max.clone(),
        );
        self.pool = Some(Pool {
            connections,
            max,
            source: Box::new(source),
        });
        self
    }

    /// Where `doorstep_document_cache_bytes` reads from at every scrape (0 until a store
    /// with a cache hands its size over here).
    pub fn set_cache_bytes_source(&self, source: impl Fn() -> u64 + Send + Sync + 'static) {
        *self.cache_source.write().unwrap_or_else(|p| p.into_inner()) = Box::new(source);
    }

    /// Where the group commit counters (`doorstep_store_writes_total`,
    /// `doorstep_store_wal_fsyncs_total`, `doorstep_store_writes_covered_total`) read from at
    /// every scrape: the store's counts since it opened (they stay 0 without group commit).
    pub fn set_group_commit_source(
        &self,
        source: impl Fn() -> Option<GroupCommitCounts> + Send + Sync + 'static,
    ) {
        *self
            .commits
            .source
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Box::new(source);
    }

    /// The gauge of open connections, for the accept loop.
    pub fn connections(&self) -> Gauge {
        self.connections.clone()
    }

    /// Counts one answered request. `route` is the router's template (or [`OTHER_ROUTE`]).
    pub fn request(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        code: Option<ErrorCode>,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_string(),
                status: status.as_u16(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method,
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
        if !(status.is_client_error() || status.is_server_error()) {
            return;
        }
        let code = code.map_or("other", |ErrorCode(c)| c);
        self.errors.get_or_create(&CodeLabels { code }).inc();
        let login = match (method, route) {
            ("POST", "/v1/session") => Some(code),
            ("GET", "/login/{token}") => Some("link"),
            _ => None,
        };
        if let Some(code) = login {
            self.login_refusals
                .get_or_create(&CodeLabels { code })
                .inc();
        }
    }

    /// Counts one answered sync request: documents in and out, and its refusals.
    pub fn sync_round(&self, received: usize, sent: usize, refused: &[Rejection]) {
        self.sync_rounds.inc();
        self.documents_received.observe(received as f64);
        self.documents_sent.observe(sent as f64);
        for r in refused {
            let code = SYNC_REFUSAL_CODES
                .iter()
                .find(|c| **c == r.code)
                .copied()
                .unwrap_or("other");
            self.sync_refusals.get_or_create(&CodeLabels { code }).inc();
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        self.commits.catch_up();
        let bytes = (self.cache_source.read().unwrap_or_else(|p| p.into_inner()))();
        self.cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        if let Some(pool) = &self.pool {
            let now = (pool.source)();
            for (state, n) in [("in_use", now.in_use), ("idle", now.idle)] {
                pool.connections
                    .get_or_create(&PoolLabels { state })
                    .set(i64::from(n));
            }
            pool.max.set(i64::from(now.max));
        }
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// Whether these headers may read the metrics.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = self.token_hash else {
            return true;
        };
        let Some(token) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Comparing hashes: the time taken says nothing about the token.
        let got: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        got == expected
    }
}

/// A method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The metrics route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if !state.metrics.allows(&headers) {
        return Err(Error::Unauthorized.into());
    }
    let body = state.metrics.encode();
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
        )],
        body,
    )
        .into_response())
}

/// Shared by every handler through [`AppState`].
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_within_fixed_sets() {
        let m = Metrics::new();
        let odd = Method::from_bytes(b"BREW").unwrap();
        m.request(
            &odd,
            OTHER_ROUTE,
            StatusCode::METHOD_NOT_ALLOWED,
            Some(ErrorCode("method_not_allowed")),
            Duration::from_millis(3),
        );
        m.sync_round(
            2,
            1,
            &[Rejection {
                doc: "day:a1:2026-06-01".parse().unwrap(),
                code: "made-up code".into(),
                message: String::new(),
            }],
        );
        let text = m.encode();
        assert!(
            text.contains(
                r#"doorstep_http_requests_total{method="other",route="other",status="405"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"doorstep_sync_refusals_total{code="other"} 1"#),
            "{text}"
        );
        assert!(text.contains("doorstep_sync_rounds_total 1"), "{text}");
        assert!(
            !text.contains("BREW") && !text.contains("made-up"),
            "{text}"
        );
    }

    #[test]
    fn the_group_commit_counters_follow_the_store() {
        let m = Metrics::new();
        assert!(m.encode().contains("doorstep_store_wal_fsyncs_total 0"));
        let counts = Arc::new(std::sync::Mutex::new(GroupCommitCounts {
            writes: 10,
            fsyncs: 7,
            covered: 3,
        }));
        let seen = counts.clone();
        m.set_group_commit_source(move || Some(*seen.lock().unwrap()));
        let text = m.encode();
        assert!(text.contains("doorstep_store_writes_total 10"), "{text}");
        assert!(text.contains("doorstep_store_wal_fsyncs_total 7"), "{text}");
        assert!(
            text.contains("doorstep_store_writes_covered_total 3"),
            "{text}"
        );
        counts.lock().unwrap().fsyncs = 9;
        assert!(m.encode().contains("doorstep_store_wal_fsyncs_total 9"));
    }

    #[test]
    fn the_cache_gauge_reads_its_source_at_every_scrape() {
        let m = Metrics::new();
        assert!(m.encode().contains("doorstep_document_cache_bytes 0"));
        m.set_cache_bytes_source(|| 4096);
        assert!(m.encode().contains("doorstep_document_cache_bytes 4096"));
    }

    #[test]
    fn pool_gauges_only_with_a_pool_and_read_at_every_scrape() {
        assert!(!Metrics::new().encode().contains("db_pool"));
        let in_use = Arc::new(std::sync::atomic::AtomicU32::new(3));
        let seen = in_use.clone();
        let m = Metrics::new().with_pool(move || PoolGauges {
            in_use: seen.load(std::sync::atomic::Ordering::Relaxed),
            idle: 1,
            max: 16,
        });
        let text = m.encode();
        assert!(
            text.contains("doorstep_db_pool_connections{state=\"in_use\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("doorstep_db_pool_connections{state=\"idle\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("doorstep_db_pool_max_connections 16"),
            "{text}"
        );
        in_use.store(7, std::sync::atomic::Ordering::Relaxed);
        assert!(m
            .encode()
            .contains("doorstep_db_pool_connections{state=\"in_use\"} 7"));
    }

    #[test]
    fn a_token_guards_the_metrics_when_set() {
        let open = Metrics::new();
        assert!(open.allows(&HeaderMap::new()));
        let closed = Metrics::new().with_token("s3cret");
        assert!(!closed.allows(&HeaderMap::new()));
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer wrong"));
        assert!(!closed.allows(&h));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(closed.allows(&h));
    }
}
