//! The PostgreSQL store's foundations against a real PostgreSQL (`store::postgres`): the
//! migrations, the document storage, the index writer, and two writers racing on one
//! document.
//!
//! Each test creates its own database (a random name) on the server at `DOORSTEP_TEST_PG`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and drops it when it ends, failed
//! or not. A PostgreSQL that cannot be reached fails the test: it is never skipped.

use std::sync::{Arc, Barrier};
use std::thread;

use automerge::transaction::Transactable;
use automerge::{sync, AutoCommit, ChangeHash, ReadDoc, ROOT};
use chrono::{DateTime, FixedOffset, NaiveDate};
use client_core::index::{projection, IndexTable, Projection};
use client_core::model::{
    ContactKind, CustomerPatch, NewContact, NewCustomer, NewPolicy, NewVisit, Outcome, Role,
};
use client_core::{DocId, Identity, Options, Store};
use doorstep_server::store::postgres::{migrate, migrations, PgDatabase, PgOptions};
use doorstep_server::Error;
use postgres::NoTls;
use serde_json::Value as Json;
use tempfile::TempDir;

mod support;
use support::pg::TestDb;

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn home(dir: &TempDir, name: &str, role: Role) -> Store {
    let mut s = Store::create(
        dir.path().join(format!("{name}.db")),
        Identity {
            user: name.parse().unwrap(),
            role,
        },
        Options::default(),
    )
    .unwrap();
    s.set_clock(Box::new(|| t("2026-06-16T18:00:00+08:00")));
    s
}

/// Exchanges sync messages for every document either home holds until both are quiet.
fn sync_pair(a: &mut Store, b: &mut Store) {
    let mut docs = a.doc_ids().unwrap();
    docs.extend(b.doc_ids().unwrap());
    docs.sort();
    docs.dedup();
    for doc in docs {
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        for _round in 0..20 {
            let ma = a.generate_sync_message(&doc, &mut sa).unwrap();
            if let Some(m) = &ma {
                b.receive_sync_message(&doc, &mut sb, m).unwrap();
            }
            let mb = b.generate_sync_message(&doc, &mut sb).unwrap();
            if let Some(m) = &mb {
                a.receive_sync_message(&doc, &mut sa, m).unwrap();
            }
            if ma.is_none() && mb.is_none() {
                break;
            }
        }
    }
}

fn visit(start: &str, end: &str) -> NewVisit {
    NewVisit {
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: Some(Outcome {
            code: "appointment".into(),
            amount_cents: None,
            date: None,
            detail: None,
        }),
        policies: vec![],
        start: t(start),
        end: t(end),
        location: None,
        notes: "met the family".into(),
    }
}

/// A document as a home holds it.
fn document(s: &mut Store, doc: &DocId) -> AutoCommit {
    AutoCommit::load(&s.save_document(doc).unwrap().unwrap()).unwrap()
}

/// An agent's home and a supervisor's with a customer that has every kind of row (card,
/// policy, visits, a call, a manager's comment, a field edited on both sides: a conflict) and
/// the agent's day with a log and a report raising problems.
struct Team {
    _dir: TempDir,
    agent: Store,
    boss: Store,
    customer: DocId,
    day: DocId,
}

