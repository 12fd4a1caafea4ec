//! One sync request of one device on PostgreSQL: the storage side of the shared driver
//! (`store::sync::plan_and_run`), so that the rules — `verify`, `access`, the sync plan — run
//! from one place for both stores and nothing here decides who may write or hold what.
//!
//! The whole request is one `PgDatabase::write` transaction, built entirely inside it (a
//! deadlock re-runs it from the start): the device's actor bound (`devices.actor` is UNIQUE,
//! so two instances binding the same actor to two devices cannot both succeed), the documents
//! of the request locked in sorted order, the team and the committed cards read, every
//! admitted message merged under its document's row lock through client-core's
//! `receive::receive_sync_message` (the phone's own code), the replies and pushes generated
//! with `receive::generate_sync_message` from the committed copies, and the bookkeeping
//! (removed documents' sync states, the change log, `sync_rejections` counting attempts, the
//! device's last sync) — one commit.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::{sync, AutoCommit};
use client_core::model::Role;
use client_core::protocol::DocMessage;
use client_core::receive::{generate_sync_message, receive_sync_message};
use client_core::{DocId, Incoming, UserId};
use postgres::error::SqlState;

use super::DocumentTx;
use crate::accounts::{is_actor_hex, Device, Member, TeamId};
use crate::error::{Error, Result};
use crate::store::sync::{entitlement, plan_and_run, Request, SyncSide};
use crate::sync_plan::Outcome;

/// A request's session with one device over the transaction's documents.
struct PgSide<'t, 'a> {
    tx: &'t mut DocumentTx<'a>,
    peer: String,
    /// The session states of the documents touched so far.
    states: HashMap<DocId, sync::State>,
    /// The device's sync states as stored (read once at the start of the request, kept up to
    /// date as this request saves them; only their shared heads outlive a session, whichever
    /// instance served it).
    stored: HashMap<DocId, sync::State>,
    /// The documents merged in this request, as stored now (answered without loading again).
    merged: HashMap<DocId, AutoCommit>,
}

impl PgSide<'_, '_> {
    fn state(&mut self, doc: &DocId) -> sync::State {
        let st = self
            .states
            .entry(doc.clone())
            .or_insert_with(|| self.stored.get(doc).cloned().unwrap_or_default());
        st.clone()
    }

    fn save_state(&mut self, doc: &DocId, state: sync::State) -> Result<()> {
        self.tx.save_sync_state(doc, &self.peer, &state)?;
        self.stored.insert(doc.clone(), state.clone());
        self.states.insert(doc.clone(), state);
        Ok(())
    }
}

impl SyncSide for PgSide<'_, '_> {
    fn receive(
        &mut self,
        msg: &DocMessage,
        verify: &mut dyn FnMut(&Incoming<'_>) -> client_core::Result<()>,
    ) -> Result<()> {
        // Bytes that are no sync message lock and load nothing.
        client_core::wire::check_sync_message(&msg.doc, &msg.data)?;
        let state = self.state(&msg.doc);
        let merged = self.tx.merge(&msg.doc, |d| {
            Ok(
                match receive_sync_message(&msg.doc, d, &state, &msg.data, verify) {
                    Ok(r) => {
                        *d = r.after;
                        Ok(r.state)
                    }
                    // Refused: the document is left as loaded, so nothing is stored.
                    Err(e) => Err(e),
                },
            )
        })?;
        let state = merged.value?;
        self.save_state(&msg.doc, state)?;
        self.merged.insert(msg.doc.clone(), merged.doc);
        Ok(())
    }

    fn generate(&mut self, doc: &DocId) -> Result<Option<Vec<u8>>> {
        let mut state = self.state(doc);
        let data = match self.merged.get_mut(doc) {
            Some(d) => generate_sync_message(doc, d, &mut state)?,
            None => {
                // Not merged here: the committed copy (an empty one asks for everything).
                let mut d = self
                    .tx
                    .load(doc)?
                    .map(|s| s.doc)
                    .unwrap_or_else(AutoCommit::new);
                generate_sync_message(doc, &mut d, &mut state)?
            }
        };
        self.save_state(doc, state)?;
        Ok(data)
    }

    fn forget(&mut self, doc: &DocId) {
        self.states.remove(doc);
    }

    fn committed_agent(&mut self, doc: &DocId) -> Result<Option<UserId>> {
        let DocId::Customer(id) = doc else {
            return Ok(None);
        };
        Ok(agent_of(self.tx, &id.to_string())?
            .flatten()
            .and_then(|a| a.parse().ok()))
    }

    fn out_of_sync(&mut self, reach: &BTreeSet<UserId>) -> Result<Vec<(DocId, Option<UserId>)>> {
        let reach: Vec<String> = reach.iter().map(|u| u.to_string()).collect();
        let rows = self.tx.query(
            "SELECT doc, agent FROM (
                 SELECT d.doc, c.agent FROM customers c
                   JOIN documents d ON d.doc = 'customer:' || c.id
                   LEFT JOIN sync_states s ON s.doc = d.doc AND s.peer = $1
                  WHERE c.agent = ANY($2) AND d.chunks > 0
                    AND (s.shared_heads IS NULL OR s.shared_heads <> d.heads)
                 UNION ALL
                 SELECT d.doc, NULL FROM unnest($2::text[]) AS r(u)
                   JOIN documents d ON starts_with(d.doc, 'day:' || r.u || ':')
                   LEFT JOIN sync_states s ON s.doc = d.doc AND s.peer = $1
                  WHERE d.chunks > 0
                    AND (s.shared_heads IS NULL OR s.shared_heads <> d.heads)
             ) AS candidates ORDER BY doc COLLATE \"C\"",
            &[&self.peer, &reach],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let doc: String = row.get(0);
            let agent: Option<String> = row.get(1);
            out.push((doc.parse()?, agent.and_then(|a| a.parse().ok())));
        }
        Ok(out)
    }
}

