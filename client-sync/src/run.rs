//! One sync run: batched rounds with the server until both sides have nothing left to say.
//!
//! A round asks the store for the next Automerge sync message of every document that is out
//! of sync with the server or already in the session, sends them in as few requests as the
//! size limits allow, and applies the answers: documents to drop (reassigned customers), a
//! playbook to put in force, documents the server refused (recorded, the run goes on), and
//! the server's own messages. The run ends when a round has nothing to send and the server
//! holds nothing back, or fails after a bounded number of rounds (a lost message can make
//! Automerge peers loop; the next run starts a fresh session, as the protocol expects).
//!
//! **The store lock is never held across an await**: every store call locks, does one short
//! synchronous thing (a few documents' messages, one received message) and unlocks, so an
//! agent recording a visit waits for at most a few documents' work, never for the network.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use client_core::protocol::{
    DocMessage, Rejection, SyncRequest, SyncResponse, PROTOCOL_VERSION, RETRY_LATER,
};
use client_core::{DocId, Store};
use serde::Serialize;

use crate::error::SyncError;
use crate::settings::{self, SERVER_PEER};
use crate::transport::Transport;

/// Limits of a run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Rounds before the run gives up with [`SyncError::DidNotConverge`].
    pub max_rounds: u32,
    /// At most this many document messages in one request.
    pub max_batch_messages: usize,
    /// At most about this many bytes of JSON in one request.
    pub max_batch_bytes: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_rounds: 12,
            max_batch_messages: 500,
            max_batch_bytes: 8 << 20,
        }
    }
}

/// Something the server sent that this home could not take (a message that does not
/// decode, a playbook that does not parse), or a document of this home whose message could not
/// be made (it no longer loads). The run goes on without it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalFailure {
    /// The document (`customer:…`, `day:…`) or `playbook`.
    pub what: String,
    /// Why.
    pub message: String,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Rounds that sent something (a round may take several requests).
    pub rounds: u32,
    /// HTTP requests (or exchanges with another transport) made.
    pub requests: u32,
    /// Document messages sent.
    pub messages_sent: usize,
    /// Bytes of Automerge sync messages sent (before base64 and compression).
    pub bytes_sent: usize,
    /// Document messages received.
    pub messages_received: usize,
    /// Bytes of Automerge sync messages received.
    pub bytes_received: usize,
    /// Documents dropped because the server said so (customers reassigned to someone else).
    pub removed: Vec<DocId>,
    /// Documents whose messages the server refused.
    pub rejected: Vec<Rejection>,
    /// What the server sent that this home could not take, and documents that could not be
    /// sent.
    pub failed: Vec<LocalFailure>,
    /// The hash of a playbook the server put in force during the run.
    pub playbook: Option<String>,
    /// Documents still out of sync after the run (the refused ones, and writes made during it).
    pub pending_documents: usize,
}