fn team() -> Team {
    let dir = TempDir::new().unwrap();
    let mut agent = home(&dir, "agent-1", Role::Agent);
    let mut boss = home(&dir, "boss", Role::Supervisor);
    let c = agent
        .add_customer(NewCustomer {
            name: "Wang Fang".into(),
            phones: vec!["13800000000".into()],
            grade: Some("C".into()),
            ..Default::default()
        })
        .unwrap();
    let p = agent
        .add_policy(
            c.id,
            NewPolicy {
                number: "P-9".into(),
                product: "Life".into(),
                policyholder: String::new(),
                insured: String::new(),
                premium_cents: 50_000,
                payment_method: Default::default(),
                riders: vec![],
                due_date: day("2026-06-15"),
                status: Default::default(),
            },
        )
        .unwrap();
    let v = agent
        .record_visit(
            c.id,
            visit("2026-06-10T10:00:00+08:00", "2026-06-10T10:30:00+08:00"),
        )
        .unwrap();
    agent
        .record_visit(
            c.id,
            visit("2026-06-12T15:00:00+08:00", "2026-06-12T15:45:00+08:00"),
        )
        .unwrap();
    agent
        .record_contact(
            c.id,
            NewContact {
                kind: ContactKind::Call,
                at: t("2026-06-11T09:00:00+08:00"),
                purpose: None,
                outcome: Some("served".into()),
                policies: vec![p.id],
                notes: String::new(),
            },
        )
        .unwrap();
    agent
        .write_log(day("2026-06-16"), "two visits, one call")
        .unwrap();
    agent
        .submit_report(
            day("2026-06-16"),
            "a good day",
            vec![
                ("the customer wants a discount".into(), Some(c.id)),
                ("printer out of paper".into(), None),
            ],
        )
        .unwrap();
    sync_pair(&mut agent, &mut boss);
    boss.comment_visit(v.id, "ask about the children's plan")
        .unwrap();
    // The same field edited on both sides before they meet again: a conflict row.
    agent
        .edit_customer(
            c.id,
            CustomerPatch {
                grade: Some(Some("B".into())),
                ..Default::default()
            },
        )
        .unwrap();
    boss.edit_customer(
        c.id,
        CustomerPatch {
            grade: Some(Some("A".into())),
            ..Default::default()
        },
    )
    .unwrap();
    sync_pair(&mut agent, &mut boss);
    Team {
        _dir: dir,
        agent,
        boss,
        customer: DocId::Customer(c.id),
        day: DocId::Day("agent-1".parse().unwrap(), day("2026-06-16")),
    }
}

/// Stores `source`'s changes in the database (one transaction).
fn store(db: &PgDatabase, doc: &DocId, source: &AutoCommit) -> Vec<ChangeHash> {
    db.write(|tx| {
        let merged = tx.merge(doc, |d| {
            d.merge(&mut source.clone())
                .map_err(client_core::Error::from)?;
            Ok(())
        })?;
        Ok(merged.heads)
    })
    .unwrap()
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

#[test]
fn migrations_apply_once_and_a_restart_finds_nothing_to_do() {
    let db = TestDb::new();
    let expected: Vec<i64> = migrations().iter().map(|(v, _)| *v).collect();
    assert!(expected.len() >= 3, "{expected:?}");
    let mut client = db.client();
    assert_eq!(migrate(&mut client).unwrap(), expected);
    // A restart (the same migrations, again): nothing applied, nothing changed.
    let tables = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    let before = tables(&mut client);
    assert_eq!(migrate(&mut client).unwrap(), Vec::<i64>::new());
    drop(db.open());
    assert_eq!(tables(&mut client), before);
    let history: i64 = client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .unwrap()
        .get(0);
    assert_eq!(history as usize, expected.len());
    for table in [
        "documents",
        "chunks",
        "sync_states",
        "change_log",
        "customers",
        "conflicts",
        "index_touches",
        "devices",
        "sessions",
        "spot_checks",
    ] {
        let found: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = $1",
                &[&table],
            )
            .unwrap()
            .get(0);
        assert_eq!(found, 1, "table {table}");
    }
}

#[test]
fn instances_starting_together_migrate_once() {
    let db = TestDb::new();
    let start = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let config = db.config.clone();
            let start = start.clone();
            thread::spawn(move || {
                let mut client = config.connect(NoTls).unwrap();
                start.wait();
                migrate(&mut client).unwrap()
            })
        })
        .collect();
    let applied: Vec<Vec<i64>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Exactly one of them applied the migrations; the others found them done.
    let expected: Vec<i64> = migrations().iter().map(|(v, _)| *v).collect();
    assert_eq!(applied.iter().filter(|a| **a == expected).count(), 1);
    assert_eq!(applied.iter().filter(|a| a.is_empty()).count(), 3);
}

