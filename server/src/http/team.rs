//! `GET /v1/team/members` and `GET /v1/team/today`: the caller's own team; `POST
//! /v1/team/members`: a manager adds a member below them to it (what `doorstep admin user add`
//! does on the server); `POST /v1/team/members/{user}/deactivate` and `…/reactivate`: a
//! manager deactivates a member below them who left (their phones are revoked, they can no
//! longer log in, the lists leave them out, their customers become orphans to reassign) or
//! brings them back (`doorstep admin user deactivate` / `reactivate`).
//!
//! Every member may list their team (names, roles, last sync); only managers see the team's
//! day against the daily standard (`403` for agents). There is no way to name another team:
//! the team is always the caller's.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::{Manager, Viewer};
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::accounts::{Member, NewMember};
use crate::error::Error;
use crate::store::TeamMember;
use crate::views::{self, AgentToday, TeamContext};

/// The team routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(members, add_member))
        .routes(routes!(today))
        .routes(routes!(deactivate))
        .routes(routes!(reactivate))
}

/// The caller's team: every member with role, devices and last sync.
#[utoipa::path(
    get,
    path = "/team/members",
    tag = "team",
    responses(
        (status = 200, description = "`user`, `name`, `role`, `team`, `reports_to`, `devices`, `last_sync` per member", body = Vec<serde_json::Value>),
        (status = 401, description = "No session or token"),
    )
)]
async fn members(
    State(state): State<AppState>,
    Viewer(member): Viewer,
) -> Result<Json<Vec<TeamMember>>, AppError> {
    let team = member.team.clone();
    Ok(Json(
        blocking(&state, move |s| s.members(Some(&team))).await?,
    ))
}

/// `?date=YYYY-MM-DD` (today, by the server's clock, when omitted).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DateQuery {
    /// The day, `YYYY-MM-DD`; today when omitted.
    date: Option<String>,
}

impl DateQuery {
    /// The date asked for.
    pub fn date(&self) -> Result<chrono::NaiveDate, Error> {
        match &self.date {
            None => Ok(chrono::Local::now().date_naive()),
            Some(d) => client_core::layout::strict_date(d).ok_or_else(|| Error::Argument {
                what: "date",
                value: d.clone(),
                expected: "YYYY-MM-DD, a year from 1900 to 2199",
            }),
        }
    }
}

/// Every agent of the caller's team against the daily standard (managers only).
#[utoipa::path(
    get,
    path = "/team/today",
    operation_id = "team_today",
    tag = "team",
    params(DateQuery),
    responses(
        (status = 200, description = "`agent`, `name`, `last_sync`, `today` per agent", body = Vec<serde_json::Value>),
        (status = 403, description = "An agent"),
    )
)]
async fn today(
    State(state): State<AppState>,
    Viewer(member): Viewer,
    Query(q): Query<DateQuery>,
) -> Result<Json<Vec<AgentToday>>, AppError> {
    if access::team_dashboard(&member) != Access::Allowed {
        return Err(Error::Forbidden("only managers see the team's day".into()).into());
    }
    let date = q.date()?;
    let team = member.team.clone();
    Ok(Json(
        blocking(&state, move |s| {
            let data = s.team_data(&team, views::day_data_from(date), date)?;
            Ok(views::team_today(&TeamContext::new(&data)?, date))
        })
        .await?,
    ))
}

/// A new member of the caller's team.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewMemberBody {
    /// Their staff number (the id they log in and sync with).
    pub user: String,
    /// Their name.
    #[serde(default)]
    pub name: String,
    /// `agent`, `supervisor`, `department_manager` (below the caller's role).
    pub role: String,
    /// Their manager in the team; the caller when absent.
    #[serde(default)]
    pub reports_to: Option<String>,
}

