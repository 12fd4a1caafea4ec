//! What the managers' views and the read API read: the projection of the team's documents
//! (customers, policies, visits, contacts, days, problems, comments), derivable from the
//! documents and kept up to date by every stored change.
//!
//! Reads only: nothing here counts (the views compute with client-core's playbook) and
//! nothing writes. An unknown id is `None` (or an empty list), never an error.

use chrono::NaiveDate;
use client_core::model::{Contact, Customer, Policy, Visit};
use client_core::{CustomerId, ProblemId, RaisedProblem, UserId, VisitId};

use super::{AgentDayRecords, CustomerDetail, TeamData};
use crate::accounts::TeamId;
use crate::error::Result;

/// The read side of the documents.
pub trait Projection: Send + Sync {
    /// Whom a customer is assigned to: `None` if the server has no such customer,
    /// `Some(None)` if it is assigned to nobody.
    fn customer_agent(&self, id: CustomerId) -> Result<Option<Option<UserId>>>;
    /// A customer's card.
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>>;
    /// A customer with policies, visits (numbered by start), contacts, comments, conflicts
    /// and history.
    fn customer_detail(&self, id: CustomerId) -> Result<Option<CustomerDetail>>;
    /// The policy with this company number, if any customer has one.
    fn policy_by_number(&self, number: &str) -> Result<Option<Policy>>;
    /// An agent's visits of one day, by start time.
    fn visits(&self, agent: &UserId, date: NaiveDate) -> Result<Vec<Visit>>;
    /// One visit.
    fn visit(&self, id: VisitId) -> Result<Option<Visit>>;
    /// One raised problem, with the agent and day whose report holds it.
    fn problem(&self, id: ProblemId) -> Result<Option<RaisedProblem>>;
    /// The data the managers' views compute over, for `from..=to` (unknown team:
    /// `NotFound`).
    fn team_data(&self, team: &TeamId, from: NaiveDate, to: NaiveDate) -> Result<TeamData>;
    /// The problems raised in the evening reports of a team's agents, oldest first.
    fn team_problems(&self, team: &TeamId) -> Result<Vec<RaisedProblem>>;
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
}
