//! The PostgreSQL schema: versioned migrations embedded in the binary (`migrations/V*.sql`),
//! applied by refinery at start-up.
//!
//! refinery records what it applied in `refinery_schema_history` and refuses a database whose
//! applied migrations differ from this build's (changed, or unknown to it: a newer build
//! migrated it). It takes no lock of its own, so several instances starting at once would each
//! try the same migration: [`migrate`] holds a PostgreSQL advisory lock while it runs, and the
//! instances take turns (the later ones find nothing left to apply). A migration is never
//! edited once released; a change to the schema is a new `V<n>__what.sql`.

use postgres::Client;

use crate::error::Result;

mod embedded {
    refinery::embed_migrations!("src/store/postgres/migrations");
}

/// The advisory lock key the migrations run under ("DOORSTEP" in ASCII).
const MIGRATION_LOCK: i64 = 0x444f_4f52_5354_4550;

/// This build's migrations: (version, name), in order.
pub fn migrations() -> Vec<(i64, String)> {
    let mut all: Vec<(i64, String)> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| (i64::from(m.version()), m.name().to_string()))
        .collect();
    all.sort();
    all
}

/// Applies the migrations the database lacks, under the migration lock, and returns the
/// versions applied now (none when the database was up to date).
pub fn migrate(client: &mut Client) -> Result<Vec<i64>> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let report = embedded::migrations::runner().run(client);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    let report = report?;
    unlocked?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect())
}
