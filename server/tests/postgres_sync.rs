//! The sync of one request on the PostgreSQL store (`Documents::sync`), in-process against the
//! real PostgreSQL at `DOORSTEP_TEST_PG` (a database per test, dropped when it ends): phones
//! are real client-core homes syncing with client-sync's rounds through a transport that calls
//! the store directly.
//!
//! The plain path (receive, answer, push, bookkeeping in one transaction), a retried request,
//! refusals logged once with attempts, hostile messages refused with the same codes as on
//! SQLite, and two instances (two `PgStore`s on one database) between which phones hop at
//! random while three of them edit the same customers concurrently: every replica converges,
//! each visit exists once, nothing recorded is lost.
//!
//! The team, members and devices are written with SQL here (the PostgreSQL `Accounts` is
//! another part of the store); everything about documents goes through the `Documents` trait.

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;

use automerge::ChangeHash;
use chrono::Duration;
use client_core::model::{CustomerPatch, NewCustomer, NewVisit, Role};
use client_core::protocol::{DocMessage, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use client_core::{CustomerId, DocId, Identity, Options, Store, UserId, VisitId};
use client_sync::{run_sync_blocking, RunOptions, SyncError, SyncReport, Transport};
use doorstep_server::accounts::{Device, Member, NewMember, TeamId};
use doorstep_server::error::Error;
use doorstep_server::store::postgres::PgStore;
use doorstep_server::store::{Documents, ServerStore, SqliteStore};
use support::pg::TestDb;

fn user(id: &str) -> UserId {
    id.parse().unwrap()
}

fn team() -> TeamId {
    "north".parse().unwrap()
}

const NORTH: [(&str, Role, Option<&str>); 3] = [
    ("S-1", Role::Supervisor, None),
    ("A-1", Role::Agent, Some("S-1")),
    ("A-2", Role::Agent, Some("S-1")),
];

fn member(id: &str) -> Member {
    let (_, role, boss) = NORTH.iter().find(|(u, _, _)| *u == id).unwrap();
    Member {
        user: user(id),
        name: format!("{id} name"),
        role: *role,
        team: team(),
        reports_to: boss.map(user),
    }
}

/// The team north (a supervisor S-1, agents reporting to them), in SQL.
fn north(db: &TestDb) {
    let mut c = db.client();
    c.execute("INSERT INTO teams (name) VALUES ('north')", &[])
        .unwrap();
    for (id, role, boss) in NORTH {
        c.execute(
            "INSERT INTO users (id, name, role, team, reports_to) VALUES ($1, $2, $3, 'north', $4)",
            &[&id, &format!("{id} name"), &role.code(), &boss],
        )
        .unwrap();
    }
}

/// A device of `who`, registered in SQL.
fn device(db: &TestDb, who: &str) -> Device {
    let id = uuid::Uuid::new_v4();
    db.client()
        .execute(
            "INSERT INTO devices (id, user_id, token_hash) VALUES ($1, $2, $3)",
            &[&id, &who, &id.to_string()],
        )
        .unwrap();
    Device {
        id: id.to_string().parse().unwrap(),
        member: member(who),
        actor: None,
        revoked: false,
    }
}

/// The same team and a device of `who` on any store, through `Accounts`.
fn north_via_accounts<S: ServerStore>(s: &S) {
    s.create_team(&team()).unwrap();
    for (id, role, boss) in NORTH {
        s.add_member(NewMember {
            user: user(id),
            name: format!("{id} name"),
            role,
            team: team(),
            reports_to: boss.map(user),
        })
        .unwrap();
    }
}

fn device_via_accounts<S: ServerStore>(s: &S, who: &str) -> Device {
    let issued = s.issue_device(&user(who)).unwrap();
    s.authenticate(&issued.token).unwrap().unwrap()
}

/// A transport whose server is one of `stores`, chosen at random for every exchange (a
/// load balancer in front of several instances); it keeps every request.
struct Hopping<'a, S> {
    stores: &'a [S],
    device: Device,
    sent: Mutex<Vec<SyncRequest>>,
}

