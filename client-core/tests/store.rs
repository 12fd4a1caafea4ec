//! The store's promises on one device: incremental saves (also after a reopen), compaction,
//! refusal of bad input without a half-written record, and durability across reopening.

use chrono::{DateTime, FixedOffset, NaiveDate};
use client_core::model::{GeoPoint, NewCustomer, NewPolicy, NewVisit, Outcome, Role};
use client_core::{CustomerId, DocId, Error, Identity, Options, PolicyId, Store};
use rusqlite::Connection;
use tempfile::TempDir;

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn create(dir: &TempDir, opts: Options) -> Store {
    let mut s = Store::create(
        dir.path().join("home.db"),
        Identity {
            user: "agent-1".parse().unwrap(),
            role: Role::Agent,
        },
        opts,
    )
    .unwrap();
    s.set_clock(Box::new(|| t("2026-06-16T18:00:00+08:00")));
    s
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
        notes: "x".repeat(40),
    }
}

fn chunk_sizes(path: &std::path::Path, doc: &DocId) -> Vec<(String, usize)> {
    let c = Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT kind, length(data) FROM chunks WHERE doc = ?1 ORDER BY id")
        .unwrap();
    st.query_map([doc.to_string()], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as usize))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn writes_append_small_chunks_even_after_a_reopen_and_compact() {
    let dir = TempDir::new().unwrap();
    let opts = Options {
        compact_after: 30,
        ..Options::default()
    };
    let mut s = create(&dir, opts.clone());
    let c = s
        .add_customer(NewCustomer {
            name: "Wang".into(),
            ..Default::default()
        })
        .unwrap();
    for i in 0..10 {
        s.record_visit(
            c.id,
            visit(
                &format!("2026-06-{:02}T10:00:00+08:00", i + 1),
                &format!("2026-06-{:02}T10:30:00+08:00", i + 1),
            ),
        )
        .unwrap();
    }
    let doc = DocId::Customer(c.id);
    let path = s.path().to_path_buf();
    drop(s);
    // After a reopen, the next write must append only its own change (the known
    // `save_incremental` trap would append the whole history here).
    let mut s = Store::open(&path, opts).unwrap();
    let before: usize = chunk_sizes(&path, &doc).iter().map(|c| c.1).sum();
    s.record_visit(
        c.id,
        visit("2026-06-20T10:00:00+08:00", "2026-06-20T10:30:00+08:00"),
    )
    .unwrap();
    let sizes = chunk_sizes(&path, &doc);
    let last = sizes.last().unwrap().1;
    assert!(
        last < 600,
        "one visit appended {last} bytes (history was {before})"
    );
    assert!(last * 3 < before);
    // Crossing the threshold compacts into one snapshot, and nothing is lost.
    for i in 0..25 {
        s.record_visit(
            c.id,
            visit(
                &format!("2026-05-{:02}T10:00:00+08:00", i + 1),
                &format!("2026-05-{:02}T10:30:00+08:00", i + 1),
            ),
        )
        .unwrap();
    }
    let sizes = chunk_sizes(&path, &doc);
    assert!(sizes.len() < 30, "{} chunks", sizes.len());
    assert_eq!(sizes[0].0, "snapshot");
    drop(s);
    let s = Store::open(&path, Options::default()).unwrap();
    assert_eq!(s.visits_of(c.id).unwrap().len(), 36);
}

