//! Several `doorstep serve` instances on one PostgreSQL database (issue 12): real server
//! processes started with `--database-url` on a database of the test's own
//! (`support::pg::TestDb`), and the pieces they share driven in-process: readiness against the
//! schema's version, the pool's gauges, the start-up errors, change notices between instances
//! (`NOTIFY`/`LISTEN`, surviving a killed listener connection) and login lockouts counted in
//! the database.
//!
//! The tests that log a manager in or sync a phone need the PostgreSQL store's accounts,
//! sessions and documents (written apart from these): `admin_works_on_the_database_url`,
//! `a_sync_through_b_reaches_a_dashboard_on_a` and `the_lockout_holds_when_the_guesser_alternates_instances`.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use client_core::model::{NewVisit, Outcome, Role};
use client_core::CustomerId;
use doorstep_server::accounts::TeamId;
use doorstep_server::http::events::Notice;
use doorstep_server::http::login_guard::LoginGuard;
use doorstep_server::serve::shared_events;
use doorstep_server::store::postgres::notify::LISTENER_APPLICATION;
use doorstep_server::store::postgres::PgTarget;
use doorstep_server::throttle::{self, Scope, SharedCounts, MAX_KEYS};
use serde_json::json;
use support::pg::TestDb;
use support::*;
use tokio::sync::broadcast;

const PASSWORD: &str = "correct horse battery staple";

fn team(s: &str) -> TeamId {
    s.parse().unwrap()
}

