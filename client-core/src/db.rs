//! Opening the SQLite connection of a home, with the settings durability depends on.
//!
//! WAL mode, foreign keys off (documents are the truth, the index is derived), a busy timeout,
//! and `synchronous = FULL` by default: a write whose call returned survives a killed process
//! *and* a power cut. `Durability::Process` trades the power-cut guarantee for speed
//! (`synchronous = NORMAL`: a killed process still loses nothing).
//!
//! A home is **created atomically**: the schema and the identity are written in one transaction
//! to a side file that is renamed into place, so a process killed during creation leaves either
//! no home or a complete one, never a file that opens as "not initialised". Opening never
//! writes to a file it does not recognise.
//!
//! A home may be **encrypted at rest** (SQLCipher): given a [`DatabaseKey`], every connection
//! to it starts with `PRAGMA key`, and a key that does not open the file is [`Error::WrongKey`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

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

/// The key of an encrypted home: 32 random bytes the app keeps in the platform's key store
/// (Android Keystore, iOS Keychain). Used as SQLCipher's raw key, so opening costs no key
/// derivation. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseKey([u8; 32]);

impl DatabaseKey {
    /// A key from its bytes; anything but 32 bytes is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<DatabaseKey> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("key", format!("{} bytes, not 32", bytes.len())))?;
        Ok(DatabaseKey(bytes))
    }
}

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(..)")
    }
}

/// Gives a fresh connection its key (the first statement it runs) and checks that the key
/// opens the file. Without a key, nothing happens: the file must then be plain SQLite.
fn unlock(conn: &Connection, key: Option<&DatabaseKey>, path: &Path) -> Result<()> {
    let Some(DatabaseKey(bytes)) = key else {
        return Ok(());
    };
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))?;
    // A SQLite without SQLCipher ignores `PRAGMA key`: never write plaintext believing otherwise.
    let cipher: Option<String> = conn
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .optional()?;
    if cipher.is_none() {
        return Err(Error::invalid("key", "this build has no SQLCipher"));
    }
    let probe: rusqlite::Result<i64> =
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0));
    match probe {
        Err(e) if is_not_a_database(&e) => Err(Error::WrongKey {
            path: path.to_path_buf(),
        }),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// WAL frames after which the writer checkpoints by itself when a background checkpointer
/// (`checkpoint`) runs: a safety net only, for when it cannot keep up.
pub const WRITER_AUTOCHECKPOINT_PAGES: i64 = 16_384;
/// SQLite's own threshold, for a writer that checkpoints by itself.
pub const DEFAULT_AUTOCHECKPOINT_PAGES: i64 = 1_000;
/// The size the log file is cut back to after a checkpoint reset it.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 4 << 20;

fn flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
}

/// The side file a home is built in before it is renamed into place.
fn creating_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".creating");
    path.with_file_name(name)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a home database at `path` holding the schema and the `meta` rows, atomically.
/// Fails if `path` exists, unless it is an empty file (nothing to lose).
pub fn create(path: &Path, meta: &[(&str, &str)], key: Option<&DatabaseKey>) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return Err(Error::invalid(
            "home",
            format!("{} exists already", path.display()),
        ));
    }
    let side = creating_path(path);
    // What a creation killed half-way left behind.
    for leftover in ["", "-journal", "-wal", "-shm"] {
        let mut p = side.clone().into_os_string();
        p.push(leftover);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(path)(e)),
        }
    }
    {
        let mut conn = Connection::open_with_flags(&side, flags() | OpenFlags::SQLITE_OPEN_CREATE)?;
        unlock(&conn, key, path)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let tx = conn.transaction()?;
        schema::init(&tx)?;
        for (key, value) in meta {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                [key, value],
            )?;
        }
        tx.commit()?;
    }
    std::fs::rename(&side, path).map_err(io(path))?;
    // The rename itself must reach the disk before the home counts as created.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// Opens an existing home database and checks that it is ours.
pub fn open(path: &Path, durability: Durability, key: Option<&DatabaseKey>) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::NotInitialised(
            path.parent().unwrap_or(path).to_path_buf(),
        ));
    }
    let conn = Connection::open_with_flags(path, flags())?;
    unlock(&conn, key, path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Recognise the file before changing anything in it (journal mode writes to the header).
    schema::check(&conn, path)?;
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
    conn.pragma_update(None, "wal_autocheckpoint", DEFAULT_AUTOCHECKPOINT_PAGES)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)?;
    Ok(conn)
}

/// Opens a second connection to a home already opened by [`open`], for the background
/// checkpointer: it only ever runs `wal_checkpoint`.
pub fn open_checkpointer(path: &Path, key: Option<&DatabaseKey>) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags())?;
    unlock(&conn, key, path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Opens a read-only connection to a home already opened by [`open`] (the server's readers:
/// WAL lets it read the last commit while the writer works; `query_only` refuses any write).
pub fn open_reader(path: &Path, key: Option<&DatabaseKey>) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags())?;
    unlock(&conn, key, path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    schema::check(&conn, path)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Whether a SQLite error says "this is not a database file" (as opposed to a locked file,
/// an I/O error or a full disk, which say nothing about whose file it is).
pub fn is_not_a_database(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase))
}
