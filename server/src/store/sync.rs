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

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use client_core::protocol::{DocMessage, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use client_core::{DocId, UserId};
use rusqlite::{params, OptionalExtension};

use super::sqlite::{now, SqliteStore};
use crate::access::reachable_users;
use crate::accounts::{is_actor_hex, Device};
use crate::error::{Error, Result};
pub use crate::sync_plan::SYNC_BUDGET;
use crate::sync_plan::{Admission, Entitlement, Limits, Outcome, Plan};
use crate::verify::{self, Refusal, Writer};

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
    core: &mut client_core::Store,
    session: &mut client_core::SyncSession,
    doc: &DocId,
) -> Result<std::result::Result<Option<Vec<u8>>, Refusal>> {
    match core.sync_generate(session, doc) {
        Ok(reply) => Ok(Ok(reply.map(|m| m.data))),
        Err(e) if e.code() == "corrupt" => {
            session.forget(doc);
            Ok(Err(Refusal {
                code: "corrupt",
                message: e.to_string(),
            }))
        }
        Err(e) => Err(e.into()),
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
        let reach = reachable_users(&device.member, &team);
        let db = self.db();
        let mut stmt = db.prepare_cached("SELECT agent FROM customers WHERE id = ?1")?;
        let (mut owned, mut known) = (HashSet::new(), HashSet::new());
        for doc in docs {
            let DocId::Customer(id) = doc else {
                continue;
            };
            if known.contains(id) {
                continue;
            }
            let agent: Option<Option<String>> =
                stmt.query_row([id.to_string()], |r| r.get(0)).optional()?;
            let Some(agent) = agent else {
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
        let actor = req.actor.to_ascii_lowercase();
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
        let reach = ent.reach.clone();
        let writer = Writer {
            user: &device.member.user,
            role: device.member.role,
            actor: &actor,
            reachable: &reach,
            codes: &codes,
        };
        let plan = Plan::new(
            device.member.user.clone(),
            ent,
            held,
            req.messages.iter().map(|m| m.doc.clone()),
            Limits::with_budget(self.sync_budget),
        );

        // The whole request is one transaction (`Store::batch`): every document merged, its
        // sync state and index rows, the sync states of the replies and pushes, and the
        // bookkeeping (removals, change log, refusals, last sync) — one commit, one fsync,
        // before the response is sent; a failure anywhere rolls all of it back.
        let outcome = self.with_core(false, |core| {
            core.batch(|core| {
                let outcome = run(core, &peer, req, scope, &writer, plan)?;
                let at = now();
                let db = core
                    .batch_connection()
                    .ok_or_else(|| Error::Internal("a batch without its connection".into()))?;
                bookkeeping(db, device, &peer, &at, &outcome)?;
                Ok(outcome)
            })
        })?;
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

/// Runs the plan under the store's lock: receives what it admits, answers what it names,
/// pushes what it lets through.
fn run(
    core: &mut client_core::Store,
    peer: &str,
    req: &SyncRequest,
    scope: Option<&DocId>,
    writer: &Writer<'_>,
    mut plan: Plan,
) -> Result<Outcome> {
    let reach = writer.reachable;
    let mut session = core.start_sync(peer);
    let started = Instant::now();
    for (i, msg) in req.messages.iter().enumerate() {
        let admission = plan.admit(i, msg, started.elapsed());
        if admission == Admission::Skip {
            continue;
        }
        let outcome = receive(core, &mut session, msg, writer, admission)?;
        plan.received(i, msg, admission, outcome);
    }
    for (i, hand_in) in plan.to_answer() {
        let msg = &req.messages[i];
        let reply = answer(core, &mut session, &msg.doc)?;
        plan.answered(&msg.doc, hand_in, &msg.data, reply);
    }
    let candidates = match scope {
        Some(doc) => vec![(doc.clone(), committed_agent(core, doc))],
        None => {
            let db = core
                .batch_connection()
                .ok_or_else(|| Error::Internal("a batch without its connection".into()))?;
            out_of_sync(db, peer, reach)?
        }
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
        if let Some(m) = core.sync_generate(&mut session, &doc)? {
            plan.pushed(m);
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
    core: &mut client_core::Store,
    session: &mut client_core::SyncSession,
    msg: &DocMessage,
    writer: &Writer<'_>,
    admission: Admission,
) -> Result<std::result::Result<Vec<(automerge::ChangeHash, String)>, Refusal>> {
    let hand_in = admission == Admission::HandIn;
    let mut refusal: Option<Refusal> = None;
    let mut new_changes = vec![];
    let outcome = core.sync_receive(session, msg, &mut |inc| {
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
        Err(e) => match (refusal, e.code()) {
            (Some(r), _) => Ok(Err(r)),
            (None, "corrupt" | "invalid" | "document") => Ok(Err(Refusal {
                code: "corrupt",
                message: e.to_string(),
            })),
            (None, _) => Err(e.into()),
        },
    }
}
