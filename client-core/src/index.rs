//! The queryable index: a projection of the documents into SQLite rows.
//!
//! After every change to a document (a local write or a received sync message) the store calls
//! [`project`] in the same SQLite transaction that appends the change, so the index is never
//! behind the documents. A document is always read whole, which keeps merges simple: whatever
//! the merge did, the rows end up as the merged document says; only rows whose record changed
//! are written.
//! The index can be dropped and derived again from the documents (`Store::rebuild_index`).

use automerge::{AutoCommit, ROOT};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::documents::{actor_roles, get_obj, keys, read_fields};
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
    let DocId::Customer(cid) = doc else {
        return CustomerView::default();
    };
    let roles = actor_roles(d);
    let mut v = CustomerView::default();
    let cid_json = Json::from(cid.to_string());
    if let Ok(Some(card)) = get_obj(d, &ROOT, "card") {
        let mut m = read_fields(d, &card, "card", &roles, &mut v.conflicts);
        if m.contains_key("name") {
            m.insert("id".into(), cid_json.clone());
            v.customer = parse(doc, "card", m);
        }
    }
    let mut each = |coll: &str, f: &mut dyn FnMut(String, Map<String, Json>)| {
        if let Ok(Some(c)) = get_obj(d, &ROOT, coll) {
            for id in keys(d, &c) {
                if let Ok(Some(o)) = get_obj(d, &c, &id) {
                    let path = format!("{coll}/{id}");
                    let m = read_fields(d, &o, &path, &roles, &mut v.conflicts);
                    f(id, m);
                }
            }
        }
    };
    let mut policies = vec![];
    each("policies", &mut |id, mut m| {
        m.insert("id".into(), Json::from(id));
        m.insert("customer".into(), cid_json.clone());
        policies.extend(parse::<Policy>(doc, "policy", m));
    });
    let mut visits = vec![];
    each("visits", &mut |id, mut m| {
        m.insert("id".into(), Json::from(id));
        m.insert("customer".into(), cid_json.clone());
        m.insert("number".into(), Json::from(0));
        visits.extend(parse::<Visit>(doc, "visit", m));
    });
    let mut contacts = vec![];
    each("contacts", &mut |id, mut m| {
        m.insert("id".into(), Json::from(id));
        m.insert("customer".into(), cid_json.clone());
        contacts.extend(parse::<Contact>(doc, "contact", m));
    });
    let mut comments = vec![];
    each("comments", &mut |id, mut m| {
        m.insert("id".into(), Json::from(id));
        comments.extend(parse::<Comment>(doc, "comment", m));
    });
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

/// Deletes the rows of `table` owned by `owner` (in column `by`) whose ids are not in `keep`.
fn delete_others(
    conn: &Connection,
    table: &str,
    by: &str,
    owner: &str,
    keep: &[String],
) -> Result<()> {
    let keep = serde_json::to_string(keep).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(&format!(
        "DELETE FROM {table} WHERE {by} = ?1 AND id NOT IN (SELECT value FROM json_each(?2))"
    ))?
    .execute(params![owner, keep])?;
    Ok(())
}

/// Brings the index rows of one document in line with what the document now says.
///
/// Rows are upserted only where their record changed and rows of records that disappeared are
/// deleted, so a write that adds one visit touches a handful of pages, not every row of the
/// customer: this keeps the write-ahead log, and so checkpoints, small (docs/benchmarks.md).
pub fn project(conn: &Connection, doc: &DocId, d: &AutoCommit) -> Result<()> {
    project_read(conn, doc, d, None)
}

