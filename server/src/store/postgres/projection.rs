//! What the views read on PostgreSQL ([`crate::store::Projection`]).
//!
//! Not yet written: every method answers an internal error naming itself.

use crate::accounts::TeamId;
use crate::error::Result;
use crate::store::{AgentDayRecords, CustomerDetail, TeamData};
use chrono::NaiveDate;
use client_core::model::{Contact, Customer, Policy, Visit};
use client_core::{CustomerId, ProblemId, RaisedProblem, UserId, VisitId};

use super::store::{not_yet, PgStore};
use crate::store::Projection;

impl Projection for PgStore {
    fn customer_agent(&self, _id: CustomerId) -> Result<Option<Option<UserId>>> {
        Err(not_yet("Projection::customer_agent"))
    }

    fn customer(&self, _id: CustomerId) -> Result<Option<Customer>> {
        Err(not_yet("Projection::customer"))
    }

    fn customer_detail(&self, _id: CustomerId) -> Result<Option<CustomerDetail>> {
        Err(not_yet("Projection::customer_detail"))
    }

    fn policy_by_number(&self, _number: &str) -> Result<Option<Policy>> {
        Err(not_yet("Projection::policy_by_number"))
    }

    fn visits(&self, _agent: &UserId, _date: NaiveDate) -> Result<Vec<Visit>> {
        Err(not_yet("Projection::visits"))
    }

    fn visit(&self, _id: VisitId) -> Result<Option<Visit>> {
        Err(not_yet("Projection::visit"))
    }

    fn problem(&self, _id: ProblemId) -> Result<Option<RaisedProblem>> {
        Err(not_yet("Projection::problem"))
    }

    fn team_data(&self, _team: &TeamId, _from: NaiveDate, _to: NaiveDate) -> Result<TeamData> {
        Err(not_yet("Projection::team_data"))
    }

    fn team_problems(&self, _team: &TeamId) -> Result<Vec<RaisedProblem>> {
        Err(not_yet("Projection::team_problems"))
    }

    fn agent_day(&self, _agent: &UserId, _date: NaiveDate) -> Result<AgentDayRecords> {
        Err(not_yet("Projection::agent_day"))
    }

    fn visits_between(
        &self,
        _agents: &[UserId],
        _from: NaiveDate,
        _to: NaiveDate,
    ) -> Result<Vec<Visit>> {
        Err(not_yet("Projection::visits_between"))
    }

    fn contacts_between(
        &self,
        _agents: &[UserId],
        _from: NaiveDate,
        _to: NaiveDate,
    ) -> Result<Vec<Contact>> {
        Err(not_yet("Projection::contacts_between"))
    }
}