/// A manager adds a member below them to their team: a supervisor adds agents, a department
/// manager supervisors and agents. `409` when the staff number is taken, `400` for an unknown
/// role or a manager who is not above the new member, `403` for a role not below the caller's.
#[utoipa::path(
    post,
    path = "/team/members",
    tag = "team",
    request_body = NewMemberBody,
    responses(
        (status = 200, description = "The member", body = serde_json::Value),
        (status = 400, description = "A bad id, role or manager"),
        (status = 403, description = "Not a manager, or the role is not below the caller's"),
        (status = 409, description = "The staff number is taken"),
    )
)]
async fn add_member(
    State(state): State<AppState>,
    Manager(me): Manager,
    axum::Json(body): axum::Json<NewMemberBody>,
) -> Result<Json<Member>, AppError> {
    let role = client_core::model::Role::from_code(body.role.trim())
        .ok_or_else(|| Error::invalid("role", format!("unknown role `{}`", body.role)))?;
    if access::add_member(&me, role) != Access::Allowed {
        return Err(Error::Forbidden(format!(
            "a {} adds members below them, not a {}",
            me.role.code(),
            role.code()
        ))
        .into());
    }
    let user =
        body.user.trim().parse().map_err(|_| {
            Error::invalid("user", format!("`{}` is not a staff number", body.user))
        })?;
    let reports_to =
        match body.reports_to.as_deref().map(str::trim) {
            None | Some("") => Some(me.user.clone()),
            Some(r) => Some(r.parse().map_err(|_| {
                Error::invalid("reports_to", format!("`{r}` is not a staff number"))
            })?),
        };
    let new = NewMember {
        user,
        name: body.name.trim().to_string(),
        role,
        team: me.team.clone(),
        reports_to,
    };
    let member = blocking(&state, move |s| s.add_member(new)).await?;
    tracing::info!(team = %me.team, user = %me.user, member = %member.user, "member added from the dashboard");
    state.events.changed(&me.team);
    Ok(Json(member))
}

/// Deactivates or reactivates a member below the caller in their team.
async fn set_active(
    state: AppState,
    me: crate::accounts::Member,
    user: String,
    active: bool,
) -> Result<Json<TeamMember>, AppError> {
    let hidden = || Error::not_found("user", user.trim());
    let user: client_core::UserId = user.trim().parse().map_err(|_| hidden())?;
    let caller = me.clone();
    let member = blocking(&state, move |s| {
        let target = s.member(&user)?;
        match access::deactivate_member(&caller, target.as_ref()) {
            Access::Allowed => s.set_active(&user, active, Some(&caller.user)),
            Access::Hidden => Err(Error::not_found("user", &user)),
            Access::Forbidden => Err(Error::Forbidden(format!(
                "{} may not change whether {user} is active",
                caller.user
            ))),
        }
    })
    .await?;
    tracing::info!(team = %me.team, user = %me.user, member = %member.member.user, active, "member's activity changed from the dashboard");
    state.events.changed(&me.team);
    Ok(Json(member))
}

/// A manager deactivates a member below them in their team (one who left): their phones are
/// revoked (they wipe the team's data at their next sync), their sessions and login links end,
/// Today, Week and Month leave them out (their history stays), and their customers are
/// orphans to reassign. Doing it twice changes nothing.
#[utoipa::path(post, path = "/team/members/{user}/deactivate", tag = "team",
    params(("user" = String, Path, description = "The member's staff number")),
    responses(
        (status = 200, description = "The member, `active: false`", body = serde_json::Value),
        (status = 403, description = "Not a manager, or the member is not below the caller"),
        (status = 404, description = "No such member in the caller's team"),
    ))]
async fn deactivate(
    State(state): State<AppState>,
    Manager(me): Manager,
    Path(user): Path<String>,
) -> Result<Json<TeamMember>, AppError> {
    set_active(state, me, user, false).await
}

/// A manager reactivates a member below them: they may log in again and are back in the
/// lists; their old phones stay revoked (issue a new one).
#[utoipa::path(post, path = "/team/members/{user}/reactivate", tag = "team",
    params(("user" = String, Path, description = "The member's staff number")),
    responses(
        (status = 200, description = "The member, `active: true`", body = serde_json::Value),
        (status = 403, description = "Not a manager, or the member is not below the caller"),
        (status = 404, description = "No such member in the caller's team"),
    ))]
async fn reactivate(
    State(state): State<AppState>,
    Manager(me): Manager,
    Path(user): Path<String>,
) -> Result<Json<TeamMember>, AppError> {
    set_active(state, me, user, true).await
}
