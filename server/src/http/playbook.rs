//! `GET|PUT /v1/team/playbook`: the playbook in force for the caller's team, and a manager
//! putting a new one in force from a file (the dashboard uploads it; `doorstep admin playbook`
//! does the same from the command line).
//!
//! The file is validated by client-core before it is stored; devices receive it at their next
//! sync, and the views count with it at once — no code changes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use client_core::playbook::{Language, Playbook};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::language::{Lang, LangQuery};
use super::session::{Manager, Viewer};
use super::{blocking, AppError, AppState};
use crate::error::Error;

/// The largest playbook file accepted.
const MAX_PLAYBOOK_BYTES: usize = 1 << 20;

/// The playbook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_playbook, put_playbook))
}

/// A team's playbook.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamPlaybook {
    /// Its short name.
    pub name: String,
    /// What screens call it, in the asked language.
    pub title: String,
    /// The language of `title` and `labels` (`zh-CN` or `en`).
    pub lang: String,
    /// What screens show for each code records store, in the asked language.
    pub labels: Labels,
    /// The SHA-256 of the file (devices send it back when they sync).
    pub hash: String,
    /// The file (TOML).
    pub toml: String,
}

/// Code → label, per kind of code.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Labels {
    /// Customer grades.
    pub grades: BTreeMap<String, String>,
    /// Visit kinds.
    pub visit_kinds: BTreeMap<String, String>,
    /// Visit purposes.
    pub purposes: BTreeMap<String, String>,
    /// Call and SMS purposes.
    pub contact_purposes: BTreeMap<String, String>,
    /// Outcomes of visits and calls.
    pub outcomes: BTreeMap<String, String>,
}

fn describe(hash: String, toml: String, lang: Language) -> Result<TeamPlaybook, Error> {
    let pb = Playbook::from_toml_str("playbook", &toml)?.in_language(lang);
    let map = |pairs: Vec<(&String, &String)>| {
        pairs
            .into_iter()
            .map(|(c, l)| (c.clone(), l.clone()))
            .collect()
    };
    let labels = Labels {
        grades: map(pb.grades.iter().map(|x| (&x.code, &x.label)).collect()),
        visit_kinds: map(pb.visit_kinds.iter().map(|x| (&x.code, &x.label)).collect()),
        purposes: map(pb.purposes.iter().map(|x| (&x.code, &x.label)).collect()),
        contact_purposes: map(pb
            .contact_purposes
            .iter()
            .map(|x| (&x.code, &x.label))
            .collect()),
        outcomes: map(pb.outcomes.iter().map(|x| (&x.code, &x.label)).collect()),
    };
    Ok(TeamPlaybook {
        name: pb.name,
        title: pb.title,
        lang: lang.tag().to_string(),
        labels,
        hash,
        toml,
    })
}

/// The playbook in force for the caller's team (its own, or the built-in insurance playbook).
#[utoipa::path(get, path = "/team/playbook", tag = "team", params(LangQuery),
    responses((status = 200, body = TeamPlaybook), (status = 401, description = "No session or token")))]
async fn get_playbook(
    State(state): State<AppState>,
    Viewer(me): Viewer,
    Lang(lang): Lang,
) -> Result<Json<TeamPlaybook>, AppError> {
    let team = me.team.clone();
    let p = blocking(&state, move |s| {
        let d = s.team_data(&team, chrono::NaiveDate::MIN, chrono::NaiveDate::MIN)?;
        describe(d.playbook.hash, d.playbook.toml, lang)
    })
    .await?;
    Ok(Json(p))
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
    Lang(lang): Lang,
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
        describe(u.hash, u.toml, lang)
    })
    .await?;
    tracing::info!(team = %me.team, user = %me.user, playbook = %p.name, "playbook set from the dashboard");
    state.events.changed(&me.team);
    Ok(Json(p))
}
