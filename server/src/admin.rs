//! `doorstep admin`: the team's accounts and data, worked on directly in the data directory.
//!
//! Teams, members and their roles, device tokens (printed once, stored hashed), revocation,
//! the company's policy list (CSV), reassignment of customers, team playbooks, the log of
//! refused sync messages, managers' dashboard passwords and one-time login links. No server is
//! needed; a running server on the same directory picks the changes up (see `store::sqlite`
//! for how document changes are coordinated). Like `doorstep agent`, it parses and prints: the
//! work is the store's. With `--database-url` (instead of `--data`) the same commands work on
//! a PostgreSQL database, the one `doorstep serve --database-url` instances share.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use client_core::model::Role;
use client_core::{CustomerId, UserId};
use serde::Serialize;

use crate::accounts::{new_token, token_hash, DeviceId, NewMember, TeamId};
use crate::error::{Error, Result};
use crate::store::{ServerStore, SqliteStore};
use crate::{import, logins, matching};

/// `doorstep admin`: the options every command shares, and the command.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The server's data directory (holds `server.db`); created if missing. Not with
    /// `--database-url`.
    #[arg(
        long,
        env = "DOORSTEP_DATA",
        default_value = "./doorstep-data",
        conflicts_with = "database_url"
    )]
    pub data: PathBuf,
    /// The PostgreSQL database instead of the data directory.
    #[command(flatten)]
    pub database: crate::serve::DatabaseArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// What the administrator does.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Teams: create, list.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Members: add, deactivate, reactivate, list, password.
    #[command(subcommand)]
    User(UserCommand),
    /// Devices: issue a token, revoke, list.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Imports the company's policy list (CSV, see docs/sample-policies.csv) for a team.
    Import {
        /// The team.
        #[arg(long)]
        team: String,
        /// The CSV file.
        #[arg(long)]
        csv: PathBuf,
    },
    /// Reassigns a customer to another agent (the old agent's devices drop it at their next
    /// sync, the new agent's receive it).
    Assign {
        /// The customer's id.
        #[arg(long)]
        customer: String,
        /// The new agent.
        #[arg(long)]
        agent: String,
        /// Also mark the customer's normal policies as orphan policies (their agent left).
        #[arg(long)]
        orphan: bool,
    },
    /// Puts a playbook (TOML file) in force for a team; devices get it at their next sync.
    Playbook {
        /// The team.
        #[arg(long)]
        team: String,
        /// The playbook file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Prints a one-time dashboard login link for a manager (valid for an hour): a login
    /// that needs no password and no e-mail.
    LoginLink {
        /// The manager.
        #[arg(long)]
        user: String,
        /// The dashboard's address as the manager reaches it.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
    },
    /// Moves a team from an embedded data directory to PostgreSQL (documents, index, change
    /// log, sync states, accounts, devices and their tokens, dashboard logins), then compares
    /// the two and exits non-zero on any difference. Safe to run again. Stop `doorstep serve`
    /// on the directory first (refused while it runs).
    Migrate {
        /// The embedded store's data directory (holds `server.db`).
        #[arg(long)]
        from_sqlite: PathBuf,
        /// The PostgreSQL database to fill (`postgres://user@host:port/db`).
        #[arg(long, env = "DOORSTEP_DATABASE_URL")]
        database_url: String,
    },
    /// The latest refused sync messages (forged actors, foreign records…).
    Rejections {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// `doorstep admin team …`.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Creates a team.
    Create {
        /// Its name (letters, digits, '-', '_', '.').
        name: String,
    },
}

/// `doorstep admin user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Adds a member to a team.
    Add {
        /// The team.
        #[arg(long)]
        team: String,
        /// The member's id (staff number).
        #[arg(long)]
        user: String,
        /// agent, supervisor, department_manager or district_manager.
        #[arg(long)]
        role: String,
        /// The name screens show.
        #[arg(long, default_value = "")]
        name: String,
        /// The manager they report to.
        #[arg(long)]
        reports_to: Option<String>,
    },
    /// Deactivates a member who left: revokes their phones (they wipe the team's data at
    /// their next sync), ends their dashboard sessions; they can no longer log in, the team's
    /// lists leave them out, their customers become orphans to reassign. History stays.
    Deactivate {
        /// The member.
        #[arg(long)]
        user: String,
    },
    /// Reactivates a deactivated member (their old phones stay revoked: issue a new one).
    Reactivate {
        /// The member.
        #[arg(long)]
        user: String,
    },
    /// Lists members (of one team with --team).
    List {
        /// The team.
        #[arg(long)]
        team: Option<String>,
    },
    /// Sets a manager's dashboard password (stored as an argon2 hash): from --password, or
    /// the first line of standard input.
    Password {
        /// The member.
        #[arg(long)]
        user: String,
        /// The password (prefer standard input: arguments show in the process list).
        #[arg(long)]
        password: Option<String>,
    },
}