#[test]
fn a_document_round_trips_with_its_heads_through_appends_and_compaction() {
    let db = TestDb::new();
    let pg = db.open();
    let mut team = team();
    let doc = team.customer.clone();
    let mut source = document(&mut team.agent, &doc);

    let heads = store(&pg, &doc, &source);
    assert_eq!(heads, sorted(source.get_heads()));
    // Loaded back: the same heads and the same changes.
    let stored = pg.write(|tx| tx.load(&doc)).unwrap().unwrap();
    assert_eq!(stored.heads, sorted(source.get_heads()));
    assert_eq!(stored.chunks, 1);
    let mut loaded = stored.doc;
    assert_eq!(
        loaded.get_changes(&[]).len(),
        source.clone().get_changes(&[]).len()
    );
    assert_eq!(
        pg.write(|tx| tx.heads(&doc)).unwrap(),
        Some(sorted(source.get_heads()))
    );

    // Two more visits, merged one by one: two incremental chunks.
    let c = match &doc {
        DocId::Customer(c) => *c,
        DocId::Day(..) => unreachable!(),
    };
    for d in ["2026-06-14", "2026-06-15"] {
        team.agent
            .record_visit(
                c,
                visit(
                    &format!("{d}T10:00:00+08:00"),
                    &format!("{d}T11:00:00+08:00"),
                ),
            )
            .unwrap();
        let mut newer = document(&mut team.agent, &doc);
        let merged = pg
            .write(|tx| {
                tx.merge(&doc, |d| {
                    d.merge(&mut newer.clone())
                        .map_err(client_core::Error::from)?;
                    Ok(())
                })
            })
            .unwrap();
        assert!(merged.changed());
        assert_eq!(merged.heads, sorted(newer.get_heads()));
    }
    let latest = sorted(team.agent.heads(&doc).unwrap());
    let stored = pg.write(|tx| tx.load(&doc)).unwrap().unwrap();
    assert_eq!(stored.chunks, 3);
    assert_eq!(stored.heads, latest);
    let visits: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM visits WHERE customer = $1",
            &[&c.to_string()],
        )
        .unwrap()
        .get(0);
    assert_eq!(visits, 4);

    // Merging what is already stored changes nothing and appends nothing.
    let again = pg
        .write(|tx| {
            tx.merge(&doc, |d| {
                d.merge(&mut stored.doc.clone())
                    .map_err(client_core::Error::from)?;
                Ok(())
            })
        })
        .unwrap();
    assert!(!again.changed());

    // Compaction: one snapshot, the same heads.
    assert!(pg.write(|tx| tx.compact(&doc)).unwrap());
    let compacted = pg.write(|tx| tx.load(&doc)).unwrap().unwrap();
    assert_eq!(compacted.chunks, 1);
    assert_eq!(compacted.heads, latest);
    assert!(!pg.write(|tx| tx.compact(&doc)).unwrap());

    // A document the database does not hold.
    let unknown = DocId::Day("agent-9".parse().unwrap(), day("2026-01-01"));
    assert!(pg.write(|tx| tx.load(&unknown)).unwrap().is_none());
    assert_eq!(pg.write(|tx| tx.heads(&unknown)).unwrap(), None);
}

