//! The views' reads on PostgreSQL (`Projection` on `PgStore`) answer exactly what the embedded
//! store answers for the same documents, order included; and the PostgreSQL working sets' cache
//! does not miss a touch committed late (a transaction that took its sequence number before
//! another's but committed after it).
//!
//! The documents are made on phones (real client-core homes of two agents and their
//! supervisor): customers with policies (two of them orphaned by a reassignment), visits and
//! contacts on both sides of a month's end, a manager's comment, a card edited on two phones at
//! once (a conflict), evening reports raising problems, one answered. They reach a
//! `SqliteStore` through its sync, as a phone's requests do; the same documents (the server's
//! copies) are merged into PostgreSQL through `DocumentTx::merge`, which writes their index
//! rows, and the server's change log is copied with its times, so that the histories can be
//! compared too. Each test has a PostgreSQL database of its own (`support::pg::TestDb`).

use std::future::Future;
use std::path::Path;
use std::sync::Mutex;

use automerge::AutoCommit;
use chrono::{DateTime, FixedOffset, NaiveDate};
use client_core::model::{
    ContactKind, CustomerPatch, NewContact, NewCustomer, NewPolicy, NewVisit, Role,
};
use client_core::playbook::WorkingSet;
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{
    CustomerId, DocId, Identity, Options, ProblemAction, ProblemId, Store, UserId, VisitId,
};
use client_sync::{run_sync_blocking, RunOptions, SyncError, Transport};
use doorstep_server::accounts::{Device, NewMember, TeamId};
use doorstep_server::store::postgres::{prune_touches, PgStore};
use doorstep_server::store::{Accounts, CustomerDetail, Documents, Projection, SqliteStore};
use tempfile::TempDir;

mod support;
use support::pg::TestDb;

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn user(s: &str) -> UserId {
    s.parse().unwrap()
}

fn north() -> TeamId {
    "north".parse().unwrap()
}

/// A phone's transport whose server is the SQLite store, called in-process.
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

/// A phone of `who`: a client-core home and a device issued by the SQLite store.
struct Phone {
    home: Mutex<Store>,
    device: Device,
}

impl Phone {
    fn new(s: &SqliteStore, dir: &Path, who: &str, role: Role) -> Phone {
        let issued = s.issue_device(&user(who)).unwrap();
        let device = s.authenticate(&issued.token).unwrap().unwrap();
        let mut home = Store::create(
            dir.join(format!("phone-{who}.db")),
            Identity {
                user: user(who),
                role,
            },
            Options::default(),
        )
        .unwrap();
        home.set_clock(Box::new(|| t("2026-07-01T21:00:00+08:00")));
        Phone {
            home: Mutex::new(home),
            device,
        }
    }

    fn sync(&self, s: &SqliteStore) {
        let transport = InProcess {
            store: s,
            device: self.device.clone(),
        };
        let report = run_sync_blocking(&self.home, &transport, &RunOptions::default()).unwrap();
        assert!(
            report.rejected.is_empty() && report.failed.is_empty(),
            "{report:?}"
        );
    }

    fn home(&self) -> std::sync::MutexGuard<'_, Store> {
        self.home.lock().unwrap()
    }
}

fn visit(start: &str, minutes: i64, notes: &str) -> NewVisit {
    let start = t(start);
    NewVisit {
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: None,
        policies: vec![],
        start,
        end: start + chrono::Duration::minutes(minutes),
        location: None,
        notes: notes.into(),
    }
}

fn policy(number: &str, due: &str) -> NewPolicy {
    NewPolicy {
        number: number.into(),
        product: "Life".into(),
        policyholder: String::new(),
        insured: String::new(),
        premium_cents: 120_000,
        payment_method: Default::default(),
        riders: vec![],
        due_date: day(due),
        status: Default::default(),
    }
}

fn contact(kind: ContactKind, at: &str) -> NewContact {
    NewContact {
        kind,
        at: t(at),
        purpose: None,
        outcome: Some("served".into()),
        policies: vec![],
        notes: String::new(),
    }
}

