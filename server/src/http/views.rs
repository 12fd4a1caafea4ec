//! The managers' views as JSON: Today, Week, Month, the renewal pipeline, escalated problems
//! (answer, escalate), an agent's day (comment on a visit) and the week's spot check.
//!
//! Every route needs a manager (session cookie or a manager's device token; an agent is
//! `403`) and shows only the manager's own team; an agent or visit of another team is `404`
//! like one that does not exist. The numbers are computed by `crate::views` with client-core's
//! playbook; comments and answers are written through the manager's desk (see the store) so
//! they reach the agent's phone at its next sync.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::NaiveDate;
use client_core::model::{Comment, Problem};
use client_core::playbook::Language;
use client_core::{ProblemAction, ProblemId, UserId, VisitId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::language::{Lang, LangQuery};
use super::session::Manager;
use super::team::DateQuery;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::accounts::Member;
use crate::error::Error;
use crate::store::{ServerStore, TeamData};
use crate::views::{
    self, AgentDayView, PeriodKind, PeriodView, PipelineView, ProblemsView, SpotCheckView,
    TeamContext, TodayView,
};

/// The view routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(today))
        .routes(routes!(week))
        .routes(routes!(month))
        .routes(routes!(pipeline))
        .routes(routes!(problems))
        .routes(routes!(answer))
        .routes(routes!(agent_day))
        .routes(routes!(comment))
        .routes(routes!(spot_check))
        .routes(routes!(mark_checked))
}

/// Loads the team's data and computes a view on a blocking thread.
async fn team_view<R: Send + 'static>(
    state: &AppState,
    me: &Member,
    lang: Language,
    from: NaiveDate,
    to: NaiveDate,
    f: impl FnOnce(&TeamContext<'_>, &dyn ServerStore) -> crate::Result<R> + Send + 'static,
) -> Result<R, AppError> {
    let team = me.team.clone();
    blocking(state, move |s| {
        let data: TeamData = s.team_data(&team, from, to)?;
        let ctx = TeamContext::new(&data)?.in_language(lang);
        f(&ctx, s)
    })
    .await
}

/// Today: per agent, effective visits against the target, log, report, 10-3-1 and how fresh
/// the agent's data is.
#[utoipa::path(get, path = "/views/today", tag = "views", params(DateQuery, LangQuery),
    responses((status = 200, body = TodayView), (status = 403, description = "Not a manager")))]
async fn today(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
    Query(q): Query<DateQuery>,
) -> Result<Json<TodayView>, AppError> {
    let date = q.date()?;
    let v = team_view(
        &state,
        &me,
        lang,
        views::day_data_from(date),
        date,
        move |ctx, _| Ok(views::today(ctx, date, chrono::Local::now().naive_local())),
    )
    .await?;
    Ok(Json(v))
}

/// The week (work cycle): each agent against the week's gold-standard targets, the team
/// ratios and their trend per week.
#[utoipa::path(get, path = "/views/week", tag = "views", params(DateQuery, LangQuery),
    responses((status = 200, body = PeriodView), (status = 403, description = "Not a manager")))]
async fn week(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
    Query(q): Query<DateQuery>,
) -> Result<Json<PeriodView>, AppError> {
    period(state, me, lang, q, PeriodKind::Week).await
}

/// The month so far: each agent against the month's targets, the team ratios and their trend.
#[utoipa::path(get, path = "/views/month", tag = "views", params(DateQuery, LangQuery),
    responses((status = 200, body = PeriodView), (status = 403, description = "Not a manager")))]
async fn month(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
    Query(q): Query<DateQuery>,
) -> Result<Json<PeriodView>, AppError> {
    period(state, me, lang, q, PeriodKind::Month).await
}

async fn period(
    state: AppState,
    me: Member,
    lang: Language,
    q: DateQuery,
    kind: PeriodKind,
) -> Result<Json<PeriodView>, AppError> {
    let date = q.date()?;
    let v = team_view(
        &state,
        &me,
        lang,
        views::period_data_from(date),
        date,
        move |ctx, _| Ok(views::period(ctx, kind, date)),
    )
    .await?;
    Ok(Json(v))
}