impl<S: Documents> Transport for Hopping<'_, S> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send {
        self.sent.lock().unwrap().push(request.clone());
        let store = &self.stores[rand::random_range(0..self.stores.len())];
        // The synchronous PostgreSQL client may not block inside the run's async runtime: the
        // store is called on a thread of its own, as the server calls it on a blocking one.
        let result = std::thread::scope(|t| {
            t.spawn(|| store.sync(&self.device, request))
                .join()
                .expect("the store's call panicked")
        });
        let result = result.map_err(|e| match e {
            Error::Revoked => SyncError::Revoked,
            e => SyncError::Server {
                status: 500,
                message: format!("{e:?}"),
            },
        });
        std::future::ready(result)
    }
}

/// A phone: a client-core home of `identity` on a device of its member.
struct Phone {
    home: Mutex<Store>,
    device: Device,
}

impl Phone {
    fn new(dir: &Path, device: Device, identity: &str) -> Phone {
        let path = dir.join(format!("phone-{}.db", device.id));
        let home = Store::create(
            &path,
            Identity {
                user: user(identity),
                role: member(identity).role,
            },
            Options::default(),
        )
        .unwrap();
        Phone {
            home: Mutex::new(home),
            device,
        }
    }

    fn actor(&self) -> String {
        self.home.lock().unwrap().actor_hex()
    }

    /// Syncs until quiet with the stores (hopping between them); returns the report and
    /// every request sent.
    fn sync<S: Documents>(&self, stores: &[S]) -> (SyncReport, Vec<SyncRequest>) {
        let (report, sent) = self.try_sync(stores);
        (report.unwrap(), sent)
    }

    /// [`Phone::sync`], the run's error returned.
    fn try_sync<S: Documents>(
        &self,
        stores: &[S],
    ) -> (Result<SyncReport, SyncError>, Vec<SyncRequest>) {
        let transport = Hopping {
            stores,
            device: self.device.clone(),
            sent: Mutex::new(vec![]),
        };
        let options = RunOptions {
            max_rounds: 40,
            ..RunOptions::default()
        };
        let report = run_sync_blocking(&self.home, &transport, &options);
        (report, transport.sent.into_inner().unwrap())
    }

    fn customer(&self, agent: &str, name: &str) -> CustomerId {
        let mut home = self.home.lock().unwrap();
        home.add_customer(NewCustomer {
            name: name.into(),
            phones: vec!["13800000000".into()],
            agent: Some(user(agent)),
            ..NewCustomer::default()
        })
        .unwrap()
        .id
    }

    fn visit(&self, customer: CustomerId) -> VisitId {
        let mut home = self.home.lock().unwrap();
        let end = home.now() - Duration::minutes(10);
        home.record_visit(
            customer,
            NewVisit {
                kind: "sales".into(),
                purposes: vec!["needs_discovery".into()],
                outcome: None,
                policies: vec![],
                start: end - Duration::minutes(40),
                end,
                location: None,
                notes: "met at home".into(),
            },
        )
        .unwrap()
        .id
    }

    fn note(&self, customer: CustomerId, note: &str) {
        let mut home = self.home.lock().unwrap();
        home.edit_customer(
            customer,
            CustomerPatch {
                notes: Some(Some(note.into())),
                ..CustomerPatch::default()
            },
        )
        .unwrap();
    }

    fn heads(&self, doc: &DocId) -> Vec<ChangeHash> {
        let mut h = self.home.lock().unwrap().heads(doc).unwrap();
        h.sort();
        h
    }

    fn visits_of(&self, c: CustomerId) -> Vec<VisitId> {
        let home = self.home.lock().unwrap();
        home.visits_of(c).unwrap().iter().map(|v| v.id).collect()
    }
}

