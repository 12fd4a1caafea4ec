//! CSV exports for managers: the team's visits and contacts of a period, and the renewal
//! pipeline of a day — what a manager takes into a spreadsheet or hands to head office.
//!
//! Same access as the views (a manager, their own team). Written with the `csv` crate, UTF-8
//! with a byte-order mark (so Excel on a Chinese Windows opens it as UTF-8 rather than GBK;
//! `?bom=false` leaves it out), one header row; money in minor units as in the JSON API and
//! in yuan beside it, names beside ids, moments in RFC 3339.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use client_core::model::Role;
use client_core::UserId;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::Manager;
use super::team::DateQuery;
use super::{blocking, AppError, AppState};
use crate::accounts::TeamId;
use crate::error::Error;
use crate::store::ServerStore;
use crate::views::{self, TeamContext};

/// The export routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(visits_csv))
        .routes(routes!(contacts_csv))
        .routes(routes!(pipeline_csv))
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`: the first of the month to today when omitted.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// The first day.
    from: Option<String>,
    /// The last day.
    to: Option<String>,
}

fn parse_day(what: &'static str, s: &str) -> Result<NaiveDate, Error> {
    client_core::layout::strict_date(s).ok_or_else(|| Error::Argument {
        what,
        value: s.to_string(),
        expected: "YYYY-MM-DD, a year from 1900 to 2199",
    })
}

impl RangeQuery {
    fn range(&self) -> Result<(NaiveDate, NaiveDate), Error> {
        let today = chrono::Local::now().date_naive();
        let to = match &self.to {
            Some(t) => parse_day("to", t)?,
            None => today,
        };
        let from = match &self.from {
            Some(f) => parse_day("from", f)?,
            None => to.with_day(1).unwrap_or(to),
        };
        if from > to {
            return Err(Error::invalid("from", "after `to`"));
        }
        Ok((from, to))
    }
}

fn csv_response(name: &str, body: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `?bom=false`: no byte-order mark at the start of the file.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvQuery {
    /// Whether the file starts with the UTF-8 byte-order mark that Excel needs to read it as
    /// UTF-8 (default `true`).
    bom: Option<bool>,
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// Minor units as yuan with two decimals (`680000` → `6800.00`).
fn yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn write_rows(bom: bool, header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>, Error> {
    let start = if bom { BOM.to_vec() } else { vec![] };
    let mut w = csv::Writer::from_writer(start);
    let err = |e: csv::Error| Error::Internal(format!("csv: {e}"));
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| Error::Internal(format!("csv: {e}")))
}

/// The team's agents, and the names of its members and customers by id.
struct Names {
    agents: Vec<UserId>,
    members: HashMap<String, String>,
    customers: HashMap<String, String>,
}

impl Names {
    fn of(s: &dyn ServerStore, team: &TeamId) -> Result<Names, Error> {
        let members = s.members(Some(team))?;
        let today = chrono::Local::now().date_naive();
        let data = s.team_data(team, today, today)?;
        Ok(Names {
            agents: members
                .iter()
                .filter(|m| m.member.role == Role::Agent)
                .map(|m| m.member.user.clone())
                .collect(),
            members: members
                .iter()
                .map(|m| (m.member.user.to_string(), m.member.name.clone()))
                .collect(),
            customers: data
                .working_set
                .customers
                .iter()
                .map(|c| (c.id.to_string(), c.name.clone()))
                .collect(),
        })
    }

    fn member(&self, id: &str) -> String {
        self.members.get(id).cloned().unwrap_or_default()
    }

    fn customer(&self, id: &str) -> String {
        self.customers.get(id).cloned().unwrap_or_default()
    }
}

/// The team's visits of a period, one row per visit.
#[utoipa::path(get, path = "/exports/visits.csv", tag = "exports", params(RangeQuery, CsvQuery),
    responses((status = 200, description = "`id, agent, agent_name, customer, customer_name, kind, purposes, outcome, amount_cents, amount_yuan, start, end, number, notes`", content_type = "text/csv", body = String),
        (status = 403, description = "Not a manager")))]
async fn visits_csv(
    State(state): State<AppState>,
    Manager(me): Manager,
    Query(q): Query<RangeQuery>,
    Query(c): Query<CsvQuery>,
) -> Result<Response, AppError> {
    let (from, to) = q.range()?;
    let team = me.team.clone();
    let body = blocking(&state, move |s| {
        let names = Names::of(s, &team)?;
        let rows = s
            .visits_between(&names.agents, from, to)?
            .into_iter()
            .map(|v| {
                let amount = v.outcome.as_ref().and_then(|o| o.amount_cents);
                vec![
                    v.id.to_string(),
                    v.agent.to_string(),
                    names.member(v.agent.as_str()),
                    v.customer.to_string(),
                    names.customer(&v.customer.to_string()),
                    v.kind,
                    v.purposes.join(";"),
                    v.outcome
                        .as_ref()
                        .map(|o| o.code.clone())
                        .unwrap_or_default(),
                    amount.map(|a| a.to_string()).unwrap_or_default(),
                    amount.map(yuan).unwrap_or_default(),
                    v.start.to_rfc3339(),
                    v.end.to_rfc3339(),
                    v.number.to_string(),
                    v.notes,
                ]
            })
            .collect();
        write_rows(
            c.bom.unwrap_or(true),
            &[
                "id",
                "agent",
                "agent_name",
                "customer",
                "customer_name",
                "kind",
                "purposes",
                "outcome",
                "amount_cents",
                "amount_yuan",
                "start",
                "end",
                "number",
                "notes",
            ],
            rows,
        )
    })
    .await?;
    Ok(csv_response(&format!("visits-{from}-{to}.csv"), body))
}

/// The team's calls and SMS of a period, one row per contact.
#[utoipa::path(get, path = "/exports/contacts.csv", tag = "exports", params(RangeQuery, CsvQuery),
    responses((status = 200, description = "`id, agent, agent_name, customer, customer_name, kind, at, purpose, outcome, notes`", content_type = "text/csv", body = String),
        (status = 403, description = "Not a manager")))]
async fn contacts_csv(
    State(state): State<AppState>,
    Manager(me): Manager,
    Query(q): Query<RangeQuery>,
    Query(opts): Query<CsvQuery>,
) -> Result<Response, AppError> {
    let (from, to) = q.range()?;
    let team = me.team.clone();
    let body = blocking(&state, move |s| {
        let names = Names::of(s, &team)?;
        let rows = s
            .contacts_between(&names.agents, from, to)?
            .into_iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.agent.to_string(),
                    names.member(c.agent.as_str()),
                    c.customer.to_string(),
                    names.customer(&c.customer.to_string()),
                    c.kind.code().to_string(),
                    c.at.to_rfc3339(),
                    c.purpose.unwrap_or_default(),
                    c.outcome.unwrap_or_default(),
                    c.notes,
                ]
            })
            .collect();
        write_rows(
            opts.bom.unwrap_or(true),
            &[
                "id",
                "agent",
                "agent_name",
                "customer",
                "customer_name",
                "kind",
                "at",
                "purpose",
                "outcome",
                "notes",
            ],
            rows,
        )
    })
    .await?;
    Ok(csv_response(&format!("contacts-{from}-{to}.csv"), body))
}

/// The renewal pipeline of a day: one row per policy in a renewal month, then the policies
/// of the difficult, exited, dead and orphan lists (`section` says which).
#[utoipa::path(get, path = "/exports/pipeline.csv", tag = "exports", params(DateQuery, CsvQuery),
    responses((status = 200, description = "`section, policy, number, customer, customer_name, agent, agent_name, due_date, premium_cents, premium_yuan, status, phase, collected, paid_on`", content_type = "text/csv", body = String),
        (status = 403, description = "Not a manager")))]
async fn pipeline_csv(
    State(state): State<AppState>,
    Manager(me): Manager,
    Query(q): Query<DateQuery>,
    Query(opts): Query<CsvQuery>,
) -> Result<Response, AppError> {
    let date = q.date()?;
    let team = me.team.clone();
    let body = blocking(&state, move |s| {
        let data = s.team_data(&team, date, date)?;
        let ctx = TeamContext::new(&data)?;
        let view = views::pipeline(&ctx, date);
        let sections = view
            .months
            .iter()
            .map(|m| (&m.phase, &m.policies))
            .chain(view.lists.iter().map(|l| (&l.status, &l.policies)));
        let mut rows = vec![];
        for (section, policies) in sections {
            for p in policies {
                rows.push(vec![
                    section.clone(),
                    p.policy.clone(),
                    p.number.clone(),
                    p.customer.clone(),
                    p.customer_name.clone(),
                    p.agent.clone().unwrap_or_default(),
                    p.agent_name.clone().unwrap_or_default(),
                    p.due_date.to_string(),
                    p.premium_cents.to_string(),
                    yuan(p.premium_cents),
                    p.status.clone(),
                    p.phase.clone(),
                    p.collected.to_string(),
                    p.paid_on.map(|d| d.to_string()).unwrap_or_default(),
                ]);
            }
        }
        write_rows(
            opts.bom.unwrap_or(true),
            &[
                "section",
                "policy",
                "number",
                "customer",
                "customer_name",
                "agent",
                "agent_name",
                "due_date",
                "premium_cents",
                "premium_yuan",
                "status",
                "phase",
                "collected",
                "paid_on",
            ],
            rows,
        )
    })
    .await?;
    Ok(csv_response(&format!("pipeline-{date}.csv"), body))
}
