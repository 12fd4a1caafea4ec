//! An in-process stand-in for the server, for tests and deterministic harnesses.
//!
//! [`MemoryHub`] is a [`Transport`] whose "server" is a second client-core `Store`: it answers
//! a batch the way `POST /v1/sync` does (receive every message, then reply for those documents
//! and push what the device lacks), with a fresh session per request as a stateless HTTP
//! server would, and only the persisted per-(device, document) sync states carried between
//! requests. It can also misbehave on demand — lose a request or its answer, revoke the
//! device, move a document away, refuse large batches, put a playbook in force — so the sync
//! rounds and the background task are tested without sockets or clocks.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use client_core::protocol::{
    PlaybookUpdate, Rejection, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};
use client_core::{DocId, Store};

use crate::error::SyncError;
use crate::run::lock;
use crate::transport::Transport;

/// A way for the next exchange to go wrong.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The request is lost on the way: the hub sees nothing, the device gets a network error.
    LoseRequest,
    /// The hub applies the request, but its answer is lost: the device gets a network error.
    LoseAnswer,
    /// The hub answers with this error (a 5xx, a 401…) without looking at the request.
    Fail(fn() -> SyncError),
}

#[derive(Default)]
struct HubState {
    revoked: bool,
    /// Faults by the number of the exchange they hit.
    faults: Vec<(usize, Fault)>,
    /// Per device actor: documents it may no longer hold, and whether it was told.
    hidden: HashMap<String, BTreeSet<DocId>>,
    to_remove: HashMap<String, BTreeSet<DocId>>,
    playbook: Option<PlaybookUpdate>,
    max_messages: Option<usize>,
    requests: usize,
}

/// A second store playing the server.
pub struct MemoryHub {
    store: Mutex<Store>,
    state: Mutex<HubState>,
}

impl MemoryHub {
    /// A hub answering from `store`.
    pub fn new(store: Store) -> MemoryHub {
        MemoryHub {
            store: Mutex::new(store),
            state: Mutex::new(HubState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The hub's own store (to edit it as a manager would, or to check what it holds).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// The peer name under which the hub keeps a device's sync states.
    pub fn peer(actor: &str) -> String {
        format!("device:{actor}")
    }

    /// Makes the next exchange go wrong.
    pub fn fail_next(&self, fault: Fault) {
        self.fail_after(0, fault);
    }

    /// Lets `ok` exchanges through, then makes the next one go wrong.
    pub fn fail_after(&self, ok: usize, fault: Fault) {
        let mut st = self.state();
        let at = st.requests + ok + 1;
        st.faults.push((at, fault));
    }

    /// Revokes every device: from now on the hub answers "revoked, wipe".
    pub fn revoke(&self) {
        self.state().revoked = true;
    }

    /// Takes `doc` away from the device with actor `actor` (its customer was reassigned): the
    /// next answer tells the device to drop it, and it is never pushed to that device again.
    pub fn reassign_away(&self, actor: &str, doc: DocId) {
        let mut st = self.state();
        st.hidden
            .entry(actor.to_string())
            .or_default()
            .insert(doc.clone());
        st.to_remove
            .entry(actor.to_string())
            .or_default()
            .insert(doc);
    }

    /// Refuses the messages of the device with actor `actor` for `doc` (`forbidden`) without
    /// telling it to drop the document, as the server does with a document the device may not
    /// write.
    pub fn forbid(&self, actor: &str, doc: DocId) {
        self.state()
            .hidden
            .entry(actor.to_string())
            .or_default()
            .insert(doc);
    }

    /// Puts a playbook in force: devices whose hash differs receive it.
    pub fn set_playbook(&self, hash: &str, toml: &str) {
        self.state().playbook = Some(PlaybookUpdate {
            hash: hash.to_string(),
            toml: toml.to_string(),
        });
    }

    /// Refuses (413 `too_large`) requests with more than `n` messages.
    pub fn limit_messages(&self, n: usize) {
        self.state().max_messages = Some(n);
    }

    /// Exchanges answered or failed so far.
    pub fn requests(&self) -> usize {
        self.state().requests
    }

    fn answer(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        let fault = {
            let mut st = self.state();
            st.requests += 1;
            if st.revoked {
                return Err(SyncError::Revoked);
            }
            if request.protocol != PROTOCOL_VERSION {
                return Err(SyncError::Refused {
                    status: 400,
                    code: "unsupported_protocol".into(),
                    message: format!("protocol {} is not spoken here", request.protocol),
                });
            }
            if st.max_messages.is_some_and(|n| request.messages.len() > n) {
                return Err(SyncError::Refused {
                    status: 413,
                    code: "too_large".into(),
                    message: "too many messages in one request".into(),
                });
            }
            let n = st.requests;
            st.faults
                .iter()
                .position(|(at, _)| *at == n)
                .map(|i| st.faults.remove(i).1)
        };
        match fault {
            Some(Fault::LoseRequest) => {
                return Err(SyncError::Network("connection reset (request lost)".into()))
            }
            Some(Fault::Fail(make)) => return Err(make()),
            Some(Fault::LoseAnswer) | None => {}
        }
        let (hidden, removed, playbook) = {
            let mut st = self.state();
            let hidden = st.hidden.get(&request.actor).cloned().unwrap_or_default();
            let removed: Vec<DocId> = st
                .to_remove
                .remove(&request.actor)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let playbook = st
                .playbook
                .clone()
                .filter(|p| request.playbook.as_deref() != Some(p.hash.as_str()));
            (hidden, removed, playbook)
        };
        let peer = MemoryHub::peer(&request.actor);
        let mut store = self.store();
        let mut session = store.start_sync(&peer);
        let mut rejected = vec![];
        let mut heard = BTreeSet::new();
        for m in &request.messages {
            if hidden.contains(&m.doc) {
                rejected.push(Rejection {
                    doc: m.doc.clone(),
                    code: "forbidden".into(),
                    message: "this document is no longer yours".into(),
                });
                continue;
            }
            match store.sync_receive(&mut session, m, &mut |_| Ok(())) {
                Ok(()) => {
                    heard.insert(m.doc.clone());
                }
                Err(e) => rejected.push(Rejection {
                    doc: m.doc.clone(),
                    code: "corrupt".into(),
                    message: e.to_string(),
                }),
            }
        }
        let mut docs: BTreeSet<DocId> = store.out_of_sync(&peer)?.into_iter().collect();
        docs.extend(heard);
        let mut messages = vec![];
        for doc in docs.difference(&hidden) {
            if let Some(m) = store.sync_generate(&mut session, doc)? {
                messages.push(m);
            }
        }
        drop(store);
        if matches!(fault, Some(Fault::LoseAnswer)) {
            return Err(SyncError::Network("connection reset (answer lost)".into()));
        }
        Ok(SyncResponse {
            protocol: PROTOCOL_VERSION,
            messages,
            rejected,
            removed,
            more: false,
            playbook,
        })
    }
}

impl Transport for MemoryHub {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send {
        let answer = self.answer(request);
        async move {
            // Yield once, as a real exchange would, so the caller's task is really async.
            tokio::task::yield_now().await;
            answer
        }
    }
}
