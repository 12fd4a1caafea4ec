//! Teams, members, devices and tokens on PostgreSQL ([`crate::store::Accounts`]), behaving
//! method by method as the SQLite store does (same errors, same orders, same time format).
//!
//! Each method is one transaction. Times are `timestamptz` taken from the database's clock
//! (`now()`: one clock for every instance) and handed out as RFC 3339 UTC text with
//! milliseconds, as SQLite stores them ([`rfc3339`]). Lists are sorted by byte order
//! (`COLLATE "C"`, or in Rust), as SQLite compares text, whatever the database's collation.
//! A manager has one desk device per desk home (its actor): each instance keeps its own home.
//! The race that matters is one desk home's device asked for twice at once: the
//! `desk_devices` row is inserted first (`ON CONFLICT DO NOTHING`), and the loser reads the
//! winner's.

use chrono::{DateTime, SecondsFormat, Utc};
use client_core::model::Role;
use client_core::playbook::Playbook;
use client_core::protocol::PlaybookUpdate;
use client_core::UserId;
use postgres::Row;
use uuid::Uuid;

use super::store::PgStore;
use super::DocumentTx;
use crate::accounts::{
    is_actor_hex, new_token, token_hash, Device, DeviceId, DeviceInfo, IssuedDevice, Member,
    NewMember, TeamId,
};
use crate::error::{Error, Result};
use crate::store::sqlite::{sha256_hex, SERVER_USER};
use crate::store::{Accounts, TeamMember};

/// A stored time as the traits hand it out: RFC 3339, UTC, milliseconds (as on SQLite).
pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time given as RFC 3339 text (an expiry), for a `timestamptz` column.
pub(super) fn parse_time(what: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::invalid(what, format!("{text:?} is not an RFC 3339 time ({e})")))
}

/// A device id as the `uuid` columns hold it.
pub(super) fn device_uuid(device: DeviceId) -> Uuid {
    // A `DeviceId` is a UUID; its text form always parses back.
    Uuid::parse_str(&device.to_string()).unwrap_or_default()
}

/// A `uuid` column read back as a device id.
pub(super) fn device_id(uuid: Uuid) -> Result<DeviceId> {
    uuid.to_string().parse()
}

/// The columns [`member_at`] reads, from `users u`.
const MEMBER_COLUMNS: &str = "u.id, u.name, u.role, u.team, u.reports_to";

/// A member from the five [`MEMBER_COLUMNS`] starting at column `at`.
pub(super) fn member_at(r: &Row, at: usize) -> Result<Member> {
    let role: String = r.try_get(at + 2)?;
    Ok(Member {
        user: r.try_get::<_, String>(at)?.parse()?,
        name: r.try_get(at + 1)?,
        role: Role::from_code(&role)
            .ok_or_else(|| Error::invalid("role", format!("stored role {role:?}")))?,
        team: r.try_get::<_, String>(at + 3)?.parse()?,
        reports_to: r
            .try_get::<_, Option<String>>(at + 4)?
            .map(|b| b.parse())
            .transpose()?,
    })
}

/// One member, read in `tx`.
fn member_in(tx: &mut DocumentTx<'_>, user: &UserId) -> Result<Option<Member>> {
    let rows = tx.query(
        &format!("SELECT {MEMBER_COLUMNS} FROM users u WHERE u.id = $1"),
        &[&user.as_str()],
    )?;
    rows.first().map(|r| member_at(r, 0)).transpose()
}

