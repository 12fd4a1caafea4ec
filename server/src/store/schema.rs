//! The server's own tables, beside client-core's in the same SQLite file.
//!
//! client-core owns `documents`, `chunks`, `sync_states` (peer = device id) and the index
//! tables, and versions them with `PRAGMA user_version`; the server never changes those
//! tables' shape. Its own tables (accounts, devices, playbooks, the rejection log, the change
//! log, import keys) are versioned separately in `server_meta`, so either side can upgrade
//! without the other.

use rusqlite::{Connection, OptionalExtension};

use crate::error::{Error, Result};

/// The version of the server's tables this build writes.
pub const SERVER_SCHEMA_VERSION: i64 = 1;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS teams (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    team       TEXT NOT NULL,
    reports_to TEXT,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS users_by_team ON users (team);
-- Members who left (`doorstep admin user deactivate`, the dashboard's Team page): no login,
-- no phone, not in the team's lists; their history stays. Absent: active.
CREATE TABLE IF NOT EXISTS deactivated_users (
    user TEXT PRIMARY KEY,
    by   TEXT,
    at   TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS devices (
    id         TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    actor      TEXT UNIQUE,
    revoked    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    last_seen  TEXT,
    last_sync  TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS devices_by_user ON devices (user);
CREATE TABLE IF NOT EXISTS playbooks (
    team       TEXT PRIMARY KEY,
    toml       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS playbook_history (
    team     TEXT NOT NULL,
    hash     TEXT NOT NULL,
    toml     TEXT NOT NULL,
    first_at TEXT NOT NULL,
    PRIMARY KEY (team, hash)
) STRICT;
CREATE TABLE IF NOT EXISTS sync_rejections (
    id        INTEGER PRIMARY KEY,
    device    TEXT NOT NULL,
    user      TEXT NOT NULL,
    doc       TEXT NOT NULL,
    code      TEXT NOT NULL,
    message   TEXT NOT NULL,
    data_hash TEXT NOT NULL,
    first_at  TEXT NOT NULL,
    last_at   TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 1,
    UNIQUE (device, doc, data_hash)
) STRICT;
CREATE TABLE IF NOT EXISTS change_log (
    hash        TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    received_at TEXT NOT NULL,
    via         TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS change_log_by_doc ON change_log (doc);
CREATE TABLE IF NOT EXISTS import_keys (
    team     TEXT NOT NULL,
    key      TEXT NOT NULL,
    customer TEXT NOT NULL,
    PRIMARY KEY (team, key)
) STRICT;
";

/// The managers' dashboard: password hashes (argon2 PHC strings), sessions and one-time login
/// links (both stored as SHA-256 of their token), the device each manager's desk syncs as, and
/// the spot checks done (an agent's week checked by a manager, with a note).
const DASHBOARD_TABLES: &str = "
CREATE TABLE IF NOT EXISTS passwords (
    user       TEXT PRIMARY KEY,
    phc        TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS login_links (
    token_hash TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
-- Older files registered one desk per manager here; `init` moves them to `desk_devices`.
CREATE TABLE IF NOT EXISTS desks (
    user   TEXT PRIMARY KEY,
    device TEXT NOT NULL
) STRICT;
-- A manager's desk homes, one device each, known by the home's Automerge actor (NULL: a desk
-- moved from `desks` whose device never synced).
CREATE TABLE IF NOT EXISTS desk_devices (
    device TEXT PRIMARY KEY,
    user   TEXT NOT NULL,
    actor  TEXT,
    UNIQUE (user, actor)
) STRICT;
CREATE TABLE IF NOT EXISTS spot_checks (
    agent      TEXT NOT NULL,
    week_from  TEXT NOT NULL,
    checked_by TEXT NOT NULL,
    note       TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (agent, week_from)
) STRICT;
";

/// What changes in client-core's index tables, for the managers' cached working sets
/// (`working_sets`): a trigger per table and statement appends the key of each row inserted,
/// updated or deleted, in the writer's own transaction, whichever connection or process
/// writes. The shape of client-core's tables is untouched; these only watch them.
const INDEX_TOUCHES: &str = "
CREATE TABLE IF NOT EXISTS index_touches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    id  TEXT NOT NULL
) STRICT;
";

/// The watched index tables and their key columns.
const WATCHED: &[(&str, &str)] = &[
    ("customers", "id"),
    ("policies", "id"),
    ("visits", "id"),
    ("contacts", "id"),
    ("days", "doc"),
];

fn touch_triggers() -> String {
    let mut sql = String::from(INDEX_TOUCHES);
    for (table, key) in WATCHED {
        for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
            let name = format!("{table}_touch_{}", op.to_ascii_lowercase());
            sql.push_str(&format!(
                "CREATE TRIGGER IF NOT EXISTS {name} AFTER {op} ON {table} BEGIN
                     INSERT INTO index_touches (tbl, id) VALUES ('{table}', {row}.{key});
                 END;\n"
            ));
        }
    }
    sql
}

/// Creates the server's tables if missing, or checks that they are not newer than this build.
pub fn init(conn: &Connection) -> Result<()> {
    conn.execute_batch(TABLES)?;
    conn.execute_batch(DASHBOARD_TABLES)?;
    conn.execute_batch(&touch_triggers())?;
    // Desks registered one per manager by older builds: the same devices, with the actor
    // their device bound (so the same desk home finds its device again).
    // Only when there is something to move: a write at every open, even of nothing, would
    // tell every other connection (`PRAGMA data_version`) that the file changed, and the
    // serving store would re-check its working sets after each `doorstep admin` command.
    let older_desks: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM desks)", [], |r| r.get(0))?;
    if older_desks {
        conn.execute_batch(
            "INSERT OR IGNORE INTO desk_devices (device, user, actor)
               SELECT k.device, k.user, d.actor FROM desks k LEFT JOIN devices d ON d.id = k.device;
             DELETE FROM desks;",
        )?;
    }
    let found: Option<String> = conn
        .query_row(
            "SELECT value FROM server_meta WHERE key = 'schema'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match found.and_then(|v| v.parse::<i64>().ok()) {
        None => {
            conn.execute(
                "INSERT INTO server_meta (key, value) VALUES ('schema', ?1), ('doc_epoch', '0')
                 ON CONFLICT (key) DO NOTHING",
                [SERVER_SCHEMA_VERSION.to_string()],
            )?;
            Ok(())
        }
        Some(v) if v > SERVER_SCHEMA_VERSION => Err(Error::invalid(
            "server database",
            format!("server schema {v} is newer than this build ({SERVER_SCHEMA_VERSION})"),
        )),
        // Upgrades from older versions go here; version 1 is the first.
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Accounts, SqliteStore};

    /// A desk registered by an older build (one per manager, in `desks`) is found again by
    /// the desk home whose actor its device bound, and stays listed as a desk.
    #[test]
    fn desks_of_older_files_move_to_desk_devices() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store.create_team(&"north".parse().unwrap()).unwrap();
        store
            .add_member(crate::accounts::NewMember {
                user: "S-1".parse().unwrap(),
                name: String::new(),
                role: client_core::model::Role::Supervisor,
                team: "north".parse().unwrap(),
                reports_to: None,
            })
            .unwrap();
        let issued = store.issue_device(&"S-1".parse().unwrap()).unwrap();
        let path = store.path().to_path_buf();
        drop(store);
        let actor = "00112233445566778899aabbccddeeff";
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute(
                "UPDATE devices SET actor = ?1 WHERE id = ?2",
                [actor, &issued.device.to_string()],
            )
            .unwrap();
            conn.execute("DELETE FROM desk_devices", []).unwrap();
            conn.execute(
                "INSERT INTO desks (user, device) VALUES ('S-1', ?1)",
                [issued.device.to_string()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let manager = store.member(&"S-1".parse().unwrap()).unwrap().unwrap();
        assert_eq!(
            store.desk_device(&manager, actor).unwrap().id,
            issued.device
        );
        assert!(store.devices().unwrap().iter().all(|d| d.desk));
        let conn = Connection::open(&path).unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM desks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