/// The renewal pipeline: cross, receivable, due, transition and final months, collected or
/// not, against the week's collection-rate target; difficult, exited, dead and orphan lists.
#[utoipa::path(get, path = "/views/pipeline", tag = "views", params(DateQuery, LangQuery),
    responses((status = 200, body = PipelineView), (status = 403, description = "Not a manager")))]
async fn pipeline(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
    Query(q): Query<DateQuery>,
) -> Result<Json<PipelineView>, AppError> {
    let date = q.date()?;
    let v = team_view(&state, &me, lang, date, date, move |ctx, _| {
        Ok(views::pipeline(ctx, date))
    })
    .await?;
    Ok(Json(v))
}

/// Escalated problems of the team's evening reports, open first, with their escalation chain.
#[utoipa::path(get, path = "/views/problems", tag = "views", params(LangQuery),
    responses((status = 200, body = ProblemsView), (status = 403, description = "Not a manager")))]
async fn problems(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
) -> Result<Json<ProblemsView>, AppError> {
    let today = chrono::Local::now().date_naive();
    let viewer = me.clone();
    let v = team_view(&state, &me, lang, today, today, move |ctx, s| {
        let raised = s.team_problems(&ctx.data.team)?;
        Ok(views::problems(ctx, &viewer, raised))
    })
    .await?;
    Ok(Json(v))
}

/// An answer to a problem.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AnswerBody {
    /// The answer or the escalation note.
    pub text: String,
    /// `resolve` (answer and close), `escalate` (pass it one level up) or `note`.
    #[schema(value_type = String)]
    pub action: ProblemAction,
}

/// A manager answers, escalates or annotates a problem waiting at their level (or below); the
/// answer reaches the agent's phone at its next sync.
#[utoipa::path(post, path = "/problems/{id}/answer", tag = "views",
    params(("id" = String, Path, description = "The problem's id")),
    request_body = AnswerBody,
    responses(
        (status = 200, description = "The problem after the answer", body = serde_json::Value),
        (status = 403, description = "Not a manager, or the problem waits above the caller's level"),
        (status = 404, description = "No such problem in the caller's team"),
    ))]
async fn answer(
    State(state): State<AppState>,
    Manager(me): Manager,
    Path(id): Path<String>,
    Json(body): Json<AnswerBody>,
) -> Result<Json<Problem>, AppError> {
    let hidden = || Error::not_found("problem", &id);
    let pid: ProblemId = id.parse().map_err(|_| hidden())?;
    let team = me.team.clone();
    let author = me.clone();
    let desks = state.desks.clone();
    let problem = blocking(&state, move |s| {
        let raised = s
            .team_problems(&author.team)?
            .into_iter()
            .find(|r| r.problem.id == pid)
            .ok_or_else(|| Error::not_found("problem", pid))?;
        if !views::may_act(&author, raised.problem.level) {
            return Err(Error::Forbidden(format!(
                "the problem waits at {} level",
                raised.problem.level.code()
            )));
        }
        desks.answer_problem(s, &author, pid, &body.text, body.action)
    })
    .await?;
    state.events.changed(&team);
    Ok(Json(problem))
}

/// An agent's day: work log, evening report, and a timeline of visits, calls and SMS with
/// notes and managers' comments.
#[utoipa::path(get, path = "/agents/{user}/day", tag = "views",
    params(("user" = String, Path, description = "The agent's id"), DateQuery, LangQuery),
    responses(
        (status = 200, body = AgentDayView),
        (status = 403, description = "Not a manager"),
        (status = 404, description = "An agent outside the caller's team"),
    ))]
async fn agent_day(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
    Path(user): Path<String>,
    Query(q): Query<DateQuery>,
) -> Result<Json<AgentDayView>, AppError> {
    let date = q.date()?;
    let hidden = || Error::not_found("agent", &user);
    let agent: UserId = user.parse().map_err(|_| hidden())?;
    let caller = me.clone();
    let v = team_view(&state, &me, lang, date, date, move |ctx, s| {
        let target = s.member(&agent)?;
        if access::agent_records(&caller, target.as_ref()) != Access::Allowed {
            return Ok(None);
        }
        let records = s.agent_day(&agent, date)?;
        Ok(Some(views::agent_day(ctx, &agent, date, records)))
    })
    .await?;
    v.map(Json).ok_or_else(|| hidden().into())
}

/// A comment on a visit.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CommentBody {
    /// The comment.
    pub text: String,
}

