//! The team's devices from the dashboard: `GET /v1/team/devices` lists the phones of the
//! caller's team (never a token, never a manager's desk on the server), `POST
//! /v1/team/devices` issues one and answers with its one-time enrolment link and the link's
//! QR code (SVG, drawn here: the page loads nothing else), `POST /v1/devices/{id}/revoke`
//! revokes one — what `doorstep admin device issue --link` and `device revoke` do on the
//! server, for a manager whose agent joins, lost a phone or left.
//!
//! The token is in the answer's link only: the server keeps its SHA-256, and nothing logs it
//! (the trace layer records method, path and status; the handler logs the device's id).
//!
//! A revoked phone's next sync is refused with `"wipe": true`, and it deletes its data (see
//! `docs/protocol.md`). Who may revoke what is `access::revoke_device`: the phones of the
//! members below the caller in their own team; another team's device is `404` like one that
//! does not exist.

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::peer::Peer;
use super::session::Manager;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::accounts::{DeviceId, DeviceInfo};
use crate::error::Error;
use client_core::UserId;

/// The device routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(team_devices, issue))
        .routes(routes!(revoke))
}

/// A phone of the team, as the dashboard lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDevice {
    /// The device's id.
    pub id: String,
    /// Its member.
    pub user: String,
    /// The member's name.
    pub name: String,
    /// The member's role's code.
    pub role: String,
    /// Whether it is revoked.
    pub revoked: bool,
    /// When it was issued (RFC 3339).
    pub created_at: String,
    /// When it last called the server.
    pub last_seen: Option<String>,
    /// When it last completed a sync.
    pub last_sync: Option<String>,
    /// Whether the caller may revoke it.
    pub may_revoke: bool,
}

/// The phones of the caller's team (managers), by member and issue date.
#[utoipa::path(get, path = "/team/devices", tag = "team",
    responses((status = 200, body = Vec<TeamDevice>), (status = 403, description = "Not a manager")))]
async fn team_devices(
    State(state): State<AppState>,
    Manager(me): Manager,
) -> Result<Json<Vec<TeamDevice>>, AppError> {
    let list = blocking(&state, move |s| {
        let members = s.members(Some(&me.team))?;
        let devices = s.devices()?;
        Ok(devices
            .into_iter()
            .filter(|d| !d.desk)
            .filter_map(|d| {
                let m = members.iter().find(|m| m.member.user == d.user)?;
                Some(TeamDevice {
                    may_revoke: !d.revoked
                        && access::revoke_device(&me, Some(&m.member), d.desk) == Access::Allowed,
                    id: d.id.to_string(),
                    user: d.user.to_string(),
                    name: m.member.name.clone(),
                    role: m.member.role.code().to_string(),
                    revoked: d.revoked,
                    created_at: d.created_at,
                    last_seen: d.last_seen,
                    last_sync: d.last_sync,
                })
            })
            .collect())
    })
    .await?;
    Ok(Json(list))
}

/// A phone to issue.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IssueBody {
    /// The member (staff number) the phone is for.
    pub user: String,
    /// The sync server's address as the phones reach it; the address the request came to
    /// (its `Host`, `https` behind a trusted proxy) when absent. The page sends its own origin.
    #[serde(default)]
    pub server: Option<String>,
}

/// A phone just issued: the only time its link is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedPhone {
    /// The device's id.
    pub device: String,
    /// Its member.
    pub user: String,
    /// The one-time enrolment link (`doorstep://enrol?server=…&token=…`).
    pub link: String,
    /// The link as a QR code, an SVG document.
    pub qr_svg: String,
}

