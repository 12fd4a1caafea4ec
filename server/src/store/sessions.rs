//! What a store holds for the managers' dashboard logins: password hashes, sessions and
//! one-time login links.
//!
//! Only hashes cross this trait (an argon2 PHC string made by `crate::logins`, the SHA-256 of
//! a session's or link's token), so a copy of the database opens no dashboard. Times are RFC
//! 3339 UTC text with milliseconds, which sorts as time.

use client_core::UserId;

use crate::accounts::Member;
use crate::error::Result;

/// Passwords, sessions and login links.
pub trait Sessions: Send + Sync {
    /// Stores a member's password hash, replacing any earlier one (unknown member:
    /// `NotFound`).
    fn set_password(&self, user: &UserId, phc: &str) -> Result<()>;
    /// A member's password hash, if one was set.
    fn password_hash(&self, user: &UserId) -> Result<Option<String>>;
    /// Records a dashboard session (by the hash of its token) valid until `expires_at`.
    fn create_session(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()>;
    /// The member of a live session (`None`: unknown, ended or expired, or a deactivated
    /// member's).
    fn session_member(&self, token_hash: &str) -> Result<Option<Member>>;
    /// Ends a session; ending an unknown one changes nothing.
    fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Records a one-time login link (by the hash of its token) valid until `expires_at`.
    fn create_login_link(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()>;
    /// Uses up a login link: its member, if it existed and had not expired; `None` the second
    /// time.
    fn redeem_login_link(&self, token_hash: &str) -> Result<Option<UserId>>;
}
