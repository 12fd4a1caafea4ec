//! The team's devices from the dashboard: `GET /v1/team/devices` lists the phones of the
//! caller's team (never a token, never a manager's desk on the server), `POST
//! /v1/devices/{id}/revoke` revokes one — what `doorstep admin device revoke` does on the
//! server, for a manager whose agent lost a phone or left.
//!
//! A revoked phone's next sync is refused with `"wipe": true`, and it deletes its data (see
//! `docs/protocol.md`). Who may revoke what is `access::revoke_device`: the phones of the
//! members below the caller in their own team; another team's device is `404` like one that
//! does not exist.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::Manager;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::accounts::{DeviceId, DeviceInfo};
use crate::error::Error;

/// The device routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(team_devices))
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
