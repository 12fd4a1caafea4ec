//! `GET /v1/agents/{user}/visits?date=YYYY-MM-DD`: an agent's visits of one day.
//!
//! An agent sees their own; a manager those of their team's agents. Another agent of the same
//! team is `403` (the caller knows the colleague exists); anyone outside the team is `404`.

use axum::extract::{Path, Query, State};
use axum::Json;
use client_core::model::Visit;
use client_core::UserId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::Viewer;
use super::team::DateQuery;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;

/// The agent routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(visits))
}

/// An agent's visits of one day, by start time.
#[utoipa::path(
    get,
    path = "/agents/{user}/visits",
    tag = "agents",
    params(("user" = String, Path, description = "The agent's id"), DateQuery),
    responses(
        (status = 200, description = "The visits", body = Vec<serde_json::Value>),
        (status = 403, description = "A colleague's visits"),
        (status = 404, description = "An agent outside the caller's team"),
    )
)]
async fn visits(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Path(user): Path<String>,
    Query(q): Query<DateQuery>,
) -> Result<Json<Vec<Visit>>, AppError> {
    let date = q.date()?;
    let hidden = || Error::not_found("agent", &user);
    let agent: UserId = user.parse().map_err(|_| hidden())?;
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
