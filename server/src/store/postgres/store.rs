//! [`PgStore`]: the server's store on PostgreSQL, the same six traits as the embedded
//! SQLite store ([`crate::store::ServerStore`]) over one [`PgDatabase`], so that several
//! `doorstep serve` instances can share one database (issue 12).
//!
//! The traits are implemented one file each beside this one (`accounts`, `sessions`,
//! `documents_impl`, `projection`, `imports`, `logs`); what several of them read — a team's
//! members, its playbook and the playbook codes its records may use — is here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_core::layout::Codes;
use client_core::playbook::Playbook;
use client_core::protocol::PlaybookUpdate;

use super::{PgDatabase, PgOptions};
use crate::accounts::TeamId;
use crate::error::Result;
use crate::store::sqlite::{sha256_hex, BUILT_IN_PLAYBOOK};

/// The server's store on PostgreSQL.
pub struct PgStore {
    pub(super) db: PgDatabase,
    /// Playbook codes per team, keyed by the hashes of the playbooks they were built from.
    codes: Mutex<HashMap<String, (String, Arc<Codes>)>>,
    pub(super) sync_budget: Duration,
    /// Working sets read lately, for the managers' views (`working_sets`).
    pub(super) sets: Mutex<super::working_sets::SetCache>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("db", &self.db).finish()
    }
}

impl PgStore {
    /// Connects to the database at `url`, migrating it to this build's schema.
    pub fn open(url: &str, options: PgOptions) -> Result<PgStore> {
        Ok(PgStore::on(PgDatabase::open(url, options)?))
    }

    /// [`PgStore::open`] with a parsed configuration.
    pub fn open_config(config: postgres::Config, options: PgOptions) -> Result<PgStore> {
        Ok(PgStore::on(PgDatabase::open_config(config, options)?))
    }

    /// The store over an opened database.
    pub fn on(db: PgDatabase) -> PgStore {
        PgStore {
            db,
            codes: Mutex::new(HashMap::new()),
            sync_budget: crate::sync_plan::SYNC_BUDGET,
            sets: Mutex::default(),
        }
    }

    /// The same store, giving each sync request `budget` to work on its messages
    /// (`doorstep serve --sync-budget-ms`).
    pub fn with_sync_budget(mut self, budget: Duration) -> Self {
        self.sync_budget = budget;
        self
    }

    /// The database under the store.
    pub fn database(&self) -> &PgDatabase {
        &self.db
    }

    /// The playbook in force for a team: its own, or the built-in insurance playbook.
    pub fn playbook_of(&self, team: &TeamId) -> Result<PlaybookUpdate> {
        let own = self.db.write(|tx| {
            let row = tx.query(
                "SELECT toml, hash FROM playbooks WHERE team = $1",
                &[&team.as_str()],
            )?;
            Ok(row
                .first()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))))
        })?;
        Ok(match own {
            Some((toml, hash)) => PlaybookUpdate { hash, toml },
            None => PlaybookUpdate {
                hash: sha256_hex(BUILT_IN_PLAYBOOK.as_bytes()),
                toml: BUILT_IN_PLAYBOOK.to_string(),
            },
        })
    }

    /// The playbook codes records of a team may use: the union over every playbook the team
    /// has had in force (the built-in one and each file put in force since), as on SQLite.
    pub fn codes_of(&self, team: &TeamId) -> Result<Arc<Codes>> {
        let files: Vec<(String, String)> = self.db.write(|tx| {
            let rows = tx.query(
                "SELECT hash, toml FROM playbook_history WHERE team = $1
                 UNION SELECT hash, toml FROM playbooks WHERE team = $1
                 ORDER BY 1",
                &[&team.as_str()],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        let key: String = files.iter().map(|(h, _)| h.as_str()).collect();
        let mut cache = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, c)) = cache.get(team.as_str()) {
            if *k == key {
                return Ok(c.clone());
            }
        }
        let mut books = vec![Playbook::insurance()];
        for (_, toml) in &files {
            books.push(Playbook::from_toml_str(
                &format!("playbook of {team}"),
                toml,
            )?);
        }
        let codes = Arc::new(Codes::of(&books));
        cache.insert(team.as_str().to_string(), (key, codes.clone()));
        Ok(codes)
    }
}
