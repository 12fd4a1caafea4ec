//! The managers' views' working sets on PostgreSQL: read once, then kept current by re-reading
//! only the index rows that changed since — as the embedded store does (`store::working_sets`),
//! but following the touches by transaction id rather than by sequence number.
//!
//! `index_touches` is filled by triggers in the writer's transaction (migration V2). Its `seq`
//! is taken when a row is inserted and becomes visible when the transaction commits, so across
//! instances (or two connections of one) a higher `seq` can be seen before a lower one:
//! remembering "the highest seq seen" would miss the lower one for good. A set therefore
//! remembers a *horizon*, the `xmin` of the snapshot it was last brought up to date in (every
//! transaction with a lower id had ended by then, so its rows are in the set), and which touches
//! at or above it it has already taken in. The next read, in one REPEATABLE READ snapshot, takes
//! every touch visible to it at or above the horizon and not taken in yet, re-reads those keys
//! as they are now, and moves the horizon to its own snapshot's `xmin`. A transaction still
//! running at that moment has an id at or above the new horizon, so its touches are taken when
//! it has committed, whatever their `seq`. The set each read returns is what a fresh read in
//! its snapshot returns; when no new touch is visible it is the cached set as it is.
//!
//! Touches are pruned by transaction id (`prune_touches`), and the prune's bound is recorded in
//! `server_meta` (`touches_pruned_below`): a set whose horizon is below it is read afresh, as is
//! a set with more than [`PATCH_LIMIT`] touched keys to take in.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use client_core::playbook::WorkingSet;
use client_core::{CustomerId, UserId};
use postgres::types::ToSql;
use serde::de::DeserializeOwned;

use super::{DocumentTx, PgStore};
use crate::error::{Error, Result};
use crate::store::working_sets::{Keyed, Keys, Table};
use crate::store::SetReads;

/// Working sets kept (a few views, a few teams).
const CACHED_SETS: usize = 16;
/// More touched keys than this since a set's horizon: read it afresh (cheaper than patching).
const PATCH_LIMIT: i64 = 20_000;
/// About how many touches a prune keeps (the newest ones); a set that has not caught up with
/// them by then is read afresh.
const TOUCHES_KEPT: i64 = 200_000;
/// A prune is tried once every this many reads that were not answered from the cache.
const PRUNE_EVERY: u64 = 64;
/// The `server_meta` key holding the transaction id below which touches may have been pruned.
const PRUNED_BELOW: &str = "touches_pruned_below";

/// The cached sets, and how the views' requests for sets were answered.
#[derive(Default)]
pub(super) struct SetCache {
    sets: Vec<CachedSet>,
    reads: SetReads,
}

/// A working set as read for some agents and a period, with where each record sits in it.
struct CachedSet {
    agents: Vec<UserId>,
    from: NaiveDate,
    to: NaiveDate,
    /// The `xmin` of the snapshot the set was last brought up to date in: every transaction
    /// below it had ended, and its rows are in the set.
    horizon: u64,
    /// The touches at or above the horizon already taken in (their transactions had committed
    /// when the set was patched): a touch is taken in once.
    applied: Applied,
    set: Arc<WorkingSet>,
    keys: Keys,
}

/// The query for one table's rows of a group: key and JSON of each row. `$1` the agents,
/// `$2`/`$3` the period for the tables read by period, and the last parameter (`only`) the keys
/// to read, when patching.
fn select(table: Table, only: bool) -> String {
    let (sql, key, next) = match table {
        Table::Customers => (
            "SELECT id, json::text FROM customers WHERE agent = ANY($1::text[])",
            "id",
            2,
        ),
        Table::Policies => (
            "SELECT p.id, p.json::text FROM policies p JOIN customers c ON c.id = p.customer
             WHERE c.agent = ANY($1::text[])",
            "p.id",
            2,
        ),
        Table::Visits => (
            "SELECT id, json::text FROM visits
             WHERE agent = ANY($1::text[]) AND day BETWEEN $2 AND $3",
            "id",
            4,
        ),
        Table::Contacts => (
            "SELECT id, json::text FROM contacts
             WHERE agent = ANY($1::text[]) AND day BETWEEN $2 AND $3",
            "id",
            4,
        ),
        Table::Days => (
            "SELECT doc, json::text FROM days
             WHERE agent = ANY($1::text[]) AND date BETWEEN $2 AND $3",
            "doc",
            4,
        ),
    };
    if only {
        format!("{sql} AND {key} = ANY(${next}::text[])")
    } else {
        sql.to_string()
    }
}

