//! The store: one home database holding a user's documents and their index.
//!
//! Every write goes the same way: load (or create) the document, apply the change in an
//! Automerge transaction, then in **one SQLite transaction** append the change's bytes
//! (`save_after` the heads last persisted: never the whole history) and re-project the
//! document into the index. When the call returns, the change is on disk; if anything fails,
//! nothing of the change is kept, in memory or on disk.
//!
//! The server merges many documents per sync request: inside [`Store::batch`] each document's
//! transaction becomes a savepoint of one transaction for the whole batch (one commit, one
//! fsync), with the same promise at the batch's end — committed when it returns `Ok`, and on
//! failure nothing of it kept, in memory or on disk.
//!
//! Documents are compacted (one snapshot replaces their chunks) once they have
//! `compact_after` chunks, in the same transaction as the write that crosses the threshold.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use automerge::sync;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ROOT};
use chrono::{Datelike, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value as Json};

use crate::checkpoint::Checkpointer;
use crate::db::{self, DatabaseKey, Durability};
use crate::doc_cache::{CacheUsage, DocCache};
use crate::documents::{self, check_kind, genesis, obj, record_obj, write_fields};
use crate::edits::{self, non_empty, Writer};
use crate::error::{Error, Result};
use crate::ids::{CommentId, ContactId, CustomerId, DocId, PolicyId, ProblemId, UserId, VisitId};
use crate::index::{self, query_json, query_one, CustomerView};
use crate::model::{
    Comment, Conflict, Contact, Customer, CustomerPatch, Day, EveningReport, NewContact,
    NewCustomer, NewPolicy, NewVisit, Policy, PolicyPatch, Problem, ProblemStatus, Role, Timestamp,
    Visit, WorkLog,
};
use crate::playbook::{
    self, PeriodProgress, Playbook, PostcodeGroup, Reminder, TodayStatus, WorkingSet,
};
use crate::premerge::Premerge;
use crate::protocol::DocMessage;
use crate::schema;

/// Who uses this home: the person and their role, bound once at creation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The person.
    pub user: UserId,
    /// Their role in the team.
    pub role: Role,
}

/// How a store is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// How hard writes are pushed to disk.
    pub durability: Durability,
    /// A document is compacted into one snapshot once it has this many chunks.
    pub compact_after: usize,
    /// How much memory the documents kept loaded between calls may take, in bytes (an
    /// estimate: see [`loaded_size`]); the least recently used go first.
    pub cache_bytes: usize,
    /// Checkpoint the write-ahead log on a background thread (`checkpoint`), keeping that
    /// work out of the writes; off, SQLite checkpoints inside an occasional write.
    pub background_checkpoints: bool,
    /// The key of an encrypted home (SQLCipher); `None` for a plain SQLite file.
    pub key: Option<DatabaseKey>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::PowerLoss,
            compact_after: 64,
            cache_bytes: PHONE_CACHE_BYTES,
            background_checkpoints: true,
            key: None,
        }
    }
}

/// The phone's document cache: 16 MiB, about 750 customer documents of a card and 3 visits
/// (an agent's working set is a few hundred customers).
pub const PHONE_CACHE_BYTES: usize = 16 << 20;

/// The estimated heap of a loaded document whose chunks take `saved` bytes on disk.
///
/// Measured (`client-core/tests/doc_cache.rs`: a counting allocator around the store loading
/// 200 documents): a customer with a card and 3 visits, 1,754 bytes in 4 chunks, takes
/// 20,986 bytes loaded (12×); compacted into 838 bytes, 18,989 (23×); with 30 visits, 13,133
/// bytes in 31 chunks, 44,108 (3.4×), compacted into 2,224 bytes, 38,545 (17×). A fixed part of about 17 KiB (Automerge's op set
/// tables, the cache entry) plus about twice the saved bytes: the estimate is
/// [`LOADED_BASE`] + [`LOADED_FACTOR`] × saved, within 0.6–1.3× of those measurements.
pub fn loaded_size(saved: usize) -> usize {
    LOADED_BASE + LOADED_FACTOR * saved
}

/// See [`loaded_size`].
pub const LOADED_FACTOR: usize = 3;
/// See [`loaded_size`].
pub const LOADED_BASE: usize = 16 << 10;

/// A document loaded in memory, with the heads already on disk.
pub(crate) struct Loaded {
    pub(crate) doc: AutoCommit,
    pub(crate) saved_heads: Vec<ChangeHash>,
    pub(crate) chunks: usize,
    pub(crate) bytes: usize,
}

/// What a manager does with an escalated problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemAction {
    /// Answer and close it.
    Resolve,
    /// Add a note and pass it one level up.
    Escalate,
    /// Add a note, keep it open where it is.
    Note,
}

/// A problem with where it came from, for a manager's list.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RaisedProblem {
    /// Who raised it.
    pub agent: UserId,
    /// In which day's report.
    pub date: NaiveDate,
    /// The problem.
    pub problem: Problem,
}

/// A clock the store reads for "now" (records' timestamps, the day of a new customer).
pub type Clock = Box<dyn Fn() -> Timestamp + Send + Sync>;

/// One user's home database.
pub struct Store {
    // Declared first so it stops before the connection closes (the last connection to close
    // checkpoints and removes the log).
    checkpointer: Option<Checkpointer>,
    conn: Connection,
    path: PathBuf,
    identity: Identity,
    actor: ActorId,
    playbook: Playbook,
    options: Options,
    cache: DocCache<Loaded>,
    clock: Clock,
    /// The open batch ([`Store::batch`]): the documents written in it, whose cache entries
    /// show what is not committed yet.
    batch: Option<HashSet<DocId>>,
}

pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Heads as stored: sorted hex hashes joined by commas (comparable as text).
pub fn heads_text(heads: &[ChangeHash]) -> String {
    let mut v: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    v.sort();
    v.join(",")
}

/// A sync exchange with one peer: the session states of the documents touched so far.
///
/// Only the shared heads outlive the session (persisted per document and peer); the rest is
/// reset on every new session, as Automerge's protocol expects after a reconnect.
#[derive(Debug)]
pub struct SyncSession {
    peer: String,
    states: HashMap<DocId, sync::State>,
}

impl SyncSession {
    /// The peer this session talks to.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Forgets a document's session state (it was dropped, or the peer refused it): a later
    /// message for it starts from the persisted shared heads again.
    pub fn forget(&mut self, doc: &DocId) {
        self.states.remove(doc);
    }
}

/// What a received sync message would add to a document, shown to a policy before anything
/// is stored (the server refuses forged actors and foreign records with it).
///
/// What several checks need is read once and kept: the document's genesis hash (computed
/// only if a change could be the genesis), who writes with each actor before and after the
/// message (`documents::actor_roles`), and a customer document as read before and after the
/// message (the after reading, which the layout check can hand in, is reused for the
/// projection when the message is stored).
pub struct Incoming<'a> {
    /// The document.
    pub doc: &'a DocId,
    /// The document as stored before the message.
    pub before: &'a AutoCommit,
    /// The document as it would be with the message merged.
    pub after: &'a AutoCommit,
    /// The changes the message adds, with their actors (hex).
    pub new_changes: Vec<(ChangeHash, String)>,
    /// The changes the message adds that depend on no other change (only the document's
    /// genesis may: see `layout::check_roots`).
    pub new_roots: Vec<ChangeHash>,
    genesis: OnceCell<Option<documents::GenesisRef>>,
    roles_before: OnceCell<documents::ActorRoles>,
    roles_after: OnceCell<documents::ActorRoles>,
    read_before: OnceCell<CustomerView>,
    read_after: OnceCell<CustomerView>,
}

