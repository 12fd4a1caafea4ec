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
