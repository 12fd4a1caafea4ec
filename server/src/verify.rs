//! What a device may write: the checks every received sync message passes before the server
//! stores it.
//!
//! client-core shows the server a message's effect before anything is stored
//! ([`client_core::Incoming`]: the document before and after, and the new changes with their
//! actors). These rules refuse it when:
//!
//! * a new change carries an actor other than the device's bound one — except the document's
//!   genesis change, which every replica writes under the same derived actor (`forged_actor`);
//! * the `actors` map would register another actor, or the device's actor as someone else
//!   (`forged_actor`);
//! * on a customer: the card's assigned agent becomes someone the device's member may not
//!   assign (an agent may only create cards for themselves); a visit or call is added or changed
//!   whose agent is not the device's member (a forged visit); a comment whose author is not the
//!   device's member; a record disappears (records stay complete: nothing is deleted)
//!   (`forbidden`);
//! * on a day: the device's member is neither that agent nor a manager of the agent's team
//!   (`forbidden`);
//! * the document would not read as the model once the message is merged: a record with a
//!   missing or ill-typed field, a text over its limit, a date that is not `YYYY-MM-DD`, a code
//!   that no playbook the team has had in force defines, a document that does not start with
//!   its genesis change (`invalid_record`, naming the document and the field path; the rules
//!   are client-core's `layout`, the same the phone applies before its own writes).
//!
//! A write is also authorised against the server's copy *before* the message: a customer
//! whose committed card names an owner the device does not reach is not the device's to
//! write ([`check_holder`]), whatever the entitlement computed at the start of the request
//! said.
//!
//! Pure functions over the documents: no storage, no HTTP, so each rule has a unit test.

use std::collections::{BTreeMap, BTreeSet};

use client_core::layout::{self, Codes};
use client_core::model::Role;
use client_core::{DocId, Incoming, UserId};
use serde::Serialize;

/// Who is writing: the device's member and its bound actor.
#[derive(Clone, Debug)]
pub struct Writer<'a> {
    /// The device's member.
    pub user: &'a UserId,
    /// Their role.
    pub role: Role,
    /// The device's bound actor (hex).
    pub actor: &'a str,
    /// The users whose records this member may hold (see `access::reachable_users`).
    pub reachable: &'a BTreeSet<UserId>,
    /// The playbook codes records may use: every playbook the team has had in force.
    pub codes: &'a Codes,
}

/// Why a message was refused, with the protocol's stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `forged_actor`, `forbidden` or `invalid_record`.
    pub code: &'static str,
    /// A sentence for the device and the log.
    pub message: String,
}

fn forged(message: String) -> Refusal {
    Refusal {
        code: "forged_actor",
        message,
    }
}

fn forbidden(message: String) -> Refusal {
    Refusal {
        code: "forbidden",
        message,
    }
}

/// Checks one received message's effect; `Ok` lets it be stored.
pub fn check(w: &Writer<'_>, inc: &Incoming<'_>) -> Result<(), Refusal> {
    check_actors(w, inc)?;
    check_layout(w, inc)?;
    match inc.doc {
        DocId::Customer(_) => check_customer(w, inc)?,
        DocId::Day(agent, _) => {
            if !(agent == w.user || (w.role.is_manager() && w.reachable.contains(agent))) {
                return Err(forbidden(format!("{} may not write {agent}'s day", w.user)));
            }
        }
    }
    check_registered(w, inc)
}

/// A writer registers its actor (`actors/<hex>`) before its first change: replicas settle a
/// manager's and an agent's concurrent values by it, so an unregistered writer is refused.
fn check_registered(w: &Writer<'_>, inc: &Incoming<'_>) -> Result<(), Refusal> {
    let writes = inc.new_changes.iter().any(|(h, a)| !inc.is_genesis(h, a));
    if writes && !inc.roles_after().contains_key(w.actor) {
        return Err(Refusal {
            code: "invalid_record",
            message: format!(
                "{}: actors.{}: is missing: a writer registers its actor before its first change",
                inc.doc, w.actor
            ),
        });
    }
    Ok(())
}