/// The same documents in a SQLite store (through its sync) and in PostgreSQL (merged).
struct World {
    dir: TempDir,
    sqlite: SqliteStore,
    pg: PgStore,
    db: TestDb,
    customers: Vec<CustomerId>,
    visits: Vec<VisitId>,
    problems: Vec<ProblemId>,
    numbers: Vec<String>,
}

fn world() -> World {
    let dir = TempDir::new().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("server")).unwrap();
    sqlite.create_team(&north()).unwrap();
    for (id, role, boss) in [
        ("S-1", Role::Supervisor, None),
        ("A-1", Role::Agent, Some("S-1")),
        ("A-2", Role::Agent, Some("S-1")),
    ] {
        sqlite
            .add_member(NewMember {
                user: user(id),
                name: format!("{id} name"),
                role,
                team: north(),
                reports_to: boss.map(user),
            })
            .unwrap();
    }
    let a1 = Phone::new(&sqlite, dir.path(), "A-1", Role::Agent);
    let a2 = Phone::new(&sqlite, dir.path(), "A-2", Role::Agent);
    let s1 = Phone::new(&sqlite, dir.path(), "S-1", Role::Supervisor);

    // a customer with three policies (two due the same day: ordered by number, byte-wise),
    // visits and contacts on both sides of June's end, a report with two problems; and a
    // customer with nothing else.
    let (c1, v1) = {
        let mut h = a1.home();
        let c1 = h
            .add_customer(NewCustomer {
                name: "Wang Fang".into(),
                phones: vec!["13800000000".into()],
                grade: Some("C".into()),
                agent: Some(user("A-1")),
                ..Default::default()
            })
            .unwrap()
            .id;
        let p = h.add_policy(c1, policy("a-3", "2026-06-30")).unwrap();
        h.add_policy(c1, policy("B-7", "2026-06-30")).unwrap();
        h.add_policy(c1, policy("Z-1", "2026-06-02")).unwrap();
        let v1 = h
            .record_visit(c1, visit("2026-06-10T10:00:00+08:00", 30, "first"))
            .unwrap()
            .id;
        h.record_visit(c1, visit("2026-06-30T23:10:00+08:00", 20, "month's end"))
            .unwrap();
        h.record_visit(c1, visit("2026-07-01T09:00:00+08:00", 45, "month's start"))
            .unwrap();
        let mut call = contact(ContactKind::Call, "2026-06-30T22:00:00+08:00");
        call.policies = vec![p.id];
        h.record_contact(c1, call).unwrap();
        h.record_contact(c1, contact(ContactKind::Sms, "2026-07-01T08:00:00+08:00"))
            .unwrap();
        h.add_customer(NewCustomer {
            name: "Zhao Lei".into(),
            phones: vec!["13900000000".into()],
            agent: Some(user("A-1")),
            ..Default::default()
        })
        .unwrap();
        h.write_log(day("2026-06-30"), "one visit, one call")
            .unwrap();
        h.submit_report(
            day("2026-06-30"),
            "a long day",
            vec![
                ("the customer wants a discount".into(), Some(c1)),
                ("printer out of paper".into(), None),
            ],
        )
        .unwrap();
        (c1, v1)
    };
    // a customer with two policies and a visit on June's last day, a report.
    let c2 = {
        let mut h = a2.home();
        let c2 = h
            .add_customer(NewCustomer {
                name: "Li Na".into(),
                phones: vec!["13700000000".into()],
                agent: Some(user("A-2")),
                ..Default::default()
            })
            .unwrap()
            .id;
        h.add_policy(c2, policy("X-5", "2026-07-10")).unwrap();
        h.add_policy(c2, policy("X-6", "2026-08-10")).unwrap();
        h.record_visit(c2, visit("2026-06-30T15:00:00+08:00", 30, "renewal"))
            .unwrap();
        h.record_contact(c2, contact(ContactKind::Call, "2026-06-30T16:00:00+08:00"))
            .unwrap();
        h.write_log(day("2026-06-30"), "one visit").unwrap();
        h.submit_report(
            day("2026-06-30"),
            "quiet",
            vec![("needs a new brochure".into(), None)],
        )
        .unwrap();
        c2
    };
    a1.sync(&sqlite);
    a2.sync(&sqlite);
    s1.sync(&sqlite);
    // The supervisor comments a visit and answers a problem; the card's grade is edited on
    // the supervisor's phone and the agent's before they meet again: a conflict.
    {
        let mut h = s1.home();
        h.comment_visit(v1, "ask about the children's plan")
            .unwrap();
        let raised = h.problems(None).unwrap();
        let brochure = raised
            .iter()
            .find(|p| p.problem.text == "needs a new brochure")
            .unwrap();
        h.answer_problem(brochure.problem.id, "on its way", ProblemAction::Note)
            .unwrap();
        h.edit_customer(
            c1,
            CustomerPatch {
                grade: Some(Some("A".into())),
                ..Default::default()
            },
        )
        .unwrap();
    }
    a1.home()
        .edit_customer(
            c1,
            CustomerPatch {
                grade: Some(Some("B".into())),
                ..Default::default()
            },
        )
        .unwrap();
    s1.sync(&sqlite);
    a1.sync(&sqlite);
    s1.sync(&sqlite);
    // A-2's customer goes to A-1, its policies orphaned (the server's own change).
    sqlite.assign(c2, &user("A-1"), true).unwrap();

    // The server's documents and change log, into PostgreSQL.
    let server_db = sqlite.path().to_path_buf();
    drop(sqlite);
    let (docs, log) = server_copy(&server_db);
    let db = TestDb::new();
    let pg = db.store();
    pg.database()
        .write(|tx| {
            for (doc, bytes) in &docs {
                tx.merge(doc, |d| {
                    d.merge(&mut AutoCommit::load(bytes).map_err(client_core::Error::from)?)
                        .map_err(client_core::Error::from)?;
                    Ok(())
                })?;
            }
            for (hash, doc, at, via) in &log {
                tx.sql().execute(
                    "INSERT INTO change_log (hash, doc, received_at, via)
                     VALUES (decode($1, 'hex'), $2, $3::text::timestamptz, $4)",
                    &[hash, doc, at, via],
                )?;
            }
            Ok(())
        })
        .unwrap();
    // The members, as the accounts would hold them (team_problems joins them).
    let mut client = db.client();
    client
        .execute("INSERT INTO teams (name) VALUES ('north')", &[])
        .unwrap();
    for (id, role, boss) in [
        ("S-1", "supervisor", None),
        ("A-1", "agent", Some("S-1")),
        ("A-2", "agent", Some("S-1")),
    ] {
        client
            .execute(
                "INSERT INTO users (id, name, role, team, reports_to)
                 VALUES ($1, $2, $3, 'north', $4)",
                &[&id, &format!("{id} name"), &role, &boss],
            )
            .unwrap();
    }
    let sqlite = SqliteStore::open(&dir.path().join("server")).unwrap();
    let customers = vec![c1, c2, {
        let ids: Vec<CustomerId> = docs
            .iter()
            .filter_map(|(d, _)| match d {
                DocId::Customer(c) if *c != c1 && *c != c2 => Some(*c),
                _ => None,
            })
            .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        ids[0]
    }];
    let mut visits = vec![];
    let mut numbers = vec![];
    for c in &customers {
        let detail = sqlite.customer_detail(*c).unwrap().unwrap();
        visits.extend(detail.visits.iter().map(|v| v.id));
        numbers.extend(detail.policies.iter().map(|p| p.number.clone()));
    }
    let problems: Vec<ProblemId> = sqlite
        .team_problems(&north())
        .unwrap()
        .iter()
        .map(|p| p.problem.id)
        .collect();
    assert_eq!((visits.len(), numbers.len(), problems.len()), (4, 5, 3));
    World {
        dir,
        sqlite,
        pg,
        db,
        customers,
        visits,
        problems,
        numbers,
    }
}

