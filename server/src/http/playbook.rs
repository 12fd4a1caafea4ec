//! `GET|PUT /v1/team/playbook`: the playbook in force for the caller's team, and a manager
//! putting a new one in force from a file (the dashboard uploads it; `doorstep admin playbook`
//! does the same from the command line). `GET /v1/team/playbook/vocabulary`: its codes and
//! labels for building forms, the same answer the phone library gives (client-core's
//! `Playbook::form_vocabulary`).
//!
//! `POST /v1/team/playbook/preview`: any manager sees what a file would put in force — its
//! labels, targets and ratios, in the asked language — or why it is refused, without applying
//! it. Putting one in force takes a department manager or above.
//!
//! The file is validated by client-core before it is stored; devices receive it at their next
//! sync, and the views count with it at once — no code changes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::Json;
use client_core::playbook::{Language, Playbook};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::language::{Lang, LangQuery};
use super::session::{Manager, Viewer};
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;

/// The largest playbook file accepted.
const MAX_PLAYBOOK_BYTES: usize = 1 << 20;

/// The playbook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_playbook, put_playbook))
        .routes(routes!(get_vocabulary))
        .routes(routes!(preview_playbook))
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

/// What a playbook file would put in force, as the dashboard shows it before it applies.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookPreview {
    /// Its name, title, labels (in the asked language) and hash.
    #[serde(flatten)]
    pub playbook: TeamPlaybook,
    /// The daily standard: effective visits, calls, meetings, results a day; whether a work
    /// log and an evening report are due, and by when.
    #[schema(value_type = Object)]
    pub daily: client_core::playbook::DailyStandard,
    /// The targets, in the file's order.
    pub targets: Vec<TargetPreview>,
    /// The team ratios.
    pub ratios: Vec<RatioPreview>,
    /// Whether the caller may put it in force (a department manager or above).
    pub may_apply: bool,
}

/// One target of a previewed playbook.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetPreview {
    /// `day`, `week` or `month`.
    pub period: String,
    /// The week (cycle) of the month it applies to, if only one.
    pub week: Option<u32>,
    /// What screens call it.
    pub label: String,
    /// `count` or `percent`.
    #[schema(value_type = String)]
    pub unit: crate::views::Unit,
    /// The number to reach, and the good and excellent tiers.
    pub target: f64,
    /// The good tier.
    pub good: Option<f64>,
    /// The excellent tier.
    pub excellent: Option<f64>,
}

/// One team ratio of a previewed playbook.
#[derive(Debug, Serialize, ToSchema)]
pub struct RatioPreview {
    /// What screens call it.
    pub label: String,
    /// The share to reach, in percent.
    pub min_pct: f64,
    /// The top of the band, if any.
    pub max_pct: Option<f64>,
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

/// `?lang=zh|en` (else the language the request negotiates: cookie, Accept-Language).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VocabularyQuery {
    /// The labels' language: `zh` or `en` (or a tag of one, `zh-CN`, `en-US`).
    lang: Option<String>,
}

/// The playbook's vocabulary for forms: visit kinds, purposes, contact purposes, outcomes (with
/// `requires_amount` / `requires_date`) and grades, each a `code` and a `label`.
#[utoipa::path(get, path = "/team/playbook/vocabulary", tag = "team", params(VocabularyQuery),
    responses(
        (status = 200, description = "`playbook`, `title`, `language`, `grades`, `visit_kinds`, `purposes`, `contact_purposes`, `outcomes`", body = serde_json::Value),
        (status = 400, description = "An unknown language"),
        (status = 401, description = "No session or token"),
    ))]
async fn get_vocabulary(
    State(state): State<AppState>,
    Viewer(me): Viewer,
    Lang(negotiated): Lang,
    Query(q): Query<VocabularyQuery>,
) -> Result<Json<client_core::playbook::FormVocabulary>, AppError> {
    let team = me.team.clone();
    let lang = q.lang.unwrap_or_else(|| match negotiated {
        Language::English => "en".to_string(),
        Language::Chinese => "zh".to_string(),
    });
    let v = blocking(&state, move |s| {
        let d = s.team_data(&team, chrono::NaiveDate::MIN, chrono::NaiveDate::MIN)?;
        let pb = Playbook::from_toml_str("playbook", &d.playbook.toml)?;
        Ok(pb.form_vocabulary(&lang)?)
    })
    .await?;
    Ok(Json(v))
}

/// The body of a playbook upload as text, within the size limit.
fn playbook_text(body: &Bytes) -> Result<String, Error> {
    if body.len() > MAX_PLAYBOOK_BYTES {
        return Err(Error::TooLarge(format!(
            "a playbook over {MAX_PLAYBOOK_BYTES} bytes"
        )));
    }
    String::from_utf8(body.to_vec()).map_err(|_| Error::invalid("playbook", "not UTF-8 text"))
}

/// What a playbook file (the body) would put in force, validated, in the asked language,
/// without applying it (managers).
#[utoipa::path(post, path = "/team/playbook/preview", tag = "team", params(LangQuery),
    request_body(content = String, description = "The playbook file (TOML)", content_type = "text/plain"),
    responses(
        (status = 200, body = PlaybookPreview),
        (status = 400, description = "Not a valid playbook (the message names the field and line)"),
        (status = 403, description = "Not a manager"),
    ))]
async fn preview_playbook(
    Manager(me): Manager,
    Lang(lang): Lang,
    body: Bytes,
) -> Result<Json<PlaybookPreview>, AppError> {
    let toml = playbook_text(&body)?;
    let hash: String = Sha256::digest(toml.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pb = Playbook::from_toml_str("playbook", &toml)?.in_language(lang);
    let targets = pb
        .targets
        .iter()
        .map(|t| TargetPreview {
            period: serde_json::to_value(t.period)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            week: t.week,
            label: t.label(),
            unit: crate::views::Unit::of(t.metric),
            target: t.target,
            good: t.good,
            excellent: t.excellent,
        })
        .collect();
    let ratios = pb
        .team
        .ratios
        .iter()
        .map(|r| RatioPreview {
            label: r
                .label
                .clone()
                .unwrap_or_else(|| r.measure.code().to_string()),
            min_pct: r.min_pct,
            max_pct: r.max_pct,
        })
        .collect();
    let daily = pb.daily.clone();
    Ok(Json(PlaybookPreview {
        playbook: describe(hash, toml, lang)?,
        daily,
        targets,
        ratios,
        may_apply: access::set_playbook(&me) == Access::Allowed,
    }))
}

/// Puts a playbook (the TOML file as the body) in force for the caller's team (a department
/// manager or above: it changes every agent's targets).
#[utoipa::path(put, path = "/team/playbook", tag = "team", params(LangQuery),
    request_body(content = String, description = "The playbook file (TOML), e.g. docs/playbooks/car-insurance.toml", content_type = "text/plain"),
    responses(
        (status = 200, body = TeamPlaybook),
        (status = 400, description = "Not a valid playbook (the message names the field)"),
        (status = 403, description = "Not a department manager or above"),
    ))]
async fn put_playbook(
    State(state): State<AppState>,
    Manager(me): Manager,
    Lang(lang): Lang,
    body: Bytes,
) -> Result<Json<TeamPlaybook>, AppError> {
    if access::set_playbook(&me) != Access::Allowed {
        return Err(Error::Forbidden(format!(
            "{} is a {}: only a department manager or above puts a playbook in force for the team",
            me.user,
            me.role.code()
        ))
        .into());
    }
    let toml = playbook_text(&body)?;
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
