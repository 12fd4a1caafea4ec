//! The queryable index: a projection of the documents into SQLite rows.
//!
//! After every change to a document (a local write or a received sync message) the store calls
//! [`project`] in the same SQLite transaction that appends the change, so the index is never
//! behind the documents. Reading a document into rows ([`projection`]) is separate from writing
//! them ([`write`]): the rows are plain data, computed without a database, so another store (the
//! server's PostgreSQL store) writes the same rows, and a writer can read documents before it
//! takes a write lock. A document is always read whole, which keeps merges simple: whatever
//! the merge did, the rows end up as the merged document says; only rows whose record changed
//! are written.
//! The index can be dropped and derived again from the documents (`Store::rebuild_index`).

use automerge::{AutoCommit, ROOT};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::documents::{
    actor_roles, get_obj, keys, read_customer_fields, read_fields, ActorRoles, CustomerFields,
};
use crate::error::Result;
use crate::ids::DocId;
use crate::model::{
    Answer, Comment, Conflict, Contact, Customer, Day, EveningReport, Policy, Problem, Visit,
    WorkLog,
};

/// Everything a customer document holds, read with conflicts settled.
#[derive(Debug, Default)]
pub struct CustomerView {
    /// The card, once the document has one (a document still arriving may not).
    pub customer: Option<Customer>,
    /// Its policies.
    pub policies: Vec<Policy>,
    /// Its visits, numbered by start time.
    pub visits: Vec<Visit>,
    /// Its calls and SMS.
    pub contacts: Vec<Contact>,
    /// Managers' comments on its visits.
    pub comments: Vec<Comment>,
    /// Fields edited concurrently, with the values that lost.
    pub conflicts: Vec<Conflict>,
}

/// Everything a day document holds.
#[derive(Debug)]
pub struct DayView {
    /// The day.
    pub day: Day,
    /// Fields edited concurrently.
    pub conflicts: Vec<Conflict>,
}

fn parse<T: DeserializeOwned>(doc: &DocId, what: &str, m: Map<String, Json>) -> Option<T> {
    match serde_json::from_value(Json::Object(m)) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(%doc, what, error = %e, "record does not read as the model; skipped");
            None
        }
    }
}

/// Reads a customer document.
pub fn read_customer(d: &AutoCommit, doc: &DocId) -> CustomerView {
    match doc {
        DocId::Customer(_) => read_customer_with(d, doc, &actor_roles(d)),
        DocId::Day(..) => CustomerView::default(),
    }
}

/// [`read_customer`] with the document's [`actor_roles`] already computed.
pub fn read_customer_with(d: &AutoCommit, doc: &DocId, roles: &ActorRoles) -> CustomerView {
    match doc {
        DocId::Customer(_) => customer_view(doc, read_customer_fields(d, roles, None)),
        DocId::Day(..) => CustomerView::default(),
    }
}

