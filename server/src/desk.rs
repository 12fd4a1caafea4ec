//! A manager's desk: the home a manager writes from when they use the dashboard.
//!
//! A comment or an answer must reach the agent's phone *as the manager's*: in the customer's
//! or the day's document, under the manager's own Automerge actor, with their user and role in
//! `actors`, exactly as if written on the manager's phone — so the history says who wrote it
//! and `verify` checks it like any other device's change. The server's own document store
//! writes as `server`, so it cannot do that. Each manager therefore has a desk: a
//! `client_core::Store` in `DIR/desks/<user>.db` with the manager's identity, registered as
//! one of the manager's devices (one per desk home: several instances on one database each
//! keep their own home, each its own device, `Accounts::desk_device`). A dashboard write syncs the desk with the server in-process
//! (the same `Documents::sync` a phone's `POST /v1/sync` runs, through client-sync's rounds),
//! writes through client-core's API (`comment_visit`, `answer_problem`), and syncs again; the
//! server stores the change through the verified path and phones receive it at their next
//! sync.
//!
//! The desk syncs only the document it writes to (the visit's customer, the problem's day):
//! a manager's phone holds the whole team, but a desk that did would pull tens of thousands of
//! documents before a supervisor's first comment on a large team (the views benchmark's team
//! of 50 agents with a year of work has about 23,000).
//!
//! The desk is a client of the sync API and nothing more: it reaches the server only through
//! the store's traits (`Accounts::desk_device`, `Documents::sync_within`, `Projection`), so it
//! works unchanged over any store.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use client_core::model::{Comment, Problem};
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{DocId, Identity, Options, ProblemAction, ProblemId, Store, VisitId};
use client_sync::{run_sync_blocking, RunOptions, SyncError, Transport};

use crate::accounts::{Device, Member};
use crate::error::{Error, Result};
use crate::store::{Accounts, Documents, Projection};

/// The folder of the desks inside the data directory.
const DESKS_DIR: &str = "desks";
/// The lock file an instance on PostgreSQL holds in its desk directory (`Desks::hold_dir`).
pub const DESKS_LOCK_FILE: &str = "desks.lock";

/// One desk write at a time in this process (a desk is one device: two concurrent runs of the
/// same device would step on each other's sync states).
static DESK_WORK: Mutex<()> = Mutex::new(());

/// A transport whose "server" is a store, called in-process.
struct InProcess<'a, S: ?Sized> {
    store: &'a S,
    device: Device,
    /// The one document the server pushes.
    scope: &'a DocId,
}

impl<S: Documents + ?Sized> Transport for InProcess<'_, S> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = std::result::Result<SyncResponse, SyncError>> + Send {
        // On a thread of its own, as the server calls the store on a blocking one: a store
        // with a synchronous network client (PostgreSQL's) may not block inside the run's
        // async runtime (it would panic).
        let result = std::thread::scope(|t| {
            t.spawn(|| {
                self.store
                    .sync_within(&self.device, request, Some(self.scope))
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the store's sync panicked".into())))
        })
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

/// The managers' desks of one server: their homes live in `DIR/desks/<user>.db`.
#[derive(Clone, Debug)]
pub struct Desks {
    dir: PathBuf,
}

impl Desks {
    /// The desks of the server whose data directory is `data`.
    pub fn in_data_dir(data: &Path) -> Desks {
        Desks {
            dir: data.join(DESKS_DIR),
        }
    }

    /// The desks kept in `dir` itself (a server on PostgreSQL has no data directory; each
    /// instance keeps its own, brought up to date from the store before every write).
    pub fn in_dir(dir: &Path) -> Desks {
        Desks {
            dir: dir.to_path_buf(),
        }
    }

    /// Takes `dir/desks.lock` exclusively, without waiting, for as long as the returned file
    /// is kept: a desk home is one Automerge actor, and two processes writing under one actor
    /// would give two different changes the same sequence number. So a second instance
    /// started with the same desk directory (two instances in one working directory, both on
    /// the default) is refused at start instead of corrupting the managers' comments.
    pub fn hold_dir(dir: &Path) -> Result<std::fs::File> {
        crate::lock_files::try_hold(dir, DESKS_LOCK_FILE, true)?.ok_or_else(|| {
            Error::invalid(
                "desk directory",
                format!(
                    "{} is in use by another `doorstep serve` (give each instance its own --desk-dir)",
                    dir.display()
                ),
            )
        })
    }

    fn path(&self, member: &Member) -> PathBuf {
        self.dir.join(format!("{}.db", member.user.as_str()))
    }

    fn open(&self, member: &Member) -> Result<Store> {
        let path = self.path(member);
        if path.exists() {
            return Ok(Store::open(&path, Options::default())?);
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
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
    fn at_desk<S, R>(
        &self,
        store: &S,
        member: &Member,
        doc: &DocId,
        write: impl FnOnce(&mut Store) -> Result<R>,
    ) -> Result<R>
    where
        S: Accounts + Documents + ?Sized,
    {
        if !member.role.is_manager() {
            return Err(Error::Forbidden(format!(
                "{} is not a manager: no desk",
                member.user
            )));
        }
        let _one_at_a_time = DESK_WORK.lock().unwrap_or_else(|e| e.into_inner());
        let home = Mutex::new(self.open(member)?);
        let actor = home.lock().unwrap_or_else(|e| e.into_inner()).actor_hex();
        let run = |home: &Mutex<Store>| -> Result<client_sync::SyncReport> {
            let transport = InProcess {
                store,
                device: store.desk_device(member, &actor)?,
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
            let mut desk = home.lock().unwrap_or_else(|e| e.into_inner());
            write(&mut desk)?
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

    /// A manager comments on a visit: written under the manager's own actor (their desk) so
    /// that it reaches the agent's phone at its next sync with its author.
    pub fn comment_visit<S>(
        &self,
        store: &S,
        author: &Member,
        visit: VisitId,
        text: &str,
    ) -> Result<Comment>
    where
        S: Accounts + Documents + Projection + ?Sized,
    {
        // An unknown visit is not found here; another team's is not found by the desk, which
        // is never sent that document: the same error either way.
        let Some(v) = store.visit(visit)? else {
            return Err(Error::not_found("visit", visit));
        };
        let doc = DocId::Customer(v.customer);
        self.at_desk(store, author, &doc, |desk| {
            Ok(desk.comment_visit(visit, text)?)
        })
    }

    /// A manager answers, escalates or annotates a problem (as [`Desks::comment_visit`]).
    pub fn answer_problem<S>(
        &self,
        store: &S,
        author: &Member,
        problem: ProblemId,
        text: &str,
        action: ProblemAction,
    ) -> Result<Problem>
    where
        S: Accounts + Documents + Projection + ?Sized,
    {
        let Some(raised) = store.problem(problem)? else {
            return Err(Error::not_found("problem", problem));
        };
        let doc = DocId::Day(raised.agent, raised.date);
        self.at_desk(store, author, &doc, |desk| {
            Ok(desk.answer_problem(problem, text, action)?)
        })
    }
}
