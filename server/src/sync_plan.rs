//! The sync plan: what the server does with one device's sync request, decided from plain
//! data — the request's messages, what the device may hold and held, the committed owner of a
//! document it would be sent, the time spent and the response's caps — without storage or
//! HTTP, so that every rule of `docs/protocol.md`'s server half has a unit test here.
//!
//! The server's sync is a pipeline: decode and check → **plan** (this module) → **apply**
//! (`store::sync`: merge through client-core's session, verify, answer, push, and write the
//! whole request in one transaction). The apply side drives the plan step by step, like
//! client-core's sans-I/O sync engine: it asks what to do with each message
//! ([`Plan::admit`]), reports what receiving it gave ([`Plan::received`]), asks which
//! documents to answer ([`Plan::to_answer`]) and reports each reply ([`Plan::answered`]),
//! then offers push candidates ([`Plan::may_push`], [`Plan::room_to_push`],
//! [`Plan::pushed`]); [`Plan::finish`] gives the response's parts and what to log.
//!
//! The rules it keeps: a message for a document the device may not hold is refused
//! `forbidden`, and the document is listed in `removed` if it exists — unless the device held
//! the document: work recorded offline before the device heard of a reassignment is *handed
//! in* (received and verified, answered without the server's changes) and the document is
//! listed in `removed` once the server has all of it. Once the time budget is spent the
//! remaining messages are deferred `retry_later` with `more`; at least one message is received
//! and one document pushed per request, so a run always progresses. A reply that tells the
//! device nothing new is skipped ([`redundant`]). Pushes stop at the caps with `more`.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use automerge::sync::{ChunkList, Message};
use automerge::ChangeHash;
use client_core::protocol::{DocMessage, Rejection, RETRY_LATER};
use client_core::{CustomerId, DocId, UserId};
use sha2::{Digest, Sha256};

use crate::verify::Refusal;

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

/// The bounds of one response.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The time budget ([`SYNC_BUDGET`] unless configured).
    pub budget: Duration,
    /// At most this many messages out ([`MAX_MESSAGES_OUT`]).
    pub max_messages: usize,
    /// At most this many bytes of messages out ([`MAX_BYTES_OUT`]).
    pub max_bytes: usize,
}

impl Limits {
    /// The protocol's caps with this time budget.
    pub fn with_budget(budget: Duration) -> Limits {
        Limits {
            budget,
            max_messages: MAX_MESSAGES_OUT,
            max_bytes: MAX_BYTES_OUT,
        }
    }
}

/// What the device may hold: the users it reaches, and the committed owners of the customers
/// the request concerns (those it sends messages for and those it held: looked up one by
/// one, not read for every customer of the server).
#[derive(Clone, Debug, Default)]
pub struct Entitlement {
    /// The users whose records the device's member may hold (`access::reachable_users`).
    pub reach: BTreeSet<UserId>,
    /// Customers assigned to someone the device reaches.
    pub owned: HashSet<CustomerId>,
    /// Every customer with a card on the server (among those asked about).
    pub known: HashSet<CustomerId>,
}

impl Entitlement {
    /// Whether the device may write the document: a customer it owns or one with no card yet
    /// (the device is creating it: `verify` checks whose it becomes), a day of someone it
    /// reaches.
    pub fn allows(&self, doc: &DocId) -> bool {
        match doc {
            DocId::Customer(c) => self.owned.contains(c) || !self.known.contains(c),
            DocId::Day(agent, _) => self.reach.contains(agent),
        }
    }

    /// Whether the server has the document (a day always "exists": it is anyone's to create).
    pub fn exists(&self, doc: &DocId) -> bool {
        match doc {
            DocId::Customer(c) => self.known.contains(c),
            DocId::Day(..) => true,
        }
    }

    /// Whether the device may be sent the document, by an owner read from the committed copy
    /// just now (`committed_agent`: the agent on the customer's card, `None` without a
    /// readable one — sent to nobody), or a day of someone it reaches: a customer reassigned
    /// while the request waited is not sent on the strength of an older reading.
    pub fn holds_now(&self, doc: &DocId, committed_agent: Option<&UserId>) -> bool {
        match doc {
            DocId::Customer(_) => committed_agent.is_some_and(|a| self.reach.contains(a)),
            DocId::Day(agent, _) => self.reach.contains(agent),
        }
    }
}