/// The customer a document's records read as (`documents::read_customer_fields`, read
/// whole): the records that read as the model, numbered and sorted. A day reads as empty.
pub fn customer_view(doc: &DocId, fields: CustomerFields) -> CustomerView {
    let DocId::Customer(cid) = doc else {
        return CustomerView::default();
    };
    let mut v = CustomerView {
        conflicts: fields.conflicts,
        ..CustomerView::default()
    };
    let cid_json = Json::from(cid.to_string());
    if let Some(mut m) = fields.card {
        if m.contains_key("name") {
            m.insert("id".into(), cid_json.clone());
            v.customer = parse(doc, "card", m);
        }
    }
    let (mut policies, mut visits, mut contacts, mut comments) = (vec![], vec![], vec![], vec![]);
    for (coll, records) in fields.collections {
        for (id, m) in records {
            let Some(mut m) = m else { continue };
            m.insert("id".into(), Json::from(id));
            match coll {
                "policies" => {
                    m.insert("customer".into(), cid_json.clone());
                    policies.extend(parse::<Policy>(doc, "policy", m));
                }
                "visits" => {
                    m.insert("customer".into(), cid_json.clone());
                    m.insert("number".into(), Json::from(0));
                    visits.extend(parse::<Visit>(doc, "visit", m));
                }
                "contacts" => {
                    m.insert("customer".into(), cid_json.clone());
                    contacts.extend(parse::<Contact>(doc, "contact", m));
                }
                _ => comments.extend(parse::<Comment>(doc, "comment", m)),
            }
        }
    }
    // The visit's number for its customer follows the order of start times (ties by id), so
    // visits recorded offline on two phones get distinct numbers once merged.
    visits.sort_by_key(|v| (v.start, v.id));
    for (i, visit) in visits.iter_mut().enumerate() {
        visit.number = i as u32 + 1;
    }
    policies.sort_by(|a, b| (a.due_date, &a.number).cmp(&(b.due_date, &b.number)));
    contacts.sort_by_key(|c| (c.at, c.id));
    comments.sort_by_key(|c| (c.at, c.id));
    v.policies = policies;
    v.visits = visits;
    v.contacts = contacts;
    v.comments = comments;
    v
}

/// Reads a day document.
pub fn read_day(d: &AutoCommit, doc: &DocId) -> Option<DayView> {
    let DocId::Day(agent, date) = doc else {
        return None;
    };
    let roles = actor_roles(d);
    let mut conflicts = vec![];
    let ident = |m: &mut Map<String, Json>| {
        m.insert("agent".into(), Json::from(agent.to_string()));
        m.insert("date".into(), Json::from(date.to_string()));
    };
    let log = get_obj(d, &ROOT, "log").ok().flatten().and_then(|o| {
        let mut m = read_fields(d, &o, "log", &roles, &mut conflicts);
        if !m.contains_key("text") {
            return None;
        }
        ident(&mut m);
        parse::<WorkLog>(doc, "log", m)
    });
    let mut problems = vec![];
    if let Ok(Some(ps)) = get_obj(d, &ROOT, "problems") {
        for id in keys(d, &ps) {
            let Ok(Some(o)) = get_obj(d, &ps, &id) else {
                continue;
            };
            let path = format!("problems/{id}");
            let mut m = read_fields(d, &o, &path, &roles, &mut conflicts);
            let mut answers: Vec<Answer> = vec![];
            if let Ok(Some(a)) = get_obj(d, &o, "answers") {
                for aid in keys(d, &a) {
                    if let Ok(Some(ao)) = get_obj(d, &a, &aid) {
                        let am = read_fields(
                            d,
                            &ao,
                            &format!("{path}/answers/{aid}"),
                            &roles,
                            &mut conflicts,
                        );
                        answers.extend(parse::<Answer>(doc, "answer", am));
                    }
                }
            }
            answers.sort_by_key(|a| a.at);
            m.insert("id".into(), Json::from(id));
            m.insert(
                "answers".into(),
                serde_json::to_value(&answers).unwrap_or_default(),
            );
            problems.extend(parse::<Problem>(doc, "problem", m));
        }
    }
    problems.sort_by_key(|p| p.id);
    let report = get_obj(d, &ROOT, "report").ok().flatten().and_then(|o| {
        let mut m = read_fields(d, &o, "report", &roles, &mut conflicts);
        if !m.contains_key("submitted_at") {
            return None;
        }
        ident(&mut m);
        m.insert(
            "problems".into(),
            serde_json::to_value(&problems).unwrap_or_default(),
        );
        parse::<EveningReport>(doc, "report", m)
    });
    Some(DayView {
        day: Day {
            agent: agent.clone(),
            date: *date,
            log,
            report,
        },
        conflicts,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Deletes the index rows of one document.
pub fn delete_doc_rows(conn: &Connection, doc: &DocId) -> Result<()> {
    let name = doc.to_string();
    match doc {
        DocId::Customer(c) => {
            let c = c.to_string();
            for table in [
                "customers WHERE id",
                "policies WHERE customer",
                "visits WHERE customer",
                "contacts WHERE customer",
                "comments WHERE customer",
            ] {
                conn.prepare_cached(&format!("DELETE FROM {table} = ?1"))?
                    .execute([&c])?;
            }
        }
        DocId::Day(..) => {
            conn.prepare_cached("DELETE FROM days WHERE doc = ?1")?
                .execute([&name])?;
            conn.prepare_cached("DELETE FROM problems WHERE doc = ?1")?
                .execute([&name])?;
        }
    }
    conn.prepare_cached("DELETE FROM conflicts WHERE doc = ?1")?
        .execute([&name])?;
    Ok(())
}

/// Upserts one index row, writing nothing when the stored row already says the same
/// (`json` holds the whole record, so an equal `json` means equal columns).
fn upsert(
    conn: &Connection,
    table: &str,
    cols: &[&str],
    values: &[&dyn rusqlite::ToSql],
) -> Result<()> {
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = cols[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} \
         WHERE {table}.json IS NOT excluded.json",
        cols.join(", "),
        placeholders.join(", "),
        cols[0],
        updates.join(", "),
    );
    conn.prepare_cached(&sql)?.execute(values)?;
    Ok(())
}

/// Deletes the rows of `table` owned by `owner` (in column `by`) whose keys (column `key`) are
/// not in `keep`.
fn delete_others(
    conn: &Connection,
    table: &str,
    by: &str,
    key: &str,
    owner: &str,
    keep: &[String],
) -> Result<()> {
    let keep = serde_json::to_string(keep).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(&format!(
        "DELETE FROM {table} WHERE {by} = ?1 AND {key} NOT IN (SELECT value FROM json_each(?2))"
    ))?
    .execute(params![owner, keep])?;
    Ok(())
}

/// One row of an index table: its columns in the table's order, the key first and the
/// record's JSON last (the stored row is rewritten only when that JSON differs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRow {
    /// The column values, as text (`None` for SQL NULL), in the order of the table's
    /// [`IndexTable::columns`].
    pub values: Vec<Option<String>>,
}

/// The index tables a document projects into, with their columns (key first, `json` last).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexTable {
    /// A customer's card.
    Customers,
    /// Its policies.
    Policies,
    /// Its visits.
    Visits,
    /// Its calls and SMS.
    Contacts,
    /// Managers' comments on its visits.
    Comments,
    /// A day's log and report.
    Days,
    /// The problems of a day's report.
    Problems,
}

