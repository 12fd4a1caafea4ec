//! The HTTP API: one axum `Router` built by [`app`], one module per resource.
//!
//! Handlers parse the request, ask `access` whether the caller may see the object, call the
//! [`ServerStore`] on a blocking thread ([`blocking`]) and turn the result into JSON; errors are
//! mapped to statuses once, in `error`. Handlers never see SQL, tokens are never logged (the
//! trace layer records method, path and status only), responses are gzip-compressed when the
//! client accepts it.

mod agents;
mod auth;
mod customers;
pub mod error;
mod health;
mod sync;
mod team;

use std::sync::Arc;

use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use crate::error::Error;
use crate::store::ServerStore;

pub use error::AppError;
pub use sync::MAX_BODY_BYTES;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The storage.
    pub store: Arc<dyn ServerStore>,
}

impl AppState {
    /// State over a store.
    pub fn new(store: Arc<dyn ServerStore>) -> Self {
        AppState { store }
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

/// The whole application: `/health` and the `/v1` API.
pub fn app(state: AppState) -> Router {
    let v1 = Router::new()
        .merge(sync::router())
        .merge(team::router())
        .merge(customers::router())
        .merge(agents::router());
    Router::new()
        .merge(health::router())
        .nest("/v1", v1)
        .fallback(error::not_found)
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}
