//! What the server itself writes into documents on PostgreSQL, as its own user: a customer
//! reassigned to another agent (`Documents::assign`) and an import of the policy list
//! (`Imports::apply_import`).
//!
//! There is no client-core `Store` here: each customer's document is loaded under its row lock
//! (`DocumentTx::merge`), edited with the same functions `Store` uses (`client_core::edits`:
//! the same checks, the same fields written, the server's actor registered in `actors` as
//! `district_manager:server`), and appended with its index rows; the new changes go into the
//! change log (via `admin`). A whole assignment or a whole import is one transaction: a failed
//! import writes nothing.
//!
//! The server writes with one actor, kept in `server_meta` (key `actor`, made on first use;
//! `doorstep admin migrate` copies the embedded store's). Several instances share it safely:
//! an actor's sequence numbers are per document, and a document is only written under its row
//! lock, after loading every change stored before.

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, AutoCommit};
use client_core::documents::genesis;
use client_core::edits::{self, Writer};
use client_core::index::read_customer;
use client_core::model::{Customer, CustomerPatch, PolicyPatch, PolicyStatus, Role};
use client_core::playbook::Playbook;
use client_core::{CustomerId, DocId, UserId};
use uuid::Uuid;

use super::documents::{DocumentTx, Merged};
use super::store::PgStore;
use crate::error::{Error, Result};
use crate::store::imports::check_fresh;
use crate::store::sqlite::SERVER_USER;
use crate::store::{ImportPlan, PlannedCard, PlannedPolicy};

/// The first key of the transaction-scoped advisory lock an import holds while it writes
/// (`pg_advisory_xact_lock(IMPORT_LOCK_CLASS, hashtext(team))`; "IMPT" in ASCII): imports of
/// one team wait for each other. The two-key form never meets the migrations' one-key lock.
pub const IMPORT_LOCK_CLASS: i32 = 0x494d_5054;

/// The `server_meta` key of the actor the server writes documents with.
pub const SERVER_ACTOR_KEY: &str = "actor";

/// The actor the server writes documents with: the stored one, or a new one stored now
/// (instances creating it at once agree: the second insert waits for the first and keeps it).
fn server_actor(tx: &mut DocumentTx<'_>) -> Result<ActorId> {
    tx.execute(
        "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        &[&SERVER_ACTOR_KEY, &ActorId::random().to_hex_string()],
    )?;
    let rows = tx.query(
        "SELECT value FROM server_meta WHERE key = $1",
        &[&SERVER_ACTOR_KEY],
    )?;
    let hex: &str = rows
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::Internal("the server's actor vanished".into()))?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::invalid("server_meta.actor", format!("{hex:?} is not hex")))?;
    Ok(ActorId::from(bytes))
}

/// Who the server writes as, and when.
struct Own {
    user: UserId,
    actor: ActorId,
    at: client_core::model::Timestamp,
    /// The playbook the server's checks use: as the embedded store's own `client_core::Store`
    /// (its home never gets a team's playbook), the built-in one.
    playbook: Playbook,
}

impl Own {
    fn new(tx: &mut DocumentTx<'_>) -> Result<Own> {
        Ok(Own {
            user: SERVER_USER.parse()?,
            actor: server_actor(tx)?,
            at: chrono::Local::now().fixed_offset(),
            playbook: Playbook::insurance(),
        })
    }