impl IndexTable {
    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            IndexTable::Customers => "customers",
            IndexTable::Policies => "policies",
            IndexTable::Visits => "visits",
            IndexTable::Contacts => "contacts",
            IndexTable::Comments => "comments",
            IndexTable::Days => "days",
            IndexTable::Problems => "problems",
        }
    }

    /// Its columns, key first, `json` last.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            IndexTable::Customers => &[
                "id", "name", "postcode", "birthday", "grade", "status", "agent", "json",
            ],
            IndexTable::Policies => &["id", "customer", "number", "due_date", "status", "json"],
            IndexTable::Visits | IndexTable::Contacts => {
                &["id", "customer", "agent", "day", "json"]
            }
            IndexTable::Comments => &["id", "customer", "visit", "json"],
            IndexTable::Days => &["doc", "agent", "date", "json"],
            IndexTable::Problems => &["id", "doc", "agent", "date", "level", "status", "json"],
        }
    }

    /// The column naming the document (or customer) that owns a row.
    pub fn owner_column(self) -> &'static str {
        match self {
            IndexTable::Customers => "id",
            IndexTable::Policies
            | IndexTable::Visits
            | IndexTable::Contacts
            | IndexTable::Comments => "customer",
            IndexTable::Days | IndexTable::Problems => "doc",
        }
    }
}

