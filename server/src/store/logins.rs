//! Managers' dashboard logins on the embedded store: password hashes, sessions and one-time
//! login links.
//!
//! Only hashes are stored: the argon2 PHC string of a password (made by `crate::logins`) and the
//! SHA-256 of session and link tokens, so a copy of the database opens no dashboard. Expiry is
//! compared as text (RFC 3339 UTC with milliseconds sorts as time); expired rows are swept when
//! a new session or link is made.

use client_core::UserId;
use rusqlite::{params, OptionalExtension};

use super::sqlite::{now, SqliteStore};
use crate::accounts::Member;
use crate::error::{Error, Result};

impl SqliteStore {
    pub(super) fn set_password_row(&self, user: &UserId, phc: &str) -> Result<()> {
        use super::Accounts;
        if self.member(user)?.is_none() {
            return Err(Error::not_found("user", user));
        }
        self.db().execute(
            "INSERT INTO passwords (user, phc, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (user) DO UPDATE SET phc = excluded.phc, updated_at = excluded.updated_at",
            params![user.as_str(), phc, now()],
        )?;
        // A new password ends the member's sessions.
        self.db()
            .execute("DELETE FROM sessions WHERE user = ?1", [user.as_str()])?;
        Ok(())
    }

    pub(super) fn password_row(&self, user: &UserId) -> Result<Option<String>> {
        Ok(self
            .db()
            .query_row(
                "SELECT phc FROM passwords WHERE user = ?1 AND NOT EXISTS
                 (SELECT 1 FROM deactivated_users x WHERE x.user = passwords.user)",
                [user.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub(super) fn insert_session(
        &self,
        user: &UserId,
        token_hash: &str,
        expires_at: &str,
    ) -> Result<()> {
        let db = self.db();
        let at = now();
        db.execute("DELETE FROM sessions WHERE expires_at <= ?1", [&at])?;
        db.execute(
            "INSERT INTO sessions (token_hash, user, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, user.as_str(), at, expires_at],
        )?;
        Ok(())
    }

    pub(super) fn session_row(&self, token_hash: &str) -> Result<Option<Member>> {
        let user: Option<String> = self
            .db()
            .query_row(
                "SELECT user FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, now()],
                |r| r.get(0),
            )
            .optional()?;
        match user {
            Some(u) => {
                use super::Accounts;
                let u: UserId = u.parse()?;
                if !self.is_active(&u)? {
                    return Ok(None);
                }
                self.member(&u)
            }
            None => Ok(None),
        }
    }

    pub(super) fn delete_session_row(&self, token_hash: &str) -> Result<()> {
        self.db()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    pub(super) fn insert_login_link(
        &self,
        user: &UserId,
        token_hash: &str,
        expires_at: &str,
    ) -> Result<()> {
        use super::Accounts;
        if self.member(user)?.is_none() {
            return Err(Error::not_found("user", user));
        }
        let db = self.db();
        db.execute("DELETE FROM login_links WHERE expires_at <= ?1", [now()])?;
        db.execute(
            "INSERT INTO login_links (token_hash, user, expires_at) VALUES (?1, ?2, ?3)",
            params![token_hash, user.as_str(), expires_at],
        )?;
        Ok(())
    }

    pub(super) fn redeem_link_row(&self, token_hash: &str) -> Result<Option<UserId>> {
        use super::Accounts;
        let db = self.db();
        let row: Option<(String, String)> = db
            .query_row(
                "SELECT user, expires_at FROM login_links WHERE token_hash = ?1",
                [token_hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((user, expires_at)) = row else {
            return Ok(None);
        };
        // One use only, expired or not.
        db.execute(
            "DELETE FROM login_links WHERE token_hash = ?1",
            [token_hash],
        )?;
        // The connection is free again before `is_active` takes it.
        drop(db);
        let user: UserId = user.parse()?;
        if expires_at <= now() || !self.is_active(&user)? {
            return Ok(None);
        }
        Ok(Some(user))
    }
}
