//! `doorstep admin migrate --from-sqlite DIR --database-url URL`: moving a team from the
//! embedded store to PostgreSQL with nothing lost, then checking that nothing was.
//!
//! What moves: every document (its saved bytes **merged** into PostgreSQL under the document's
//! row lock, so a second run, or a database that already holds some of the documents, gains
//! nothing twice and loses nothing), its index rows (written by the merge), the change log,
//! the phones' sync states (so a phone's next sync starts from what it shares with the server
//! instead of sending everything again), the server's tables (teams, members, deactivations,
//! devices with their token hashes and actors — phones keep syncing without enrolling again —,
//! playbooks and their history, refusals, import keys, passwords, sessions, login links,
//! desks, spot checks) and the server's own Automerge actor. Rows PostgreSQL already holds are
//! kept (`ON CONFLICT DO NOTHING`).
//!
//! Refused: a directory being served (`doorstep serve` holds its serve lock, shared; this
//! takes it exclusively, so no server starts on it meanwhile) and a database holding a team
//! the directory lacks (another team's data: a migration fills an empty database, or one an
//! earlier run of the same migration filled). Document work of `doorstep admin` waits on the
//! directory's document lock, held throughout; the SQLite file is read in one read
//! transaction, one consistent state.
//!
//! Then it compares: every document's heads on both sides, and the row counts of every table
//! moved (documents, index, change log, sync states, server tables). [`MigrationReport`] says
//! what differs; `doorstep admin migrate` exits non-zero on any difference.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use automerge::{AutoCommit, ChangeHash};
use client_core::documents::check_kind;
use client_core::DocId;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::postgres::{PgDatabase, SERVER_ACTOR_KEY};
use crate::store::sqlite::{document_lock_path, hold_serve_lock, DB_FILE};

/// How many documents one PostgreSQL transaction merges.
const DOCUMENTS_PER_TRANSACTION: usize = 64;
/// How many change-log rows one statement inserts.
const LOG_ROWS_PER_STATEMENT: usize = 5_000;

/// One server table as the two stores spell it: its SQLite name, its PostgreSQL name, and
/// its columns (SQLite name, PostgreSQL name, PostgreSQL type).
struct Table {
    sqlite: &'static str,
    pg: &'static str,
    columns: &'static [(&'static str, &'static str, &'static str)],
}

const TS: &str = "timestamptz";