/// The rows of one table that one document owns: `rows` replace every row of `owner` there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRows {
    /// The table.
    pub table: IndexTable,
    /// The owner's value in [`IndexTable::owner_column`].
    pub owner: String,
    /// The rows the document says it has (rows of the owner not among them are deleted).
    pub rows: Vec<IndexRow>,
}

/// One conflict row (a field edited concurrently).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictRow {
    /// The record's path.
    pub object: String,
    /// The field.
    pub field: String,
    /// The conflict as JSON.
    pub json: String,
}

/// Everything the index holds for one document, computed from the document alone.
///
/// Reading a document into rows ([`projection`]) needs no database, so it can run before a
/// write transaction starts (or on another thread), and any store — this SQLite index, the
/// server's PostgreSQL store — writes the same rows ([`write`] is the SQLite writer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    /// The document (`conflicts` rows are keyed by its name).
    pub doc: DocId,
    /// Per table, the rows the document owns.
    pub tables: Vec<OwnedRows>,
    /// Its fields edited concurrently, in a stable order.
    pub conflicts: Vec<ConflictRow>,
}

fn row(values: Vec<Option<String>>) -> IndexRow {
    IndexRow { values }
}

/// Reads one document into its index rows (see [`Projection`]).
pub fn projection(doc: &DocId, d: &AutoCommit) -> Projection {
    projection_read(doc, d, None)
}

/// [`projection`], with the customer already read from `d` (`read_customer`) when the caller
/// has it: a received message's document is read once for its checks and its projection.
pub fn projection_read(doc: &DocId, d: &AutoCommit, read: Option<CustomerView>) -> Projection {
    let name = doc.to_string();
    let s = |v: &dyn ToString| Some(v.to_string());
    let (tables, conflicts) = match doc {
        DocId::Customer(cid) => {
            let v = read.unwrap_or_else(|| read_customer(d, doc));
            let owner = cid.to_string();
            let card = v.customer.iter().map(|c| {
                row(vec![
                    Some(owner.clone()),
                    Some(c.name.clone()),
                    c.postcode.clone(),
                    c.birthday.map(|b| b.format("%m-%d").to_string()),
                    c.grade.clone(),
                    s(&c.status.code()),
                    c.agent.as_ref().map(|a| a.to_string()),
                    Some(json(c)),
                ])
            });
            let policies = v.policies.iter().map(|p| {
                row(vec![
                    s(&p.id),
                    Some(owner.clone()),
                    Some(p.number.clone()),
                    s(&p.due_date),
                    s(&p.status.code()),
                    Some(json(p)),
                ])
            });
            let visits = v.visits.iter().map(|x| {
                row(vec![
                    s(&x.id),
                    Some(owner.clone()),
                    s(&x.agent),
                    s(&x.start.date_naive()),
                    Some(json(x)),
                ])
            });
            let contacts = v.contacts.iter().map(|x| {
                row(vec![
                    s(&x.id),
                    Some(owner.clone()),
                    s(&x.agent),
                    s(&x.at.date_naive()),
                    Some(json(x)),
                ])
            });
            let comments = v.comments.iter().map(|x| {
                row(vec![
                    s(&x.id),
                    Some(owner.clone()),
                    s(&x.visit),
                    Some(json(x)),
                ])
            });
            let owned = |table, rows: Vec<IndexRow>| OwnedRows {
                table,
                owner: owner.clone(),
                rows,
            };
            let tables = vec![
                owned(IndexTable::Customers, card.collect()),
                owned(IndexTable::Policies, policies.collect()),
                owned(IndexTable::Visits, visits.collect()),
                owned(IndexTable::Contacts, contacts.collect()),
                owned(IndexTable::Comments, comments.collect()),
            ];
            (tables, v.conflicts)
        }
        DocId::Day(agent, date) => {
            let (day, problems, conflicts) = match read_day(d, doc) {
                Some(v) => {
                    let day = row(vec![
                        Some(name.clone()),
                        s(agent),
                        s(date),
                        Some(json(&v.day)),
                    ]);
                    let problems = v
                        .day
                        .report
                        .as_ref()
                        .map(|r| r.problems.as_slice())
                        .unwrap_or_default()
                        .iter()
                        .map(|p| {
                            row(vec![
                                s(&p.id),
                                Some(name.clone()),
                                s(agent),
                                s(date),
                                s(&p.level.code()),
                                Some(json(&p.status)),
                                Some(json(p)),
                            ])
                        })
                        .collect();
                    (vec![day], problems, v.conflicts)
                }
                None => (vec![], vec![], vec![]),
            };
            let owned = |table, rows| OwnedRows {
                table,
                owner: name.clone(),
                rows,
            };
            (
                vec![
                    owned(IndexTable::Days, day),
                    owned(IndexTable::Problems, problems),
                ],
                conflicts,
            )
        }
    };
    Projection {
        doc: doc.clone(),
        tables,
        conflicts: conflicts
            .iter()
            .map(|c| ConflictRow {
                object: c.object.clone(),
                field: c.field.clone(),
                json: json(c),
            })
            .collect(),
    }
}

