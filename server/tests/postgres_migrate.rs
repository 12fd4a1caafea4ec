//! `doorstep admin migrate --from-sqlite DIR --database-url URL` on a team's real data: an
//! embedded store filled by `doorstep demo` (a month of work recorded offline on several
//! phones and synced over HTTP), plus the server tables the demo leaves empty, moved into a
//! PostgreSQL database of its own (`DOORSTEP_TEST_PG`, dropped when the test ends).
//!
//! The first test checks the move itself (heads, index rows, server tables, a second run,
//! the refusals, a difference reported). The last two go through the PostgreSQL store's
//! traits (sync, authentication, the managers' views): they pass once the whole PostgreSQL
//! store is written.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use chrono::NaiveDate;
use client_core::model::Role;
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{DocId, Options, Store};
use client_sync::{run_sync_blocking, stored_login, RunOptions, SyncError, SyncReport, Transport};
use doorstep_server::accounts::{Device, TeamId};
use doorstep_server::store::sqlite::hold_serve_lock;
use doorstep_server::store::{Accounts, Logs, ServerStore, Sessions, SqliteStore};
use doorstep_server::views::{team_today, TeamContext};
use serde_json::Value as Json;
use tempfile::TempDir;

mod support;
use support::pg::TestDb;

/// A team's month on an embedded store: `DIR/demo` (the server's data directory, the phones'
/// homes under `phones/`).
struct Month {
    _dir: TempDir,
    data: PathBuf,
}

fn month() -> Month {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["demo", "--addr", "127.0.0.1:0", "--exit-when-ready"])
        .args(["--agents", "3", "--customers", "36", "--days", "30"])
        .args(["--seed", "7"])
        .arg("--data")
        .arg(&data)
        .output()
        .expect("doorstep runs");
    assert!(out.status.success(), "{}", text(&out));
    // What the demo leaves empty: a deactivated member, a playbook of the team's own, a
    // manager's desk and session, a spot check, a login link, a refusal.
    let store = SqliteStore::open(&data).unwrap();
    let team: TeamId = "demo".parse().unwrap();
    let members = store.members(Some(&team)).unwrap();
    let agent = |i: usize| {
        members
            .iter()
            .filter(|m| m.member.role == Role::Agent)
            .nth(i)
            .unwrap()
            .member
            .clone()
    };
    let boss = members
        .iter()
        .find(|m| m.member.role == Role::Supervisor)
        .unwrap()
        .member
        .clone();
    store
        .set_active(&agent(2).user, false, Some(&boss.user))
        .unwrap();
    let playbook = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/playbooks/insurance.toml"),
    )
    .unwrap();
    store
        .set_playbook(&team, &format!("{playbook}\n# the team's own copy\n"))
        .unwrap();
    store
        .desk_device(&boss, "0a0b0c0d0e0f00010203040506070809")
        .unwrap();
    store
        .create_session(&boss.user, &"ab".repeat(32), "2099-01-01T00:00:00.000Z")
        .unwrap();
    store
        .create_login_link(&boss.user, &"cd".repeat(32), "2099-01-01T00:00:00.000Z")
        .unwrap();
    store
        .mark_spot_check(
            &agent(0).user,
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            &boss.user,
            "checked",
        )
        .unwrap();
    let device: String = rusqlite::Connection::open(data.join("server.db"))
        .unwrap()
        .query_row("SELECT id FROM devices LIMIT 1", [], |r| r.get(0))
        .unwrap();
    // A refusal as the sync code logs one (no phone of the demo sends a forged message).
    rusqlite::Connection::open(data.join("server.db"))
        .unwrap()
        .execute(
            "INSERT INTO sync_rejections (device, user, doc, code, message, data_hash,
                 first_at, last_at, attempts)
             VALUES (?1, 'A-01', 'customer:x', 'forged_actor', 'refused', 'ff',
                 '2026-11-30T10:00:00.000Z', '2026-11-30T10:05:00.000Z', 2)",
            [device],
        )
        .unwrap();
    drop(store);
    Month { _dir: dir, data }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn migrate(data: &Path, url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["admin", "--json", "migrate", "--from-sqlite"])
        .arg(data)
        .args(["--database-url", url])
        .output()
        .expect("doorstep runs")
}

