//! What an import of the policy list writes on PostgreSQL ([`crate::store::Imports`]): the
//! customer each of the list's keys became (`import_keys`), and the plan itself, written by
//! `server_writes`.

use crate::accounts::TeamId;
use crate::error::Result;
use client_core::CustomerId;

use super::store::PgStore;
use crate::store::{ImportPlan, Imports};

impl Imports for PgStore {
    fn import_key(&self, team: &TeamId, key: &str) -> Result<Option<CustomerId>> {
        // The customer must still exist (their card in the index), as on SQLite.
        let found: Option<uuid::Uuid> = self.db.write(|tx| {
            let rows = tx.query(
                "SELECT k.customer FROM import_keys k
                 JOIN customers c ON c.id = k.customer::text
                 WHERE k.team = $1 AND k.key = $2",
                &[&team.as_str(), &key],
            )?;
            Ok(rows.first().map(|r| r.get(0)))
        })?;
        Ok(found.map(|u| u.to_string().parse()).transpose()?)
    }

    fn apply_import(&self, plan: &ImportPlan) -> Result<Vec<CustomerId>> {
        self.apply_import_plan(plan)
    }
}
