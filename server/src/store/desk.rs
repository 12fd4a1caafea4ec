//! A manager's desk: the home a manager writes from when they use the dashboard.
//!
//! A comment or an answer must reach the agent's phone *as the manager's*: in the customer's
//! or the day's document, under the manager's own Automerge actor, with their user and role in
//! `actors`, exactly as if written on the manager's phone — so the history says who wrote it
//! and `verify` checks it like any other device's change. The server's own document store
//! writes as `server`, so it cannot do that. Each manager therefore has a desk: a
//! `client_core::Store` in `DIR/desks/<user>.db` with the manager's identity, registered as
//! one of the manager's devices. A dashboard write syncs the desk with the server in-process
//! (the same `sync_request` a phone's `POST /v1/sync` runs, through client-sync's rounds),
//! writes through client-core's API (`comment_visit`, `answer_problem`), and syncs again; the
//! server stores the change through the verified path and phones receive it at their next
//! sync.
//!
//! The desk syncs only the document it writes to (the visit's customer, the problem's day):
//! a manager's phone holds the whole team, but a desk that did would pull tens of thousands of
//! documents before a supervisor's first comment on a large team (the views benchmark's team
//! of 50 agents with a year of work has about 23,000).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;

use client_core::model::{Comment, Problem};
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{DocId, Identity, Options, ProblemAction, ProblemId, Store, VisitId};
use client_sync::{run_sync_blocking, RunOptions, SyncError, Transport};
use rusqlite::{params, OptionalExtension};

use super::sqlite::SqliteStore;
use super::ServerStore;
use crate::accounts::{Device, Member};
use crate::error::{Error, Result};

/// The folder of the desks inside the data directory.
const DESKS_DIR: &str = "desks";

/// One desk write at a time in this process (a desk is one device: two concurrent runs of the
/// same device would step on each other's sync states).
static DESK_WORK: Mutex<()> = Mutex::new(());

/// A transport whose "server" is this store, called in-process.
struct InProcess<'a> {
    store: &'a SqliteStore,
    device: Device,
    /// The one document the server pushes.
    scope: &'a DocId,
}

impl Transport for InProcess<'_> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = std::result::Result<SyncResponse, SyncError>> + Send {
        let result = self
            .store
            .sync_request_within(&self.device, request, Some(self.scope))
            .map_err(|e| match e {
                Error::Revoked => SyncError::Revoked,
                e => SyncError::Server {
                    status: 500,
                    message: e.to_string(),
                },
            });
        std::future::ready(result)
    }
}

impl SqliteStore {
    fn desk_path(&self, member: &Member) -> PathBuf {
        let dir = self.path().parent().map(PathBuf::from).unwrap_or_default();
        dir.join(DESKS_DIR)
            .join(format!("{}.db", member.user.as_str()))
    }

    /// The device the member's desk syncs as, registered on first use.
    fn desk_device(&self, member: &Member) -> Result<Device> {
        let known: Option<String> = self
            .db()
            .query_row(
                "SELECT device FROM desks WHERE user = ?1",
                [member.user.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let id = match known {
            Some(id) => id,
            None => {
                // The token is thrown away: a desk is only ever called in-process.
                let issued = self.issue_device(&member.user)?;
                self.db().execute(
                    "INSERT INTO desks (user, device) VALUES (?1, ?2)",
                    params![member.user.as_str(), issued.device.to_string()],
                )?;
                issued.device.to_string()
            }
        };
        let (actor, revoked): (Option<String>, bool) = self.db().query_row(
            "SELECT actor, revoked FROM devices WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if revoked {
            return Err(Error::Revoked);
        }
        Ok(Device {
            id: id.parse()?,
            member: member.clone(),
            actor,
            revoked,
        })
    }

    fn open_desk(&self, member: &Member) -> Result<Store> {
        let path = self.desk_path(member);
        if path.exists() {
            return Ok(Store::open(&path, Options::default())?);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Ok(Store::create(
            &path,
            Identity {
                user: member.user.clone(),
                role: member.role,
            },
            Options::default(),
        )?)
    }

    /// Brings the desk's copy of `doc` up to date, runs `write` on it, and hands the change
    /// to the server.
    fn at_desk<R>(
        &self,
        member: &Member,
        doc: &DocId,
        write: impl FnOnce(&mut Store) -> Result<R>,
    ) -> Result<R> {
        if !member.role.is_manager() {
            return Err(Error::Forbidden(format!(
                "{} is not a manager: no desk",
                member.user
            )));
        }
        let _one_at_a_time = DESK_WORK.lock().unwrap_or_else(|e| e.into_inner());
        let home = Mutex::new(self.open_desk(member)?);
        let run = |home: &Mutex<Store>| -> Result<client_sync::SyncReport> {
            let transport = InProcess {
                store: self,
                device: self.desk_device(member)?,
                scope: doc,
            };
            Ok(run_sync_blocking(
                home,
                &transport,
                &RunOptions {
                    max_rounds: 40,
                    ..RunOptions::default()
                },
            )?)
        };
        run(&home)?;
        let out = {
            let mut store = home.lock().unwrap_or_else(|e| e.into_inner());
            write(&mut store)?
        };
        let report = run(&home)?;
        if let Some(problems) = report.problems() {
            return Err(Error::Internal(format!(
                "the desk of {} could not hand its write over: {problems}",
                member.user
            )));
        }
        Ok(out)
    }

    pub(super) fn desk_comment(
        &self,
        author: &Member,
        visit: VisitId,
        text: &str,
    ) -> Result<Comment> {
        // An unknown visit is not found here; another team's is not found by the desk, which
        // is never sent that document: the same error either way.
        let doc = self.with_core(false, |core| {
            Ok(DocId::Customer(core.visit(visit)?.customer))
        })?;
        self.at_desk(author, &doc, |desk| Ok(desk.comment_visit(visit, text)?))
    }

    pub(super) fn desk_answer(
        &self,
        author: &Member,
        problem: ProblemId,
        text: &str,
        action: ProblemAction,
    ) -> Result<Problem> {
        let doc = self.with_core(false, |core| {
            let raised = core.problem(problem)?;
            Ok(DocId::Day(raised.agent, raised.date))
        })?;
        self.at_desk(author, &doc, |desk| {
            Ok(desk.answer_problem(problem, text, action)?)
        })
    }
}
