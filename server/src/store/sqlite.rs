//! The embedded store: one SQLite file (`DIR/server.db`) holding client-core's documents and
//! index (through a `client_core::Store` whose identity is `server`, a district manager) and
//! the server's own tables (through a second connection to the same file).
//!
//! Concurrency. Document writes go through the `client_core::Store` behind a mutex (callers
//! are on blocking threads; SQLite has one writer); quick reads and account writes use the
//! second connection behind its own mutex. When both are needed the document mutex is taken
//! first. The costly part of a sync request — decoding, merging and checking its messages —
//! runs before it takes the document mutex, on a pooled read connection
//! (`client_core::premerge::Reader`; WAL lets it read the last commit while the writer works),
//! so concurrent requests merge at the same time and hold the mutex only to store
//! (`sync.rs`). Because
//! `doorstep admin` may change documents while a server runs on the same directory, every
//! piece of document work also holds an exclusive lock on `DIR/server.lock`, and admin bumps
//! `server_meta.doc_epoch` after writing documents: a server that sees a new epoch reopens its
//! `client_core::Store`, so its cache never hides (or overwrites) what admin wrote.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use automerge::{AutoCommit, ChangeHash};
use chrono::{NaiveDate, SecondsFormat};
use client_core::index::{query_json, query_one};
use client_core::layout::Codes;
use client_core::model::{
    Comment, Conflict, Contact, Customer, CustomerPatch, Policy, PolicyPatch, PolicyStatus, Role,
    Visit,
};
use client_core::playbook::Playbook;
use client_core::protocol::{PlaybookUpdate, SyncRequest, SyncResponse};
use client_core::{
    CustomerId, DocId, Durability, Identity, Options, ProblemId, RaisedProblem, Store, UserId,
    VisitId,
};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::group_commit::GroupCommit;
use super::working_sets::SetCache;
use super::{
    schema, Accounts, AgentDayRecords, CustomerDetail, Documents, ImportPlan, Imports, Logs,
    PlannedCard, PlannedPolicy, Projection, RejectionRecord, Sessions, SpotCheckMark, TeamData,
    TeamMember,
};
use crate::accounts::{
    is_actor_hex, new_token, token_hash, Device, DeviceId, DeviceInfo, IssuedDevice, Member,
    NewMember, TeamId,
};
use crate::error::{Error, Result};
use crate::history::{self, Receipt};

/// The database file inside a data directory.
pub const DB_FILE: &str = "server.db";
/// The lock file that serialises document work between a server and `doorstep admin`.
const LOCK_FILE: &str = "server.lock";
/// The lock file a `doorstep serve` holds (shared) for as long as it serves a data directory;
/// `doorstep admin migrate` takes it exclusively, so it never copies a directory being served
/// and no server starts on one being copied.
pub const SERVE_LOCK_FILE: &str = "serve.lock";

/// Takes the data directory's serve lock, shared (`doorstep serve`) or exclusive (a
/// migration), without waiting: held until the returned file is dropped. Refused while the
/// other kind holds it.
pub fn hold_serve_lock(dir: &Path, exclusive: bool) -> Result<File> {
    crate::lock_files::try_hold(dir, SERVE_LOCK_FILE, exclusive)?.ok_or_else(|| {
        Error::invalid(
            "data directory",
            if exclusive {
                format!(
                    "{} is being served (stop `doorstep serve` first)",
                    dir.display()
                )
            } else {
                format!(
                    "{} is being migrated (doorstep admin migrate)",
                    dir.display()
                )
            },
        )
    })
}

/// The lock file that serialises document work (see [`LOCK_FILE`]), as a path in `dir`.
pub fn document_lock_path(dir: &Path) -> PathBuf {
    dir.join(LOCK_FILE)
}

/// The built-in insurance playbook's file, sent to devices of teams without their own.
pub(super) const BUILT_IN_PLAYBOOK: &str = include_str!("../../../docs/playbooks/insurance.toml");
/// The user id the server writes documents under (imports, reassignments).
pub(super) const SERVER_USER: &str = "server";

/// Now, as stored (RFC 3339, UTC, milliseconds: sorts as text).
pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// SHA-256 of some bytes, hex.
pub(super) fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Core {
    store: Store,
    /// The `doc_epoch` the store was opened at.
    epoch: i64,
    lock: File,
}

/// The embedded SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    core: Mutex<Core>,
    db: Mutex<Connection>,
    /// Working sets read lately, for the managers' views (`working_set`).
    pub(super) sets: Mutex<SetCache>,
    /// The playbook codes of each team's playbook history, keyed by the history's hashes.
    codes: Mutex<HashMap<String, (String, std::sync::Arc<Codes>)>>,
    /// How long one sync request may work on its messages (`sync::SYNC_BUDGET`).
    pub(super) sync_budget: std::time::Duration,
    /// The bound of the document cache, in bytes (`doorstep serve --doc-cache-mb`).
    doc_cache_bytes: usize,
    /// Read connections for premerging sync messages outside the document lock
    /// (`sync::premerge`), kept between requests: one per request working at once.
    readers: Mutex<Vec<client_core::premerge::Reader>>,
    /// What became of the premerges (`sync::premerge`).
    pub(super) premerges: PremergeCounts,
    /// The writer's fsyncs, shared by the requests (`None`: the database is not in WAL mode,
    /// and the writer syncs each commit itself).
    pub(super) group: Option<GroupCommit>,
}