/// The agent on a customer's card as committed: `None` for a customer the index does not
/// hold, `Some(None)` for one without an agent.
fn agent_of(tx: &mut DocumentTx<'_>, customer: &str) -> Result<Option<Option<String>>> {
    let rows = tx.query("SELECT agent FROM customers WHERE id = $1", &[&customer])?;
    Ok(rows.first().map(|r| r.get(0)))
}

/// The device's id as PostgreSQL stores it.
fn device_uuid(device: &Device) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(&device.id.to_string()).map_err(|e| Error::Internal(e.to_string()))
}

/// Binds the device to its actor on its first sync, or checks the bound one (as on SQLite:
/// an actor moves only from a revoked device of the same member; another device's actor is
/// refused). Two instances binding at once: the UNIQUE constraint lets one win, the other is
/// refused `actor_mismatch` (its transaction is rolled back).
fn bind_actor(tx: &mut DocumentTx<'_>, device: &Device, actor: &str) -> Result<()> {
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
    let id = device_uuid(device)?;
    let user = device.member.user.to_string();
    let moved = tx.execute(
        "UPDATE devices SET actor = NULL
          WHERE actor = $1 AND id <> $2 AND revoked AND user_id = $3",
        &[&actor, &id, &user],
    )?;
    if moved > 0 {
        tracing::info!(device = %device.id, user = %device.member.user, %actor, "actor moves from a revoked device of the same member (re-enrolment)");
    }
    let taken = tx.query(
        "SELECT 1 FROM devices WHERE actor = $1 AND id <> $2",
        &[&actor, &id],
    )?;
    if !taken.is_empty() {
        return Err(Error::ActorMismatch { given: actor });
    }
    match tx.execute(
        "UPDATE devices SET actor = $2 WHERE id = $1 AND actor IS NULL",
        &[&id, &actor],
    ) {
        Err(Error::Postgres(e)) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            return Err(Error::ActorMismatch { given: actor });
        }
        other => other?,
    };
    let bound = tx.query("SELECT actor FROM devices WHERE id = $1", &[&id])?;
    let bound: Option<String> = bound.first().and_then(|r| r.get(0));
    if bound.as_deref() != Some(actor.as_str()) {
        return Err(Error::ActorMismatch { given: actor });
    }
    tracing::info!(device = %device.id, user = %device.member.user, %actor, "device bound to its actor");
    Ok(())
}

