//! The managers' views' working sets on the embedded store: read once, then kept current by
//! re-reading only the index rows that changed since.
//!
//! A dashboard asks the same views again and again, and after every phone's sync. Reading a
//! large team's working set (a year of 50 agents: a quarter of a million visits as JSON rows)
//! takes a few hundred milliseconds, more than a view may take; a sync changes a handful of
//! rows. So a read set is cached (keyed by the agents and the period) and, when the database
//! changed, *patched*: the server's schema has triggers on client-core's index tables that
//! append the key of every inserted, updated or deleted row to `index_touches`, in the same
//! transaction as the row itself (`schema`). A cached set remembers the last touch it has
//! seen; the next view reads the touches after it and the touched rows, in one read
//! transaction, so the set it gets is exactly what a fresh read would return at that moment —
//! whichever process wrote (a sync, an import, `doorstep admin`). Too many touches (an index
//! rebuild) or touches already pruned mean a fresh read.
//!
//! `PRAGMA data_version` answers "has anyone else written since?" without reading a table: an
//! unchanged version returns the cached set as it is.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use client_core::playbook::WorkingSet;
use client_core::UserId;
use rusqlite::{Connection, OptionalExtension, ToSql};
use serde::de::DeserializeOwned;

use super::sqlite::SqliteStore;
use crate::error::Result;

/// Working sets kept (a few views, a few teams).
const CACHED_SETS: usize = 16;
/// More touches than this since a set was read: read it afresh (cheaper than patching).
const PATCH_LIMIT: i64 = 20_000;
/// Touches kept in `index_touches` after a prune; a set older than that is read afresh.
const TOUCHES_KEPT: i64 = 200_000;

/// The cached sets, and how the views' requests for sets were answered.
#[derive(Default)]
pub(super) struct SetCache {
    sets: Vec<CachedSet>,
    reads: SetReads,
}

/// How many requests for a working set were answered from the cache as it was, by patching a
/// cached set, or by reading afresh (`SqliteStore::set_reads`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetReads {
    /// Nothing had changed.
    pub cached: u64,
    /// Patched with the rows that changed.
    pub patched: u64,
    /// Read afresh: first asked, too many changes, or changes already pruned.
    pub fresh: u64,
}

/// A working set as read for some agents and a period, with where each record sits in it.
pub(super) struct CachedSet {
    agents: Vec<UserId>,
    from: NaiveDate,
    to: NaiveDate,
    /// `PRAGMA data_version` of the reading connection when the set was last brought up to
    /// date: while it is unchanged, nobody else wrote.
    data_version: i64,
    /// The last `index_touches.seq` the set includes.
    seq: i64,
    set: Arc<WorkingSet>,
    keys: Keys,
}

/// The table keys of the records of a [`WorkingSet`], by position (the PostgreSQL store
/// keeps its working sets with them too).
#[derive(Default)]
pub(super) struct Keys {
    pub(super) customers: Keyed,
    pub(super) policies: Keyed,
    pub(super) visits: Keyed,
    pub(super) contacts: Keyed,
    pub(super) days: Keyed,
}

/// One vector's keys: `keys[i]` is the key of record `i`; `pos` the reverse.
#[derive(Default)]
pub(super) struct Keyed {
    pub(super) keys: Vec<String>,
    pos: HashMap<String, usize>,
}

impl Keyed {
    pub(super) fn from_rows<T>(rows: Vec<(String, T)>) -> (Keyed, Vec<T>) {
        let mut keyed = Keyed::default();
        let mut out = Vec::with_capacity(rows.len());
        for (key, record) in rows {
            // A key appears once per table; a repeat (impossible for a primary key) would
            // only replace the record.
            if let Some(&i) = keyed.pos.get(&key) {
                out[i] = record;
                continue;
            }
            keyed.pos.insert(key.clone(), out.len());
            keyed.keys.push(key);
            out.push(record);
        }
        (keyed, out)
    }

