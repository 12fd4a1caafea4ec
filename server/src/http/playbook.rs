//! `GET|PUT /v1/team/playbook`: the playbook in force for the caller's team, and a manager
//! putting a new one in force from a file (the dashboard uploads it; `doorstep admin playbook`
//! does the same from the command line). `GET /v1/team/playbook/vocabulary`: its codes and
//! labels for building forms, the same answer the phone library gives (client-core's
//! `Playbook::form_vocabulary`).
//!
//! The file is validated by client-core before it is stored; devices receive it at their next
//! sync, and the views count with it at once — no code changes.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::Json;
use client_core::playbook::Playbook;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::{Manager, Viewer};
use super::{blocking, AppError, AppState};
use crate::error::Error;

/// The largest playbook file accepted.
const MAX_PLAYBOOK_BYTES: usize = 1 << 20;

/// The playbook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_playbook, put_playbook))
        .routes(routes!(get_vocabulary))
}

/// A team's playbook.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamPlaybook {
    /// Its short name.
    pub name: String,
    /// What screens call it.
    pub title: String,
    /// The SHA-256 of the file (devices send it back when they sync).
    pub hash: String,
    /// The file (TOML).
    pub toml: String,
}

fn describe(hash: String, toml: String) -> Result<TeamPlaybook, Error> {
    let pb = Playbook::from_toml_str("playbook", &toml)?;
    Ok(TeamPlaybook {
        name: pb.name,
        title: pb.title,
        hash,
        toml,
    })
}

/// The playbook in force for the caller's team (its own, or the built-in insurance playbook).
#[utoipa::path(get, path = "/team/playbook", tag = "team",
    responses((status = 200, body = TeamPlaybook), (status = 401, description = "No session or token")))]
async fn get_playbook(
    State(state): State<AppState>,
    Viewer(me): Viewer,
) -> Result<Json<TeamPlaybook>, AppError> {
    let team = me.team.clone();
    let p = blocking(&state, move |s| {
        let d = s.team_data(&team, chrono::NaiveDate::MIN, chrono::NaiveDate::MIN)?;
        describe(d.playbook.hash, d.playbook.toml)
    })
    .await?;
    Ok(Json(p))
}

/// `?lang=zh|en` (`zh` when omitted).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// The labels' language: `zh` or `en`.
    lang: Option<String>,
}

/// The playbook's vocabulary for forms: visit kinds, purposes, contact purposes, outcomes (with
/// `requires_amount` / `requires_date`) and grades, each a `code` and a `label`.
#[utoipa::path(get, path = "/team/playbook/vocabulary", tag = "team", params(LangQuery),
    responses(
        (status = 200, description = "`playbook`, `title`, `language`, `grades`, `visit_kinds`, `purposes`, `contact_purposes`, `outcomes`", body = serde_json::Value),
        (status = 400, description = "An unknown language"),
        (status = 401, description = "No session or token"),
    ))]
async fn get_vocabulary(
    State(state): State<AppState>,
    Viewer(me): Viewer,
    Query(q): Query<LangQuery>,
) -> Result<Json<client_core::playbook::FormVocabulary>, AppError> {
    let team = me.team.clone();
    let lang = q.lang.unwrap_or_else(|| "zh".to_string());
    let v = blocking(&state, move |s| {
        let d = s.team_data(&team, chrono::NaiveDate::MIN, chrono::NaiveDate::MIN)?;
        let pb = Playbook::from_toml_str("playbook", &d.playbook.toml)?;
        Ok(pb.form_vocabulary(&lang)?)
    })
    .await?;
    Ok(Json(v))
}

/// Puts a playbook (the TOML file as the body) in force for the caller's team (managers).
#[utoipa::path(put, path = "/team/playbook", tag = "team",
    request_body(content = String, description = "The playbook file (TOML), e.g. docs/playbooks/car-insurance.toml", content_type = "text/plain"),
    responses(
        (status = 200, body = TeamPlaybook),
        (status = 400, description = "Not a valid playbook (the message names the field)"),
        (status = 403, description = "Not a manager"),
    ))]
async fn put_playbook(
    State(state): State<AppState>,
    Manager(me): Manager,
    body: Bytes,
) -> Result<Json<TeamPlaybook>, AppError> {
    if body.len() > MAX_PLAYBOOK_BYTES {
        return Err(Error::TooLarge(format!("a playbook over {MAX_PLAYBOOK_BYTES} bytes")).into());
    }
    let toml = String::from_utf8(body.to_vec())
        .map_err(|_| Error::invalid("playbook", "not UTF-8 text"))?;
    let team = me.team.clone();
    let p = blocking(&state, move |s| {
        let u = s.set_playbook(&team, &toml)?;
        describe(u.hash, u.toml)
    })
    .await?;
    tracing::info!(team = %me.team, user = %me.user, playbook = %p.name, "playbook set from the dashboard");
    state.events.changed(&me.team);
    Ok(Json(p))
}
