//! Documents on PostgreSQL: the Automerge bytes (the only source of truth), their index rows
//! and their sync states, written so that several instances can merge into the same document
//! at the same moment and lose nothing.
//!
//! A document is the concatenation of its `chunks` (append-only; one snapshot replaces them at
//! compaction). **The locking rule:** every read-modify-write of a document — a merge
//! ([`DocumentTx::merge`]) or a compaction ([`DocumentTx::compact`]) — first locks the
//! document's row in `documents` (`SELECT … FOR UPDATE`) and loads the chunks only then, in
//! the same transaction. A second instance merging into the same document waits for the first
//! to commit and then loads what it appended, so its own append is computed against the
//! merged heads (`save_after`) and both changes survive; a compaction, which deletes chunks,
//! can never run between another writer's load and its append. Reads without a lock
//! ([`DocumentTx::load`]) see one committed state: the chunks are read in one statement.
//!
//! A batch locks its documents one by one; two batches that lock the same two documents in
//! opposite orders deadlock, PostgreSQL aborts one, and `PgDatabase::write` runs it again.
//! Callers lock in a stable order (sorted document ids) to make that rare.

use std::collections::HashMap;

use automerge::{sync, AutoCommit, ChangeHash};
use client_core::documents::check_kind;
use client_core::index::{projection, Projection};
use client_core::DocId;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};

use super::index;
use crate::error::{Error, Result};

/// A document as stored, loaded in memory.
#[derive(Debug)]
pub struct StoredDoc {
    /// The document.
    pub doc: AutoCommit,
    /// Its heads (sorted).
    pub heads: Vec<ChangeHash>,
    /// How many chunks it is stored in.
    pub chunks: usize,
    /// Their bytes.
    pub bytes: usize,
}

/// What [`DocumentTx::merge`] did.
#[derive(Debug)]
pub struct Merged<R> {
    /// What the caller's closure returned.
    pub value: R,
    /// The document's heads before the closure ran (empty for a new document).
    pub before: Vec<ChangeHash>,
    /// Its heads now, as stored (sorted).
    pub heads: Vec<ChangeHash>,
    /// The document as stored.
    pub doc: AutoCommit,
}

impl<R> Merged<R> {
    /// Whether the closure changed the document.
    pub fn changed(&self) -> bool {
        self.before != self.heads
    }
}

/// One transaction on the document storage (see the module's locking rule). Obtained from
/// `PgDatabase::write`, which commits it when the closure returns `Ok`.
pub struct DocumentTx<'a> {
    tx: Transaction<'a>,
    /// The statements prepared on this connection, by their SQL.
    statements: &'a mut HashMap<String, Statement>,
    compact_after: usize,
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

fn heads_bytes(heads: &[ChangeHash]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = heads.iter().map(|h| h.0.to_vec()).collect();
    v.sort();
    v
}

fn heads_of(doc: &DocId, raw: Vec<Vec<u8>>) -> Result<Vec<ChangeHash>> {
    raw.iter()
        .map(|b| ChangeHash::try_from(b.as_slice()).map_err(|e| corrupt(doc, &e)))
        .collect()
}

fn corrupt(doc: &DocId, e: &dyn std::fmt::Display) -> Error {
    Error::Core(client_core::Error::CorruptDocument {
        doc: doc.to_string(),
        reason: e.to_string(),
    })
}

fn kind(doc: &DocId) -> &'static str {
    match doc {
        DocId::Customer(_) => "customer",
        DocId::Day(..) => "day",
    }
}

