//! What an import of the policy list reads and writes on PostgreSQL
//! ([`crate::store::Imports`]): the customer each of a team's list keys became (`import_keys`,
//! read here), and the import itself (`apply_import`, written by `server_writes`).

use crate::accounts::TeamId;
use crate::error::Result;
use client_core::CustomerId;
use uuid::Uuid;

use super::store::PgStore;
use crate::store::{ImportPlan, Imports};

impl Imports for PgStore {
    fn import_key(&self, team: &TeamId, key: &str) -> Result<Option<CustomerId>> {
        // Only a customer that still exists (the index holds them, as on SQLite).
        let rows = self.db.write(|tx| {
            tx.query(
                "SELECT k.customer FROM import_keys k
                 WHERE k.team = $1 AND k.key = $2
                   AND EXISTS (SELECT 1 FROM customers c WHERE c.id = k.customer::text)",
                &[&team.as_str(), &key],
            )
        })?;
        Ok(rows
            .first()
            .map(|r| r.try_get::<_, Uuid>(0))
            .transpose()?
            .map(CustomerId::from))
    }

    fn apply_import(&self, plan: &ImportPlan) -> Result<Vec<CustomerId>> {
        self.apply_import_plan(plan)
    }
}
