//! The PostgreSQL store's foundations, for several `doorstep serve` instances behind one
//! database (issue 12): a connection pool, the versioned schema, and the document storage that
//! two instances can write at the same moment without losing a change.
//!
//! What is here knows no HTTP and no sync rules: [`PgDatabase`] hands out transactions
//! ([`PgDatabase::write`], one per batch of documents, retried when PostgreSQL breaks a
//! deadlock), and a [`DocumentTx`] loads, merges into, appends to, compacts and projects
//! documents and keeps sync states. [`PgStore`] implements the store traits on top of it, one
//! file per trait (`accounts`, `sessions`, `documents_impl`, `projection`, `imports`, `logs`;
//! what the server writes into documents itself is `server_writes`) and runs the same
//! conformance suite as the SQLite store (`server/tests/postgres_conformance.rs`).
//! What an instance of `doorstep serve` on the database needs besides the store is here too:
//! the URL (`target`), `/ready`'s check and the pool's gauges (`health`), change notices
//! between instances (`notify`) and the login throttle's shared counts (`throttle`).
//! docs/postgres.md says the schema and the
//! locking rule.
//!
//! The client is the synchronous `postgres` crate, as the store's methods are synchronous and
//! run on `spawn_blocking` threads: it must not be called from an async task (it blocks on a
//! runtime of its own).

mod accounts;
mod documents;
mod documents_impl;
mod health;
mod imports;
mod index;
mod logs;
pub mod notify;
mod projection;
mod schema;
mod server_writes;
mod sessions;
mod store;
mod sync;
mod target;
mod throttle;
mod working_sets;

use std::collections::HashMap;
use std::time::Duration;

use postgres::{Client, NoTls, Statement};

use crate::error::{Error, Result};

pub use documents::{DocumentTx, Merged, StoredDoc};
pub use health::PoolState;
pub use schema::{migrate, migrations};
pub use server_writes::SERVER_ACTOR_KEY;
pub use store::PgStore;
pub use target::PgTarget;
pub use throttle::PURGE_EVERY;
pub use working_sets::prune_touches;

/// A connection of the pool, with the statements prepared on it so far: every statement the
/// store runs is prepared once per connection (an unprepared one costs a second round trip).
struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// Opens and checks the pool's connections.
#[derive(Debug)]
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        Ok(PgConnection {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed()
    }
}

/// How the pool and the document storage behave.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// The most connections the pool opens.
    pub pool_size: u32,
    /// How long a caller waits for a free connection before failing.
    pub connect_timeout: Duration,
    /// A document is compacted into one snapshot once it has this many chunks (as in
    /// client-core's `Options::compact_after`).
    pub compact_after: usize,
    /// How many times [`PgDatabase::write`] runs a transaction that PostgreSQL aborted as a
    /// deadlock victim or a serialization failure.
    pub attempts: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            compact_after: 64,
            attempts: 5,
        }
    }
}

/// One PostgreSQL database holding a Doorstep server's data: a pool of connections to it, its
/// schema migrated to this build's version.
pub struct PgDatabase {
    pool: r2d2::Pool<Manager>,
    options: PgOptions,
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDatabase")
            .field("pool", &self.pool.state())
            .field("options", &self.options)
            .finish()
    }
}

impl PgDatabase {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), runs the migrations
    /// this build has and the database lacks, and opens the pool.
    pub fn open(url: &str, options: PgOptions) -> Result<PgDatabase> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| Error::invalid("database url", e.to_string()))?;
        PgDatabase::open_config(config, options)
    }

    /// [`PgDatabase::open`] with a parsed configuration.
    pub fn open_config(config: postgres::Config, options: PgOptions) -> Result<PgDatabase> {
        let mut client = config.connect(NoTls)?;
        migrate(&mut client)?;
        drop(client);
        let manager = Manager { config };
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(1))
            .connection_timeout(options.connect_timeout)
            .build(manager)?;
        Ok(PgDatabase { pool, options })
    }

    /// `VACUUM (ANALYZE)` of the whole database: after a bulk load (`doorstep admin migrate
    /// --from-sqlite`) the planner has no statistics and every page is still to be marked
    /// visible, so the first hour of dashboards would run on guessed plans and meet
    /// autovacuum working through the tables. Not in a transaction (VACUUM cannot be).
    pub fn vacuum_analyze(&self) -> Result<()> {
        let mut conn = self.pool.get()?;
        conn.client.batch_execute("VACUUM (ANALYZE)")?;
        Ok(())
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// Runs `f` in one transaction and commits it. When PostgreSQL aborts the transaction to
    /// break a deadlock (two batches locking the same documents in different orders) or for a
    /// serialization failure, nothing of it was stored and `f` runs again, up to
    /// [`PgOptions::attempts`] times; any other error rolls back and is returned.
    pub fn write<R>(&self, mut f: impl FnMut(&mut DocumentTx<'_>) -> Result<R>) -> Result<R> {
        let mut conn = self.pool.get()?;
        let PgConnection { client, statements } = &mut *conn;
        let mut attempt = 1;
        loop {
            let tx = client.transaction()?;
            let mut dtx = DocumentTx::new(tx, statements, self.options.compact_after);
            let outcome = f(&mut dtx).and_then(|r| dtx.commit().map(|()| r));
            match outcome {
                Err(Error::Postgres(e)) if attempt < self.options.attempts && retryable(&e) => {
                    tracing::debug!(attempt, error = %e, "postgresql transaction retried");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Whether PostgreSQL aborted a transaction that may simply run again.
fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}