impl<'a> DocumentTx<'a> {
    pub(super) fn new(
        tx: Transaction<'a>,
        statements: &'a mut HashMap<String, Statement>,
        compact_after: usize,
    ) -> DocumentTx<'a> {
        DocumentTx {
            tx,
            statements,
            compact_after,
        }
    }

    /// `sql` prepared on this connection, once.
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs a statement (prepared once per connection); returns the rows it changed.
    pub(super) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.statement(sql)?;
        Ok(self.tx.execute(&s, params)?)
    }

    /// Runs a query (prepared once per connection).
    pub(super) fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.query(&s, params)?)
    }

    /// Runs a query that returns at most one row (prepared once per connection).
    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.query_opt(&s, params)?)
    }

    pub(super) fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }

    /// The transaction itself, for the server's own tables (accounts, logs) written in the
    /// same transaction as the documents.
    pub fn sql(&mut self) -> &mut Transaction<'a> {
        &mut self.tx
    }

    /// Reads a document's chunks into one document (`None` if it has none).
    fn read_chunks(&mut self, doc: &DocId) -> Result<Option<StoredDoc>> {
        let rows = self.query(
            "SELECT data FROM chunks WHERE doc = $1 ORDER BY id",
            &[&doc.to_string()],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        for row in &rows {
            bytes.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        let mut d = AutoCommit::load(&bytes).map_err(|e| corrupt(doc, &e))?;
        check_kind(&mut d, doc)?;
        Ok(Some(StoredDoc {
            heads: sorted(d.get_heads()),
            doc: d,
            chunks: rows.len(),
            bytes: bytes.len(),
        }))
    }

    /// Loads a document as committed, without locking it (`None` if the database does not
    /// hold it). Not for a read-modify-write: use [`DocumentTx::merge`].
    pub fn load(&mut self, doc: &DocId) -> Result<Option<StoredDoc>> {
        self.read_chunks(doc)
    }

    /// A document's heads as stored (`None` if the database does not hold it).
    pub fn heads(&mut self, doc: &DocId) -> Result<Option<Vec<ChangeHash>>> {
        let row = self.query_opt(
            "SELECT heads FROM documents WHERE doc = $1 AND chunks > 0",
            &[&doc.to_string()],
        )?;
        row.map(|r| heads_of(doc, r.get(0))).transpose()
    }

    /// Locks a document's row for the rest of the transaction, creating an empty one for a
    /// document the database does not hold yet (two instances creating the same document take
    /// turns too). Returns how many chunks it has and their bytes.
    fn lock(&mut self, doc: &DocId) -> Result<(usize, usize)> {
        let name = doc.to_string();
        let select = "SELECT chunks, bytes FROM documents WHERE doc = $1 FOR UPDATE";
        let row = match self.query_opt(select, &[&name])? {
            Some(row) => row,
            None => {
                self.execute(
                    "INSERT INTO documents (doc, kind, heads, chunks, bytes)
                     VALUES ($1, $2, '{}', 0, 0) ON CONFLICT (doc) DO NOTHING",
                    &[&name, &kind(doc)],
                )?;
                self.query_opt(select, &[&name])?.ok_or_else(|| {
                    Error::Internal(format!("document {name} vanished while locked"))
                })?
            }
        };
        let chunks: i32 = row.get(0);
        let bytes: i64 = row.get(1);
        Ok((chunks as usize, bytes as usize))
    }

    /// Merges into a document under its row lock: loads it as committed (an empty document if
    /// the database does not hold it), runs `f` on it (apply a sync message, merge changes),
    /// then appends what `f` added (`save_after` the loaded heads; a snapshot for a new
    /// document or once it reaches `compact_after` chunks), stores its new heads and writes
    /// its index rows, all in this transaction. If `f` fails, nothing of it is stored (the
    /// caller's transaction is rolled back by returning the error).
    pub fn merge<R>(
        &mut self,
        doc: &DocId,
        f: impl FnOnce(&mut AutoCommit) -> Result<R>,
    ) -> Result<Merged<R>> {
        let name = doc.to_string();
        let (chunks, bytes) = self.lock(doc)?;
        let (mut d, chunks, bytes) = match self.read_chunks(doc)? {
            Some(s) => (s.doc, s.chunks, s.bytes),
            None => (AutoCommit::new(), chunks, bytes),
        };
        let before = sorted(d.get_heads());
        let value = f(&mut d)?;
        let heads = sorted(d.get_heads());
        if heads == before {
            if chunks == 0 {
                // Nothing to store: drop the row `lock` created.
                self.execute(
                    "DELETE FROM documents WHERE doc = $1 AND chunks = 0",
                    &[&name],
                )?;
            }
            return Ok(Merged {
                value,
                before,
                heads,
                doc: d,
            });
        }
        let (chunk_kind, data, chunks, bytes) = if chunks == 0 || chunks + 1 >= self.compact_after {
            let snapshot = d.save();
            self.tx
                .execute("DELETE FROM chunks WHERE doc = $1", &[&name])?;
            let len = snapshot.len();
            ("snapshot", snapshot, 1, len)
        } else {
            let delta = d.save_after(&before);
            let len = delta.len();
            ("incremental", delta, chunks + 1, bytes + len)
        };
        self.execute(
            "INSERT INTO chunks (doc, kind, data) VALUES ($1, $2, $3)",
            &[&name, &chunk_kind, &data],
        )?;
        self.execute(
            "UPDATE documents SET heads = $2, chunks = $3, bytes = $4, updated_at = now()
             WHERE doc = $1",
            &[
                &name,
                &heads_bytes(&heads),
                &(chunks as i32),
                &(bytes as i64),
            ],
        )?;
        self.write_projection(&projection(doc, &d))?;
        Ok(Merged {
            value,
            before,
            heads,
            doc: d,
        })
    }

    /// Compacts a document under its row lock: one snapshot replaces its chunks. Returns
    /// whether it did (a document in one chunk, or not held, is left alone).
    pub fn compact(&mut self, doc: &DocId) -> Result<bool> {
        let name = doc.to_string();
        let Some(row) = self.query_opt(
            "SELECT chunks FROM documents WHERE doc = $1 FOR UPDATE",
            &[&name],
        )?
        else {
            return Ok(false);
        };
        if row.get::<_, i32>(0) <= 1 {
            return Ok(false);
        }
        let Some(mut stored) = self.read_chunks(doc)? else {
            return Ok(false);
        };
        let snapshot = stored.doc.save();
        self.execute("DELETE FROM chunks WHERE doc = $1", &[&name])?;
        self.execute(
            "INSERT INTO chunks (doc, kind, data) VALUES ($1, 'snapshot', $2)",
            &[&name, &snapshot],
        )?;
        self.execute(
            "UPDATE documents SET chunks = 1, bytes = $2 WHERE doc = $1",
            &[&name, &(snapshot.len() as i64)],
        )?;
        Ok(true)
    }

    /// Writes a document's index rows (as `merge` does after every change; also for
    /// rebuilding the index from the documents).
    pub fn write_projection(&mut self, p: &Projection) -> Result<()> {
        index::write(self, p)
    }

    /// The sync state persisted for (`doc`, `peer`), or a fresh one.
    pub fn sync_state(&mut self, doc: &DocId, peer: &str) -> Result<sync::State> {
        let row = self.query_opt(
            "SELECT state FROM sync_states WHERE doc = $1 AND peer = $2",
            &[&doc.to_string(), &peer],
        )?;
        Ok(row
            .and_then(|r| sync::State::decode(r.get::<_, &[u8]>(0)).ok())
            .unwrap_or_default())
    }

    /// Persists the sync state of (`doc`, `peer`) (only its shared heads mean anything in a
    /// later session, whichever instance serves it).
    pub fn save_sync_state(&mut self, doc: &DocId, peer: &str, state: &sync::State) -> Result<()> {
        self.execute(
            "INSERT INTO sync_states (doc, peer, state, shared_heads) VALUES ($1, $2, $3, $4)
             ON CONFLICT (doc, peer) DO UPDATE SET state = excluded.state,
                 shared_heads = excluded.shared_heads",
            &[
                &doc.to_string(),
                &peer,
                &state.encode(),
                &heads_bytes(&state.shared_heads),
            ],
        )?;
        Ok(())
    }

    /// The documents whose stored heads differ from what `peer` was last known to share (or
    /// that it was never known to have), by name.
    pub fn out_of_sync(&mut self, peer: &str) -> Result<Vec<DocId>> {
        let rows = self.query(
            "SELECT d.doc FROM documents d
             LEFT JOIN sync_states s ON s.doc = d.doc AND s.peer = $1
             WHERE d.chunks > 0 AND (s.shared_heads IS NULL OR s.shared_heads <> d.heads)
             ORDER BY d.doc",
            &[&peer],
        )?;
        rows.iter()
            .map(|r| {
                let name: &str = r.get(0);
                name.parse::<DocId>().map_err(Error::from)
            })
            .collect()
    }

    /// Records changes stored for `doc` in the change log (each hash once: a change merged
    /// again is not logged again). Returns how many were new.
    pub fn log_changes(&mut self, doc: &DocId, hashes: &[ChangeHash], via: &str) -> Result<u64> {
        let raw: Vec<Vec<u8>> = hashes.iter().map(|h| h.0.to_vec()).collect();
        self.execute(
            "INSERT INTO change_log (hash, doc, via)
             SELECT h, $2, $3 FROM unnest($1::bytea[]) AS h
             ON CONFLICT (hash) DO NOTHING",
            &[&raw, &doc.to_string(), &via],
        )
    }
}