/// One number read with SQL.
fn count(db: &TestDb, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> i64 {
    db.client().query_one(sql, params).unwrap().get(0)
}

fn stored_heads(store: &PgStore, doc: &DocId) -> Vec<ChangeHash> {
    store
        .database()
        .write(|tx| tx.heads(doc))
        .unwrap()
        .unwrap_or_default()
}

/// The plain path: a first upload stores the documents, their index rows and sync states,
/// the change log and the device's actor and last sync; the answer acknowledges; a request
/// sent again stores nothing twice; another device of the team is pushed what it may hold,
/// and a device of another agent is not.
#[test]
fn a_sync_stores_answers_pushes_and_keeps_its_books() {
    let db = TestDb::new();
    let stores = [db.store()];
    north(&db);
    let dir = tempfile::tempdir().unwrap();
    let a1 = Phone::new(dir.path(), device(&db, "A-1"), "A-1");
    let c = a1.customer("A-1", "Li Na");
    let v = a1.visit(c);
    let seq0 = stores[0].change_seq().unwrap();
    let (report, sent) = a1.sync(&stores);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(sent.len() >= 2, "a first upload takes rounds");
    let doc = DocId::Customer(c);
    let name = doc.to_string();
    assert_eq!(stored_heads(&stores[0], &doc), a1.heads(&doc));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM customers WHERE id = $1 AND agent = 'A-1'",
            &[&c.to_string()]
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM visits WHERE id = $1",
            &[&v.to_string()]
        ),
        1
    );
    let dev = uuid::Uuid::parse_str(&a1.device.id.to_string()).unwrap();
    let logged = count(
        &db,
        "SELECT count(*) FROM change_log WHERE doc = $1 AND via = $2",
        &[&name, &dev.to_string()],
    );
    assert!(logged >= 3, "genesis, card, visit: {logged}");
    let seq = stores[0].change_seq().unwrap();
    assert!(seq > seq0, "{seq0} → {seq}");
    let row = db
        .client()
        .query_one(
            "SELECT actor, last_sync IS NOT NULL FROM devices WHERE id = $1",
            &[&dev],
        )
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), Some(a1.actor()));
    assert!(row.get::<_, bool>(1), "last sync noted");
    // The server's sync state with the device shares the document's heads.
    let shared: i64 = count(
        &db,
        "SELECT count(*) FROM sync_states s JOIN documents d ON d.doc = s.doc
          WHERE s.peer = $1 AND s.doc = $2 AND s.shared_heads = d.heads",
        &[&dev.to_string(), &name],
    );
    assert_eq!(shared, 1);

    // A lost answer: the same requests again store nothing.
    let mut with_actor = a1.device.clone();
    with_actor.actor = Some(a1.actor());
    for request in &sent {
        let answer = stores[0].sync(&with_actor, request).unwrap();
        assert!(answer.rejected.is_empty(), "{:?}", answer.rejected);
    }
    assert_eq!(stores[0].change_seq().unwrap(), seq, "nothing stored twice");
    let (again, _) = a1.sync(&stores);
    assert!(again.rejected.is_empty() && again.removed.is_empty());
    assert_eq!(again.messages_received, 0, "nothing new to tell: {again:?}");
    assert_eq!(stores[0].change_seq().unwrap(), seq);

    // The supervisor's phone is pushed the customer with its visit; A-2's is not.
    let s1 = Phone::new(dir.path(), device(&db, "S-1"), "S-1");
    let (report, _) = s1.sync(&stores);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(s1.visits_of(c), [v]);
    assert_eq!(s1.heads(&doc), a1.heads(&doc));
    let a2 = Phone::new(dir.path(), device(&db, "A-2"), "A-2");
    a2.sync(&stores);
    assert!(a2.heads(&doc).is_empty(), "A-2 may not hold A-1's customer");
    // The team's playbook is in an answer to a device without it, and only then.
    let ask = |playbook: Option<String>| SyncRequest {
        protocol: PROTOCOL_VERSION,
        actor: a1.actor(),
        playbook,
        messages: vec![],
    };
    let pb = stores[0].sync(&with_actor, &ask(None)).unwrap().playbook;
    let pb = pb.expect("a device without the playbook is sent it");
    let again = stores[0].sync(&with_actor, &ask(Some(pb.hash))).unwrap();
    assert!(again.playbook.is_none());
}