/// What became of the sync messages premerged outside the document lock, since the store
/// opened: prepared, then under the lock either used (stored, or its refusal kept) or found
/// stale (its document or sync state had changed: received again there).
#[derive(Debug, Default)]
pub struct PremergeCounts {
    /// Messages merged and checked outside the lock.
    pub prepared: std::sync::atomic::AtomicU64,
    /// Of them, used as they were.
    pub used: std::sync::atomic::AtomicU64,
    /// Of them, stale under the lock: received again.
    pub stale: std::sync::atomic::AtomicU64,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The server's document cache by default: 24 MiB, about 1,100 customer documents of the
/// benchmarks' shape (a card and 3 visits, ~1.8 KiB saved, ~21 KiB loaded: see
/// `client_core::store::loaded_size`), about the 1,024 documents it held when it was bounded
/// by count. 64 MiB (~3,000 documents) took the server's peak memory to 192 MiB with 50
/// devices uploading at once, over the 150 MB it is meant to stay under (docs/benchmarks.md).
pub const DOC_CACHE_BYTES: usize = 24 << 20;

/// The document writer's options: `synchronous = NORMAL` when its commits are made durable
/// by group commit (`group_commit`), `FULL` otherwise.
fn core_options(cache_bytes: usize, grouped: bool) -> Options {
    Options {
        cache_bytes,
        durability: if grouped {
            Durability::Process
        } else {
            Durability::PowerLoss
        },
        ..Options::default()
    }
}

fn read_epoch(conn: &Connection) -> Result<i64> {
    let v: String = conn.query_row(
        "SELECT value FROM server_meta WHERE key = 'doc_epoch'",
        [],
        |r| r.get(0),
    )?;
    Ok(v.parse().unwrap_or(0))
}

fn role_of(code: &str) -> Result<Role> {
    Role::from_code(code).ok_or_else(|| Error::invalid("role", format!("stored role {code:?}")))
}

fn member_row(
    r: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<(String, String, String, String, Option<String>)> {
    Ok((
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
    ))
}

fn member_of(row: (String, String, String, String, Option<String>)) -> Result<Member> {
    let (user, name, role, team, reports_to) = row;
    Ok(Member {
        user: user.parse()?,
        name,
        role: role_of(&role)?,
        team: team.parse()?,
        reports_to: reports_to.map(|r| r.parse()).transpose()?,
    })
}

const MEMBER_COLUMNS: &str = "u.id, u.name, u.role, u.team, u.reports_to";

fn device_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, DeviceInfoRow)> {
    Ok((
        r.get(0)?,
        DeviceInfoRow {
            user: r.get(1)?,
            actor: r.get(2)?,
            revoked: r.get(3)?,
            created_at: r.get(4)?,
            last_seen: r.get(5)?,
            last_sync: r.get(6)?,
            desk: r.get(7)?,
        },
    ))
}

struct DeviceInfoRow {
    user: String,
    actor: Option<String>,
    revoked: bool,
    created_at: String,
    last_seen: Option<String>,
    last_sync: Option<String>,
    desk: bool,
}

fn to_info(id: String, r: DeviceInfoRow) -> Result<DeviceInfo> {
    Ok(DeviceInfo {
        id: id.parse()?,
        user: r.user.parse()?,
        actor: r.actor,
        revoked: r.revoked,
        created_at: r.created_at,
        last_seen: r.last_seen,
        last_sync: r.last_sync,
        desk: r.desk,
    })
}

/// Whether the row of `devices` is a manager's desk.
const DESK: &str = "EXISTS (SELECT 1 FROM desk_devices k WHERE k.device = devices.id)";

const DEVICE_COLUMNS: &str = "id, user, actor, revoked, created_at, last_seen, last_sync, \
     EXISTS (SELECT 1 FROM desk_devices k WHERE k.device = devices.id)";

impl SqliteStore {
    /// Opens the store in `dir`, creating the directory and the database if needed.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(DB_FILE);
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        let opened = Self::open_locked(&path, DOC_CACHE_BYTES);
        let _ = lock.unlock();
        let (store, conn, grouped) = opened?;
        let epoch = read_epoch(&conn)?;
        Ok(SqliteStore {
            group: grouped.then(|| GroupCommit::new(&path)),
            path,
            core: Mutex::new(Core { store, epoch, lock }),
            db: Mutex::new(conn),
            sets: Mutex::new(SetCache::default()),
            codes: Mutex::new(HashMap::new()),
            sync_budget: super::sync::SYNC_BUDGET,
            doc_cache_bytes: DOC_CACHE_BYTES,
            readers: Mutex::new(Vec::new()),
            premerges: PremergeCounts::default(),
        })
    }

