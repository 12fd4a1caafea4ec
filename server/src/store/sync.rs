//! One sync request of one device, on the embedded store: the **apply** side of the sync
//! pipeline, which runs a [`crate::sync_plan::Plan`] against SQLite and client-core.
//!
//! The order matters: the device's actor is bound (or checked) first; the entitlement and the
//! documents the device held are read; then, under the store's lock, every message the plan
//! admits is merged through client-core's session after `verify` accepted its effect; the
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

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use client_core::layout::Codes;
use client_core::protocol::{DocMessage, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use client_core::{CustomerId, DocId, Incoming, UserId};
use rusqlite::{params, OptionalExtension};

use super::sqlite::{now, SqliteStore};
use crate::access::reachable_users;
use crate::accounts::{is_actor_hex, Device, Member};
use crate::error::{Error, Result};
pub use crate::sync_plan::SYNC_BUDGET;
use crate::sync_plan::{Admission, Entitlement, Limits, Outcome, Plan};
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
}

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
    pub budget: std::time::Duration,
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
    let writer = Writer {
        user: &r.device.member.user,
        role: r.device.member.role,
        actor: &actor,
        reachable: &reach,
        codes: r.codes,
    };
    let plan = Plan::new(
        r.device.member.user.clone(),
        ent,
        held,
        r.req.messages.iter().map(|m| m.doc.clone()),
        Limits::with_budget(r.budget),
    );
    run(side, r.req, r.scope, &writer, plan)
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

/// The SQLite batch as a [`SyncSide`]: client-core's store and its session.
struct SqliteSide<'c> {
    core: &'c mut client_core::Store,
    session: client_core::SyncSession,
    peer: String,
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
        let request = Request {
            device,
            req,
            scope,
            codes: &codes,
            budget: self.sync_budget,
        };

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
    req: &SyncRequest,
    scope: Option<&DocId>,
    writer: &Writer<'_>,
    mut plan: Plan,
) -> Result<Outcome> {
    let reach = writer.reachable;
    let started = Instant::now();
    for (i, msg) in req.messages.iter().enumerate() {
        let admission = plan.admit(i, msg, started.elapsed());
        if admission == Admission::Skip {
            continue;
        }
        let outcome = receive(side, msg, writer, admission)?;
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
        if !plan.room_to_push(started.elapsed()) {
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
) -> Result<std::result::Result<Vec<(automerge::ChangeHash, String)>, Refusal>> {
    let hand_in = admission == Admission::HandIn;
    let mut refusal: Option<Refusal> = None;
    let mut new_changes = vec![];
    let outcome = side.receive(msg, &mut |inc| {
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
        Err(e) => match (refusal, e) {
            (Some(r), _) => Ok(Err(r)),
            (None, Error::Core(e)) if matches!(e.code(), "corrupt" | "invalid" | "document") => {
                Ok(Err(Refusal {
                    code: "corrupt",
                    message: e.to_string(),
                }))
            }
            (None, e) => Err(e),
        },
    }
}