/// A refused message stores nothing and is logged once in `sync_rejections`; the same
/// message again counts an attempt.
#[test]
fn refusals_are_logged_once_with_attempts() {
    let db = TestDb::new();
    let stores = [db.store()];
    north(&db);
    let dir = tempfile::tempdir().unwrap();
    // A-1's device, but a home that writes as A-2: its changes claim another member.
    let forger = Phone::new(dir.path(), device(&db, "A-1"), "A-2");
    let c = forger.customer("A-2", "Li Na");
    let doc = DocId::Customer(c);
    let seq = stores[0].change_seq().unwrap();
    let (report, sent) = forger.sync(&stores);
    let codes: Vec<_> = report
        .rejected
        .iter()
        .filter(|r| r.doc == doc)
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(codes, ["forged_actor"], "{:?}", report.rejected);
    assert_eq!(stores[0].change_seq().unwrap(), seq, "nothing stored");
    let nothing = "SELECT (SELECT count(*) FROM documents WHERE doc = $1)
                        + (SELECT count(*) FROM customers WHERE 'customer:' || id = $1)";
    assert_eq!(count(&db, nothing, &[&doc.to_string()]), 0);
    let attempts = |db: &TestDb| -> Vec<(i32, String)> {
        db.client()
            .query(
                "SELECT attempts, code FROM sync_rejections WHERE doc = $1",
                &[&doc.to_string()],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    assert_eq!(attempts(&db), [(1, "forged_actor".to_string())]);
    let mut bound = forger.device.clone();
    bound.actor = Some(forger.actor());
    for request in &sent {
        stores[0].sync(&bound, request).unwrap();
    }
    assert_eq!(attempts(&db), [(2, "forged_actor".to_string())]);
    assert_eq!(count(&db, nothing, &[&doc.to_string()]), 0);
    assert_eq!(stores[0].change_seq().unwrap(), seq);
}

/// Hostile messages — corrupt bytes, a forged actor, another agent's customer, an actor
/// already bound to another device — get the same answers as on SQLite.
fn hostile_codes<S: Documents>(
    stores: &[S],
    dir: &Path,
    a1: Device,
    a1_again: Device,
    a2: Device,
) -> Vec<String> {
    let mut codes = vec![];
    let first = |r: &SyncResponse| {
        r.rejected
            .iter()
            .map(|x| x.code.clone())
            .collect::<Vec<_>>()
            .join(",")
    };
    let phone_a2 = Phone::new(dir, a2, "A-2");
    phone_a2.customer("A-2", "Wang Fang");
    let (report, a2_sent) = phone_a2.sync(stores);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let phone_a1 = Phone::new(dir, a1, "A-1");
    phone_a1.customer("A-1", "Li Na");
    let (report, _) = phone_a1.sync(stores);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let mut a1 = phone_a1.device.clone();
    a1.actor = Some(phone_a1.actor());
    let request = |messages: Vec<DocMessage>| SyncRequest {
        protocol: PROTOCOL_VERSION,
        actor: phone_a1.actor(),
        playbook: None,
        messages,
    };
    // Corrupt bytes, and a message that is no Automerge message at all.
    let garbage = DocId::Customer(CustomerId::new());
    for data in [vec![0x42, 0xff, 0x00, 0x13], b"hello".to_vec()] {
        let r = stores[0]
            .sync(
                &a1,
                &request(vec![DocMessage {
                    doc: garbage.clone(),
                    data,
                }]),
            )
            .unwrap();
        codes.push(first(&r));
    }
    // Another agent's customer: A-2's own first message, sent by A-1's device.
    let foreign: Vec<DocMessage> = a2_sent
        .iter()
        .flat_map(|r| r.messages.clone())
        .filter(|m| matches!(m.doc, DocId::Customer(_)))
        .take(1)
        .collect();
    assert_eq!(foreign.len(), 1);
    let doc = foreign[0].doc.clone();
    let r = stores[stores.len() - 1]
        .sync(&a1, &request(foreign))
        .unwrap();
    // Refused, and listed in `removed`: the server has it and it is not A-1's.
    codes.push(format!("{} removed={}", first(&r), r.removed == [doc]));
    // A forged actor: A-1's second device whose home writes as A-2.
    let forger = Phone::new(dir, a1_again, "A-2");
    forger.customer("A-2", "Zhao Lei");
    let (report, _) = forger.sync(stores);
    codes.push(
        report
            .rejected
            .iter()
            .map(|x| x.code.clone())
            .collect::<Vec<_>>()
            .join(","),
    );
    // A-1's actor claimed by A-2's device: refused as a whole request.
    let mut a2 = phone_a2.device.clone();
    a2.actor = None;
    let stolen = stores[0].sync(&a2, &request(vec![]));
    codes.push(match stolen {
        Ok(_) => "accepted".into(),
        Err(e) => e.code().to_string(),
    });
    codes
}

#[test]
fn hostile_messages_are_refused_with_the_same_codes_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("server")).unwrap();
    north_via_accounts(&sqlite);
    let (a1, a1b, a2) = (
        device_via_accounts(&sqlite, "A-1"),
        device_via_accounts(&sqlite, "A-1"),
        device_via_accounts(&sqlite, "A-2"),
    );
    let sqlite_dir = dir.path().join("sqlite-phones");
    std::fs::create_dir_all(&sqlite_dir).unwrap();
    let expected = hostile_codes(std::slice::from_ref(&sqlite), &sqlite_dir, a1, a1b, a2);

    let db = TestDb::new();
    let stores = [db.store(), db.store()];
    north(&db);
    let pg_dir = dir.path().join("pg-phones");
    std::fs::create_dir_all(&pg_dir).unwrap();
    let got = hostile_codes(
        &stores,
        &pg_dir,
        device(&db, "A-1"),
        device(&db, "A-1"),
        device(&db, "A-2"),
    );
    assert_eq!(got, expected);
    assert_eq!(got[2], "forbidden removed=true");
    assert_eq!(got[3], "forged_actor");
    assert_eq!(got[4], "actor_mismatch");
    assert!(got[..2].iter().all(|c| c == "corrupt"), "{got:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM customers", &[]), 2);
}

