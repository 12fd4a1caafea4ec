//! What a store does for an import of the company's policy list: it remembers which customer
//! each of the list's customer keys became, and it writes an import decided elsewhere
//! (`crate::matching` decides which customer and policy each row matches and what changes).
//!
//! The store writes the plan as the server's own user, customer by customer in the plan's
//! order, with the changes logged for the customers' history; it decides nothing.

use client_core::model::{CustomerPatch, NewCustomer, NewPolicy, PolicyPatch};
use client_core::{CustomerId, PolicyId};

use crate::accounts::TeamId;
use crate::error::Result;

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
    /// an unknown customer or policy is `NotFound`.
    fn apply_import(&self, plan: &ImportPlan) -> Result<Vec<CustomerId>>;
}