    /// Replaces, adds or removes the records of `touched` keys, given the rows that now
    /// belong to the set among them (`fresh`).
    pub(super) fn patch<T>(
        &mut self,
        records: &mut Vec<T>,
        touched: &BTreeSet<String>,
        fresh: Vec<(String, T)>,
    ) {
        let mut fresh: HashMap<String, T> = fresh.into_iter().collect();
        for key in touched {
            match (fresh.remove(key), self.pos.get(key).copied()) {
                (Some(record), Some(i)) => records[i] = record,
                (Some(record), None) => {
                    self.pos.insert(key.clone(), records.len());
                    self.keys.push(key.clone());
                    records.push(record);
                }
                (None, Some(i)) => {
                    records.swap_remove(i);
                    self.keys.swap_remove(i);
                    self.pos.remove(key);
                    if let Some(moved) = self.keys.get(i) {
                        self.pos.insert(moved.clone(), i);
                    }
                }
                (None, None) => {}
            }
        }
    }
}

/// The index tables a working set is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Table {
    Customers,
    Policies,
    Visits,
    Contacts,
    Days,
}

impl Table {
    pub(super) fn from_name(name: &str) -> Option<Table> {
        Some(match name {
            "customers" => Table::Customers,
            "policies" => Table::Policies,
            "visits" => Table::Visits,
            "contacts" => Table::Contacts,
            "days" => Table::Days,
            _ => return None,
        })
    }

    /// The query for this table's rows of a group: key and JSON of each row. The agents are
    /// `?1…?n`; tables read by period take the period as `?n+1`, `?n+2`. No ORDER BY: the
    /// computations index and sort what they read (`playbook::Prepared`), and SQLite sorting
    /// tens of thousands of JSON rows cost more than the reading.
    fn select(self, n: usize) -> String {
        let list = (1..=n)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let (f, t) = (n + 1, n + 2);
        match self {
            Table::Customers => format!("SELECT id, json FROM customers WHERE agent IN ({list})"),
            Table::Policies => format!(
                "SELECT p.id, p.json FROM policies p JOIN customers c ON c.id = p.customer
                 WHERE c.agent IN ({list})"
            ),
            Table::Visits => format!(
                "SELECT id, json FROM visits WHERE day BETWEEN ?{f} AND ?{t} AND agent IN ({list})"
            ),
            Table::Contacts => format!(
                "SELECT id, json FROM contacts WHERE day BETWEEN ?{f} AND ?{t} AND agent IN ({list})"
            ),
            Table::Days => format!(
                "SELECT doc, json FROM days WHERE date BETWEEN ?{f} AND ?{t} AND agent IN ({list})"
            ),
        }
    }

    fn by_period(self) -> bool {
        matches!(self, Table::Visits | Table::Contacts | Table::Days)
    }

    /// The key column, as [`Table::select`] names it.
    fn key(self) -> &'static str {
        match self {
            Table::Policies => "p.id",
            Table::Days => "doc",
            _ => "id",
        }
    }
}

/// A group and period's query arguments.
struct Group<'a> {
    agents: Vec<&'a str>,
    from: String,
    to: String,
}

impl Group<'_> {
    /// This table's rows of the group, optionally only those whose key is in `only`.
    fn rows<T: DeserializeOwned>(
        &self,
        db: &Connection,
        table: Table,
        only: Option<&BTreeSet<String>>,
    ) -> Result<Vec<(String, T)>> {
        let n = self.agents.len();
        let mut args: Vec<&dyn ToSql> = self.agents.iter().map(|a| a as &dyn ToSql).collect();
        if table.by_period() {
            args.extend([&self.from as &dyn ToSql, &self.to]);
        }
        let mut sql = table.select(n);
        let keys_json;
        if let Some(only) = only {
            keys_json = self::keys_json(only)?;
            sql.push_str(&format!(
                " AND {} IN (SELECT value FROM json_each(?{}))",
                table.key(),
                args.len() + 1
            ));
            args.push(&keys_json);
        }
        let mut stmt = db.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = vec![];
        for row in rows {
            let (key, json) = row?;
            // As `client_core::index::query_json`: a row that does not parse is not there.
            if let Ok(record) = serde_json::from_str(&json) {
                out.push((key, record));
            }
        }
        Ok(out)
    }

    /// Brings one table's records of a set up to date with its touched keys.
    fn patch<T: DeserializeOwned>(
        &self,
        db: &Connection,
        table: Table,
        records: &mut Vec<T>,
        keyed: &mut Keyed,
        touched: &BTreeSet<String>,
    ) -> Result<()> {
        if !touched.is_empty() {
            let fresh = self.rows(db, table, Some(touched))?;
            keyed.patch(records, touched, fresh);
        }
        Ok(())
    }
}