/// [`project`], with the customer already read from `d` (`read_customer`) when the caller has
/// it: a received message's document is read once for its checks and its projection.
pub fn project_read(
    conn: &Connection,
    doc: &DocId,
    d: &AutoCommit,
    read: Option<CustomerView>,
) -> Result<()> {
    let name = doc.to_string();
    let conflicts = match doc {
        DocId::Customer(cid) => {
            let v = read.unwrap_or_else(|| read_customer(d, doc));
            let owner = cid.to_string();
            match &v.customer {
                Some(c) => upsert(
                    conn,
                    "customers",
                    &[
                        "id", "name", "postcode", "birthday", "grade", "status", "agent", "json",
                    ],
                    params![
                        owner,
                        c.name,
                        c.postcode,
                        c.birthday.map(|b| b.format("%m-%d").to_string()),
                        c.grade,
                        c.status.code(),
                        c.agent.as_ref().map(|a| a.to_string()),
                        json(c),
                    ],
                )?,
                None => {
                    conn.prepare_cached("DELETE FROM customers WHERE id = ?1")?
                        .execute([&owner])?;
                }
            }
            for p in &v.policies {
                upsert(
                    conn,
                    "policies",
                    &["id", "customer", "number", "due_date", "status", "json"],
                    params![
                        p.id.to_string(),
                        owner,
                        p.number,
                        p.due_date.to_string(),
                        p.status.code(),
                        json(p),
                    ],
                )?;
            }
            let ids: Vec<String> = v.policies.iter().map(|p| p.id.to_string()).collect();
            delete_others(conn, "policies", "customer", &owner, &ids)?;
            for x in &v.visits {
                upsert(
                    conn,
                    "visits",
                    &["id", "customer", "agent", "day", "json"],
                    params![
                        x.id.to_string(),
                        owner,
                        x.agent.to_string(),
                        x.start.date_naive().to_string(),
                        json(x),
                    ],
                )?;
            }
            let ids: Vec<String> = v.visits.iter().map(|x| x.id.to_string()).collect();
            delete_others(conn, "visits", "customer", &owner, &ids)?;
            for x in &v.contacts {
                upsert(
                    conn,
                    "contacts",
                    &["id", "customer", "agent", "day", "json"],
                    params![
                        x.id.to_string(),
                        owner,
                        x.agent.to_string(),
                        x.at.date_naive().to_string(),
                        json(x),
                    ],
                )?;
            }
            let ids: Vec<String> = v.contacts.iter().map(|x| x.id.to_string()).collect();
            delete_others(conn, "contacts", "customer", &owner, &ids)?;
            for x in &v.comments {
                upsert(
                    conn,
                    "comments",
                    &["id", "customer", "visit", "json"],
                    params![x.id.to_string(), owner, x.visit.to_string(), json(x)],
                )?;
            }
            let ids: Vec<String> = v.comments.iter().map(|x| x.id.to_string()).collect();
            delete_others(conn, "comments", "customer", &owner, &ids)?;
            v.conflicts
        }
        DocId::Day(agent, date) => {
            let Some(v) = read_day(d, doc) else {
                delete_doc_rows(conn, doc)?;
                return Ok(());
            };
            upsert(
                conn,
                "days",
                &["doc", "agent", "date", "json"],
                params![name, agent.to_string(), date.to_string(), json(&v.day)],
            )?;
            let problems = v
                .day
                .report
                .as_ref()
                .map(|r| r.problems.as_slice())
                .unwrap_or_default();
            for p in problems {
                upsert(
                    conn,
                    "problems",
                    &["id", "doc", "agent", "date", "level", "status", "json"],
                    params![
                        p.id.to_string(),
                        name,
                        agent.to_string(),
                        date.to_string(),
                        p.level.code(),
                        json(&p.status),
                        json(p),
                    ],
                )?;
            }
            let ids: Vec<String> = problems.iter().map(|p| p.id.to_string()).collect();
            delete_others(conn, "problems", "doc", &name, &ids)?;
            v.conflicts
        }
    };
    // Conflicts have no identity of their own: rewrite them only when the set changed.
    let fresh: Vec<String> = conflicts.iter().map(json).collect();
    let stored: Vec<String> = {
        let mut stmt =
            conn.prepare_cached("SELECT json FROM conflicts WHERE doc = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map([&name], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if stored != fresh {
        conn.prepare_cached("DELETE FROM conflicts WHERE doc = ?1")?
            .execute([&name])?;
        for (c, j) in conflicts.iter().zip(&fresh) {
            conn.prepare_cached(
                "INSERT INTO conflicts (doc, object, field, json) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, c.object, c.field, j])?;
        }
    }
    Ok(())
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
