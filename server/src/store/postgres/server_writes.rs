//! What the server itself writes into documents on PostgreSQL, as its own user: a customer
//! reassigned to another agent (`Documents::assign`) and an import of the policy list
//! (`Imports::apply_import`).
//!
//! Not yet written: every function answers an internal error naming itself.

use client_core::model::Customer;
use client_core::{CustomerId, UserId};

use crate::store::ImportPlan;

use super::store::{not_yet, PgStore};
use crate::error::Result;

impl PgStore {
    /// Reassigns a customer (see `Documents::assign`).
    pub(super) fn assign_customer(
        &self,
        _customer: CustomerId,
        _agent: &UserId,
        _orphan: bool,
    ) -> Result<Customer> {
        Err(not_yet("Documents::assign"))
    }

    /// Writes an import plan decided by `crate::matching` (see `Imports::apply_import`).
    pub(super) fn apply_import_plan(&self, _plan: &ImportPlan) -> Result<Vec<CustomerId>> {
        Err(not_yet("Imports::apply_import"))
    }
}
