//! The managers' views on the store layer, SQLite against PostgreSQL: the same year of a
//! 50-agent team read through each store's `Projection` and computed by `views`, in-process.
//!
//! Not a timed test: it measures, prints a Markdown table and writes the figures as JSON to
//! `target/bench/views_store.json` for `docs/benchmarks.md`. Run the `views` bench first (it
//! builds the year in `target/bench/views-data`), then
//! `cargo bench -p doorstep-server --bench views_store`. `DOORSTEP_BENCH_PG` names the
//! PostgreSQL server (default `postgres://postgres@127.0.0.1:5432/postgres`; the bench creates
//! and drops a database `doorstep_bench_views` on it); `DOORSTEP_BENCH_DATA` another data
//! directory made by `doorstep demo --exit-when-ready` (a smaller team, for a quick look).
//!
//! 1. **The data.** A copy of the data directory is opened as a `SqliteStore`; every document
//!    of it is stored in PostgreSQL through `DocumentTx::merge` (which writes the index rows),
//!    with the change log, the teams, the members and the playbooks copied as they are.
//! 2. **The views.** Each view's reads as the HTTP handlers make them (`team_data` for the
//!    view's period, `team_problems`, `agent_day`, `customer_detail`) and its computation
//!    (`views::today`, `period`, `pipeline`, `problems`, `agent_day`), 100 times one after
//!    another on each store after a warm-up, then 20 times each just after a change: agent
//!    A-01's phone records a visit and the new customer document reaches both stores (SQLite:
//!    the phone's sync, in-process; PostgreSQL: the document merged as its sync would), so the
//!    cached working sets must take the new rows in. No HTTP, JSON or gzip: the difference
//!    between the stores is what is measured; `views` gives the figures a dashboard sees.
//!
//! Until the PostgreSQL accounts are in the build, `team_data`'s members come from the SQLite
//! store (the working set and the playbook are still PostgreSQL's); the output says so.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use automerge::AutoCommit;
use chrono::{Datelike, NaiveDate, Weekday};
use client_core::model::NewVisit;
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{CustomerId, DocId, Options, Store, UserId};
use client_sync::{run_sync_blocking, SyncError, Transport};
use doorstep_server::accounts::{Device, Member};
use doorstep_server::store::postgres::{PgOptions, PgStore};
use doorstep_server::store::{Accounts, Documents, Projection, SqliteStore, TeamData};
use doorstep_server::views::{self, PeriodKind, TeamContext};
use postgres::NoTls;
use serde_json::{json, Value as Json};

const WARMUP: usize = 3;
const REQUESTS: usize = 100;
const AFTER_CHANGE: usize = 20;
const BENCH_DB: &str = "doorstep_bench_views";
/// Documents stored in PostgreSQL per transaction while copying.
const COPY_BATCH: usize = 200;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The last full working day before `built_on` (as the `views` bench picks it).
fn working_day(built_on: NaiveDate) -> NaiveDate {
    let mut d = built_on.pred_opt().expect("a day before");
    while d.weekday() == Weekday::Sun {
        d = d.pred_opt().expect("a day before");
    }
    d
}

/// A fresh database for the bench on the server at `DOORSTEP_BENCH_PG`.
fn fresh_database() -> postgres::Config {
    let url = std::env::var("DOORSTEP_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut admin = postgres::Client::connect(&url, NoTls)
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e} (set DOORSTEP_BENCH_PG)"));
    for sql in [
        format!("DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"),
        format!("CREATE DATABASE {BENCH_DB}"),
    ] {
        admin.batch_execute(&sql).expect("a fresh bench database");
    }
    let mut config: postgres::Config = url.parse().expect("a PostgreSQL URL");
    config.dbname(BENCH_DB);
    config
}

