//! The HTTP API: one axum `Router` built by [`app`], one module per resource.
//!
//! Handlers parse the request, ask `access` whether the caller may see the object, call the
//! [`ServerStore`] on a blocking thread ([`blocking`]) and turn the result into JSON; errors are
//! mapped to statuses once, in `error`. Handlers never see SQL, tokens are never logged (every
//! request's span and log line name its id, method, route template and status only:
//! `request_id`), responses are gzip-compressed when the client accepts it, and every answer
//! is counted in the metrics (`metrics`, served at `/metrics`).
//!
//! The `/v1` routes are registered through utoipa-axum, so the OpenAPI document served at
//! `/openapi.json` is generated from the handlers themselves. The managers' dashboard (static
//! files embedded in the binary) is served at `/`.

mod agents;
mod auth;
pub mod connections;
mod customers;
mod dashboard;
mod devices;
pub mod error;
pub mod events;
mod exports;
pub mod health;
mod language;
pub mod login_guard;
pub mod metrics;
mod openapi;
pub mod peer;
mod playbook;
pub mod request_id;
mod schema;
mod session;
pub mod sync;
mod team;
mod views;

use std::sync::Arc;

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::desk::Desks;
use crate::error::Error;
use crate::store::ServerStore;

pub use error::AppError;
pub use sync::MAX_BODY_BYTES;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The storage.
    pub store: Arc<dyn ServerStore>,
    /// The managers' desks (what they write from the dashboard).
    pub desks: Arc<Desks>,
    /// Tells open dashboards that a team's records changed.
    pub events: events::Events,
    /// Who may try a password, and how many are checked at once.
    pub logins: Arc<login_guard::LoginGuard>,
    /// Whether `X-Forwarded-For` / `X-Forwarded-Proto` come from a proxy we trust
    /// (`doorstep serve --trust-proxy`).
    pub trust_proxy: bool,
    /// With `trust_proxy`: the only peers whose forwarded headers count (empty: any peer;
    /// `doorstep serve --trusted-proxy`).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// What `/metrics` reports.
    pub metrics: metrics::SharedMetrics,
    /// How many sync requests work in the store at once (`sync::Admission`).
    pub sync_admission: sync::Admission,
    /// What `/ready` asks besides the store answering: `None` asks the store only (SQLite
    /// checked its schema when it opened); PostgreSQL also compares the applied migrations
    /// with this build's (`health::ReadyCheck`).
    pub readiness: Option<health::ReadyCheck>,
}

impl AppState {
    /// State over a store, with the managers' desks.
    pub fn new(store: Arc<dyn ServerStore>, desks: Desks) -> Self {
        AppState {
            store,
            desks: Arc::new(desks),
            events: events::Events::new(),
            logins: Arc::new(login_guard::LoginGuard::new()),
            trust_proxy: false,
            trusted_proxies: Arc::from(Vec::new()),
            metrics: Arc::new(metrics::Metrics::new()),
            sync_admission: sync::Admission::new(sync::default_sync_concurrency()),
            readiness: None,
        }
    }
}

/// Runs storage work on a blocking thread (SQLite and Automerge calls are synchronous), inside
/// the request's span: its log lines carry the request's id.
pub async fn blocking<R: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn ServerStore) -> crate::Result<R> + Send + 'static,
) -> Result<R, AppError> {
    let store = state.store.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| f(store.as_ref())))
        .await
        .map_err(|e| Error::Internal(format!("storage task failed: {e}")))?
        .map_err(AppError::from)
}

/// The `/v1` API with its OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(sync::router())
        .merge(team::router())
        .merge(customers::router())
        .merge(devices::router())
        .merge(agents::router())
        .merge(session::router())
        .merge(views::router())
        .merge(events::router())
        .merge(exports::router())
        .merge(playbook::router())
        .merge(schema::router());
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::base())
        .nest("/v1", v1)
        .split_for_parts();
    openapi::finish(&mut doc);
    (router, doc)
}

/// The dashboard's Content-Security-Policy: its own scripts, style sheets and API only, never
/// in a frame. Inline `style` attributes are allowed (`style-src-attr`: the page sizes its bars
/// with them); inline scripts, event-handler attributes and `<style>` elements are not.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The whole application: `/health`, `/ready`, `/metrics`, the `/v1` API, `/openapi.json` and
/// the dashboard.
///
/// Every answer carries the browser security headers (the dashboard needs them; on JSON they
/// cost nothing) and its request's id, every error answer is JSON ([`error::json_errors`]),
/// every request is logged and counted ([`request_id::observe`]).
pub fn app(state: AppState) -> Router {
    let (v1, doc) = api();
    let header = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(v1)
        .merge(openapi::router(doc))
        .merge(dashboard::router())
        .fallback(dashboard::fallback)
        .with_state(state.clone())
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(header(
            CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY_VALUE,
        ))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(REFERRER_POLICY, "no-referrer"))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            state,
            request_id::observe,
        ))
}