/// What to do with one message of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Receive it: verify against the device's rights and the committed copy, then merge.
    Receive,
    /// Receive it as work handed in on a document the device may no longer hold: verified
    /// like any other but not against the committed owner.
    HandIn,
    /// Refused (`forbidden`) or deferred (`retry_later`): the plan has recorded it.
    Skip,
}

/// How a message for `doc` is admitted by its rights alone (the budget aside): received if
/// the entitlement allows it, handed in if the device held it, else refused. [`Plan::admit`]
/// decides by it; a store may use it to prepare messages before the plan runs.
pub fn admission(ent: &Entitlement, held: &HashSet<DocId>, doc: &DocId) -> Admission {
    if ent.allows(doc) {
        Admission::Receive
    } else if held.contains(doc) {
        Admission::HandIn
    } else {
        Admission::Skip
    }
}

/// A refused message, to log and to answer in `rejected`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// The document.
    pub doc: DocId,
    /// Why.
    pub refusal: Refusal,
    /// SHA-256 of the message's bytes, hex (the log counts attempts of the same message).
    pub data_hash: String,
}

/// SHA-256 of some bytes, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One request's plan, driven by the apply side.
#[derive(Debug)]
pub struct Plan {
    user: UserId,
    ent: Entitlement,
    held: HashSet<DocId>,
    in_request: HashSet<DocId>,
    limits: Limits,
    removed: Vec<DocId>,
    logged: Vec<Logged>,
    deferred: Vec<DocId>,
    /// The messages received (their index in the request), in order, with whether they
    /// were handed in.
    accepted: Vec<(usize, DocId, bool)>,
    received: Vec<(DocId, Vec<(ChangeHash, String)>)>,
    messages: Vec<DocMessage>,
    bytes: usize,
    more: bool,
    pushed: usize,
}

/// What a plan decided, once the apply side has run it.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The replies and pushes, in order.
    pub messages: Vec<DocMessage>,
    /// Refused messages (logged, and answered in `rejected`).
    pub logged: Vec<Logged>,
    /// Deferred messages (answered `retry_later`, not logged).
    pub deferred: Vec<DocId>,
    /// Documents the device must drop (their sync states with it go too).
    pub removed: Vec<DocId>,
    /// Whether the device should send another request at once.
    pub more: bool,
    /// The changes received, per document (the change log).
    pub received: Vec<(DocId, Vec<(ChangeHash, String)>)>,
}

impl Outcome {
    /// The response's `rejected`: the refusals, then the deferrals.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.logged
            .iter()
            .map(|l| Rejection {
                doc: l.doc.clone(),
                code: l.refusal.code.to_string(),
                message: l.refusal.message.clone(),
            })
            .chain(self.deferred.iter().map(|doc| Rejection {
                doc: doc.clone(),
                code: RETRY_LATER.to_string(),
                message: "this request used up its time on the server: send it again".into(),
            }))
            .collect()
    }
}

impl Plan {
    /// A plan for `user`'s device, entitled to `ent`, which held (has a sync state for) the
    /// documents `held`, sending messages for the documents `in_request`. A document the
    /// device held but may no longer hold, and says nothing about, is removed at once.
    pub fn new(
        user: UserId,
        ent: Entitlement,
        held: HashSet<DocId>,
        in_request: impl IntoIterator<Item = DocId>,
        limits: Limits,
    ) -> Plan {
        let in_request: HashSet<DocId> = in_request.into_iter().collect();
        let mut removed: Vec<DocId> = held
            .iter()
            .filter(|d| !ent.allows(d) && !in_request.contains(d))
            .cloned()
            .collect();
        removed.sort();
        Plan {
            user,
            ent,
            held,
            in_request,
            limits,
            removed,
            logged: vec![],
            deferred: vec![],
            accepted: vec![],
            received: vec![],
            messages: vec![],
            bytes: 0,
            more: false,
            pushed: 0,
        }
    }

    fn remove(&mut self, doc: &DocId) {
        if !self.removed.contains(doc) {
            self.removed.push(doc.clone());
        }
    }

