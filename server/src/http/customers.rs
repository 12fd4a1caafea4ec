//! `GET /v1/customers/{id}`: a customer's card, policies, visits, contacts, comments, conflicts
//! and full change history — for the agent it is assigned to and their team's managers.
//! `POST /v1/customers/{id}/assign`: a manager hands a customer of their team to another agent
//! of the team (what `doorstep admin assign` does on the server). `GET /v1/team/customers`:
//! the team's customers for the manager's reassigning, orphans first (their agent was
//! deactivated or is no member of the team).
//!
//! A customer outside the caller's reach is a `404`, exactly like one that does not exist.

use axum::extract::{Path, State};
use axum::Json;
use client_core::model::{Customer, Role};
use client_core::{CustomerId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::{Manager, Viewer};
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;
use crate::store::CustomerDetail;

/// The customer routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer))
        .routes(routes!(assign))
        .routes(routes!(team_customers))
}

/// Why a customer needs a new agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReason {
    /// Their agent was deactivated (left).
    Deactivated,
    /// They have no agent, or one who is no member of the team.
    NoAgent,
}

/// A customer as the reassigning list shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamCustomer {
    /// The customer's id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their agent.
    pub agent: Option<String>,
    /// The agent's name.
    pub agent_name: Option<String>,
    /// Their postcode.
    pub postcode: Option<String>,
    /// How many policies they hold.
    pub policies: usize,
    /// How many of those are orphan policies.
    pub orphan_policies: usize,
    /// Why they need a new agent; absent when they have an active one.
    pub orphan: Option<OrphanReason>,
}

/// The team's customers (managers): orphans first (agent deactivated, then none), then the
/// others by name.
#[utoipa::path(get, path = "/team/customers", tag = "customers",
    responses((status = 200, body = Vec<TeamCustomer>), (status = 403, description = "Not a manager")))]
async fn team_customers(
    State(state): State<AppState>,
    Manager(me): Manager,
) -> Result<Json<Vec<TeamCustomer>>, AppError> {
    let list = blocking(&state, move |s| {
        let today = chrono::Local::now().date_naive();
        let data = s.team_data(&me.team, today, today)?;
        let ws = &data.working_set;
        let mut out: Vec<TeamCustomer> = ws
            .customers
            .iter()
            .map(|c| {
                let member = c
                    .agent
                    .as_ref()
                    .and_then(|a| data.members.iter().find(|m| &m.member.user == a));
                let orphan = match member {
                    Some(m) if m.member.role == Role::Agent && m.active => None,
                    Some(m) if !m.active => Some(OrphanReason::Deactivated),
                    _ => Some(OrphanReason::NoAgent),
                };
                let policies: Vec<_> = ws.policies.iter().filter(|p| p.customer == c.id).collect();
                TeamCustomer {
                    id: c.id.to_string(),
                    name: c.name.clone(),
                    agent: c.agent.as_ref().map(|a| a.to_string()),
                    agent_name: member.map(|m| m.member.name.clone()),
                    postcode: c.postcode.clone(),
                    policies: policies.len(),
                    orphan_policies: policies
                        .iter()
                        .filter(|p| p.status == client_core::model::PolicyStatus::Orphan)
                        .count(),
                    orphan,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (a.orphan.is_none(), a.orphan, &a.name, &a.id).cmp(&(
                b.orphan.is_none(),
                b.orphan,
                &b.name,
                &b.id,
            ))
        });
        Ok(out)
    })
    .await?;
    Ok(Json(list))
}

/// A customer: card, policies, every visit and contact, managers' comments, conflicts and the
/// full change history (who changed what, when).
#[utoipa::path(
    get,
    path = "/customers/{id}",
    tag = "customers",
    params(("id" = String, Path, description = "The customer's UUID")),
    responses(
        (status = 200, description = "`customer`, `policies`, `visits`, `contacts`, `comments`, `conflicts`, `history`", body = serde_json::Value),
        (status = 404, description = "No such customer, or one outside the caller's reach"),
    )
)]
async fn customer(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Path(id): Path<String>,
) -> Result<Json<CustomerDetail>, AppError> {
    let hidden = || Error::not_found("customer", &id);
    let cid: CustomerId = id.parse().map_err(|_| hidden())?;
    let detail = blocking(&state, move |s| {
        let Some(owner) = s.customer_agent(cid)? else {
            return Ok(None);
        };
        let owner = match owner {
            Some(u) => s.member(&u)?,
            None => None,
        };
        if access::customer(&caller, owner.as_ref()) != Access::Allowed {
            return Ok(None);
        }
        s.customer_detail(cid)
    })
    .await?;
    detail.map(Json).ok_or_else(|| hidden().into())
}

/// Who a customer goes to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignBody {
    /// The agent of the caller's team who takes the customer over.
    pub agent: String,
}

/// A manager reassigns a customer of their team to another agent of the team: the old agent's
/// phone drops the customer at its next sync, the new agent's receives it; the change is in
/// the customer's history. When the old agent was deactivated, the customer's normal policies
/// become orphan policies (孤儿保单: their agent left), as `doorstep admin assign --orphan`
/// does. An agent is `403`; a customer or an agent outside the caller's team
/// is `404`; a member who is not an agent is `400`.
#[utoipa::path(
    post,
    path = "/customers/{id}/assign",
    tag = "customers",
    params(("id" = String, Path, description = "The customer's UUID")),
    request_body = AssignBody,
    responses(
        (status = 200, description = "The customer's card, with its new agent", body = serde_json::Value),
        (status = 400, description = "The member named is not an agent"),
        (status = 403, description = "Not a manager"),
        (status = 404, description = "No such customer or agent in the caller's team"),
    )
)]
async fn assign(
    State(state): State<AppState>,
    Manager(me): Manager,
    Path(id): Path<String>,
    Json(body): Json<AssignBody>,
) -> Result<Json<Customer>, AppError> {
    let hidden = || Error::not_found("customer", &id);
    let cid: CustomerId = id.parse().map_err(|_| hidden())?;
    let no_agent = || Error::not_found("agent", &body.agent);
    let agent: UserId = body.agent.parse().map_err(|_| no_agent())?;
    let caller = me.clone();
    let card = blocking(&state, move |s| {
        let owner = match s.customer_agent(cid)? {
            Some(Some(u)) => s.member(&u)?,
            _ => None,
        };
        let left = match &owner {
            Some(o) => !s.is_active(&o.user)?,
            None => false,
        };
        if access::customer(&caller, owner.as_ref()) != Access::Allowed {
            return Err(Error::not_found("customer", cid));
        }
        let target = s
            .member(&agent)?
            .filter(|m| m.team == caller.team)
            .ok_or_else(|| Error::not_found("agent", &agent))?;
        if target.role != Role::Agent {
            return Err(Error::invalid(
                "agent",
                format!("{} is a {}, not an agent", target.user, target.role.code()),
            ));
        }
        if !s.is_active(&target.user)? {
            return Err(Error::invalid(
                "agent",
                format!("{} is deactivated", target.user),
            ));
        }
        s.assign(cid, &agent, left)
    })
    .await?;
    tracing::info!(team = %me.team, user = %me.user, customer = %card.id, "customer reassigned from the dashboard");
    state.events.changed(&me.team);
    Ok(Json(card))
}