/// Every document of the server's SQLite file (its bytes) and its change log (hash, doc,
/// received_at, via).
type ChangeRow = (String, String, String, String);

fn server_copy(path: &Path) -> (Vec<(DocId, Vec<u8>)>, Vec<ChangeRow>) {
    let mut core = Store::open(path, Options::default()).unwrap();
    let docs = core
        .doc_ids()
        .unwrap()
        .into_iter()
        .map(|d| {
            let bytes = core.save_document(&d).unwrap().unwrap();
            (d, bytes)
        })
        .collect();
    drop(core);
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT hash, doc, received_at, via FROM change_log ORDER BY hash")
        .unwrap();
    let log = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<ChangeRow>>>()
        .unwrap();
    (docs, log)
}

/// The same answer, compared as printed (every field, in order).
fn same<T: std::fmt::Debug>(what: &str, sqlite: T, pg: T) {
    let (a, b) = (format!("{sqlite:#?}"), format!("{pg:#?}"));
    if a != b {
        let at = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(a.lines().count().min(b.lines().count()));
        let around = |s: &str| {
            s.lines()
                .skip(at.saturating_sub(8))
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{what}: SQLite and PostgreSQL differ at line {at}:\n--- SQLite\n{}\n--- PostgreSQL\n{}",
            around(&a),
            around(&b)
        );
    }
}

