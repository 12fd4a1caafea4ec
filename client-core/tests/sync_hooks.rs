//! The store's hooks for sync and history, seen from outside: changes carry the time they
//! were made (the server's history shows when), the changes a peer at some heads lacks can be
//! read, forgetting a peer offers every document to it again, and a session forgets a
//! document it was told to drop.

use chrono::{DateTime, FixedOffset};
use client_core::model::{CustomerPatch, NewCustomer, Role};
use client_core::{DocId, Durability, Identity, Options, Store};
use tempfile::TempDir;

fn home(dir: &TempDir) -> Store {
    let mut s = Store::create(
        dir.path().join("home.db"),
        Identity {
            user: "agent-1".parse().unwrap(),
            role: Role::Agent,
        },
        Options {
            durability: Durability::Process,
            ..Options::default()
        },
    )
    .unwrap();
    let at: DateTime<FixedOffset> = "2026-06-15T10:30:00+08:00".parse().unwrap();
    s.set_clock(Box::new(move || at));
    s
}

#[test]
fn changes_carry_their_time_and_can_be_read_since_heads() {
    let dir = TempDir::new().unwrap();
    let mut s = home(&dir);
    let c = s
        .add_customer(NewCustomer {
            name: "Ada".into(),
            ..Default::default()
        })
        .unwrap();
    let doc = DocId::Customer(c.id);
    let all = s.changes_since(&doc, &[]).unwrap();
    assert_eq!(all.len(), 2, "genesis and the card");
    assert_eq!(all[0].timestamp(), 0, "the genesis is identical everywhere");
    let heads = s.heads(&doc).unwrap();
    s.edit_customer(
        c.id,
        CustomerPatch {
            notes: Some(Some("dog in the garden".into())),
            ..Default::default()
        },
    )
    .unwrap();
    let new = s.changes_since(&doc, &heads).unwrap();
    assert_eq!(new.len(), 1);
    let at: DateTime<FixedOffset> = "2026-06-15T10:30:00+08:00".parse().unwrap();
    assert_eq!(new[0].timestamp(), at.timestamp());
    assert_eq!(new[0].actor_id().to_hex_string(), s.actor_hex());
    let now = s.heads(&doc).unwrap();
    assert!(s.changes_since(&doc, &now).unwrap().is_empty());
    let unknown = DocId::Customer(client_core::CustomerId::new());
    assert!(s.changes_since(&unknown, &[]).unwrap().is_empty());
}

#[test]
fn forgetting_a_peer_offers_every_document_again() {
    let dir = TempDir::new().unwrap();
    let mut s = home(&dir);
    for name in ["Ada", "Bo"] {
        s.add_customer(NewCustomer {
            name: name.into(),
            ..Default::default()
        })
        .unwrap();
    }
    // Pretend the peer has everything: save states whose shared heads are the documents'.
    for doc in s.doc_ids().unwrap() {
        let mut st = automerge::sync::State::new();
        st.shared_heads = s.heads(&doc).unwrap();
        s.save_sync_state(&doc, "server", &st).unwrap();
        s.save_sync_state(&doc, "other", &st).unwrap();
    }
    assert!(s.out_of_sync("server").unwrap().is_empty());
    s.forget_peer("server").unwrap();
    assert_eq!(s.out_of_sync("server").unwrap().len(), 2);
    assert!(s.out_of_sync("other").unwrap().is_empty(), "only that peer");

    // A session forgets a document's state: the next message starts from the persisted one.
    let doc = s.doc_ids().unwrap()[0].clone();
    let mut session = s.start_sync("server");
    let first = s.sync_generate(&mut session, &doc).unwrap().unwrap();
    let have = |data: &[u8]| -> Vec<_> {
        let m = automerge::sync::Message::decode(data).unwrap();
        m.have.into_iter().flat_map(|h| h.last_sync).collect()
    };
    assert!(have(&first.data).is_empty(), "nothing shared yet");
    let heads = s.heads(&doc).unwrap();
    let mut st = automerge::sync::State::new();
    st.shared_heads = heads.clone();
    s.save_sync_state(&doc, "server", &st).unwrap();
    session.forget(&doc);
    let second = s.sync_generate(&mut session, &doc).unwrap().unwrap();
    assert_eq!(have(&second.data), heads, "the persisted shared heads");
}
