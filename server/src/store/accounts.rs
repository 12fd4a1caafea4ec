//! What a store holds about people and their phones: teams (and the playbook each has in
//! force), members, activation, devices and their tokens.
//!
//! The rules about who may do what live in `crate::access`; this trait only keeps the records
//! and the few promises every implementation makes (stated per method, checked by
//! `store::conformance`).

use client_core::protocol::PlaybookUpdate;
use client_core::UserId;

use super::TeamMember;
use crate::accounts::{Device, DeviceId, DeviceInfo, IssuedDevice, Member, NewMember, TeamId};
use crate::error::Result;

/// Teams, members, devices and tokens.
pub trait Accounts: Send + Sync {
    /// Creates a team. An existing name is `Error::Exists` and changes nothing.
    fn create_team(&self, team: &TeamId) -> Result<()>;
    /// Whether a team exists.
    fn team_exists(&self, team: &TeamId) -> Result<bool>;
    /// Adds a member to an existing team (`NotFound` otherwise); a taken id is `Exists`; a
    /// `reports_to` that is not a manager above the new role in the same team is `Invalid`.
    fn add_member(&self, new: NewMember) -> Result<Member>;
    /// One member (`None`: unknown id).
    fn member(&self, user: &UserId) -> Result<Option<Member>>;
    /// The members of a team (every team's with `None`), by team, role (highest first) then
    /// id.
    fn members(&self, team: Option<&TeamId>) -> Result<Vec<TeamMember>>;
    /// Deactivates (`active: false`: revokes their phones, ends their sessions and login links)
    /// or reactivates a member; `by` is who did it. Doing it twice changes nothing. Unknown
    /// member: `NotFound`.
    fn set_active(&self, user: &UserId, active: bool, by: Option<&UserId>) -> Result<TeamMember>;
    /// Whether a member is active (not deactivated; `true` for an unknown id).
    fn is_active(&self, user: &UserId) -> Result<bool>;
    /// Issues a device for an active member: its token is in the result and nowhere else (the
    /// store keeps a hash). Unknown member: `NotFound`; deactivated: `Invalid`.
    fn issue_device(&self, user: &UserId) -> Result<IssuedDevice>;
    /// Revokes a device: its next request is told to wipe its data. Revoking twice answers
    /// the same; an unknown device is `NotFound`.
    fn revoke_device(&self, device: DeviceId) -> Result<DeviceInfo>;
    /// Every device (never a token), by member then issue time.
    fn devices(&self) -> Result<Vec<DeviceInfo>>;
    /// The device a bearer token belongs to (`None`: unknown token), revoked ones included
    /// (the caller tells them to wipe); records that it was seen.
    fn authenticate(&self, token: &str) -> Result<Option<Device>>;
    /// The device a manager's desk home syncs as (`crate::desk`): one per desk home, known by
    /// the home's Automerge actor (`actor`, hex), issued and registered on first use and the
    /// same one afterwards. Each server instance keeps desk homes of its own, so a manager has
    /// a desk device per instance (one device binds one actor). A revoked desk is
    /// `Error::Revoked`; an actor that is not hex is `Error::Invalid`.
    fn desk_device(&self, member: &Member, actor: &str) -> Result<Device>;
    /// Puts a playbook (TOML text, validated) in force for a team; the ones it replaces stay
    /// known, so records written under them stay valid.
    fn set_playbook(&self, team: &TeamId, toml: &str) -> Result<PlaybookUpdate>;
}
