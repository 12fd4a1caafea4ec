//! What the server writes into documents itself on PostgreSQL (`store::postgres::server_writes`):
//! a reassignment and an import, checked against the real PostgreSQL at `DOORSTEP_TEST_PG`
//! (a database of its own per test) and against what client-core's `Store` writes for the
//! same edit, which is what the embedded store does.

use automerge::AutoCommit;
use chrono::NaiveDate;
use client_core::documents::actor_roles;
use client_core::index::{read_customer, CustomerView};
use client_core::model::{CustomerPatch, NewCustomer, NewPolicy, PolicyPatch, PolicyStatus, Role};
use client_core::{CustomerId, DocId, Identity, Options, PolicyId, Store};
use doorstep_server::accounts::TeamId;
use doorstep_server::store::postgres::PgStore;
use doorstep_server::store::{
    Documents, ImportPlan, Imports, PlannedCard, PlannedCustomer, PlannedPolicy,
};
use doorstep_server::Error;
use tempfile::TempDir;

mod support;
use support::pg::TestDb;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn policy(number: &str, status: PolicyStatus) -> NewPolicy {
    NewPolicy {
        number: number.into(),
        product: "Life".into(),
        policyholder: String::new(),
        insured: String::new(),
        premium_cents: 10_000,
        payment_method: Default::default(),
        riders: vec![],
        due_date: day("2027-03-01"),
        status,
    }
}

/// A home of `user` with `role` in `dir`.
fn home(dir: &TempDir, user: &str, role: Role) -> Store {
    Store::create(
        dir.path().join(format!("{user}.db")),
        Identity {
            user: user.parse().unwrap(),
            role,
        },
        Options::default(),
    )
    .unwrap()
}

/// An agent's customer with a normal and an exited policy, as the agent's phone wrote it.
fn agents_customer(dir: &TempDir) -> (Store, CustomerId) {
    let mut phone = home(dir, "A-1", Role::Agent);
    let c = phone
        .add_customer(NewCustomer {
            name: "Li Na".into(),
            phones: vec!["13800000001".into()],
            ..Default::default()
        })
        .unwrap();
    phone
        .add_policy(c.id, policy("P-1", PolicyStatus::Normal))
        .unwrap();
    phone
        .add_policy(c.id, policy("P-2", PolicyStatus::Exited))
        .unwrap();
    (phone, c.id)
}

fn bytes(s: &mut Store, doc: &DocId) -> Vec<u8> {
    s.save_document(doc).unwrap().unwrap()
}

/// A team with the agents A-1 and A-2 (written directly: this file tests document writes).
fn team(db: &TestDb) {
    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO teams (name) VALUES ('north');
         INSERT INTO users (id, name, role, team) VALUES
             ('A-1', 'A-1', 'agent', 'north'), ('A-2', 'A-2', 'agent', 'north');",
    )
    .unwrap();
}

/// Stores a document's bytes in the PostgreSQL store, as a sync would.
fn put(store: &PgStore, doc: &DocId, data: &[u8]) {
    store
        .database()
        .write(|tx| {
            let mut other = AutoCommit::load(data).unwrap();
            tx.merge(doc, |d| {
                d.merge(&mut other).unwrap();
                Ok(())
            })?;
            Ok(())
        })
        .unwrap();
}

/// Gives a home a document's bytes through a sync exchange (as a phone's sync would).
fn sync_into(home: &mut Store, doc: &DocId, data: &[u8]) {
    use automerge::sync::{Message, State, SyncDoc};
    let mut source = AutoCommit::load(data).unwrap();
    let (mut theirs, mut mine) = (State::new(), State::new());
    for _ in 0..20 {
        let out = source.sync().generate_sync_message(&mut theirs);
        if let Some(m) = &out {
            home.receive_sync_message(doc, &mut mine, &m.clone().encode())
                .unwrap();
        }
        let back = home.generate_sync_message(doc, &mut mine).unwrap();
        if let Some(b) = &back {
            source
                .sync()
                .receive_sync_message(&mut theirs, Message::decode(b).unwrap())
                .unwrap();
        }
        if out.is_none() && back.is_none() {
            break;
        }
    }
    assert!(home.heads(doc).unwrap().len() >= source.get_heads().len());
}

fn load(store: &PgStore, doc: &DocId) -> AutoCommit {
    store
        .database()
        .write(|tx| Ok(tx.load(doc)?.unwrap().doc))
        .unwrap()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).unwrap().get(0)
}