impl<'a> Incoming<'a> {
    /// What `after` adds to `before` (whose heads are `before_heads`): its new changes with
    /// their actors, and those of them that depend on nothing.
    pub fn new(
        doc: &'a DocId,
        before: &'a AutoCommit,
        before_heads: &[ChangeHash],
        after: &'a mut AutoCommit,
    ) -> Incoming<'a> {
        // The changes' metadata only (hash, actor, dependencies): `get_changes` would encode
        // every new change's operations again just to learn these.
        let added = after.get_changes_meta(before_heads);
        let new_changes = added
            .iter()
            .map(|c| (c.hash, c.actor.to_hex_string()))
            .collect();
        let new_roots = added
            .iter()
            .filter(|c| c.deps.is_empty())
            .map(|c| c.hash)
            .collect();
        Incoming {
            doc,
            before,
            after,
            new_changes,
            new_roots,
            genesis: OnceCell::new(),
            roles_before: OnceCell::new(),
            roles_after: OnceCell::new(),
            read_before: OnceCell::new(),
            read_after: OnceCell::new(),
        }
    }

    /// The document's genesis hash (`documents::genesis_hash`), computed on first use.
    pub fn genesis(&self) -> Option<ChangeHash> {
        self.genesis_ref().map(|g| g.hash)
    }

    /// The document's genesis as the checks compare against it (its hash and root values),
    /// built on first use and shared by every check of this message.
    pub fn genesis_ref(&self) -> Option<&documents::GenesisRef> {
        self.genesis
            .get_or_init(|| documents::GenesisRef::of(self.doc).ok())
            .as_ref()
    }

    /// Whether a change (its hash, its actor as hex) is the document's genesis: only a change
    /// under the document's derived genesis actor can be, so the hash is computed only then.
    pub fn is_genesis(&self, hash: &ChangeHash, actor: &str) -> bool {
        actor == documents::genesis_actor(self.doc).to_hex_string() && Some(*hash) == self.genesis()
    }

    /// Who writes with each actor of the document before the message
    /// (`documents::actor_roles`), read once.
    pub fn roles_before(&self) -> &documents::ActorRoles {
        self.roles_before
            .get_or_init(|| documents::actor_roles(self.before))
    }

    /// Who writes with each actor of the document with the message merged, read once.
    pub fn roles_after(&self) -> &documents::ActorRoles {
        self.roles_after
            .get_or_init(|| documents::actor_roles(self.after))
    }

    /// The customer as the document reads before the message (`index::read_customer`; empty
    /// for a day), read once.
    pub fn customer_before(&self) -> &CustomerView {
        self.read_before
            .get_or_init(|| index::read_customer_with(self.before, self.doc, self.roles_before()))
    }

    /// The customer as the document would read with the message merged, read once.
    pub fn customer_after(&self) -> &CustomerView {
        self.read_after
            .get_or_init(|| index::read_customer_with(self.after, self.doc, self.roles_after()))
    }

    /// Keeps `view` as [`Incoming::customer_after`], when a check has read it already
    /// (`layout::check_and_read_customer`: the layout check's own reading of `after`). It must
    /// be what `index::read_customer` reads from `after`; a reading kept before is kept.
    pub fn keep_customer_after(&self, view: CustomerView) {
        let _ = self.read_after.set(view);
    }

    /// The after reading of a customer, if a check made it (for the projection).
    pub(crate) fn into_read_after(self) -> Option<CustomerView> {
        match self.doc {
            DocId::Customer(_) => self.read_after.into_inner(),
            DocId::Day(..) => None,
        }
    }
}

/// Marks these policies of a customer's document paid on `day` (and their failed deduction
/// settled), in the change that records the visit or contact whose outcome paid them.
fn mark_paid(d: &mut AutoCommit, policies: &[String], day: NaiveDate) -> Result<()> {
    for p in policies {
        if let Some(po) = record_obj(d, "policies", p, false)? {
            let mut m = Map::new();
            m.insert("paid_on".into(), Json::from(day.to_string()));
            m.insert("deduction_failed_on".into(), Json::Null);
            write_fields(d, &po, &m)?;
        }
    }
    Ok(())
}

/// A document as persisted on `conn` (its chunks, in order, loaded as one), `actor` the
/// actor it will write under; `None` if the home does not hold it.
pub(crate) fn load_from(conn: &Connection, id: &DocId, actor: &ActorId) -> Result<Option<Loaded>> {
    let mut stmt = conn.prepare_cached("SELECT data FROM chunks WHERE doc = ?1 ORDER BY id")?;
    let mut rows = stmt.query([id.to_string()])?;
    let mut bytes = Vec::new();
    let mut chunks = 0;
    while let Some(row) = rows.next()? {
        let data: Vec<u8> = row.get(0)?;
        bytes.extend_from_slice(&data);
        chunks += 1;
    }
    if chunks == 0 {
        return Ok(None);
    }
    let corrupt = |e: &dyn std::fmt::Display| Error::CorruptDocument {
        doc: id.to_string(),
        reason: e.to_string(),
    };
    let mut doc = AutoCommit::load(&bytes).map_err(|e| corrupt(&e))?;
    doc.set_actor(actor.clone());
    check_kind(&mut doc, id)?;
    let saved_heads = doc.get_heads();
    Ok(Some(Loaded {
        doc,
        saved_heads,
        chunks,
        bytes: bytes.len(),
    }))
}

impl Store {
    /// Creates a new home database at `path` for `identity`. Fails if one exists already.
    pub fn create(path: impl AsRef<Path>, identity: Identity, options: Options) -> Result<Store> {
        let path = path.as_ref();
        let actor = ActorId::random().to_hex_string();
        db::create(
            path,
            &[
                ("user", identity.user.as_str()),
                ("role", identity.role.code()),
                ("actor", &actor),
            ],
            options.key.as_ref(),
        )?;
        Store::open(path, options)
    }