/// Members with their device figures: a team's (or every team's), or one member's; sorted
/// as `Accounts::members` promises (team, role highest first, id; byte order).
fn team_members_in(
    tx: &mut DocumentTx<'_>,
    team: Option<&str>,
    user: Option<&str>,
) -> Result<Vec<TeamMember>> {
    let rows = tx.query(
        &format!(
            "SELECT {MEMBER_COLUMNS},
                (SELECT count(*) FROM devices d WHERE d.user_id = u.id AND NOT d.revoked),
                (SELECT max(d.last_sync) FROM devices d WHERE d.user_id = u.id),
                NOT EXISTS (SELECT 1 FROM deactivated_users x WHERE x.user_id = u.id)
             FROM users u
             WHERE ($1::text IS NULL OR u.team = $1) AND ($2::text IS NULL OR u.id = $2)"
        ),
        &[&team, &user],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(TeamMember {
            member: member_at(r, 0)?,
            devices: usize::try_from(r.try_get::<_, i64>(5)?).unwrap_or(0),
            last_sync: r.try_get::<_, Option<DateTime<Utc>>>(6)?.map(rfc3339),
            active: r.try_get(7)?,
        });
    }
    out.sort_by(|a, b| {
        (
            &a.member.team,
            std::cmp::Reverse(a.member.role),
            &a.member.user,
        )
            .cmp(&(
                &b.member.team,
                std::cmp::Reverse(b.member.role),
                &b.member.user,
            ))
    });
    Ok(out)
}

/// Whether a team exists, read in `tx`.
fn team_exists_in(tx: &mut DocumentTx<'_>, team: &TeamId) -> Result<bool> {
    Ok(!tx
        .query("SELECT 1 FROM teams WHERE name = $1", &[&team.as_str()])?
        .is_empty())
}

/// Issues a device to `user` in `tx`, with the checks of `Accounts::issue_device` (unknown
/// member: `NotFound`; deactivated: `Invalid`).
fn issue_in(tx: &mut DocumentTx<'_>, user: &UserId, device: DeviceId, token: &str) -> Result<()> {
    let rows = tx.query(
        "SELECT EXISTS (SELECT 1 FROM deactivated_users x WHERE x.user_id = u.id)
         FROM users u WHERE u.id = $1",
        &[&user.as_str()],
    )?;
    match rows.first() {
        None => return Err(Error::not_found("user", user)),
        Some(r) if r.try_get::<_, bool>(0)? => {
            return Err(Error::invalid(
                "user",
                format!("{user} is deactivated: reactivate them first"),
            ))
        }
        Some(_) => {}
    }
    tx.execute(
        "INSERT INTO devices (id, user_id, token_hash, created_at) VALUES ($1, $2, $3, now())",
        &[&device_uuid(device), &user.as_str(), &token_hash(token)],
    )?;
    Ok(())
}

/// The columns [`device_info_of`] reads, from `devices`.
const DEVICE_COLUMNS: &str = "id, user_id, actor, revoked, created_at, last_seen, last_sync, \
     EXISTS (SELECT 1 FROM desk_devices k WHERE k.device = devices.id)";

fn device_info_of(r: &Row) -> Result<DeviceInfo> {
    Ok(DeviceInfo {
        id: device_id(r.try_get(0)?)?,
        user: r.try_get::<_, String>(1)?.parse()?,
        actor: r.try_get(2)?,
        revoked: r.try_get(3)?,
        created_at: rfc3339(r.try_get(4)?),
        last_seen: r.try_get::<_, Option<DateTime<Utc>>>(5)?.map(rfc3339),
        last_sync: r.try_get::<_, Option<DateTime<Utc>>>(6)?.map(rfc3339),
        desk: r.try_get(7)?,
    })
}

impl Accounts for PgStore {
    fn create_team(&self, team: &TeamId) -> Result<()> {
        let n = self.db.write(|tx| {
            tx.execute(
                "INSERT INTO teams (name, created_at) VALUES ($1, now())
                 ON CONFLICT (name) DO NOTHING",
                &[&team.as_str()],
            )
        })?;
        if n == 0 {
            return Err(Error::Exists {
                what: "team",
                id: team.to_string(),
            });
        }
        Ok(())
    }

    fn team_exists(&self, team: &TeamId) -> Result<bool> {
        self.db.write(|tx| team_exists_in(tx, team))
    }