/// The records a view shows, for comparing two documents' readings.
fn records(v: &CustomerView) -> String {
    let mut policies = v.policies.clone();
    policies.sort_by_key(|p| p.id);
    format!("{:?} {:?}", v.customer, policies)
}

#[test]
fn assign_writes_what_the_embedded_store_writes_as_the_server() {
    let db = TestDb::new();
    let store = db.store();
    team(&db);
    let dir = TempDir::new().unwrap();
    let (mut phone, c) = agents_customer(&dir);
    let doc = DocId::Customer(c);
    let data = bytes(&mut phone, &doc);
    put(&store, &doc, &data);

    let moved = store.assign(c, &"A-2".parse().unwrap(), true).unwrap();
    assert_eq!(moved.agent, Some("A-2".parse().unwrap()));

    // The embedded store's way: client-core's Store as the server's own user.
    let mut embedded = home(&dir, "server", Role::DistrictManager);
    sync_into(&mut embedded, &doc, &data);
    embedded
        .edit_customer(
            c,
            CustomerPatch {
                agent: Some(Some("A-2".parse().unwrap())),
                ..Default::default()
            },
        )
        .unwrap();
    for p in embedded.policies_of(c).unwrap() {
        if p.status == PolicyStatus::Normal {
            embedded
                .edit_policy(
                    p.id,
                    PolicyPatch {
                        status: Some(PolicyStatus::Orphan),
                        ..Default::default()
                    },
                )
                .unwrap();
        }
    }
    let want = read_customer(
        &AutoCommit::load(&bytes(&mut embedded, &doc)).unwrap(),
        &doc,
    );

    let d = load(&store, &doc);
    let got = read_customer(&d, &doc);
    assert_eq!(records(&got), records(&want));
    let statuses: Vec<_> = got
        .policies
        .iter()
        .map(|p| (p.number.clone(), p.status))
        .collect();
    assert!(
        statuses.contains(&("P-1".into(), PolicyStatus::Orphan)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("P-2".into(), PolicyStatus::Exited)),
        "{statuses:?}"
    );

    // The server registered its actor as the district manager `server`, and it is the one in
    // server_meta.
    let actor: String = db
        .client()
        .query_one("SELECT value FROM server_meta WHERE key = 'actor'", &[])
        .unwrap()
        .get(0);
    let roles = actor_roles(&d);
    assert_eq!(
        roles.get(&actor),
        Some(&(Role::DistrictManager, "server".to_string())),
        "{roles:?}"
    );
    // Three changes of the server's (the card, one policy), all logged via admin, and the
    // index says the new agent.
    let mine = d
        .clone()
        .get_changes(&[])
        .iter()
        .filter(|ch| ch.actor_id().to_hex_string() == actor)
        .count() as i64;
    assert_eq!(mine, 2);
    assert_eq!(
        count(&db, "SELECT count(*) FROM change_log WHERE via = 'admin'"),
        mine
    );
    let agent: Option<String> = db
        .client()
        .query_one(
            "SELECT agent FROM customers WHERE id = $1",
            &[&c.to_string()],
        )
        .unwrap()
        .get(0);
    assert_eq!(agent.as_deref(), Some("A-2"));

    // A second reassignment uses the same actor.
    store.assign(c, &"A-1".parse().unwrap(), false).unwrap();
    let mut d = load(&store, &doc);
    assert_eq!(actor_roles(&d).len(), roles.len());
    assert_eq!(
        read_customer(&d, &doc).customer.unwrap().agent,
        Some("A-1".parse().unwrap())
    );

    // Unknown customer or agent: NotFound, and nothing stored.
    let heads = d.get_heads();
    let docs = count(&db, "SELECT count(*) FROM documents");
    assert!(matches!(
        store.assign(CustomerId::new(), &"A-2".parse().unwrap(), false),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.assign(c, &"nobody".parse().unwrap(), false),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(load(&store, &doc).get_heads(), heads);
    assert_eq!(count(&db, "SELECT count(*) FROM documents"), docs);
}

#[test]
fn an_import_is_written_whole_or_not_at_all() {
    let db = TestDb::new();
    let store = db.store();
    team(&db);
    let dir = TempDir::new().unwrap();
    let (mut phone, c) = agents_customer(&dir);
    let doc = DocId::Customer(c);
    put(&store, &doc, &bytes(&mut phone, &doc));
    let p1 = phone
        .policies_of(c)
        .unwrap()
        .into_iter()
        .find(|p| p.number == "P-1")
        .unwrap();
    let north: TeamId = "north".parse().unwrap();

    let plan = ImportPlan {
        team: north.clone(),
        customers: vec![
            PlannedCustomer {
                key: "wang wei|13800000002".into(),
                card: PlannedCard::New(NewCustomer {
                    name: "Wang Wei".into(),
                    phones: vec!["13800000002".into()],
                    agent: Some("A-2".parse().unwrap()),
                    ..Default::default()
                }),
                policies: vec![
                    PlannedPolicy::New(policy("P-3", PolicyStatus::Normal)),
                    PlannedPolicy::New(policy("P-4", PolicyStatus::Normal)),
                ],
            },
            PlannedCustomer {
                key: "li na|13800000001".into(),
                card: PlannedCard::Existing(
                    c,
                    Some(CustomerPatch {
                        address: Some(Some("1 Garden Road".into())),
                        ..Default::default()
                    }),
                ),
                policies: vec![
                    PlannedPolicy::Existing(
                        p1.id,
                        PolicyPatch {
                            premium_cents: Some(12_345),
                            ..Default::default()
                        },
                    ),
                    PlannedPolicy::New(policy("P-5", PolicyStatus::Normal)),
                ],
            },
        ],
    };
    let ids = store.apply_import(&plan).unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], c);
    let new = ids[0];
    let key: uuid::Uuid = db
        .client()
        .query_one(
            "SELECT customer FROM import_keys WHERE team = 'north' AND key = 'wang wei|13800000002'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(key, new.as_uuid());
    assert_eq!(count(&db, "SELECT count(*) FROM import_keys"), 1);

    let new_doc = DocId::Customer(new);
    let v = read_customer(&load(&store, &new_doc), &new_doc);
    let card = v.customer.unwrap();
    assert_eq!(
        (card.name.as_str(), card.agent.clone()),
        ("Wang Wei", Some("A-2".parse().unwrap()))
    );
    let mut numbers: Vec<_> = v.policies.iter().map(|p| p.number.clone()).collect();
    numbers.sort();
    assert_eq!(numbers, ["P-3", "P-4"]);
    assert!(v.policies.iter().all(|p| p.policyholder == "Wang Wei"));
    let v = read_customer(&load(&store, &doc), &doc);
    assert_eq!(
        v.customer.unwrap().address.as_deref(),
        Some("1 Garden Road")
    );
    let p = v.policies.iter().find(|p| p.id == p1.id).unwrap();
    assert_eq!(p.premium_cents, 12_345);
    assert!(v.policies.iter().any(|p| p.number == "P-5"));
    assert_eq!(count(&db, "SELECT count(*) FROM policies"), 5);
    // The new customer's document starts with the same genesis as anyone's.
    assert_eq!(
        load(&store, &new_doc)
            .get_changes(&[])
            .first()
            .map(|c| c.hash()),
        Some(client_core::documents::genesis_hash(&new_doc).unwrap())
    );

    // A plan whose last entry names an unknown policy writes nothing, not even its first
    // (valid) customers.
    let before = (
        count(&db, "SELECT count(*) FROM documents"),
        count(&db, "SELECT count(*) FROM chunks"),
        count(&db, "SELECT count(*) FROM change_log"),
        count(&db, "SELECT count(*) FROM import_keys"),
        count(&db, "SELECT count(*) FROM customers"),
    );
    let bad = ImportPlan {
        team: north,
        customers: vec![
            PlannedCustomer {
                key: "zhao lei|13800000003".into(),
                card: PlannedCard::New(NewCustomer {
                    name: "Zhao Lei".into(),
                    ..Default::default()
                }),
                policies: vec![PlannedPolicy::New(policy("P-9", PolicyStatus::Normal))],
            },
            PlannedCustomer {
                key: "li na|13800000001".into(),
                card: PlannedCard::Existing(c, None),
                policies: vec![PlannedPolicy::Existing(
                    PolicyId::new(),
                    PolicyPatch::default(),
                )],
            },
        ],
    };
    assert!(matches!(
        store.apply_import(&bad),
        Err(Error::NotFound { .. })
    ));
    let unknown = ImportPlan {
        customers: vec![PlannedCustomer {
            key: "k".into(),
            card: PlannedCard::Existing(CustomerId::new(), None),
            policies: vec![],
        }],
        ..bad.clone()
    };
    assert!(matches!(
        store.apply_import(&unknown),
        Err(Error::NotFound { .. })
    ));
    let after = (
        count(&db, "SELECT count(*) FROM documents"),
        count(&db, "SELECT count(*) FROM chunks"),
        count(&db, "SELECT count(*) FROM change_log"),
        count(&db, "SELECT count(*) FROM import_keys"),
        count(&db, "SELECT count(*) FROM customers"),
    );
    assert_eq!(after, before);
}