    /// What to do with the request's `index`-th message, `elapsed` into the request.
    pub fn admit(&mut self, index: usize, msg: &DocMessage, elapsed: Duration) -> Admission {
        if index > 0 && elapsed > self.limits.budget {
            self.deferred.push(msg.doc.clone());
            self.more = true;
            return Admission::Skip;
        }
        let admission = admission(&self.ent, &self.held, &msg.doc);
        if admission != Admission::Skip {
            return admission;
        }
        if self.ent.exists(&msg.doc) {
            self.remove(&msg.doc);
        }
        self.logged.push(Logged {
            doc: msg.doc.clone(),
            refusal: Refusal {
                code: "forbidden",
                message: format!("{} may not hold {}", self.user, msg.doc),
            },
            data_hash: sha256_hex(&msg.data),
        });
        Admission::Skip
    }

    /// What receiving an admitted message gave: its new changes, or why it was refused
    /// (nothing of it is stored). A refused hand-in ends the device's claim on the document.
    pub fn received(
        &mut self,
        index: usize,
        msg: &DocMessage,
        admission: Admission,
        outcome: Result<Vec<(ChangeHash, String)>, Refusal>,
    ) {
        let hand_in = admission == Admission::HandIn;
        match outcome {
            Ok(changes) => {
                self.accepted.push((index, msg.doc.clone(), hand_in));
                self.received.push((msg.doc.clone(), changes));
            }
            Err(refusal) => {
                if hand_in {
                    self.remove(&msg.doc);
                }
                self.logged.push(Logged {
                    doc: msg.doc.clone(),
                    refusal,
                    data_hash: sha256_hex(&msg.data),
                });
            }
        }
    }

    /// The documents to answer, each once, as the index of the first message received for
    /// it: the accepted ones in the request's order, then those handed in (`true`).
    pub fn to_answer(&self) -> Vec<(usize, bool)> {
        let mut seen = HashSet::new();
        let (handed, own): (Vec<_>, Vec<_>) = self.accepted.iter().partition(|(_, _, h)| *h);
        own.into_iter()
            .chain(handed)
            .filter(|(_, d, _)| seen.insert(d.clone()))
            .map(|(i, _, h)| (*i, *h))
            .collect()
    }

    /// The server's reply to an answered document (`None`: nothing to say), or why answering
    /// failed (`corrupt`: Automerge failed on what the device said; the document is refused,
    /// the others still answered). `incoming` is the device's last message for it.
    pub fn answered(
        &mut self,
        doc: &DocId,
        hand_in: bool,
        incoming: &[u8],
        reply: Result<Option<Vec<u8>>, Refusal>,
    ) {
        let reply = match reply {
            Ok(r) => r,
            Err(refusal) => {
                self.logged.push(Logged {
                    doc: doc.clone(),
                    refusal,
                    data_hash: sha256_hex(incoming),
                });
                return;
            }
        };
        if !hand_in {
            if let Some(data) = reply {
                if !redundant(incoming, &data) {
                    self.out(DocMessage {
                        doc: doc.clone(),
                        data,
                    });
                }
            }
            return;
        }
        match reply {
            Some(data) if !hand_in_complete(&data) => {
                let data = without_changes(&data);
                self.out(DocMessage {
                    doc: doc.clone(),
                    data,
                });
            }
            _ => self.remove(doc),
        }
    }

    fn out(&mut self, m: DocMessage) {
        self.bytes += m.data.len();
        self.messages.push(m);
    }

    /// Whether an out-of-sync document may be pushed to the device: not one it sent a message
    /// for (answered already), and one the committed copy entitles it to hold now
    /// (`committed_agent`: the agent on the customer's card as committed when the push is
    /// prepared, `None` without a readable one; a day goes by its agent).
    pub fn may_push(&self, doc: &DocId, committed_agent: Option<&UserId>) -> bool {
        !self.in_request.contains(doc) && self.ent.holds_now(doc, committed_agent)
    }

    /// Whether there is room for one more push, `elapsed` into the request; if not, `more`
    /// is set and the apply side stops pushing. The time budget covers pushes too, but at
    /// least one goes out per request.
    pub fn room_to_push(&mut self, elapsed: Duration) -> bool {
        let late = self.pushed > 0 && elapsed > self.limits.budget;
        if late
            || self.messages.len() >= self.limits.max_messages
            || self.bytes >= self.limits.max_bytes
        {
            self.more = true;
            return false;
        }
        true
    }

    /// A push generated for an admitted candidate.
    pub fn pushed(&mut self, m: DocMessage) {
        self.out(m);
        self.pushed += 1;
    }

    /// The documents that should be in `removed` so far (the apply side deletes their sync
    /// states).
    pub fn removed(&self) -> &[DocId] {
        &self.removed
    }

