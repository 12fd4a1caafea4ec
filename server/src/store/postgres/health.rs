//! What a load balancer and an operator ask of the PostgreSQL database behind an instance:
//! whether it can serve ([`PgDatabase::ready`]: it answers, and its schema is this build's)
//! and how the connection pool is used ([`PgDatabase::pool_state`], for `/metrics`).
//!
//! A database migrated by a newer build is not ready for this one: during a rolling upgrade
//! the old instances drop out of the load balancer as soon as the first new one migrated.

use super::{migrations, PgDatabase};
use crate::error::{Error, Result};

/// How the pool's connections are used at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolState {
    /// Connections lent out to a request.
    pub in_use: u32,
    /// Connections open and waiting.
    pub idle: u32,
    /// The most the pool opens (`--db-pool`).
    pub max: u32,
}

impl PgDatabase {
    /// `Ok` when a connection can be had, the database answers, and the migrations it
    /// records (`refinery_schema_history`) are exactly this build's; otherwise the reason.
    pub fn ready(&self) -> Result<()> {
        let mut conn = self.pool.get()?;
        let rows = conn.client.query(
            "SELECT version::bigint, COALESCE(name, '') FROM refinery_schema_history ORDER BY version",
            &[],
        )?;
        let applied: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let ours = migrations();
        if applied == ours {
            return Ok(());
        }
        let newest = |v: &[(i64, String)]| v.last().map_or(0, |(n, _)| *n);
        Err(Error::Internal(format!(
            "the database's schema (migrations up to V{}, {} applied) is not this build's \
             (up to V{}, {})",
            newest(&applied),
            applied.len(),
            newest(&ours),
            ours.len()
        )))
    }

    /// The pool's connections now: in use, idle, and the most it opens.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
    }
}
