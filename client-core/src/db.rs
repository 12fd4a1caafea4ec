//! Opening the SQLite connection of a home, with the settings durability depends on.
//!
//! WAL mode, foreign keys off (documents are the truth, the index is derived), a busy timeout,
//! and `synchronous = FULL` by default: a write whose call returned survives a killed process
//! *and* a power cut. `Durability::Process` trades the power-cut guarantee for speed
//! (`synchronous = NORMAL`: a killed process still loses nothing).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::schema;

/// How hard a write is pushed to disk before its call returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Survives a power cut (`synchronous = FULL`, one fsync per write).
    #[default]
    PowerLoss,
    /// Survives a killed process, may lose the last writes on a power cut (`NORMAL`).
    Process,
}

/// Opens (creating if `create`) a home database and checks that it is ours.
pub fn open(path: &Path, create: bool, durability: Durability) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    } else if !path.exists() {
        return Err(Error::NotInitialised(
            path.parent().unwrap_or(path).to_path_buf(),
        ));
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Recognise the file before changing anything in it (journal mode writes to the header).
    schema::init_or_check(&conn, path)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "could not switch the home database to WAL");
    }
    let sync = match durability {
        Durability::PowerLoss => "FULL",
        Durability::Process => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(conn)
}