#[test]
fn sync_states_and_the_documents_out_of_sync_with_a_peer() {
    let db = TestDb::new();
    let pg = db.open();
    let mut team = team();
    let (customer, day_doc) = (team.customer.clone(), team.day.clone());
    for doc in [&customer, &day_doc] {
        let source = document(&mut team.agent, doc);
        store(&pg, doc, &source);
    }
    let peer = uuid::Uuid::new_v4().to_string();
    let mut both = vec![customer.clone(), day_doc.clone()];
    both.sort();
    assert_eq!(pg.write(|tx| tx.out_of_sync(&peer)).unwrap(), both);

    // The peer is known to share the customer's heads: only the day is out of sync.
    let heads = pg.write(|tx| tx.heads(&customer)).unwrap().unwrap();
    let mut state = sync::State::new();
    state.shared_heads = heads.clone();
    pg.write(|tx| tx.save_sync_state(&customer, &peer, &state))
        .unwrap();
    assert_eq!(
        pg.write(|tx| tx.out_of_sync(&peer)).unwrap(),
        vec![day_doc.clone()]
    );
    // Another instance (another pool) reads the same state.
    let other = db.open();
    let read = other.write(|tx| tx.sync_state(&customer, &peer)).unwrap();
    assert_eq!(sorted(read.shared_heads), heads);
    // A state never saved reads as a fresh one.
    let fresh = other.write(|tx| tx.sync_state(&day_doc, &peer)).unwrap();
    assert!(fresh.shared_heads.is_empty());

    // A new change to the customer puts it out of sync again.
    team.boss
        .edit_customer(
            match &customer {
                DocId::Customer(c) => *c,
                DocId::Day(..) => unreachable!(),
            },
            CustomerPatch {
                name: Some("Wang Fang (Mrs)".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let newer = document(&mut team.boss, &customer);
    store(&other, &customer, &newer);
    assert_eq!(pg.write(|tx| tx.out_of_sync(&peer)).unwrap(), both);

    // The change log keeps each change once.
    let hashes: Vec<ChangeHash> = newer
        .clone()
        .get_changes(&[])
        .iter()
        .map(|c| c.hash())
        .collect();
    let logged = pg
        .write(|tx| tx.log_changes(&customer, &hashes, "test"))
        .unwrap();
    assert_eq!(logged as usize, hashes.len());
    let again = pg
        .write(|tx| tx.log_changes(&customer, &hashes, "test"))
        .unwrap();
    assert_eq!(again, 0);
}

/// The rows of one index table, key order, with each JSON column parsed (PostgreSQL stores
/// `jsonb`, which keeps neither key order nor spacing).
type Rows = Vec<Vec<Json>>;

fn cell(column: &str, v: Option<String>) -> Json {
    match (column, v) {
        (_, None) => Json::Null,
        ("json", Some(s)) => serde_json::from_str(&s).unwrap(),
        (_, Some(s)) => Json::String(s),
    }
}

fn sqlite_rows(conn: &rusqlite::Connection, table: &str, cols: &[&str]) -> Rows {
    let sql = format!(
        "SELECT {} FROM {table} ORDER BY {}",
        cols.join(", "),
        cols.join(", ")
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok(cols
                .iter()
                .enumerate()
                .map(|(i, c)| cell(c, r.get::<_, Option<String>>(i).unwrap()))
                .collect::<Vec<_>>())
        })
        .unwrap();
    rows.map(|r| r.unwrap()).collect()
}

fn pg_rows(client: &mut postgres::Client, table: &str, cols: &[&str]) -> Rows {
    let text: Vec<String> = cols.iter().map(|c| format!("{c}::text")).collect();
    let sql = format!(
        "SELECT {} FROM {table} ORDER BY {}",
        text.join(", "),
        text.join(", ")
    );
    client
        .query(&sql, &[])
        .unwrap()
        .iter()
        .map(|r| {
            cols.iter()
                .enumerate()
                .map(|(i, c)| cell(c, r.get::<_, Option<String>>(i)))
                .collect()
        })
        .collect()
}

const TABLES: [IndexTable; 7] = [
    IndexTable::Customers,
    IndexTable::Policies,
    IndexTable::Visits,
    IndexTable::Contacts,
    IndexTable::Comments,
    IndexTable::Days,
    IndexTable::Problems,
];

/// Checks that every index table (and the conflicts) holds the same rows in both.
fn assert_same_index(sqlite: &rusqlite::Connection, client: &mut postgres::Client) -> usize {
    let mut total = 0;
    for table in TABLES {
        let cols = table.columns();
        let a = sqlite_rows(sqlite, table.name(), cols);
        let b = pg_rows(client, table.name(), cols);
        assert_eq!(a, b, "table {}", table.name());
        total += a.len();
    }
    let cols = ["doc", "object", "field", "json"];
    let a = sqlite_rows(sqlite, "conflicts", &cols);
    let b = pg_rows(client, "conflicts", &cols);
    assert_eq!(a, b, "table conflicts");
    total + a.len()
}

#[test]
fn projection_rows_equal_what_the_sqlite_index_holds() {
    let db = TestDb::new();
    let pg = db.open();
    let mut team = team();
    let sqlite = rusqlite::Connection::open_in_memory().unwrap();
    sqlite
        .execute_batch(client_core::schema::INDEX_TABLES)
        .unwrap();
    let docs = [team.customer.clone(), team.day.clone()];
    let write_both = |team: &mut Team, pg: &PgDatabase| {
        for doc in &docs {
            let source = document(&mut team.agent, doc);
            let p: Projection = projection(doc, &source);
            client_core::index::write(&sqlite, &p).unwrap();
            // Through the merge, as a sync would write it.
            store(pg, doc, &source);
        }
    };
    write_both(&mut team, &pg);
    let mut client = db.client();
    let rows = assert_same_index(&sqlite, &mut client);
    // Every kind of row is there: a card, a policy, 2 visits, a call, a comment, a day, 2
    // problems, and the conflict on the grade.
    let count = |c: &mut postgres::Client, t: &str| -> i64 {
        c.query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .unwrap()
            .get(0)
    };
    for (table, n) in [
        ("customers", 1),
        ("policies", 1),
        ("visits", 2),
        ("contacts", 1),
        ("comments", 1),
        ("days", 1),
        ("problems", 2),
    ] {
        assert_eq!(count(&mut client, table), n, "{table}");
    }
    assert!(count(&mut client, "conflicts") >= 1);
    assert!(rows >= 10, "{rows}");
    // The touch triggers saw the watched tables' rows.
    let touched: i64 = client
        .query_one(
            "SELECT count(DISTINCT (tbl, id)) FROM index_touches
             WHERE tbl IN ('customers', 'policies', 'visits', 'contacts', 'days')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(touched, 6);

    // The conflict settled, a visit added, the card renamed: rows updated, added, deleted.
    let c = match &team.customer {
        DocId::Customer(c) => *c,
        DocId::Day(..) => unreachable!(),
    };
    team.agent
        .edit_customer(
            c,
            CustomerPatch {
                name: Some("Wang Fang (Mrs)".into()),
                grade: Some(Some("A".into())),
                ..Default::default()
            },
        )
        .unwrap();
    team.agent
        .record_visit(
            c,
            visit("2026-06-16T09:00:00+08:00", "2026-06-16T09:20:00+08:00"),
        )
        .unwrap();
    let seq_before: i64 = client
        .query_one("SELECT coalesce(max(seq), 0) FROM index_touches", &[])
        .unwrap()
        .get(0);
    write_both(&mut team, &pg);
    assert_same_index(&sqlite, &mut client);
    assert_eq!(count(&mut client, "visits"), 3);
    assert_eq!(count(&mut client, "conflicts"), 0);
    // Only what changed was rewritten: the card and the new visit (visit numbers follow
    // start times, so the two earlier visits' records are unchanged), not the policy.
    let touched: Vec<(String, String)> = client
        .query(
            "SELECT DISTINCT tbl, id FROM index_touches WHERE seq > $1 ORDER BY 1, 2",
            &[&seq_before],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(touched.contains(&("customers".into(), c.to_string())));
    assert!(!touched.iter().any(|(t, _)| t == "policies"), "{touched:?}");
    assert_eq!(touched.iter().filter(|(t, _)| t == "visits").count(), 1);
}

#[test]
fn a_failed_batch_stores_nothing_of_any_of_its_documents() {
    let db = TestDb::new();
    let pg = db.open();
    let mut team = team();
    let customer = document(&mut team.agent, &team.customer);
    let day_doc = document(&mut team.agent, &team.day);
    let result: Result<(), Error> = pg.write(|tx| {
        for (doc, source) in [(&team.customer, &customer), (&team.day, &day_doc)] {
            tx.merge(doc, |d| {
                d.merge(&mut source.clone())
                    .map_err(client_core::Error::from)?;
                Ok(())
            })?;
        }
        Err(Error::invalid(
            "test",
            "refused after both documents merged",
        ))
    });
    assert!(matches!(result, Err(Error::Invalid { .. })));
    let mut client = db.client();
    for table in ["documents", "chunks", "customers", "days", "index_touches"] {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    // The same batch, committed, stores both in one transaction.
    pg.write(|tx| {
        for (doc, source) in [(&team.customer, &customer), (&team.day, &day_doc)] {
            tx.merge(doc, |d| {
                d.merge(&mut source.clone())
                    .map_err(client_core::Error::from)?;
                Ok(())
            })?;
        }
        Ok(())
    })
    .unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM documents", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn two_instances_merging_into_one_document_at_once_lose_nothing() {
    const ROUNDS: usize = 25;
    let db = TestDb::new();
    let mut team = team();
    let doc = team.customer.clone();
    let mut base = document(&mut team.agent, &doc);
    // Small `compact_after`: merges cross the compaction threshold while racing.
    let options = PgOptions {
        compact_after: 8,
        ..PgOptions::default()
    };
    store(&db.open_with(options.clone()), &doc, &base);

    // Two instances (two pools), each merging its own edits, round after round, started
    // together by a barrier; a third compacts the document all the while.
    let start = Arc::new(Barrier::new(2));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let pg = db.open_with(options.clone());
            let start = start.clone();
            let mut mine = base.fork();
            let doc = doc.clone();
            thread::spawn(move || {
                let mut hashes = vec![];
                for round in 0..ROUNDS {
                    mine.put(ROOT, format!("writer{w}_round{round}"), round as i64)
                        .unwrap();
                    hashes.extend(mine.get_heads());
                    start.wait();
                    pg.write(|tx| {
                        tx.merge(&doc, |d| {
                            d.merge(&mut mine.clone())
                                .map_err(client_core::Error::from)?;
                            Ok(())
                        })
                    })
                    .unwrap();
                }
                (hashes, mine.get_heads())
            })
        })
        .collect();
    let compactor = {
        let pg = db.open_with(options.clone());
        let doc = doc.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut compactions = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if pg.write(|tx| tx.compact(&doc)).unwrap() {
                    compactions += 1;
                }
            }
            compactions
        })
    };
    let results: Vec<(Vec<ChangeHash>, Vec<ChangeHash>)> =
        writers.into_iter().map(|h| h.join().unwrap()).collect();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let compactions = compactor.join().unwrap();
    eprintln!("compactions while racing: {compactions}");

    let pg = db.open();
    let stored = pg.write(|tx| tx.load(&doc)).unwrap().unwrap();
    let loaded = stored.doc;
    // Every change of both writers is stored...
    for (hashes, _) in &results {
        assert_eq!(hashes.len(), ROUNDS);
        for h in hashes {
            assert!(loaded.get_change_by_hash(h).is_some(), "change {h} lost");
        }
    }
    // ...the merged heads are both writers' last changes, in the document and in its row.
    let expected = sorted(results.iter().flat_map(|(_, h)| h.clone()).collect());
    assert_eq!(stored.heads, expected);
    assert_eq!(pg.write(|tx| tx.heads(&doc)).unwrap(), Some(expected));
    for w in 0..2 {
        for round in 0..ROUNDS {
            let key = format!("writer{w}_round{round}");
            assert!(loaded.get(ROOT, &key).unwrap().is_some(), "{key} lost");
        }
    }
    // The row's bookkeeping matches the chunks stored.
    let mut client = db.client();
    let row = client
        .query_one(
            "SELECT d.chunks, d.bytes, count(c.id), sum(length(c.data))
             FROM documents d JOIN chunks c ON c.doc = d.doc GROUP BY d.doc",
            &[],
        )
        .unwrap();
    let (chunks, bytes, counted, summed): (i32, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(chunks as i64, counted);
    assert_eq!(bytes, summed);
}

#[test]
fn batches_locking_two_documents_in_opposite_orders_are_retried_not_lost() {
    let db = TestDb::new();
    let mut team = team();
    let (a, b) = (team.customer.clone(), team.day.clone());
    let mut sources = [document(&mut team.agent, &a), document(&mut team.agent, &b)];
    let pg = db.open();
    store(&pg, &a, &sources[0]);
    store(&pg, &b, &sources[1]);

    // Two instances, each a batch over both documents, in opposite orders: each locks its
    // first document, waits for the other to have locked its own, then asks for the second.
    // PostgreSQL breaks the deadlock by aborting one; `write` runs that batch again.
    let halfway = Arc::new(Barrier::new(2));
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = [(a.clone(), b.clone()), (b.clone(), a.clone())]
        .into_iter()
        .enumerate()
        .map(|(w, (first, second))| {
            let pg = db.open();
            let halfway = halfway.clone();
            let attempts = attempts.clone();
            let mut edits = [sources[0].fork(), sources[1].fork()];
            let a = a.clone();
            thread::spawn(move || {
                for (i, e) in edits.iter_mut().enumerate() {
                    e.put(ROOT, format!("batch{w}_doc{i}"), w as i64).unwrap();
                }
                let edit_of = |doc: &DocId| if *doc == a { 0 } else { 1 };
                let mut mine = 0;
                pg.write(|tx| {
                    mine += 1;
                    attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    for (n, doc) in [&first, &second].into_iter().enumerate() {
                        let mut edit = edits[edit_of(doc)].clone();
                        tx.merge(doc, |d| {
                            d.merge(&mut edit).map_err(client_core::Error::from)?;
                            Ok(())
                        })?;
                        if n == 0 && mine == 1 {
                            halfway.wait();
                        }
                    }
                    Ok(())
                })
                .unwrap();
                edits.map(|mut e| e.get_heads())
            })
        })
        .collect();
    let heads: Vec<[Vec<ChangeHash>; 2]> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // At least one of the two ran again (its retry can meet the other's locks once more and
    // be aborted again: PostgreSQL does not queue a retried transaction behind the winner).
    let attempts = attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (3..=2 * doorstep_server::store::postgres::PgOptions::default().attempts as usize)
            .contains(&attempts),
        "{attempts} attempts"
    );
    let pg = db.open();
    for (i, doc) in [&a, &b].into_iter().enumerate() {
        let stored = pg.write(|tx| tx.load(doc)).unwrap().unwrap();
        let expected = sorted(heads.iter().flat_map(|h| h[i].clone()).collect());
        assert_eq!(stored.heads, expected, "{doc}");
        for w in 0..2 {
            let key = format!("batch{w}_doc{i}");
            assert!(stored.doc.get(ROOT, &key).unwrap().is_some(), "{key} lost");
        }
    }
}