/// A customer's detail with its history by hash. A history lists a document's changes in an
/// order that respects their dependencies, but concurrent changes (a comment and an edit made
/// on two phones) come in the order the document received them: the two stores got them in
/// different orders (a phone's sync, a whole document merged), as two SQLite servers could.
fn concurrent_unordered(mut d: CustomerDetail) -> CustomerDetail {
    d.history.sort_by(|a, b| a.hash.cmp(&b.hash));
    d
}

/// A working set's records, each vector in one order (the stores read them unordered: the
/// computations index and sort what they read).
fn sorted(set: &WorkingSet) -> [Vec<String>; 5] {
    fn each<T: std::fmt::Debug>(v: &[T]) -> Vec<String> {
        let mut out: Vec<String> = v.iter().map(|r| format!("{r:?}")).collect();
        out.sort();
        out
    }
    [
        each(&set.customers),
        each(&set.policies),
        each(&set.visits),
        each(&set.contacts),
        each(&set.days),
    ]
}

const DATES: [&str; 5] = [
    "2026-06-10",
    "2026-06-29",
    "2026-06-30",
    "2026-07-01",
    "2026-07-02",
];

const PERIODS: [(&str, &str); 5] = [
    ("2026-06-01", "2026-06-30"),
    ("2026-06-30", "2026-06-30"),
    ("2026-07-01", "2026-07-31"),
    ("2026-06-01", "2026-07-31"),
    ("2026-07-02", "2026-06-01"),
];

