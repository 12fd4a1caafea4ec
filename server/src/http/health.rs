//! Probes for load balancers, orchestrators and tests: `GET /health` (the process answers;
//! touches no storage) and `GET /ready` (the database answers a query on the server's own
//! tables, within [`READY_TIMEOUT`]; on PostgreSQL, also: its applied migrations are this
//! build's, so that an instance older than the schema drops out during a rolling upgrade).
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

/// A readiness check of the database under the store (PostgreSQL: reachable, and migrated
/// to exactly this build's schema), run on a blocking thread.
pub type ReadyCheck = std::sync::Arc<dyn Fn() -> crate::Result<()> + Send + Sync>;

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
/// over a pool of connections (PostgreSQL) has a check of its own ([`AppState::readiness`]).
fn database_ready(store: &dyn ServerStore) -> crate::Result<()> {
    store.change_seq().map(|_| ())
}

async fn ready(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let check = state.readiness.clone();
    let checked = tokio::time::timeout(
        READY_TIMEOUT,
        blocking(&state, move |store| match check {
            Some(check) => check(),
            None => database_ready(store),
        }),
    )
    .await;
    let failure = match checked {
        Ok(Ok(())) => return Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(AppError(e))) => e.to_string(),
        Err(_) => format!("the database did not answer within {READY_TIMEOUT:?}"),
    };
    tracing::warn!(error = %failure, "not ready");
    Err(Error::NotReady.into())
}
