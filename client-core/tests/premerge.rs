//! Premerges (`client_core::premerge`): a message merged on the committed copy by a `Reader`,
//! outside the writer, is stored by the writer only while the document and the sync state are
//! exactly what the reader read — and then the home holds what the usual path would have
//! stored. Stale or refused, nothing is written and the usual path still works.

use client_core::model::{CustomerPatch, NewCustomer, Role};
use client_core::premerge::Reader;
use client_core::protocol::DocMessage;
use client_core::{DocId, Error, Identity, Options, Store};
use tempfile::TempDir;

fn home(dir: &TempDir, name: &str, role: Role) -> Store {
    Store::create(
        dir.path().join(format!("{name}.db")),
        Identity {
            user: name.parse().unwrap(),
            role,
        },
        Options::default(),
    )
    .unwrap()
}

/// The hub's reader and a phone (`A-0001`) holding one customer the hub does not have yet.
struct Setup {
    dir: TempDir,
    hub: Store,
    reader: Reader,
    phone: Store,
    doc: DocId,
}

fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let hub = home(&dir, "hub", Role::DistrictManager);
    let reader = Reader::open(&dir.path().join("hub.db"), None).unwrap();
    let mut phone = home(&dir, "A-0001", Role::Agent);
    let c = phone
        .add_customer(NewCustomer {
            name: "Li Na".into(),
            ..Default::default()
        })
        .unwrap();
    Setup {
        dir,
        hub,
        reader,
        phone,
        doc: DocId::Customer(c.id),
    }
}

/// One round: the phone's messages, each received by the hub the usual way and answered,
/// the answers received by the phone. Returns the phone's next messages (with changes, once
/// the hub has said what it lacks).
fn round_usual(s: &mut Setup) -> Vec<DocMessage> {
    let mut ps = s.phone.start_sync("hub");
    let out = s.phone.sync_outgoing(&mut ps).unwrap();
    let mut hs = s.hub.start_sync("phone");
    for m in &out {
        s.hub.sync_receive(&mut hs, m, &mut |_| Ok(())).unwrap();
        if let Some(reply) = s.hub.sync_generate(&mut hs, &m.doc).unwrap() {
            s.phone
                .sync_receive(&mut ps, &reply, &mut |_| Ok(()))
                .unwrap();
        }
    }
    s.phone.sync_outgoing(&mut ps).unwrap()
}

