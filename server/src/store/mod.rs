//! The server's storage, behind narrow traits so that the HTTP handlers and the server's rules
//! never see SQL.
//!
//! Each trait holds one kind of thing and states its promises (idempotence, ordering, what
//! "not found" returns): [`Accounts`] (teams, members, devices, tokens), [`Sessions`] (the
//! dashboard's passwords, sessions and login links), [`Documents`] (the documents, their changes
//! and the sync of one request), [`Projection`] (what the views read), [`Imports`] (what an
//! import of the policy list writes) and [`Logs`] (refused messages, spot-check marks).
//! [`ServerStore`] is all of them, for the handlers' `Arc<dyn ServerStore>`; a new store
//! implements the traits one by one and runs [`conformance`], the suite every implementation
//! passes. Methods are synchronous and short; the HTTP layer calls them from `spawn_blocking`.
//! The embedded implementation is [`sqlite::SqliteStore`] (one SQLite file per server:
//! client-core's documents and index, plus the server's own tables).
//!
//! The rules the stores apply live outside them, in store-agnostic modules: who reaches what
//! (`access`), what a device may write (`verify`), how a history reads (`history`), what an
//! import matches (`matching`), a manager's desk (`desk`), the views' numbers (`views`).

mod accounts;
pub mod conformance;
mod documents;
mod group_commit;
mod imports;
mod logins;
mod logs;
pub mod postgres;
mod projection;
mod schema;
mod sessions;
pub mod sqlite;
mod sync;
mod team_data;
mod working_sets;

use chrono::NaiveDate;
use client_core::model::{Comment, Conflict, Contact, Customer, Day, Policy, Visit};
use client_core::protocol::PlaybookUpdate;
use client_core::{CustomerId, UserId};
use serde::Serialize;

use crate::accounts::{DeviceId, Member, TeamId};
use crate::history::HistoryEntry;

pub use accounts::Accounts;
pub use documents::{Documents, GroupCommitCounts};
pub use imports::{ImportPlan, Imports, PlannedCard, PlannedCustomer, PlannedPolicy};
pub use logs::Logs;
pub use projection::Projection;
pub use sessions::Sessions;
pub use sqlite::SqliteStore;
pub use sync::SYNC_BUDGET;
pub use working_sets::SetReads;

/// Everything the server asks of its storage: the narrow traits together, for the handlers'
/// `Arc<dyn ServerStore>`. Implemented for every type that implements them all.
pub trait ServerStore: Accounts + Sessions + Documents + Projection + Imports + Logs {}

impl<S: Accounts + Sessions + Documents + Projection + Imports + Logs> ServerStore for S {}

/// A member as the team list shows them.
#[derive(Clone, Debug, Serialize)]
pub struct TeamMember {
    /// The member.
    #[serde(flatten)]
    pub member: Member,
    /// Devices issued and not revoked.
    pub devices: usize,
    /// Whether they are active (a deactivated member cannot log in or sync, has no phone and
    /// is left out of the team's lists; their history stays).
    pub active: bool,
    /// When one of their devices last completed a sync (RFC 3339).
    pub last_sync: Option<String>,
}

/// A customer with everything the team record holds about them.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerDetail {
    /// The card.
    pub customer: Customer,
    /// Policies.
    pub policies: Vec<Policy>,
    /// Visits, numbered by start time.
    pub visits: Vec<Visit>,
    /// Calls and SMS.
    pub contacts: Vec<Contact>,
    /// Managers' comments on visits.
    pub comments: Vec<Comment>,
    /// Fields edited concurrently, with the values that lost.
    pub conflicts: Vec<Conflict>,
    /// Every change of the customer's document, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// What the managers' views of a team compute over: the playbook in force, the members (with
/// their last sync) and the records of the team's agents over a period.
#[derive(Clone, Debug)]
pub struct TeamData {
    /// The team.
    pub team: TeamId,
    /// The playbook in force (the team's own or the built-in one).
    pub playbook: PlaybookUpdate,
    /// Every member of the team.
    pub members: Vec<TeamMember>,
    /// The team's agents' customers and policies (all of them), and their visits, contacts
    /// and days within the period.
    pub working_set: std::sync::Arc<client_core::playbook::WorkingSet>,
}

/// A manager's mark that an agent's week was spot-checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpotCheckMark {
    /// The agent checked.
    pub agent: UserId,
    /// The first day of the week (cycle) checked.
    pub week_from: NaiveDate,
    /// Who checked.
    pub checked_by: UserId,
    /// What they noted.
    pub note: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// One agent's day as the server holds it: the day document and every visit and contact
/// with the managers' comments and the customers' names.
#[derive(Clone, Debug, Default)]
pub struct AgentDayRecords {
    /// The work log and evening report, if synced.
    pub day: Option<Day>,
    /// The visits of the day.
    pub visits: Vec<Visit>,
    /// The calls and SMS of the day.
    pub contacts: Vec<Contact>,
    /// Managers' comments on those visits.
    pub comments: Vec<Comment>,
    /// The names of the customers concerned.
    pub customer_names: Vec<(CustomerId, String)>,
}

/// A refused sync message, as logged.
#[derive(Clone, Debug, Serialize)]
pub struct RejectionRecord {
    /// The device that sent it.
    pub device: DeviceId,
    /// Its member.
    pub user: String,
    /// The document.
    pub doc: String,
    /// `forbidden`, `forged_actor`, `corrupt`.
    pub code: String,
    /// Why.
    pub message: String,
    /// First time this exact message was refused.
    pub first_at: String,
    /// Last time (a retried request refreshes it instead of logging again).
    pub last_at: String,
    /// How many times it was sent.
    pub attempts: i64,
}