/// The document must read as the model after the message (faults it had before are not the
/// message's, and do not block it).
///
/// A customer's merged document is read once for this check and for `check_customer`'s card
/// owner and records' authors (`layout::check_and_read_customer`; the projection reuses that
/// reading too); each document state's actor roles are the message's (`Incoming::roles_*`).
fn check_layout(w: &Writer<'_>, inc: &Incoming<'_>) -> Result<(), Refusal> {
    let mut issues = if inc.new_roots.is_empty() {
        vec![]
    } else {
        layout::check_roots_against(inc.genesis(), &inc.new_roots)
    };
    if issues.is_empty() {
        // The genesis is read once for the message and shared by both checks (an empty
        // document's origin is not checked: `check_document` returns before using it).
        let (g, codes) = (inc.genesis_ref(), Some(w.codes));
        let after = match inc.doc {
            DocId::Customer(_) => {
                let (issues, view) = layout::check_and_read_customer(
                    inc.after,
                    inc.doc,
                    codes,
                    g,
                    inc.roles_after(),
                );
                inc.keep_customer_after(view);
                issues
            }
            DocId::Day(..) => {
                layout::check_document_with(inc.after, inc.doc, codes, g, inc.roles_after())
            }
        };
        if !after.is_empty() {
            let before =
                layout::check_document_with(inc.before, inc.doc, codes, g, inc.roles_before());
            issues = layout::new_issues(before, after);
        }
    }
    match issues.first() {
        None => Ok(()),
        Some(i) => Err(Refusal {
            code: "invalid_record",
            message: format!("{} does not read as the model: {i}", inc.doc),
        }),
    }
}

/// Whether the server's committed copy lets the device write this document: a customer whose
/// card names an owner the device does not reach is someone else's (a card not written yet is
/// one the device is creating: `check` decides whose it becomes).
pub fn check_holder(w: &Writer<'_>, inc: &Incoming<'_>) -> Result<(), Refusal> {
    if !matches!(inc.doc, DocId::Customer(_))
        || automerge::ReadDoc::keys(inc.before, automerge::ROOT)
            .next()
            .is_none()
    {
        return Ok(());
    }
    let before = inc.customer_before();
    let mine = match &before.customer {
        Some(c) => c.agent.as_ref().is_some_and(|a| w.reachable.contains(a)),
        // A document without a readable card: only its genesis (and actors) may be there.
        None => before.policies.is_empty() && before.visits.is_empty(),
    };
    if mine {
        Ok(())
    } else {
        Err(forbidden(format!("{} may not hold {}", w.user, inc.doc)))
    }
}

fn check_actors(w: &Writer<'_>, inc: &Incoming<'_>) -> Result<(), Refusal> {
    for (hash, actor) in &inc.new_changes {
        if actor != w.actor && !inc.is_genesis(hash, actor) {
            return Err(forged(format!(
                "change {hash} is written under actor {actor}, not this device's"
            )));
        }
    }
    let before = inc.roles_before();
    for (hex, (role, user)) in inc.roles_after() {
        if before.get(hex).is_some_and(|(r, u)| r == role && u == user) {
            continue;
        }
        if hex != w.actor {
            return Err(forged(format!("registers actor {hex}, not this device's")));
        }
        if *role != w.role || user != w.user.as_str() {
            return Err(forged(format!(
                "registers this device's actor as {}:{user}, but the device is {}:{}",
                role.code(),
                w.role.code(),
                w.user
            )));
        }
    }
    Ok(())
}

/// A record as JSON without its derived fields, to tell a changed record from an unchanged one.
fn fingerprint<T: Serialize>(record: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(record).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.remove("number");
    }
    v
}

