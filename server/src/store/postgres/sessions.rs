//! The dashboard's passwords, sessions and login links on PostgreSQL ([`crate::store::Sessions`]).
//!
//! Not yet written: every method answers an internal error naming itself.

use crate::accounts::Member;
use crate::error::Result;
use client_core::UserId;

use super::store::{not_yet, PgStore};
use crate::store::Sessions;

impl Sessions for PgStore {
    fn set_password(&self, _user: &UserId, _phc: &str) -> Result<()> {
        Err(not_yet("Sessions::set_password"))
    }

    fn password_hash(&self, _user: &UserId) -> Result<Option<String>> {
        Err(not_yet("Sessions::password_hash"))
    }

    fn create_session(&self, _user: &UserId, _token_hash: &str, _expires_at: &str) -> Result<()> {
        Err(not_yet("Sessions::create_session"))
    }

    fn session_member(&self, _token_hash: &str) -> Result<Option<Member>> {
        Err(not_yet("Sessions::session_member"))
    }

    fn delete_session(&self, _token_hash: &str) -> Result<()> {
        Err(not_yet("Sessions::delete_session"))
    }

    fn create_login_link(
        &self,
        _user: &UserId,
        _token_hash: &str,
        _expires_at: &str,
    ) -> Result<()> {
        Err(not_yet("Sessions::create_login_link"))
    }

    fn redeem_login_link(&self, _token_hash: &str) -> Result<Option<UserId>> {
        Err(not_yet("Sessions::redeem_login_link"))
    }
}
