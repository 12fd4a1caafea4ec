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
mod customers;
mod dashboard;
pub mod error;
pub mod events;
mod exports;
mod health;
mod openapi;
mod playbook;
mod session;
pub mod sync;
mod team;
mod views;

use std::sync::Arc;

use axum::Router;
use tower_http::compression::CompressionLayer;
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
}

impl AppState {
    /// State over a store.
    pub fn new(store: Arc<dyn ServerStore>) -> Self {
        AppState {
            store,
            events: events::Events::new(),
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
        .merge(agents::router())
        .merge(session::router())
        .merge(views::router())
        .merge(events::router())
        .merge(exports::router())
        .merge(playbook::router());
    OpenApiRouter::with_openapi(openapi::base())
        .nest("/v1", v1)
        .split_for_parts()
}

/// The whole application: `/health`, the `/v1` API, `/openapi.json` and the dashboard.
pub fn app(state: AppState) -> Router {
    let (v1, doc) = api();
    Router::new()
        .merge(health::router())
        .merge(v1)
        .merge(openapi::router(doc))
        .merge(dashboard::router())
        .fallback(error::not_found)
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}