fn by_period(table: Table) -> bool {
    matches!(table, Table::Visits | Table::Contacts | Table::Days)
}

/// A group of agents and a period.
struct Group<'a> {
    agents: Vec<&'a str>,
    from: NaiveDate,
    to: NaiveDate,
}

impl Group<'_> {
    /// This table's rows of the group, optionally only those whose key is in `only`. A row
    /// whose JSON does not parse is not there (as `client_core::index::query_json`).
    fn rows<T: DeserializeOwned>(
        &self,
        tx: &mut DocumentTx<'_>,
        table: Table,
        only: Option<&BTreeSet<String>>,
    ) -> Result<Vec<(String, T)>> {
        let keys: Vec<&str> = only
            .map(|o| o.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.agents];
        if by_period(table) {
            params.push(&self.from);
            params.push(&self.to);
        }
        if only.is_some() {
            params.push(&keys);
        }
        let rows = tx.query(&select(table, only.is_some()), &params)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let json: &str = row.get(1);
            if let Ok(record) = serde_json::from_str(json) {
                out.push((row.get(0), record));
            }
        }
        Ok(out)
    }

    /// Brings one table's records of a set up to date with its touched keys.
    fn patch<T: DeserializeOwned>(
        &self,
        tx: &mut DocumentTx<'_>,
        table: Table,
        records: &mut Vec<T>,
        keyed: &mut Keyed,
        touched: &BTreeSet<String>,
    ) -> Result<()> {
        if !touched.is_empty() {
            let fresh = self.rows(tx, table, Some(touched))?;
            keyed.patch(records, touched, fresh);
        }
        Ok(())
    }
}

/// Starts a read-only REPEATABLE READ snapshot (the transaction's first statement) and returns
/// its `xmin`: every transaction with a lower id has ended.
fn snapshot(tx: &mut DocumentTx<'_>) -> Result<u64> {
    tx.sql()
        .batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
    let row = tx.query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", &[])?;
    xid(row.first().map(|r| r.get::<_, &str>(0)))
}

fn xid(text: Option<&str>) -> Result<u64> {
    text.and_then(|t| t.parse().ok())
        .ok_or_else(|| Error::Internal(format!("unreadable transaction id {text:?}")))
}

/// Reads the working set of a group afresh.
fn read(tx: &mut DocumentTx<'_>, g: &Group<'_>) -> Result<(WorkingSet, Keys)> {
    if g.agents.is_empty() {
        return Ok((WorkingSet::default(), Keys::default()));
    }
    let (customers, c) = Keyed::from_rows(g.rows(tx, Table::Customers, None)?);
    let (policies, p) = Keyed::from_rows(g.rows(tx, Table::Policies, None)?);
    let (visits, v) = Keyed::from_rows(g.rows(tx, Table::Visits, None)?);
    let (contacts, k) = Keyed::from_rows(g.rows(tx, Table::Contacts, None)?);
    let (days, d) = Keyed::from_rows(g.rows(tx, Table::Days, None)?);
    let set = WorkingSet {
        customers: c,
        policies: p,
        visits: v,
        contacts: k,
        days: d,
    };
    let keys = Keys {
        customers,
        policies,
        visits,
        contacts,
        days,
    };
    Ok((set, keys))
}

/// The keys touched at or above a horizon, by table.
type Touched = HashMap<Table, BTreeSet<String>>;

/// Touches taken in: `seq` → the transaction id that wrote it.
type Applied = HashMap<i64, u64>;

/// The touches at or above a horizon that a snapshot sees and that were not taken in yet: the
/// keys they touched, and each one's `seq` with its transaction id.
struct Since {
    touched: Touched,
    seen: Applied,
}

