//! The reads behind the managers' views on the embedded store: a team's working set, its
//! raised problems, one agent's day, the visits and contacts of a period for the exports, and
//! the spot checks' marks (the one thing here the dashboard writes: a server table, not a
//! document, since it is the managers' own bookkeeping and no phone holds it).
//!
//! Everything is read from client-core's index tables (each row keeps its record as JSON), so
//! the numbers are computed by client-core's playbook functions over the same values a phone
//! holds; nothing here counts.

use chrono::NaiveDate;
use client_core::index::{query_json, query_one};
use client_core::model::{Comment, Contact, Problem, Role, Visit};
use client_core::{CustomerId, RaisedProblem, UserId, VisitId};
use rusqlite::params;

use super::sqlite::now;
use super::sqlite::SqliteStore;
use super::{Accounts, AgentDayRecords, SpotCheckMark, TeamData};
use crate::accounts::TeamId;
use crate::error::{Error, Result};

impl SqliteStore {
    pub(super) fn write_spot_check(
        &self,
        agent: &UserId,
        week_from: NaiveDate,
        by: &UserId,
        note: &str,
    ) -> Result<SpotCheckMark> {
        let at = now();
        self.db().execute(
            "INSERT INTO spot_checks (agent, week_from, checked_by, note, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (agent, week_from) DO UPDATE SET checked_by = ?3, note = ?4, at = ?5",
            params![agent.as_str(), week_from.to_string(), by.as_str(), note, at],
        )?;
        Ok(SpotCheckMark {
            agent: agent.clone(),
            week_from,
            checked_by: by.clone(),
            note: note.to_string(),
            at,
        })
    }

    pub(super) fn read_spot_checks(
        &self,
        agents: &[UserId],
        week_from: NaiveDate,
    ) -> Result<Vec<SpotCheckMark>> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT agent, checked_by, note, at FROM spot_checks WHERE week_from = ?1 ORDER BY agent",
        )?;
        let rows = stmt.query_map([week_from.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (agent, by, note, at) = row?;
            let agent: UserId = agent.parse()?;
            if agents.contains(&agent) {
                out.push(SpotCheckMark {
                    agent,
                    week_from,
                    checked_by: by.parse()?,
                    note,
                    at,
                });
            }
        }
        Ok(out)
    }

    pub(super) fn read_team_data(
        &self,
        team: &TeamId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<TeamData> {
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

    pub(super) fn read_team_problems(&self, team: &TeamId) -> Result<Vec<RaisedProblem>> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT p.agent, p.date, p.json FROM problems p JOIN users u ON u.id = p.agent
             WHERE u.team = ?1 ORDER BY p.date, p.agent, p.id",
        )?;
        let rows = stmt.query_map([team.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (agent, date, json) = row?;
            let problem: Problem = serde_json::from_str(&json)
                .map_err(|e| Error::Internal(format!("problem row: {e}")))?;
            out.push(RaisedProblem {
                agent: agent.parse()?,
                date: date
                    .parse()
                    .map_err(|e| Error::Internal(format!("problem date {date:?}: {e}")))?,
                problem,
            });
        }
        Ok(out)
    }

    pub(super) fn read_visit(&self, id: VisitId) -> Result<Option<Visit>> {
        query_one(
            &self.db(),
            "SELECT json FROM visits WHERE id = ?1",
            [id.to_string()],
        )
        .map_err(Error::from)
    }

    pub(super) fn read_agent_day(
        &self,
        agent: &UserId,
        date: NaiveDate,
    ) -> Result<AgentDayRecords> {
        let db = self.db();
        let (a, d) = (agent.as_str(), date.to_string());
        let day = query_one(
            &db,
            "SELECT json FROM days WHERE agent = ?1 AND date = ?2",
            [a, &d],
        )?;
        let mut visits: Vec<Visit> = query_json(
            &db,
            "SELECT json FROM visits WHERE agent = ?1 AND day = ?2",
            [a, &d],
        )?;
        visits.sort_by_key(|v| (v.start, v.id));
        let mut contacts: Vec<Contact> = query_json(
            &db,
            "SELECT json FROM contacts WHERE agent = ?1 AND day = ?2",
            [a, &d],
        )?;
        contacts.sort_by_key(|c| (c.at, c.id));
        let comments: Vec<Comment> = query_json(
            &db,
            "SELECT c.json FROM comments c JOIN visits v ON v.id = c.visit
             WHERE v.agent = ?1 AND v.day = ?2 ORDER BY c.id",
            [a, &d],
        )?;
        let mut customer_names = vec![];
        let ids: std::collections::BTreeSet<CustomerId> = visits
            .iter()
            .map(|v| v.customer)
            .chain(contacts.iter().map(|c| c.customer))
            .collect();
        for id in ids {
            let name: Option<String> = db
                .query_row(
                    "SELECT name FROM customers WHERE id = ?1",
                    [id.to_string()],
                    |r| r.get(0),
                )
                .ok();
            if let Some(n) = name {
                customer_names.push((id, n));
            }
        }
        Ok(AgentDayRecords {
            day,
            visits,
            contacts,
            comments,
            customer_names,
        })
    }

    pub(super) fn read_visits_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Visit>> {
        let db = self.db();
        let mut out: Vec<Visit> = vec![];
        for a in agents {
            out.extend(query_json::<Visit>(
                &db,
                "SELECT json FROM visits WHERE agent = ?1 AND day BETWEEN ?2 AND ?3",
                params![a.as_str(), from.to_string(), to.to_string()],
            )?);
        }
        out.sort_by_key(|v| (v.start, v.id));
        Ok(out)
    }

    pub(super) fn read_contacts_between(
        &self,
        agents: &[UserId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Contact>> {
        let db = self.db();
        let mut out: Vec<Contact> = vec![];
        for a in agents {
            out.extend(query_json::<Contact>(
                &db,
                "SELECT json FROM contacts WHERE agent = ?1 AND day BETWEEN ?2 AND ?3",
                params![a.as_str(), from.to_string(), to.to_string()],
            )?);
        }
        out.sort_by_key(|c| (c.at, c.id));
        Ok(out)
    }

    pub(super) fn read_change_seq(&self) -> Result<i64> {
        Ok(self
            .db()
            .query_row("SELECT coalesce(max(rowid), 0) FROM change_log", [], |r| {
                r.get(0)
            })?)
    }
}
