//! What a home does with files that are not a sound Doorstep database.
//!
//! A phone's storage holds other applications' databases, half-copied backups and files cut
//! short by a full disk. Opening any of them must give an error the app can act on (a
//! `client_core::Error` of the right kind), never a panic, and must not write to a file that is
//! not ours. Inside a sound home, one damaged document must stay one customer's problem: it is
//! reported as `CorruptDocument` when that customer is next written, and every other customer
//! stays writable.

use std::fs;
use std::path::Path;

use chrono::{DateTime, Duration};
use client_core::model::{NewCustomer, NewVisit, Outcome, Role};
use client_core::{CustomerId, DocId, Error, Identity, Options, Store};
use rand::RngCore;
use tempfile::TempDir;

fn identity() -> Identity {
    Identity {
        user: "agent-1".parse().unwrap(),
        role: Role::Agent,
    }
}

fn visit(notes: &str) -> NewVisit {
    let start = DateTime::parse_from_rfc3339("2026-06-16T10:00:00+08:00").unwrap();
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
        start,
        end: start + Duration::minutes(30),
        location: None,
        notes: notes.into(),
    }
}

/// A closed home with `n` customers holding one visit each; returns their ids.
fn real_home(path: &Path, n: usize) -> Vec<CustomerId> {
    let mut store = Store::create(path, identity(), Options::default()).unwrap();
    let ids = (0..n)
        .map(|i| {
            let c = store
                .add_customer(NewCustomer {
                    name: format!("Customer {i}"),
                    notes: Some("some words about the family ".repeat(10)),
                    ..NewCustomer::default()
                })
                .unwrap();
            store.record_visit(c.id, visit("first visit")).unwrap();
            c.id
        })
        .collect();
    drop(store);
    ids
}

/// Opens `path` as a home, expecting an error; the file must be unchanged.
fn open_refused(path: &Path) -> Error {
    let before = fs::read(path).unwrap();
    let err = match Store::open(path, Options::default()) {
        Ok(_) => panic!("{} opened as a home", path.display()),
        Err(e) => e,
    };
    assert_eq!(
        fs::read(path).unwrap(),
        before,
        "opening {} changed it",
        path.display()
    );
    err
}

#[test]
fn random_bytes_are_not_a_doorstep_database() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("noise.db");
    let mut bytes = vec![0u8; 64 * 1024];
    rand::rng().fill_bytes(&mut bytes);
    fs::write(&path, &bytes).unwrap();
    let err = open_refused(&path);
    assert!(
        matches!(err, Error::NotADoorstepDatabase { .. }),
        "got {err:?}"
    );
    assert_eq!(err.code(), "foreign_database");
}

#[test]
fn another_applications_sqlite_database_is_refused_untouched() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO foo (name) VALUES ('kept'), ('as is');",
        )
        .unwrap();
    }
    let err = open_refused(&path);
    match &err {
        Error::NotADoorstepDatabase { path: p, .. } => assert_eq!(p, &path),
        other => panic!("got {other:?}"),
    }
    // Nothing was left next to it either (no journal switched on, no WAL created).
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = dir.path().join(format!("other.db{suffix}"));
        assert!(!side.exists(), "{} was created", side.display());
    }
    // And `create` refuses to take it over.
    assert!(Store::create(&path, identity(), Options::default()).is_err());
}

#[test]
fn a_truncated_home_is_refused_untouched() {
    let dir = TempDir::new().unwrap();
    let home = dir.path().join("home.db");
    real_home(&home, 50);
    let bytes = fs::read(&home).unwrap();
    assert!(bytes.len() > 16 * 4096, "the home is big enough to cut");
    // Inside the 100-byte header: SQLite sees no page at all, calls it malformed and refuses
    // to write.
    let header = dir.path().join("header.db");
    fs::write(&header, &bytes[..50]).unwrap();
    let err = open_refused(&header);
    assert!(
        matches!(
            err,
            Error::CorruptDatabase { .. } | Error::NotADoorstepDatabase { .. }
        ),
        "got {err:?}"
    );
    // Whole pages missing at the end: the header names more pages than the file has.
    for cut in [4096, bytes.len() / 2, bytes.len() - 4096] {
        let part = dir.path().join(format!("cut-{cut}.db"));
        fs::write(&part, &bytes[..cut]).unwrap();
        let err = open_refused(&part);
        // A damaged home, not someone else's file.
        match &err {
            Error::CorruptDatabase { path, reason } => {
                assert_eq!(path, &part);
                assert!(reason.contains("malformed"), "cut at {cut}: {reason}")
            }
            other => panic!("cut at {cut}: got {other:?}"),
        }
        assert_eq!(err.code(), "corrupt");
    }
    // The original is untouched by all this and still opens.
    Store::open(&home, Options::default()).unwrap();
}

