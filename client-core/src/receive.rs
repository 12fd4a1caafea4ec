//! Receiving and generating one document's Automerge sync message, without storage: the part
//! of a sync that the phone's store, the server's SQLite store and its PostgreSQL store share,
//! so that every one of them runs the same checks in the same order (the message's shape, a
//! contained Automerge, the document's kind, the caller's `verify`).
//!
//! Storage stays with the caller: it hands in the document as stored and the sync state, and
//! persists what comes back (the document after, the new state) only if it wants to.

use automerge::sync::{self, SyncDoc};
use automerge::AutoCommit;

use crate::documents::check_kind;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::index::CustomerView;
use crate::store::Incoming;

/// Runs `f`, turning a panic into an error carrying the panic's message: Automerge panics
/// on some hostile input, and one peer's message must not take the process (or a lock) down.
pub(crate) fn contained<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string())
    })
}

/// A message received and accepted by `verify`: what to store.
pub struct Received {
    /// The document with the message merged.
    pub after: AutoCommit,
    /// The sync state after the message.
    pub state: sync::State,
    /// The customer as `after` reads, if a check read it (saves the projection a reading).
    pub read_after: Option<CustomerView>,
}

/// Receives a standard Automerge sync message for `id` on copies of `before` (the document as
/// stored: an empty one if it is not held; `mut` only to read its heads) and of `state`. `verify` sees what the message
/// would add and may refuse it. A message that does not decode, makes Automerge fail or panic
/// (contained), or would turn the document into something that is not a document of `id`'s
/// kind is an error (`CorruptDocument`, or what `check_kind` says); `before` and `state` are
/// never touched, so on any error nothing changed.
pub fn receive_sync_message(
    id: &DocId,
    before: &mut AutoCommit,
    state: &sync::State,
    message: &[u8],
    verify: &mut dyn FnMut(&Incoming<'_>) -> Result<()>,
) -> Result<Received> {
    let corrupt = |reason: String| Error::CorruptDocument {
        doc: id.to_string(),
        reason,
    };
    crate::wire::check_sync_message(id, message)?;
    let msg = sync::Message::decode(message).map_err(|e| corrupt(e.to_string()))?;
    let before_heads = before.get_heads();
    let mut after = before.clone();
    let mut trial = state.clone();
    contained(|| -> Result<Option<CustomerView>> {
        let received = after.sync().receive_sync_message(&mut trial, msg);
        received.map_err(|e| corrupt(e.to_string()))?;
        check_kind(&mut after, id)?;
        let incoming = Incoming::new(id, &*before, &before_heads, &mut after);
        verify(&incoming)?;
        Ok(incoming.into_read_after())
    })
    .unwrap_or_else(|reason| Err(corrupt(format!("Automerge failed on it: {reason}"))))
    .map(|read_after| Received {
        after,
        state: trial,
        read_after,
    })
}

/// The next standard Automerge sync message for `id` (the document `doc`) towards a peer
/// whose session state is `state`, or `None` when there is nothing to send. A panic inside
/// Automerge (a peer's hostile `have` or `need` in `state`) is this document's
/// `CorruptDocument`; generating only reads the document, and on error the caller should drop
/// `state`.
pub fn generate_sync_message(
    id: &DocId,
    doc: &mut AutoCommit,
    state: &mut sync::State,
) -> Result<Option<Vec<u8>>> {
    contained(|| doc.sync().generate_sync_message(state).map(|m| m.encode())).map_err(|reason| {
        Error::CorruptDocument {
            doc: id.to_string(),
            reason: format!("Automerge failed answering it: {reason}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use automerge::sync;
    use automerge::{ActorId, AutoCommit};

    use super::*;
    use crate::documents::genesis;
    use crate::ids::CustomerId;

    /// A customer document's genesis, and the first message it sends to a peer that has
    /// nothing.
    fn first_message() -> (DocId, AutoCommit, Vec<u8>) {
        let id = DocId::Customer(CustomerId::new());
        let mut sender = genesis(&id, &ActorId::from(&[7u8, 7][..])).unwrap();
        let mut state = sync::State::new();
        let msg = generate_sync_message(&id, &mut sender, &mut state)
            .unwrap()
            .expect("a document with changes has something to say");
        (id, sender, msg)
    }

    #[test]
    fn an_accepted_message_comes_back_merged_and_leaves_the_inputs_alone() {
        let (id, mut sender, first) = first_message();
        // The peer's first message only says what it has; answer it and receive the answer.
        let mut before = AutoCommit::new();
        let state = sync::State::new();
        let mut seen = 0;
        let r = receive_sync_message(&id, &mut before, &state, &first, &mut |inc| {
            seen += inc.new_changes.len();
            Ok(())
        })
        .unwrap();
        assert!(
            before.get_heads().is_empty(),
            "the document handed in is untouched"
        );
        assert!(state.shared_heads.is_empty(), "so is the state");
        let mut after = r.after;
        let mut st = r.state;
        // Keep exchanging until the receiver has the sender's changes.
        let mut sender_state = sync::State::new();
        for _ in 0..4 {
            if let Some(m) = generate_sync_message(&id, &mut after, &mut st).unwrap() {
                sender
                    .sync()
                    .receive_sync_message(&mut sender_state, sync::Message::decode(&m).unwrap())
                    .unwrap();
            }
            if let Some(m) = generate_sync_message(&id, &mut sender, &mut sender_state).unwrap() {
                let r = receive_sync_message(&id, &mut after, &st, &m, &mut |inc| {
                    seen += inc.new_changes.len();
                    Ok(())
                })
                .unwrap();
                after = r.after;
                st = r.state;
            }
        }
        assert_eq!(after.get_heads(), sender.get_heads());
        assert!(seen > 0, "verify saw the new changes");
    }

    /// `Incoming` learns the new changes' hashes, actors and roots from their metadata: the
    /// same, in the same order, as decoding the changes themselves gave.
    #[test]
    fn incoming_sees_the_changes_that_decoding_them_shows() {
        use automerge::transaction::Transactable;
        let id = DocId::Customer(CustomerId::new());
        let mut before = genesis(&id, &ActorId::from(&[7u8, 7][..])).unwrap();
        let mut a = before.fork().with_actor(ActorId::from(&[1u8; 16][..]));
        let mut b = before.fork().with_actor(ActorId::from(&[2u8; 16][..]));
        for i in 0..3 {
            a.put(automerge::ROOT, "x", i).unwrap();
            a.commit();
            b.put(automerge::ROOT, "y", i).unwrap();
            b.commit();
        }
        let mut rogue = AutoCommit::new().with_actor(ActorId::from(&[3u8; 16][..]));
        rogue.put(automerge::ROOT, "z", 1).unwrap();
        rogue.commit();
        // Everything from nothing (the genesis included); then two actors' changes and a
        // second root after the genesis.
        let genesis_heads = before.get_heads();
        for (heads, extra) in [
            (vec![], vec![&mut a]),
            (genesis_heads, vec![&mut b, &mut rogue]),
        ] {
            let mut after = before.clone();
            for other in extra {
                after.merge(other).unwrap();
            }
            let decoded = after.get_changes(&heads);
            let want: Vec<_> = decoded
                .iter()
                .map(|c| (c.hash(), c.actor_id().to_hex_string()))
                .collect();
            let roots: Vec<_> = decoded
                .iter()
                .filter(|c| c.deps().is_empty())
                .map(|c| c.hash())
                .collect();
            let inc = Incoming::new(&id, &before, &heads, &mut after);
            assert_eq!(inc.new_changes, want);
            assert_eq!(inc.new_roots, roots);
            assert!(!want.is_empty());
        }
    }

    #[test]
    fn a_refused_or_corrupt_message_changes_nothing() {
        let (id, sender, _) = first_message();
        // The whole document in one message (what a v2 peer sends one that has nothing).
        let mut empty = AutoCommit::new();
        let mut st = sync::State::new();
        let ask = generate_sync_message(&id, &mut empty, &mut st)
            .unwrap()
            .unwrap();
        let mut sender = sender;
        let mut sender_state = sync::State::new();
        sender
            .sync()
            .receive_sync_message(&mut sender_state, sync::Message::decode(&ask).unwrap())
            .unwrap();
        let full = generate_sync_message(&id, &mut sender, &mut sender_state)
            .unwrap()
            .unwrap();
        let mut before = AutoCommit::new();
        let refused = receive_sync_message(&id, &mut before, &st, &full, &mut |_| {
            Err(Error::Forbidden("no".into()))
        });
        assert_eq!(refused.err().map(|e| e.code()), Some("forbidden"));
        assert!(before.get_heads().is_empty());
        let accepted = receive_sync_message(&id, &mut before, &st, &full, &mut |_| Ok(()));
        assert_eq!(accepted.unwrap().after.get_heads(), sender.get_heads());
        for garbage in [vec![0x42, 0xff, 0x00], b"hello".to_vec(), vec![]] {
            let e = receive_sync_message(&id, &mut before, &st, &garbage, &mut |_| Ok(()));
            assert!(e.is_err(), "{garbage:?} refused");
        }
        assert!(before.get_heads().is_empty());
        // A customer's changes received as a day's: not that document.
        let day: DocId = "day:A-1:2026-06-01".parse().unwrap();
        let wrong = receive_sync_message(&day, &mut before, &st, &full, &mut |_| Ok(()));
        assert!(wrong.is_err());
    }
}
