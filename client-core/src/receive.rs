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
        resend_what_the_peer_lost(&mut trial);
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

/// Makes the session send again what the peer says it lacks although this session already
/// sent it: the peer lost it. Automerge sends a change once per session (`sent_hashes`) and
/// trusts the peer to keep what it received; a change whose dependency had not arrived waits in
/// the receiving document's memory, and a server that works on the document as stored for each
/// request (or a cache that dropped it) no longer has it. The peer then names it in its `need`
/// and Automerge, finding it already sent, sends nothing: both sides exchange empty messages
/// until the run gives up. Forgetting what was sent makes the next message carry everything
/// the peer's Bloom filter does not show, the lost change with it. A peer that never lost
/// anything never needs what it was sent (a change waiting for its dependency is not needed,
/// its dependency is), so an ordinary session is unchanged.
fn resend_what_the_peer_lost(state: &mut sync::State) {
    let lost = state
        .their_need
        .as_ref()
        .is_some_and(|need| need.iter().any(|h| state.sent_hashes.contains(h)));
    if lost {
        state.sent_hashes.clear();
    }
}

/// The other half of [`resend_what_the_peer_lost`], for peers that do not clear their sent
/// changes themselves (a stock Automerge client): while this side lacks some of the peer's
/// heads, its message carries Automerge's `SYNC_RESET` flag, on which the peer forgets what it
/// sent in the session and sends again everything this side's Bloom filter does not show.
/// Only towards a peer that advertises the flag (Automerge 0.12 and later): an older one would
/// be sent empty heads instead, and would answer with its whole document. In an ordinary
/// exchange the peer has sent nothing yet when its new heads are first missed, so the reset
/// costs nothing.
fn ask_for_a_resend_when_missing_their_heads(doc: &mut AutoCommit, state: &mut sync::State) {
    let understood = state
        .their_capabilities
        .as_ref()
        .is_some_and(|caps| caps.contains(&sync::Capability::SyncReset));
    if !understood {
        return;
    }
    if let Some(heads) = &state.their_heads {
        if !doc.get_missing_deps(heads).is_empty() {
            state.needs_reset = true;
        }
    }
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
    contained(|| {
        ask_for_a_resend_when_missing_their_heads(doc, state);
        doc.sync().generate_sync_message(state).map(|m| m.encode())
    })
    .map_err(|reason| Error::CorruptDocument {
        doc: id.to_string(),
        reason: format!("Automerge failed answering it: {reason}"),
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

    fn flags(message: &[u8]) -> sync::MessageFlags {
        sync::Message::decode(message)
            .unwrap()
            .flags
            .expect("Automerge 0.12 always sends flags")
    }

    #[test]
    fn a_side_missing_the_peers_heads_asks_it_to_send_again_what_it_sent() {
        let (id, mut sender, first) = first_message();
        let mut receiver = AutoCommit::new();
        let r = receive_sync_message(&id, &mut receiver, &sync::State::new(), &first, &mut |_| {
            Ok(())
        })
        .unwrap();
        let (mut receiver, mut st) = (r.after, r.state);
        // It lacks the sender's heads: the answer carries the reset (and its heads, not none).
        let answer = generate_sync_message(&id, &mut receiver, &mut st)
            .unwrap()
            .unwrap();
        assert!(flags(&answer).contains(sync::MessageFlags::SYNC_RESET));
        // A stock Automerge sender clears what it sent on it.
        let mut sender_state = sync::State::new();
        sender_state.sent_hashes.insert(sender.get_heads()[0]);
        sender
            .sync()
            .receive_sync_message(&mut sender_state, sync::Message::decode(&answer).unwrap())
            .unwrap();
        assert!(sender_state.sent_hashes.is_empty());
        // Once it has them, no reset.
        let changes = generate_sync_message(&id, &mut sender, &mut sender_state)
            .unwrap()
            .unwrap();
        let r = receive_sync_message(&id, &mut receiver, &st, &changes, &mut |_| Ok(())).unwrap();
        let (mut receiver, mut st) = (r.after, r.state);
        assert_eq!(receiver.get_heads(), sender.get_heads());
        let ack = generate_sync_message(&id, &mut receiver, &mut st)
            .unwrap()
            .unwrap();
        assert!(!flags(&ack).contains(sync::MessageFlags::SYNC_RESET));
        // A peer that does not advertise the flag is never sent it (nor empty heads).
        let mut old_peer = sync::State::new();
        old_peer.their_heads = Some(vec![automerge::ChangeHash([9; 32])]);
        old_peer.their_have = Some(vec![]);
        old_peer.their_need = Some(vec![]);
        let m = generate_sync_message(&id, &mut receiver, &mut old_peer)
            .unwrap()
            .unwrap();
        let m = sync::Message::decode(&m).unwrap();
        assert!(!m.flags.unwrap().contains(sync::MessageFlags::SYNC_RESET));
        assert_eq!(m.heads, receiver.get_heads());
    }

    #[test]
    fn a_peer_needing_what_this_session_sent_is_sent_it_again() {
        let (id, mut sender, _) = first_message();
        let head = sender.get_heads()[0];
        // The peer's message: at heads of its own (not empty heads, on which Automerge itself
        // starts over), it needs the change this session already sent.
        let mut peer = AutoCommit::new();
        let mut peer_state = sync::State::new();
        let mut ask = peer.sync().generate_sync_message(&mut peer_state).unwrap();
        ask.heads = vec![automerge::ChangeHash([5; 32])];
        ask.need = vec![head];
        let ask = ask.encode();
        let mut st = sync::State::new();
        st.sent_hashes.insert(head);
        let mut doc = sender.clone();
        let r = receive_sync_message(&id, &mut doc, &st, &ask, &mut |_| Ok(())).unwrap();
        assert!(r.state.sent_hashes.is_empty(), "forgotten: it goes again");
        let mut st = r.state;
        let again = generate_sync_message(&id, &mut sender, &mut st)
            .unwrap()
            .unwrap();
        assert!(!sync::Message::decode(&again).unwrap().changes.is_empty());
        // A need for something not sent in the session leaves what was sent alone.
        let mut st = sync::State::new();
        let other = automerge::ChangeHash([3; 32]);
        st.sent_hashes.insert(other);
        let r = receive_sync_message(&id, &mut doc, &st, &ask, &mut |_| Ok(())).unwrap();
        assert!(r.state.sent_hashes.contains(&other));
    }
}