/// The server's tables, in an order where a row's references come first.
const SERVER_TABLES: &[Table] = &[
    Table {
        sqlite: "teams",
        pg: "teams",
        columns: &[("name", "name", "text"), ("created_at", "created_at", TS)],
    },
    Table {
        sqlite: "users",
        pg: "users",
        columns: &[
            ("id", "id", "text"),
            ("name", "name", "text"),
            ("role", "role", "text"),
            ("team", "team", "text"),
            ("reports_to", "reports_to", "text"),
            ("created_at", "created_at", TS),
        ],
    },
    Table {
        sqlite: "deactivated_users",
        pg: "deactivated_users",
        columns: &[
            ("user", "user_id", "text"),
            ("by", "deactivated_by", "text"),
            ("at", "at", TS),
        ],
    },
    Table {
        sqlite: "devices",
        pg: "devices",
        columns: &[
            ("id", "id", "uuid"),
            ("user", "user_id", "text"),
            ("token_hash", "token_hash", "text"),
            ("actor", "actor", "text"),
            ("revoked", "revoked", "boolean"),
            ("created_at", "created_at", TS),
            ("last_seen", "last_seen", TS),
            ("last_sync", "last_sync", TS),
        ],
    },
    Table {
        sqlite: "playbooks",
        pg: "playbooks",
        columns: &[
            ("team", "team", "text"),
            ("toml", "toml", "text"),
            ("hash", "hash", "text"),
            ("updated_at", "updated_at", TS),
        ],
    },
    Table {
        sqlite: "playbook_history",
        pg: "playbook_history",
        columns: &[
            ("team", "team", "text"),
            ("hash", "hash", "text"),
            ("toml", "toml", "text"),
            ("first_at", "first_at", TS),
        ],
    },
    Table {
        sqlite: "sync_rejections",
        pg: "sync_rejections",
        columns: &[
            ("device", "device", "uuid"),
            ("user", "user_id", "text"),
            ("doc", "doc", "text"),
            ("code", "code", "text"),
            ("message", "message", "text"),
            ("data_hash", "data_hash", "text"),
            ("first_at", "first_at", TS),
            ("last_at", "last_at", TS),
            ("attempts", "attempts", "integer"),
        ],
    },
    Table {
        sqlite: "import_keys",
        pg: "import_keys",
        columns: &[
            ("team", "team", "text"),
            ("key", "key", "text"),
            ("customer", "customer", "uuid"),
        ],
    },
    Table {
        sqlite: "passwords",
        pg: "passwords",
        columns: &[
            ("user", "user_id", "text"),
            ("phc", "phc", "text"),
            ("updated_at", "updated_at", TS),
        ],
    },
    Table {
        sqlite: "sessions",
        pg: "sessions",
        columns: &[
            ("token_hash", "token_hash", "text"),
            ("user", "user_id", "text"),
            ("created_at", "created_at", TS),
            ("expires_at", "expires_at", TS),
        ],
    },
    Table {
        sqlite: "login_links",
        pg: "login_links",
        columns: &[
            ("token_hash", "token_hash", "text"),
            ("user", "user_id", "text"),
            ("expires_at", "expires_at", TS),
        ],
    },
    Table {
        sqlite: "desk_devices",
        pg: "desk_devices",
        columns: &[
            ("device", "device", "uuid"),
            ("user", "user_id", "text"),
            ("actor", "actor", "text"),
        ],
    },
    Table {
        sqlite: "spot_checks",
        pg: "spot_checks",
        columns: &[
            ("agent", "agent", "text"),
            ("week_from", "week_from", "date"),
            ("checked_by", "checked_by", "text"),
            ("note", "note", "text"),
            ("at", "at", TS),
        ],
    },
];

/// The tables derived from the documents or kept beside them, compared by row count (the
/// same name on both sides).
const DOCUMENT_TABLES: &[&str] = &[
    "documents",
    "customers",
    "policies",
    "visits",
    "contacts",
    "comments",
    "days",
    "problems",
    "conflicts",
    "change_log",
    "sync_states",
];

/// One table's rows on both sides after a migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// The table (its PostgreSQL name).
    pub table: String,
    /// Rows in the SQLite store.
    pub sqlite: i64,
    /// Rows in PostgreSQL.
    pub postgres: i64,
}

/// What a migration did and what the comparison found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    /// Documents in the SQLite store.
    pub documents: usize,
    /// Documents the migration changed in PostgreSQL (0 when run again).
    pub documents_written: usize,
    /// Change-log rows, sync states and server-table rows the migration added.
    pub rows_written: u64,
    /// Documents whose heads differ between the two stores (or that PostgreSQL lacks).
    pub heads_differ: Vec<String>,
    /// Row counts per table, both sides.
    pub tables: Vec<TableCount>,
}

impl MigrationReport {
    /// How many differences the comparison found (documents whose heads differ, tables whose
    /// counts differ).
    pub fn differences(&self) -> usize {
        self.heads_differ.len()
            + self
                .tables
                .iter()
                .filter(|t| t.sqlite != t.postgres)
                .count()
    }

    /// The summary `doorstep admin migrate` prints.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} documents: {} written, heads equal for {}\n{} rows of logs, sync states and server tables written\n",
            self.documents,
            self.documents_written,
            self.documents - self.heads_differ.len().min(self.documents),
            self.rows_written,
        );
        out.push_str(&format!(
            "{:<20} {:>10} {:>10}\n",
            "table", "sqlite", "postgres"
        ));
        for t in &self.tables {
            let mark = if t.sqlite == t.postgres {
                ""
            } else {
                "  DIFFERS"
            };
            out.push_str(&format!(
                "{:<20} {:>10} {:>10}{mark}\n",
                t.table, t.sqlite, t.postgres
            ));
        }
        for doc in &self.heads_differ {
            out.push_str(&format!("heads differ: {doc}\n"));
        }
        match self.differences() {
            0 => out.push_str("no difference: the team is on PostgreSQL\n"),
            n => out.push_str(&format!("{n} differences\n")),
        }
        out
    }
}

fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::invalid("sqlite store", format!("{}: {e}", path.display()))
}

/// Hex text to bytes (`None` if it is not hex).
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// Heads as client-core stores them (sorted hex, comma-separated) to sorted bytes.
fn heads_from_text(s: &str) -> Option<Vec<Vec<u8>>> {
    let mut v = s
        .split(',')
        .filter(|h| !h.is_empty())
        .map(unhex)
        .collect::<Option<Vec<_>>>()?;
    v.sort();
    Some(v)
}

fn heads_hex(heads: &[ChangeHash]) -> String {
    let mut v: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    v.sort();
    v.join(",")
}

/// Moves the embedded store in `dir` into `db` and compares the two (see the module).
pub fn migrate_from_sqlite(dir: &Path, db: &PgDatabase) -> Result<MigrationReport> {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(Error::not_found("sqlite store", path.display()));
    }
    // Opened once as the server opens it: the server's tables brought to this build's shape
    // (an older file's desks moved to `desk_devices`) before they are read.
    drop(crate::store::SqliteStore::open(dir)?);
    let _serving = hold_serve_lock(dir, true)?;
    let lock_path = document_lock_path(dir);
    let documents_lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::Io {
            path: lock_path.display().to_string(),
            source,
        })?;
    documents_lock.lock().map_err(|source| Error::Io {
        path: lock_path.display().to_string(),
        source,
    })?;
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite_err(&path))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite_err(&path))?;
    // One read transaction: every read below sees the same state.
    conn.execute_batch("BEGIN").map_err(sqlite_err(&path))?;
    let report = Migration {
        conn: &conn,
        path: &path,
        db,
    }
    .run();
    let _ = conn.execute_batch("COMMIT");
    let _ = documents_lock.unlock();
    report
}

struct Migration<'a> {
    conn: &'a Connection,
    path: &'a Path,
    db: &'a PgDatabase,
}

