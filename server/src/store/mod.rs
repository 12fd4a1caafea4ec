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

mod desk;
mod logins;
pub mod postgres;
mod schema;
pub mod sqlite;
mod sync;
mod team_data;
mod working_sets;

use chrono::NaiveDate;
use client_core::model::{Comment, Conflict, Contact, Customer, Day, Policy, Problem, Visit};
use client_core::playbook::TodayStatus;
use client_core::protocol::{PlaybookUpdate, SyncRequest, SyncResponse};
use client_core::{CustomerId, ProblemAction, ProblemId, RaisedProblem, UserId, VisitId};
use serde::Serialize;

use crate::accounts::{Device, DeviceId, DeviceInfo, IssuedDevice, Member, NewMember, TeamId};
use crate::error::Result;
use crate::history::HistoryEntry;
use crate::import::PolicyRow;

pub use sqlite::SqliteStore;
pub use sync::SYNC_BUDGET;
pub use working_sets::SetReads;

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
    /// Deactivates (`active: false`: revokes their phones, ends their sessions and login links)
    /// or reactivates a member; `by` is who did it. Doing it twice changes nothing.
    fn set_active(&self, user: &UserId, active: bool, by: Option<&UserId>) -> Result<TeamMember>;
    /// Whether a member is active (not deactivated; `true` for an unknown id).
    fn is_active(&self, user: &UserId) -> Result<bool>;
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

    // ----- managers' dashboard --------------------------------------------------------

    /// Stores a member's password hash (PHC string, see `logins`).
    fn set_password(&self, user: &UserId, phc: &str) -> Result<()>;
    /// A member's password hash, if one was set.
    fn password_hash(&self, user: &UserId) -> Result<Option<String>>;
    /// Records a dashboard session (by the hash of its token) valid until `expires_at`
    /// (RFC 3339, UTC).
    fn create_session(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()>;
    /// The member of a live session (`None`: unknown or expired).
    fn session_member(&self, token_hash: &str) -> Result<Option<Member>>;
    /// Ends a session.
    fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Records a one-time login link (by the hash of its token) valid until `expires_at`.
    fn create_login_link(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()>;
    /// Uses up a login link: its member, if it existed and had not expired.
    fn redeem_login_link(&self, token_hash: &str) -> Result<Option<UserId>>;
    /// The data the managers' views compute over, for `from..=to`.
    fn team_data(&self, team: &TeamId, from: NaiveDate, to: NaiveDate) -> Result<TeamData>;
    /// The problems raised in the evening reports of a team's agents, oldest first.
    fn team_problems(&self, team: &TeamId) -> Result<Vec<RaisedProblem>>;
    /// One visit.
    fn visit(&self, id: VisitId) -> Result<Option<Visit>>;
    /// One agent's day: log, report, visits, contacts and comments.
    fn agent_day(&self, agent: &UserId, date: NaiveDate) -> Result<AgentDayRecords>;
    /// Visits of some agents whose day is within `from..=to`, by start.
    fn visits_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Visit>>;
    /// Calls and SMS of some agents within `from..=to`, by time.
    fn contacts_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Contact>>;
    /// A manager comments on a visit: written under the manager's own actor (their desk on
    /// the server) so that it reaches the agent's phone at its next sync with its author.
    fn comment_visit(&self, author: &Member, visit: VisitId, text: &str) -> Result<Comment>;
    /// A manager answers, escalates or annotates a problem (as `comment_visit`).
    fn answer_problem(
        &self,
        author: &Member,
        problem: ProblemId,
        text: &str,
        action: ProblemAction,
    ) -> Result<Problem>;
    /// Marks an agent's week (cycle starting `week_from`) as spot-checked by `by` with a note;
    /// marking it again replaces the mark.
    fn mark_spot_check(
        &self,
        agent: &UserId,
        week_from: NaiveDate,
        by: &UserId,
        note: &str,
    ) -> Result<SpotCheckMark>;
    /// The spot-check marks of a week (cycle starting `week_from`) for these agents.
    fn spot_check_marks(
        &self,
        agents: &[UserId],
        week_from: NaiveDate,
    ) -> Result<Vec<SpotCheckMark>>;
    /// A number that grows whenever the server stores a change of a document (the live
    /// dashboard compares it before and after a sync).
    fn change_seq(&self) -> Result<i64>;
}
