//! How managers log in to the dashboard: argon2 password hashes, random session and login-link
//! tokens, and how long each lives.
//!
//! A password is stored only as an argon2id PHC string (salt and parameters inside); a session
//! or a one-time login link is a random token handed to the browser once and stored only as its
//! SHA-256 (`accounts::token_hash`). Plain functions: no storage, no HTTP.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::error::{Error, Result};

/// How long a dashboard session lasts.
pub const SESSION_HOURS: i64 = 12;
/// How long an admin-issued login link stays valid.
pub const LINK_MINUTES: i64 = 60;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Hashes a password (argon2id, random salt) into a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches a stored PHC string (a malformed one matches nothing).
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The moment `from + minutes`, as stored (RFC 3339 UTC, milliseconds: sorts as text).
pub fn expiry(from: DateTime<Utc>, minutes: i64) -> String {
    (from + Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsf"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
        assert_eq!(hash_password("short").unwrap_err().code(), "invalid");
    }
}