fn documents_row(dir: &TempDir, doc: &DocId) -> Option<(String, i64, i64)> {
    let conn = rusqlite::Connection::open(dir.path().join("hub.db")).unwrap();
    conn.query_row(
        "SELECT heads, chunks, bytes FROM documents WHERE doc = ?1",
        [doc.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .ok()
}

#[test]
fn a_current_premerge_is_stored_as_the_usual_path_stores_it() {
    let mut s = setup();
    let msgs = round_usual(&mut s);
    let msg = msgs.iter().find(|m| m.doc == s.doc).expect("the card");
    let mut seen = 0;
    let (p, outcome) = s
        .reader
        .premerge("phone", msg, &mut |inc| {
            seen += inc.new_changes.len();
            Ok(())
        })
        .unwrap();
    outcome.unwrap();
    assert!(p.accepted());
    assert!(seen > 0, "verify saw the customer's changes");
    assert!(
        documents_row(&s.dir, &s.doc).is_none(),
        "premerging wrote nothing"
    );
    let mut hs = s.hub.start_sync("phone");
    assert!(s.hub.premerge_is_current(&hs, &p).unwrap());
    assert!(s.hub.store_premerge(&mut hs, p).unwrap());
    // Stored: the document, its index rows, the session's state.
    let c = match &s.doc {
        DocId::Customer(c) => *c,
        DocId::Day(..) => unreachable!(),
    };
    assert_eq!(s.hub.customer(c).unwrap().name, "Li Na");
    assert_eq!(s.hub.heads(&s.doc).unwrap(), s.phone.heads(&s.doc).unwrap());
    let row = documents_row(&s.dir, &s.doc).expect("a row");
    assert_eq!(row.1, 1, "one chunk");
    // The answer and the next round go on from the stored state as they would have: the
    // phone ends with nothing to send.
    let reply = s.hub.sync_generate(&mut hs, &s.doc).unwrap().unwrap();
    let mut ps = s.phone.start_sync("hub");
    s.phone
        .sync_receive(&mut ps, &reply, &mut |_| Ok(()))
        .unwrap();
    // A session of a new run starts from the persisted shared heads: nothing left to say.
    let again = round_usual(&mut s);
    assert!(again.is_empty(), "in sync: {again:?}");
}

#[test]
fn a_premerge_whose_document_changed_since_writes_nothing() {
    let mut s = setup();
    // The hub gets the customer the usual way first.
    let msgs = round_usual(&mut s);
    let mut hs = s.hub.start_sync("phone");
    for m in &msgs {
        s.hub.sync_receive(&mut hs, m, &mut |_| Ok(())).unwrap();
    }
    let c = match &s.doc {
        DocId::Customer(c) => *c,
        DocId::Day(..) => unreachable!(),
    };
    // The phone renames the customer; its message is premerged...
    s.phone
        .edit_customer(
            c,
            CustomerPatch {
                name: Some("Li Na (Mrs)".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let msgs = round_usual(&mut s);
    let msg = msgs.iter().find(|m| m.doc == s.doc).expect("the rename");
    let (p, outcome) = s.reader.premerge("phone", msg, &mut |_| Ok(())).unwrap();
    outcome.unwrap();
    // ...while the hub writes the same document.
    s.hub
        .edit_customer(
            c,
            CustomerPatch {
                notes: Some(Some("called back".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let row = documents_row(&s.dir, &s.doc);
    let mut hs = s.hub.start_sync("phone");
    assert!(!s.hub.premerge_is_current(&hs, &p).unwrap());
    assert!(!s.hub.store_premerge(&mut hs, p).unwrap(), "stale");
    assert_eq!(documents_row(&s.dir, &s.doc), row, "nothing written");
    // The usual path then merges it on the current document: both writes are there.
    s.hub.sync_receive(&mut hs, msg, &mut |_| Ok(())).unwrap();
    let merged = s.hub.customer(c).unwrap();
    assert_eq!(merged.name, "Li Na (Mrs)");
    assert_eq!(merged.notes.as_deref(), Some("called back"));
}

#[test]
fn a_premerge_is_stale_once_its_sync_state_or_session_moved() {
    let mut s = setup();
    let msgs = round_usual(&mut s);
    let msg = msgs.iter().find(|m| m.doc == s.doc).unwrap().clone();
    let (p, outcome) = s.reader.premerge("phone", &msg, &mut |_| Ok(())).unwrap();
    outcome.unwrap();
    // Another request of the same device saved a state for the document meanwhile.
    let mut moved = automerge::sync::State::new();
    moved.shared_heads = s.phone.heads(&s.doc).unwrap();
    s.hub.save_sync_state(&s.doc, "phone", &moved).unwrap();
    let hs = s.hub.start_sync("phone");
    assert!(!s.hub.premerge_is_current(&hs, &p).unwrap());
    // Premerged again on what is committed now, it is current — but not for a session that
    // already touched the document, nor for another peer's session.
    let (p, _) = s.reader.premerge("phone", &msg, &mut |_| Ok(())).unwrap();
    assert!(s.hub.premerge_is_current(&hs, &p).unwrap());
    assert!(!s
        .hub
        .premerge_is_current(&s.hub.start_sync("someone else"), &p)
        .unwrap());
    let mut touched = s.hub.start_sync("phone");
    s.hub.sync_generate(&mut touched, &s.doc).unwrap();
    assert!(!s.hub.premerge_is_current(&touched, &p).unwrap());
    assert!(!s.hub.store_premerge(&mut touched, p).unwrap());
}

#[test]
fn a_refused_premerge_has_nothing_to_store() {
    let mut s = setup();
    let msgs = round_usual(&mut s);
    let msg = msgs.iter().find(|m| m.doc == s.doc).unwrap();
    let (p, outcome) = s
        .reader
        .premerge("phone", msg, &mut |_| Err(Error::Forbidden("no".into())))
        .unwrap();
    assert_eq!(outcome.err().map(|e| e.code()), Some("forbidden"));
    assert!(!p.accepted());
    let mut hs = s.hub.start_sync("phone");
    assert!(
        s.hub.premerge_is_current(&hs, &p).unwrap(),
        "its refusal holds"
    );
    assert!(!s.hub.store_premerge(&mut hs, p).unwrap());
    assert!(documents_row(&s.dir, &s.doc).is_none());
    // Garbage is the merge's error, not the reader's.
    let garbage = DocMessage {
        doc: s.doc.clone(),
        data: vec![0x42, 0xff, 0],
    };
    let (p, outcome) = s
        .reader
        .premerge("phone", &garbage, &mut |_| Ok(()))
        .unwrap();
    assert!(outcome.is_err() && !p.accepted());
}