impl SyncReport {
    /// A sentence on what went wrong in a run that converged nonetheless, if anything did.
    pub fn problems(&self) -> Option<String> {
        let mut parts = vec![];
        if !self.rejected.is_empty() {
            let list: Vec<String> = self
                .rejected
                .iter()
                .map(|r| format!("{} ({}: {})", r.doc, r.code, r.message))
                .collect();
            parts.push(format!(
                "the server refused {} document(s): {}",
                self.rejected.len(),
                list.join("; ")
            ));
        }
        if !self.failed.is_empty() {
            let list: Vec<String> = self
                .failed
                .iter()
                .map(|f| format!("{} ({})", f.what, f.message))
                .collect();
            parts.push(format!(
                "{} item(s) from the server could not be applied: {}",
                self.failed.len(),
                list.join("; ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Locks the store, recovering from a panic elsewhere (every store write is transactional,
/// so a panicking holder leaves the database consistent).
pub(crate) fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on the store under a short lock.
fn with<R>(
    store: &Mutex<Store>,
    f: impl FnOnce(&mut Store) -> client_core::Result<R>,
) -> client_core::Result<R> {
    f(&mut lock(store))
}

/// Whether a store error concerns one document only (the run can go on without it) rather
/// than the home (disk, SQLite).
fn is_per_document(e: &client_core::Error) -> bool {
    !matches!(
        e,
        client_core::Error::Storage(_)
            | client_core::Error::Io { .. }
            | client_core::Error::NotADoorstepDatabase { .. }
            | client_core::Error::SchemaTooNew { .. }
            | client_core::Error::NotInitialised(_)
    )
}

/// The approximate JSON size of one message in a request.
fn json_size(m: &DocMessage) -> usize {
    m.data.len().div_ceil(3) * 4 + m.doc.to_string().len() + 24
}

/// Splits a round's messages into requests within the limits.
fn batches(messages: Vec<DocMessage>, options: &RunOptions) -> Vec<Vec<DocMessage>> {
    let mut out: Vec<Vec<DocMessage>> = vec![];
    let mut current = vec![];
    let mut bytes = 0;
    for m in messages {
        let size = json_size(&m);
        if !current.is_empty()
            && (current.len() >= options.max_batch_messages.max(1)
                || bytes + size > options.max_batch_bytes)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(m);
    }
    // A round always makes at least one request: an empty one asks the server what it has.
    out.push(current);
    out
}

/// The state of one run.
struct Run<'a, T> {
    store: &'a Mutex<Store>,
    transport: &'a T,
    options: &'a RunOptions,
    actor: String,
    playbook: Option<String>,
    session: client_core::SyncSession,
    /// Every document in the session (what `Store::sync_outgoing` adds to the out-of-sync ones).
    touched: BTreeSet<DocId>,
    /// Documents left alone for the rest of the run: refused, removed, or failing here.
    skip: BTreeSet<DocId>,
    /// The server held messages back: ask again even with nothing to send.
    more: bool,
    report: SyncReport,
}

/// Documents whose messages are generated under one lock of the store, their sync states
/// saved in one transaction: a few milliseconds' work, so a visit recorded meanwhile hardly
/// waits (one commit per document was most of the phone's SQLite time in a first upload).
const GENERATE_CHUNK: usize = 32;

impl<T: Transport> Run<'_, T> {
    /// The documents of the next round, in order: those out of sync with the server and
    /// those already in the session, but not those left alone.
    fn round_docs(&mut self) -> Result<VecDeque<DocId>, SyncError> {
        let mut docs: BTreeSet<DocId> = with(self.store, |s| s.out_of_sync(SERVER_PEER))?
            .into_iter()
            .collect();
        docs.extend(self.touched.iter().cloned());
        Ok(docs.difference(&self.skip).cloned().collect())
    }

    /// The messages of the next few documents of `docs` (those left alone meanwhile are
    /// passed over), under one short lock.
    fn generate(&mut self, docs: &mut VecDeque<DocId>) -> Result<Vec<DocMessage>, SyncError> {
        let skip = &self.skip;
        let chunk: Vec<DocId> = std::iter::from_fn(|| docs.pop_front())
            .filter(|d| !skip.contains(d))
            .take(GENERATE_CHUNK)
            .collect();
        let session = &mut self.session;
        match with(self.store, |s| s.sync_generate_batch(session, &chunk)) {
            Ok(messages) => {
                self.touched.extend(chunk);
                Ok(messages)
            }
            Err(e) if is_per_document(&e) => self.generate_one_by_one(chunk),
            Err(e) => Err(e.into()),
        }
    }

    /// After a chunk failed on one of its documents (one that no longer loads, say): the
    /// chunk's states were rolled back on disk, so the session forgets them too, and each
    /// document is generated alone; the failing one is reported and left alone for the run
    /// (it stays pending, untouched), the others go as usual.
    fn generate_one_by_one(&mut self, chunk: Vec<DocId>) -> Result<Vec<DocMessage>, SyncError> {
        let mut out = vec![];
        for doc in chunk {
            self.session.forget(&doc);
            let session = &mut self.session;
            match with(self.store, |s| s.sync_generate(session, &doc)) {
                Ok(message) => {
                    out.extend(message);
                    self.touched.insert(doc);
                }
                Err(e) if is_per_document(&e) => {
                    tracing::warn!(%doc, "cannot generate this document's message: {e}");
                    self.skip.insert(doc.clone());
                    self.report.failed.push(LocalFailure {
                        what: doc.to_string(),
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Every message of the next round.
    fn outgoing(&mut self) -> Result<Vec<DocMessage>, SyncError> {
        let mut docs = self.round_docs()?;
        let mut out = vec![];
        while !docs.is_empty() {
            out.extend(self.generate(&mut docs)?);
        }
        Ok(out)
    }

    /// Sends one batch; a batch the server finds too large is halved and sent again.
    async fn send(&mut self, batch: Vec<DocMessage>) -> Result<(), SyncError> {
        let mut queue = VecDeque::from([batch]);
        while let Some(messages) = queue.pop_front() {
            let request = SyncRequest {
                protocol: PROTOCOL_VERSION,
                actor: self.actor.clone(),
                playbook: self.playbook.clone(),
                messages,
            };
            let count = request.messages.len();
            self.report.requests += 1;
            match self.transport.exchange(&request).await {
                Ok(response) => {
                    self.report.messages_sent += count;
                    self.report.bytes_sent +=
                        request.messages.iter().map(|m| m.data.len()).sum::<usize>();
                    self.apply(response)?;
                }
                Err(SyncError::Refused { status: 413, .. }) if count > 1 => {
                    let mut first = request.messages;
                    let second = first.split_off(count / 2);
                    tracing::debug!(count, "batch too large for the server: halving it");
                    queue.push_front(second);
                    queue.push_front(first);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Applies one answer: removals, the playbook, refusals, then the server's messages.
    fn apply(&mut self, response: SyncResponse) -> Result<(), SyncError> {
        if response.protocol != PROTOCOL_VERSION {
            return Err(SyncError::Refused {
                status: 200,
                code: "unsupported_protocol".into(),
                message: format!(
                    "the server speaks protocol {}, this device {PROTOCOL_VERSION}",
                    response.protocol
                ),
            });
        }
        self.more |= response.more;
        for doc in &response.removed {
            with(self.store, |s| s.drop_document(doc))?;
            self.session.forget(doc);
            self.skip.insert(doc.clone());
            self.touched.remove(doc);
            if !self.report.removed.contains(doc) {
                self.report.removed.push(doc.clone());
            }
        }
        if let Some(pb) = response.playbook {
            match with(self.store, |s| s.set_playbook_toml(&pb.toml)) {
                Ok(()) => {
                    settings::set_playbook_hash(&lock(self.store), &pb.hash)?;
                    self.playbook = Some(pb.hash.clone());
                    self.report.playbook = Some(pb.hash);
                }
                Err(e) if is_per_document(&e) => {
                    self.report.failed.push(LocalFailure {
                        what: "playbook".into(),
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        for r in response.rejected {
            if r.code == RETRY_LATER {
                // The server ran out of time before this document (it says `more`): send it
                // again next round, from the persisted state (the session's expects an answer).
                tracing::debug!(doc = %r.doc, "the server will take this document next round");
                self.session.forget(&r.doc);
                self.more = true;
                continue;
            }
            tracing::warn!(doc = %r.doc, code = %r.code, "the server refused a document: {}", r.message);
            self.skip.insert(r.doc.clone());
            self.report.rejected.push(r);
        }
        let removed: BTreeSet<&DocId> = response.removed.iter().collect();
        for m in response.messages {
            if removed.contains(&m.doc) {
                continue;
            }
            let session = &mut self.session;
            match with(self.store, |s| s.sync_receive(session, &m, &mut |_| Ok(()))) {
                Ok(()) => {
                    self.report.messages_received += 1;
                    self.report.bytes_received += m.data.len();
                    self.touched.insert(m.doc);
                }
                Err(e) if is_per_document(&e) => {
                    tracing::warn!(doc = %m.doc, "a message from the server could not be applied: {e}");
                    self.skip.insert(m.doc.clone());
                    self.report.failed.push(LocalFailure {
                        what: m.doc.to_string(),
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn rounds(&mut self) -> Result<(), SyncError> {
        for round in 1..=self.options.max_rounds {
            let out = self.outgoing()?;
            if out.is_empty() && round > 1 && !self.more {
                return Ok(());
            }
            self.report.rounds = round;
            self.more = false;
            for batch in batches(out, self.options) {
                self.send(batch).await?;
            }
        }
        // Converged exactly on the last round?
        if self.outgoing()?.is_empty() && !self.more {
            return Ok(());
        }
        Err(SyncError::DidNotConverge(self.options.max_rounds))
    }
}

/// Syncs the home with the server until both sides have nothing left to say.
///
/// Records the outcome in the home's settings (last success, last error). A revoked device's
/// local data is wiped before the error returns.
pub async fn run_sync<T: Transport>(
    store: &Mutex<Store>,
    transport: &T,
    options: &RunOptions,
) -> Result<SyncReport, SyncError> {
    let (actor, session, playbook) = {
        let s = lock(store);
        (
            s.actor_hex(),
            s.start_sync(SERVER_PEER),
            settings::playbook_hash(&s)?,
        )
    };
    let mut run = Run {
        store,
        transport,
        options,
        actor,
        playbook,
        session,
        touched: BTreeSet::new(),
        skip: BTreeSet::new(),
        more: false,
        report: SyncReport::default(),
    };
    let outcome = run.rounds().await;
    let mut report = run.report;
    match outcome {
        Ok(()) => {
            let s = lock(store);
            report.pending_documents = s.out_of_sync(SERVER_PEER)?.len();
            settings::record_success(&s, report.problems().as_deref())?;
            Ok(report)
        }
        Err(SyncError::Revoked) => {
            wipe_revoked(store);
            Err(SyncError::Revoked)
        }
        Err(e) => {
            if let Err(record) = settings::record_failure(&lock(store), &e) {
                tracing::error!("cannot record the sync error: {record}");
            }
            Err(e)
        }
    }
}

/// Deletes a revoked device's local data (documents, index, sync states, login) and leaves a
/// note in the status. Does nothing more if the home is already empty.
pub fn wipe_revoked(store: &Mutex<Store>) {
    let mut s = lock(store);
    let wiped = match s.doc_ids() {
        Ok(ids) if ids.is_empty() && settings::stored_login(&s).ok().flatten().is_none() => Ok(()),
        _ => s.wipe(),
    };
    match wiped {
        Ok(()) => {
            if let Err(e) = settings::record_failure(&s, &SyncError::Revoked) {
                tracing::error!("cannot record the revocation: {e}");
            }
        }
        Err(e) => tracing::error!("revoked device: wiping its local data failed: {e}"),
    }
}

/// [`run_sync`] for callers without an async runtime (the command line): runs it on a
/// runtime of its own. Must not be called from inside an async context.
pub fn run_sync_blocking<T: Transport>(
    store: &Mutex<Store>,
    transport: &T,
    options: &RunOptions,
) -> Result<SyncReport, SyncError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SyncError::Network(format!("cannot start the network runtime: {e}")))?;
    rt.block_on(run_sync(store, transport, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize, len: usize) -> DocMessage {
        DocMessage {
            doc: format!("customer:00000000-0000-4000-8000-{i:012}")
                .parse()
                .unwrap(),
            data: vec![0x42; len],
        }
    }

    #[test]
    fn rounds_are_split_by_count_and_by_bytes_and_never_vanish() {
        let opts = RunOptions {
            max_batch_messages: 3,
            max_batch_bytes: 10_000,
            ..RunOptions::default()
        };
        let sizes: Vec<usize> = batches((0..7).map(|i| msg(i, 10)).collect(), &opts)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [3, 3, 1]);
        // Big messages: one per request; a message over the limit still goes (alone).
        let sizes: Vec<usize> = batches(vec![msg(0, 6000), msg(1, 6000), msg(2, 20_000)], &opts)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [1, 1, 1]);
        // Nothing to send is still one (empty) request: it asks the server what it has.
        assert_eq!(batches(vec![], &opts), vec![Vec::<DocMessage>::new()]);
    }

    #[test]
    fn a_report_says_what_the_server_refused() {
        let mut r = SyncReport::default();
        assert_eq!(r.problems(), None);
        r.rejected.push(Rejection {
            doc: msg(1, 1).doc,
            code: "forged_actor".into(),
            message: "not your actor".into(),
        });
        let p = r.problems().unwrap();
        assert!(
            p.contains("refused 1 document") && p.contains("forged_actor"),
            "{p}"
        );
    }
}