#[test]
fn every_read_answers_as_the_sqlite_store_does() {
    let w = world();
    let (s, p) = (&w.sqlite, &w.pg);
    let unknown_customer = CustomerId::new();
    for c in w.customers.iter().chain([&unknown_customer]) {
        same("customer_agent", s.customer_agent(*c), p.customer_agent(*c));
        same("customer", s.customer(*c), p.customer(*c));
        let detail = p.customer_detail(*c).unwrap();
        same(
            "customer_detail",
            s.customer_detail(*c).unwrap().map(concurrent_unordered),
            detail.clone().map(concurrent_unordered),
        );
        if let Some(d) = &detail {
            assert!(!d.history.is_empty(), "a history for {c}");
        }
    }
    let first = p.customer_detail(w.customers[0]).unwrap().unwrap();
    assert_eq!(first.conflicts.len(), 1, "the grade edited twice");
    assert_eq!(first.comments.len(), 1);
    assert_eq!(
        first
            .policies
            .iter()
            .map(|p| p.number.as_str())
            .collect::<Vec<_>>(),
        ["Z-1", "B-7", "a-3"],
        "by due date, then number byte-wise"
    );
    assert!(
        first.history.iter().all(|h| h.at.is_some()),
        "times from the change log"
    );
    let moved = p.customer_detail(w.customers[1]).unwrap().unwrap();
    assert!(moved
        .policies
        .iter()
        .all(|p| p.status == client_core::model::PolicyStatus::Orphan));
    for n in w.numbers.iter().map(String::as_str).chain(["none"]) {
        same(
            "policy_by_number",
            s.policy_by_number(n),
            p.policy_by_number(n),
        );
    }
    for v in w.visits.iter().chain([&VisitId::new()]) {
        same("visit", s.visit(*v), p.visit(*v));
    }
    for id in w.problems.iter().chain([&ProblemId::new()]) {
        same("problem", s.problem(*id), p.problem(*id));
    }
    let answered = w
        .problems
        .iter()
        .filter_map(|id| p.problem(*id).unwrap())
        .filter(|r| !r.problem.answers.is_empty())
        .count();
    assert_eq!(answered, 1, "the answered problem keeps its answer");
    for team in [north(), "south".parse().unwrap()] {
        same(
            "team_problems",
            s.team_problems(&team),
            p.team_problems(&team),
        );
    }
    for agent in ["A-1", "A-2", "S-1", "nobody"].map(user) {
        for d in DATES.map(day) {
            same("visits", s.visits(&agent, d), p.visits(&agent, d));
            same(
                "agent_day",
                s.agent_day(&agent, d).unwrap(),
                p.agent_day(&agent, d).unwrap(),
            );
        }
    }
    let end = p.agent_day(&user("A-1"), day("2026-06-30")).unwrap();
    assert!(end.day.is_some() && !end.visits.is_empty() && !end.contacts.is_empty());
    let groups = [
        vec![user("A-1"), user("A-2")],
        vec![user("A-2")],
        vec![],
        vec![user("A-1"), user("A-1")],
    ];
    for agents in &groups {
        for (from, to) in PERIODS.map(|(f, t)| (day(f), day(t))) {
            same(
                "visits_between",
                s.visits_between(agents, from, to),
                p.visits_between(agents, from, to),
            );
            same(
                "contacts_between",
                s.contacts_between(agents, from, to),
                p.contacts_between(agents, from, to),
            );
            same(
                "working_set",
                sorted(&s.working_set(agents, from, to).unwrap()),
                sorted(&p.working_set(agents, from, to).unwrap()),
            );
        }
    }
    let june = p
        .visits_between(&groups[0], day("2026-06-01"), day("2026-06-30"))
        .unwrap();
    assert_eq!(june.len(), 3, "June's visits, its last day's included");
    drop(w.dir);
}

/// `team_data` reads the team's members through `Accounts`: this check passes once the
/// PostgreSQL accounts are in (until then `members` answers "not yet implemented").
#[test]
fn team_data_answers_as_the_sqlite_store_does() {
    let w = world();
    for (from, to) in PERIODS.map(|(f, t)| (day(f), day(t))) {
        let (a, b) = (
            w.sqlite.team_data(&north(), from, to).unwrap(),
            w.pg.team_data(&north(), from, to).unwrap(),
        );
        same("playbook", &a.playbook.hash, &b.playbook.hash);
        same(
            "members",
            a.members.iter().map(|m| &m.member).collect::<Vec<_>>(),
            b.members.iter().map(|m| &m.member).collect::<Vec<_>>(),
        );
        same(
            "working set",
            sorted(&a.working_set),
            sorted(&b.working_set),
        );
    }
    assert!(matches!(
        w.pg.team_data(
            &"south".parse().unwrap(),
            day("2026-06-01"),
            day("2026-06-30")
        ),
        Err(doorstep_server::Error::NotFound { .. })
    ));
}

/// The notes of a visit in a working set.
fn notes(set: &WorkingSet, id: VisitId) -> String {
    set.visits
        .iter()
        .find(|v| v.id == id)
        .map(|v| v.notes.clone())
        .unwrap()
}

