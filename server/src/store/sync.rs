//! One sync request of one device, on the embedded store: entitlement, verified receive,
//! replies, pushes, removals, and the logs — the server half of `docs/protocol.md`.
//!
//! The order matters: the device's actor is bound (or checked) first; then every message is
//! checked against what the device may hold and what it may write (`access`, `verify`) and
//! merged through client-core's session (document, index and sync state in one SQLite
//! transaction per document); then the server answers each accepted document and pushes the
//! entitled documents the device is behind on, up to a cap (`more`). A document the device
//! held but may no longer hold (its customer was reassigned) is not dropped while the device
//! still has changes for it: work recorded offline before the device heard of the
//! reassignment is *handed in* — received and verified like any other, answered without the
//! server's own changes — and the document is listed in `removed` once the server has all of
//! it. A refused message changes
//! nothing and does not stop the others. Everything here is idempotent: a retried request
//! merges nothing twice (Automerge), logs no second rejection (the log counts attempts), and
//! records no change twice.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use automerge::sync::{ChunkList, Message};
use automerge::ChangeHash;
use client_core::protocol::{
    DocMessage, Rejection, SyncRequest, SyncResponse, PROTOCOL_VERSION, RETRY_LATER,
};
use client_core::{CustomerId, DocId};
use rusqlite::params;

use super::sqlite::{now, sha256_hex, SqliteStore};
use crate::access::reachable_users;
use crate::accounts::{is_actor_hex, Device};
use crate::error::{Error, Result};
use crate::verify::{self, Refusal, Writer};

/// At most this many messages in one response; the rest waits for the next request (`more`).
pub const MAX_MESSAGES_OUT: usize = 400;
/// At most this many bytes of sync messages in one response (before base64 and gzip).
pub const MAX_BYTES_OUT: usize = 8 << 20;

/// How long one request may work on its messages while holding the document store (every
/// other device's sync waits for it). Once spent, the remaining messages are answered
/// `retry_later` with `more`, and the device sends them again in its next round, and the
/// server pushes nothing more (`more`); at least one message is received and one pushed per
/// request, so a run always progresses.
pub const SYNC_BUDGET: Duration = Duration::from_secs(3);

/// What the device may hold, computed once per request.
struct Entitlement {
    reach: BTreeSet<client_core::UserId>,
    /// Customers assigned to someone the device reaches.
    owned: HashSet<CustomerId>,
    /// Every customer with a card on the server.
    known: HashSet<CustomerId>,
}

impl Entitlement {
    fn allows(&self, doc: &DocId) -> bool {
        match doc {
            // A customer the server has no card for is one the device is creating: verify
            // checks whose it becomes.
            DocId::Customer(c) => self.owned.contains(c) || !self.known.contains(c),
            DocId::Day(agent, _) => self.reach.contains(agent),
        }
    }

    /// Whether the device may be sent the document: a customer whose committed card names
    /// an owner it reaches (a customer with no readable owner is sent to nobody), or a day
    /// of someone it reaches.
    fn holds(&self, doc: &DocId) -> bool {
        match doc {
            DocId::Customer(c) => self.owned.contains(c),
            DocId::Day(agent, _) => self.reach.contains(agent),
        }
    }

    fn exists(&self, doc: &DocId) -> bool {
        match doc {
            DocId::Customer(c) => self.known.contains(c),
            DocId::Day(..) => true,
        }
    }
}

/// [`Entitlement::holds`] re-read from the committed index, under the store's lock.
fn holds_now(core: &client_core::Store, ent: &Entitlement, doc: &DocId) -> bool {
    match doc {
        DocId::Customer(c) => core
            .customer(*c)
            .ok()
            .and_then(|c| c.agent)
            .is_some_and(|a| ent.reach.contains(&a)),
        DocId::Day(agent, _) => ent.reach.contains(agent),
    }
}

fn sorted(mut h: Vec<ChangeHash>) -> Vec<ChangeHash> {
    h.sort();
    h
}

/// Whether a reply tells the device nothing it does not know: the device brought no changes
/// (a message that did must be acknowledged, or the device's sync state never learns that the
/// server has them), it already knows these heads are shared (its `have` says so), both sides
/// are at the same heads and nobody needs anything. Skipping such a reply saves the device a
/// round trip.
fn redundant(incoming: &[u8], reply: &[u8]) -> bool {
    let (Ok(i), Ok(r)) = (Message::decode(incoming), Message::decode(reply)) else {
        return false;
    };
    let heads = sorted(i.heads.clone());
    i.changes.is_empty()
        && !i.have.is_empty()
        && i.have.iter().all(|h| sorted(h.last_sync.clone()) == heads)
        && i.need.is_empty()
        && r.need.is_empty()
        && r.changes.is_empty()
        && sorted(r.heads) == heads
}

