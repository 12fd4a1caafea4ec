//! A hostile peer cannot hurt a home through sync messages (issue 10 §2): a message with a
//! bloom filter Automerge would choke on is refused `corrupt` before Automerge sees it, and a
//! panic inside Automerge — while receiving a message or answering one — is contained to that
//! document: refused `corrupt`, with the document, its cache and the sync state untouched and
//! the next message working. The same code serves the phone and the server.

use automerge::sync::{self, BloomFilter, Have};
use client_core::model::{NewCustomer, Role};
use client_core::{DocId, Identity, Options, Store};
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

/// A home holding one customer, and that customer's document id.
fn with_customer(dir: &TempDir, name: &str) -> (Store, DocId) {
    let mut s = home(dir, name);
    let c = s
        .add_customer(NewCustomer {
            name: "Mrs Tan".into(),
            agent: Some(name.parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
    (s, DocId::Customer(c.id))
}

#[test]
fn a_panic_while_receiving_is_refused_corrupt_and_the_same_message_applies_later() {
    let dir = TempDir::new().unwrap();
    let (mut a, doc) = with_customer(&dir, "A-0001");
    let mut b = home(&dir, "A-0002");
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let first = a.generate_sync_message(&doc, &mut sa).unwrap().unwrap();
    b.receive_sync_message(&doc, &mut sb, &first).unwrap();
    let reply = b.generate_sync_message(&doc, &mut sb).unwrap().unwrap();
    a.receive_sync_message(&doc, &mut sa, &reply).unwrap();
    let changes = a.generate_sync_message(&doc, &mut sa).unwrap().unwrap();

    let state_before = sb.clone();
    let err = b
        .receive_sync_message_verified(&doc, &mut sb, &changes, &mut |_| {
            panic!("a bug deep inside the merge")
        })
        .unwrap_err();
    assert_eq!(err.code(), "corrupt");
    assert!(
        err.to_string().contains("a bug deep inside the merge"),
        "{err}"
    );
    assert_eq!(sb.shared_heads, state_before.shared_heads);
    assert!(b.customers().unwrap().is_empty());
    assert!(b.heads(&doc).unwrap().is_empty());

    // The same message, without the panic, applies.
    b.receive_sync_message(&doc, &mut sb, &changes).unwrap();
    assert_eq!(b.customers().unwrap().len(), 1);
    assert_eq!(b.heads(&doc).unwrap(), a.heads(&doc).unwrap());
}

#[test]
fn a_panic_while_answering_is_refused_corrupt_and_leaves_the_document_usable() {
    let dir = TempDir::new().unwrap();
    let (mut a, doc) = with_customer(&dir, "A-0001");
    // What a peer's `have` with 0 bits per entry leaves in the sync state if it ever got past
    // the check: Automerge divides by zero while answering.
    let mut hostile = sync::State::new();
    hostile.their_heads = Some(vec![]);
    hostile.their_need = Some(vec![]);
    hostile.their_have = Some(vec![Have {
        last_sync: vec![],
        bloom: BloomFilter::try_from(&[1u8, 0, 7][..]).unwrap(),
    }]);
    let err = a.generate_sync_message(&doc, &mut hostile).unwrap_err();
    assert_eq!(err.code(), "corrupt");
    assert!(err.to_string().contains("Automerge failed"), "{err}");

    // The document is intact and answers an honest peer.
    assert_eq!(a.customers().unwrap().len(), 1);
    let mut honest = sync::State::new();
    assert!(a
        .generate_sync_message(&doc, &mut honest)
        .unwrap()
        .is_some());
}

#[test]
fn a_home_refuses_hostile_bloom_filters_before_automerge_sees_them() {
    let dir = TempDir::new().unwrap();
    let (mut a, doc) = with_customer(&dir, "A-0001");
    let heads = a.heads(&doc).unwrap();
    for (bloom, why) in [
        (vec![1u8, 0, 7], "0 bits per entry"),
        (
            vec![1, 1, 0x80, 0x80, 0x80, 0x80, 0x01, 0],
            "268435456 probes",
        ),
    ] {
        let mut m = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
        m.extend(bloom);
        m.push(0);
        let mut st = sync::State::new();
        let err = a.receive_sync_message(&doc, &mut st, &m).unwrap_err();
        assert_eq!(err.code(), "corrupt");
        assert!(err.to_string().contains(why), "{err}");
        assert!(st.their_have.is_none());
        // Had it been received, answering would have divided by zero or spun.
        assert!(a.generate_sync_message(&doc, &mut st).unwrap().is_some());
    }
    assert_eq!(a.heads(&doc).unwrap(), heads);
}
