//! `GET /v1/team/members` and `GET /v1/team/today`: the caller's own team.
//!
//! Every member may list their team (names, roles, last sync); only managers see the team's
//! day against the daily standard (`403` for agents). There is no way to name another team:
//! the team is always the caller's.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::Viewer;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;
use crate::store::{AgentToday, TeamMember};

/// The team routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(members))
        .routes(routes!(today))
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
            Some(d) => {
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| Error::Argument {
                    what: "date",
                    value: d.clone(),
                    expected: "YYYY-MM-DD",
                })
            }
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
        blocking(&state, move |s| s.team_today(&team, date)).await?,
    ))
}
