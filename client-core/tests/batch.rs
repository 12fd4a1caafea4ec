//! `Store::batch`: many documents merged and their sync states saved in one transaction, as
//! the server writes one sync request. Committed together when the closure returns `Ok`, and
//! on failure or panic nothing of it stays — on disk or in the document cache.

use client_core::model::{NewCustomer, Role};
use client_core::{DocId, Error, Identity, Options, Store};
use tempfile::TempDir;

fn home(dir: &TempDir, name: &str) -> Store {
    Store::create(
        dir.path().join(format!("{name}.db")),
        Identity {
            user: name.parse().unwrap(),
            role: Role::Agent,
        },
        Options::default(),
    )
    .unwrap()
}

/// A phone with three customers, and its messages carrying them to `hub` (the second round:
/// the first only compares heads).
fn phone(dir: &TempDir, hub: &mut Store) -> (Vec<DocId>, Vec<client_core::protocol::DocMessage>) {
    let mut p = home(dir, "A-0001");
    let docs: Vec<DocId> = (0..3)
        .map(|i| {
            let c = p
                .add_customer(NewCustomer {
                    name: format!("Customer {i}"),
                    ..Default::default()
                })
                .unwrap();
            DocId::Customer(c.id)
        })
        .collect();
    let mut session = p.start_sync("hub");
    let opening = p.sync_outgoing(&mut session).unwrap();
    assert_eq!(opening.len(), 3);
    let mut hs = hub.start_sync("phone");
    for m in &opening {
        hub.sync_receive(&mut hs, m, &mut |_| Ok(())).unwrap();
        let reply = hub.sync_generate(&mut hs, &m.doc).unwrap().unwrap();
        p.sync_receive(&mut session, &reply, &mut |_| Ok(()))
            .unwrap();
    }
    let out = p.sync_outgoing(&mut session).unwrap();
    assert_eq!(out.len(), 3);
    (docs, out)
}

/// Receives every message and answers each, inside the batch.
fn receive_all(
    hub: &mut Store,
    msgs: &[client_core::protocol::DocMessage],
) -> client_core::Result<()> {
    let mut session = hub.start_sync("phone");
    for m in msgs {
        hub.sync_receive(&mut session, m, &mut |_| Ok(()))?;
        hub.sync_generate(&mut session, &m.doc)?;
    }
    Ok(())
}

fn committed_documents(dir: &TempDir) -> i64 {
    let conn = rusqlite::Connection::open(dir.path().join("hub.db")).unwrap();
    conn.query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_batch_commits_every_document_and_sync_state_at_once() {
    let dir = TempDir::new().unwrap();
    let mut hub = home(&dir, "hub");
    let (docs, msgs) = phone(&dir, &mut hub);
    hub.batch(|hub| {
        receive_all(hub, &msgs)?;
        // Inside the batch another connection sees nothing yet: one transaction.
        assert_eq!(committed_documents(&dir), 0);
        assert!(hub.batch_connection().is_some());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(hub.batch_connection().is_none());
    assert_eq!(committed_documents(&dir), 3);
    drop(hub);
    let mut hub = Store::open(dir.path().join("hub.db"), Options::default()).unwrap();
    assert_eq!(hub.customers().unwrap().len(), 3);
    for d in &docs {
        assert!(!hub.heads(d).unwrap().is_empty());
        assert!(!hub.sync_state(d, "phone").unwrap().shared_heads.is_empty());
    }
}

#[test]
fn a_failed_or_panicking_batch_leaves_nothing_on_disk_or_in_memory() {
    let dir = TempDir::new().unwrap();
    let mut hub = home(&dir, "hub");
    let (docs, msgs) = phone(&dir, &mut hub);
    let err = hub
        .batch(|hub| {
            receive_all(hub, &msgs)?;
            Err::<(), _>(Error::invalid("test", "the request failed late"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("failed late"), "{err}");
    let empty = |hub: &mut Store| {
        assert!(hub.customers().unwrap().is_empty());
        for d in &docs {
            assert!(hub.heads(d).unwrap().is_empty());
            // Not even the cache still shows it.
            assert_eq!(hub.save_document(d).unwrap(), None);
            assert!(hub.sync_state(d, "phone").unwrap().shared_heads.is_empty());
        }
    };
    empty(&mut hub);

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        hub.batch(|hub| -> client_core::Result<()> {
            receive_all(hub, &msgs)?;
            panic!("a bug after the merge")
        })
    }));
    assert!(panicked.is_err());
    empty(&mut hub);
    assert_eq!(committed_documents(&dir), 0);

    // The store still works, and the same messages apply.
    hub.batch(|hub| receive_all(hub, &msgs)).unwrap();
    assert_eq!(hub.customers().unwrap().len(), 3);
    assert_eq!(committed_documents(&dir), 3);
}