/// Whether the server's reply shows that it has every change of the device's document (it
/// needs nothing): the device's work on a document it may no longer hold is handed in, and
/// the device may drop the document.
fn hand_in_complete(reply: &[u8]) -> bool {
    Message::decode(reply).is_ok_and(|r| r.need.is_empty())
}

/// The reply to a device handing in work on a document it may no longer hold: the server's
/// heads, needs and summary (so the device sends what the server lacks), never the server's
/// changes (the document is someone else's now).
fn without_changes(reply: &[u8]) -> Vec<u8> {
    match Message::decode(reply) {
        Ok(mut m) => {
            m.changes = ChunkList::empty();
            m.encode()
        }
        Err(_) => reply.to_vec(),
    }
}

/// The server's reply to one accepted message. Answering can fail for one document
/// (Automerge panicked on what the device said): that document is refused `corrupt` and the
/// others are still answered.
fn answer(
    core: &mut client_core::Store,
    session: &mut client_core::SyncSession,
    msg: &DocMessage,
    logged: &mut Vec<Logged>,
) -> Result<Option<DocMessage>> {
    match core.sync_generate(session, &msg.doc) {
        Ok(reply) => Ok(reply),
        Err(e) if e.code() == "corrupt" => {
            session.forget(&msg.doc);
            logged.push(Logged {
                doc: msg.doc.clone(),
                refusal: Refusal {
                    code: "corrupt",
                    message: e.to_string(),
                },
                data_hash: sha256_hex(&msg.data),
            });
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

struct Logged {
    doc: DocId,
    refusal: Refusal,
    data_hash: String,
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

    fn entitlement(&self, device: &Device) -> Result<Entitlement> {
        let team = self.team(&device.member.team)?;
        let reach = reachable_users(&device.member, &team);
        let db = self.db();
        let mut stmt = db.prepare_cached("SELECT id, agent FROM customers")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let (mut owned, mut known) = (HashSet::new(), HashSet::new());
        for row in rows {
            let (id, agent) = row?;
            let Ok(id) = id.parse::<CustomerId>() else {
                continue;
            };
            known.insert(id);
            if agent.is_some_and(|a| reach.iter().any(|r| r.as_str() == a)) {
                owned.insert(id);
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
        let ent = self.entitlement(device)?;
        let peer = device.id.to_string();

        // Documents this device holds a sync state for but may no longer hold.
        let held: Vec<String> = {
            let db = self.db();
            let mut stmt = db.prepare_cached("SELECT doc FROM sync_states WHERE peer = ?1")?;
            let rows = stmt.query_map([&peer], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let held: HashSet<DocId> = held.iter().filter_map(|d| d.parse().ok()).collect();
        let in_request: HashSet<&DocId> = req.messages.iter().map(|m| &m.doc).collect();
        // A document the device may no longer hold and says nothing about goes at once; one it
        // sends a message for may carry work done offline before the reassignment, which is
        // handed in first (below).
        let mut removed: Vec<DocId> = held
            .iter()
            .filter(|d| !ent.allows(d) && !in_request.contains(d))
            .cloned()
            .collect();
        removed.sort();

        let codes = self.codes_of(&device.member.team)?;
        let writer = Writer {
            user: &device.member.user,
            role: device.member.role,
            actor: &actor,
            reachable: &ent.reach,
            codes: &codes,
        };
        let mut logged: Vec<Logged> = vec![];
        let mut received: Vec<(DocId, Vec<(ChangeHash, String)>)> = vec![];
        let mut messages: Vec<DocMessage> = vec![];
        let mut more = false;
        let mut deferred: Vec<DocId> = vec![];

        self.with_core(false, |core| {
            let mut session = core.start_sync(&peer);
            let mut accepted: Vec<&DocMessage> = vec![];
            let mut handed_in: Vec<&DocMessage> = vec![];
            let started = Instant::now();
            for (i, msg) in req.messages.iter().enumerate() {
                if i > 0 && started.elapsed() > self.sync_budget {
                    deferred.push(msg.doc.clone());
                    more = true;
                    continue;
                }
                let data_hash = sha256_hex(&msg.data);
                let hand_in = !ent.allows(&msg.doc) && held.contains(&msg.doc);
                if !ent.allows(&msg.doc) && !hand_in {
                    if ent.exists(&msg.doc) && !removed.contains(&msg.doc) {
                        removed.push(msg.doc.clone());
                    }
                    logged.push(Logged {
                        doc: msg.doc.clone(),
                        refusal: Refusal {
                            code: "forbidden",
                            message: format!("{} may not hold {}", device.member.user, msg.doc),
                        },
                        data_hash,
                    });
                    continue;
                }
                let mut refusal: Option<Refusal> = None;
                let mut new_changes = vec![];
                // Authorised against the server's committed copy (`check_holder`), not only
                // against the entitlement computed before the request took the store's lock.
                let outcome = core.sync_receive(&mut session, msg, &mut |inc| match (if hand_in {
                    Ok(())
                } else {
                    verify::check_holder(&writer, inc)
                })
                .and_then(|()| verify::check(&writer, inc))
                {
                    Ok(()) => {
                        new_changes = inc.new_changes.clone();
                        Ok(())
                    }
                    Err(r) => {
                        let m = r.message.clone();
                        refusal = Some(r);
                        Err(client_core::Error::Forbidden(m))
                    }
                });
                match outcome {
                    Ok(()) => {
                        if hand_in {
                            handed_in.push(msg);
                        } else {
                            accepted.push(msg);
                        }
                        received.push((msg.doc.clone(), new_changes));
                    }
                    Err(e) => {
                        if hand_in && !removed.contains(&msg.doc) {
                            removed.push(msg.doc.clone());
                        }
                        let refusal = match (refusal, e.code()) {
                            (Some(r), _) => r,
                            (None, "corrupt" | "invalid" | "document") => Refusal {
                                code: "corrupt",
                                message: e.to_string(),
                            },
                            (None, _) => return Err(e.into()),
                        };
                        logged.push(Logged {
                            doc: msg.doc.clone(),
                            refusal,
                            data_hash,
                        });
                    }
                }
            }
            let mut bytes = 0usize;
            let mut answered: HashSet<&DocId> = HashSet::new();
            for msg in accepted {
                if !answered.insert(&msg.doc) {
                    continue;
                }
                if let Some(reply) = answer(core, &mut session, msg, &mut logged)? {
                    if !redundant(&msg.data, &reply.data) {
                        bytes += reply.data.len();
                        messages.push(reply);
                    }
                }
            }
            for msg in handed_in {
                if !answered.insert(&msg.doc) {
                    continue;
                }
                let refused = logged.len();
                match answer(core, &mut session, msg, &mut logged)? {
                    _ if logged.len() > refused => {}
                    Some(reply) if !hand_in_complete(&reply.data) => {
                        let data = without_changes(&reply.data);
                        bytes += data.len();
                        messages.push(DocMessage {
                            doc: reply.doc,
                            data,
                        });
                    }
                    _ => removed.push(msg.doc.clone()),
                }
            }
            let candidates = match scope {
                Some(doc) => vec![doc.clone()],
                None => core.out_of_sync(&peer)?,
            };
            let mut pushed = 0;
            for doc in candidates {
                // Pushed only when the committed copy entitles the device now: a customer
                // another device created (or reassigned) while this request waited for the
                // store is not sent on the strength of the entitlement computed before it.
                if in_request.contains(&doc) || !ent.holds(&doc) || !holds_now(core, &ent, &doc) {
                    continue;
                }
                // The time budget covers pushes too; at least one goes out per request.
                let late = pushed > 0 && started.elapsed() > self.sync_budget;
                if late || messages.len() >= MAX_MESSAGES_OUT || bytes >= MAX_BYTES_OUT {
                    more = true;
                    break;
                }
                if let Some(m) = core.sync_generate(&mut session, &doc)? {
                    bytes += m.data.len();
                    messages.push(m);
                    pushed += 1;
                }
            }
            Ok(())
        })?;

        let at = now();
        // The request's bookkeeping (removals, the change log, refusals, the device's last
        // sync) is one transaction: one commit, one fsync, instead of one per row — with
        // `synchronous = FULL` that was about one fsync per change received. The documents
        // themselves were committed above, each before its answer was prepared.
        let mut guard = self.db();
        let db = guard.transaction()?;
        for doc in &removed {
            db.prepare_cached("DELETE FROM sync_states WHERE peer = ?1 AND doc = ?2")?
                .execute(params![peer, doc.to_string()])?;
        }
        for (doc, changes) in &received {
            for (hash, _) in changes {
                db.prepare_cached(
                    "INSERT INTO change_log (hash, doc, received_at, via) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (hash) DO NOTHING",
                )?
                .execute(params![hash.to_string(), doc.to_string(), at, peer])?;
            }
        }
        if !received.is_empty() {
            super::working_sets::prune_touches(&db)?;
        }
        for l in &logged {
            tracing::warn!(
                device = %device.id,
                user = %device.member.user,
                doc = %l.doc,
                code = l.refusal.code,
                reason = %l.refusal.message,
                "sync message refused"
            );
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
        db.commit()?;
        drop(guard);

        let pb = self.playbook_of(&device.member.team)?;
        let playbook = (req.playbook.as_deref() != Some(pb.hash.as_str())).then_some(pb);
        Ok(SyncResponse {
            protocol: PROTOCOL_VERSION,
            messages,
            rejected: logged
                .into_iter()
                .map(|l| Rejection {
                    doc: l.doc,
                    code: l.refusal.code.to_string(),
                    message: l.refusal.message,
                })
                .chain(deferred.into_iter().map(|doc| Rejection {
                    doc,
                    code: RETRY_LATER.to_string(),
                    message: "this request used up its time on the server: send it again".into(),
                }))
                .collect(),
            removed,
            more,
            playbook,
        })
    }
}