/// Runs a migration that must succeed; its JSON report.
fn migrated(data: &Path, url: &str) -> Json {
    let out = migrate(data, url);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `SELECT key, value` of a table on each side, for comparing them.
fn sqlite_pairs(data: &Path, sql: &str) -> BTreeMap<String, String> {
    let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn pg_pairs(db: &TestDb, sql: &str) -> BTreeMap<String, String> {
    db.client()
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn a_month_of_work_moves_to_postgres_with_nothing_lost() {
    let m = month();
    let db = TestDb::new();
    let url = db.url();

    let first = migrated(&m.data, &url);
    let documents = first["documents"].as_u64().unwrap();
    assert!(documents > 36, "{first}");
    assert_eq!(first["documents_written"].as_u64(), Some(documents));
    assert_eq!(first["heads_differ"], serde_json::json!([]));
    let tables = first["tables"].as_array().unwrap();
    for t in tables {
        assert_eq!(t["sqlite"], t["postgres"], "{t}");
        // Every table has something to move (the fixture fills what the demo leaves empty).
        if t["table"] != "conflicts" {
            assert!(t["sqlite"].as_i64().unwrap() > 0, "{t}");
        }
    }
    assert_eq!(tables.len(), 24);
    // The loaded tables were vacuumed and analysed by the migration itself (planner
    // statistics for the first dashboards), not left to autovacuum.
    let unanalysed: Vec<String> = db
        .client()
        .query(
            "SELECT relname::text FROM pg_stat_user_tables
              WHERE relname IN ('documents', 'chunks', 'change_log', 'customers', 'visits')
                AND (last_analyze IS NULL OR last_vacuum IS NULL)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        unanalysed.is_empty(),
        "not vacuumed and analysed: {unanalysed:?}"
    );

    // Checked here independently of the command's own comparison: every document's heads,
    // every index record, the devices' token hashes and actors, the change log.
    let heads = sqlite_pairs(&m.data, "SELECT doc, heads FROM documents");
    assert_eq!(heads.len() as u64, documents);
    assert_eq!(
        pg_pairs(
            &db,
            "SELECT doc, array_to_string(ARRAY(
                 SELECT encode(h, 'hex') FROM unnest(heads) AS h ORDER BY 1), ',')
             FROM documents"
        ),
        heads
    );
    for table in ["customers", "policies", "visits", "contacts", "comments"] {
        let json = |s: &String| serde_json::from_str::<Json>(s).unwrap();
        let ours: BTreeMap<String, Json> =
            sqlite_pairs(&m.data, &format!("SELECT id, json FROM {table}"))
                .iter()
                .map(|(k, v)| (k.clone(), json(v)))
                .collect();
        let theirs: BTreeMap<String, Json> =
            pg_pairs(&db, &format!("SELECT id::text, json::text FROM {table}"))
                .iter()
                .map(|(k, v)| (k.clone(), json(v)))
                .collect();
        assert!(!ours.is_empty(), "{table}");
        assert_eq!(theirs, ours, "{table}");
    }
    assert_eq!(
        pg_pairs(
            &db,
            "SELECT id::text, token_hash || ' ' || coalesce(actor, '') || ' ' || revoked::text
             FROM devices"
        ),
        sqlite_pairs(
            &m.data,
            "SELECT id, token_hash || ' ' || coalesce(actor, '') || ' ' ||
                 CASE revoked WHEN 1 THEN 'true' ELSE 'false' END FROM devices"
        )
    );
    assert_eq!(
        pg_pairs(
            &db,
            "SELECT encode(hash, 'hex'), doc || ' ' || via FROM change_log"
        ),
        sqlite_pairs(&m.data, "SELECT hash, doc || ' ' || via FROM change_log")
    );
    assert_eq!(
        pg_pairs(
            &db,
            "SELECT key, value FROM server_meta WHERE key = 'actor'"
        ),
        sqlite_pairs(&m.data, "SELECT key, value FROM meta WHERE key = 'actor'")
    );

    // Run again: nothing to write, nothing differs.
    let again = migrated(&m.data, &url);
    assert_eq!(again["documents_written"].as_u64(), Some(0), "{again}");
    assert_eq!(again["rows_written"].as_u64(), Some(0), "{again}");
    assert_eq!(again["tables"], first["tables"]);

    // A row PostgreSQL has and the directory lacks is a difference: exit non-zero.
    db.client()
        .execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at)
             VALUES ('ee', 'S-01', '2099-01-01')",
            &[],
        )
        .unwrap();
    let out = migrate(&m.data, &url);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("differences"), "{}", text(&out));

    // Refused: a directory being served, a database holding another team.
    let serving = hold_serve_lock(&m.data, false).unwrap();
    let out = migrate(&m.data, &url);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("being served"), "{}", text(&out));
    drop(serving);
    let other = TestDb::new();
    drop(other.store());
    other
        .client()
        .execute("INSERT INTO teams (name) VALUES ('south')", &[])
        .unwrap();
    let out = migrate(&m.data, &other.url());
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("south"), "{}", text(&out));
    assert_eq!(
        other
            .client()
            .query_one("SELECT count(*) FROM documents", &[])
            .unwrap()
            .get::<_, i64>(0),
        0
    );
    // A directory that is no store.
    let out = migrate(&m.data.join("nothing-here"), &url);
    assert!(!out.status.success(), "{}", text(&out));
}

/// A transport whose server is a store, in-process.
struct InStore<'a> {
    store: &'a dyn ServerStore,
    device: Device,
}