    fn writer(&self) -> Writer<'_> {
        Writer {
            role: Role::DistrictManager,
            user: &self.user,
            at: self.at,
        }
    }

    /// The card of the customer document `d` (which must hold one).
    fn card(&self, d: &AutoCommit, doc: &DocId, id: CustomerId) -> Result<Customer> {
        read_customer(d, doc)
            .customer
            .ok_or_else(|| Error::not_found("customer", id))
    }

    /// Writes a card patch into `d`, as `Store::edit_customer` does.
    fn edit_card(
        &self,
        d: &mut AutoCommit,
        doc: &DocId,
        id: CustomerId,
        patch: CustomerPatch,
    ) -> Result<Customer> {
        let today = self.at.date_naive();
        let (c, fields) =
            edits::patch_customer(self.card(d, doc, id)?, patch, &self.playbook, today)?;
        edits::change(d, doc, self.writer(), &[edits::card_record()], |d| {
            edits::write_card(d, &fields)
        })?;
        Ok(c)
    }

    /// Writes a policy patch into `d`, as `Store::edit_policy` does; a policy the customer's
    /// document lacks is `NotFound`.
    fn edit_policy(
        &self,
        d: &mut AutoCommit,
        doc: &DocId,
        id: client_core::PolicyId,
        patch: PolicyPatch,
    ) -> Result<()> {
        let current = read_customer(d, doc)
            .policies
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| Error::not_found("policy", id))?;
        let (_, fields) = edits::patch_policy(current, patch)?;
        edits::change(d, doc, self.writer(), &[edits::policy_record(id)], |d| {
            edits::write_policy(d, id, &fields, false)
        })?;
        Ok(())
    }

    /// Switches a loaded customer document to the server's actor; an empty one (the database
    /// does not hold it) is `NotFound`.
    fn take(&self, d: &mut AutoCommit, id: CustomerId) -> Result<()> {
        if d.get_heads().is_empty() {
            return Err(Error::not_found("customer", id));
        }
        d.set_actor(self.actor.clone());
        Ok(())
    }
}

/// What an import does to one customer's card.
enum Card<'p> {
    /// A new customer, checked, with their new id.
    New(Box<Customer>),
    /// A customer an earlier import created, and their card's patch if it changes.
    Existing(Option<&'p CustomerPatch>),
}

/// Records the changes a merge added in the change log, as the server's own (`admin`).
fn log_own(tx: &mut DocumentTx<'_>, doc: &DocId, merged: &mut Merged<impl Sized>) -> Result<()> {
    let hashes: Vec<_> = merged
        .doc
        .get_changes(&merged.before)
        .iter()
        .map(|c| c.hash())
        .collect();
    tx.log_changes(doc, &hashes, "admin")?;
    Ok(())
}

/// Whether `user` is a member (deactivated or not, as on SQLite).
fn is_member(tx: &mut DocumentTx<'_>, user: &UserId) -> Result<bool> {
    Ok(!tx
        .query("SELECT 1 FROM users WHERE id = $1", &[&user.as_str()])?
        .is_empty())
}

impl PgStore {
    /// Reassigns a customer (see `Documents::assign`).
    pub(super) fn assign_customer(
        &self,
        customer: CustomerId,
        agent: &UserId,
        orphan: bool,
    ) -> Result<Customer> {
        let doc = DocId::Customer(customer);
        self.db.write(|tx| {
            if !is_member(tx, agent)? {
                return Err(Error::not_found("user", agent));
            }
            let own = Own::new(tx)?;
            let mut merged = tx.merge(&doc, |d| {
                own.take(d, customer)?;
                let patch = CustomerPatch {
                    agent: Some(Some(agent.clone())),
                    ..CustomerPatch::default()
                };
                let card = own.edit_card(d, &doc, customer, patch)?;
                if orphan {
                    let normal: Vec<_> = read_customer(d, &doc)
                        .policies
                        .into_iter()
                        .filter(|p| p.status == PolicyStatus::Normal)
                        .map(|p| p.id)
                        .collect();
                    for p in normal {
                        let patch = PolicyPatch {
                            status: Some(PolicyStatus::Orphan),
                            ..PolicyPatch::default()
                        };
                        own.edit_policy(d, &doc, p, patch)?;
                    }
                }
                Ok(card)
            })?;
            log_own(tx, &doc, &mut merged)?;
            Ok(merged.value)
        })
    }

