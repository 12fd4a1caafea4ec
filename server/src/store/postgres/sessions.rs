//! The dashboard's passwords, sessions and login links on PostgreSQL
//! ([`crate::store::Sessions`]), behaving as the SQLite store does.
//!
//! Expiry times arrive as RFC 3339 text and are stored as `timestamptz`; "expired" is decided
//! against the database's clock (`now()`), the one clock every instance shares. A login link
//! is used up by one `DELETE … RETURNING`: of two instances redeeming the same link at the
//! same moment, the second's delete waits for the first's commit and then finds no row, so
//! the link opens one session only.

use client_core::UserId;

use super::accounts::{member_at, parse_time};
use super::store::PgStore;
use crate::accounts::Member;
use crate::error::{Error, Result};
use crate::store::Sessions;

impl Sessions for PgStore {
    fn set_password(&self, user: &UserId, phc: &str) -> Result<()> {
        self.db.write(|tx| {
            if tx
                .query("SELECT 1 FROM users WHERE id = $1", &[&user.as_str()])?
                .is_empty()
            {
                return Err(Error::not_found("user", user));
            }
            tx.execute(
                "INSERT INTO passwords (user_id, phc, updated_at) VALUES ($1, $2, now())
                 ON CONFLICT (user_id) DO UPDATE SET phc = excluded.phc,
                     updated_at = excluded.updated_at",
                &[&user.as_str(), &phc],
            )?;
            // A new password ends the member's sessions.
            tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.as_str()])?;
            Ok(())
        })
    }

    fn password_hash(&self, user: &UserId) -> Result<Option<String>> {
        let rows = self.db.write(|tx| {
            tx.query(
                "SELECT phc FROM passwords p WHERE p.user_id = $1 AND NOT EXISTS
                 (SELECT 1 FROM deactivated_users x WHERE x.user_id = p.user_id)",
                &[&user.as_str()],
            )
        })?;
        Ok(rows.first().map(|r| r.try_get(0)).transpose()?)
    }

    fn create_session(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()> {
        let expires = parse_time("expires_at", expires_at)?;
        self.db.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE expires_at <= now()", &[])?;
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES ($1, $2, now(), $3)",
                &[&token_hash, &user.as_str(), &expires],
            )?;
            Ok(())
        })
    }

    fn session_member(&self, token_hash: &str) -> Result<Option<Member>> {
        let rows = self.db.write(|tx| {
            tx.query(
                "SELECT u.id, u.name, u.role, u.team, u.reports_to
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT EXISTS
                     (SELECT 1 FROM deactivated_users x WHERE x.user_id = s.user_id)",
                &[&token_hash],
            )
        })?;
        rows.first().map(|r| member_at(r, 0)).transpose()
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.db.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])?;
            Ok(())
        })
    }

    fn create_login_link(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()> {
        let expires = parse_time("expires_at", expires_at)?;
        self.db.write(|tx| {
            if tx
                .query("SELECT 1 FROM users WHERE id = $1", &[&user.as_str()])?
                .is_empty()
            {
                return Err(Error::not_found("user", user));
            }
            tx.execute("DELETE FROM login_links WHERE expires_at <= now()", &[])?;
            tx.execute(
                "INSERT INTO login_links (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                &[&token_hash, &user.as_str(), &expires],
            )?;
            Ok(())
        })
    }

    fn redeem_login_link(&self, token_hash: &str) -> Result<Option<UserId>> {
        // One use only, expired or not: the row goes whatever it says.
        let rows = self.db.write(|tx| {
            tx.query(
                "DELETE FROM login_links l WHERE l.token_hash = $1
                 RETURNING l.user_id, l.expires_at > now() AND NOT EXISTS
                     (SELECT 1 FROM deactivated_users x WHERE x.user_id = l.user_id)",
                &[&token_hash],
            )
        })?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        if !r.try_get::<_, bool>(1)? {
            return Ok(None);
        }
        Ok(Some(r.try_get::<_, String>(0)?.parse()?))
    }
}