/// Keys as a JSON array, for `json_each`.
fn keys_json(keys: &BTreeSet<String>) -> Result<String> {
    serde_json::to_string(keys).map_err(|e| crate::error::Error::Internal(format!("keys: {e}")))
}

/// The last touch ever recorded (`AUTOINCREMENT` keeps it in `sqlite_sequence`, even when
/// the rows are pruned), or 0.
fn last_touch(db: &Connection) -> Result<i64> {
    Ok(db
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'index_touches'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Reads the working set of a group afresh (inside the caller's read transaction).
fn read(db: &Connection, g: &Group<'_>) -> Result<(WorkingSet, Keys)> {
    if g.agents.is_empty() {
        return Ok((WorkingSet::default(), Keys::default()));
    }
    let (customers, c) = Keyed::from_rows(g.rows(db, Table::Customers, None)?);
    let (policies, p) = Keyed::from_rows(g.rows(db, Table::Policies, None)?);
    let (visits, v) = Keyed::from_rows(g.rows(db, Table::Visits, None)?);
    let (contacts, k) = Keyed::from_rows(g.rows(db, Table::Contacts, None)?);
    let (days, d) = Keyed::from_rows(g.rows(db, Table::Days, None)?);
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

/// The keys touched since touch `seq`, by table.
type Touched = HashMap<Table, BTreeSet<String>>;

/// What changed since touch `seq`: the touched keys and the last touch, or `None` when the
/// set must be read afresh (too many touches, or some already pruned).
fn touches_since(db: &Connection, seq: i64) -> Result<Option<(Touched, i64)>> {
    let last = last_touch(db)?;
    let count: i64 = db.query_row(
        "SELECT count(*) FROM index_touches WHERE seq > ?1",
        [seq],
        |r| r.get(0),
    )?;
    // Touches are numbered without gaps, so fewer rows than numbers means some were pruned.
    if count != last - seq || count > PATCH_LIMIT {
        return Ok(None);
    }
    let mut touched = Touched::new();
    let mut stmt = db.prepare_cached("SELECT tbl, id FROM index_touches WHERE seq > ?1")?;
    let rows = stmt.query_map([seq], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (tbl, key) = row?;
        if let Some(table) = Table::from_name(&tbl) {
            touched.entry(table).or_default().insert(key);
        }
    }
    Ok(Some((touched, last)))
}

/// Brings a cached set up to date with the touched rows (inside the caller's read
/// transaction).
fn patch(
    db: &Connection,
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
        let ids: BTreeSet<client_core::CustomerId> =
            customers.iter().filter_map(|c| c.parse().ok()).collect();
        for (i, p) in set.policies.iter().enumerate() {
            if ids.contains(&p.customer) {
                policies.insert(keys.policies.keys[i].clone());
            }
        }
        let json = keys_json(&customers)?;
        let mut stmt = db.prepare_cached(
            "SELECT id FROM policies WHERE customer IN (SELECT value FROM json_each(?1))",
        )?;
        for id in stmt.query_map([json], |r| r.get::<_, String>(0))? {
            policies.insert(id?);
        }
    }
    g.patch(
        db,
        Table::Customers,
        &mut set.customers,
        &mut keys.customers,
        &customers,
    )?;
    g.patch(
        db,
        Table::Policies,
        &mut set.policies,
        &mut keys.policies,
        &policies,
    )?;
    let visits = take(Table::Visits);
    g.patch(
        db,
        Table::Visits,
        &mut set.visits,
        &mut keys.visits,
        &visits,
    )?;
    let contacts = take(Table::Contacts);
    g.patch(
        db,
        Table::Contacts,
        &mut set.contacts,
        &mut keys.contacts,
        &contacts,
    )?;
    let days = take(Table::Days);
    g.patch(db, Table::Days, &mut set.days, &mut keys.days, &days)?;
    Ok(())
}

/// Drops old touches, keeping the last [`TOUCHES_KEPT`] (a set that has not caught up with
/// them by then is read afresh).
pub(super) fn prune_touches(db: &Connection) -> Result<()> {
    db.prepare_cached(
        "DELETE FROM index_touches WHERE seq <= (SELECT max(seq) FROM index_touches) - ?1",
    )?
    .execute([TOUCHES_KEPT])?;
    Ok(())
}

impl SqliteStore {
    /// The working set of `agents` for `from..=to`: from the cache while nothing changed,
    /// patched with the rows that changed, or read afresh.
    pub fn working_set(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Arc<WorkingSet>> {
        let mut db = self.db();
        let data_version: i64 = db.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let mut cache = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let SetCache { sets, reads } = &mut *cache;
        let at = sets
            .iter()
            .position(|c| c.agents == agents && c.from == from && c.to == to);
        if let Some(c) = at.map(|i| &sets[i]) {
            if c.data_version == data_version {
                reads.cached += 1;
                return Ok(c.set.clone());
            }
        }
        let g = Group {
            agents: agents.iter().map(UserId::as_str).collect(),
            from: from.to_string(),
            to: to.to_string(),
        };
        // One read transaction: the touches and the rows are of the same moment.
        let tx = db.transaction()?;
        if let Some(i) = at {
            let c = &mut sets[i];
            if let Some((touched, last)) = touches_since(&tx, c.seq)? {
                let patched = patch(&tx, &g, Arc::make_mut(&mut c.set), &mut c.keys, touched);
                if let Err(e) = patched {
                    // Half patched: forget it rather than keep a set nobody can vouch for.
                    sets.remove(i);
                    return Err(e);
                }
                tx.commit()?;
                c.seq = last;
                c.data_version = data_version;
                reads.patched += 1;
                return Ok(c.set.clone());
            }
            sets.remove(i);
        }
        let seq = last_touch(&tx)?;
        let (set, keys) = read(&tx, &g)?;
        tx.commit()?;
        reads.fresh += 1;
        let set = Arc::new(set);
        if sets.len() >= CACHED_SETS {
            sets.remove(0);
        }
        sets.push(CachedSet {
            agents: agents.to_vec(),
            from,
            to,
            data_version,
            seq,
            set: set.clone(),
            keys,
        });
        Ok(set)
    }

    /// How the working sets asked of this store so far were answered.
    pub fn set_reads(&self) -> SetReads {
        self.sets.lock().unwrap_or_else(|e| e.into_inner()).reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ks: &[&str]) -> BTreeSet<String> {
        ks.iter().map(|k| k.to_string()).collect()
    }

    /// Every record sits where its key says, and the keys are the records'.
    fn consistent(k: &Keyed, records: &[String]) {
        assert_eq!(k.keys.len(), records.len());
        assert_eq!(k.pos.len(), records.len());
        for (i, key) in k.keys.iter().enumerate() {
            assert_eq!(k.pos[key], i);
            assert!(
                records[i].starts_with(key.as_str()),
                "{key} at {i}: {}",
                records[i]
            );
        }
    }

    #[test]
    fn patching_replaces_adds_and_removes_and_keeps_positions_right() {
        let row = |k: &str, v: u32| (k.to_string(), format!("{k}:{v}"));
        let (mut k, mut records) = Keyed::from_rows(vec![row("a", 1), row("b", 1), row("c", 1)]);
        consistent(&k, &records);
        // a changes, b leaves (the last record moves into its place), d arrives, e is
        // touched but neither was nor is in the set.
        k.patch(
            &mut records,
            &keys(&["a", "b", "d", "e"]),
            vec![row("a", 2), row("d", 1)],
        );
        consistent(&k, &records);
        let mut sorted = records.clone();
        sorted.sort();
        assert_eq!(sorted, ["a:2", "c:1", "d:1"]);
        // Removing the last record and the first, then everything.
        k.patch(&mut records, &keys(&["d", "a"]), vec![]);
        consistent(&k, &records);
        assert_eq!(records, ["c:1"]);
        k.patch(&mut records, &keys(&["c"]), vec![]);
        consistent(&k, &records);
        assert!(records.is_empty());
    }
}