    /// Writes an import plan decided by `crate::matching` (see `Imports::apply_import`), in one
    /// transaction: any failure (an unknown customer or policy, a card the checks refuse)
    /// writes nothing. The transaction first takes the team's import lock
    /// ([`IMPORT_LOCK_CLASS`]), so imports of one team, on any instance, write one after the
    /// other, and then checks the plan is still fresh (`imports::check_fresh`, reading what
    /// the imports before it committed): a stale plan is `Error::StaleImport`.
    pub(super) fn apply_import_plan(&self, plan: &ImportPlan) -> Result<Vec<CustomerId>> {
        self.db.write(|tx| {
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&IMPORT_LOCK_CLASS, &plan.team.as_str()],
            )?;
            let keys: Vec<&str> = plan.keys().collect();
            let keys_now = tx
                .query(
                    "SELECT k.key, k.customer FROM import_keys k
                     WHERE k.team = $1 AND k.key = ANY($2)
                       AND EXISTS (SELECT 1 FROM customers c WHERE c.id = k.customer::text)",
                    &[&plan.team.as_str(), &keys],
                )?
                .iter()
                .map(|r| Ok((r.try_get(0)?, CustomerId::from(r.try_get::<_, Uuid>(1)?))))
                .collect::<Result<HashMap<String, CustomerId>>>()?;
            let numbers: Vec<&str> = plan.new_policy_numbers().collect();
            let numbers_held = tx
                .query(
                    "SELECT DISTINCT number FROM policies WHERE number = ANY($1)",
                    &[&numbers],
                )?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect::<Result<HashSet<String>>>()?;
            check_fresh(plan, &keys_now, &numbers_held)?;
            let own = Own::new(tx)?;
            let mut ids = Vec::with_capacity(plan.customers.len());
            for planned in &plan.customers {
                let (id, card) = match &planned.card {
                    PlannedCard::Existing(id, patch) => (*id, Card::Existing(patch.as_ref())),
                    PlannedCard::New(new) => {
                        let today = own.at.date_naive();
                        let c = edits::new_customer(new.clone(), &own.user, &own.playbook, today)?;
                        tx.execute(
                            "INSERT INTO import_keys (team, key, customer) VALUES ($1, $2, $3)
                             ON CONFLICT (team, key) DO UPDATE SET customer = excluded.customer",
                            &[&plan.team.as_str(), &planned.key, &c.id.as_uuid()],
                        )?;
                        (c.id, Card::New(Box::new(c)))
                    }
                };
                let doc = DocId::Customer(id);
                let mut merged = tx.merge(&doc, |d| {
                    match &card {
                        Card::New(c) => {
                            if !d.get_heads().is_empty() {
                                return Err(Error::Internal(format!("new customer {id} exists")));
                            }
                            *d = genesis(&doc, &own.actor)?;
                            let fields = edits::card_fields(c);
                            edits::change(d, &doc, own.writer(), &[edits::card_record()], |d| {
                                edits::write_card(d, &fields)
                            })?;
                        }
                        Card::Existing(patch) => {
                            own.take(d, id)?;
                            if let Some(patch) = patch {
                                own.edit_card(d, &doc, id, (*patch).clone())?;
                            }
                        }
                    }
                    for policy in &planned.policies {
                        match policy {
                            PlannedPolicy::New(new) => {
                                let p = edits::new_policy(&own.card(d, &doc, id)?, new.clone())?;
                                let fields = edits::policy_fields(&p);
                                let touched = [edits::policy_record(p.id)];
                                edits::change(d, &doc, own.writer(), &touched, |d| {
                                    edits::write_policy(d, p.id, &fields, true)
                                })?;
                            }
                            PlannedPolicy::Existing(pid, patch) => {
                                own.edit_policy(d, &doc, *pid, patch.clone())?;
                            }
                        }
                    }
                    Ok(())
                })?;
                log_own(tx, &doc, &mut merged)?;
                ids.push(id);
            }
            Ok(ids)
        })
    }
}
