//! What an import of the policy list writes on PostgreSQL ([`crate::store::Imports`]).
//!
//! Not yet written: every method answers an internal error naming itself.

use crate::accounts::TeamId;
use crate::error::Result;
use client_core::CustomerId;

use super::store::{not_yet, PgStore};
use crate::store::{ImportPlan, Imports};

impl Imports for PgStore {
    fn import_key(&self, _team: &TeamId, _key: &str) -> Result<Option<CustomerId>> {
        Err(not_yet("Imports::import_key"))
    }

    fn apply_import(&self, plan: &ImportPlan) -> Result<Vec<CustomerId>> {
        self.apply_import_plan(plan)
    }
}