/// A manager comments on a visit of their team; the comment reaches the agent's phone at its
/// next sync.
#[utoipa::path(post, path = "/visits/{id}/comments", tag = "views",
    params(("id" = String, Path, description = "The visit's id")),
    request_body = CommentBody,
    responses(
        (status = 200, description = "The comment", body = serde_json::Value),
        (status = 403, description = "Not a manager"),
        (status = 404, description = "No such visit in the caller's team"),
    ))]
async fn comment(
    State(state): State<AppState>,
    Manager(me): Manager,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> Result<Json<Comment>, AppError> {
    let hidden = || Error::not_found("visit", &id);
    let vid: VisitId = id.parse().map_err(|_| hidden())?;
    let author = me.clone();
    let desks = state.desks.clone();
    let comment = blocking(&state, move |s| {
        let Some(visit) = s.visit(vid)? else {
            return Ok(None);
        };
        let agent = s.member(&visit.agent)?;
        if access::agent_records(&author, agent.as_ref()) != Access::Allowed {
            return Ok(None);
        }
        desks.comment_visit(s, &author, vid, &body.text).map(Some)
    })
    .await?
    .ok_or_else(hidden)?;
    state.events.changed(&me.team);
    Ok(Json(comment))
}

/// This week's spot check: the agents drawn (the playbook's share, 30% by default) with their
/// visits, contacts, work logs and evening reports of the week.
#[utoipa::path(get, path = "/views/spot-check", tag = "views", params(DateQuery, LangQuery),
    responses((status = 200, body = SpotCheckView), (status = 403, description = "Not a manager")))]
async fn spot_check(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
    Query(q): Query<DateQuery>,
) -> Result<Json<SpotCheckView>, AppError> {
    let date = q.date()?;
    let v = team_view(
        &state,
        &me,
        lang,
        views::day_data_from(date),
        date,
        move |ctx, s| {
            let marks = s.spot_check_marks(&ctx.agent_ids(), views::spot_check_week(ctx, date))?;
            Ok(views::spot_check(ctx, date, marks))
        },
    )
    .await?;
    Ok(Json(v))
}

/// A spot check's conclusion.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckedBody {
    /// What the manager found (may be empty).
    #[serde(default)]
    pub note: String,
}

/// A manager marks an agent's week (the week, or work cycle, of `date`) as spot-checked, with a
/// note; marking it again replaces the mark. The Spot check view shows who checked, when and
/// what they noted.
#[utoipa::path(post, path = "/agents/{user}/spot-check", tag = "views",
    params(("user" = String, Path, description = "The agent's id"), DateQuery),
    request_body = CheckedBody,
    responses(
        (status = 200, description = "The mark", body = serde_json::Value),
        (status = 400, description = "The member is not an agent, or the note is too long"),
        (status = 403, description = "Not a manager"),
        (status = 404, description = "An agent outside the caller's team"),
    ))]
async fn mark_checked(
    State(state): State<AppState>,
    Manager(me): Manager,
    Path(user): Path<String>,
    Query(q): Query<DateQuery>,
    Json(body): Json<CheckedBody>,
) -> Result<Json<crate::store::SpotCheckMark>, AppError> {
    const MAX_NOTE_CHARS: usize = 2000;
    if body.note.chars().count() > MAX_NOTE_CHARS {
        return Err(
            Error::invalid("note", format!("longer than {MAX_NOTE_CHARS} characters")).into(),
        );
    }
    let date = q.date()?;
    let hidden = || Error::not_found("agent", &user);
    let agent: UserId = user.parse().map_err(|_| hidden())?;
    let caller = me.clone();
    let mark = team_view(
        &state,
        &me,
        Language::default(),
        date,
        date,
        move |ctx, s| {
            let target = s.member(&agent)?;
            if access::agent_records(&caller, target.as_ref()) != Access::Allowed {
                return Err(Error::not_found("agent", &agent));
            }
            if target.is_some_and(|t| t.role != client_core::model::Role::Agent) {
                return Err(Error::invalid("user", format!("{agent} is not an agent")));
            }
            s.mark_spot_check(
                &agent,
                views::spot_check_week(ctx, date),
                &caller.user,
                &body.note,
            )
        },
    )
    .await?;
    state.events.changed(&me.team);
    Ok(Json(mark))
}