/// The link as an SVG QR code (dark on white, with its quiet zone).
fn qr_svg(link: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::new(link.as_bytes())
        .map_err(|e| Error::Internal(format!("no QR code for the link: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// The server's address as the request reached it: `http(s)://Host`.
fn request_origin(headers: &HeaderMap, peer: Peer) -> Option<String> {
    let host = headers.get(HOST)?.to_str().ok()?.trim();
    (!host.is_empty()).then(|| format!("{}://{host}", if peer.https { "https" } else { "http" }))
}

/// Issues a phone for a member below the caller in their team (a supervisor: their agents; a
/// department manager: supervisors and agents) and answers with its one-time enrolment link
/// and QR code. The phone joins by scanning it (`Home.enrol`, `doorstep agent enrol LINK`).
#[utoipa::path(post, path = "/team/devices", tag = "team",
    request_body = IssueBody,
    responses(
        (status = 200, description = "The device, its link and the link's QR code (SVG)", body = IssuedPhone),
        (status = 400, description = "A bad server address"),
        (status = 403, description = "Not a manager, or the member is not below the caller"),
        (status = 404, description = "No such member in the caller's team"),
    ))]
async fn issue(
    State(state): State<AppState>,
    Manager(me): Manager,
    peer: Peer,
    headers: HeaderMap,
    axum::Json(body): axum::Json<IssueBody>,
) -> Result<Json<IssuedPhone>, AppError> {
    let hidden = || Error::not_found("user", body.user.trim());
    let user: UserId = body.user.trim().parse().map_err(|_| hidden())?;
    let server = match body.server.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => request_origin(&headers, peer)
            .ok_or_else(|| Error::invalid("server", "no server address and no Host header"))?,
    };
    // The link is checked before the device is issued: a bad address issues nothing.
    client_sync::enrol_link(&server, "check")?;
    let caller = me.clone();
    let issued = blocking(&state, move |s| {
        let owner = s.member(&user)?;
        match access::issue_device(&caller, owner.as_ref()) {
            Access::Allowed => s.issue_device(&user),
            Access::Hidden => Err(Error::not_found("user", &user)),
            Access::Forbidden => Err(Error::Forbidden(format!(
                "{} may not issue a phone for {user}",
                caller.user
            ))),
        }
    })
    .await?;
    let link = client_sync::enrol_link(&server, &issued.token)?;
    let qr_svg = qr_svg(&link)?;
    tracing::info!(team = %me.team, user = %me.user, device = %issued.device, member = %issued.user, "phone issued from the dashboard");
    state.events.changed(&me.team);
    Ok(Json(IssuedPhone {
        device: issued.device.to_string(),
        user: issued.user.to_string(),
        link,
        qr_svg,
    }))
}

/// Revokes a phone of a member below the caller in their team: its next sync is refused and
/// it wipes its data.
#[utoipa::path(post, path = "/devices/{id}/revoke", tag = "team",
    params(("id" = String, Path, description = "The device's id")),
    responses(
        (status = 200, description = "The device, revoked", body = serde_json::Value),
        (status = 403, description = "Not a manager, or the device's member is not below the caller"),
        (status = 404, description = "No such device in the caller's team"),
    ))]
async fn revoke(
    State(state): State<AppState>,
    Manager(me): Manager,
    Path(id): Path<String>,
) -> Result<Json<DeviceInfo>, AppError> {
    let hidden = || Error::not_found("device", &id);
    let device: DeviceId = id.parse().map_err(|_| hidden())?;
    let caller = me.clone();
    let info = blocking(&state, move |s| {
        let Some(d) = s.devices()?.into_iter().find(|d| d.id == device) else {
            return Err(Error::not_found("device", device));
        };
        let owner = s.member(&d.user)?;
        match access::revoke_device(&caller, owner.as_ref(), d.desk) {
            Access::Allowed => s.revoke_device(device),
            Access::Hidden => Err(Error::not_found("device", device)),
            Access::Forbidden => Err(Error::Forbidden(format!(
                "{} may not revoke a device of {}",
                caller.user, d.user
            ))),
        }
    })
    .await?;
    tracing::info!(team = %me.team, user = %me.user, device = %info.id, "device revoked from the dashboard");
    state.events.changed(&me.team);
    Ok(Json(info))
}