    /// The same store, its document cache bounded by `bytes` instead of [`DOC_CACHE_BYTES`]
    /// (`doorstep serve --doc-cache-mb`).
    pub fn with_doc_cache_bytes(mut self, bytes: usize) -> Self {
        self.doc_cache_bytes = bytes;
        let core = self.core.get_mut().unwrap_or_else(|e| e.into_inner());
        core.store.set_cache_bytes(bytes);
        self
    }

    /// The same store with each commit synced by itself under the document lock
    /// (`synchronous = FULL`) instead of group commit: what the store did before group commit,
    /// kept for comparison (`server/benches/concurrency.rs`).
    pub fn without_group_commit(mut self) -> Result<Self> {
        if self.group.take().is_some() {
            let core = self.core.get_mut().unwrap_or_else(|e| e.into_inner());
            core.store = Store::open(&self.path, core_options(self.doc_cache_bytes, false))?;
        }
        Ok(self)
    }

    /// How full the document cache is: estimated bytes, documents, and the bound.
    pub fn doc_cache_usage(&self) -> client_core::CacheUsage {
        let core = self.core.lock().unwrap_or_else(|e| e.into_inner());
        core.store.cache_usage()
    }

    /// The same store, giving each sync request `budget` to work on its messages instead of
    /// [`super::sync::SYNC_BUDGET`] (`doorstep serve --sync-budget-ms`).
    pub fn with_sync_budget(mut self, budget: std::time::Duration) -> Self {
        self.sync_budget = budget;
        self
    }

