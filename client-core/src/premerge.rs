//! Merging a received sync message on a copy of the committed document, on a read connection
//! of its own, so that the costly part of receiving — decoding, merging, the caller's checks —
//! can run outside the lock of the one connection that writes.
//!
//! The server receives many devices' messages at once. SQLite has one writer, but in WAL mode
//! any number of readers see the last commit while it works. A [`Reader`] loads the document
//! and the peer's sync state as committed and merges the message on copies
//! ([`crate::receive::receive_sync_message`], the same checks as the writer's path); the
//! result, a [`Premerge`], remembers what it was merged on. The writer then stores it with
//! [`crate::Store::store_premerge`] only if the document's row and the sync state are still
//! exactly what the reader read (heads, chunk count, bytes; the state's bytes) — then the
//! merge it would do itself gives the same document, the same checks the same verdict, and
//! storing the premerge is the same write. Otherwise nothing is stored and the caller merges
//! the message the usual way. A premerge is an optimisation, never a second path to the
//! disk: what is written, and when it is durable, is decided by the writer as before.
//!
//! A reader also reads a whole document as committed (`Reader::save_document`), so that a
//! view of one customer does not wait for the writer either.

use std::path::Path;

use automerge::sync;
use automerge::{ActorId, AutoCommit, ChangeHash};
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::{self, DatabaseKey};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::protocol::DocMessage;
use crate::receive::{self, Received};
use crate::store::{self, Incoming};

/// A read-only connection to a home whose writer is a [`crate::Store`] elsewhere.
pub struct Reader {
    conn: Connection,
    actor: ActorId,
}

/// What a premerge was merged on: the document as loaded, its row and the peer's sync
/// state, as read in one read transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Base {
    /// The document's heads as loaded (empty: not held).
    pub(crate) heads: Vec<ChangeHash>,
    /// Its chunks and their bytes, as loaded.
    pub(crate) chunks: usize,
    pub(crate) bytes: usize,
    /// Its row of `documents` (heads text, chunks, bytes), as read.
    pub(crate) row: Option<(String, i64, i64)>,
    /// The peer's persisted sync state for it, as stored (`None`: none).
    pub(crate) state: Option<Vec<u8>>,
}

/// A message merged on the committed copy of its document by a [`Reader`].
pub struct Premerge {
    pub(crate) doc: DocId,
    pub(crate) peer: String,
    pub(crate) base: Base,
    /// The merge, if the checks accepted it.
    pub(crate) received: Option<Received>,
}

impl Premerge {
    /// Whether the message was accepted (there is something to store).
    pub fn accepted(&self) -> bool {
        self.received.is_some()
    }
}

/// The row of `documents` for `doc` as (heads text, chunks, bytes), if any.
pub(crate) fn document_row(conn: &Connection, doc: &DocId) -> Result<Option<(String, i64, i64)>> {
    Ok(conn
        .prepare_cached("SELECT heads, chunks, bytes FROM documents WHERE doc = ?1")?
        .query_row([doc.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// The stored sync state of (`doc`, `peer`), as bytes.
pub(crate) fn state_row(conn: &Connection, doc: &DocId, peer: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT state FROM sync_states WHERE doc = ?1 AND peer = ?2")?
        .query_row(params![doc.to_string(), peer], |r| r.get(0))
        .optional()?)
}

impl Base {
    /// Whether `conn` holds exactly what this base was read from.
    pub(crate) fn is_current(&self, conn: &Connection, doc: &DocId, peer: &str) -> Result<bool> {
        Ok(document_row(conn, doc)? == self.row && state_row(conn, doc, peer)? == self.state)
    }
}

impl Reader {
    /// Opens a reader on the home at `path` (created and opened by a [`crate::Store`]).
    pub fn open(path: &Path, key: Option<&DatabaseKey>) -> Result<Reader> {
        let conn = db::open_reader(path, key)?;
        let actor = store::meta_get(&conn, "actor")?
            .ok_or_else(|| Error::NotInitialised(path.to_path_buf()))?;
        let actor = ActorId::from(
            store::hex_bytes(&actor).ok_or_else(|| Error::invalid("actor", "not hex"))?,
        );
        Ok(Reader { conn, actor })
    }

    /// A whole document as committed, as `Automerge::save` bytes (`None`: not held): what
    /// [`crate::Store::save_document`] gives, without waiting for the writer.
    pub fn save_document(&self, id: &DocId) -> Result<Option<Vec<u8>>> {
        Ok(store::load_from(&self.conn, id, &self.actor)?.map(|mut l| l.doc.save()))
    }

    /// Merges `message` on the committed copy of its document, starting from `peer`'s
    /// persisted sync state, `verify` seeing what it would add (as
    /// [`crate::Store::sync_receive`] would, in a new session). `Err` only when the committed
    /// copy could not be read (the caller then receives the message the usual way, which
    /// meets the same error in its own context); the merge's own outcome — accepted, or the
    /// error `verify` or Automerge gave — is the pair's second half.
    pub fn premerge(
        &self,
        peer: &str,
        message: &DocMessage,
        verify: &mut dyn FnMut(&Incoming<'_>) -> Result<()>,
    ) -> Result<(Premerge, Result<()>)> {
        let id = &message.doc;
        // One read transaction: the chunks, the row that counts them and the state agree.
        let tx = self.conn.unchecked_transaction()?;
        let loaded = store::load_from(&tx, id, &self.actor)?;
        let row = document_row(&tx, id)?;
        let state_bytes = state_row(&tx, id, peer)?;
        tx.finish()?;
        let (mut before, heads, chunks, bytes) = match loaded {
            Some(l) => (l.doc, l.saved_heads, l.chunks, l.bytes),
            None => (
                AutoCommit::new().with_actor(self.actor.clone()),
                vec![],
                0,
                0,
            ),
        };
        let base = Base {
            heads,
            chunks,
            bytes,
            row,
            state: state_bytes.clone(),
        };
        let state = state_bytes
            .and_then(|b| sync::State::decode(&b).ok())
            .unwrap_or_default();
        let (received, outcome) =
            match receive::receive_sync_message(id, &mut before, &state, &message.data, verify) {
                Ok(r) => (Some(r), Ok(())),
                Err(e) => (None, Err(e)),
            };
        Ok((
            Premerge {
                doc: id.clone(),
                peer: peer.to_string(),
                base,
                received,
            },
            outcome,
        ))
    }
}
