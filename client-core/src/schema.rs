//! The SQLite schema of a home database, its version, and how a file is recognised as ours.
//!
//! Two groups of tables: the **documents** (`documents`, `chunks`: the Automerge bytes, the
//! only source of truth) and the **index** (`customers`, `policies`, `visits`, `contacts`,
//! `comments`, `days`, `problems`, `conflicts`: a projection of the documents for queries,
//! which `Store::rebuild_index` can drop and derive again).

use rusqlite::{Connection, ErrorCode};

use crate::error::{Error, Result};

/// `PRAGMA application_id` of a Doorstep home ("DRST").
pub const APPLICATION_ID: i64 = 0x4452_5354;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// The tables that hold the documents.
const DOCUMENT_TABLES: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE documents (
    doc        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    heads      TEXT NOT NULL,
    chunks     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE chunks (
    id   INTEGER PRIMARY KEY,
    doc  TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
    data BLOB NOT NULL
) STRICT;
CREATE INDEX chunks_by_doc ON chunks (doc, id);
CREATE TABLE sync_states (
    doc          TEXT NOT NULL,
    peer         TEXT NOT NULL,
    state        BLOB NOT NULL,
    shared_heads TEXT NOT NULL,
    PRIMARY KEY (doc, peer)
) STRICT;
CREATE INDEX sync_states_by_peer ON sync_states (peer);
";

/// The index tables: each row also keeps the record as JSON, so a query returns model values
/// without touching the Automerge documents.
pub const INDEX_TABLES: &str = "
CREATE TABLE customers (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    postcode TEXT,
    birthday TEXT,
    grade    TEXT,
    status   TEXT NOT NULL,
    agent    TEXT,
    json     TEXT NOT NULL
) STRICT;
CREATE INDEX customers_by_agent ON customers (agent);
CREATE TABLE policies (
    id       TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    number   TEXT NOT NULL,
    due_date TEXT NOT NULL,
    status   TEXT NOT NULL,
    json     TEXT NOT NULL
) STRICT;
CREATE INDEX policies_by_customer ON policies (customer);
CREATE INDEX policies_by_due ON policies (due_date);
CREATE TABLE visits (
    id       TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    agent    TEXT NOT NULL,
    day      TEXT NOT NULL,
    json     TEXT NOT NULL
) STRICT;
CREATE INDEX visits_by_day ON visits (day, agent);
CREATE INDEX visits_by_customer ON visits (customer);
CREATE TABLE contacts (
    id       TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    agent    TEXT NOT NULL,
    day      TEXT NOT NULL,
    json     TEXT NOT NULL
) STRICT;
CREATE INDEX contacts_by_day ON contacts (day, agent);
CREATE INDEX contacts_by_customer ON contacts (customer);
CREATE TABLE comments (
    id       TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    visit    TEXT NOT NULL,
    json     TEXT NOT NULL
) STRICT;
CREATE INDEX comments_by_visit ON comments (visit);
CREATE TABLE days (
    doc   TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    date  TEXT NOT NULL,
    json  TEXT NOT NULL
) STRICT;
CREATE INDEX days_by_date ON days (date, agent);
CREATE TABLE problems (
    id     TEXT PRIMARY KEY,
    doc    TEXT NOT NULL,
    agent  TEXT NOT NULL,
    date   TEXT NOT NULL,
    level  TEXT NOT NULL,
    status TEXT NOT NULL,
    json   TEXT NOT NULL
) STRICT;
CREATE INDEX problems_by_doc ON problems (doc);
CREATE TABLE conflicts (
    doc    TEXT NOT NULL,
    object TEXT NOT NULL,
    field  TEXT NOT NULL,
    json   TEXT NOT NULL
) STRICT;
CREATE INDEX conflicts_by_doc ON conflicts (doc);
";

/// The index tables' names, for dropping and rebuilding them.
pub const INDEX_TABLE_NAMES: &[&str] = &[
    "customers",
    "policies",
    "visits",
    "contacts",
    "comments",
    "days",
    "problems",
    "conflicts",
];

/// Creates the schema in a new, empty database (inside the caller's transaction).
pub fn init(conn: &Connection) -> Result<()> {
    conn.execute_batch(DOCUMENT_TABLES)?;
    conn.execute_batch(INDEX_TABLES)?;
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))?;
    Ok(())
}

/// Checks that an existing database is a Doorstep home not newer than this build, without
/// writing to it: another application's database is refused untouched, and an empty SQLite
/// file (a creation that never finished, in an older build) reads as "not initialised".
pub fn check(conn: &Connection, path: &std::path::Path) -> Result<()> {
    let foreign = |reason: String| Error::NotADoorstepDatabase {
        path: path.to_path_buf(),
        reason,
    };
    // The first reads tell a non-SQLite file and a damaged one apart; any other failure
    // (locked, I/O error) is a storage error, not a verdict on the file.
    let verdict = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => foreign(e.to_string()),
        Some(ErrorCode::DatabaseCorrupt) => Error::CorruptDatabase {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        _ => Error::Storage(e),
    };
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(verdict)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(verdict)?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .map_err(verdict)?;
    if app_id == 0 && version == 0 && tables == 0 {
        return Err(Error::NotInitialised(path.to_path_buf()));
    }
    if app_id != APPLICATION_ID {
        return Err(foreign(format!(
            "application id {app_id:#x} with {tables} tables"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // Upgrades from older versions go here (`upgrade_from(version)`); version 1 is the first.
    Ok(())
}