/// Writes a document's [`Projection`] into the SQLite index: rows upserted only where their
/// record changed, rows of records that disappeared deleted, so a write that adds one visit
/// touches a handful of pages, not every row of the customer — this keeps the write-ahead
/// log, and so checkpoints, small (docs/benchmarks.md).
pub fn write(conn: &Connection, p: &Projection) -> Result<()> {
    let name = p.doc.to_string();
    for owned in &p.tables {
        let table = owned.table;
        let cols = table.columns();
        let mut keep = Vec::with_capacity(owned.rows.len());
        for r in &owned.rows {
            let values: Vec<&dyn rusqlite::ToSql> =
                r.values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
            upsert(conn, table.name(), cols, &values)?;
            keep.extend(r.values[0].clone());
        }
        delete_others(
            conn,
            table.name(),
            table.owner_column(),
            cols[0],
            &owned.owner,
            &keep,
        )?;
    }
    // Conflicts have no identity of their own: rewrite them only when the set changed.
    let fresh: Vec<&str> = p.conflicts.iter().map(|c| c.json.as_str()).collect();
    let stored: Vec<String> = {
        let mut stmt =
            conn.prepare_cached("SELECT json FROM conflicts WHERE doc = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map([&name], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if stored != fresh {
        conn.prepare_cached("DELETE FROM conflicts WHERE doc = ?1")?
            .execute([&name])?;
        for c in &p.conflicts {
            conn.prepare_cached(
                "INSERT INTO conflicts (doc, object, field, json) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, c.object, c.field, c.json])?;
        }
    }
    Ok(())
}

/// Brings the index rows of one document in line with what the document now says
/// ([`projection`] then [`write`]).
///
/// A document is always read whole, which keeps merges simple: whatever the merge did, the
/// rows end up as the merged document says; only rows whose record changed are written.
pub fn project(conn: &Connection, doc: &DocId, d: &AutoCommit) -> Result<()> {
    write(conn, &projection(doc, d))
}

/// [`project`], with the customer already read (see [`projection_read`]).
pub fn project_read(
    conn: &Connection,
    doc: &DocId,
    d: &AutoCommit,
    read: Option<CustomerView>,
) -> Result<()> {
    write(conn, &projection_read(doc, d, read))
}

/// Runs a query whose only column is a record's JSON, and parses each row.
pub fn query_json<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0))?;
    let mut out = vec![];
    for row in rows {
        if let Ok(v) = serde_json::from_str(&row?) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The one record a query returns, if any.
pub fn query_one<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>> {
    let s: Option<String> = conn
        .prepare_cached(sql)?
        .query_row(params, |r| r.get(0))
        .optional()?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
}