/// The touches of transactions at or above `horizon` that this snapshot sees and that are not
/// in `applied` (those are not even sent), or `None` when the set must be read afresh (more
/// than [`PATCH_LIMIT`], or touches at or above the horizon already pruned).
fn touches_since(
    tx: &mut DocumentTx<'_>,
    horizon: u64,
    applied: &Applied,
) -> Result<Option<Since>> {
    let pruned = tx.query(
        "SELECT value FROM server_meta WHERE key = $1",
        &[&PRUNED_BELOW],
    )?;
    if let Some(row) = pruned.first() {
        if horizon < xid(Some(row.get::<_, &str>(0)))? {
            return Ok(None);
        }
    }
    let skip: Vec<i64> = applied.keys().copied().collect();
    let rows = tx.query(
        "SELECT seq, xid::text, tbl, id FROM index_touches
         WHERE xid >= $1::text::xid8 AND NOT (seq = ANY($2)) LIMIT $3",
        &[&horizon.to_string(), &skip, &(PATCH_LIMIT + 1)],
    )?;
    if rows.len() as i64 > PATCH_LIMIT {
        return Ok(None);
    }
    let mut since = Since {
        touched: Touched::new(),
        seen: Applied::with_capacity(rows.len()),
    };
    for row in rows {
        since.seen.insert(row.get(0), xid(Some(row.get(1)))?);
        if let Some(table) = Table::from_name(row.get(2)) {
            since.touched.entry(table).or_default().insert(row.get(3));
        }
    }
    Ok(Some(since))
}

/// The touches to remember as taken in once the horizon is `horizon`: those at or above it
/// (a touch below it will not be asked for again).
fn still_above(applied: Applied, horizon: u64) -> Applied {
    applied.into_iter().filter(|(_, x)| *x >= horizon).collect()
}

/// Brings a cached set up to date with the touched rows (in the caller's snapshot).
fn patch(
    tx: &mut DocumentTx<'_>,
    g: &Group<'_>,
    set: &mut WorkingSet,
    keys: &mut Keys,
    mut touched: Touched,
) -> Result<()> {
    let mut take = |table| touched.remove(&table).unwrap_or_default();
    let customers = take(Table::Customers);
    let mut policies = take(Table::Policies);
    // A policy belongs to the set through its customer's agent: a reassigned customer brings
    // or takes its policies with it, though their rows did not change.
    if !customers.is_empty() {
        let ids: BTreeSet<CustomerId> = customers.iter().filter_map(|c| c.parse().ok()).collect();
        for (i, p) in set.policies.iter().enumerate() {
            if ids.contains(&p.customer) {
                policies.insert(keys.policies.keys[i].clone());
            }
        }
        let list: Vec<&str> = customers.iter().map(String::as_str).collect();
        for row in tx.query(
            "SELECT id FROM policies WHERE customer = ANY($1::text[])",
            &[&list],
        )? {
            policies.insert(row.get(0));
        }
    }
    let visits = take(Table::Visits);
    let contacts = take(Table::Contacts);
    let days = take(Table::Days);
    g.patch(
        tx,
        Table::Customers,
        &mut set.customers,
        &mut keys.customers,
        &customers,
    )?;
    g.patch(
        tx,
        Table::Policies,
        &mut set.policies,
        &mut keys.policies,
        &policies,
    )?;
    g.patch(
        tx,
        Table::Visits,
        &mut set.visits,
        &mut keys.visits,
        &visits,
    )?;
    g.patch(
        tx,
        Table::Contacts,
        &mut set.contacts,
        &mut keys.contacts,
        &contacts,
    )?;
    g.patch(tx, Table::Days, &mut set.days, &mut keys.days, &days)?;
    Ok(())
}

/// Drops old touches when there are many more than [`TOUCHES_KEPT`]: those of transactions
/// older than every kept touch's (and than every running transaction), recording that bound
/// as `touches_pruned_below` so that a set older than it is read afresh. Any instance may run
/// it at any time (in its own transaction); the sync path may call it as SQLite's does.
pub fn prune_touches(tx: &mut DocumentTx<'_>) -> Result<u64> {
    let span = tx.query(
        "SELECT coalesce(max(seq) - min(seq), 0), coalesce(max(seq), 0) FROM index_touches",
        &[],
    )?;
    let (span, max): (i64, i64) = span.first().map_or((0, 0), |r| (r.get(0), r.get(1)));
    if span <= TOUCHES_KEPT + TOUCHES_KEPT / 4 {
        return Ok(0);
    }
    // The bound: the oldest transaction among the kept touches, and no newer than any
    // transaction still running (whose touches may not be visible yet).
    let bound = tx.query(
        "SELECT least(min(xid), pg_snapshot_xmin(pg_current_snapshot()))::text
         FROM index_touches WHERE seq > $1",
        &[&(max - TOUCHES_KEPT)],
    )?;
    let Some(bound) = bound.first().and_then(|r| r.get::<_, Option<String>>(0)) else {
        return Ok(0);
    };
    tx.execute(
        "INSERT INTO server_meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE
         SET value = greatest(server_meta.value::xid8, excluded.value::xid8)::text",
        &[&PRUNED_BELOW, &bound],
    )?;
    tx.execute(
        "DELETE FROM index_touches WHERE xid < $1::text::xid8",
        &[&bound],
    )
}

