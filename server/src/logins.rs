//! How managers log in to the dashboard: argon2 password hashes, random session and login-link
//! tokens, and how long each lives.
//!
//! A password is stored only as an argon2id PHC string (salt and parameters inside); a session
//! or a one-time login link is a random token handed to the browser once and stored only as its
//! SHA-256 (`accounts::token_hash`). Plain functions: no storage, no HTTP.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Argon2's working memory for one check of a hash made by [`hash_password`] (19 MiB): kept
/// and reused by the server, so that its memory is the number of checks at once times this,
/// whatever the allocator does with freed blocks.
pub fn check_memory() -> Vec<Block> {
    vec![Block::default(); Params::DEFAULT_M_COST as usize]
}

/// A well-formed argon2id hash (default parameters, random salt, random output) that no
/// password matches: checking an unknown user's password against it costs what checking a
/// real one costs, so the answer's timing does not tell which names exist.
pub fn unmatchable_hash() -> String {
    let salt = SaltString::generate(&mut OsRng);
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut output);
    let params = Params::default();
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        Output::new(&output)
            .map(|o| o.to_string())
            .unwrap_or_default(),
    )
}

/// [`verify_password`] in caller-owned working memory (grown if the hash asks for more).
pub fn verify_password_in(phc: &str, password: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
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

    #[test]
    fn the_check_in_reused_memory_agrees_with_argon2s_own() {
        let h = hash_password("correct horse").unwrap();
        let mut memory = check_memory();
        assert!(verify_password_in(&h, "correct horse", &mut memory));
        assert!(!verify_password_in(&h, "correct horsf", &mut memory));
        assert!(
            verify_password_in(&h, "correct horse", &mut memory),
            "reused"
        );
        assert!(!verify_password_in(
            "not a hash",
            "correct horse",
            &mut memory
        ));
        let mut small = vec![];
        assert!(verify_password_in(&h, "correct horse", &mut small), "grown");
        assert_eq!(small.len(), Params::DEFAULT_M_COST as usize);
    }

    #[test]
    fn the_unmatchable_hash_parses_like_a_real_one_and_matches_nothing() {
        let dummy = unmatchable_hash();
        let real = hash_password("correct horse").unwrap();
        let (d, r) = (
            PasswordHash::new(&dummy).unwrap(),
            PasswordHash::new(&real).unwrap(),
        );
        assert_eq!(d.algorithm, r.algorithm);
        assert_eq!(d.params, r.params, "the same work");
        assert_eq!(d.hash.unwrap().len(), r.hash.unwrap().len());
        let mut memory = check_memory();
        assert!(!verify_password_in(&dummy, "correct horse", &mut memory));
        assert!(!verify_password_in(&dummy, "", &mut memory));
    }
}
