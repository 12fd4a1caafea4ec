//! One sync request of one device, on the embedded store: the **apply** side of the sync
//! pipeline, which runs a [`crate::sync_plan::Plan`] against SQLite and client-core.
//!
//! The order matters: the device's actor is bound (or checked) first; the entitlement and the
//! documents the device held are read; the messages that carry changes are **premerged**:
//! merged on the committed copies of their documents and checked, without the store's lock
//! (`client_core::premerge`); then, under the store's lock, every message the plan admits is
//! stored from its premerge if that is still current (its document and sync state unchanged
//! since it was read: the merge would give the same, the checks the same verdict), or else
//! merged through client-core's session after `verify` accepted its effect; the
//! documents the plan names are answered, and the out-of-sync documents it lets through are
//! pushed; finally the request's bookkeeping (removals, change log, refusals, last sync) is
//! written. What to do with each message, reply and push — refusals, hand-ins, deferrals,
//! `removed`, `more` — is the plan's decision, tested without storage in `sync_plan`. A
//! refused message changes nothing and does not stop the others. Everything here is
//! idempotent: a retried request merges nothing twice (Automerge), logs no second rejection
//! (the log counts attempts), and records no change twice.
//!
//! The driver of the plan ([`run`]) and the entitlement ([`entitlement`]) are shared by both
//! stores: they run over a [`SyncSide`] — receive a message with a verify callback, generate a
//! reply, forget a session state, the committed agent of a document, the out-of-sync
//! candidates — which the SQLite batch implements here and the PostgreSQL store
//! (`postgres/sync.rs`) implements over a `DocumentTx`. The rules (`verify`, `access`, the
//! plan) are called from here only; each store keeps its own SQL (actor binding,
//! bookkeeping).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use client_core::layout::Codes;
use client_core::protocol::{DocMessage, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use client_core::{CustomerId, DocId, Incoming, UserId};
use rusqlite::{params, OptionalExtension};

use super::sqlite::{now, PremergeCounts, SqliteStore};
use crate::access::reachable_users;
use crate::accounts::{is_actor_hex, Device, Member};
use crate::error::{Error, Result};
pub use crate::sync_plan::SYNC_BUDGET;
use crate::sync_plan::{self, Admission, Entitlement, Limits, Outcome, Plan};
use crate::verify::{self, Refusal, Writer};

/// The storage one sync request's plan runs against, inside the request's transaction: a
/// session with the device (the sync states of the documents touched so far) over the
/// store's documents. Errors: a client-core error (`Error::Core`) coded `corrupt`, `invalid`
/// or `document` is the message's (refused `corrupt`); any other error fails the request.
pub(crate) trait SyncSide {
    /// Receives one message into its document: on copies, `verify` sees what it would add;
    /// if accepted, the document, its index rows and the session state are stored.
    fn receive(
        &mut self,
        msg: &DocMessage,
        verify: &mut dyn FnMut(&Incoming<'_>) -> client_core::Result<()>,
    ) -> Result<()>;
    /// The next message for one document in the session (its sync state stored), if any.
    fn generate(&mut self, doc: &DocId) -> Result<Option<Vec<u8>>>;
    /// Forgets a document's session state (the device was refused it).
    fn forget(&mut self, doc: &DocId);
    /// The agent on a customer's card as committed (read in the request's transaction;
    /// `None` for a day or a customer without a readable card).
    fn committed_agent(&mut self, doc: &DocId) -> Result<Option<UserId>>;
    /// The documents of the users in `reach` (their customers, by the committed card, and
    /// their days) that the device is behind on, in document order, with each customer's
    /// committed agent.
    fn out_of_sync(&mut self, reach: &BTreeSet<UserId>) -> Result<Vec<(DocId, Option<UserId>)>>;
    /// Whether the request's `index`-th message was merged before the run, outside the
    /// store's lock (the SQLite store's premerges).
    fn has_premerged(&self, _index: usize) -> bool {
        false
    }
    /// The outcome of the `index`-th message's premerge, if it was merged on what is still
    /// committed and admitted the same way: an accepted merge is stored now (as `receive`
    /// would store it). `None`: receive the message the usual way.
    fn premerged(&mut self, _index: usize, _admission: Admission) -> Result<Option<Received>> {
        Ok(None)
    }
}

/// What receiving one message gave: its new changes (hash, actor), or why it was refused.
pub(crate) type Received = std::result::Result<Vec<(automerge::ChangeHash, String)>, Refusal>;

/// What the device may hold, for the documents the request concerns (`docs`: those it sends
/// messages for and those it held): the users its member reaches in `team`, and each
/// customer's committed agent looked up one by one (`agent_of`: `None` for a customer the
/// store does not know, `Some(None)` for one without an agent), not every customer read.
pub(crate) fn entitlement<'d>(
    member: &Member,
    team: &[Member],
    docs: impl IntoIterator<Item = &'d DocId>,
    mut agent_of: impl FnMut(&CustomerId) -> Result<Option<Option<String>>>,
) -> Result<Entitlement> {
    let reach = reachable_users(member, team);
    let (mut owned, mut known) = (HashSet::new(), HashSet::new());
    for doc in docs {
        let DocId::Customer(id) = doc else {
            continue;
        };
        if known.contains(id) {
            continue;
        }
        let Some(agent) = agent_of(id)? else {
            continue;
        };
        known.insert(*id);
        if agent.is_some_and(|a| reach.iter().any(|r| r.as_str() == a)) {
            owned.insert(*id);
        }
    }
    Ok(Entitlement {
        reach,
        owned,
        known,
    })
}

/// One request to run: the device, what it sent, the scope of its pushes, what it held.
pub(crate) struct Request<'r> {
    /// The device (its actor bound).
    pub device: &'r Device,
    /// What it sent.
    pub req: &'r SyncRequest,
    /// Push only this document (a desk), or every out-of-sync one.
    pub scope: Option<&'r DocId>,
    /// The playbook codes its records may use.
    pub codes: &'r Codes,
    /// The time budget of its messages.
    pub budget: Duration,
    /// The time already spent on its messages before the run (premerging them).
    pub spent: Duration,
}