#[test]
fn bad_input_is_refused_with_a_typed_error_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let mut s = create(&dir, Options::default());
    let c = s
        .add_customer(NewCustomer {
            name: "Wang".into(),
            location: Some(GeoPoint {
                lat: 31.2,
                lon: 121.5,
            }),
            ..Default::default()
        })
        .unwrap();
    let doc = DocId::Customer(c.id);
    let heads = s.heads(&doc).unwrap();

    let unknown = s.record_visit(
        CustomerId::new(),
        visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00"),
    );
    assert!(
        matches!(unknown, Err(Error::UnknownCustomer(_))),
        "{unknown:?}"
    );

    let backwards = s.record_visit(
        c.id,
        visit("2026-06-16T10:00:00+08:00", "2026-06-16T09:30:00+08:00"),
    );
    assert!(
        matches!(backwards, Err(Error::Invalid { ref field, .. }) if field == "end"),
        "{backwards:?}"
    );

    let mut v = visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00");
    v.kind = "teleportation".into();
    assert!(matches!(
        s.record_visit(c.id, v),
        Err(Error::Invalid { .. })
    ));

    let mut v = visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00");
    v.policies = vec![PolicyId::new()];
    assert!(matches!(
        s.record_visit(c.id, v),
        Err(Error::Invalid { .. })
    ));

    let mut v = visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00");
    v.location = Some(GeoPoint {
        lat: 123.0,
        lon: 0.0,
    });
    assert!(matches!(
        s.record_visit(c.id, v),
        Err(Error::Invalid { .. })
    ));

    let no_name = s.add_customer(NewCustomer {
        name: "  ".into(),
        ..Default::default()
    });
    assert!(matches!(no_name, Err(Error::Invalid { .. })));
    let bad_grade = s.add_customer(NewCustomer {
        name: "X".into(),
        grade: Some("Z".into()),
        ..Default::default()
    });
    assert!(bad_grade.is_err());

    assert!("not-a-uuid".parse::<CustomerId>().is_err());
    assert!(s
        .write_log(NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(), "future")
        .is_err());

    // Nothing of the refused calls reached the document or the index.
    assert_eq!(s.heads(&doc).unwrap(), heads);
    assert_eq!(s.visits_of(c.id).unwrap().len(), 0);
    assert_eq!(s.customers().unwrap().len(), 1);
    // And the store still works.
    s.record_visit(
        c.id,
        visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00"),
    )
    .unwrap();
}

#[test]
fn a_paid_visit_marks_its_policies_paid() {
    let dir = TempDir::new().unwrap();
    let mut s = create(&dir, Options::default());
    let c = s
        .add_customer(NewCustomer {
            name: "Wang".into(),
            ..Default::default()
        })
        .unwrap();
    let p = s
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
                due_date: NaiveDate::from_ymd_opt(2026, 6, 15).unwrap(),
                status: Default::default(),
            },
        )
        .unwrap();
    assert_eq!(p.policyholder, "Wang");
    let mut v = visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00");
    v.kind = "collection".into();
    v.purposes = vec!["premium_collected".into()];
    v.outcome = Some(Outcome {
        code: "paid".into(),
        amount_cents: Some(50_000),
        date: None,
        detail: None,
    });
    v.policies = vec![p.id];
    s.record_visit(c.id, v).unwrap();
    assert_eq!(
        s.policy(p.id).unwrap().paid_on,
        Some(NaiveDate::from_ymd_opt(2026, 6, 16).unwrap())
    );
}

/// Issue 13, item 1: a car renewal closed by phone is recorded as paid, so the D−15
/// "reassign" reminder does not fire for a customer who renewed.
#[test]
fn a_car_renewal_closed_by_phone_marks_the_policy_paid_and_silences_reassign() {
    use client_core::model::{ContactKind, NewContact};
    use client_core::playbook::ReminderKind;
    let dir = TempDir::new().unwrap();
    let mut s = create(&dir, Options::default());
    s.set_playbook_toml(include_str!("../../docs/playbooks/car-insurance.toml"))
        .unwrap();
    let c = s
        .add_customer(NewCustomer {
            name: "Car owner".into(),
            ..Default::default()
        })
        .unwrap();
    let expiry = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let p = s
        .add_policy(
            c.id,
            NewPolicy {
                number: "CAR-1".into(),
                product: "Motor".into(),
                policyholder: String::new(),
                insured: String::new(),
                premium_cents: 400_000,
                payment_method: Default::default(),
                riders: vec![],
                due_date: expiry,
                status: Default::default(),
            },
        )
        .unwrap();
    let d15 = expiry - chrono::Days::new(15);
    let reassign = |s: &Store| {
        s.reminders(d15)
            .unwrap()
            .iter()
            .filter(|r| r.kind == ReminderKind::Reassign)
            .count()
    };
    assert_eq!(reassign(&s), 1, "unrenewed at D-15: reassign");
    s.record_contact(
        c.id,
        NewContact {
            kind: ContactKind::Call,
            at: t("2026-06-10T10:00:00+08:00"),
            purpose: None,
            outcome: Some("renewed".into()),
            policies: vec![p.id],
            notes: String::new(),
        },
    )
    .unwrap();
    assert_eq!(
        s.policy(p.id).unwrap().paid_on,
        Some(NaiveDate::from_ymd_opt(2026, 6, 10).unwrap())
    );
    assert_eq!(reassign(&s), 0, "renewed by phone: nobody to reassign");
}