    /// The plan's result.
    pub fn finish(self) -> Outcome {
        Outcome {
            messages: self.messages,
            logged: self.logged,
            deferred: self.deferred,
            removed: self.removed,
            more: self.more,
            received: self.received,
        }
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
pub fn redundant(incoming: &[u8], reply: &[u8]) -> bool {
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
pub fn hand_in_complete(reply: &[u8]) -> bool {
    Message::decode(reply).is_ok_and(|r| r.need.is_empty())
}

/// The reply to a device handing in work on a document it may no longer hold: the server's
/// heads, needs and summary (so the device sends what the server lacks), never the server's
/// changes (the document is someone else's now).
pub fn without_changes(reply: &[u8]) -> Vec<u8> {
    match Message::decode(reply) {
        Ok(mut m) => {
            m.changes = ChunkList::empty();
            m.encode()
        }
        Err(_) => reply.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use automerge::sync::{BloomFilter, Have, MessageVersion, State, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    use chrono::NaiveDate;

    use super::*;

    fn user(u: &str) -> UserId {
        u.parse().unwrap()
    }

    fn day(agent: &str) -> DocId {
        DocId::Day(user(agent), NaiveDate::from_ymd_opt(2026, 6, 1).unwrap())
    }

    fn msg(doc: &DocId, data: &[u8]) -> DocMessage {
        DocMessage {
            doc: doc.clone(),
            data: data.to_vec(),
        }
    }

    /// a1 reaches only themselves; `mine` is theirs, `theirs` is a2's, `new` has no card yet.
    struct World {
        ent: Entitlement,
        mine: DocId,
        theirs: DocId,
        new: DocId,
    }

    fn world() -> World {
        let (mine, theirs, new) = (CustomerId::new(), CustomerId::new(), CustomerId::new());
        World {
            ent: Entitlement {
                reach: BTreeSet::from([user("a1")]),
                owned: HashSet::from([mine]),
                known: HashSet::from([mine, theirs]),
            },
            mine: DocId::Customer(mine),
            theirs: DocId::Customer(theirs),
            new: DocId::Customer(new),
        }
    }

    fn plan(w: &World, held: &[&DocId], in_request: &[&DocId], limits: Limits) -> Plan {
        Plan::new(
            user("a1"),
            w.ent.clone(),
            held.iter().map(|d| (*d).clone()).collect(),
            in_request.iter().map(|d| (*d).clone()),
            limits,
        )
    }

    fn limits() -> Limits {
        Limits::with_budget(Duration::from_secs(3))
    }

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn messages_are_received_handed_in_or_refused_by_what_the_device_may_hold() {
        let w = world();
        let other_day = day("a2");
        let mut p = plan(&w, &[&w.theirs], &[&w.theirs], limits());
        let table = [
            (&w.mine, Admission::Receive),
            (&w.new, Admission::Receive),
            (&day("a1"), Admission::Receive),
            // Held before it was reassigned: the device's offline work is handed in.
            (&w.theirs, Admission::HandIn),
            (&other_day, Admission::Skip),
        ];
        for (i, (doc, want)) in table.iter().enumerate() {
            assert_eq!(p.admit(i, &msg(doc, b"x"), NOW), *want, "{doc}");
        }
        let out = p.finish();
        assert_eq!(out.logged.len(), 1);
        assert_eq!(out.logged[0].doc, other_day);
        assert_eq!(out.logged[0].refusal.code, "forbidden");
        assert_eq!(out.logged[0].data_hash, sha256_hex(b"x"));
        // A day exists for everyone: the device is told to drop it.
        assert_eq!(out.removed, vec![other_day]);
        assert!(!out.more);
    }

    #[test]
    fn a_foreign_document_never_held_is_refused_and_removed_one_held_and_unmentioned_goes_at_once()
    {
        let w = world();
        let mut p = plan(&w, &[], &[&w.theirs], limits());
        assert_eq!(p.admit(0, &msg(&w.theirs, b"x"), NOW), Admission::Skip);
        assert_eq!(p.finish().removed, vec![w.theirs.clone()]);

        let mut held = vec![&w.theirs, &w.mine];
        let other_day = day("a2");
        held.push(&other_day);
        let p = plan(&w, &held, &[], limits());
        let mut want = vec![w.theirs.clone(), other_day.clone()];
        want.sort();
        assert_eq!(p.removed(), want.as_slice());
    }

    #[test]
    fn once_the_budget_is_spent_the_rest_is_deferred_but_the_first_message_always_runs() {
        let w = world();
        let mut p = plan(&w, &[], &[], Limits::with_budget(Duration::ZERO));
        let late = Duration::from_millis(5);
        assert_eq!(p.admit(0, &msg(&w.mine, b"a"), late), Admission::Receive);
        assert_eq!(p.admit(1, &msg(&w.new, b"b"), late), Admission::Skip);
        assert_eq!(p.admit(2, &msg(&day("a2"), b"c"), late), Admission::Skip);
        let out = p.finish();
        assert!(out.more);
        assert_eq!(out.deferred, vec![w.new.clone(), day("a2")]);
        // Deferred messages are answered, not logged (nothing was refused).
        assert!(out.logged.is_empty());
        let codes: Vec<_> = out.rejections().into_iter().map(|r| r.code).collect();
        assert_eq!(codes, vec![RETRY_LATER, RETRY_LATER]);
    }

    #[test]
    fn refusals_are_logged_and_a_refused_hand_in_ends_the_claim() {
        let w = world();
        let mut p = plan(&w, &[&w.theirs], &[], limits());
        let refusal = Refusal {
            code: "forged_actor",
            message: "no".into(),
        };
        let (m0, m1) = (msg(&w.mine, b"0"), msg(&w.theirs, b"1"));
        p.received(0, &m0, Admission::Receive, Err(refusal.clone()));
        p.received(1, &m1, Admission::HandIn, Err(refusal.clone()));
        assert!(p.to_answer().is_empty());
        let out = p.finish();
        assert_eq!(out.logged.len(), 2);
        assert_eq!(out.removed, vec![w.theirs.clone()]);
        assert!(out.received.is_empty());
        let r = out.rejections();
        assert_eq!(
            (r[0].code.as_str(), r[1].doc.clone()),
            ("forged_actor", w.theirs)
        );
    }

    #[test]
    fn each_document_is_answered_once_own_before_handed_in() {
        let w = world();
        let mut p = plan(&w, &[&w.theirs], &[], limits());
        let h = ChangeHash([7; 32]);
        p.received(0, &msg(&w.theirs, b"t"), Admission::HandIn, Ok(vec![]));
        p.received(
            1,
            &msg(&w.mine, b"m"),
            Admission::Receive,
            Ok(vec![(h, "01".into())]),
        );
        p.received(2, &msg(&w.mine, b"m2"), Admission::Receive, Ok(vec![]));
        p.received(3, &msg(&w.new, b"n"), Admission::Receive, Ok(vec![]));
        assert_eq!(p.to_answer(), vec![(1, false), (3, false), (0, true)]);
        let out = p.finish();
        assert_eq!(out.received.len(), 4);
        assert_eq!(out.received[1].1, vec![(h, "01".to_string())]);
    }

    /// A device's document with one change the server lacks, and the first exchange: the
    /// device's opening message, and the server's reply to it.
    fn exchange() -> (Vec<u8>, Vec<u8>, AutoCommit, AutoCommit) {
        let mut server = AutoCommit::new();
        server.put(ROOT, "card", "server's").unwrap();
        server.commit();
        let mut device = server.fork();
        device.put(ROOT, "notes", "offline work").unwrap();
        device.commit();
        let (mut ds, mut ss) = (State::new(), State::new());
        let opening = device.sync().generate_sync_message(&mut ds).unwrap();
        server
            .sync()
            .receive_sync_message(&mut ss, opening.clone())
            .unwrap();
        let reply = server.sync().generate_sync_message(&mut ss).unwrap();
        (opening.encode(), reply.encode(), device, server)
    }

    #[test]
    fn a_hand_in_is_answered_without_the_servers_changes_until_complete_then_removed() {
        let w = world();
        let (opening, reply, _, _) = exchange();
        assert!(
            !hand_in_complete(&reply),
            "the server lacks the device's change"
        );
        let mut p = plan(&w, &[&w.theirs], &[&w.theirs], limits());
        p.answered(&w.theirs, true, &opening, Ok(Some(reply.clone())));
        let out = p.finish();
        assert!(out.removed.is_empty());
        let sent = Message::decode(&out.messages[0].data).unwrap();
        assert!(sent.changes.is_empty());
        assert_eq!(sent.need, Message::decode(&reply).unwrap().need);

        // Once the server needs nothing (or has nothing to say), the device drops it.
        let done = Message {
            need: vec![],
            ..Message::decode(&reply).unwrap()
        }
        .encode();
        assert!(hand_in_complete(&done));
        for r in [Some(done), None] {
            let mut p = plan(&w, &[&w.theirs], &[&w.theirs], limits());
            p.answered(&w.theirs, true, &opening, Ok(r));
            let out = p.finish();
            assert_eq!(out.removed, vec![w.theirs.clone()]);
            assert!(out.messages.is_empty());
        }
    }

    #[test]
    fn a_reply_that_tells_the_device_nothing_is_skipped_and_a_failed_answer_is_corrupt() {
        let w = world();
        let h = ChangeHash([1; 32]);
        let quiet = |heads: Vec<ChangeHash>, have: bool| {
            Message {
                heads: heads.clone(),
                need: vec![],
                have: if have {
                    vec![Have {
                        last_sync: heads,
                        bloom: BloomFilter::default(),
                    }]
                } else {
                    vec![]
                },
                changes: ChunkList::empty(),
                flags: None,
                version: MessageVersion::V1,
            }
            .encode()
        };
        let incoming = quiet(vec![h], true);
        assert!(redundant(&incoming, &quiet(vec![h], false)));
        // Other heads on the server, or a device that does not know they are shared: sent.
        assert!(!redundant(
            &incoming,
            &quiet(vec![ChangeHash([2; 32])], false)
        ));
        assert!(!redundant(&quiet(vec![h], false), &quiet(vec![h], false)));
        // A message that brought changes is always acknowledged.
        let (opening, reply, _, _) = exchange();
        assert!(!redundant(&opening, &reply));

        let mut p = plan(&w, &[], &[&w.mine, &w.new], limits());
        p.answered(&w.mine, false, &incoming, Ok(Some(quiet(vec![h], false))));
        p.answered(&w.new, false, &opening, Ok(Some(reply.clone())));
        let broken = Refusal {
            code: "corrupt",
            message: "Automerge failed".into(),
        };
        p.answered(&day("a1"), false, b"bad", Err(broken));
        let out = p.finish();
        assert_eq!(out.messages.len(), 1);
        assert_eq!(out.messages[0].doc, w.new);
        assert_eq!(out.logged[0].refusal.code, "corrupt");
        assert_eq!(out.logged[0].data_hash, sha256_hex(b"bad"));
    }

    #[test]
    fn pushes_need_the_entitlement_and_the_committed_owner_and_stop_at_the_caps() {
        let w = world();
        let p = plan(&w, &[], &[&w.new], limits());
        let (a1, a2) = (user("a1"), user("a2"));
        assert!(!p.may_push(&w.new, Some(&a1)), "answered already");
        assert!(!p.may_push(&w.theirs, Some(&a2)), "someone else's");
        assert!(!p.may_push(&day("a2"), None));
        assert!(p.may_push(&w.mine, Some(&a1)));
        // Reassigned while the request waited for the store, or no readable card.
        assert!(!p.may_push(&w.mine, Some(&a2)));
        assert!(!p.may_push(&w.mine, None));
        assert!(p.may_push(&day("a1"), None));
        // Assigned to the device after the request began: the committed copy decides.
        assert!(p.may_push(&w.theirs, Some(&a1)));

        let caps = Limits {
            budget: Duration::ZERO,
            max_messages: 2,
            max_bytes: 10,
        };
        let mut p = plan(&w, &[], &[], caps);
        let late = Duration::from_millis(1);
        // Late, but nothing pushed yet: one goes out.
        assert!(p.room_to_push(late));
        p.pushed(msg(&w.mine, b"12345"));
        assert!(!p.room_to_push(late));
        assert!(p.room_to_push(Duration::ZERO));
        p.pushed(msg(&day("a1"), b"1"));
        assert!(!p.room_to_push(Duration::ZERO), "two messages: the cap");
        let out = p.finish();
        assert!(out.more);
        assert_eq!(out.messages.len(), 2);

        let mut p = plan(&w, &[], &[], caps);
        p.pushed(msg(&w.mine, &[0; 10]));
        assert!(!p.room_to_push(Duration::ZERO), "ten bytes: the cap");
    }
}