impl Transport for InStore<'_> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send {
        // On a thread of its own: the PostgreSQL client blocks, which it may not do on the
        // sync run's async runtime.
        let answer = std::thread::scope(|scope| {
            scope
                .spawn(|| self.store.sync(&self.device, request))
                .join()
                .expect("the store's sync does not panic")
        });
        std::future::ready(answer.map_err(|e| SyncError::Server {
            status: 500,
            message: e.to_string(),
        }))
    }
}

/// The phones' homes of a month.
fn phones(m: &Month) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(m.data.join("phones"))
        .unwrap()
        .map(|e| e.unwrap().path().join("home.db"))
        .collect();
    v.sort();
    v
}

/// Every document of a home with its heads.
fn home_heads(s: &mut Store) -> BTreeMap<DocId, Vec<automerge::ChangeHash>> {
    s.doc_ids()
        .unwrap()
        .into_iter()
        .map(|d| {
            let h = s.heads(&d).unwrap();
            (d, h)
        })
        .collect()
}

/// Each phone's documents and heads after a sync run, and what the run exchanged.
type AfterRun = (BTreeMap<DocId, Vec<automerge::ChangeHash>>, SyncReport);

/// Syncs every phone of a month that is not revoked with `store`, asserting each run
/// converged.
fn sync_phones(m: &Month, store: &dyn ServerStore) -> Vec<AfterRun> {
    let mut out = vec![];
    for home in phones(m) {
        let phone = Store::open(&home, Options::default()).unwrap();
        let token = stored_login(&phone).unwrap().unwrap().token;
        let device = store
            .authenticate(&token)
            .unwrap()
            .expect("the phone's token works");
        if device.revoked {
            continue; // the deactivated agent's phone: wiped at its next sync, as before
        }
        let phone = Mutex::new(phone);
        let report =
            run_sync_blocking(&phone, &InStore { store, device }, &RunOptions::default()).unwrap();
        assert!(report.removed.is_empty(), "{report:?}");
        assert!(
            report.rejected.is_empty() && report.failed.is_empty(),
            "{report:?}"
        );
        assert_eq!(report.pending_documents, 0, "{report:?}");
        out.push((home_heads(&mut phone.into_inner().unwrap()), report));
    }
    out
}

/// Passes once the PostgreSQL store's accounts and sync are written (issue 12's other parts).
#[test]
fn a_phone_syncs_with_its_old_token_after_the_move_and_gets_nothing_new() {
    let m = month();
    // The phones take what the server got after their last sync (the supervisor's comment
    // and answer), so that nothing is new when they sync again.
    let before = {
        let sqlite = SqliteStore::open(&m.data).unwrap();
        sync_phones(&m, &sqlite)
    };
    assert!(before.len() >= 2);
    let db = TestDb::new();
    migrated(&m.data, &db.url());
    let store = db.store();
    let stored = pg_pairs(&db, "SELECT doc, heads::text FROM documents");
    // With their old tokens, on PostgreSQL: nothing new either way, nothing lost, and not a
    // message exchanged — the sync states came along (without them each phone exchanges a
    // message per document to find out that nothing is new).
    let after = sync_phones(&m, &store);
    assert_eq!(after.len(), before.len());
    for ((heads, report), (had, _)) in after.iter().zip(&before) {
        assert_eq!(heads, had);
        assert_eq!(
            (report.messages_sent, report.messages_received),
            (0, 0),
            "{report:?}"
        );
    }
    assert_eq!(
        pg_pairs(&db, "SELECT doc, heads::text FROM documents"),
        stored
    );
}

/// The managers' views answer the same before and after the move. Passes once the
/// PostgreSQL store's projection reads are written (issue 12's other parts).
#[test]
fn the_views_answer_the_same_after_the_move() {
    let m = month();
    let db = TestDb::new();
    migrated(&m.data, &db.url());
    let sqlite = SqliteStore::open(&m.data).unwrap();
    let pg = db.store();
    let team: TeamId = "demo".parse().unwrap();
    let today = chrono::Local::now().date_naive();
    let from = today - chrono::Duration::days(40);
    let stores: [&dyn ServerStore; 2] = [&sqlite, &pg];
    let answers: Vec<(Json, Json)> = stores
        .iter()
        .map(|s| {
            let data = s.team_data(&team, from, today).unwrap();
            let ctx = TeamContext::new(&data).unwrap();
            let views = serde_json::to_value(team_today(&ctx, today)).unwrap();
            let ids: Vec<String> = sqlite_pairs(&m.data, "SELECT id, name FROM customers")
                .into_keys()
                .collect();
            let details: Vec<Json> = ids
                .iter()
                .map(|id| {
                    serde_json::to_value(s.customer_detail(id.parse().unwrap()).unwrap()).unwrap()
                })
                .collect();
            (views, Json::Array(details))
        })
        .collect();
    assert_eq!(answers[1].0, answers[0].0);
    assert_eq!(answers[1].1, answers[0].1);
}