/// Two instances (two stores on one database); four phones hop between them at random for
/// every request, syncing concurrently while two agents and their supervisor (a phone and a
/// tablet) record visits and edit notes on the same customers. Afterwards every replica has
/// the same heads as the database, every visit recorded exists exactly once everywhere (none
/// lost, none doubled), and no document reached a device that may not hold it.
#[test]
fn phones_hopping_between_two_instances_converge_and_lose_nothing() {
    const ROUNDS: usize = 10;
    let db = TestDb::new();
    let stores = [db.store(), db.store()];
    north(&db);
    let dir = tempfile::tempdir().unwrap();
    let a1 = Phone::new(dir.path(), device(&db, "A-1"), "A-1");
    let a2 = Phone::new(dir.path(), device(&db, "A-2"), "A-2");
    let s1 = Phone::new(dir.path(), device(&db, "S-1"), "S-1");
    // The supervisor's second phone (a tablet): two homes of one member, two actors.
    let s1b = Phone::new(dir.path(), device(&db, "S-1"), "S-1");
    // Few customers, so that the phones' concurrent requests meet on the same documents.
    let mine = vec![a1.customer("A-1", "A0")];
    let theirs = vec![a2.customer("A-2", "B0")];
    for p in [&a1, &a2, &s1, &s1b] {
        let (r, _) = p.sync(&stores);
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    }
    let all: Vec<CustomerId> = mine.iter().chain(&theirs).copied().collect();
    // Every visit recorded, and how many runs ended acknowledged (without refusals) or
    // still chasing the others' edits (`DidNotConverge`: the others kept writing the same
    // documents for the run's 40 rounds; a phone then syncs again later, as here).
    let recorded: Mutex<Vec<(CustomerId, VisitId)>> = Mutex::new(vec![]);
    let (acknowledged, chased) = (Mutex::new(0), Mutex::new(0));
    std::thread::scope(|scope| {
        for (phone, customers) in [(&a1, &mine), (&a2, &theirs), (&s1, &all), (&s1b, &all)] {
            let (stores, recorded, acknowledged, chased) =
                (&stores, &recorded, &acknowledged, &chased);
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let c = customers[rand::random_range(0..customers.len())];
                    let v = phone.visit(c);
                    phone.note(c, &format!("{} round {round}", phone.device.member.user));
                    recorded.lock().unwrap().push((c, v));
                    match phone.try_sync(stores).0 {
                        Ok(r) => {
                            assert!(r.rejected.is_empty(), "{:?}", r.rejected);
                            assert!(r.failed.is_empty(), "{:?}", r.failed);
                            *acknowledged.lock().unwrap() += 1;
                        }
                        Err(SyncError::DidNotConverge(_)) => *chased.lock().unwrap() += 1,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            });
        }
    });
    let (acknowledged, chased) = (
        acknowledged.into_inner().unwrap(),
        chased.into_inner().unwrap(),
    );
    eprintln!("{acknowledged} runs acknowledged, {chased} still chasing the others' edits");
    assert!(acknowledged > 0);
    // Quiet syncs: everyone's work reaches the supervisor's devices, and back.
    for _ in 0..2 {
        for p in [&a1, &a2, &s1, &s1b] {
            let (r, _) = p.sync(&stores);
            assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        }
    }
    let recorded = recorded.into_inner().unwrap();
    assert_eq!(recorded.len(), 4 * ROUNDS);
    for c in &all {
        let doc = DocId::Customer(*c);
        let stored = stored_heads(&stores[0], &doc);
        assert!(!stored.is_empty());
        assert_eq!(s1.heads(&doc), stored, "the supervisor's {doc}");
        assert_eq!(s1b.heads(&doc), stored, "the supervisor's tablet's {doc}");
        let owner = if mine.contains(c) { &a1 } else { &a2 };
        assert_eq!(owner.heads(&doc), stored, "the owner's {doc}");
        let other = if mine.contains(c) { &a2 } else { &a1 };
        assert!(
            other.heads(&doc).is_empty(),
            "never pushed to the other agent"
        );
    }
    for (c, v) in &recorded {
        for p in [&s1, &s1b, if mine.contains(c) { &a1 } else { &a2 }] {
            let n = p.visits_of(*c).iter().filter(|x| *x == v).count();
            assert_eq!(n, 1, "visit {v} once on {}", p.device.member.user);
        }
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM visits WHERE id = $1 AND customer = $2",
                &[&v.to_string(), &c.to_string()]
            ),
            1
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM visits", &[]),
        recorded.len() as i64
    );
    // Every change stored is logged once, and the log and the documents agree.
    let distinct: BTreeSet<VisitId> = recorded.iter().map(|(_, v)| *v).collect();
    assert_eq!(distinct.len(), recorded.len());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) - count(DISTINCT hash) FROM change_log",
            &[]
        ),
        0
    );
}