/// Issue 13, item 10: "paid" carries an amount, "promised" a date, and a visit dated 400 days
/// ahead is refused (the phone's clock reads 16 June 2026); each refusal is a validation error
/// naming the field, and nothing is written.
#[test]
fn paid_without_amount_promised_without_date_and_a_visit_400_days_ahead_are_refused() {
    let dir = TempDir::new().unwrap();
    let mut s = create(&dir, Options::default());
    let c = s
        .add_customer(NewCustomer {
            name: "Wang".into(),
            ..Default::default()
        })
        .unwrap();
    let collection = |code: &str, amount: Option<i64>, date: Option<NaiveDate>| {
        let mut v = visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00");
        v.kind = "collection".into();
        v.purposes = vec!["premium_collected".into()];
        v.outcome = Some(Outcome {
            code: code.into(),
            amount_cents: amount,
            date,
            detail: None,
        });
        v
    };
    let refused = |r: Result<client_core::model::Visit, Error>, field: &str| match r {
        Err(e @ Error::Invalid { .. }) => assert!(e.to_string().contains(field), "{e}"),
        other => panic!("expected a validation error on {field}, got {other:?}"),
    };
    refused(
        s.record_visit(c.id, collection("paid", None, None)),
        "amount",
    );
    refused(
        s.record_visit(c.id, collection("paid", Some(0), None)),
        "amount",
    );
    refused(
        s.record_visit(c.id, collection("promised", None, None)),
        "date",
    );
    let far = visit("2027-07-21T10:00:00+08:00", "2027-07-21T10:30:00+08:00");
    refused(s.record_visit(c.id, far), "start");
    assert!(s.visits_of(c.id).unwrap().is_empty(), "nothing written");
    // With the amount, the date, and three days ahead at most, they are accepted.
    s.record_visit(c.id, collection("paid", Some(50_000), None))
        .unwrap();
    let promised = NaiveDate::from_ymd_opt(2026, 6, 20);
    s.record_visit(c.id, collection("promised", None, promised))
        .unwrap();
    s.record_visit(
        c.id,
        visit("2026-06-19T10:00:00+08:00", "2026-06-19T10:30:00+08:00"),
    )
    .unwrap();
    assert_eq!(s.visits_of(c.id).unwrap().len(), 3);
}

#[test]
fn a_home_cannot_be_created_twice_nor_opened_before_it_exists() {
    let dir = TempDir::new().unwrap();
    let s = create(&dir, Options::default());
    let path = s.path().to_path_buf();
    drop(s);
    let again = Store::create(
        &path,
        Identity {
            user: "x".parse().unwrap(),
            role: Role::Agent,
        },
        Options::default(),
    );
    assert!(again.is_err());
    assert!(matches!(
        Store::open(dir.path().join("nothing.db"), Options::default()),
        Err(Error::NotInitialised(_))
    ));
}