impl Migration<'_> {
    fn run(&self) -> Result<MigrationReport> {
        self.refuse_other_teams()?;
        let mut report = MigrationReport::default();
        report.rows_written += self.copy_server_tables()?;
        self.copy_actor()?;
        let heads = self.copy_documents(&mut report)?;
        report.rows_written += self.copy_change_log()?;
        report.rows_written += self.copy_sync_states()?;
        // Statistics and the visibility map for what was just loaded, before the comparison
        // reads it back and before any instance serves it.
        self.db.vacuum_analyze()?;
        self.compare(&heads, &mut report)?;
        Ok(report)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        sqlite_err(self.path)
    }

    /// Refuses a database holding a team the SQLite store lacks.
    fn refuse_other_teams(&self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM teams")
            .map_err(self.err())?;
        let ours: BTreeSet<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        let theirs: Vec<String> = self.db.write(|tx| {
            let rows = tx
                .sql()
                .query("SELECT name FROM teams ORDER BY name", &[])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })?;
        let foreign: Vec<String> = theirs.into_iter().filter(|t| !ours.contains(t)).collect();
        if foreign.is_empty() {
            return Ok(());
        }
        Err(Error::invalid(
            "database",
            format!(
                "it holds team(s) {} that {} lacks: migrate into an empty database (or one an \
                 earlier run of this migration filled)",
                foreign.join(", "),
                self.path.display()
            ),
        ))
    }

    /// Copies the server's tables (rows PostgreSQL holds already are kept), in one
    /// transaction. Returns the rows added.
    fn copy_server_tables(&self) -> Result<u64> {
        let mut tables = Vec::new();
        for t in SERVER_TABLES {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|(c, _, _)| format!("CAST(\"{c}\" AS TEXT)"))
                .collect();
            let sql = format!(
                "SELECT {} FROM {} ORDER BY rowid",
                cols.join(", "),
                t.sqlite
            );
            let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
            let n = t.columns.len();
            let rows: Vec<Vec<Option<String>>> = stmt
                .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
                .map_err(self.err())?
                .collect::<rusqlite::Result<_>>()
                .map_err(self.err())?;
            tables.push((t, rows));
        }
        self.db.write(|tx| {
            let mut added = 0;
            for (t, rows) in &tables {
                let names: Vec<&str> = t.columns.iter().map(|(_, c, _)| *c).collect();
                let values: Vec<String> = t
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, _, ty))| format!("($1::text[])[{}]::{ty}", i + 1))
                    .collect();
                let sql = format!(
                    "INSERT INTO {} ({}) SELECT {} ON CONFLICT DO NOTHING",
                    t.pg,
                    names.join(", "),
                    values.join(", ")
                );
                let statement = tx.sql().prepare(&sql)?;
                for row in rows {
                    added += tx.sql().execute(&statement, &[row])?;
                }
            }
            Ok(added)
        })
    }

    /// Gives PostgreSQL the embedded store's Automerge actor for the server's own writes
    /// (unless it has one already), so the server goes on writing as the same actor.
    fn copy_actor(&self) -> Result<()> {
        let actor: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'actor'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())?;
        let Some(actor) = actor.filter(|a| unhex(a).is_some_and(|b| !b.is_empty())) else {
            return Ok(());
        };
        self.db.write(|tx| {
            tx.sql().execute(
                "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&SERVER_ACTOR_KEY, &actor],
            )?;
            Ok(())
        })
    }

    /// One SQLite document, loaded from its chunks.
    fn load(&self, doc: &DocId) -> Result<AutoCommit> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM chunks WHERE doc = ?1 ORDER BY id")
            .map_err(self.err())?;
        let mut rows = stmt.query([doc.to_string()]).map_err(self.err())?;
        let mut bytes = Vec::new();
        while let Some(row) = rows.next().map_err(self.err())? {
            let data: Vec<u8> = row.get(0).map_err(self.err())?;
            bytes.extend_from_slice(&data);
        }
        let corrupt = |reason: String| {
            Error::Core(client_core::Error::CorruptDocument {
                doc: doc.to_string(),
                reason,
            })
        };
        let mut d = AutoCommit::load(&bytes).map_err(|e| corrupt(e.to_string()))?;
        check_kind(&mut d, doc)?;
        Ok(d)
    }

    /// Merges every document into PostgreSQL, a batch per transaction. Returns each
    /// document's heads as the SQLite store holds them (sorted hex).
    fn copy_documents(&self, report: &mut MigrationReport) -> Result<BTreeMap<String, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc FROM documents WHERE chunks > 0 ORDER BY doc")
            .map_err(self.err())?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        report.documents = names.len();
        let mut heads = BTreeMap::new();
        for batch in names.chunks(DOCUMENTS_PER_TRANSACTION) {
            let mut docs = Vec::with_capacity(batch.len());
            for name in batch {
                let doc: DocId = name.parse()?;
                let mut d = self.load(&doc)?;
                heads.insert(name.clone(), heads_hex(&d.get_heads()));
                docs.push((doc, d.save()));
            }
            report.documents_written += self.db.write(|tx| {
                let mut written = 0;
                for (doc, saved) in &docs {
                    let mut theirs = AutoCommit::load(saved)
                        .map_err(|e| Error::Internal(format!("{doc} does not load again: {e}")))?;
                    let merged = tx.merge(doc, |d| {
                        d.merge(&mut theirs).map_err(|e| {
                            Error::Core(client_core::Error::CorruptDocument {
                                doc: doc.to_string(),
                                reason: e.to_string(),
                            })
                        })?;
                        Ok(())
                    })?;
                    if merged.changed() {
                        written += 1;
                    }
                }
                Ok(written)
            })?;
        }
        Ok(heads)
    }

    /// Copies the change log (each hash once). Returns the rows added.
    fn copy_change_log(&self) -> Result<u64> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash, doc, received_at, via FROM change_log ORDER BY rowid")
            .map_err(self.err())?;
        let rows: Vec<(String, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        let mut added = 0;
        for chunk in rows.chunks(LOG_ROWS_PER_STATEMENT) {
            let mut cols: [Vec<String>; 4] = Default::default();
            for (h, d, at, via) in chunk {
                if unhex(h).is_none() {
                    return Err(Error::invalid(
                        "change_log",
                        format!("hash {h:?} is not hex"),
                    ));
                }
                cols[0].push(h.clone());
                cols[1].push(d.clone());
                cols[2].push(at.clone());
                cols[3].push(via.clone());
            }
            added += self.db.write(|tx| {
                let n = tx.sql().execute(
                    "INSERT INTO change_log (hash, doc, received_at, via)
                     SELECT decode(h, 'hex'), d, r::timestamptz, v
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                          WITH ORDINALITY AS t(h, d, r, v, n)
                     ORDER BY n
                     ON CONFLICT (hash) DO NOTHING",
                    &[&cols[0], &cols[1], &cols[2], &cols[3]],
                )?;
                Ok(n)
            })?;
        }
        Ok(added)
    }

    /// Copies the sync states (per document and device). Returns the rows added.
    fn copy_sync_states(&self) -> Result<u64> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc, peer, state, shared_heads FROM sync_states ORDER BY doc, peer")
            .map_err(self.err())?;
        let rows: Vec<(String, String, Vec<u8>, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        let mut states = Vec::with_capacity(rows.len());
        for (doc, peer, state, shared) in rows {
            let heads = heads_from_text(&shared).ok_or_else(|| {
                Error::invalid("sync_states", format!("{doc}/{peer}: heads are not hex"))
            })?;
            states.push((doc, peer, state, heads));
        }
        self.db.write(|tx| {
            let mut added = 0;
            for (doc, peer, state, heads) in &states {
                added += tx.sql().execute(
                    "INSERT INTO sync_states (doc, peer, state, shared_heads)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (doc, peer) DO NOTHING",
                    &[doc, peer, state, heads],
                )?;
            }
            Ok(added)
        })
    }

    /// Compares heads and row counts.
    fn compare(
        &self,
        heads: &BTreeMap<String, String>,
        report: &mut MigrationReport,
    ) -> Result<()> {
        let stored: BTreeMap<String, String> = self.db.write(|tx| {
            let rows = tx.sql().query(
                "SELECT doc, array_to_string(ARRAY(
                     SELECT encode(h, 'hex') FROM unnest(heads) AS h ORDER BY 1), ',')
                 FROM documents WHERE chunks > 0",
                &[],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        report.heads_differ = heads
            .iter()
            .filter(|(doc, h)| stored.get(*doc) != Some(*h))
            .map(|(doc, _)| doc.clone())
            .collect();
        let mut pairs: Vec<(&str, &str)> = DOCUMENT_TABLES.iter().map(|t| (*t, *t)).collect();
        pairs.extend(SERVER_TABLES.iter().map(|t| (t.sqlite, t.pg)));
        let pg_counts: Vec<i64> = self.db.write(|tx| {
            let mut out = Vec::new();
            for (_, pg) in &pairs {
                let sql = if *pg == "documents" {
                    "SELECT count(*) FROM documents WHERE chunks > 0".to_string()
                } else {
                    format!("SELECT count(*) FROM {pg}")
                };
                out.push(tx.sql().query(&sql, &[])?[0].get::<_, i64>(0));
            }
            Ok(out)
        })?;
        for ((sqlite, pg), postgres) in pairs.iter().zip(pg_counts) {
            let sql = if *sqlite == "documents" {
                "SELECT count(*) FROM documents WHERE chunks > 0".to_string()
            } else {
                format!("SELECT count(*) FROM {sqlite}")
            };
            let n: i64 = self
                .conn
                .query_row(&sql, [], |r| r.get(0))
                .map_err(self.err())?;
            report.tables.push(TableCount {
                table: pg.to_string(),
                sqlite: n,
                postgres,
            });
        }
        Ok(())
    }
}