    /// Opens (or creates) the document writer and the server tables' connection; the bool
    /// says whether the writer's commits are grouped (the database is in WAL mode).
    fn open_locked(path: &Path, cache_bytes: usize) -> Result<(Store, Connection, bool)> {
        let mut store = if path.exists() {
            Store::open(path, core_options(cache_bytes, true))?
        } else {
            let identity = Identity {
                user: SERVER_USER.parse()?,
                role: Role::DistrictManager,
            };
            Store::create(path, identity, core_options(cache_bytes, true))?
        };
        let conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let grouped = mode.eq_ignore_ascii_case("wal");
        if !grouped {
            // No WAL to sync after the fact: the writer syncs each commit itself.
            tracing::warn!(%mode, "the database is not in WAL mode: commits are not grouped");
            drop(store);
            store = Store::open(path, core_options(cache_bytes, false))?;
        }
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        // The managers' views read a team's working set (tens of thousands of index rows) on
        // this connection: 64 MiB of page cache instead of SQLite's 2 MiB keeps those pages
        // in the process rather than copying them from the OS on every view.
        conn.pragma_update(None, "cache_size", -65_536)?;
        schema::init(&conn)?;
        Ok((store, conn, grouped))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The server tables' connection (short work only).
    pub(super) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What became of the premerged sync messages so far: (prepared, used, stale).
    pub fn premerge_counts(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let p = &self.premerges;
        (
            p.prepared.load(Relaxed),
            p.used.load(Relaxed),
            p.stale.load(Relaxed),
        )
    }

    /// Runs `f` on one of the store's read connections to the documents (opened on first
    /// need, kept for the next request).
    pub(super) fn with_reader<R>(
        &self,
        f: impl FnOnce(&client_core::premerge::Reader) -> R,
    ) -> Result<R> {
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let reader = match pooled {
            Some(r) => r,
            None => client_core::premerge::Reader::open(&self.path, None)?,
        };
        let r = f(&reader);
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(reader);
        Ok(r)
    }

    /// Runs document work on the `client_core::Store`, holding the data directory's lock;
    /// `writes` bumps the document epoch afterwards (admin), so a running server reloads.
    pub(super) fn with_core<R>(
        &self,
        writes: bool,
        f: impl FnOnce(&mut Store) -> Result<R>,
    ) -> Result<R> {
        let mut guard = match self.core.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                // A panic in the middle of document work: reload rather than trust the cache.
                let mut g = poisoned.into_inner();
                g.epoch = -1;
                g
            }
        };
        let core = &mut *guard;
        core.lock.lock().map_err(io_err(&self.path))?;
        let (rows_before, epoch_before) = (core.store.rows_written(), core.epoch);
        let result = self.refresh(core).and_then(|()| {
            let r = f(&mut core.store)?;
            if writes {
                let db = self.db();
                db.execute(
                    "UPDATE server_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'doc_epoch'",
                    [],
                )?;
                core.epoch = read_epoch(&db)?;
            }
            Ok(r)
        });
        // A store reopened by `refresh` counts its rows from zero: count it as written.
        let wrote = core.store.rows_written() != rows_before || core.epoch != epoch_before;
        let ticket = self.group.as_ref().map(|g| g.ticket(wrote));
        let _ = core.lock.unlock();
        drop(guard);
        // Outside the lock: this call's writes, and every write it could have read, on disk
        // before its answer leaves (`group_commit`); other calls work meanwhile.
        if let (Some(group), Some(ticket)) = (&self.group, ticket) {
            let durable = group.wait_durable(ticket).map_err(|source| Error::Io {
                path: format!("{}-wal", self.path.display()),
                source,
            });
            let r = result?;
            durable?;
            return Ok(r);
        }
        result
    }

    fn refresh(&self, core: &mut Core) -> Result<()> {
        let epoch = read_epoch(&self.db())?;
        if epoch != core.epoch {
            tracing::info!(epoch, "documents changed outside this process: reloading");
            core.store = Store::open(
                &self.path,
                core_options(self.doc_cache_bytes, self.group.is_some()),
            )?;
            core.epoch = epoch;
        }
        Ok(())
    }

    /// The members of a team, without device figures.
    pub(super) fn team(&self, team: &TeamId) -> Result<Vec<Member>> {
        let db = self.db();
        let mut stmt = db.prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM users u WHERE u.team = ?1 ORDER BY u.id"
        ))?;
        let rows = stmt.query_map([team.as_str()], |r| member_row(r, 0))?;
        let mut out = vec![];
        for row in rows {
            out.push(member_of(row?)?);
        }
        Ok(out)
    }

    /// The playbook in force for a team: its own, or the built-in insurance playbook.
    pub(super) fn playbook_of(&self, team: &TeamId) -> Result<PlaybookUpdate> {
        let own: Option<(String, String)> = self
            .db()
            .query_row(
                "SELECT toml, hash FROM playbooks WHERE team = ?1",
                [team.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match own {
            Some((toml, hash)) => PlaybookUpdate { hash, toml },
            None => PlaybookUpdate {
                hash: sha256_hex(BUILT_IN_PLAYBOOK.as_bytes()),
                toml: BUILT_IN_PLAYBOOK.to_string(),
            },
        })
    }

    /// The playbook codes records of a team may use: the union over every playbook the team
    /// has had in force (the built-in one, which every team starts with, and each file put in
    /// force since: `playbook_history`), so a phone still on an older playbook is not refused.
    pub(super) fn codes_of(&self, team: &TeamId) -> Result<std::sync::Arc<Codes>> {
        let files: Vec<(String, String)> = {
            let db = self.db();
            let mut stmt = db.prepare_cached(
                "SELECT hash, toml FROM playbook_history WHERE team = ?1
                 UNION SELECT hash, toml FROM playbooks WHERE team = ?1
                 ORDER BY 1",
            )?;
            let rows = stmt.query_map([team.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let key: String = files.iter().map(|(h, _)| h.as_str()).collect();
        let mut cache = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, c)) = cache.get(team.as_str()) {
            if *k == key {
                return Ok(c.clone());
            }
        }
        let mut books = vec![Playbook::insurance()];
        for (_, toml) in &files {
            books.push(Playbook::from_toml_str(
                &format!("playbook of {team}"),
                toml,
            )?);
        }
        let codes = std::sync::Arc::new(Codes::of(&books));
        cache.insert(team.as_str().to_string(), (key, codes.clone()));
        Ok(codes)
    }

    /// The device the member's desk syncs as, registered on first use (`Accounts::desk_device`).
    fn desk_device_row(&self, member: &Member, actor: &str) -> Result<Device> {
        if !is_actor_hex(actor) {
            return Err(Error::invalid("desk actor", "not a hex Automerge actor"));
        }
        let actor = actor.to_ascii_lowercase();
        let known: Option<String> = self
            .db()
            .query_row(
                "SELECT device FROM desk_devices WHERE user = ?1 AND actor = ?2",
                [member.user.as_str(), actor.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let id = match known {
            Some(id) => id,
            None => {
                // The token is thrown away: a desk is only ever called in-process.
                let issued = self.issue_device(&member.user)?;
                self.db().execute(
                    "INSERT INTO desk_devices (device, user, actor) VALUES (?1, ?2, ?3)",
                    params![issued.device.to_string(), member.user.as_str(), actor],
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

    /// Records the changes the server itself made to `doc` since `before` (for the history).
    fn log_own_changes(&self, core: &mut Store, doc: &DocId, before: &[ChangeHash]) -> Result<()> {
        let Some(bytes) = core.save_document(doc)? else {
            return Ok(());
        };
        let mut d = AutoCommit::load(&bytes).map_err(|e| client_core::Error::CorruptDocument {
            doc: doc.to_string(),
            reason: e.to_string(),
        })?;
        let at = now();
        // Inside a batch (an import) the log goes into the batch's transaction.
        let guard;
        let db: &Connection = match core.batch_connection() {
            Some(c) => c,
            None => {
                guard = self.db();
                &guard
            }
        };
        for c in d.get_changes(before) {
            db.prepare_cached(
                "INSERT INTO change_log (hash, doc, received_at, via) VALUES (?1, ?2, ?3, 'admin')
                 ON CONFLICT (hash) DO NOTHING",
            )?
            .execute(params![c.hash().to_string(), doc.to_string(), at])?;
        }
        Ok(())
    }

    /// Writes an import plan (decided by `crate::matching`) as the server's own user, inside
    /// the store's batch: the plan is first checked against what the batch sees
    /// (`imports::check_fresh`; the batch's `BEGIN IMMEDIATE` under the data directory's lock
    /// serialises it with every other import, of this process or another).
    fn import_locked(&self, core: &mut Store, plan: &ImportPlan) -> Result<Vec<CustomerId>> {
        {
            let db = core
                .batch_connection()
                .ok_or_else(|| Error::Internal("an import outside its batch".into()))?;
            let mut key = db.prepare_cached(
                "SELECT k.customer FROM import_keys k
                 WHERE k.team = ?1 AND k.key = ?2
                   AND EXISTS (SELECT 1 FROM customers c WHERE c.id = k.customer)",
            )?;
            let mut keys_now = HashMap::new();
            for k in plan.keys() {
                let id: Option<String> = key
                    .query_row(params![plan.team.as_str(), k], |r| r.get(0))
                    .optional()?;
                if let Some(id) = id.and_then(|c| c.parse::<CustomerId>().ok()) {
                    keys_now.insert(k.to_string(), id);
                }
            }
            // One pass over the policies (`number` has no index, so a query per number would
            // scan them each time).
            let wanted: HashSet<&str> = plan.new_policy_numbers().collect();
            let mut numbers_held = HashSet::new();
            if !wanted.is_empty() {
                let mut all = db.prepare_cached("SELECT number FROM policies")?;
                let mut rows = all.query([])?;
                while let Some(r) = rows.next()? {
                    let n: String = r.get(0)?;
                    if wanted.contains(n.as_str()) {
                        numbers_held.insert(n);
                    }
                }
            }
            super::imports::check_fresh(plan, &keys_now, &numbers_held)?;
        }
        let mut ids = Vec::with_capacity(plan.customers.len());
        for planned in &plan.customers {
            let (id, before) = match &planned.card {
                PlannedCard::Existing(id, patch) => {
                    let doc = DocId::Customer(*id);
                    let before = core.heads(&doc)?;
                    if before.is_empty() {
                        return Err(Error::not_found("customer", id));
                    }
                    if let Some(patch) = patch {
                        core.edit_customer(*id, patch.clone())?;
                    }
                    (*id, before)
                }
                PlannedCard::New(new) => {
                    let c = core.add_customer(new.clone())?;
                    let db = core
                        .batch_connection()
                        .ok_or_else(|| Error::Internal("an import outside its batch".into()))?;
                    db.execute(
                        "INSERT INTO import_keys (team, key, customer) VALUES (?1, ?2, ?3)
                         ON CONFLICT (team, key) DO UPDATE SET customer = excluded.customer",
                        params![plan.team.as_str(), planned.key, c.id.to_string()],
                    )?;
                    (c.id, vec![])
                }
            };
            for policy in &planned.policies {
                match policy {
                    PlannedPolicy::New(new) => {
                        core.add_policy(id, new.clone())?;
                    }
                    PlannedPolicy::Existing(pid, patch) => {
                        core.edit_policy(*pid, patch.clone())?;
                    }
                }
            }
            self.log_own_changes(core, &DocId::Customer(id), &before)?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// One raised problem, read from its day's document.
    fn read_problem(&self, id: ProblemId) -> Result<Option<RaisedProblem>> {
        self.with_core(false, |core| match core.problem(id) {
            Ok(raised) => Ok(Some(raised)),
            Err(client_core::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        })
    }
}

impl Accounts for SqliteStore {
    fn create_team(&self, team: &TeamId) -> Result<()> {
        let n = self.db().execute(
            "INSERT INTO teams (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![team.as_str(), now()],
        )?;
        if n == 0 {
            return Err(Error::Exists {
                what: "team",
                id: team.to_string(),
            });
        }
        Ok(())
    }

    fn team_exists(&self, team: &TeamId) -> Result<bool> {
        Ok(self
            .db()
            .query_row(
                "SELECT 1 FROM teams WHERE name = ?1",
                [team.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn add_member(&self, new: NewMember) -> Result<Member> {
        if !self.team_exists(&new.team)? {
            return Err(Error::not_found("team", &new.team));
        }
        if new.user.as_str() == SERVER_USER {
            return Err(Error::invalid(
                "user",
                "`server` is the server's own user id",
            ));
        }
        if let Some(boss) = &new.reports_to {
            let ok = self
                .member(boss)?
                .is_some_and(|b| b.team == new.team && b.role > new.role);
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
        let name = if new.name.trim().is_empty() {
            new.user.to_string()
        } else {
            new.name.trim().to_string()
        };
        let n = self.db().execute(
            "INSERT INTO users (id, name, role, team, reports_to, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
            params![
                new.user.as_str(),
                name,
                new.role.code(),
                new.team.as_str(),
                new.reports_to.as_ref().map(|r| r.to_string()),
                now()
            ],
        )?;
        if n == 0 {
            return Err(Error::Exists {
                what: "user",
                id: new.user.to_string(),
            });
        }
        Ok(Member {
            user: new.user,
            name,
            role: new.role,
            team: new.team,
            reports_to: new.reports_to,
        })
    }

    fn member(&self, user: &UserId) -> Result<Option<Member>> {
        let row = self
            .db()
            .query_row(
                &format!("SELECT {MEMBER_COLUMNS} FROM users u WHERE u.id = ?1"),
                [user.as_str()],
                |r| member_row(r, 0),
            )
            .optional()?;
        row.map(member_of).transpose()
    }

    fn members(&self, team: Option<&TeamId>) -> Result<Vec<TeamMember>> {
        let db = self.db();
        let mut stmt = db.prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS},
                (SELECT count(*) FROM devices d WHERE d.user = u.id AND d.revoked = 0),
                (SELECT max(last_sync) FROM devices d WHERE d.user = u.id),
                NOT EXISTS (SELECT 1 FROM deactivated_users x WHERE x.user = u.id)
             FROM users u WHERE ?1 IS NULL OR u.team = ?1"
        ))?;
        let rows = stmt.query_map([team.map(|t| t.as_str())], |r| {
            Ok((
                member_row(r, 0)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, bool>(7)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (m, devices, last_sync, active) = row?;
            out.push(TeamMember {
                member: member_of(m)?,
                devices: devices as usize,
                last_sync,
                active,
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

    fn set_active(&self, user: &UserId, active: bool, by: Option<&UserId>) -> Result<TeamMember> {
        let Some(member) = self.member(user)? else {
            return Err(Error::not_found("user", user));
        };
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            if active {
                tx.execute(
                    "DELETE FROM deactivated_users WHERE user = ?1",
                    [user.as_str()],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO deactivated_users (user, by, at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (user) DO NOTHING",
                    params![user.as_str(), by.map(|b| b.to_string()), now()],
                )?;
                // Their phones wipe at their next sync; a desk is no phone (it is reached
                // only through a session, and those end here).
                tx.execute(
                    &format!("UPDATE devices SET revoked = 1 WHERE user = ?1 AND NOT ({DESK})"),
                    [user.as_str()],
                )?;
                tx.execute("DELETE FROM sessions WHERE user = ?1", [user.as_str()])?;
                tx.execute("DELETE FROM login_links WHERE user = ?1", [user.as_str()])?;
            }
            tx.commit()?;
        }
        self.members(Some(&member.team))?
            .into_iter()
            .find(|m| m.member.user == *user)
            .ok_or_else(|| Error::not_found("user", user))
    }

    fn is_active(&self, user: &UserId) -> Result<bool> {
        Ok(!self.db().query_row(
            "SELECT EXISTS (SELECT 1 FROM deactivated_users WHERE user = ?1)",
            [user.as_str()],
            |r| r.get::<_, bool>(0),
        )?)
    }

    fn issue_device(&self, user: &UserId) -> Result<IssuedDevice> {
        if self.member(user)?.is_none() {
            return Err(Error::not_found("user", user));
        }
        if !self.is_active(user)? {
            return Err(Error::invalid(
                "user",
                format!("{user} is deactivated: reactivate them first"),
            ));
        }
        let device = DeviceId::new();
        let token = new_token();
        self.db().execute(
            "INSERT INTO devices (id, user, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![device.to_string(), user.as_str(), token_hash(&token), now()],
        )?;
        Ok(IssuedDevice {
            device,
            user: user.clone(),
            token,
        })
    }

    fn revoke_device(&self, device: DeviceId) -> Result<DeviceInfo> {
        let db = self.db();
        let n = db.execute(
            "UPDATE devices SET revoked = 1 WHERE id = ?1",
            [device.to_string()],
        )?;
        if n == 0 {
            return Err(Error::not_found("device", device));
        }
        let (id, row) = db.query_row(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"),
            [device.to_string()],
            device_info,
        )?;
        to_info(id, row)
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        let db = self.db();
        let mut stmt = db.prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY user, created_at"
        ))?;
        let rows = stmt.query_map([], device_info)?;
        let mut out = vec![];
        for row in rows {
            let (id, r) = row?;
            out.push(to_info(id, r)?);
        }
        Ok(out)
    }

    fn authenticate(&self, token: &str) -> Result<Option<Device>> {
        let db = self.db();
        let row = db
            .query_row(
                &format!(
                    "SELECT d.id, d.actor, d.revoked, {MEMBER_COLUMNS}
                     FROM devices d JOIN users u ON u.id = d.user WHERE d.token_hash = ?1"
                ),
                [token_hash(token)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, bool>(2)?,
                        member_row(r, 3)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, actor, revoked, member)) = row else {
            return Ok(None);
        };
        db.prepare_cached("UPDATE devices SET last_seen = ?2 WHERE id = ?1")?
            .execute(params![id, now()])?;
        Ok(Some(Device {
            id: id.parse()?,
            member: member_of(member)?,
            actor,
            revoked,
        }))
    }

    fn desk_device(&self, member: &Member, actor: &str) -> Result<Device> {
        self.desk_device_row(member, actor)
    }

    fn set_playbook(&self, team: &TeamId, toml: &str) -> Result<PlaybookUpdate> {
        if !self.team_exists(team)? {
            return Err(Error::not_found("team", team));
        }
        Playbook::from_toml_str(&format!("playbook of {team}"), toml)?;
        let hash = sha256_hex(toml.as_bytes());
        self.db().execute(
            "INSERT INTO playbooks (team, toml, hash, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (team) DO UPDATE SET toml = excluded.toml, hash = excluded.hash,
                 updated_at = excluded.updated_at",
            params![team.as_str(), toml, hash, now()],
        )?;
        // Records written under this playbook stay valid after the next one (`codes_of`).
        self.db().execute(
            "INSERT INTO playbook_history (team, hash, toml, first_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (team, hash) DO NOTHING",
            params![team.as_str(), hash, toml, now()],
        )?;
        Ok(PlaybookUpdate {
            hash,
            toml: toml.to_string(),
        })
    }
}

impl Sessions for SqliteStore {
    fn set_password(&self, user: &UserId, phc: &str) -> Result<()> {
        self.set_password_row(user, phc)
    }

    fn password_hash(&self, user: &UserId) -> Result<Option<String>> {
        self.password_row(user)
    }

    fn create_session(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()> {
        self.insert_session(user, token_hash, expires_at)
    }

    fn session_member(&self, token_hash: &str) -> Result<Option<Member>> {
        self.session_row(token_hash)
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.delete_session_row(token_hash)
    }

    fn create_login_link(&self, user: &UserId, token_hash: &str, expires_at: &str) -> Result<()> {
        self.insert_login_link(user, token_hash, expires_at)
    }

    fn redeem_login_link(&self, token_hash: &str) -> Result<Option<UserId>> {
        self.redeem_link_row(token_hash)
    }
}

impl Documents for SqliteStore {
    fn document_cache_bytes(&self) -> Option<u64> {
        // `try_lock`: a scrape must not wait behind a sync request holding the documents.
        let core = self.core.try_lock().ok()?;
        Some(core.store.cache_usage().bytes as u64)
    }
    fn group_commit_counts(&self) -> Option<super::GroupCommitCounts> {
        self.group.as_ref().map(GroupCommit::counts)
    }
    fn sync(&self, device: &Device, request: &SyncRequest) -> Result<SyncResponse> {
        self.sync_request(device, request)
    }

    fn sync_within(
        &self,
        device: &Device,
        request: &SyncRequest,
        scope: Option<&DocId>,
    ) -> Result<SyncResponse> {
        self.sync_request_within(device, request, scope)
    }

    fn change_seq(&self) -> Result<i64> {
        self.read_change_seq()
    }

    fn assign(&self, customer: CustomerId, agent: &UserId, orphan: bool) -> Result<Customer> {
        if self.member(agent)?.is_none() {
            return Err(Error::not_found("user", agent));
        }
        self.with_core(true, |core| {
            let doc = DocId::Customer(customer);
            let before = core.heads(&doc)?;
            if before.is_empty() {
                return Err(Error::not_found("customer", customer));
            }
            let c = core.edit_customer(
                customer,
                CustomerPatch {
                    agent: Some(Some(agent.clone())),
                    ..CustomerPatch::default()
                },
            )?;
            if orphan {
                for p in core.policies_of(customer)? {
                    if p.status == PolicyStatus::Normal {
                        core.edit_policy(
                            p.id,
                            PolicyPatch {
                                status: Some(PolicyStatus::Orphan),
                                ..PolicyPatch::default()
                            },
                        )?;
                    }
                }
            }
            self.log_own_changes(core, &doc, &before)?;
            Ok(c)
        })
    }
}

impl Projection for SqliteStore {
    fn customer_agent(&self, id: CustomerId) -> Result<Option<Option<UserId>>> {
        let agent: Option<Option<String>> = self
            .db()
            .query_row(
                "SELECT agent FROM customers WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(agent.map(|a| a.and_then(|a| a.parse().ok())))
    }

    fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        Ok(query_one::<Customer>(
            &self.db(),
            "SELECT json FROM customers WHERE id = ?1",
            [id.to_string()],
        )?)
    }

    fn customer_detail(&self, id: CustomerId) -> Result<Option<CustomerDetail>> {
        let c = id.to_string();
        let doc = DocId::Customer(id);
        let (customer, policies, mut visits, contacts, comments, conflicts, receipts) = {
            let db = self.db();
            let Some(customer) =
                query_one::<Customer>(&db, "SELECT json FROM customers WHERE id = ?1", [&c])?
            else {
                return Ok(None);
            };
            let policies: Vec<Policy> = query_json(
                &db,
                "SELECT json FROM policies WHERE customer = ?1 ORDER BY due_date, number",
                [&c],
            )?;
            let visits: Vec<Visit> =
                query_json(&db, "SELECT json FROM visits WHERE customer = ?1", [&c])?;
            let contacts: Vec<Contact> = query_json(
                &db,
                "SELECT json FROM contacts WHERE customer = ?1 ORDER BY day, id",
                [&c],
            )?;
            let comments: Vec<Comment> = query_json(
                &db,
                "SELECT json FROM comments WHERE customer = ?1 ORDER BY id",
                [&c],
            )?;
            let conflicts: Vec<Conflict> = query_json(
                &db,
                "SELECT json FROM conflicts WHERE doc = ?1 ORDER BY object, field",
                [doc.to_string()],
            )?;
            let mut receipts = HashMap::new();
            let mut stmt =
                db.prepare_cached("SELECT hash, received_at, via FROM change_log WHERE doc = ?1")?;
            let rows = stmt.query_map([doc.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
            })?;
            for row in rows {
                let (hash, at, via) = row?;
                receipts.insert(hash, Receipt { at, via });
            }
            (
                customer, policies, visits, contacts, comments, conflicts, receipts,
            )
        };
        visits.sort_by_key(|v| v.number);
        // Read on a reader: a manager's view of a customer does not wait for sync requests
        // writing other documents.
        let bytes = self.with_reader(|r| r.save_document(&doc))??;
        let history = match bytes {
            Some(b) => history::history(&doc, &b, &receipts)?,
            None => vec![],
        };
        Ok(Some(CustomerDetail {
            customer,
            policies,
            visits,
            contacts,
            comments,
            conflicts,
            history,
        }))
    }

    fn policy_by_number(&self, number: &str) -> Result<Option<Policy>> {
        Ok(query_one::<Policy>(
            &self.db(),
            "SELECT json FROM policies WHERE number = ?1",
            [number],
        )?)
    }

    fn visits(&self, agent: &UserId, date: NaiveDate) -> Result<Vec<Visit>> {
        let mut v: Vec<Visit> = query_json(
            &self.db(),
            "SELECT json FROM visits WHERE agent = ?1 AND day = ?2",
            params![agent.as_str(), date.to_string()],
        )?;
        v.sort_by_key(|a| (a.start, a.id));
        Ok(v)
    }

    fn visit(&self, id: VisitId) -> Result<Option<Visit>> {
        self.read_visit(id)
    }

    fn problem(&self, id: ProblemId) -> Result<Option<RaisedProblem>> {
        self.read_problem(id)
    }

    fn team_data(&self, team: &TeamId, from: NaiveDate, to: NaiveDate) -> Result<TeamData> {
        self.read_team_data(team, from, to)
    }

    fn team_problems(&self, team: &TeamId) -> Result<Vec<RaisedProblem>> {
        self.read_team_problems(team)
    }

    fn agent_day(&self, agent: &UserId, date: NaiveDate) -> Result<AgentDayRecords> {
        self.read_agent_day(agent, date)
    }

    fn visits_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Visit>> {
        self.read_visits_between(agents, from, to)
    }

    fn contacts_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Contact>> {
        self.read_contacts_between(agents, from, to)
    }
}

impl Imports for SqliteStore {
    fn import_key(&self, team: &TeamId, key: &str) -> Result<Option<CustomerId>> {
        let known: Option<String> = self
            .db()
            .query_row(
                "SELECT customer FROM import_keys WHERE team = ?1 AND key = ?2",
                params![team.as_str(), key],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = known.and_then(|c| c.parse::<CustomerId>().ok()) else {
            return Ok(None);
        };
        Ok(self.customer(id)?.map(|_| id))
    }

    fn apply_import(&self, plan: &ImportPlan) -> Result<Vec<CustomerId>> {
        // One transaction: a plan that fails part-way writes nothing.
        self.with_core(true, |core| {
            core.batch(|core| self.import_locked(core, plan))
        })
    }
}

impl Logs for SqliteStore {
    fn rejections(&self, limit: usize) -> Result<Vec<RejectionRecord>> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT device, user, doc, code, message, first_at, last_at, attempts
             FROM sync_rejections ORDER BY last_at DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                RejectionRecord {
                    device: DeviceId::default(),
                    user: r.get(1)?,
                    doc: r.get(2)?,
                    code: r.get(3)?,
                    message: r.get(4)?,
                    first_at: r.get(5)?,
                    last_at: r.get(6)?,
                    attempts: r.get(7)?,
                },
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (device, mut rec) = row?;
            rec.device = device.parse()?;
            out.push(rec);
        }
        Ok(out)
    }

    fn mark_spot_check(
        &self,
        agent: &UserId,
        week_from: NaiveDate,
        by: &UserId,
        note: &str,
    ) -> Result<SpotCheckMark> {
        self.write_spot_check(agent, week_from, by, note)
    }

    fn spot_check_marks(
        &self,
        agents: &[UserId],
        week_from: NaiveDate,
    ) -> Result<Vec<SpotCheckMark>> {
        self.read_spot_checks(agents, week_from)
    }
}
