//! What the views read on PostgreSQL ([`crate::store::Projection`]): client-core's index rows
//! (written by `index`), a customer's history from its document and the change log, and the
//! managers' working sets (`working_sets`).
//!
//! The answers are the embedded store's, order included: text is ordered byte-wise
//! (`COLLATE "C"`, as SQLite compares), ties that SQLite leaves to its row order are sorted
//! as it does in Rust, and a row whose JSON does not parse is not there (as
//! `client_core::index::query_json`). A read that takes several statements takes them in one
//! REPEATABLE READ snapshot.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use client_core::model::{Comment, Conflict, Contact, Customer, Policy, Problem, Role, Visit};
use client_core::{CustomerId, DocId, ProblemId, RaisedProblem, UserId, VisitId};
use postgres::types::ToSql;
use serde::de::DeserializeOwned;

use super::store::PgStore;
use super::DocumentTx;
use crate::accounts::TeamId;
use crate::error::{Error, Result};
use crate::history::{self, Receipt};
use crate::store::{Accounts, AgentDayRecords, CustomerDetail, Projection, TeamData};

/// The records of a query's first column (JSON text); rows that do not parse are skipped.
fn records<T: DeserializeOwned>(
    tx: &mut DocumentTx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<T>> {
    Ok(tx
        .query(sql, params)?
        .iter()
        .filter_map(|r| serde_json::from_str(r.get::<_, &str>(0)).ok())
        .collect())
}

/// The record of a query's first row, if any and if it parses.
fn record<T: DeserializeOwned>(
    tx: &mut DocumentTx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<T>> {
    Ok(tx
        .query(sql, params)?
        .first()
        .and_then(|r| serde_json::from_str(r.get::<_, &str>(0)).ok()))
}

/// Makes the transaction one snapshot for all its statements (its first statement).
fn one_snapshot(tx: &mut DocumentTx<'_>) -> Result<()> {
    tx.sql()
        .batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
    Ok(())
}

/// A problem row as the embedded store reads it: `None` if it does not parse.
fn raised(agent: &str, date: NaiveDate, json: &str) -> Option<RaisedProblem> {
    Some(RaisedProblem {
        agent: agent.parse().ok()?,
        date,
        problem: serde_json::from_str(json).ok()?,
    })
}

/// The receipts of a document's changes: hash (hex) → when (RFC 3339 UTC, milliseconds, as
/// the embedded store writes them) and through what.
fn receipts(tx: &mut DocumentTx<'_>, doc: &DocId) -> Result<HashMap<String, Receipt>> {
    let rows = tx.query(
        "SELECT encode(hash, 'hex'),
                to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                via
         FROM change_log WHERE doc = $1",
        &[&doc.to_string()],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                Receipt {
                    at: r.get(1),
                    via: r.get(2),
                },
            )
        })
        .collect())
}

impl Projection for PgStore {
    fn customer_agent(&self, id: CustomerId) -> Result<Option<Option<UserId>>> {
        let agent: Option<Option<String>> = self.db.write(|tx| {
            Ok(tx
                .query(
                    "SELECT agent FROM customers WHERE id = $1",
                    &[&id.to_string()],
                )?
                .first()
                .map(|r| r.get(0)))
        })?;
        Ok(agent.map(|a| a.and_then(|a| a.parse().ok())))
    }

    fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        self.db.write(|tx| {
            record(
                tx,
                "SELECT json::text FROM customers WHERE id = $1",
                &[&id.to_string()],
            )
        })
    }

    fn customer_detail(&self, id: CustomerId) -> Result<Option<CustomerDetail>> {
        let c = id.to_string();
        let doc = DocId::Customer(id);
        let name = doc.to_string();
        let read = self.db.write(|tx| {
            one_snapshot(tx)?;
            let Some(customer) =
                record::<Customer>(tx, "SELECT json::text FROM customers WHERE id = $1", &[&c])?
            else {
                return Ok(None);
            };
            let policies: Vec<Policy> = records(
                tx,
                "SELECT json::text FROM policies WHERE customer = $1
                 ORDER BY due_date, number COLLATE \"C\"",
                &[&c],
            )?;
            let visits: Vec<Visit> = records(
                tx,
                "SELECT json::text FROM visits WHERE customer = $1",
                &[&c],
            )?;
            let contacts: Vec<Contact> = records(
                tx,
                "SELECT json::text FROM contacts WHERE customer = $1
                 ORDER BY day, id COLLATE \"C\"",
                &[&c],
            )?;
            let comments: Vec<Comment> = records(
                tx,
                "SELECT json::text FROM comments WHERE customer = $1 ORDER BY id COLLATE \"C\"",
                &[&c],
            )?;
            let conflicts: Vec<Conflict> = records(
                tx,
                "SELECT json::text FROM conflicts WHERE doc = $1
                 ORDER BY object COLLATE \"C\", field COLLATE \"C\", seq",
                &[&name],
            )?;
            let receipts = receipts(tx, &doc)?;
            let bytes = tx.load(&doc)?.map(|mut s| s.doc.save());
            Ok(Some((
                customer, policies, visits, contacts, comments, conflicts, receipts, bytes,
            )))
        })?;
        let Some((customer, policies, mut visits, contacts, comments, conflicts, receipts, bytes)) =
            read
        else {
            return Ok(None);
        };
        visits.sort_by_key(|v| v.number);
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
        self.db.write(|tx| {
            record(
                tx,
                "SELECT json::text FROM policies WHERE number = $1 ORDER BY id COLLATE \"C\"
                 LIMIT 1",
                &[&number],
            )
        })
    }

    fn visits(&self, agent: &UserId, date: NaiveDate) -> Result<Vec<Visit>> {
        let mut v: Vec<Visit> = self.db.write(|tx| {
            records(
                tx,
                "SELECT json::text FROM visits WHERE agent = $1 AND day = $2",
                &[&agent.as_str(), &date],
            )
        })?;
        v.sort_by_key(|a| (a.start, a.id));
        Ok(v)
    }

    fn visit(&self, id: VisitId) -> Result<Option<Visit>> {
        self.db.write(|tx| {
            record(
                tx,
                "SELECT json::text FROM visits WHERE id = $1",
                &[&id.to_string()],
            )
        })
    }

    fn problem(&self, id: ProblemId) -> Result<Option<RaisedProblem>> {
        self.db.write(|tx| {
            let rows = tx.query(
                "SELECT agent, date, json::text FROM problems WHERE id = $1",
                &[&id.to_string()],
            )?;
            Ok(rows
                .first()
                .and_then(|r| raised(r.get(0), r.get(1), r.get(2))))
        })
    }

    fn team_data(&self, team: &TeamId, from: NaiveDate, to: NaiveDate) -> Result<TeamData> {
        if !self.team_exists(team)? {
            return Err(Error::not_found("team", team));
        }
        let playbook = self.playbook_of(team)?;
        let members = self.members(Some(team))?;
        let agents: Vec<UserId> = members
            .iter()
            .filter(|m| m.member.role == Role::Agent)
            .map(|m| m.member.user.clone())
            .collect();
        let working_set = self.working_set(&agents, from, to)?;
        Ok(TeamData {
            team: team.clone(),
            playbook,
            members,
            working_set,
        })
    }

    fn team_problems(&self, team: &TeamId) -> Result<Vec<RaisedProblem>> {
        let rows = self.db.write(|tx| {
            let rows = tx.query(
                "SELECT p.agent, p.date, p.json::text FROM problems p
                 JOIN users u ON u.id = p.agent
                 WHERE u.team = $1
                 ORDER BY p.date, p.agent COLLATE \"C\", p.id COLLATE \"C\"",
                &[&team.as_str()],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect::<Vec<(String, NaiveDate, String)>>())
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (agent, date, json) in rows {
            let problem: Problem = serde_json::from_str(&json)
                .map_err(|e| Error::Internal(format!("problem row: {e}")))?;
            out.push(RaisedProblem {
                agent: agent.parse()?,
                date,
                problem,
            });
        }
        Ok(out)
    }

    fn agent_day(&self, agent: &UserId, date: NaiveDate) -> Result<AgentDayRecords> {
        let a = agent.as_str();
        self.db.write(|tx| {
            one_snapshot(tx)?;
            let day = record(
                tx,
                "SELECT json::text FROM days WHERE agent = $1 AND date = $2",
                &[&a, &date],
            )?;
            let mut visits: Vec<Visit> = records(
                tx,
                "SELECT json::text FROM visits WHERE agent = $1 AND day = $2",
                &[&a, &date],
            )?;
            visits.sort_by_key(|v| (v.start, v.id));
            let mut contacts: Vec<Contact> = records(
                tx,
                "SELECT json::text FROM contacts WHERE agent = $1 AND day = $2",
                &[&a, &date],
            )?;
            contacts.sort_by_key(|c| (c.at, c.id));
            let comments: Vec<Comment> = records(
                tx,
                "SELECT c.json::text FROM comments c JOIN visits v ON v.id = c.visit
                 WHERE v.agent = $1 AND v.day = $2 ORDER BY c.id COLLATE \"C\"",
                &[&a, &date],
            )?;
            let ids: BTreeSet<CustomerId> = visits
                .iter()
                .map(|v| v.customer)
                .chain(contacts.iter().map(|c| c.customer))
                .collect();
            let list: Vec<String> = ids.iter().map(CustomerId::to_string).collect();
            let names: HashMap<String, String> = tx
                .query(
                    "SELECT id, name FROM customers WHERE id = ANY($1::text[])",
                    &[&list],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let customer_names = ids
                .iter()
                .filter_map(|id| names.get(&id.to_string()).map(|n| (*id, n.clone())))
                .collect();
            Ok(AgentDayRecords {
                day,
                visits,
                contacts,
                comments,
                customer_names,
            })
        })
    }

    fn visits_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Visit>> {
        // Joined with the list (not `= ANY`): an agent named twice counts twice, as on SQLite.
        let list: Vec<&str> = agents.iter().map(UserId::as_str).collect();
        let mut out: Vec<Visit> = self.db.write(|tx| {
            records(
                tx,
                "SELECT v.json::text FROM unnest($1::text[]) AS a(agent)
                 JOIN visits v ON v.agent = a.agent WHERE v.day BETWEEN $2 AND $3",
                &[&list, &from, &to],
            )
        })?;
        out.sort_by_key(|v| (v.start, v.id));
        Ok(out)
    }

    fn contacts_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Contact>> {
        let list: Vec<&str> = agents.iter().map(UserId::as_str).collect();
        let mut out: Vec<Contact> = self.db.write(|tx| {
            records(
                tx,
                "SELECT c.json::text FROM unnest($1::text[]) AS a(agent)
                 JOIN contacts c ON c.agent = a.agent WHERE c.day BETWEEN $2 AND $3",
                &[&list, &from, &to],
            )
        })?;
        out.sort_by_key(|c| (c.at, c.id));
        Ok(out)
    }
}