impl<'r> Request<'r> {
    /// Who writes this request's messages, for `verify`: the device's member, its bound
    /// `actor` (lower-case hex) and the users it `reach`es.
    fn writer<'a>(&'a self, actor: &'a str, reach: &'a BTreeSet<UserId>) -> Writer<'a> {
        Writer {
            user: &self.device.member.user,
            role: self.device.member.role,
            actor,
            reachable: reach,
            codes: self.codes,
        }
    }
}

/// Plans and runs one request on a store's side: the plan from the entitlement and the
/// documents the device held, then [`run`].
pub(crate) fn plan_and_run(
    side: &mut impl SyncSide,
    r: &Request<'_>,
    ent: Entitlement,
    held: HashSet<DocId>,
) -> Result<Outcome> {
    let actor = r.req.actor.to_ascii_lowercase();
    let reach = ent.reach.clone();
    let writer = r.writer(&actor, &reach);
    let plan = Plan::new(
        r.device.member.user.clone(),
        ent,
        held,
        r.req.messages.iter().map(|m| m.doc.clone()),
        Limits::with_budget(r.budget),
    );
    run(side, r, &writer, plan)
}

/// Logs the refusals of a request that committed.
pub(crate) fn log_refusals(device: &Device, outcome: &Outcome) {
    for l in &outcome.logged {
        tracing::warn!(
            device = %device.id,
            user = %device.member.user,
            doc = %l.doc,
            code = l.refusal.code,
            reason = %l.refusal.message,
            "sync message refused"
        );
    }
}

/// Whether a sync message for `doc` carries changes, read by the bounded reader without
/// decoding it (one of the wrong shape is left to the usual path, which refuses it).
fn carries_changes(doc: &DocId, data: &[u8]) -> bool {
    client_core::wire::check_sync_message(doc, data).is_ok_and(|shape| shape.chunks > 0)
}

/// The SQLite batch as a [`SyncSide`]: client-core's store and its session.
struct SqliteSide<'c> {
    core: &'c mut client_core::Store,
    session: client_core::SyncSession,
    peer: String,
    /// The request's messages merged before it took the store's lock, by index.
    premerged: HashMap<usize, Premerged>,
    /// Where to count what became of them.
    counts: &'c PremergeCounts,
}