fn check_customer(w: &Writer<'_>, inc: &Incoming<'_>) -> Result<(), Refusal> {
    let (before, after) = (inc.customer_before(), inc.customer_after());
    if let Some(card) = &after.customer {
        let assignment_changed = before.customer.as_ref().map(|c| &c.agent) != Some(&card.agent);
        if assignment_changed {
            let ok = match &card.agent {
                Some(a) if a == w.user => true,
                Some(a) => w.role.is_manager() && w.reachable.contains(a),
                None => w.role.is_manager(),
            };
            if !ok {
                let to = card
                    .agent
                    .as_ref()
                    .map_or("nobody".into(), |a| a.to_string());
                return Err(forbidden(format!(
                    "{} may not assign this customer to {to}",
                    w.user
                )));
            }
        }
    } else if before.customer.is_some() {
        return Err(forbidden("the customer card would disappear".into()));
    }
    let records = |v: &client_core::index::CustomerView| {
        let mut m: BTreeMap<String, (String, &'static str, serde_json::Value)> = BTreeMap::new();
        for x in &v.visits {
            m.insert(
                x.id.to_string(),
                (x.agent.to_string(), "visit", fingerprint(x)),
            );
        }
        for x in &v.contacts {
            m.insert(
                x.id.to_string(),
                (x.agent.to_string(), "contact", fingerprint(x)),
            );
        }
        for x in &v.comments {
            let who = format!("{}:{}", x.role.code(), x.author);
            m.insert(x.id.to_string(), (who, "comment", fingerprint(x)));
        }
        for x in &v.policies {
            m.insert(x.id.to_string(), (String::new(), "policy", fingerprint(x)));
        }
        m
    };
    let (old, new) = (records(before), records(after));
    if let Some((id, (_, kind, _))) = old.iter().find(|(id, _)| !new.contains_key(*id)) {
        return Err(forbidden(format!("{kind} {id} would be deleted")));
    }
    let me_comment = format!("{}:{}", w.role.code(), w.user);
    for (id, (who, kind, fp)) in &new {
        if old.get(id).is_some_and(|(_, _, o)| o == fp) {
            continue;
        }
        let ok = match *kind {
            "visit" | "contact" => who == w.user.as_str(),
            "comment" => *who == me_comment,
            _ => true,
        };
        if !ok {
            return Err(forbidden(format!(
                "{kind} {id} is {who}'s, not written by {}",
                w.user
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ReadDoc, ROOT};
    use client_core::documents::{genesis, genesis_hash, obj, register_actor};
    use client_core::CustomerId;

    use super::*;

    const ME: &str = "0101";

    fn setup() -> (DocId, AutoCommit, UserId, BTreeSet<UserId>) {
        let id = DocId::Customer(CustomerId::new());
        let mut d = genesis(&id, &ActorId::from(&[1u8, 1][..])).unwrap();
        register_actor(&mut d, Role::Agent, "a1").unwrap();
        let card = obj(&d, &ROOT, "card").unwrap();
        d.put(&card, "name", "Li").unwrap();
        d.put_object(&card, "phones", automerge::ObjType::List)
            .unwrap();
        d.put(&card, "status", "prospect").unwrap();
        d.put(&card, "agent", "a1").unwrap();
        d.put(&card, "created_on", "2026-06-01").unwrap();
        d.commit();
        let me: UserId = "a1".parse().unwrap();
        let reach = BTreeSet::from([me.clone()]);
        (id, d, me, reach)
    }

    fn run(
        id: &DocId,
        before: &mut AutoCommit,
        after: &mut AutoCommit,
        w: &Writer<'_>,
    ) -> Result<(), Refusal> {
        let heads = before.get_heads();
        check(w, &Incoming::new(id, before, &heads, after))
    }

    fn codes() -> Codes {
        Codes::of([&client_core::playbook::Playbook::insurance()])
    }

    fn put_visit(d: &mut AutoCommit, agent: &str) {
        let visits = obj(d, &ROOT, "visits").unwrap();
        let v = d
            .put_object(
                &visits,
                uuid::Uuid::new_v4().to_string(),
                automerge::ObjType::Map,
            )
            .unwrap();
        for (k, val) in [
            ("agent", agent),
            ("kind", "service"),
            ("start", "2026-06-01T10:00:00+08:00"),
            ("end", "2026-06-01T10:30:00+08:00"),
            ("notes", ""),
        ] {
            d.put(&v, k, val).unwrap();
        }
        let p = d
            .put_object(&v, "purposes", automerge::ObjType::List)
            .unwrap();
        d.insert(&p, 0, "birthday").unwrap();
        d.put_object(&v, "policies", automerge::ObjType::List)
            .unwrap();
        d.put(&v, "outcome", automerge::ScalarValue::Null).unwrap();
        d.put(&v, "location", automerge::ScalarValue::Null).unwrap();
        d.commit();
    }

    #[test]
    fn own_visits_pass_forged_ones_do_not() {
        let (id, mut before, me, reach) = setup();
        let w = Writer {
            user: &me,
            role: Role::Agent,
            actor: ME,
            reachable: &reach,
            codes: &codes(),
        };
        let mut honest = before.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        put_visit(&mut honest, "a1");
        assert_eq!(run(&id, &mut before, &mut honest, &w), Ok(()));
        let mut forged = before.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        put_visit(&mut forged, "a2");
        let r = run(&id, &mut before, &mut forged, &w).unwrap_err();
        assert_eq!(r.code, "forbidden", "{r:?}");
    }

    #[test]
    fn changes_under_another_actor_are_forged() {
        let (id, mut before, me, reach) = setup();
        let w = Writer {
            user: &me,
            role: Role::Agent,
            actor: ME,
            reachable: &reach,
            codes: &codes(),
        };
        let mut other = before.fork().with_actor(ActorId::from(&[9u8, 9][..]));
        let card = obj(&other, &ROOT, "card").unwrap();
        other.put(&card, "notes", "x").unwrap();
        other.commit();
        assert_eq!(
            run(&id, &mut before, &mut other, &w).unwrap_err().code,
            "forged_actor"
        );
        // Registering the device's own actor as a manager is forged too.
        let mut climb = before.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        register_actor(&mut climb, Role::DistrictManager, "a1").unwrap();
        climb.commit();
        assert_eq!(
            run(&id, &mut before, &mut climb, &w).unwrap_err().code,
            "forged_actor"
        );
    }

    #[test]
    fn an_agent_cannot_give_a_customer_away_or_delete_records() {
        let (id, mut before, me, reach) = setup();
        let w = Writer {
            user: &me,
            role: Role::Agent,
            actor: ME,
            reachable: &reach,
            codes: &codes(),
        };
        let mut give = before.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        let card = obj(&give, &ROOT, "card").unwrap();
        give.put(&card, "agent", "a2").unwrap();
        give.commit();
        assert_eq!(
            run(&id, &mut before, &mut give, &w).unwrap_err().code,
            "forbidden"
        );

        let mut base = before.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        put_visit(&mut base, "a1");
        let mut del = base.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        let visits = obj(&del, &ROOT, "visits").unwrap();
        let key = del.keys(&visits).next().unwrap();
        del.delete(&visits, key.as_str()).unwrap();
        del.commit();
        let r = run(&id, &mut base, &mut del, &w).unwrap_err();
        assert!(r.message.contains("deleted"), "{r:?}");
    }

    #[test]
    fn days_belong_to_their_agent_and_the_team_managers() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let me: UserId = "a1".parse().unwrap();
        let other: UserId = "a2".parse().unwrap();
        let reach = BTreeSet::from([me.clone()]);
        for (agent, role, reach, ok) in [
            (&me, Role::Agent, reach.clone(), true),
            (&other, Role::Agent, reach.clone(), false),
            (
                &other,
                Role::Supervisor,
                BTreeSet::from([other.clone()]),
                true,
            ),
        ] {
            let id = DocId::Day(agent.clone(), date);
            let mut before = AutoCommit::new();
            let mut after = genesis(&id, &ActorId::from(&[1u8, 1][..])).unwrap();
            let w = Writer {
                user: &me,
                role,
                actor: ME,
                reachable: &reach,
                codes: &codes(),
            };
            assert_eq!(
                run(&id, &mut before, &mut after, &w).is_ok(),
                ok,
                "{agent} {role:?}"
            );
        }
    }

    #[test]
    fn records_that_do_not_read_and_unregistered_writers_are_invalid() {
        let (id, mut before, me, reach) = setup();
        let w = Writer {
            user: &me,
            role: Role::Agent,
            actor: ME,
            reachable: &reach,
            codes: &codes(),
        };
        let mut weird = before.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        let card = obj(&weird, &ROOT, "card").unwrap();
        weird.put(&card, "status", "weird").unwrap();
        weird.commit();
        let r = run(&id, &mut before, &mut weird, &w).unwrap_err();
        assert_eq!(r.code, "invalid_record");
        assert!(r.message.contains("card.status"), "{r:?}");
        let mut unknown_kind = before.fork().with_actor(ActorId::from(&[1u8, 1][..]));
        put_visit(&mut unknown_kind, "a1");
        let visits = obj(&unknown_kind, &ROOT, "visits").unwrap();
        let v = unknown_kind.keys(&visits).next().unwrap();
        let vo = obj(&unknown_kind, &visits, &v).unwrap();
        unknown_kind.put(&vo, "kind", "teleport").unwrap();
        unknown_kind.commit();
        let r = run(&id, &mut before, &mut unknown_kind, &w).unwrap_err();
        assert!(r.message.contains(&format!("visits/{v}.kind")), "{r:?}");

        // Another device of the same member, writing before registering its actor.
        let w2 = Writer {
            actor: "0202",
            ..w.clone()
        };
        let mut silent = before.fork().with_actor(ActorId::from(&[2u8, 2][..]));
        let card = obj(&silent, &ROOT, "card").unwrap();
        silent.put(&card, "notes", "who wrote this?").unwrap();
        silent.commit();
        let r = run(&id, &mut before, &mut silent, &w2).unwrap_err();
        assert_eq!(r.code, "invalid_record");
        assert!(r.message.contains("actors.0202"), "{r:?}");
        let mut honest = before.fork().with_actor(ActorId::from(&[2u8, 2][..]));
        register_actor(&mut honest, Role::Agent, "a1").unwrap();
        let card = obj(&honest, &ROOT, "card").unwrap();
        honest.put(&card, "notes", "me").unwrap();
        honest.commit();
        assert_eq!(run(&id, &mut before, &mut honest, &w2), Ok(()));
    }

    #[test]
    fn a_write_is_authorised_against_the_committed_copy() {
        let (id, before, me, reach) = setup();
        let holder = |user: &UserId, reach: &BTreeSet<UserId>, before: &AutoCommit| {
            let w = Writer {
                user,
                role: Role::Agent,
                actor: ME,
                reachable: reach,
                codes: &codes(),
            };
            let mut after = before.clone();
            let heads = after.get_heads();
            check_holder(&w, &Incoming::new(&id, before, &heads, &mut after))
        };
        assert_eq!(holder(&me, &reach, &before), Ok(()));
        let other: UserId = "a2".parse().unwrap();
        let r = holder(&other, &BTreeSet::from([other.clone()]), &before).unwrap_err();
        assert_eq!(r.code, "forbidden");
        // Nothing committed yet: the device is creating it (check decides whose it becomes).
        assert_eq!(
            holder(&other, &BTreeSet::from([other.clone()]), &AutoCommit::new()),
            Ok(())
        );
    }

    /// The genesis test vectors of `docs/protocol.md` are what client-core computes, so a
    /// client in another language can check its genesis change against them.
    #[test]
    fn genesis_test_vectors_match_the_protocol_document() {
        let text = include_str!("../../docs/protocol.md");
        for id in [
            "customer:00000000-0000-0000-0000-000000000001",
            "day:A-0001:2026-06-15",
        ] {
            let hash = genesis_hash(&id.parse().unwrap()).unwrap();
            let actor = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, id.as_bytes());
            let actor: String = actor
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let row = format!("| `{id}` | `{actor}` | `{hash}` |");
            assert!(text.contains(&row), "docs/protocol.md lacks the row\n{row}");
        }
    }
}