/// The members of a team, as committed.
fn team_members(tx: &mut DocumentTx<'_>, team: &TeamId) -> Result<Vec<Member>> {
    let rows = tx.query(
        "SELECT id, name, role, team, reports_to FROM users WHERE team = $1 ORDER BY id",
        &[&team.as_str()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let role: String = r.get(2);
        let team: String = r.get(3);
        let reports_to: Option<String> = r.get(4);
        out.push(Member {
            user: r.get::<_, String>(0).parse()?,
            name: r.get(1),
            role: Role::from_code(&role)
                .ok_or_else(|| Error::invalid("role", format!("stored role {role:?}")))?,
            team: team.parse()?,
            reports_to: reports_to.map(|u| u.parse()).transpose()?,
        });
    }
    Ok(out)
}

/// The request's bookkeeping, in its transaction: the removed documents' sync states go,
/// the changes received enter the change log, refusals are logged (a message refused again
/// counts an attempt), and the device's last sync is noted.
fn bookkeeping(
    tx: &mut DocumentTx<'_>,
    device: &Device,
    peer: &str,
    outcome: &Outcome,
) -> Result<()> {
    for doc in &outcome.removed {
        tx.execute(
            "DELETE FROM sync_states WHERE peer = $1 AND doc = $2",
            &[&peer, &doc.to_string()],
        )?;
    }
    for (doc, changes) in &outcome.received {
        let hashes: Vec<_> = changes.iter().map(|(h, _)| *h).collect();
        if !hashes.is_empty() {
            tx.log_changes(doc, &hashes, peer)?;
        }
    }
    let id = device_uuid(device)?;
    let user = device.member.user.to_string();
    for l in &outcome.logged {
        tx.execute(
            "INSERT INTO sync_rejections (device, user_id, doc, code, message, data_hash)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (device, doc, data_hash) DO UPDATE SET
                 attempts = sync_rejections.attempts + 1, last_at = now()",
            &[
                &id,
                &user,
                &l.doc.to_string(),
                &l.refusal.code,
                &l.refusal.message,
                &l.data_hash,
            ],
        )?;
    }
    tx.execute(
        "UPDATE devices SET last_seen = now(), last_sync = now() WHERE id = $1",
        &[&id],
    )?;
    Ok(())
}

/// Runs one sync request in `tx` (see the module): returns what the plan decided, everything
/// it changed written in `tx`. The protocol version is the caller's to check.
pub(super) fn sync_in(tx: &mut DocumentTx<'_>, request: &Request<'_>) -> Result<Outcome> {
    let (device, req) = (request.device, request.req);
    bind_actor(tx, device, &req.actor)?;
    let peer = device.id.to_string();
    // The request's documents that exist, locked in sorted order before anything is read
    // of them (two requests over the same documents take turns instead of deadlocking).
    let mut names: Vec<String> = req.messages.iter().map(|m| m.doc.to_string()).collect();
    names.sort();
    names.dedup();
    tx.query(
        "SELECT doc FROM documents WHERE doc = ANY($1) ORDER BY doc COLLATE \"C\" FOR UPDATE",
        &[&names],
    )?;
    let team = team_members(tx, &device.member.team)?;
    // The device's sync states, once: the documents it held, and where each session starts.
    let mut stored = HashMap::new();
    for row in tx.query(
        "SELECT doc, state FROM sync_states WHERE peer = $1",
        &[&peer],
    )? {
        let Ok(doc) = row.get::<_, &str>(0).parse::<DocId>() else {
            continue;
        };
        let state = sync::State::decode(row.get::<_, &[u8]>(1)).unwrap_or_default();
        stored.insert(doc, state);
    }
    let held: HashSet<DocId> = stored.keys().cloned().collect();
    // The committed cards of the customers the request concerns, in one query.
    let concerned: Vec<String> = req
        .messages
        .iter()
        .map(|m| &m.doc)
        .chain(&held)
        .filter_map(|d| match d {
            DocId::Customer(c) => Some(c.to_string()),
            DocId::Day(..) => None,
        })
        .collect();
    let cards: HashMap<String, Option<String>> = tx
        .query(
            "SELECT id, agent FROM customers WHERE id = ANY($1)",
            &[&concerned],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let ent = entitlement(
        &device.member,
        &team,
        req.messages.iter().map(|m| &m.doc).chain(&held),
        |id| Ok(cards.get(&id.to_string()).cloned()),
    )?;
    let mut side = PgSide {
        tx,
        peer: peer.clone(),
        states: HashMap::new(),
        stored,
        merged: HashMap::new(),
    };
    let outcome = plan_and_run(&mut side, request, ent, held)?;
    bookkeeping(tx, device, &peer, &outcome)?;
    Ok(outcome)
}

/// The change log's highest sequence number (0 when empty): it grows with every change any
/// instance stores and never goes down (the log is never pruned).
pub(super) fn change_seq(tx: &mut DocumentTx<'_>) -> Result<i64> {
    let rows = tx.query("SELECT coalesce(max(seq), 0)::bigint FROM change_log", &[])?;
    Ok(rows.first().map_or(0, |r| r.get(0)))
}