    /// Opens an existing home database.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Store> {
        let path = path.as_ref();
        let conn = db::open(path, options.durability, options.key.as_ref())?;
        if options.background_checkpoints {
            conn.pragma_update(None, "wal_autocheckpoint", db::WRITER_AUTOCHECKPOINT_PAGES)?;
        }
        Store::assemble(conn, path, options)
    }

    fn assemble(conn: Connection, path: &Path, options: Options) -> Result<Store> {
        let missing = || Error::NotInitialised(path.to_path_buf());
        let user: UserId = meta_get(&conn, "user")?.ok_or_else(missing)?.parse()?;
        let role = meta_get(&conn, "role")?
            .and_then(|r| Role::from_code(&r))
            .ok_or_else(missing)?;
        let actor_hex = meta_get(&conn, "actor")?.ok_or_else(missing)?;
        let actor =
            ActorId::from(hex_bytes(&actor_hex).ok_or_else(|| Error::invalid("actor", "not hex"))?);
        let playbook = match meta_get(&conn, "playbook")? {
            Some(toml) => Playbook::from_toml_str("stored playbook", &toml)?,
            None => Playbook::insurance(),
        };
        let checkpointer = if options.background_checkpoints {
            Some(
                Checkpointer::spawn(path.to_path_buf(), options.key.clone()).map_err(|source| {
                    Error::Io {
                        path: path.to_path_buf(),
                        source,
                    }
                })?,
            )
        } else {
            None
        };
        Ok(Store {
            checkpointer,
            conn,
            path: path.to_path_buf(),
            identity: Identity { user, role },
            actor,
            playbook,
            cache: DocCache::new(options.cache_bytes),
            options,
            clock: Box::new(|| chrono::Local::now().fixed_offset()),
            batch: None,
        })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who uses this home.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// This device's Automerge actor, as hex.
    pub fn actor_hex(&self) -> String {
        self.actor.to_hex_string()
    }

    /// The team's playbook in force on this device.
    pub fn playbook(&self) -> &Playbook {
        &self.playbook
    }

    /// Replaces the playbook (from a TOML file's text); it is kept across restarts.
    pub fn set_playbook_toml(&mut self, toml: &str) -> Result<()> {
        let pb = Playbook::from_toml_str("new playbook", toml)?;
        meta_set(&self.conn, "playbook", toml)?;
        self.playbook = pb;
        Ok(())
    }

    /// A setting of this home (the sync driver keeps the server's URL and the device token
    /// here, the status its last success and error).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        meta_get(&self.conn, &format!("setting.{key}"))
    }

    /// Sets (or with `None` removes) a setting of this home.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let key = format!("setting.{key}");
        match value {
            Some(v) => meta_set(&self.conn, &key, v),
            None => {
                self.conn
                    .execute("DELETE FROM meta WHERE key = ?1", [key])?;
                Ok(())
            }
        }
    }

    /// Deletes every document, index row, sync state and setting of this home (a revoked
    /// device's data must go). The identity stays, so the home can be logged in again.
    pub fn wipe(&mut self) -> Result<()> {
        self.cache.clear();
        let tx = self.conn.transaction()?;
        for t in ["chunks", "documents", "sync_states"]
            .iter()
            .chain(schema::INDEX_TABLE_NAMES)
        {
            tx.execute(&format!("DELETE FROM {t}"), [])?;
        }
        tx.execute("DELETE FROM meta WHERE key LIKE 'setting.%'", [])?;
        tx.commit()?;
        self.conn.execute_batch("VACUUM")?;
        Ok(())
    }

    /// Replaces the clock (tests, demos and benchmarks record in the past).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Now, by the store's clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    // ----- documents -------------------------------------------------------------------

    fn load(&self, id: &DocId) -> Result<Option<Loaded>> {
        load_from(&self.conn, id, &self.actor)
    }

    /// Takes a document out of the cache (loading it, or starting it when `create`).
    fn take(&mut self, id: &DocId, create: bool) -> Result<Option<Loaded>> {
        if let Some(l) = self.cache.take(id) {
            return Ok(Some(l));
        }
        if let Some(l) = self.load(id)? {
            return Ok(Some(l));
        }
        if !create {
            return Ok(None);
        }
        Ok(Some(Loaded {
            doc: genesis(id, &self.actor)?,
            saved_heads: vec![],
            chunks: 0,
            bytes: 0,
        }))
    }

    /// Puts a document back as the most recently used; the least recently used ones go if
    /// the cache is over its bound (everything in it is on disk: dropping one costs a reload).
    fn put_back(&mut self, id: DocId, l: Loaded) {
        let size = loaded_size(l.bytes);
        self.cache.put(id, l, size);
    }

    /// How full the document cache is: estimated bytes, documents, and the bound.
    pub fn cache_usage(&self) -> CacheUsage {
        self.cache.usage()
    }

    /// Changes the document cache's bound (evicting at once what no longer fits).
    pub fn set_cache_bytes(&mut self, bytes: usize) {
        self.options.cache_bytes = bytes;
        self.cache.set_limit(bytes);
    }

    /// Tells the background checkpointer that a transaction was committed.
    fn wrote(&self) {
        if let Some(c) = &self.checkpointer {
            c.wrote();
        }
    }

    /// Persists what changed in `l` since its saved heads and re-projects it, in one
    /// transaction — or, inside a [`Store::batch`], in a savepoint of the batch's transaction
    /// (committed with the batch).
    fn persist(&mut self, id: &DocId, l: &mut Loaded) -> Result<()> {
        self.persist_read(id, l, None)
    }

    /// [`Store::persist`], with the customer already read from `l`'s document (a received
    /// message's checks read it): the projection does not read it again.
    fn persist_read(
        &mut self,
        id: &DocId,
        l: &mut Loaded,
        read: Option<CustomerView>,
    ) -> Result<()> {
        let heads = l.doc.get_heads();
        if heads == l.saved_heads {
            return Ok(());
        }
        let compact = l.chunks + 1 >= self.options.compact_after;
        let now = self.now().to_rfc3339();
        if let Some(touched) = &mut self.batch {
            touched.insert(id.clone());
        }
        // Outside a transaction a savepoint is one (`BEGIN DEFERRED` … `COMMIT`); inside the
        // batch's it is a nested one, released into it.
        let tx = self.conn.savepoint()?;
        let name = id.to_string();
        let (chunks, bytes) = if compact {
            let snapshot = l.doc.save();
            tx.prepare_cached("DELETE FROM chunks WHERE doc = ?1")?
                .execute([&name])?;
            tx.prepare_cached("INSERT INTO chunks (doc, kind, data) VALUES (?1, 'snapshot', ?2)")?
                .execute(params![name, snapshot])?;
            (1, snapshot.len())
        } else {
            let delta = l.doc.save_after(&l.saved_heads);
            tx.prepare_cached(
                "INSERT INTO chunks (doc, kind, data) VALUES (?1, 'incremental', ?2)",
            )?
            .execute(params![name, delta])?;
            (l.chunks + 1, l.bytes + delta.len())
        };
        tx.prepare_cached(
            "INSERT INTO documents (doc, kind, heads, chunks, bytes, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (doc) DO UPDATE SET heads = excluded.heads, chunks = excluded.chunks,
                 bytes = excluded.bytes, updated_at = excluded.updated_at",
        )?
        .execute(params![
            name,
            id.kind(),
            heads_text(&heads),
            chunks as i64,
            bytes as i64,
            now,
        ])?;
        index::project_read(&tx, id, &l.doc, read)?;
        tx.commit()?;
        if self.batch.is_none() {
            self.wrote();
        }
        l.saved_heads = heads;
        l.chunks = chunks;
        l.bytes = bytes;
        Ok(())
    }

    /// Applies `f` to a document as one change, and persists it before returning.
    ///
    /// The records `f` writes (`touched`: `card`, `visits/<id>`, …) must still read as the
    /// model afterwards (`layout::check_records`): a write that would leave a record the index
    /// cannot read, a text over its limit or a date out of range is refused with
    /// [`Error::Invalid`] naming the field path, and nothing is written. Faults the document
    /// already had (received before these rules existed) do not block the write; telling them
    /// apart costs a second check only when a fault is found.
    fn change<R>(
        &mut self,
        id: &DocId,
        create: bool,
        touched: &[String],
        f: impl FnMut(&mut AutoCommit) -> Result<R>,
    ) -> Result<R> {
        let mut l = self.take(id, create)?.ok_or_else(|| match id {
            DocId::Customer(c) => Error::UnknownCustomer(c.to_string()),
            DocId::Day(..) => Error::NotFound {
                what: "day",
                id: id.to_string(),
            },
        })?;
        let writer = Writer {
            role: self.identity.role,
            user: &self.identity.user,
            at: self.now(),
        };
        let r = match edits::change(&mut l.doc, id, writer, touched, f) {
            Ok(r) => r,
            Err(e) => {
                self.put_back(id.clone(), l);
                return Err(e);
            }
        };
        // On failure the loaded copy is dropped, so memory never shows what the disk lacks.
        self.persist(id, &mut l)?;
        self.put_back(id.clone(), l);
        Ok(r)
    }

    /// Runs `f` as one SQLite transaction (`BEGIN IMMEDIATE`): every document merged and
    /// persisted and every sync state saved inside it is written with one commit — one
    /// fsync — when `f` returns `Ok`, before `batch` returns. If `f` fails (or panics, or the
    /// commit fails), everything it wrote is rolled back and the cache entries of the
    /// documents it wrote are dropped, so memory never shows what the disk lacks. The server
    /// writes a whole sync request this way; the phone only a round's outgoing sync states
    /// (`sync_outgoing`): each of its record writes is durable when its own call returns.
    /// Batches do not nest: `f` runs inside the open one.
    /// `drop_document`, `compact`, `wipe` and `rebuild_index` open a transaction of their own
    /// and so fail inside a batch (SQLite has no nested `BEGIN`): call them outside one.
    pub fn batch<R, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        if self.batch.is_some() {
            return f(self);
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(Error::from)?;
        self.batch = Some(HashSet::new());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        let touched = self.batch.take().unwrap_or_default();
        match result {
            Ok(Ok(r)) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => {
                    self.wrote();
                    Ok(r)
                }
                Err(e) => {
                    self.abandon(touched);
                    Err(Error::from(e).into())
                }
            },
            Ok(Err(e)) => {
                self.abandon(touched);
                Err(e)
            }
            Err(panic) => {
                self.abandon(touched);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Rolls back a failed batch and forgets the cached copies of what it wrote.
    fn abandon(&mut self, touched: HashSet<DocId>) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        for id in touched {
            self.cache.remove(&id);
        }
    }

    /// Rows this home's connection has inserted, updated or deleted since it was opened
    /// (SQLite's `total_changes`): a caller that makes the writes durable itself — the
    /// server's group commit, on a home opened with [`Durability::Process`] — tells from it
    /// whether a call wrote.
    pub fn rows_written(&self) -> u64 {
        self.conn.total_changes()
    }

    /// The connection of the open [`Store::batch`], for a caller's own tables in the same
    /// database file (the server's change log and refusals), written in the batch's
    /// transaction; `None` outside a batch.
    pub fn batch_connection(&self) -> Option<&Connection> {
        self.batch.as_ref().map(|_| &self.conn)
    }

    /// Every document this home holds.
    pub fn doc_ids(&self) -> Result<Vec<DocId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc FROM documents ORDER BY doc")?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = vec![];
        for n in names {
            out.push(n?.parse()?);
        }
        Ok(out)
    }

    /// A document's heads as persisted (empty if the home does not hold it).
    pub fn heads(&mut self, id: &DocId) -> Result<Vec<ChangeHash>> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT heads FROM documents WHERE doc = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        Ok(text
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect())
    }

    /// The whole document, as `Automerge::save` bytes (for export and tests).
    pub fn save_document(&mut self, id: &DocId) -> Result<Option<Vec<u8>>> {
        let Some(mut l) = self.take(id, false)? else {
            return Ok(None);
        };
        let bytes = l.doc.save();
        self.put_back(id.clone(), l);
        Ok(Some(bytes))
    }

    /// The next standard Automerge sync message for `id` towards a peer whose session state
    /// is `state`, or `None` when there is nothing to send.
    pub fn generate_sync_message(
        &mut self,
        id: &DocId,
        state: &mut sync::State,
    ) -> Result<Option<Vec<u8>>> {
        let mut l = match self.take(id, false)? {
            Some(l) => l,
            // A document we do not hold: an empty one asks the peer for everything.
            None => Loaded {
                doc: AutoCommit::new().with_actor(self.actor.clone()),
                saved_heads: vec![],
                chunks: 0,
                bytes: 0,
            },
        };
        // A panic inside Automerge is this document's failure, not the caller's: the document
        // is untouched (generating only reads it) and the caller's state is a copy it drops on
        // error.
        let msg = crate::receive::generate_sync_message(id, &mut l.doc, state);
        if !l.saved_heads.is_empty() {
            self.put_back(id.clone(), l);
        }
        msg
    }

    /// Receives a standard Automerge sync message for `id`, merges it, and persists the
    /// merged document and its index rows before returning. A message that does not decode,
    /// or that would turn the document into something that is not ours, changes nothing.
    pub fn receive_sync_message(
        &mut self,
        id: &DocId,
        state: &mut sync::State,
        message: &[u8],
    ) -> Result<()> {
        self.receive_sync_message_verified(id, state, message, &mut |_| Ok(()))
    }

    /// Like [`Store::receive_sync_message`], but `verify` sees what the message would add and
    /// may refuse it; a refused message changes nothing (document, index, session state).
    pub fn receive_sync_message_verified(
        &mut self,
        id: &DocId,
        state: &mut sync::State,
        message: &[u8],
        verify: &mut dyn FnMut(&Incoming<'_>) -> Result<()>,
    ) -> Result<()> {
        crate::wire::check_sync_message(id, message)?;
        let mut l = match self.take(id, false)? {
            Some(l) => l,
            None => Loaded {
                doc: AutoCommit::new().with_actor(self.actor.clone()),
                saved_heads: vec![],
                chunks: 0,
                bytes: 0,
            },
        };
        // Everything runs on copies (`receive`): a panic inside Automerge is contained to this
        // message, which is then refused like a corrupt one, and leaves the document, its
        // cache entry and the sync state as they were.
        let received =
            match crate::receive::receive_sync_message(id, &mut l.doc, state, message, verify) {
                Ok(r) => r,
                Err(e) => {
                    if !l.saved_heads.is_empty() {
                        self.put_back(id.clone(), l);
                    }
                    return Err(e);
                }
            };
        l.doc = received.after;
        self.persist_read(id, &mut l, received.read_after)?;
        *state = received.state;
        if !l.saved_heads.is_empty() {
            self.put_back(id.clone(), l);
        }
        Ok(())
    }

    /// Starts a sync exchange with `peer` (a server URL's name, or a device on the server).
    pub fn start_sync(&self, peer: &str) -> SyncSession {
        SyncSession {
            peer: peer.to_string(),
            states: HashMap::new(),
        }
    }

    /// The documents whose heads differ from what `peer` was last known to have.
    pub fn out_of_sync(&self, peer: &str) -> Result<Vec<DocId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.doc FROM documents d
             LEFT JOIN sync_states s ON s.doc = d.doc AND s.peer = ?1
             WHERE s.shared_heads IS NULL OR s.shared_heads != d.heads
             ORDER BY d.doc",
        )?;
        let names = stmt.query_map([peer], |r| r.get::<_, String>(0))?;
        let mut out = vec![];
        for n in names {
            out.push(n?.parse()?);
        }
        Ok(out)
    }

    fn session_state<'s>(
        &self,
        session: &'s mut SyncSession,
        id: &DocId,
    ) -> Result<&'s mut sync::State> {
        if !session.states.contains_key(id) {
            let st = self.sync_state(id, &session.peer)?;
            session.states.insert(id.clone(), st);
        }
        Ok(session.states.get_mut(id).expect("inserted above"))
    }

    /// The next message for one document in a session, if it has something to say.
    pub fn sync_generate(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<Option<DocMessage>> {
        let mut st = self.session_state(session, id)?.clone();
        let data = self.generate_sync_message(id, &mut st)?;
        self.save_sync_state(id, &session.peer, &st)?;
        session.states.insert(id.clone(), st);
        Ok(data.map(|data| DocMessage {
            doc: id.clone(),
            data,
        }))
    }

    /// The messages of a session's next round: for every document out of sync with the peer
    /// and every document already in the session, the ones with something to say.
    ///
    /// The round's sync states are saved in one transaction (one commit for the round, not
    /// one per document: on a first upload of 500 documents the per-document commits were
    /// most of the phone's share of the time). Only sync states are written here — no
    /// record — so a crash before the commit loses nothing but the states, and the next run
    /// starts from the previous ones (it sends a little more, never less).
    pub fn sync_outgoing(&mut self, session: &mut SyncSession) -> Result<Vec<DocMessage>> {
        let mut docs = self.out_of_sync(&session.peer)?;
        docs.extend(session.states.keys().cloned());
        docs.sort();
        docs.dedup();
        self.sync_generate_batch(session, &docs)
    }

    /// [`Store::sync_generate`] for each of `docs`, in order, with their sync states saved in
    /// one transaction (what [`Store::sync_outgoing`] does for a whole round; a phone's sync
    /// run does it a few documents at a time, so as not to hold the store for long).
    pub fn sync_generate_batch(
        &mut self,
        session: &mut SyncSession,
        docs: &[DocId],
    ) -> Result<Vec<DocMessage>> {
        self.batch(|store| {
            let mut out = vec![];
            for d in docs {
                out.extend(store.sync_generate(session, d)?);
            }
            Ok(out)
        })
    }

    /// Receives one document's message in a session, after `verify` accepted it.
    pub fn sync_receive(
        &mut self,
        session: &mut SyncSession,
        message: &DocMessage,
        verify: &mut dyn FnMut(&Incoming<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut st = self.session_state(session, &message.doc)?.clone();
        self.receive_sync_message_verified(&message.doc, &mut st, &message.data, verify)?;
        self.save_sync_state(&message.doc, &session.peer, &st)?;
        session.states.insert(message.doc.clone(), st);
        Ok(())
    }

    /// Whether `p` was merged on what this home holds now (see [`crate::premerge`]): the
    /// document's row and the session's peer's sync state are as the reader read them, and
    /// the session has not touched the document yet. Read in the open batch, if any.
    pub fn premerge_is_current(&self, session: &SyncSession, p: &Premerge) -> Result<bool> {
        if p.peer != session.peer || session.states.contains_key(&p.doc) {
            return Ok(false);
        }
        p.base.is_current(&self.conn, &p.doc, &session.peer)
    }

    /// Stores an accepted premerge as [`Store::sync_receive`] would have stored the same
    /// message — the merged document, its index rows, the session's state — if it is still
    /// current ([`Store::premerge_is_current`]): `Ok(true)`. `Ok(false)`: it was not (or was
    /// refused), nothing was written, and the caller receives the message the usual way.
    pub fn store_premerge(&mut self, session: &mut SyncSession, p: Premerge) -> Result<bool> {
        if p.received.is_none() || !self.premerge_is_current(session, &p)? {
            return Ok(false);
        }
        let Premerge {
            doc: id,
            base,
            received,
            ..
        } = p;
        let received = received.expect("checked above");
        // The cached copy, if any, is the same committed document: the merge replaces it.
        self.cache.take(&id);
        let mut after = received.after;
        after.set_actor(self.actor.clone());
        let mut l = Loaded {
            doc: after,
            saved_heads: base.heads,
            chunks: base.chunks,
            bytes: base.bytes,
        };
        self.persist_read(&id, &mut l, received.read_after)?;
        self.save_sync_state(&id, &session.peer, &received.state)?;
        session.states.insert(id.clone(), received.state);
        if !l.saved_heads.is_empty() {
            self.put_back(id, l);
        }
        Ok(true)
    }

    /// Drops a document from this home: its chunks, index rows and sync states (a customer
    /// reassigned to another agent, or a revoked device's data).
    pub fn drop_document(&mut self, id: &DocId) -> Result<()> {
        self.cache.remove(id);
        let name = id.to_string();
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM chunks WHERE doc = ?1", [&name])?;
        tx.execute("DELETE FROM documents WHERE doc = ?1", [&name])?;
        tx.execute("DELETE FROM sync_states WHERE doc = ?1", [&name])?;
        index::delete_doc_rows(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets everything known about what `peer` has (every document's sync state with it):
    /// the home is bound to another server, or a device is gone. The next sync offers every
    /// document again.
    pub fn forget_peer(&self, peer: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sync_states WHERE peer = ?1", [peer])?;
        Ok(())
    }

    /// The changes of a document that are not among `heads` or their ancestors (all of them
    /// for no heads), in causal order: what a peer at `heads` lacks. Empty if the home does
    /// not hold the document.
    pub fn changes_since(
        &mut self,
        id: &DocId,
        heads: &[ChangeHash],
    ) -> Result<Vec<automerge::Change>> {
        let Some(mut l) = self.take(id, false)? else {
            return Ok(vec![]);
        };
        let changes = l.doc.get_changes(heads);
        self.put_back(id.clone(), l);
        Ok(changes)
    }

    /// Loads a sync session state persisted for (`id`, `peer`), or a fresh one.
    pub fn sync_state(&self, id: &DocId, peer: &str) -> Result<sync::State> {
        Ok(crate::premerge::state_row(&self.conn, id, peer)?
            .and_then(|b| sync::State::decode(&b).ok())
            .unwrap_or_default())
    }

    /// Persists a sync session state for (`id`, `peer`) (only its shared heads are kept).
    pub fn save_sync_state(&self, id: &DocId, peer: &str, state: &sync::State) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO sync_states (doc, peer, state, shared_heads) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (doc, peer) DO UPDATE SET state = excluded.state,
                     shared_heads = excluded.shared_heads",
            )?
            .execute(params![
                id.to_string(),
                peer,
                state.encode(),
                heads_text(&state.shared_heads)
            ])?;
        Ok(())
    }

    /// Compacts one document now: a single snapshot replaces its chunks.
    pub fn compact(&mut self, id: &DocId) -> Result<()> {
        let Some(mut l) = self.take(id, false)? else {
            return Err(Error::NotFound {
                what: "document",
                id: id.to_string(),
            });
        };
        let snapshot = l.doc.save();
        let tx = self.conn.transaction()?;
        let name = id.to_string();
        tx.execute("DELETE FROM chunks WHERE doc = ?1", [&name])?;
        tx.execute(
            "INSERT INTO chunks (doc, kind, data) VALUES (?1, 'snapshot', ?2)",
            params![name, snapshot],
        )?;
        tx.execute(
            "UPDATE documents SET chunks = 1, bytes = ?2 WHERE doc = ?1",
            params![name, snapshot.len() as i64],
        )?;
        tx.commit()?;
        l.chunks = 1;
        l.bytes = snapshot.len();
        self.put_back(id.clone(), l);
        Ok(())
    }

    /// Drops the index and derives it again from the documents.
    pub fn rebuild_index(&mut self) -> Result<()> {
        let ids = self.doc_ids()?;
        self.cache.clear();
        let mut docs = vec![];
        for id in &ids {
            if let Some(l) = self.load(id)? {
                docs.push((id.clone(), l.doc));
            }
        }
        let tx = self.conn.transaction()?;
        for t in schema::INDEX_TABLE_NAMES {
            tx.execute(&format!("DELETE FROM {t}"), [])?;
        }
        for (id, d) in &docs {
            index::project(&tx, id, d)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Storage figures: documents, chunks and bytes of document data.
    pub fn storage_stats(&self) -> Result<(i64, i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(sum(chunks), 0), coalesce(sum(bytes), 0) FROM documents",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }

    // ----- customers ---------------------------------------------------------------------

    /// Adds a customer card; the customer's document is created by this call.
    pub fn add_customer(&mut self, new: NewCustomer) -> Result<Customer> {
        let today = self.now().date_naive();
        let customer = edits::new_customer(new, &self.identity.user, &self.playbook, today)?;
        let fields = edits::card_fields(&customer);
        let touched = [edits::card_record()];
        self.change(&DocId::Customer(customer.id), true, &touched, |d| {
            edits::write_card(d, &fields)
        })?;
        Ok(customer)
    }

    /// Edits a customer card; only the fields that change are written.
    pub fn edit_customer(&mut self, id: CustomerId, patch: CustomerPatch) -> Result<Customer> {
        let c = self.customer(id)?;
        let today = self.now().date_naive();
        let (_, fields) = edits::patch_customer(c, patch, &self.playbook, today)?;
        let touched = [edits::card_record()];
        self.change(&DocId::Customer(id), false, &touched, |d| {
            edits::write_card(d, &fields)
        })?;
        self.customer(id)
    }

    /// A customer card, from the index.
    pub fn customer(&self, id: CustomerId) -> Result<Customer> {
        query_one(
            &self.conn,
            "SELECT json FROM customers WHERE id = ?1",
            [id.to_string()],
        )?
        .ok_or_else(|| Error::UnknownCustomer(id.to_string()))
    }

    /// Every customer this home holds, by name.
    pub fn customers(&self) -> Result<Vec<Customer>> {
        query_json(
            &self.conn,
            "SELECT json FROM customers ORDER BY name, id",
            [],
        )
    }

    /// A customer with everything their document holds (policies, visits, contacts,
    /// comments, conflicts), read from the index.
    pub fn customer_view(&self, id: CustomerId) -> Result<CustomerView> {
        let c = id.to_string();
        let customer = self.customer(id)?;
        Ok(CustomerView {
            customer: Some(customer),
            policies: self.policies_of(id)?,
            visits: self.visits_of(id)?,
            contacts: query_json(
                &self.conn,
                "SELECT json FROM contacts WHERE customer = ?1 ORDER BY day, id",
                [&c],
            )?,
            comments: query_json(
                &self.conn,
                "SELECT json FROM comments WHERE customer = ?1 ORDER BY id",
                [&c],
            )?,
            conflicts: self.conflicts(&DocId::Customer(id))?,
        })
    }

    /// Fields of a document edited concurrently, with the values that lost.
    pub fn conflicts(&self, id: &DocId) -> Result<Vec<Conflict>> {
        query_json(
            &self.conn,
            "SELECT json FROM conflicts WHERE doc = ?1 ORDER BY object, field",
            [id.to_string()],
        )
    }

    // ----- policies ----------------------------------------------------------------------

    /// Adds a policy to a customer's document.
    pub fn add_policy(&mut self, customer: CustomerId, new: NewPolicy) -> Result<Policy> {
        let c = self.customer(customer)?;
        let policy = edits::new_policy(&c, new)?;
        let fields = edits::policy_fields(&policy);
        let touched = [edits::policy_record(policy.id)];
        self.change(&DocId::Customer(customer), false, &touched, |d| {
            edits::write_policy(d, policy.id, &fields, true)
        })?;
        Ok(policy)
    }

    /// Edits a policy.
    pub fn edit_policy(&mut self, id: PolicyId, patch: PolicyPatch) -> Result<Policy> {
        let (p, fields) = edits::patch_policy(self.policy(id)?, patch)?;
        let touched = [edits::policy_record(id)];
        self.change(&DocId::Customer(p.customer), false, &touched, |d| {
            edits::write_policy(d, id, &fields, false)
        })?;
        self.policy(id)
    }

    /// One policy, from the index.
    pub fn policy(&self, id: PolicyId) -> Result<Policy> {
        query_one(
            &self.conn,
            "SELECT json FROM policies WHERE id = ?1",
            [id.to_string()],
        )?
        .ok_or_else(|| Error::NotFound {
            what: "policy",
            id: id.to_string(),
        })
    }

    /// A customer's policies.
    pub fn policies_of(&self, customer: CustomerId) -> Result<Vec<Policy>> {
        query_json(
            &self.conn,
            "SELECT json FROM policies WHERE customer = ?1 ORDER BY due_date, number",
            [customer.to_string()],
        )
    }

    // ----- visits and contacts -----------------------------------------------------------

    /// Records a visit. Policies touched by a visit whose outcome marks them paid get the
    /// visit's day as their `paid_on`, in the same change.
    pub fn record_visit(&mut self, customer: CustomerId, new: NewVisit) -> Result<Visit> {
        let policies = self.policies_of(customer)?;
        self.customer(customer)?;
        if new.end < new.start {
            return Err(Error::invalid("end", "the visit ends before it starts"));
        }
        if new.end - new.start > chrono::Duration::hours(24) {
            return Err(Error::invalid("end", "a visit lasts at most 24 hours"));
        }
        if let Some(l) = &new.location {
            if !l.is_valid() {
                return Err(Error::invalid("location", "coordinates out of range"));
            }
        }
        for p in &new.policies {
            if !policies.iter().any(|q| q.id == *p) {
                return Err(Error::invalid(
                    "policies",
                    format!("{p} is not this customer's"),
                ));
            }
        }
        self.playbook.check_visit(&new)?;
        self.playbook
            .check_visit_day(new.start.date_naive(), self.now().date_naive())?;
        let visit = Visit {
            id: VisitId::new(),
            customer,
            agent: self.identity.user.clone(),
            kind: new.kind,
            purposes: new.purposes,
            outcome: new.outcome,
            policies: new.policies,
            start: new.start,
            end: new.end,
            location: new.location,
            notes: new.notes,
            number: 0,
        };
        let paid = self.paid_by(
            visit.outcome.as_ref().map(|o| o.code.as_str()),
            &visit.policies,
        );
        let day = visit.start.date_naive();
        let fields = documents::to_fields(&visit, &["id", "customer", "number"]);
        let vid = visit.id.to_string();
        let mut touched = vec![format!("visits/{vid}")];
        touched.extend(paid.iter().map(|p| format!("policies/{p}")));
        self.change(&DocId::Customer(customer), false, &touched, |d| {
            let o = record_obj(d, "visits", &vid, true)?.expect("created");
            write_fields(d, &o, &fields)?;
            mark_paid(d, &paid, day)
        })?;
        self.visit(visit.id)
    }

    /// The policies a visit's or contact's outcome marks paid: those it names, when the
    /// playbook flags the outcome `marks_paid`.
    fn paid_by(&self, outcome: Option<&str>, policies: &[PolicyId]) -> Vec<String> {
        let marks_paid = outcome
            .and_then(|o| self.playbook.outcome(o))
            .is_some_and(|o| o.marks_paid);
        if marks_paid {
            policies.iter().map(|p| p.to_string()).collect()
        } else {
            vec![]
        }
    }

    /// One visit, from the index (with its number for the customer).
    pub fn visit(&self, id: VisitId) -> Result<Visit> {
        query_one(
            &self.conn,
            "SELECT json FROM visits WHERE id = ?1",
            [id.to_string()],
        )?
        .ok_or_else(|| Error::NotFound {
            what: "visit",
            id: id.to_string(),
        })
    }

    /// A customer's visits, oldest first.
    pub fn visits_of(&self, customer: CustomerId) -> Result<Vec<Visit>> {
        let mut v: Vec<Visit> = query_json(
            &self.conn,
            "SELECT json FROM visits WHERE customer = ?1",
            [customer.to_string()],
        )?;
        v.sort_by_key(|x| x.number);
        Ok(v)
    }

    /// The visits of a local day (every agent's this home holds), by start time.
    pub fn visits_on(&self, day: NaiveDate) -> Result<Vec<Visit>> {
        let mut v: Vec<Visit> = query_json(
            &self.conn,
            "SELECT json FROM visits WHERE day = ?1",
            [day.to_string()],
        )?;
        v.sort_by_key(|x| (x.start, x.id));
        Ok(v)
    }

    /// Records a call or an SMS.
    pub fn record_contact(&mut self, customer: CustomerId, new: NewContact) -> Result<Contact> {
        let policies = self.policies_of(customer)?;
        self.customer(customer)?;
        for p in &new.policies {
            if !policies.iter().any(|q| q.id == *p) {
                return Err(Error::invalid(
                    "policies",
                    format!("{p} is not this customer's"),
                ));
            }
        }
        self.playbook.check_contact(&new)?;
        let contact = Contact {
            id: ContactId::new(),
            customer,
            agent: self.identity.user.clone(),
            kind: new.kind,
            at: new.at,
            purpose: new.purpose,
            outcome: new.outcome,
            policies: new.policies,
            notes: new.notes,
        };
        // A renewal closed by phone is a renewal (domain: "a renewal is a close, wherever it
        // was recorded"): the policies it names are paid, as for a visit.
        let paid = self.paid_by(contact.outcome.as_deref(), &contact.policies);
        let day = contact.at.date_naive();
        let fields = documents::to_fields(&contact, &["id", "customer"]);
        let cid = contact.id.to_string();
        let mut touched = vec![format!("contacts/{cid}")];
        touched.extend(paid.iter().map(|p| format!("policies/{p}")));
        self.change(&DocId::Customer(customer), false, &touched, |d| {
            let o = record_obj(d, "contacts", &cid, true)?.expect("created");
            write_fields(d, &o, &fields)?;
            mark_paid(d, &paid, day)
        })?;
        Ok(contact)
    }

    /// A manager's comment on a visit (it reaches the agent's phone with the document).
    pub fn comment_visit(&mut self, visit: VisitId, text: &str) -> Result<Comment> {
        if !self.identity.role.is_manager() {
            return Err(Error::Forbidden("only managers comment on visits".into()));
        }
        non_empty("comment", text)?;
        let v = self.visit(visit)?;
        let comment = Comment {
            id: CommentId::new(),
            visit,
            author: self.identity.user.clone(),
            role: self.identity.role,
            text: text.trim().to_string(),
            at: self.now(),
        };
        let fields = documents::to_fields(&comment, &["id"]);
        let id = comment.id.to_string();
        let touched = [format!("comments/{id}")];
        self.change(&DocId::Customer(v.customer), false, &touched, |d| {
            let o = record_obj(d, "comments", &id, true)?.expect("created");
            write_fields(d, &o, &fields)
        })?;
        Ok(comment)
    }

    // ----- the day: log, report, problems --------------------------------------------------

    fn my_day(&self, date: NaiveDate) -> DocId {
        DocId::Day(self.identity.user.clone(), date)
    }

    /// Writes (or rewrites) the day's work log.
    pub fn write_log(&mut self, date: NaiveDate, text: &str) -> Result<WorkLog> {
        non_empty("log", text)?;
        let now = self.now();
        if date > now.date_naive() + chrono::Duration::days(1) {
            return Err(Error::invalid("date", "the log of a future day"));
        }
        let mut m = Map::new();
        m.insert("text".into(), Json::from(text));
        m.insert("written_at".into(), Json::from(now.to_rfc3339()));
        self.change(&self.my_day(date), true, &["log".into()], |d| {
            let o = obj(d, &ROOT, "log")?;
            write_fields(d, &o, &m)
        })?;
        self.day(&self.identity.user.clone(), date)?
            .and_then(|d| d.log)
            .ok_or(Error::NotFound {
                what: "log",
                id: date.to_string(),
            })
    }

    /// Submits the evening report with the day's open problems (each starts at supervisor
    /// level). Submitting again updates the summary and adds the new problems.
    pub fn submit_report(
        &mut self,
        date: NaiveDate,
        summary: &str,
        problems: Vec<(String, Option<CustomerId>)>,
    ) -> Result<EveningReport> {
        non_empty("summary", summary)?;
        let now = self.now();
        if date > now.date_naive() + chrono::Duration::days(1) {
            return Err(Error::invalid("date", "the report of a future day"));
        }
        for (text, customer) in &problems {
            non_empty("problem", text)?;
            if let Some(c) = customer {
                self.customer(*c)?;
            }
        }
        let mut m = Map::new();
        m.insert("summary".into(), Json::from(summary));
        m.insert("submitted_at".into(), Json::from(now.to_rfc3339()));
        let problems: Vec<(String, String, Option<CustomerId>)> = problems
            .into_iter()
            .map(|(text, customer)| (ProblemId::new().to_string(), text, customer))
            .collect();
        let mut touched = vec!["report".to_string()];
        touched.extend(problems.iter().map(|(id, ..)| format!("problems/{id}")));
        self.change(&self.my_day(date), true, &touched, |d| {
            let o = obj(d, &ROOT, "report")?;
            write_fields(d, &o, &m)?;
            let ps = obj(d, &ROOT, "problems")?;
            for (pid, text, customer) in &problems {
                let po = d.put_object(&ps, pid.as_str(), automerge::ObjType::Map)?;
                let mut f = Map::new();
                f.insert("text".into(), Json::from(text.trim()));
                f.insert(
                    "customer".into(),
                    customer
                        .map(|c| Json::from(c.to_string()))
                        .unwrap_or(Json::Null),
                );
                f.insert("level".into(), Json::from(Role::Supervisor.code()));
                f.insert("status".into(), Json::from("open"));
                write_fields(d, &po, &f)?;
                d.put_object(&po, "answers", automerge::ObjType::Map)?;
            }
            Ok(())
        })?;
        self.day(&self.identity.user.clone(), date)?
            .and_then(|d| d.report)
            .ok_or(Error::NotFound {
                what: "report",
                id: date.to_string(),
            })
    }

    /// A manager answers, escalates or annotates a problem of an agent's report.
    pub fn answer_problem(
        &mut self,
        problem: ProblemId,
        text: &str,
        action: ProblemAction,
    ) -> Result<Problem> {
        if !self.identity.role.is_manager() {
            return Err(Error::Forbidden("only managers answer problems".into()));
        }
        non_empty("answer", text)?;
        let raised = self.problem(problem)?;
        let next_level = match action {
            ProblemAction::Escalate => {
                Some(raised.problem.level.escalates_to().ok_or_else(|| {
                    Error::invalid(
                        "problem",
                        "already at the top of the chain (district manager)",
                    )
                })?)
            }
            _ => None,
        };
        let answer = crate::model::Answer {
            author: self.identity.user.clone(),
            role: self.identity.role,
            text: text.trim().to_string(),
            at: self.now(),
        };
        let afields = documents::to_fields(&answer, &[]);
        let pid = problem.to_string();
        let doc = DocId::Day(raised.agent.clone(), raised.date);
        let touched = [format!("problems/{pid}")];
        self.change(&doc, false, &touched, |d| {
            let po = record_obj(d, "problems", &pid, false)?.ok_or(Error::NotFound {
                what: "problem",
                id: pid.clone(),
            })?;
            let answers = obj(d, &po, "answers")?;
            let ao = d.put_object(
                &answers,
                uuid::Uuid::new_v4().to_string(),
                automerge::ObjType::Map,
            )?;
            write_fields(d, &ao, &afields)?;
            let mut f = Map::new();
            if action == ProblemAction::Resolve {
                f.insert("status".into(), Json::from("resolved"));
            }
            if let Some(l) = next_level {
                f.insert("level".into(), Json::from(l.code()));
            }
            write_fields(d, &po, &f)
        })?;
        Ok(self.problem(problem)?.problem)
    }

    /// One problem of a report this home holds, with the agent and day it was raised on.
    pub fn problem(&self, id: ProblemId) -> Result<RaisedProblem> {
        self.conn
            .prepare_cached("SELECT agent, date, json FROM problems WHERE id = ?1")?
            .query_row([id.to_string()], problem_row)
            .optional()?
            .and_then(raised_problem)
            .ok_or(Error::NotFound {
                what: "problem",
                id: id.to_string(),
            })
    }

    /// Problems of the reports this home holds; only open ones with `Some(ProblemStatus::Open)`.
    pub fn problems(&self, status: Option<ProblemStatus>) -> Result<Vec<RaisedProblem>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT agent, date, json FROM problems ORDER BY date, agent, id")?;
        let mut out = vec![];
        for row in stmt.query_map([], problem_row)? {
            match raised_problem(row?) {
                Some(p) if status.is_none_or(|s| s == p.problem.status) => out.push(p),
                _ => {}
            }
        }
        Ok(out)
    }

    /// An agent's day (log and report), if this home holds it.
    pub fn day(&self, agent: &UserId, date: NaiveDate) -> Result<Option<Day>> {
        query_one(
            &self.conn,
            "SELECT json FROM days WHERE doc = ?1",
            [DocId::Day(agent.clone(), date).to_string()],
        )
    }

    // ----- what the playbook computes over ----------------------------------------------

    /// The records the playbook computations need for the period `from..=to`: every
    /// customer and policy, and the visits, contacts and days of the period.
    pub fn working_set(&self, from: NaiveDate, to: NaiveDate) -> Result<WorkingSet> {
        let (f, t) = (from.to_string(), to.to_string());
        Ok(WorkingSet {
            customers: self.customers()?,
            policies: query_json(&self.conn, "SELECT json FROM policies ORDER BY id", [])?,
            visits: query_json(
                &self.conn,
                "SELECT json FROM visits WHERE day BETWEEN ?1 AND ?2 ORDER BY id",
                [&f, &t],
            )?,
            contacts: query_json(
                &self.conn,
                "SELECT json FROM contacts WHERE day BETWEEN ?1 AND ?2 ORDER BY id",
                [&f, &t],
            )?,
            days: query_json(
                &self.conn,
                "SELECT json FROM days WHERE date BETWEEN ?1 AND ?2 ORDER BY doc",
                [&f, &t],
            )?,
        })
    }
}

impl Store {
    /// The working set the computations of `date` read: from the first day of the previous
    /// month (follow-ups and week cycles reach back) to `date`.
    fn working_set_for(&self, date: NaiveDate) -> Result<WorkingSet> {
        let first = date.with_day(1).unwrap_or(date);
        let from = first
            .checked_sub_months(chrono::Months::new(1))
            .unwrap_or(first);
        self.working_set(from, date)
    }

    /// This user's day against the daily standard (311, 10-3-1, the seven things).
    pub fn today(&self, date: NaiveDate) -> Result<TodayStatus> {
        let ws = self.working_set_for(date)?;
        Ok(playbook::today(
            &self.playbook,
            &self.identity.user,
            date,
            &ws,
        ))
    }

    /// This user's progress against the targets of the week (work cycle) containing `date`.
    pub fn week_progress(&self, date: NaiveDate) -> Result<PeriodProgress> {
        let ws = self.working_set_for(date)?;
        Ok(playbook::week_progress(
            &self.playbook,
            &self.identity.user,
            date,
            &ws,
        ))
    }

    /// This user's progress against the month's targets, to `date`.
    pub fn month_progress(&self, date: NaiveDate) -> Result<PeriodProgress> {
        let ws = self.working_set_for(date)?;
        Ok(playbook::month_progress(
            &self.playbook,
            &self.identity.user,
            date,
            &ws,
        ))
    }

    /// The reminders of `date` for every customer this home holds.
    pub fn reminders(&self, date: NaiveDate) -> Result<Vec<Reminder>> {
        let ws = self.working_set_for(date)?;
        Ok(playbook::reminders(&self.playbook, date, &ws))
    }

    /// The service-routine lists of `date`, grouped by postcode.
    pub fn lists(&self, date: NaiveDate) -> Result<Vec<PostcodeGroup>> {
        let ws = self.working_set_for(date)?;
        Ok(playbook::lists(&self.playbook, date, &ws))
    }

    /// Whether a visit counts as effective under the playbook in force.
    pub fn is_effective(&self, visit: &Visit) -> Result<bool> {
        let location = self.customer(visit.customer)?.location;
        Ok(playbook::is_effective(&self.playbook, visit, location))
    }
}

pub(crate) fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A `problems` index row: agent, date, JSON.
fn problem_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// The problem of an index row, or `None` for a row that does not parse (skipped).
fn raised_problem((agent, date, json): (String, String, String)) -> Option<RaisedProblem> {
    Some(RaisedProblem {
        agent: agent.parse().ok()?,
        date: date.parse().ok()?,
        problem: serde_json::from_str(&json).ok()?,
    })
}
