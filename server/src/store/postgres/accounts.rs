//! Teams, members, devices and tokens on PostgreSQL ([`crate::store::Accounts`]).
//!
//! Not yet written: every method answers an internal error naming itself.

use crate::accounts::{Device, DeviceId, DeviceInfo, IssuedDevice, Member, NewMember, TeamId};
use crate::error::Result;
use crate::store::TeamMember;
use client_core::protocol::PlaybookUpdate;
use client_core::UserId;

use super::store::{not_yet, PgStore};
use crate::store::Accounts;

impl Accounts for PgStore {
    fn create_team(&self, _team: &TeamId) -> Result<()> {
        Err(not_yet("Accounts::create_team"))
    }

    fn team_exists(&self, _team: &TeamId) -> Result<bool> {
        Err(not_yet("Accounts::team_exists"))
    }

    fn add_member(&self, _new: NewMember) -> Result<Member> {
        Err(not_yet("Accounts::add_member"))
    }

    fn member(&self, _user: &UserId) -> Result<Option<Member>> {
        Err(not_yet("Accounts::member"))
    }

    fn members(&self, _team: Option<&TeamId>) -> Result<Vec<TeamMember>> {
        Err(not_yet("Accounts::members"))
    }

    fn set_active(
        &self,
        _user: &UserId,
        _active: bool,
        _by: Option<&UserId>,
    ) -> Result<TeamMember> {
        Err(not_yet("Accounts::set_active"))
    }

    fn is_active(&self, _user: &UserId) -> Result<bool> {
        Err(not_yet("Accounts::is_active"))
    }

    fn issue_device(&self, _user: &UserId) -> Result<IssuedDevice> {
        Err(not_yet("Accounts::issue_device"))
    }

    fn revoke_device(&self, _device: DeviceId) -> Result<DeviceInfo> {
        Err(not_yet("Accounts::revoke_device"))
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        Err(not_yet("Accounts::devices"))
    }

    fn authenticate(&self, _token: &str) -> Result<Option<Device>> {
        Err(not_yet("Accounts::authenticate"))
    }

    fn desk_device(&self, _member: &Member) -> Result<Device> {
        Err(not_yet("Accounts::desk_device"))
    }

    fn set_playbook(&self, _team: &TeamId, _toml: &str) -> Result<PlaybookUpdate> {
        Err(not_yet("Accounts::set_playbook"))
    }
}
