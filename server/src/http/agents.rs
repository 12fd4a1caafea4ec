//! `GET /v1/agents/{user}/visits?date=YYYY-MM-DD`: an agent's visits of one day.
//!
//! An agent sees their own; a manager those of their team's agents. Another agent of the same
//! team is `403` (the caller knows the colleague exists); anyone outside the team is `404`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use client_core::model::Visit;
use client_core::UserId;

use super::auth::Caller;
use super::team::DateQuery;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;

/// The agent routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/agents/{user}/visits", get(visits))
}

async fn visits(
    State(state): State<AppState>,
    Caller(device): Caller,
    Path(user): Path<String>,
    Query(q): Query<DateQuery>,
) -> Result<Json<Vec<Visit>>, AppError> {
    let date = q.date()?;
    let hidden = || Error::not_found("agent", &user);
    let agent: UserId = user.parse().map_err(|_| hidden())?;
    let caller = device.member.clone();
    let visits = blocking(&state, move |s| {
        let target = s.member(&agent)?;
        match access::agent_records(&caller, target.as_ref()) {
            Access::Allowed => s.visits(&agent, date).map(Some),
            Access::Hidden => Ok(None),
            Access::Forbidden => Err(Error::Forbidden(format!(
                "{} may not read {agent}'s visits",
                caller.user
            ))),
        }
    })
    .await?;
    visits.map(Json).ok_or_else(|| hidden().into())
}