/// Two transactions touch visits of a cached working set: the first takes the lower
/// `index_touches.seq` but commits after the second. A reader that remembered the highest seq
/// it had seen would skip the first for good; the set must take it in once it commits, and
/// equal a fresh read each time.
#[test]
fn a_touch_committed_late_is_not_missed() {
    let w = world();
    let agents = [user("A-1"), user("A-2")];
    let (from, to) = (day("2026-06-01"), day("2026-07-31"));
    let (late, early) = (w.visits[0], w.visits[1]);
    let before = w.pg.working_set(&agents, from, to).unwrap();
    assert_eq!(notes(&before, late), "first");
    let touch = |c: &mut postgres::Transaction<'_>, id: VisitId, text: &str| {
        c.execute(
            "UPDATE visits SET json = jsonb_set(json, '{notes}', to_jsonb($2::text))
             WHERE id = $1",
            &[&id.to_string(), &text],
        )
        .unwrap();
    };
    let last: i64 =
        w.db.client()
            .query_one("SELECT max(seq) FROM index_touches", &[])
            .unwrap()
            .get(0);
    let mut first = w.db.client();
    let mut second = w.db.client();
    let mut slow = first.transaction().unwrap();
    touch(&mut slow, late, "written first, committed last");
    {
        let mut quick = second.transaction().unwrap();
        touch(&mut quick, early, "written second, committed first");
        quick.commit().unwrap();
    }
    // The second transaction's touch is seen; the first is still running.
    let between = w.pg.working_set(&agents, from, to).unwrap();
    assert_eq!(notes(&between, early), "written second, committed first");
    assert_eq!(notes(&between, late), "first");
    slow.commit().unwrap();
    let seqs: Vec<i64> =
        w.db.client()
            .query(
                "SELECT seq FROM index_touches WHERE seq > $1 ORDER BY id = $2",
                &[&last, &early.to_string()],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(seqs.len(), 2);
    let after = w.pg.working_set(&agents, from, to).unwrap();
    assert_eq!(
        notes(&after, late),
        "written first, committed last",
        "the touch with the lower seq, committed after the higher one's, is taken in"
    );
    // The order the scenario needs: the late commit's touch holds the lower seq.
    assert!(seqs[0] < seqs[1], "late {} early {}", seqs[0], seqs[1]);
    let fresh = w.db.store().working_set(&agents, from, to).unwrap();
    same("patched set and fresh read", sorted(&after), sorted(&fresh));
    // Nothing changed since: answered from the cache as it is.
    let again = w.pg.working_set(&agents, from, to).unwrap();
    assert!(std::sync::Arc::ptr_eq(&after, &again));
    let reads = w.pg.set_reads();
    assert_eq!((reads.fresh, reads.patched), (1, 2), "{reads:?}");
    assert!(reads.cached >= 1, "{reads:?}");
}

/// Pruning drops touches a cached set has not taken in yet: the set must then be read afresh
/// (the prune records its bound), not patched from the touches that are left, which would miss
/// the pruned change.
#[test]
fn a_set_older_than_the_pruned_touches_is_read_afresh() {
    let w = world();
    let agents = [user("A-1"), user("A-2")];
    let (from, to) = (day("2026-06-01"), day("2026-07-31"));
    let id = w.visits[0];
    assert_eq!(
        notes(&w.pg.working_set(&agents, from, to).unwrap(), id),
        "first"
    );
    let mut client = w.db.client();
    client
        .execute(
            "UPDATE visits SET json = jsonb_set(json, '{notes}', '\"pruned away\"') WHERE id = $1",
            &[&id.to_string()],
        )
        .unwrap();
    // Enough later touches (of rows no set holds) for a prune to drop the update's.
    client
        .execute(
            "INSERT INTO index_touches (tbl, id)
             SELECT 'visits', 'no-such-visit' FROM generate_series(1, 260000)",
            &[],
        )
        .unwrap();
    let dropped = w.pg.database().write(prune_touches).unwrap();
    assert!(dropped > 0, "the old touches are pruned");
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM index_touches WHERE id = $1",
            &[&id.to_string()],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the update's touch is gone");
    // Fewer touches left than a patch takes (the set would otherwise be read afresh for their
    // number alone): only the recorded bound tells the set it missed some.
    client
        .execute(
            "DELETE FROM index_touches WHERE seq > (SELECT min(seq) + 10 FROM index_touches)",
            &[],
        )
        .unwrap();
    let after = w.pg.working_set(&agents, from, to).unwrap();
    assert_eq!(notes(&after, id), "pruned away");
    let reads = w.pg.set_reads();
    assert_eq!((reads.fresh, reads.patched), (2, 0), "{reads:?}");
    assert_eq!(
        w.pg.database().write(prune_touches).unwrap(),
        0,
        "nothing more to prune"
    );
}
