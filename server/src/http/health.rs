//! Probes for load balancers, orchestrators and tests: `GET /health` (the process answers;
//! touches no storage) and `GET /ready` (the database answers a query on the server's own
//! tables, within [`READY_TIMEOUT`]).
//!
//! A load balancer sends traffic only to an instance that is ready, and restarts one that is
//! not healthy: a database that went away makes an instance unready, not unhealthy. Neither
//! needs a token, and neither says anything about the data.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{blocking, AppError, AppState};
use crate::error::Error;
use crate::store::ServerStore;

/// How long `/ready` waits for the database before answering `503`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The probes' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Whether the store can serve: the server's change log answers a query. The SQLite store
/// checked its schema's version when it opened (and refuses a newer one), so a failing query
/// here means a database that is unreachable or not in the shape this build expects. A store
/// over a pool of connections (PostgreSQL) answers through the same `ServerStore` call.
fn database_ready(store: &dyn ServerStore) -> crate::Result<()> {
    store.change_seq().map(|_| ())
}

async fn ready(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let checked = tokio::time::timeout(READY_TIMEOUT, blocking(&state, database_ready)).await;
    let failure = match checked {
        Ok(Ok(())) => return Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(AppError(e))) => e.to_string(),
        Err(_) => format!("the database did not answer within {READY_TIMEOUT:?}"),
    };
    tracing::warn!(error = %failure, "not ready");
    Err(Error::NotReady.into())
}
