//! The server's accounts: teams, their members, and the devices that sync for them.
//!
//! A **team** is the unit of visibility: nobody reads another team's records. A **member**
//! has one role and one team. A **device** belongs to one member; it authenticates with a
//! bearer token that is printed once when issued and stored only as its SHA-256, and it is
//! bound on its first sync to one Automerge actor: the only actor its changes may carry.
//! These are plain values; where they are stored is the business of `store`.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use client_core::model::Role;
use client_core::UserId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A team's name, as the company names it (`north-7`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TeamId(String);

impl TeamId {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TeamId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(TeamId(s.to_string()))
        } else {
            Err(Error::Argument {
                what: "team",
                value: s.to_string(),
                expected: "1 to 64 letters, digits, '-', '_' or '.'",
            })
        }
    }
}

/// A device: one phone (or one command-line home) of one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(Uuid);

impl DeviceId {
    /// A fresh random identifier.
    pub fn new() -> Self {
        DeviceId(Uuid::new_v4())
    }
}

impl Default for DeviceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for DeviceId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s.trim())
            .map(DeviceId)
            .map_err(|_| Error::Argument {
                what: "device id",
                value: s.to_string(),
                expected: "a UUID as printed by `doorstep admin device issue`",
            })
    }
}

/// A person of a team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The person's id (staff number).
    pub user: UserId,
    /// The name screens show.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// Their team.
    pub team: TeamId,
    /// The manager they report to, if recorded.
    pub reports_to: Option<UserId>,
}

/// A member to add.
#[derive(Clone, Debug)]
pub struct NewMember {
    /// The person's id.
    pub user: UserId,
    /// Display name (the id when empty).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Team (must exist).
    pub team: TeamId,
    /// Their manager (must be a manager of the same team).
    pub reports_to: Option<UserId>,
}

/// An authenticated device, with who it syncs for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device.
    pub id: DeviceId,
    /// Its member.
    pub member: Member,
    /// The Automerge actor (hex) bound on its first sync.
    pub actor: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A device as `doorstep admin device list` shows it (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub id: DeviceId,
    /// Its member.
    pub user: UserId,
    /// Its bound actor.
    pub actor: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was issued (RFC 3339).
    pub created_at: String,
    /// When it last called the server.
    pub last_seen: Option<String>,
    /// When it last completed a sync request.
    pub last_sync: Option<String>,
    /// Whether it is a manager's desk on the server (what the dashboard writes through), not a
    /// phone.
    #[serde(default)]
    pub desk: bool,
}

/// A freshly issued device: the only time its token is shown.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedDevice {
    /// The device.
    pub device: DeviceId,
    /// Its member.
    pub user: UserId,
    /// The bearer token (shown once; the server keeps only its hash).
    pub token: String,
}

/// A new random device token: 32 random bytes, base64url without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a token, hex: what the server stores and looks tokens up by.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a text is an Automerge actor id as a device sends it: even-length hex, 2 to 64
/// digits.
pub fn is_actor_hex(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.len().is_multiple_of(2)
        && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed_to_hex() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, token_hash(&a));
        assert_ne!(h, token_hash(&b));
        assert!(!h.contains(&a));
    }

    #[test]
    fn team_names_and_device_ids_refuse_garbage() {
        assert!("north-7".parse::<TeamId>().is_ok());
        assert!("a b".parse::<TeamId>().is_err());
        assert!("".parse::<TeamId>().is_err());
        assert!("not-a-uuid".parse::<DeviceId>().is_err());
        let d = DeviceId::new();
        assert_eq!(d.to_string().parse::<DeviceId>().unwrap(), d);
    }

    #[test]
    fn actor_ids_are_short_hex() {
        assert!(is_actor_hex("00ff"));
        assert!(!is_actor_hex("0"));
        assert!(!is_actor_hex("zz"));
        assert!(!is_actor_hex(&"a".repeat(66)));
    }
}