/// The sync budget and the desk's scope on PostgreSQL: once the budget is spent the rest of a
/// request is deferred `retry_later` with `more` (the run still finishes, over more
/// requests), and `sync_within` pushes only the document in scope.
#[test]
fn a_spent_budget_defers_the_rest_and_a_scope_limits_the_pushes() {
    let db = TestDb::new();
    let stores = [db.store().with_sync_budget(std::time::Duration::ZERO)];
    north(&db);
    let dir = tempfile::tempdir().unwrap();
    let a1 = Phone::new(dir.path(), device(&db, "A-1"), "A-1");
    let customers: Vec<CustomerId> = ["Li Na", "Wang Fang", "Zhao Lei"]
        .into_iter()
        .map(|n| a1.customer("A-1", n))
        .collect();
    let (report, sent) = a1.sync(&stores);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    for c in &customers {
        let doc = DocId::Customer(*c);
        assert_eq!(stored_heads(&stores[0], &doc), a1.heads(&doc));
    }
    let first = sent.iter().find(|r| r.messages.len() >= 3).unwrap();
    let mut bound = a1.device.clone();
    bound.actor = Some(a1.actor());
    let answer = stores[0].sync(&bound, first).unwrap();
    assert!(answer.more);
    let codes: Vec<_> = answer.rejected.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes.len(), first.messages.len() - 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == "retry_later"), "{codes:?}");

    // A desk of the supervisor syncing one customer is pushed that one only.
    let desk = device(&db, "S-1");
    let ask = SyncRequest {
        protocol: PROTOCOL_VERSION,
        actor: "5e5e".repeat(8),
        playbook: None,
        messages: vec![],
    };
    let scope = DocId::Customer(customers[1]);
    let answer = stores[0].sync_within(&desk, &ask, Some(&scope)).unwrap();
    let docs: Vec<_> = answer.messages.iter().map(|m| m.doc.clone()).collect();
    assert_eq!(docs, [scope]);
    let mut desk = desk;
    desk.actor = Some(ask.actor.clone());
    // Unscoped: the spent budget lets one push through, with `more`; another instance with
    // the default budget pushes every customer.
    let answer = stores[0].sync(&desk, &ask).unwrap();
    assert_eq!((answer.messages.len(), answer.more), (1, true));
    let answer = db.store().sync(&desk, &ask).unwrap();
    let docs: BTreeSet<_> = answer.messages.iter().map(|m| m.doc.clone()).collect();
    let all: BTreeSet<_> = customers.iter().map(|c| DocId::Customer(*c)).collect();
    assert_eq!(docs, all, "unscoped: every customer");
}