/// A message merged outside the store's lock (`SqliteStore::premerge`): how it was admitted,
/// what the checks said, and the merge to store if it is still current.
struct Premerged {
    admission: Admission,
    outcome: Received,
    premerge: client_core::premerge::Premerge,
}

impl SyncSide for SqliteSide<'_> {
    fn receive(
        &mut self,
        msg: &DocMessage,
        verify: &mut dyn FnMut(&Incoming<'_>) -> client_core::Result<()>,
    ) -> Result<()> {
        Ok(self.core.sync_receive(&mut self.session, msg, verify)?)
    }

    fn generate(&mut self, doc: &DocId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .core
            .sync_generate(&mut self.session, doc)?
            .map(|m| m.data))
    }

    fn forget(&mut self, doc: &DocId) {
        self.session.forget(doc);
    }

    fn committed_agent(&mut self, doc: &DocId) -> Result<Option<UserId>> {
        Ok(committed_agent(self.core, doc))
    }

    fn out_of_sync(&mut self, reach: &BTreeSet<UserId>) -> Result<Vec<(DocId, Option<UserId>)>> {
        let db = self
            .core
            .batch_connection()
            .ok_or_else(|| Error::Internal("a batch without its connection".into()))?;
        out_of_sync(db, &self.peer, reach)
    }

    fn has_premerged(&self, index: usize) -> bool {
        self.premerged.contains_key(&index)
    }

    fn premerged(&mut self, index: usize, admission: Admission) -> Result<Option<Received>> {
        let Some(p) = self.premerged.remove(&index) else {
            return Ok(None);
        };
        let used = if p.admission != admission {
            None
        } else {
            match p.outcome {
                Ok(changes) => match self.core.store_premerge(&mut self.session, p.premerge) {
                    Ok(stored) => stored.then_some(Ok(changes)),
                    // Storing failed the way the usual path's store can fail on a message
                    // (its projection): the message's refusal, not the request's failure.
                    Err(e) => Some(Err(refusal_of(Error::Core(e))?)),
                },
                Err(refusal) => self
                    .core
                    .premerge_is_current(&self.session, &p.premerge)?
                    .then_some(Err(refusal)),
            }
        };
        let counter = match used {
            Some(_) => &self.counts.used,
            None => &self.counts.stale,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(used)
    }
}

/// The agent on a customer's committed card (read from the index under the store's lock).
fn committed_agent(core: &client_core::Store, doc: &DocId) -> Option<UserId> {
    match doc {
        DocId::Customer(c) => core.customer(*c).ok().and_then(|c| c.agent),
        DocId::Day(..) => None,
    }
}