#[test]
fn an_empty_file_is_not_an_initialised_home() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("empty.db");
    fs::write(&path, b"").unwrap();
    // Refused without a byte written to it (no schema slipped in by the attempt).
    let err = open_refused(&path);
    assert!(matches!(err, Error::NotInitialised(_)), "got {err:?}");
    assert_eq!(err.code(), "not_initialised");
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    // An empty file holds nothing to lose: `create` may take its place.
    let mut store = Store::create(&path, identity(), Options::default()).unwrap();
    let c = store
        .add_customer(NewCustomer {
            name: "Zhao Lei".into(),
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let store = Store::open(&path, Options::default()).unwrap();
    assert_eq!(store.customer(c.id).unwrap().name, "Zhao Lei");
    // A path with no file at all is the same case.
    let err = Store::open(dir.path().join("missing.db"), Options::default())
        .err()
        .expect("a missing file does not open");
    assert!(matches!(err, Error::NotInitialised(_)), "got {err:?}");
}

#[test]
fn a_creation_killed_half_way_leaves_no_home_and_does_not_block_the_next() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("home.db");
    // What a creation killed before its rename leaves: a side file, complete or not, and its
    // journal. The home itself does not exist, so it is not half there.
    let side = dir.path().join("home.db.creating");
    let mut junk = vec![0u8; 10_000];
    rand::rng().fill_bytes(&mut junk);
    fs::write(&side, &junk).unwrap();
    fs::write(dir.path().join("home.db.creating-journal"), &junk[..512]).unwrap();
    let err = Store::open(&path, Options::default())
        .err()
        .expect("no home yet");
    assert!(matches!(err, Error::NotInitialised(_)), "got {err:?}");
    // The next creation clears the leftovers and succeeds.
    real_home(&path, 3);
    let store = Store::open(&path, Options::default()).unwrap();
    assert_eq!(store.customers().unwrap().len(), 3);
    assert!(!side.exists(), "the side file was left behind");
    assert!(!dir.path().join("home.db.creating-journal").exists());
}

#[test]
fn a_corrupt_document_stays_one_customers_problem() {
    let dir = TempDir::new().unwrap();
    let home = dir.path().join("home.db");
    let ids = real_home(&home, 3);
    let damaged = DocId::Customer(ids[1]).to_string();
    {
        let c = rusqlite::Connection::open(&home).unwrap();
        let n = c
            .execute(
                "UPDATE chunks SET data = x'00ff' WHERE doc = ?1",
                [&damaged],
            )
            .unwrap();
        assert!(n > 0, "the customer's document has chunks");
    }
    let mut store = Store::open(&home, Options::default()).unwrap();
    match store.record_visit(ids[1], visit("second visit")) {
        Err(Error::CorruptDocument { doc, .. }) => assert_eq!(doc, damaged),
        other => panic!("writing the damaged customer gave {other:?}"),
    }
    // What the index knew is still readable, and nothing was added to it.
    assert_eq!(store.visits_of(ids[1]).unwrap().len(), 1);
    // The others are written as usual, also after a reopen.
    for &c in [ids[0], ids[2]].iter() {
        store.record_visit(c, visit("second visit")).unwrap();
        assert_eq!(store.visits_of(c).unwrap().len(), 2);
    }
    drop(store);
    let mut store = Store::open(&home, Options::default()).unwrap();
    store.record_visit(ids[2], visit("third visit")).unwrap();
    assert!(matches!(
        store.record_visit(ids[1], visit("again")),
        Err(Error::CorruptDocument { .. })
    ));
    assert_eq!(store.visits_of(ids[2]).unwrap().len(), 3);
}