    fn add_member(&self, new: NewMember) -> Result<Member> {
        let name = if new.name.trim().is_empty() {
            new.user.to_string()
        } else {
            new.name.trim().to_string()
        };
        self.db.write(|tx| {
            if !team_exists_in(tx, &new.team)? {
                return Err(Error::not_found("team", &new.team));
            }
            if new.user.as_str() == SERVER_USER {
                return Err(Error::invalid(
                    "user",
                    "`server` is the server's own user id",
                ));
            }
            if let Some(boss) = &new.reports_to {
                let ok =
                    member_in(tx, boss)?.is_some_and(|b| b.team == new.team && b.role > new.role);
                if !ok {
                    return Err(Error::invalid(
                        "reports_to",
                        format!(
                            "{boss} is not a manager above this role in team {}",
                            new.team
                        ),
                    ));
                }
            }
            let n = tx.execute(
                "INSERT INTO users (id, name, role, team, reports_to, created_at)
                 VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (id) DO NOTHING",
                &[
                    &new.user.as_str(),
                    &name,
                    &new.role.code(),
                    &new.team.as_str(),
                    &new.reports_to.as_ref().map(|r| r.as_str()),
                ],
            )?;
            if n == 0 {
                return Err(Error::Exists {
                    what: "user",
                    id: new.user.to_string(),
                });
            }
            Ok(())
        })?;
        Ok(Member {
            user: new.user,
            name,
            role: new.role,
            team: new.team,
            reports_to: new.reports_to,
        })
    }

    fn member(&self, user: &UserId) -> Result<Option<Member>> {
        self.db.write(|tx| member_in(tx, user))
    }

    fn members(&self, team: Option<&TeamId>) -> Result<Vec<TeamMember>> {
        self.db
            .write(|tx| team_members_in(tx, team.map(|t| t.as_str()), None))
    }