/// `doorstep admin device …`.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Issues a device for a member and prints its token (once: only its hash is kept).
    Issue {
        /// The member.
        #[arg(long)]
        user: String,
        /// Also print an enrolment link (`doorstep://enrol?server=…&token=…`) and its QR code:
        /// the phone joins by scanning it (`Home.enrol`, `doorstep agent enrol LINK`).
        #[arg(long, requires = "server")]
        link: bool,
        /// The sync server's address as the phones reach it (for `--link`).
        #[arg(long)]
        server: Option<String>,
    },
    /// Revokes a device: its next request is refused and told to wipe its data.
    Revoke {
        /// The device's id.
        #[arg(long)]
        device: String,
    },
    /// Lists devices (never their tokens).
    List,
}

/// A QR code of `text` for the terminal (two modules per character, dark on light), or a
/// sentence saying why there is none.
fn terminal_qr(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(no QR code: {e})"),
    }
}

/// An issued device with its enrolment link, when one was asked for.
#[derive(Debug, Serialize)]
struct IssuedWithLink {
    #[serde(flatten)]
    device: crate::accounts::IssuedDevice,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
}

fn out<T: Serialize>(json: bool, v: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
    let text = if json {
        serde_json::to_string_pretty(v).unwrap_or_default()
    } else {
        human(v)
    };
    crate::text::print_stdout(&text)
}

fn role(s: &str) -> Result<Role> {
    Role::from_code(s).ok_or_else(|| Error::Argument {
        what: "role",
        value: s.to_string(),
        expected: "agent, supervisor, department_manager or district_manager",
    })
}

/// Sets a member's dashboard password (their open sessions end).
pub fn set_password(store: &dyn ServerStore, user: &UserId, password: &str) -> Result<()> {
    if store.member(user)?.is_none() {
        return Err(Error::not_found("user", user));
    }
    store.set_password(user, &logins::hash_password(password)?)
}

/// Makes a one-time login link for a manager: `{base_url}/login/{token}`.
pub fn login_link(store: &dyn ServerStore, user: &UserId, base_url: &str) -> Result<String> {
    let member = store
        .member(user)?
        .ok_or_else(|| Error::not_found("user", user))?;
    if !member.role.is_manager() {
        return Err(Error::invalid("user", "the dashboard is for managers"));
    }
    let token = new_token();
    let expires = logins::expiry(chrono::Utc::now(), logins::LINK_MINUTES);
    store.create_login_link(user, &token_hash(&token), &expires)?;
    Ok(format!("{}/login/{token}", base_url.trim_end_matches('/')))
}

/// `doorstep admin migrate`: moves the embedded store in `dir` into the database at `url`,
/// prints the comparison, and fails if it found a difference.
fn migrate(json: bool, dir: &std::path::Path, url: &str) -> Result<()> {
    use crate::store::postgres::{PgDatabase, PgOptions};
    let db = PgDatabase::open(url, PgOptions::default())?;
    let report = crate::migrate::migrate_from_sqlite(dir, &db)?;
    out(json, &report, |r| r.summary())?;
    match report.differences() {
        0 => Ok(()),
        n => Err(Error::Internal(format!(
            "the migration left {n} differences between {} and PostgreSQL",
            dir.display()
        ))),
    }
}