/// A customer the supervisor's phone reassigns from while A-1 records a visit
/// offline: A-1's next sync hands the visit in and is told to drop the customer (`removed`),
/// and A-2 is pushed the customer with the visit. Returns what A-1's run reported removed,
/// whether A-1 still holds it, and the visits A-2 ends with.
fn reassigned_while_offline<S: Documents>(
    stores: &[S],
    dir: &Path,
    a1: Device,
    a2: Device,
    s1: Device,
) -> (Vec<DocId>, bool, Vec<VisitId>, VisitId) {
    let (a1, a2, s1) = (
        Phone::new(dir, a1, "A-1"),
        Phone::new(dir, a2, "A-2"),
        Phone::new(dir, s1, "S-1"),
    );
    let c = a1.customer("A-1", "Li Na");
    let doc = DocId::Customer(c);
    assert!(a1.sync(stores).0.rejected.is_empty());
    assert!(s1.sync(stores).0.rejected.is_empty());
    let v = a1.visit(c);
    s1.home
        .lock()
        .unwrap()
        .edit_customer(
            c,
            CustomerPatch {
                agent: Some(Some(user("A-2"))),
                ..CustomerPatch::default()
            },
        )
        .unwrap();
    let (r, _) = s1.sync(stores);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let (r, _) = a1.sync(stores);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let still = !a1.heads(&doc).is_empty();
    let (r2, _) = a2.sync(stores);
    assert!(r2.rejected.is_empty(), "{:?}", r2.rejected);
    (r.removed, still, a2.visits_of(c), v)
}

#[test]
fn work_recorded_offline_on_a_reassigned_customer_is_handed_in_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("server")).unwrap();
    north_via_accounts(&sqlite);
    let sqlite_dir = dir.path().join("sqlite-phones");
    std::fs::create_dir_all(&sqlite_dir).unwrap();
    let (removed, still, visits, v) = reassigned_while_offline(
        std::slice::from_ref(&sqlite),
        &sqlite_dir,
        device_via_accounts(&sqlite, "A-1"),
        device_via_accounts(&sqlite, "A-2"),
        device_via_accounts(&sqlite, "S-1"),
    );
    assert_eq!((removed.len(), still, visits), (1, false, vec![v]));

    let db = TestDb::new();
    let stores = [db.store(), db.store()];
    north(&db);
    let pg_dir = dir.path().join("pg-phones");
    std::fs::create_dir_all(&pg_dir).unwrap();
    let (removed, still, visits, v) = reassigned_while_offline(
        &stores,
        &pg_dir,
        device(&db, "A-1"),
        device(&db, "A-2"),
        device(&db, "S-1"),
    );
    assert_eq!(removed.len(), 1, "A-1 is told to drop the customer");
    assert!(!still, "and does");
    assert_eq!(visits, [v], "the visit A-1 handed in reached A-2");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM visits WHERE id = $1 AND agent = 'A-1'",
            &[&v.to_string()]
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sync_states s JOIN devices d ON s.peer = d.id::text
              WHERE d.user_id = 'A-1'",
            &[]
        ),
        0,
        "the server forgot what A-1 held of it"
    );
}

/// Two devices claiming one actor at the same moment through two instances: `devices.actor`
/// is UNIQUE, so exactly one is bound and the other is refused `actor_mismatch` (never a
/// server error, never both).
#[test]
fn one_actor_claimed_by_two_devices_at_once_binds_one() {
    let db = TestDb::new();
    let stores = [db.store(), db.store()];
    north(&db);
    for _ in 0..8 {
        let devices = [device(&db, "A-1"), device(&db, "A-1")];
        let actor = format!("{:032x}", rand::random::<u128>());
        let barrier = std::sync::Barrier::new(2);
        let codes: Vec<&str> = std::thread::scope(|t| {
            let handles: Vec<_> = devices
                .iter()
                .zip(&stores)
                .map(|(d, s)| {
                    let (actor, barrier) = (actor.clone(), &barrier);
                    t.spawn(move || {
                        let ask = SyncRequest {
                            protocol: PROTOCOL_VERSION,
                            actor,
                            playbook: None,
                            messages: vec![],
                        };
                        barrier.wait();
                        s.sync(d, &ask).map_or_else(|e| e.code(), |_| "bound")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut codes = codes;
        codes.sort();
        assert_eq!(codes, ["actor_mismatch", "bound"]);
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM devices WHERE actor = $1",
                &[&actor]
            ),
            1
        );
    }
}