    fn set_active(&self, user: &UserId, active: bool, by: Option<&UserId>) -> Result<TeamMember> {
        self.db.write(|tx| {
            if member_in(tx, user)?.is_none() {
                return Err(Error::not_found("user", user));
            }
            if active {
                tx.execute(
                    "DELETE FROM deactivated_users WHERE user_id = $1",
                    &[&user.as_str()],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO deactivated_users (user_id, deactivated_by, at)
                     VALUES ($1, $2, now()) ON CONFLICT (user_id) DO NOTHING",
                    &[&user.as_str(), &by.map(|b| b.as_str())],
                )?;
                // Their phones wipe at their next sync; a desk is no phone (it is reached
                // only through a session, and those end here).
                tx.execute(
                    "UPDATE devices SET revoked = true WHERE user_id = $1
                     AND NOT EXISTS (SELECT 1 FROM desk_devices k WHERE k.device = devices.id)",
                    &[&user.as_str()],
                )?;
                tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.as_str()])?;
                tx.execute(
                    "DELETE FROM login_links WHERE user_id = $1",
                    &[&user.as_str()],
                )?;
            }
            team_members_in(tx, None, Some(user.as_str()))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::not_found("user", user))
        })
    }

    fn is_active(&self, user: &UserId) -> Result<bool> {
        self.db.write(|tx| {
            Ok(tx
                .query(
                    "SELECT 1 FROM deactivated_users WHERE user_id = $1",
                    &[&user.as_str()],
                )?
                .is_empty())
        })
    }

    fn issue_device(&self, user: &UserId) -> Result<IssuedDevice> {
        let device = DeviceId::new();
        let token = new_token();
        self.db.write(|tx| issue_in(tx, user, device, &token))?;
        Ok(IssuedDevice {
            device,
            user: user.clone(),
            token,
        })
    }

    fn revoke_device(&self, device: DeviceId) -> Result<DeviceInfo> {
        let rows = self.db.write(|tx| {
            tx.query(
                &format!(
                    "UPDATE devices SET revoked = true WHERE id = $1 RETURNING {DEVICE_COLUMNS}"
                ),
                &[&device_uuid(device)],
            )
        })?;
        match rows.first() {
            Some(r) => device_info_of(r),
            None => Err(Error::not_found("device", device)),
        }
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        let rows = self.db.write(|tx| {
            tx.query(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices
                     ORDER BY user_id COLLATE \"C\", created_at, id"
                ),
                &[],
            )
        })?;
        rows.iter().map(device_info_of).collect()
    }

    fn authenticate(&self, token: &str) -> Result<Option<Device>> {
        // Found and marked seen in one statement.
        let rows = self.db.write(|tx| {
            tx.query(
                &format!(
                    "UPDATE devices d SET last_seen = now() FROM users u
                     WHERE d.token_hash = $1 AND u.id = d.user_id
                     RETURNING d.id, d.actor, d.revoked, {MEMBER_COLUMNS}"
                ),
                &[&token_hash(token)],
            )
        })?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Device {
            id: device_id(r.try_get(0)?)?,
            actor: r.try_get(1)?,
            revoked: r.try_get(2)?,
            member: member_at(r, 3)?,
        }))
    }

    fn desk_device(&self, member: &Member, desk_actor: &str) -> Result<Device> {
        if !is_actor_hex(desk_actor) {
            return Err(Error::invalid("desk actor", "not a hex Automerge actor"));
        }
        let desk_actor = desk_actor.to_ascii_lowercase();
        let user = member.user.as_str();
        let (id, actor, revoked) = self.db.write(|tx| {
            let known = tx.query(
                "SELECT device FROM desk_devices WHERE user_id = $1 AND actor = $2",
                &[&user, &desk_actor],
            )?;
            let id: Uuid = match known.first() {
                Some(r) => r.try_get(0)?,
                None => {
                    // The desk row first: of two instances registering the same desk, the
                    // second's insert waits for the first to commit and then does nothing,
                    // and it reads the first's device. The token is thrown away: a desk is
                    // only ever called in-process.
                    let fresh = DeviceId::new();
                    let won = tx.query(
                        "INSERT INTO desk_devices (device, user_id, actor) VALUES ($1, $2, $3)
                         ON CONFLICT (user_id, actor) DO NOTHING RETURNING device",
                        &[&device_uuid(fresh), &user, &desk_actor],
                    )?;
                    if won.is_empty() {
                        let rows = tx.query(
                            "SELECT device FROM desk_devices WHERE user_id = $1 AND actor = $2",
                            &[&user, &desk_actor],
                        )?;
                        match rows.first() {
                            Some(r) => r.try_get(0)?,
                            None => return Err(Error::not_found("desk of", user)),
                        }
                    } else {
                        issue_in(tx, &member.user, fresh, &new_token())?;
                        device_uuid(fresh)
                    }
                }
            };
            let rows = tx.query("SELECT actor, revoked FROM devices WHERE id = $1", &[&id])?;
            let Some(r) = rows.first() else {
                return Err(Error::not_found("device", id));
            };
            Ok((id, r.try_get::<_, Option<String>>(0)?, r.try_get(1)?))
        })?;
        if revoked {
            return Err(Error::Revoked);
        }
        Ok(Device {
            id: device_id(id)?,
            member: member.clone(),
            actor,
            revoked,
        })
    }

    fn set_playbook(&self, team: &TeamId, toml: &str) -> Result<PlaybookUpdate> {
        let hash = sha256_hex(toml.as_bytes());
        self.db.write(|tx| {
            if !team_exists_in(tx, team)? {
                return Err(Error::not_found("team", team));
            }
            Playbook::from_toml_str(&format!("playbook of {team}"), toml)?;
            tx.execute(
                "INSERT INTO playbooks (team, toml, hash, updated_at) VALUES ($1, $2, $3, now())
                 ON CONFLICT (team) DO UPDATE SET toml = excluded.toml, hash = excluded.hash,
                     updated_at = excluded.updated_at",
                &[&team.as_str(), &toml, &hash],
            )?;
            // Records written under this playbook stay valid after the next one (`codes_of`).
            tx.execute(
                "INSERT INTO playbook_history (team, hash, toml, first_at)
                 VALUES ($1, $2, $3, now()) ON CONFLICT (team, hash) DO NOTHING",
                &[&team.as_str(), &hash, &toml],
            )?;
            Ok(())
        })?;
        Ok(PlaybookUpdate {
            hash,
            toml: toml.to_string(),
        })
    }
}
