//! What a store does for an import of the company's policy list: it remembers which customer
//! each of the list's customer keys became, and it writes an import decided elsewhere
//! (`crate::matching` decides which customer and policy each row matches and what changes).
//!
//! The store writes the plan as the server's own user, customer by customer in the plan's
//! order, with the changes logged for the customers' history; it decides nothing. A plan is
//! decided from what was committed before it, so two imports of one list at once could both
//! plan a customer as new: under the lock its write holds (one that serialises imports of a
//! team), a store first checks the plan is still fresh ([`check_fresh`]) and otherwise writes
//! nothing and answers `Error::StaleImport`, and matching plans again.

use std::collections::{HashMap, HashSet};

use client_core::model::{CustomerPatch, NewCustomer, NewPolicy, PolicyPatch};
use client_core::{CustomerId, PolicyId};

use crate::accounts::TeamId;
use crate::error::{Error, Result};

/// An import, decided: what to write for each customer of the list, in the list's order.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportPlan {
    /// The team whose list it is (the customer keys are the team's).
    pub team: TeamId,
    /// One entry per customer of the list.
    pub customers: Vec<PlannedCustomer>,
}

/// One customer of an import and their policies.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedCustomer {
    /// The list's key for the customer (`PolicyRow::customer_key`).
    pub key: String,
    /// Create them, or edit who they already are.
    pub card: PlannedCard,
    /// Their policies to create or edit, in the list's order.
    pub policies: Vec<PlannedPolicy>,
}

/// What happens to a customer's card.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannedCard {
    /// A new customer; the store records `key` → their id for the next import.
    New(NewCustomer),
    /// A customer an earlier import created; `None`: nothing on the card changes.
    Existing(CustomerId, Option<CustomerPatch>),
}

/// What happens to one policy.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannedPolicy {
    /// A new policy of this customer.
    New(NewPolicy),
    /// An existing policy of this customer, edited.
    Existing(PolicyId, PolicyPatch),
}

/// The store's side of an import.
pub trait Imports: Send + Sync {
    /// The customer an earlier import of `team` created for this key, if that customer still
    /// exists.
    fn import_key(&self, team: &TeamId, key: &str) -> Result<Option<CustomerId>>;
    /// Writes a plan: each customer created or edited, then their policies; the keys of new
    /// customers recorded. Returns the customers' ids in the plan's order. A plan that names
    /// an unknown customer or policy is `NotFound`. A plan another import made stale (see
    /// [`check_fresh`], checked under the write's lock before anything is written) writes
    /// nothing and is `Error::StaleImport`.
    fn apply_import(&self, plan: &ImportPlan) -> Result<Vec<CustomerId>>;
}

impl ImportPlan {
    /// The customer keys of the plan, in its order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.customers.iter().map(|c| c.key.as_str())
    }

    /// The numbers of the policies the plan creates, in its order.
    pub fn new_policy_numbers(&self) -> impl Iterator<Item = &str> {
        self.customers
            .iter()
            .flat_map(|c| &c.policies)
            .filter_map(|p| match p {
                PlannedPolicy::New(new) => Some(new.number.as_str()),
                PlannedPolicy::Existing(..) => None,
            })
    }
}

/// Whether `plan` still holds against what the store holds now: `keys_now` the customer each
/// of the plan's keys ([`ImportPlan::keys`]) names now, as [`Imports::import_key`] answers
/// (a key naming nobody is absent), `numbers_held` which of the numbers of
/// [`ImportPlan::new_policy_numbers`] a policy has now. A customer planned as new whose key
/// names a customer now, one planned as existing whose key names another customer now, or a
/// policy planned as new whose number exists now make it stale (`Error::StaleImport`). A store
/// reads both under the lock its import writes under, before writing anything.
pub fn check_fresh(
    plan: &ImportPlan,
    keys_now: &HashMap<String, CustomerId>,
    numbers_held: &HashSet<String>,
) -> Result<()> {
    for planned in &plan.customers {
        match (&planned.card, keys_now.get(&planned.key)) {
            (PlannedCard::New(_), Some(id)) => {
                return Err(Error::StaleImport(format!(
                    "customer key {:?} of team {} names customer {id} now",
                    planned.key, plan.team
                )));
            }
            (PlannedCard::Existing(id, _), Some(other)) if other != id => {
                return Err(Error::StaleImport(format!(
                    "customer key {:?} of team {} names customer {other}, not {id}, now",
                    planned.key, plan.team
                )));
            }
            _ => {}
        }
    }
    if let Some(n) = plan
        .new_policy_numbers()
        .find(|n| numbers_held.contains(*n))
    {
        return Err(Error::StaleImport(format!(
            "policy number {n:?} exists now"
        )));
    }
    Ok(())
}