impl PgStore {
    /// The working set of `agents` for `from..=to`: from the cache while nothing changed,
    /// patched with the rows that changed, or read afresh.
    pub fn working_set(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Arc<WorkingSet>> {
        let g = Group {
            agents: agents.iter().map(UserId::as_str).collect(),
            from,
            to,
        };
        let mut cache = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let SetCache { sets, reads } = &mut *cache;
        let at = sets
            .iter()
            .position(|c| c.agents == agents && c.from == from && c.to == to);
        if let Some(i) = at {
            let c = &mut sets[i];
            let horizon = c.horizon;
            // Patched in place: a transaction run again re-reads every key it touched (the
            // touches at or above the horizon only grow), and a failure forgets the set.
            let outcome = self.db.write(|tx| {
                let xmin = snapshot(tx)?;
                let Some(since) = touches_since(tx, horizon, &c.applied)? else {
                    return Ok(None);
                };
                let changed = !since.touched.is_empty();
                if changed {
                    patch(
                        tx,
                        &g,
                        Arc::make_mut(&mut c.set),
                        &mut c.keys,
                        since.touched,
                    )?;
                }
                Ok(Some((xmin, changed, since.seen)))
            });
            match outcome {
                Ok(Some((xmin, changed, seen))) => {
                    c.horizon = xmin;
                    let mut applied = std::mem::take(&mut c.applied);
                    applied.extend(seen);
                    c.applied = still_above(applied, xmin);
                    let set = c.set.clone();
                    if !changed {
                        reads.cached += 1;
                        return Ok(set);
                    }
                    reads.patched += 1;
                    let n = reads.patched + reads.fresh;
                    drop(cache);
                    self.maybe_prune(n);
                    return Ok(set);
                }
                Ok(None) => {
                    sets.remove(i);
                }
                Err(e) => {
                    // Half patched: forget it rather than keep a set nobody can vouch for.
                    sets.remove(i);
                    return Err(e);
                }
            }
        }
        let (horizon, applied, set, keys) = self.db.write(|tx| {
            let xmin = snapshot(tx)?;
            // The touches this snapshot already sees at or above its xmin: their rows are
            // read below as they are now.
            let seen = touches_since(tx, xmin, &Applied::new())?
                .map(|s| s.seen)
                .unwrap_or_default();
            let (set, keys) = read(tx, &g)?;
            Ok((xmin, seen, set, keys))
        })?;
        reads.fresh += 1;
        let set = Arc::new(set);
        if sets.len() >= CACHED_SETS {
            sets.remove(0);
        }
        sets.push(CachedSet {
            agents: agents.to_vec(),
            from,
            to,
            horizon,
            applied,
            set: set.clone(),
            keys,
        });
        let n = reads.patched + reads.fresh;
        drop(cache);
        self.maybe_prune(n);
        Ok(set)
    }

    /// How the working sets asked of this store so far were answered.
    pub fn set_reads(&self) -> SetReads {
        self.sets.lock().unwrap_or_else(|e| e.into_inner()).reads
    }

    /// Prunes the touches once every [`PRUNE_EVERY`] uncached reads (`n` of them so far). A
    /// failed prune only leaves more touches: it is logged, not returned.
    fn maybe_prune(&self, n: u64) {
        if n.is_multiple_of(PRUNE_EVERY) {
            if let Err(e) = self.db.write(prune_touches) {
                tracing::warn!(error = %e, "pruning index_touches failed");
            }
        }
    }
}
