//! The server's storage, behind one trait so that the HTTP handlers never see SQL.
//!
//! [`ServerStore`] is everything the handlers and `doorstep admin` ask of storage: accounts
//! and devices, the batched sync of one device's request, and the read API's queries. Its
//! methods are synchronous and short; the HTTP layer calls them from `spawn_blocking`. The
//! embedded implementation is [`sqlite::SqliteStore`] (one SQLite file per server: client-core's
//! documents and index, plus the server's own tables); a PostgreSQL store can implement the
//! same trait later without touching a handler.
//!
//! The rules the stores apply live outside them, in store-agnostic modules: who reaches what
//! (`access`), what a device may write (`verify`), how a history reads (`history`).

mod schema;
pub mod sqlite;
mod sync;

use chrono::NaiveDate;
use client_core::model::{Comment, Conflict, Contact, Customer, Policy, Visit};
use client_core::playbook::TodayStatus;
use client_core::protocol::{PlaybookUpdate, SyncRequest, SyncResponse};
use client_core::{CustomerId, UserId};
use serde::Serialize;

use crate::accounts::{Device, DeviceId, DeviceInfo, IssuedDevice, Member, NewMember, TeamId};
use crate::error::Result;
use crate::history::HistoryEntry;
use crate::import::PolicyRow;

pub use sqlite::SqliteStore;

/// A member as the team list shows them.
#[derive(Clone, Debug, Serialize)]
pub struct TeamMember {
    /// The member.
    #[serde(flatten)]
    pub member: Member,
    /// Devices issued and not revoked.
    pub devices: usize,
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

/// One agent's day as a manager's dashboard shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AgentToday {
    /// The agent.
    pub agent: UserId,
    /// Their name.
    pub name: String,
    /// When one of their devices last completed a sync: the numbers below are what the server
    /// had then ("not yet synced" is not "not done").
    pub last_sync: Option<String>,
    /// The day against the daily standard, computed with client-core's playbook.
    pub today: TodayStatus,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Customers created.
    pub customers_created: usize,
    /// Existing customers whose card changed.
    pub customers_updated: usize,
    /// Policies created.
    pub policies_created: usize,
    /// Existing policies that changed.
    pub policies_updated: usize,
    /// Customer ids, in the order of the file.
    pub customers: Vec<CustomerId>,
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

/// Everything the server asks of its storage.
pub trait ServerStore: Send + Sync {
    /// Creates a team.
    fn create_team(&self, team: &TeamId) -> Result<()>;
    /// Adds a member to a team.
    fn add_member(&self, new: NewMember) -> Result<Member>;
    /// One member.
    fn member(&self, user: &UserId) -> Result<Option<Member>>;
    /// The members of a team (every team's with `None`), by role then id.
    fn members(&self, team: Option<&TeamId>) -> Result<Vec<TeamMember>>;
    /// Issues a device for a member: its token is in the result and nowhere else.
    fn issue_device(&self, user: &UserId) -> Result<IssuedDevice>;
    /// Revokes a device: its next request is told to wipe its data.
    fn revoke_device(&self, device: DeviceId) -> Result<DeviceInfo>;
    /// Every device (never a token).
    fn devices(&self) -> Result<Vec<DeviceInfo>>;
    /// Puts a playbook (TOML text, validated) in force for a team.
    fn set_playbook(&self, team: &TeamId, toml: &str) -> Result<PlaybookUpdate>;
    /// Imports the company's policy list for a team: creates or updates customers and
    /// policies (matched by customer name and phone, and by policy number).
    fn import_policies(&self, team: &TeamId, rows: &[PolicyRow]) -> Result<ImportReport>;
    /// Reassigns a customer to another agent; with `orphan`, their normal policies become
    /// orphan policies (their agent left).
    fn assign(&self, customer: CustomerId, agent: &UserId, orphan: bool) -> Result<Customer>;
    /// The latest refused sync messages.
    fn rejections(&self, limit: usize) -> Result<Vec<RejectionRecord>>;
    /// The device a bearer token belongs to (`None`: unknown token); records that it was seen.
    fn authenticate(&self, token: &str) -> Result<Option<Device>>;
    /// Runs one sync request of an authenticated, not revoked device (see `docs/protocol.md`).
    fn sync(&self, device: &Device, request: &SyncRequest) -> Result<SyncResponse>;
    /// Whom a customer is assigned to: `None` if the server has no such customer,
    /// `Some(None)` if it is assigned to nobody.
    fn customer_agent(&self, id: CustomerId) -> Result<Option<Option<UserId>>>;
    /// A customer with policies, visits, contacts, comments, conflicts and history.
    fn customer_detail(&self, id: CustomerId) -> Result<Option<CustomerDetail>>;
    /// An agent's visits of one day, by start time.
    fn visits(&self, agent: &UserId, date: NaiveDate) -> Result<Vec<Visit>>;
    /// Every agent of a team against the daily standard on `date`.
    fn team_today(&self, team: &TeamId, date: NaiveDate) -> Result<Vec<AgentToday>>;
}