/// The background checkpointer keeps checkpoints out of the writes, so a long burst lets the
/// log grow; the promise is that it shrinks back to `journal_size_limit` (4 MiB) once the phone
/// is quiet for a moment and writes again (docs/benchmarks.md, "Since then").
#[test]
fn the_log_is_cut_back_after_a_burst_once_the_phone_is_quiet() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("home.db");
    let wal = dir.path().join("home.db-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let mut s = create(
        &dir,
        Options {
            durability: client_core::Durability::Process,
            ..Options::default()
        },
    );
    // The visits go to the end of June: the phone's clock reads its last day.
    s.set_clock(Box::new(|| t("2026-06-30T18:00:00+08:00")));
    let customers: Vec<CustomerId> = (0..200)
        .map(|i| {
            s.add_customer(NewCustomer {
                name: format!("Customer {i}"),
                ..Default::default()
            })
            .unwrap()
            .id
        })
        .collect();
    // A burst: writes back to back until the log is well past the limit.
    let limit = 4 * 1024 * 1024;
    let mut writes = 0;
    while writes < 1000 || wal_len() < limit + limit / 2 {
        let c = customers[writes % customers.len()];
        let day = 1 + (writes / customers.len()) % 28;
        s.record_visit(
            c,
            visit(
                &format!("2026-06-{day:02}T10:00:00+08:00"),
                &format!("2026-06-{day:02}T10:30:00+08:00"),
            ),
        )
        .unwrap();
        writes += 1;
        assert!(writes < 20_000, "the log never grew past 6 MiB");
    }
    // Quiet: the checkpointer copies the log into the database; the next write restarts it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s.record_visit(
        customers[0],
        visit("2026-06-29T10:00:00+08:00", "2026-06-29T10:30:00+08:00"),
    )
    .unwrap();
    assert!(
        wal_len() <= limit,
        "after {writes} writes and a quiet moment the log is still {} bytes",
        wal_len()
    );
    drop(s);
    let s = Store::open(&path, Options::default()).unwrap();
    assert_eq!(
        s.visits_of(customers[0]).unwrap().len(),
        writes.div_ceil(customers.len()) + 1,
        "every visit of the burst is still there"
    );
}

/// The index rows of a document are computed without a database (`index::projection`) and
/// written by `index::write`: writing what the index already holds changes no row, and a
/// projection without a record deletes that record's row.
#[test]
fn a_projection_is_computed_without_the_database_and_written_idempotently() {
    use client_core::index::{self, IndexTable};
    let dir = TempDir::new().unwrap();
    let mut s = create(&dir, Options::default());
    let c = s
        .add_customer(NewCustomer {
            name: "Wang".into(),
            ..Default::default()
        })
        .unwrap();
    let v = s
        .record_visit(
            c.id,
            visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00"),
        )
        .unwrap();
    let doc = DocId::Customer(c.id);
    let bytes = s.save_document(&doc).unwrap().unwrap();
    let d = automerge::AutoCommit::load(&bytes).unwrap();
    let p = index::projection(&doc, &d);
    let rows = |t: IndexTable| {
        p.tables
            .iter()
            .find(|o| o.table == t)
            .map(|o| o.rows.clone())
            .unwrap()
    };
    assert_eq!(rows(IndexTable::Customers).len(), 1);
    assert_eq!(rows(IndexTable::Visits).len(), 1);
    assert_eq!(
        rows(IndexTable::Visits)[0].values[0],
        Some(v.id.to_string())
    );
    assert!(rows(IndexTable::Policies).is_empty());

    let conn = Connection::open(dir.path().join("home.db")).unwrap();
    let before = conn.total_changes();
    index::write(&conn, &p).unwrap();
    assert_eq!(
        conn.total_changes(),
        before,
        "an unchanged projection rewrites nothing"
    );

    let mut without_visit = p.clone();
    for o in &mut without_visit.tables {
        if o.table == IndexTable::Visits {
            o.rows.clear();
        }
    }
    index::write(&conn, &without_visit).unwrap();
    let visits: i64 = conn
        .query_row(
            "SELECT count(*) FROM visits WHERE customer = ?1",
            [c.id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(visits, 0);
    let customers: i64 = conn
        .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(customers, 1);
}