/// Copies the server's documents, change log, teams, members and playbooks into PostgreSQL.
fn copy_to_pg(server_db: &Path, pg: &PgStore, config: &postgres::Config) -> (usize, f64) {
    let started = Instant::now();
    let mut core = Store::open(server_db, Options::default()).expect("the server's documents");
    let ids = core.doc_ids().expect("document ids");
    for batch in ids.chunks(COPY_BATCH) {
        let docs: Vec<(DocId, Vec<u8>)> = batch
            .iter()
            .filter_map(|d| {
                let bytes = core.save_document(d).expect("a document")?;
                Some((d.clone(), bytes))
            })
            .collect();
        pg.database()
            .write(|tx| {
                for (doc, bytes) in &docs {
                    tx.merge(doc, |d| {
                        *d = AutoCommit::load(bytes).map_err(client_core::Error::from)?;
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .expect("documents stored in PostgreSQL");
    }
    drop(core);
    let sqlite = rusqlite::Connection::open(server_db).expect("server.db");
    let mut client = config.connect(NoTls).expect("PostgreSQL");
    let mut tx = client.transaction().expect("a transaction");
    let rows = |sql: &str, n: usize| -> Vec<Vec<Option<String>>> {
        let mut stmt = sqlite.prepare(sql).expect(sql);
        stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .expect(sql)
            .collect::<rusqlite::Result<_>>()
            .expect(sql)
    };
    for (select, insert, n) in [
        (
            "SELECT hash, doc, received_at, via FROM change_log",
            "INSERT INTO change_log (hash, doc, received_at, via)
             VALUES (decode($1, 'hex'), $2, $3::text::timestamptz, $4)",
            4,
        ),
        (
            "SELECT name FROM teams",
            "INSERT INTO teams (name) VALUES ($1)",
            1,
        ),
        (
            "SELECT id, name, role, team, reports_to FROM users",
            "INSERT INTO users (id, name, role, team, reports_to) VALUES ($1, $2, $3, $4, $5)",
            5,
        ),
        (
            "SELECT team, toml, hash FROM playbooks",
            "INSERT INTO playbooks (team, toml, hash) VALUES ($1, $2, $3)",
            3,
        ),
        (
            "SELECT team, hash, toml FROM playbook_history",
            "INSERT INTO playbook_history (team, hash, toml) VALUES ($1, $2, $3)",
            3,
        ),
    ] {
        let stmt = tx.prepare(insert).expect(insert);
        for row in rows(select, n) {
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = row
                .iter()
                .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                .collect();
            tx.execute(&stmt, &params).expect(insert);
        }
    }
    tx.commit().expect("commit");
    (ids.len(), started.elapsed().as_secs_f64())
}

/// A phone's transport whose server is the SQLite store, in-process.
struct InProcess<'a> {
    store: &'a SqliteStore,
    device: Device,
}

impl Transport for InProcess<'_> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send {
        std::future::ready(
            self.store
                .sync(&self.device, request)
                .map_err(|e| SyncError::Server {
                    status: 500,
                    message: e.to_string(),
                }),
        )
    }
}

/// The demo's phone of A-01: records a visit and brings the customer's document to both
/// stores.
struct Phone {
    home: Mutex<Store>,
    device: Device,
    visits: u32,
}

impl Phone {
    fn open(home: &Path, sqlite: &SqliteStore) -> Phone {
        let store = Store::open(
            home.join(doorstep_server::agent::HOME_DB),
            Options::default(),
        )
        .expect("the demo's phone opens");
        let login = client_sync::stored_login(&store)
            .expect("settings")
            .expect("the demo logged the phone in");
        let device = sqlite
            .authenticate(&login.token)
            .expect("authenticate")
            .expect("the phone's device");
        Phone {
            home: Mutex::new(store),
            device,
            visits: 0,
        }
    }

    fn visit_and_store(&mut self, customer: CustomerId, day: NaiveDate, stores: &Stores) {
        self.visits += 1;
        let start = day
            .and_hms_opt(20, 0, 0)
            .expect("a time")
            .and_utc()
            .fixed_offset()
            + chrono::Duration::seconds(i64::from(self.visits));
        let visit = NewVisit {
            kind: "service".into(),
            purposes: vec![],
            outcome: None,
            policies: vec![],
            start,
            end: start + chrono::Duration::minutes(10),
            location: None,
            notes: format!("bench visit {}", self.visits),
        };
        let doc = DocId::Customer(customer);
        let bytes = {
            let mut home = self.home.lock().expect("the phone");
            home.record_visit(customer, visit).expect("a visit");
            home.save_document(&doc).expect("saved").expect("held")
        };
        let transport = InProcess {
            store: &stores.sqlite,
            device: self.device.clone(),
        };
        let report = run_sync_blocking(&self.home, &transport, &Default::default())
            .expect("the phone syncs");
        assert!(report.rejected.is_empty(), "{report:?}");
        stores
            .pg
            .database()
            .write(|tx| {
                tx.merge(&doc, |d| {
                    d.merge(&mut AutoCommit::load(&bytes).map_err(client_core::Error::from)?)
                        .map_err(client_core::Error::from)?;
                    Ok(())
                })
            })
            .expect("merged into PostgreSQL");
    }
}

struct Stores {
    sqlite: SqliteStore,
    pg: PgStore,
}

/// The team's data on one store. PostgreSQL's members come from SQLite while its accounts are
/// not in the build.
fn team_data(
    stores: &Stores,
    on_pg: bool,
    team: &doorstep_server::accounts::TeamId,
    from: NaiveDate,
    to: NaiveDate,
) -> TeamData {
    if !on_pg {
        return stores.sqlite.team_data(team, from, to).expect("team data");
    }
    match stores.pg.team_data(team, from, to) {
        Ok(d) => d,
        Err(_) => {
            let members = stores.sqlite.members(Some(team)).expect("members");
            let agents: Vec<UserId> = members
                .iter()
                .filter(|m| m.member.role == client_core::model::Role::Agent)
                .map(|m| m.member.user.clone())
                .collect();
            TeamData {
                team: team.clone(),
                playbook: stores.pg.playbook_of(team).expect("playbook"),
                members,
                working_set: stores
                    .pg
                    .working_set(&agents, from, to)
                    .expect("working set"),
            }
        }
    }
}

/// One view: its reads and computation on one store.
fn view(
    name: &str,
    stores: &Stores,
    on_pg: bool,
    viewer: &Member,
    day: NaiveDate,
    worked: NaiveDate,
    customer: CustomerId,
) -> usize {
    let store: &dyn Projection = if on_pg { &stores.pg } else { &stores.sqlite };
    let team = &viewer.team;
    let ctx_of = |from, to| team_data(stores, on_pg, team, from, to);
    let now = day.and_hms_opt(18, 0, 0).expect("a time");
    match name {
        "Today" => {
            let d = ctx_of(views::day_data_from(day), day);
            let ctx = TeamContext::new(&d).expect("context");
            std::hint::black_box(views::today(&ctx, day, now));
            1
        }
        "Week" | "Month" => {
            let kind = if name == "Week" {
                PeriodKind::Week
            } else {
                PeriodKind::Month
            };
            let d = ctx_of(views::period_data_from(day), day);
            let ctx = TeamContext::new(&d).expect("context");
            std::hint::black_box(views::period(&ctx, kind, day));
            1
        }
        "Renewal pipeline" => {
            let d = ctx_of(day, day);
            let ctx = TeamContext::new(&d).expect("context");
            std::hint::black_box(views::pipeline(&ctx, day));
            1
        }
        "Escalated problems" => {
            let d = ctx_of(day, day);
            let ctx = TeamContext::new(&d).expect("context");
            let raised = store.team_problems(team).expect("problems");
            std::hint::black_box(views::problems(&ctx, viewer, raised));
            1
        }
        "Agent's day" => {
            let d = ctx_of(worked, worked);
            let ctx = TeamContext::new(&d).expect("context");
            let agent: UserId = "A-01".parse().expect("an id");
            let records = store.agent_day(&agent, worked).expect("agent day");
            std::hint::black_box(views::agent_day(&ctx, &agent, worked, records));
            1
        }
        _ => store
            .customer_detail(customer)
            .expect("detail")
            .map_or(0, |d| d.history.len()),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("views_store: run with `cargo bench -p doorstep-server --bench views_store`");
        return;
    }
    let bench = target_dir().join("bench");
    let source = std::env::var_os("DOORSTEP_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| bench.join("views-data"));
    assert!(
        source.join("server.db").exists(),
        "no data in {}: run `cargo bench -p doorstep-server --bench views` first (or set \
         DOORSTEP_BENCH_DATA to a `doorstep demo --exit-when-ready` directory)",
        source.display()
    );
    let built_on: NaiveDate = std::fs::read_to_string(source.join("bench-params.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Json>(&t).ok())
        .and_then(|v| v["built_on"].as_str().and_then(|d| d.parse().ok()))
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let run = bench.join("views-store-run");
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&bench).expect("target/bench");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&source)
        .arg(&run)
        .status()
        .expect("cp runs");
    assert!(copied.success(), "copying {} failed", source.display());

    let config = fresh_database();
    let pg = PgStore::open_config(config.clone(), PgOptions::default()).expect("PgStore");
    eprintln!("views_store: copying the documents into PostgreSQL…");
    let (docs, copy_s) = copy_to_pg(&run.join("server.db"), &pg, &config);
    let sqlite = SqliteStore::open(&run).expect("SqliteStore");
    let stores = Stores { sqlite, pg };
    let members_from_pg = stores.pg.members(None).is_ok();

    let viewer = stores
        .sqlite
        .member(&"S-01".parse().expect("an id"))
        .expect("member")
        .expect("the demo's supervisor S-01");
    let day = working_day(built_on);
    let agent: UserId = "A-01".parse().expect("an id");
    let (worked, customer) = (0..14)
        .find_map(|back| {
            let on = day - chrono::Duration::days(back);
            let records = stores.sqlite.agent_day(&agent, on).expect("agent day");
            records.visits.first().map(|v| (on, v.customer))
        })
        .expect("a visit on one of A-01's last days");
    let mut phone = Phone::open(&run.join("phones").join("A-01"), &stores.sqlite);

    let names = [
        "Today",
        "Week",
        "Month",
        "Renewal pipeline",
        "Escalated problems",
        "Agent's day",
        "Customer (card, visits, history)",
    ];
    let mut rows = vec![];
    for name in names {
        let mut row = json!({ "view": name });
        for on_pg in [false, true] {
            let label = if on_pg { "postgres" } else { "sqlite" };
            eprintln!("views_store: {name} on {label}…");
            let time = || {
                let t = Instant::now();
                std::hint::black_box(view(name, &stores, on_pg, &viewer, day, worked, customer));
                t.elapsed().as_secs_f64() * 1000.0
            };
            let mut ms: Vec<f64> = (0..WARMUP + REQUESTS).map(|_| time()).collect();
            ms.drain(..WARMUP);
            let mut changed = vec![];
            for _ in 0..AFTER_CHANGE {
                phone.visit_and_store(customer, day, &stores);
                changed.push(time());
            }
            ms.sort_by(f64::total_cmp);
            changed.sort_by(f64::total_cmp);
            let mut both: Vec<f64> = ms.iter().chain(&changed).copied().collect();
            both.sort_by(f64::total_cmp);
            row[label] = json!({
                "p50_ms": percentile(&ms, 50.0), "p99_ms": percentile(&ms, 99.0),
                "after_change_p50_ms": percentile(&changed, 50.0),
                "after_change_max_ms": changed.last().copied().unwrap_or(f64::NAN),
                "p99_all_ms": percentile(&both, 99.0),
            });
        }
        rows.push(row);
    }
    let report = json!({
        "bench": "views_store",
        "data": source.display().to_string(),
        "documents": docs,
        "copy_to_postgres_s": copy_s,
        "day": day.to_string(),
        "postgres_members_from": if members_from_pg { "postgres" } else { "sqlite" },
        "views": rows,
        "working_sets_sqlite": format!("{:?}", stores.sqlite.set_reads()),
        "working_sets_postgres": format!("{:?}", stores.pg.set_reads()),
        "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });
    let file = bench.join("views_store.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&report).expect("JSON") + "\n",
    )
    .expect("write views_store.json");
    println!(
        "{docs} documents ({}), copied into PostgreSQL in {copy_s:.0} s; {REQUESTS} reads per \
         view and store after {WARMUP} warm-up, {AFTER_CHANGE} after a change.{}\n",
        source.display(),
        if members_from_pg {
            ""
        } else {
            " PostgreSQL's team members read from SQLite (no PG accounts in this build)."
        }
    );
    println!(
        "| view | SQLite p50 (ms) | SQLite p99 (ms) | PG p50 (ms) | PG p99 (ms) | after a change: SQLite p50 | PG p50 | p99 of both: SQLite | PG |\n|---|---|---|---|---|---|---|---|---|"
    );
    let f = |r: &Json, store: &str, k: &str| r[store][k].as_f64().unwrap_or(f64::NAN);
    for r in &rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            r["view"].as_str().unwrap_or(""),
            f(r, "sqlite", "p50_ms"),
            f(r, "sqlite", "p99_ms"),
            f(r, "postgres", "p50_ms"),
            f(r, "postgres", "p99_ms"),
            f(r, "sqlite", "after_change_p50_ms"),
            f(r, "postgres", "after_change_p50_ms"),
            f(r, "sqlite", "p99_all_ms"),
            f(r, "postgres", "p99_all_ms"),
        );
    }
    println!(
        "\nworking sets: SQLite {:?}; PostgreSQL {:?}\nfigures: {}",
        stores.sqlite.set_reads(),
        stores.pg.set_reads(),
        file.display()
    );
}