/// Runs one admin command.
pub fn run(args: AdminArgs) -> Result<()> {
    // Before any store is opened: the migration opens both of its own.
    if let AdminCommand::Migrate {
        from_sqlite,
        database_url,
    } = &args.command
    {
        return migrate(args.json, from_sqlite, database_url);
    }
    let json = args.json;
    let opened: Box<dyn ServerStore> = match args.database.open()? {
        Some(pg) => Box::new(pg),
        None => Box::new(SqliteStore::open(&args.data)?),
    };
    let store: &dyn ServerStore = opened.as_ref();
    match args.command {
        AdminCommand::Team(TeamCommand::Create { name }) => {
            let team: TeamId = name.parse()?;
            store.create_team(&team)?;
            out(json, &serde_json::json!({ "team": team }), |_| {
                format!("team {team} created")
            })
        }
        AdminCommand::User(UserCommand::Add {
            team,
            user,
            role: r,
            name,
            reports_to,
        }) => {
            let m = store.add_member(NewMember {
                user: user.parse()?,
                name,
                role: role(&r)?,
                team: team.parse()?,
                reports_to: reports_to.map(|b| b.parse::<UserId>()).transpose()?,
            })?;
            out(json, &m, |m| {
                format!(
                    "{} ({}) added to {} as {}",
                    m.user,
                    m.name,
                    m.team,
                    m.role.code()
                )
            })
        }
        AdminCommand::User(UserCommand::Deactivate { user }) => {
            let m = store.set_active(&user.parse()?, false, None)?;
            out(json, &m, |m| {
                format!(
                    "{} deactivated: phones revoked, no login, customers to reassign",
                    m.member.user
                )
            })
        }
        AdminCommand::User(UserCommand::Reactivate { user }) => {
            let m = store.set_active(&user.parse()?, true, None)?;
            out(json, &m, |m| {
                format!("{} reactivated (issue them a new phone)", m.member.user)
            })
        }
        AdminCommand::User(UserCommand::List { team }) => {
            let team = team.map(|t| t.parse::<TeamId>()).transpose()?;
            let ms = store.members(team.as_ref())?;
            out(json, &ms, |ms| {
                ms.iter()
                    .map(|m| {
                        format!(
                            "{}\t{}\t{}\t{}\tdevices {}\tlast sync {}{}",
                            m.member.team,
                            m.member.user,
                            m.member.role.code(),
                            m.member.name,
                            m.devices,
                            m.last_sync.as_deref().unwrap_or("never"),
                            if m.active { "" } else { "\tdeactivated" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::User(UserCommand::Password { user, password }) => {
            let user: UserId = user.parse()?;
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .map_err(|source| Error::Io {
                            path: "standard input".into(),
                            source,
                        })?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            set_password(store, &user, &password)?;
            out(json, &serde_json::json!({ "user": user }), |_| {
                format!("password set for {user}")
            })
        }
        AdminCommand::LoginLink { user, base_url } => {
            let link = login_link(store, &user.parse()?, &base_url)?;
            out(
                json,
                &serde_json::json!({ "user": user, "url": link }),
                |_| {
                    format!(
                        "one-time login link for {user} (valid for {} minutes):\n{link}",
                        logins::LINK_MINUTES
                    )
                },
            )
        }
        AdminCommand::Device(DeviceCommand::Issue { user, link, server }) => {
            // The link is made before the device is issued: a bad server URL issues nothing.
            let enrol = |token: &str| -> Result<Option<String>> {
                match (&server, link) {
                    (Some(url), true) => Ok(Some(client_sync::enrol_link(url, token)?)),
                    _ => Ok(None),
                }
            };
            enrol("check")?;
            let d = store.issue_device(&user.parse()?)?;
            let issued = IssuedWithLink {
                link: enrol(&d.token)?,
                device: d,
            };
            out(json, &issued, |i| {
                let mut text = format!(
                    "device {} issued for {}\ntoken (shown once, keep it secret): {}",
                    i.device.device, i.device.user, i.device.token
                );
                if let Some(l) = &i.link {
                    text.push_str(&format!(
                        "\nenrolment link (open or scan it on the phone, once):\n{l}\n{}",
                        terminal_qr(l)
                    ));
                }
                text
            })
        }
        AdminCommand::Device(DeviceCommand::Revoke { device }) => {
            let d = store.revoke_device(device.parse::<DeviceId>()?)?;
            out(json, &d, |d| {
                format!(
                    "device {} of {} revoked: it will wipe its data",
                    d.id, d.user
                )
            })
        }
        AdminCommand::Device(DeviceCommand::List) => {
            let ds = store.devices()?;
            out(json, &ds, |ds| {
                ds.iter()
                    .map(|d| {
                        format!(
                            "{}\t{}\t{}\tlast sync {}",
                            d.id,
                            d.user,
                            if d.revoked { "revoked" } else { "active" },
                            d.last_sync.as_deref().unwrap_or("never")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::Import { team, csv } => {
            let team: TeamId = team.parse()?;
            let file = std::fs::File::open(&csv).map_err(|source| Error::Io {
                path: csv.display().to_string(),
                source,
            })?;
            let rows = import::read_policies(file)?;
            let r = matching::import_policies(store, &team, &rows)?;
            out(json, &r, |r| {
                format!(
                    "{} rows: customers {} created, {} updated; policies {} created, {} updated",
                    rows.len(),
                    r.customers_created,
                    r.customers_updated,
                    r.policies_created,
                    r.policies_updated
                )
            })
        }
        AdminCommand::Assign {
            customer,
            agent,
            orphan,
        } => {
            let id: CustomerId = customer.parse()?;
            let c = store.assign(id, &agent.parse()?, orphan)?;
            out(json, &c, |c| {
                format!(
                    "{} ({}) is now {}'s",
                    c.name,
                    c.id,
                    c.agent.as_ref().map_or("nobody".into(), |a| a.to_string())
                )
            })
        }
        AdminCommand::Playbook { team, file } => {
            let team: TeamId = team.parse()?;
            let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
                path: file.display().to_string(),
                source,
            })?;
            let p = store.set_playbook(&team, &text)?;
            out(
                json,
                &serde_json::json!({ "team": team, "hash": p.hash }),
                |_| format!("playbook {} in force for {team}", p.hash),
            )
        }
        // Handled above, before the data directory is opened.
        AdminCommand::Migrate {
            from_sqlite,
            database_url,
        } => migrate(json, &from_sqlite, &database_url),
        AdminCommand::Rejections { limit } => {
            let rs = store.rejections(limit)?;
            out(json, &rs, |rs| {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}\t×{}",
                            r.last_at, r.user, r.doc, r.code, r.message, r.attempts
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}