/// The documents the device may hold that it is behind on (their heads differ from the
/// shared heads of its sync state), with the agent on each customer's committed card: the
/// customers of the users it reaches and their days, by index, in document order — not every
/// document of the server.
fn out_of_sync(
    db: &rusqlite::Connection,
    peer: &str,
    reach: &BTreeSet<UserId>,
) -> Result<Vec<(DocId, Option<UserId>)>> {
    let reach = serde_json::to_string(&reach.iter().map(|u| u.as_str()).collect::<Vec<_>>())
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut stmt = db.prepare_cached(
        "SELECT d.doc, c.agent FROM json_each(?2) r
           JOIN customers c ON c.agent = r.value
           JOIN documents d ON d.doc = 'customer:' || c.id
           LEFT JOIN sync_states s ON s.doc = d.doc AND s.peer = ?1
          WHERE s.shared_heads IS NULL OR s.shared_heads != d.heads
         UNION ALL
         SELECT d.doc, NULL FROM json_each(?2) r
           JOIN documents d ON d.doc > 'day:' || r.value || ':'
                           AND d.doc < 'day:' || r.value || ';'
           LEFT JOIN sync_states s ON s.doc = d.doc AND s.peer = ?1
          WHERE s.shared_heads IS NULL OR s.shared_heads != d.heads
         ORDER BY 1",
    )?;
    let rows = stmt.query_map(params![peer, reach], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut out = vec![];
    for row in rows {
        let (doc, agent) = row?;
        out.push((doc.parse()?, agent.map(|a| a.parse()).transpose()?));
    }
    Ok(out)
}

/// The server's reply to one accepted message. Answering can fail for one document
/// (Automerge panicked on what the device said): that document is refused `corrupt` (and
/// forgotten by the session); other errors fail the request.
fn answer(
    side: &mut impl SyncSide,
    doc: &DocId,
) -> Result<std::result::Result<Option<Vec<u8>>, Refusal>> {
    match side.generate(doc) {
        Ok(reply) => Ok(Ok(reply)),
        Err(Error::Core(e)) if e.code() == "corrupt" => {
            side.forget(doc);
            Ok(Err(Refusal {
                code: "corrupt",
                message: e.to_string(),
            }))
        }
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    fn bind_actor(&self, device: &Device, actor: &str) -> Result<()> {
        if !is_actor_hex(actor) {
            return Err(Error::Malformed(format!("actor {actor:?} is not hex")));
        }
        let actor = actor.to_ascii_lowercase();
        if let Some(bound) = &device.actor {
            if *bound != actor {
                return Err(Error::ActorMismatch { given: actor });
            }
            return Ok(());
        }
        let db = self.db();
        // A phone reinstalled over its old home and enrolled with a new device keeps its actor
        // (and so its unsynced changes): the actor moves from a *revoked* device of the same
        // member — the admin revoked the old install and issued the new link — never from a
        // live device or another member's.
        let moved = db.execute(
            "UPDATE devices SET actor = NULL
             WHERE actor = ?1 AND id != ?2 AND revoked = 1 AND user = ?3",
            params![actor, device.id.to_string(), device.member.user.to_string()],
        )?;
        if moved > 0 {
            tracing::info!(device = %device.id, user = %device.member.user, %actor, "actor moves from a revoked device of the same member (re-enrolment)");
        }
        let taken: bool = db.query_row(
            "SELECT count(*) > 0 FROM devices WHERE actor = ?1 AND id != ?2",
            params![actor, device.id.to_string()],
            |r| r.get(0),
        )?;
        if taken {
            return Err(Error::ActorMismatch { given: actor });
        }
        db.execute(
            "UPDATE devices SET actor = ?2 WHERE id = ?1 AND actor IS NULL",
            params![device.id.to_string(), actor],
        )?;
        let bound: Option<String> = db.query_row(
            "SELECT actor FROM devices WHERE id = ?1",
            [device.id.to_string()],
            |r| r.get(0),
        )?;
        if bound.as_deref() != Some(actor.as_str()) {
            return Err(Error::ActorMismatch { given: actor });
        }
        tracing::info!(device = %device.id, user = %device.member.user, %actor, "device bound to its actor");
        Ok(())
    }

    /// What the device may hold, for the documents the request concerns (`docs`: those it
    /// sends messages for and those it held): an indexed lookup of each customer's committed
    /// owner, not a scan of every customer.
    fn entitlement<'d>(
        &self,
        device: &Device,
        docs: impl IntoIterator<Item = &'d DocId>,
    ) -> Result<Entitlement> {
        let team = self.team(&device.member.team)?;
        let db = self.db();
        let mut stmt = db.prepare_cached("SELECT agent FROM customers WHERE id = ?1")?;
        entitlement(&device.member, &team, docs, |id| {
            Ok(stmt.query_row([id.to_string()], |r| r.get(0)).optional()?)
        })
    }

    /// Merges the request's messages that carry changes on the committed copies of their
    /// documents, with the checks `run` would make (the same writer, the admission by rights
    /// the plan will give), on one of the store's readers — without the store's lock. Stops
    /// at the request's budget; a message it could not prepare is simply received later.
    fn premerge(
        &self,
        r: &Request<'_>,
        ent: &Entitlement,
        held: &HashSet<DocId>,
    ) -> Result<HashMap<usize, Premerged>> {
        let started = Instant::now();
        let actor = r.req.actor.to_ascii_lowercase();
        let writer = r.writer(&actor, &ent.reach);
        let peer = r.device.id.to_string();
        let mut out = HashMap::new();
        self.with_reader(|reader| {
            for (i, msg) in r.req.messages.iter().enumerate() {
                if i > 0 && started.elapsed() > r.budget {
                    break;
                }
                // A message with no changes (heads, a bloom filter) merges nothing: cheaper
                // under the lock, where the document is likely cached, than loaded here.
                if !carries_changes(&msg.doc, &msg.data) {
                    continue;
                }
                let admission = sync_plan::admission(ent, held, &msg.doc);
                if admission == Admission::Skip {
                    continue;
                }
                let mut premerge = None;
                let outcome = check_and_merge(&writer, admission, |verify| {
                    let (p, merged) = reader.premerge(&peer, msg, verify)?;
                    premerge = Some(p);
                    Ok(merged?)
                });
                if let (Ok(outcome), Some(premerge)) = (outcome, premerge) {
                    self.premerges
                        .prepared
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    out.insert(
                        i,
                        Premerged {
                            admission,
                            outcome,
                            premerge,
                        },
                    );
                }
            }
        })?;
        Ok(out)
    }

    /// Runs one sync request (the device is authenticated and not revoked).
    pub(super) fn sync_request(&self, device: &Device, req: &SyncRequest) -> Result<SyncResponse> {
        self.sync_request_within(device, req, None)
    }

    /// [`Self::sync_request`], pushing only `scope` when it is given: a manager's desk syncs
    /// the one document it writes to, not the whole team (`desk`). Messages the device sends
    /// are answered either way, and entitlement is checked the same way.
    pub(super) fn sync_request_within(
        &self,
        device: &Device,
        req: &SyncRequest,
        scope: Option<&DocId>,
    ) -> Result<SyncResponse> {
        if req.protocol != PROTOCOL_VERSION {
            return Err(Error::UnsupportedProtocol(req.protocol));
        }
        self.bind_actor(device, &req.actor)?;
        let peer = device.id.to_string();

        // Documents this device holds a sync state for (some it may no longer hold).
        let held: Vec<String> = {
            let db = self.db();
            let mut stmt = db.prepare_cached("SELECT doc FROM sync_states WHERE peer = ?1")?;
            let rows = stmt.query_map([&peer], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let held: HashSet<DocId> = held.iter().filter_map(|d| d.parse().ok()).collect();
        let ent = self.entitlement(device, req.messages.iter().map(|m| &m.doc).chain(&held))?;
        let codes = self.codes_of(&device.member.team)?;
        let mut request = Request {
            device,
            req,
            scope,
            codes: &codes,
            budget: self.sync_budget,
            spent: Duration::ZERO,
        };

        // The costly part of each message — decoding, merging, the checks — runs first,
        // outside the store's lock, on the committed copies (concurrent requests do theirs
        // at the same time); under the lock each premerge is stored if its document and sync
        // state are still as it read them, else the message is received there as before.
        let premerge_started = Instant::now();
        let premerged = self.premerge(&request, &ent, &held)?;
        request.spent = premerge_started.elapsed();

        // The whole request is one transaction (`Store::batch`): every document merged, its
        // sync state and index rows, the sync states of the replies and pushes, and the
        // bookkeeping (removals, change log, refusals, last sync) — one commit, one fsync,
        // before the response is sent; a failure anywhere rolls all of it back.
        let outcome = self.with_core(false, |core| {
            core.batch(|core| {
                let session = core.start_sync(&peer);
                let mut side = SqliteSide {
                    core: &mut *core,
                    session,
                    peer: peer.clone(),
                    premerged,
                    counts: &self.premerges,
                };
                let outcome = plan_and_run(&mut side, &request, ent, held)?;
                let at = now();
                let db = core
                    .batch_connection()
                    .ok_or_else(|| Error::Internal("a batch without its connection".into()))?;
                bookkeeping(db, device, &peer, &at, &outcome)?;
                Ok(outcome)
            })
        })?;
        log_refusals(device, &outcome);

        let pb = self.playbook_of(&device.member.team)?;
        let playbook = (req.playbook.as_deref() != Some(pb.hash.as_str())).then_some(pb);
        Ok(SyncResponse {
            protocol: PROTOCOL_VERSION,
            rejected: outcome.rejections(),
            messages: outcome.messages,
            removed: outcome.removed,
            more: outcome.more,
            playbook,
        })
    }
}

/// Runs the plan under the store's lock (in the request's transaction): receives what it
/// admits, answers what it names, pushes what it lets through.
fn run(
    side: &mut impl SyncSide,
    r: &Request<'_>,
    writer: &Writer<'_>,
    mut plan: Plan,
) -> Result<Outcome> {
    let (req, scope) = (r.req, r.scope);
    let reach = writer.reachable;
    let started = Instant::now();
    for (i, msg) in req.messages.iter().enumerate() {
        // The budget counts the work done on the messages: a premerged message's is done
        // (storing it is quick), another's is still to do, after what premerging spent.
        let elapsed = if side.has_premerged(i) {
            started.elapsed()
        } else {
            started.elapsed() + r.spent
        };
        let admission = plan.admit(i, msg, elapsed);
        if admission == Admission::Skip {
            continue;
        }
        let outcome = match side.premerged(i, admission)? {
            Some(outcome) => outcome,
            None => receive(side, msg, writer, admission)?,
        };
        plan.received(i, msg, admission, outcome);
    }
    for (i, hand_in) in plan.to_answer() {
        let msg = &req.messages[i];
        let reply = answer(side, &msg.doc)?;
        plan.answered(&msg.doc, hand_in, &msg.data, reply);
    }
    let candidates = match scope {
        Some(doc) => vec![(doc.clone(), side.committed_agent(doc)?)],
        None => side.out_of_sync(reach)?,
    };
    for (doc, agent) in candidates {
        // Pushed only when the committed copy entitles the device now: a customer another
        // device created (or reassigned) while this request waited for the store is judged
        // by its card as committed, read in this transaction.
        if !plan.may_push(&doc, agent.as_ref()) {
            continue;
        }
        if !plan.room_to_push(started.elapsed() + r.spent) {
            break;
        }
        if let Some(data) = side.generate(&doc)? {
            plan.pushed(DocMessage { doc, data });
        }
    }
    Ok(plan.finish())
}

/// The request's bookkeeping, in the batch's transaction: the removed documents' sync states
/// go, the changes received enter the change log, refusals are logged (the log counts
/// attempts of the same message), and the device's last sync is noted.
fn bookkeeping(
    db: &rusqlite::Connection,
    device: &Device,
    peer: &str,
    at: &str,
    outcome: &Outcome,
) -> Result<()> {
    for doc in &outcome.removed {
        db.prepare_cached("DELETE FROM sync_states WHERE peer = ?1 AND doc = ?2")?
            .execute(params![peer, doc.to_string()])?;
    }
    for (doc, changes) in &outcome.received {
        for (hash, _) in changes {
            db.prepare_cached(
                "INSERT INTO change_log (hash, doc, received_at, via) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (hash) DO NOTHING",
            )?
            .execute(params![hash.to_string(), doc.to_string(), at, peer])?;
        }
    }
    if !outcome.received.is_empty() {
        super::working_sets::prune_touches(db)?;
    }
    for l in &outcome.logged {
        db.prepare_cached(
            "INSERT INTO sync_rejections
                 (device, user, doc, code, message, data_hash, first_at, last_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT (device, doc, data_hash) DO UPDATE SET
                 attempts = attempts + 1, last_at = excluded.last_at",
        )?
        .execute(params![
            peer,
            device.member.user.as_str(),
            l.doc.to_string(),
            l.refusal.code,
            l.refusal.message,
            l.data_hash,
            at
        ])?;
    }
    db.prepare_cached("UPDATE devices SET last_seen = ?2, last_sync = ?2 WHERE id = ?1")?
        .execute(params![peer, at])?;
    Ok(())
}

/// Receives one admitted message through the session, verified against the device's rights
/// (and, unless it is handed in, against the committed owner: `check_holder`, not only the
/// entitlement computed before the request took the store's lock). A refusal is the
/// message's (`Err` inside); a storage failure is the request's.
fn receive(
    side: &mut impl SyncSide,
    msg: &DocMessage,
    writer: &Writer<'_>,
    admission: Admission,
) -> Result<Received> {
    check_and_merge(writer, admission, |verify| side.receive(msg, verify))
}

/// The verification of [`receive`] around a merge (`merge` calls its verify callback with
/// what the message would add): the outcome, or the request's failure.
fn check_and_merge(
    writer: &Writer<'_>,
    admission: Admission,
    merge: impl FnOnce(&mut dyn FnMut(&Incoming<'_>) -> client_core::Result<()>) -> Result<()>,
) -> Result<Received> {
    let hand_in = admission == Admission::HandIn;
    let mut refusal: Option<Refusal> = None;
    let mut new_changes = vec![];
    let outcome = merge(&mut |inc| {
        let checked = if hand_in {
            Ok(())
        } else {
            verify::check_holder(writer, inc)
        };
        match checked.and_then(|()| verify::check(writer, inc)) {
            Ok(()) => {
                new_changes = inc.new_changes.clone();
                Ok(())
            }
            Err(r) => {
                let m = r.message.clone();
                refusal = Some(r);
                Err(client_core::Error::Forbidden(m))
            }
        }
    });
    match outcome {
        Ok(()) => Ok(Ok(new_changes)),
        Err(e) => match refusal {
            Some(r) => Ok(Err(r)),
            None => refusal_of(e).map(Err),
        },
    }
}

/// A client-core error coded `corrupt`, `invalid` or `document` is the message's (refused
/// `corrupt`); any other error fails the request.
fn refusal_of(e: Error) -> Result<Refusal> {
    match e {
        Error::Core(e) if matches!(e.code(), "corrupt" | "invalid" | "document") => Ok(Refusal {
            code: "corrupt",
            message: e.to_string(),
        }),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};

    use client_core::model::{CustomerPatch, NewCustomer, NewVisit, Role};
    use client_core::protocol::{SyncRequest, PROTOCOL_VERSION};
    use client_core::{CustomerId, DocId, Identity, Options, Store, SyncSession};

    use crate::accounts::{Device, NewMember};
    use crate::store::{Accounts, Documents, SqliteStore};

    /// One exchange: the phone's next messages sent as one request, the replies received.
    /// Returns how many messages carried changes.
    fn exchange(
        store: &SqliteStore,
        device: &Device,
        phone: &mut Store,
        session: &mut SyncSession,
    ) -> usize {
        let messages = phone.sync_outgoing(session).unwrap();
        let with_changes = messages
            .iter()
            .filter(|m| super::carries_changes(&m.doc, &m.data))
            .count();
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            actor: phone.actor_hex(),
            playbook: None,
            messages,
        };
        let resp = store.sync(device, &req).unwrap();
        assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
        for m in &resp.messages {
            phone.sync_receive(session, m, &mut |_| Ok(())).unwrap();
        }
        with_changes
    }

    /// A sync request's messages are merged and checked while another holds the store's
    /// document lock (the premerge runs outside it); under the lock, those whose document
    /// did not change meanwhile are stored as merged, and one the server wrote meanwhile is
    /// received again on the current document: nothing lost either way.
    #[test]
    fn messages_are_merged_outside_the_document_lock_and_a_stale_one_again_inside() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server")).unwrap();
        let team = "north".parse().unwrap();
        store.create_team(&team).unwrap();
        let agent = "A-1".parse().unwrap();
        store
            .add_member(NewMember {
                user: "A-1".parse().unwrap(),
                name: "A-1".into(),
                role: Role::Agent,
                team,
                reports_to: None,
            })
            .unwrap();
        let issued = store.issue_device(&agent).unwrap();
        let device = store.authenticate(&issued.token).unwrap().unwrap();
        let mut phone = Store::create(
            dir.path().join("phone.db"),
            Identity {
                user: agent.clone(),
                role: Role::Agent,
            },
            Options::default(),
        )
        .unwrap();
        let customers: Vec<CustomerId> = (0..3)
            .map(|i| {
                phone
                    .add_customer(NewCustomer {
                        name: format!("Customer {i}"),
                        agent: Some(agent.clone()),
                        ..Default::default()
                    })
                    .unwrap()
                    .id
            })
            .collect();
        let mut session = phone.start_sync("server");
        for _ in 0..4 {
            exchange(&store, &device, &mut phone, &mut session);
        }
        // A visit on each customer; the first round only compares heads.
        let end = phone.now() - chrono::Duration::minutes(5);
        for c in &customers {
            phone
                .record_visit(
                    *c,
                    NewVisit {
                        kind: "sales".into(),
                        purposes: vec!["needs_discovery".into()],
                        outcome: None,
                        policies: vec![],
                        start: end - chrono::Duration::minutes(30),
                        end,
                        location: None,
                        notes: String::new(),
                    },
                )
                .unwrap();
        }
        let mut session = phone.start_sync("server");
        assert_eq!(exchange(&store, &device, &mut phone, &mut session), 0);
        let messages = phone.sync_outgoing(&mut session).unwrap();
        assert_eq!(messages.len(), 3);
        assert!(messages
            .iter()
            .all(|m| super::carries_changes(&m.doc, &m.data)));
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            actor: phone.actor_hex(),
            playbook: None,
            messages,
        };
        let (prepared, used, stale) = store.premerge_counts();
        let resp = std::thread::scope(|t| {
            let mut running = None;
            store
                .with_core(false, |core| {
                    running = Some(t.spawn(|| store.sync(&device, &req)));
                    // The request premerges its three messages while this thread holds the
                    // lock it needs to store them.
                    let waited = Instant::now();
                    while store.premerges.prepared.load(Relaxed) < prepared + 3 {
                        assert!(
                            waited.elapsed() < Duration::from_secs(20),
                            "the messages were not premerged outside the lock"
                        );
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    // Meanwhile the server writes the first customer.
                    core.edit_customer(
                        customers[0],
                        CustomerPatch {
                            grade: Some(Some("A".into())),
                            ..Default::default()
                        },
                    )?;
                    Ok(())
                })
                .unwrap();
            running.unwrap().join().unwrap().unwrap()
        });
        assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
        assert_eq!(
            store.premerge_counts(),
            (prepared + 3, used + 2, stale + 1),
            "two stored as premerged, the rewritten one received again"
        );
        store
            .with_core(false, |core| {
                for c in &customers {
                    assert_eq!(core.visits_of(*c)?.len(), 1, "{c}: its visit is stored");
                }
                assert_eq!(core.customer(customers[0])?.grade.as_deref(), Some("A"));
                assert_eq!(
                    core.heads(&DocId::Customer(customers[1]))?,
                    phone.heads(&DocId::Customer(customers[1]))?,
                );
                Ok(())
            })
            .unwrap();
    }

    /// Every sync request's writes are on disk before its answer returns, synced outside the
    /// document lock (`group_commit`): each writing request either ran an fsync of the WAL or
    /// was covered by another's, with several phones uploading at once.
    #[test]
    fn every_answer_waits_for_its_writes_on_disk_with_fsyncs_shared_outside_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server")).unwrap();
        assert!(
            store.group.is_some(),
            "a new database is in WAL mode: commits are grouped"
        );
        let team: crate::accounts::TeamId = "north".parse().unwrap();
        store.create_team(&team).unwrap();
        let phones: Vec<(Device, Store)> = (0..3)
            .map(|i| {
                let agent: client_core::UserId = format!("A-{i}").parse().unwrap();
                store
                    .add_member(NewMember {
                        user: agent.clone(),
                        name: agent.to_string(),
                        role: Role::Agent,
                        team: team.clone(),
                        reports_to: None,
                    })
                    .unwrap();
                let issued = store.issue_device(&agent).unwrap();
                let device = store.authenticate(&issued.token).unwrap().unwrap();
                let mut phone = Store::create(
                    dir.path().join(format!("phone-{i}.db")),
                    Identity {
                        user: agent.clone(),
                        role: Role::Agent,
                    },
                    Options::default(),
                )
                .unwrap();
                for c in 0..20 {
                    phone
                        .add_customer(NewCustomer {
                            name: format!("Customer {i}-{c}"),
                            agent: Some(agent.clone()),
                            ..Default::default()
                        })
                        .unwrap();
                }
                (device, phone)
            })
            .collect();
        let group = store.group.as_ref().unwrap();
        std::thread::scope(|t| {
            for (device, mut phone) in phones {
                let store = &store;
                t.spawn(move || {
                    let mut session = phone.start_sync("server");
                    for _ in 0..4 {
                        exchange(store, &device, &mut phone, &mut session);
                    }
                    assert!(phone.out_of_sync("server").unwrap().is_empty());
                });
            }
        });
        let c = store.group_commit_counts().unwrap();
        assert!(
            c.writes >= 6,
            "two uploading requests per phone at least: {c:?}"
        );
        assert!(c.fsyncs >= 1);
        assert_eq!(
            c.fsyncs + c.covered,
            c.writes,
            "each synced by its own fsync or another's"
        );
        assert_eq!(
            group.unsynced(),
            0,
            "nothing answered before it was on disk"
        );
        store
            .with_core(false, |core| {
                assert_eq!(core.customers()?.len(), 60);
                Ok(())
            })
            .unwrap();
    }
}
