//! The HTTP API: one axum `Router` built by [`app`], one module per resource.
//!
//! Handlers parse the request, ask `access` whether the caller may see the object, call the
//! [`ServerStore`] on a blocking thread ([`blocking`]) and turn the result into JSON; errors are
//! mapped to statuses once, in `error`. Handlers never see SQL, tokens are never logged (the
//! trace layer records method, path and status only), responses are gzip-compressed when the
//! client accepts it.
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
mod health;
mod language;
pub mod login_guard;
mod openapi;
pub mod peer;
mod playbook;
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
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::error::Error;
use crate::store::ServerStore;

pub use error::AppError;
pub use sync::MAX_BODY_BYTES;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The storage.
    pub store: Arc<dyn ServerStore>,
    /// Tells open dashboards that a team's records changed.
    pub events: events::Events,
    /// Who may try a password, and how many are checked at once.
    pub logins: Arc<login_guard::LoginGuard>,
    /// Whether `X-Forwarded-For` / `X-Forwarded-Proto` come from a proxy we trust
    /// (`doorstep serve --trust-proxy`).
    pub trust_proxy: bool,
    /// How many sync requests work in the store at once (`sync::Admission`).
    pub sync_admission: sync::Admission,
}

impl AppState {
    /// State over a store.
    pub fn new(store: Arc<dyn ServerStore>) -> Self {
        AppState {
            store,
            events: events::Events::new(),
            logins: Arc::new(login_guard::LoginGuard::new()),
            trust_proxy: false,
            sync_admission: sync::Admission::new(sync::default_sync_concurrency()),
        }
    }
}

/// Runs storage work on a blocking thread (SQLite and Automerge calls are synchronous).
pub async fn blocking<R: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn ServerStore) -> crate::Result<R> + Send + 'static,
) -> Result<R, AppError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
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

/// The whole application: `/health`, the `/v1` API, `/openapi.json` and the dashboard.
///
/// Every answer carries the browser security headers (the dashboard needs them; on JSON they
/// cost nothing), and every error answer is JSON ([`error::json_errors`]).
pub fn app(state: AppState) -> Router {
    let (v1, doc) = api();
    let header = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    Router::new()
        .merge(health::router())
        .merge(v1)
        .merge(openapi::router(doc))
        .merge(dashboard::router())
        .fallback(dashboard::fallback)
        .with_state(state)
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(header(
            CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY_VALUE,
        ))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(REFERRER_POLICY, "no-referrer"))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}
