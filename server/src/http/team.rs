//! `GET /v1/team/members` and `GET /v1/team/today`: the caller's own team.
//!
//! Every member may list their team (names, roles, last sync); only managers see the team's
//! day against the daily standard (`403` for agents). There is no way to name another team:
//! the team is always the caller's.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Caller;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;
use crate::store::{AgentToday, TeamMember};

/// The team routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/team/members", get(members))
        .route("/team/today", get(today))
}

async fn members(
    State(state): State<AppState>,
    Caller(device): Caller,
) -> Result<Json<Vec<TeamMember>>, AppError> {
    let team = device.member.team.clone();
    Ok(Json(
        blocking(&state, move |s| s.members(Some(&team))).await?,
    ))
}

/// `?date=YYYY-MM-DD` (today, by the server's clock, when omitted).
#[derive(Debug, Deserialize)]
pub struct DateQuery {
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

async fn today(
    State(state): State<AppState>,
    Caller(device): Caller,
    Query(q): Query<DateQuery>,
) -> Result<Json<Vec<AgentToday>>, AppError> {
    if access::team_dashboard(&device.member) != Access::Allowed {
        return Err(Error::Forbidden("only managers see the team's day".into()).into());
    }
    let date = q.date()?;
    let team = device.member.team.clone();
    Ok(Json(
        blocking(&state, move |s| s.team_today(&team, date)).await?,
    ))
}