async fn status(url: &str, path: &str) -> (u16, String) {
    let resp = http().get(format!("{url}{path}")).send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

/// Runs `f` on a runtime of its own. The tests are plain threads: the synchronous PostgreSQL
/// client they use to look at the database must not run inside a runtime.
fn on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Waits until `f` holds, at most `limit`.
fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The backend pids of the change listeners connected to the test's database.
fn listeners(db: &TestDb) -> Vec<i32> {
    db.client()
        .query(
            "SELECT pid FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database() ORDER BY pid",
            &[&LISTENER_APPLICATION],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn wait_for_listeners(db: &TestDb, n: usize) -> Vec<i32> {
    let mut pids = vec![];
    wait_until("listeners connected", Duration::from_secs(10), || {
        pids = listeners(db);
        pids.len() == n
    });
    // Connected; `LISTEN` runs right after.
    std::thread::sleep(Duration::from_millis(300));
    pids
}

/// The next notice within `limit`, if any.
async fn next_notice(rx: &mut broadcast::Receiver<Notice>, limit: Duration) -> Option<Notice> {
    tokio::time::timeout(limit, rx.recv())
        .await
        .ok()
        .map(|r| r.unwrap())
}

#[test]
fn two_instances_are_ready_and_neither_once_a_newer_build_migrated() {
    let db = TestDb::new();
    let a = Server::start_pg(&db.url(), &[]);
    let b = Server::start_pg(&db.url(), &[]);
    for s in [&a, &b] {
        assert_eq!(
            on(status(&s.url, "/ready")),
            (200, json!({"status": "ready"}).to_string())
        );
    }
    // A newer build migrated the database: these instances must leave the load balancer.
    db.client()
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (9999, 'from_a_newer_build', '2030-01-01T00:00:00Z', '0')",
            &[],
        )
        .unwrap();
    for s in [&a, &b] {
        let (code, body) = on(status(&s.url, "/ready"));
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("not_ready"), "{body}");
        assert_eq!(on(status(&s.url, "/health")).0, 200, "alive all the same");
    }
    assert!(a.log_text().contains("not this build"), "{}", a.log_text());
    db.client()
        .execute(
            "DELETE FROM refinery_schema_history WHERE version = 9999",
            &[],
        )
        .unwrap();
    for s in [&a, &b] {
        assert_eq!(on(status(&s.url, "/ready")).0, 200);
    }
}

/// A connection to the PostgreSQL server's maintenance database (as `TestDb` makes).
fn maintenance_client() -> postgres::Client {
    let url = std::env::var("DOORSTEP_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    postgres::Client::connect(&url, postgres::NoTls).unwrap()
}

#[test]
fn ready_is_503_while_the_database_refuses_connections_and_200_after() {
    let db = TestDb::new();
    let a = Server::start_pg(&db.url(), &[]);
    assert_eq!(on(status(&a.url, "/ready")).0, 200);
    let name = db.config.get_dbname().unwrap().to_string();
    let mut admin = maintenance_client();
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .unwrap();
    let (code, body) = on(status(&a.url, "/ready"));
    assert_eq!(code, 503, "{body}");
    assert_eq!(on(status(&a.url, "/health")).0, 200);
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .unwrap();
    wait_until("ready again", Duration::from_secs(20), || {
        on(status(&a.url, "/ready")).0 == 200
    });
}

#[test]
fn metrics_show_the_pool_on_postgresql() {
    let db = TestDb::new();
    let a = Server::start_pg(&db.url(), &["--db-pool", "3"]);
    assert_eq!(on(status(&a.url, "/ready")).0, 200);
    let (code, text) = on(status(&a.url, "/metrics"));
    assert_eq!(code, 200);
    assert!(
        text.contains("doorstep_db_pool_max_connections 3"),
        "{text}"
    );
    assert!(
        text.contains("doorstep_db_pool_connections{state=\"idle\"}"),
        "{text}"
    );
    assert!(
        text.contains("doorstep_db_pool_connections{state=\"in_use\"}"),
        "{text}"
    );
}

/// `doorstep ARGS`: (exit status, stderr).
fn run_doorstep(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(args)
        .env_remove("DOORSTEP_DATA")
        .env_remove("DOORSTEP_DATABASE_URL")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_bad_url_or_an_unreachable_database_stops_the_start_with_one_line() {
    let bad = "postgres://doorstep:s3cret@db.example:notaport/doorstep";
    let unreachable = "postgres://postgres@127.0.0.1:1/doorstep";
    for cmd in [
        vec!["serve", "--addr", "127.0.0.1:0", "--database-url"],
        vec!["admin", "--database-url"],
    ] {
        let admin_tail: &[&str] = if cmd[0] == "admin" {
            &["team", "create", "x"]
        } else {
            &[]
        };
        let with = |url: &str| {
            let mut v = cmd.clone();
            v.push(url);
            v.extend_from_slice(admin_tail);
            run_doorstep(&v)
        };
        let (code, err) = with(bad);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: invalid --database-url"), "{err}");
        assert!(
            !err.contains("s3cret"),
            "the password is not repeated: {err}"
        );
        let (code, err) = with(unreachable);
        assert_eq!(code, 1, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: postgresql"), "{err}");
    }
    // The same from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("DOORSTEP_DATA")
        .env("DOORSTEP_DATABASE_URL", bad)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: invalid --database-url"), "{err}");
    let (code, err) = run_doorstep(&[
        "serve",
        "--data",
        "/tmp/nowhere",
        "--database-url",
        unreachable,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--database-url"), "{err}");
}

/// Two instances started in one working directory with the default `--desk-dir` would write
/// the managers' comments under one Automerge actor from two processes: the second is refused
/// at start with one line, and starts once given a directory of its own.
#[test]
fn a_second_instance_on_the_same_desk_directory_is_refused() {
    let db = TestDb::new();
    let url = db.url();
    let dir = tempfile::TempDir::new().unwrap();
    let serve = |desks: &std::path::Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["serve", "--addr", "127.0.0.1:0", "--database-url", &url])
            .arg("--desk-dir")
            .arg(desks)
            .env_remove("DOORSTEP_DATA")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        (child, line)
    };
    let shared = dir.path().join("doorstep-desks");
    let (mut first, line) = serve(&shared);
    assert!(line.starts_with("listening on http://"), "{line:?}");
    let (second, line) = serve(&shared);
    assert_eq!(line, "", "the second instance does not listen");
    let out = second.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("in use by another `doorstep serve`") && err.contains("--desk-dir"),
        "{err}"
    );
    let (mut third, line) = serve(&dir.path().join("own-desks"));
    assert!(line.starts_with("listening on http://"), "{line:?}");
    for child in [&mut first, &mut third] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // The lock goes with its process: the directory serves again.
    let (mut again, line) = serve(&shared);
    assert!(line.starts_with("listening on http://"), "{line:?}");
    again.kill().unwrap();
    again.wait().unwrap();
}

/// A team `north` (supervisor S-01 with a dashboard password, agents A-0001 and A-0002) with
/// the sample policy list, on the database at `url`; returns the customers.
fn north_team_pg(url: &str) -> Vec<String> {
    admin_pg(url, &["team", "create", "north"]);
    for (user, role) in [
        ("S-01", "supervisor"),
        ("A-0001", "agent"),
        ("A-0002", "agent"),
    ] {
        admin_pg(
            url,
            &[
                "user", "add", "--team", "north", "--user", user, "--role", role,
            ],
        );
    }
    admin_pg(
        url,
        &["user", "password", "--user", "S-01", "--password", PASSWORD],
    );
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sample-policies.csv");
    let r = admin_pg(url, &["import", "--team", "north", "--csv", csv]);
    r["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

async fn login(url: &str, user: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("{url}/v1/session"))
        .json(&json!({ "user": user, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Needs the PostgreSQL store's accounts (written apart from this part).
#[test]
fn admin_works_on_the_database_url() {
    let db = TestDb::new();
    let url = db.url();
    north_team_pg(&url);
    let list = admin_pg(&url, &["user", "list", "--team", "north"]);
    let users: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 3, "{list}");
    assert!(users.contains(&"S-01"), "{list}");
    let issued = admin_pg(&url, &["device", "issue", "--user", "A-0001"]);
    assert!(issued["token"].as_str().is_some(), "{issued}");
}

/// Needs the PostgreSQL store's accounts, sessions and sync (written apart from this part).
#[test]
fn a_sync_through_b_reaches_a_dashboard_on_a() {
    let db = TestDb::new();
    on(a_sync_through_b_reaches_a_dashboard_on_a_at(db.url()));
}

async fn a_sync_through_b_reaches_a_dashboard_on_a_at(url: String) {
    let customers = north_team_pg(&url);
    let token = admin_pg(&url, &["device", "issue", "--user", "A-0001"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let a = Server::start_pg(&url, &[]);
    let b = Server::start_pg(&url, &[]);
    let resp = login(&a.url, "S-01", PASSWORD).await;
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let mut events = http()
        .get(format!("{}/v1/events", a.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let first = events.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));

    let mut phone = Phone::new("A-0001", Role::Agent, token);
    phone.sync(&http(), &b.url).await;
    let customer: CustomerId = customers[0].parse().unwrap();
    let now = phone.store.now();
    phone
        .store
        .record_visit(
            customer,
            NewVisit {
                kind: "collection".into(),
                purposes: vec!["premium_collected".into()],
                outcome: Some(Outcome {
                    code: "paid".into(),
                    amount_cents: Some(680_000),
                    date: None,
                    detail: None,
                }),
                policies: vec![],
                start: now - chrono::Duration::minutes(3),
                end: now - chrono::Duration::minutes(2),
                location: None,
                notes: "Paid at the door.".into(),
            },
        )
        .unwrap();
    // Drain what the first sync announced, then the visit's sync through B.
    while tokio::time::timeout(Duration::from_millis(500), events.chunk())
        .await
        .is_ok()
    {}
    phone.sync(&http(), &b.url).await;
    let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
        .await
        .expect("a change event on A within 5 s of the sync through B")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk).to_string();
    assert!(
        text.contains("event: change") && text.contains("north"),
        "{text}"
    );
}

/// Needs the PostgreSQL store's accounts and sessions (written apart from this part).
#[test]
fn the_lockout_holds_when_the_guesser_alternates_instances() {
    let db = TestDb::new();
    on(the_lockout_holds_at(db.url()));
}

async fn the_lockout_holds_at(url: String) {
    north_team_pg(&url);
    let a = Server::start_pg(&url, &[]);
    let b = Server::start_pg(&url, &[]);
    for i in 0..throttle::ACCOUNT.free_failures {
        let s = if i % 2 == 0 { &a } else { &b };
        let code = login(&s.url, "S-01", "guess").await.status().as_u16();
        assert_eq!(code, 401, "guess {i} on {}", s.url);
    }
    // Locked on both, the right password too.
    for s in [&b, &a] {
        let resp = login(&s.url, "S-01", PASSWORD).await;
        assert_eq!(resp.status().as_u16(), 429, "{}", s.url);
        assert!(resp.headers().contains_key("retry-after"));
    }
}

#[test]
fn a_notice_published_by_one_instance_reaches_the_other_once() {
    let db = TestDb::new();
    let (a, _listening_a) = shared_events(&PgTarget::from_config(db.config.clone()));
    let (b, _listening_b) = shared_events(&PgTarget::from_config(db.config.clone()));
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    wait_for_listeners(&db, 2);
    b.changed(&team("north"));
    for rx in [&mut on_a, &mut on_b] {
        assert_eq!(
            on(next_notice(rx, Duration::from_secs(5))),
            Some(Notice::Changed(team("north")))
        );
    }
    // An instance's own change reaches its dashboards through the database, once.
    a.changed(&team("south"));
    assert_eq!(
        on(next_notice(&mut on_a, Duration::from_secs(5))),
        Some(Notice::Changed(team("south")))
    );
    assert_eq!(
        on(next_notice(&mut on_a, Duration::from_millis(500))),
        None,
        "heard twice"
    );
    // A notice sent by anyone else on the channel (another tool, psql) is heard too.
    db.client()
        .execute("NOTIFY doorstep_events, 'east'", &[])
        .unwrap();
    assert_eq!(
        on(next_notice(&mut on_b, Duration::from_secs(5))),
        Some(Notice::Changed(team("south")))
    );
    assert_eq!(
        on(next_notice(&mut on_b, Duration::from_secs(5))),
        Some(Notice::Changed(team("east")))
    );
}

#[test]
fn the_listener_survives_pg_terminate_backend() {
    let db = TestDb::new();
    let (events, _listening) = shared_events(&PgTarget::from_config(db.config.clone()));
    let mut rx = events.subscribe();
    let before = wait_for_listeners(&db, 1);
    let killed: bool = db
        .client()
        .query_one("SELECT pg_terminate_backend($1)", &[&before[0]])
        .unwrap()
        .get(0);
    assert!(killed);
    // Notices sent while it was away are lost: every dashboard is told to refresh.
    assert_eq!(
        on(next_notice(&mut rx, Duration::from_secs(10))),
        Some(Notice::Everything)
    );
    let after = wait_for_listeners(&db, 1);
    assert_ne!(before, after, "a new connection");
    events.changed(&team("north"));
    assert_eq!(
        on(next_notice(&mut rx, Duration::from_secs(5))),
        Some(Notice::Changed(team("north")))
    );
}

#[test]
fn a_serving_instance_listens_again_after_its_connection_is_killed() {
    let db = TestDb::new();
    let a = Server::start_pg(&db.url(), &[]);
    let before = wait_for_listeners(&db, 1);
    db.client()
        .execute("SELECT pg_terminate_backend($1)", &[&before[0]])
        .unwrap();
    wait_until("the listener back", Duration::from_secs(15), || {
        let now = listeners(&db);
        now.len() == 1 && now != before
    });
    wait_until("logged", Duration::from_secs(5), || {
        a.log_text().contains("change listener connected again")
    });
}

#[test]
fn two_instances_share_login_lockouts() {
    let db = TestDb::new();
    let a = LoginGuard::new().with_shared(Arc::new(db.store()));
    let b = LoginGuard::new().with_shared(Arc::new(db.store()));
    // The guards (and their pools) are dropped out of the runtime.
    on(share_lockouts(&a, &b));
}

async fn share_lockouts(a: &LoginGuard, b: &LoginGuard) {
    let addr = Some("203.0.113.9".parse().unwrap());
    for i in 0..throttle::ACCOUNT.free_failures {
        if i % 2 == 0 {
            assert!(a.admit("S-01", addr).await.is_ok());
            a.failed("S-01", addr).await;
        } else {
            assert!(b.admit("S-01", addr).await.is_ok());
            b.failed("S-01", addr).await;
        }
    }
    for g in [a, b] {
        let e = g.admit("S-01", None).await.unwrap_err();
        assert_eq!(e.code(), "too_many_attempts");
        assert!(
            g.admit("S-02", None).await.is_ok(),
            "other accounts are free"
        );
    }
    // A success through B forgets the account's failures for A too.
    b.succeeded("S-01").await;
    assert!(a.admit("S-01", None).await.is_ok());
    // The address counted all five, and is locked past its own free failures.
    for i in 0..throttle::ADDRESS.free_failures - throttle::ACCOUNT.free_failures {
        let g = if i % 2 == 0 { a } else { b };
        g.failed(&format!("U-{i}"), addr).await;
    }
    for g in [a, b] {
        assert_eq!(
            g.admit("S-03", addr).await.unwrap_err().code(),
            "too_many_attempts"
        );
        assert!(g.admit("S-03", None).await.is_ok());
    }
}

#[test]
fn failures_counted_at_once_by_several_instances_are_all_counted() {
    let db = TestDb::new();
    let stores = [Arc::new(db.store()), Arc::new(db.store())];
    let now = Utc::now();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let s = stores[i % 2].clone();
            std::thread::spawn(move || s.failed(Scope::Account, "S-01", now).unwrap())
        })
        .collect();
    let lockouts: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let failures: i32 = db
        .client()
        .query_one(
            "SELECT failures FROM login_throttle WHERE scope = 'account' AND key = 'S-01'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(failures, 16);
    assert_eq!(
        lockouts.iter().filter(|l| l.is_none()).count(),
        4,
        "{lockouts:?}"
    );
    let wait = stores[0]
        .check(Scope::Account, "S-01", now)
        .unwrap()
        .unwrap_err();
    // (the database keeps microseconds)
    let lockout = throttle::ACCOUNT.lockout(16).unwrap();
    assert!(
        lockout.saturating_sub(wait) < Duration::from_millis(1),
        "{wait:?}"
    );
    assert!(
        stores[1]
            .check(Scope::Address, "S-01", now)
            .unwrap()
            .is_ok(),
        "scopes apart"
    );
}

#[test]
fn quiet_keys_are_purged_and_the_table_stays_bounded() {
    let db = TestDb::new();
    let store = db.store();
    let now = Utc::now();
    let long_ago = now - chrono::Duration::hours(2);
    store
        .failed(Scope::Address, "198.51.100.1", long_ago)
        .unwrap();
    store.failed(Scope::Address, "198.51.100.2", now).unwrap();
    assert_eq!(store.purge_quiet(Scope::Address, now).unwrap(), 1);
    let count = |db: &TestDb| -> i64 {
        db.client()
            .query_one("SELECT count(*) FROM login_throttle", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(count(&db), 1);
    assert!(store
        .check(Scope::Address, "198.51.100.2", now)
        .unwrap()
        .is_ok());
    // A spray from many addresses within the hour: past MAX_KEYS the quietest go.
    db.client()
        .execute(
            "INSERT INTO login_throttle (scope, key, failures, last_failure)
             SELECT 'address', 'k' || i, 1, $1::timestamptz - make_interval(secs => i::float8 / 100)
             FROM generate_series(1, $2::int) AS i",
            &[&now, &((MAX_KEYS + 10) as i32)],
        )
        .unwrap();
    store.purge_quiet(Scope::Address, now).unwrap();
    assert_eq!(count(&db), MAX_KEYS as i64);
    let newest: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM login_throttle WHERE key = '198.51.100.2'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(newest, 1, "the most recent key stays");
}
