//! The managers' views (domain: "Daily standards" to "Standards for a manager"), as plain values
//! computed from a team's records with client-core's playbook functions.
//!
//! Every number a view shows comes from `client_core::playbook` (`today`, `week_progress`,
//! `month_progress`, `team_ratios`, the renewal `Calendar`, the targets' tiers): the dashboard
//! and the agents' phones count the same way, and a team's playbook file changes both without
//! code changes. What is added here is arrangement (rows per agent, the weeks of a trend, the
//! pipeline's months and lists, a timeline), freshness ("not yet synced" is not "not done"),
//! and the week's spot-check draw. No storage and no HTTP: the store hands over a
//! [`TeamData`], the handlers serialise what comes back.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Local, Months, NaiveDate};
use client_core::model::{Comment, Contact, Customer, Day, Policy, PolicyStatus, Role, Visit};
use client_core::playbook::{self, Calendar, Language, Metric, Phase, Playbook, Prepared};
use client_core::{CustomerId, RaisedProblem, UserId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::accounts::Member;
use crate::error::Result;
use crate::store::{AgentDayRecords, TeamData, TeamMember};

/// How fresh the server's copy of an agent's records is for the day asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// A device of theirs synced after that day ended: the day's numbers are final.
    Synced,
    /// Their last sync was during that day (at `last_sync`): what they did before it is
    /// counted, what they did after it is not known yet, so a count below target is "unknown",
    /// not "not done".
    Partial,
    /// Their last sync was before that day: what they did since is not known yet.
    Behind,
    /// None of their devices ever synced.
    Never,
}

/// Freshness of data last synced at `last_sync` (RFC 3339) for the day `date` (local time).
pub fn freshness(last_sync: Option<&str>, date: NaiveDate) -> Freshness {
    match last_sync.and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
        None => Freshness::Never,
        Some(t) => {
            let synced_on = t.with_timezone(&Local).date_naive();
            if synced_on > date {
                Freshness::Synced
            } else if synced_on == date {
                Freshness::Partial
            } else {
                Freshness::Behind
            }
        }
    }
}

/// The playbook in force, as screens name it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlaybookName {
    /// Its short name (`insurance`, `car-insurance`, …).
    pub name: String,
    /// What screens call it.
    pub title: String,
}

/// The team's playbook, parsed, with the team's agents.
pub struct TeamContext<'a> {
    /// The data.
    pub data: &'a TeamData,
    /// The playbook in force.
    pub playbook: Playbook,
    /// The agents, by id.
    pub agents: Vec<&'a TeamMember>,
    /// The language of the labels (the playbook's, and the few the views add).
    pub language: Language,
}

impl<'a> TeamContext<'a> {
    /// Parses the playbook of `data`.
    pub fn new(data: &'a TeamData) -> Result<Self> {
        let playbook =
            Playbook::from_toml_str(&format!("playbook of {}", data.team), &data.playbook.toml)?;
        // A deactivated agent is in no list (their records stay, in the pipeline and history).
        let agents = data
            .members
            .iter()
            .filter(|m| m.member.role == Role::Agent && m.active)
            .collect();
        Ok(TeamContext {
            data,
            playbook,
            agents,
            language: Language::default(),
        })
    }

    /// The same context with its labels in `lang`.
    pub fn in_language(mut self, lang: Language) -> Self {
        self.playbook = self.playbook.in_language(lang);
        self.language = lang;
        self
    }

    fn name(&self) -> PlaybookName {
        PlaybookName {
            name: self.playbook.name.clone(),
            title: self.playbook.title.clone(),
        }
    }

    /// The ids of the team's agents.
    pub fn agent_ids(&self) -> Vec<UserId> {
        self.agents.iter().map(|m| m.member.user.clone()).collect()
    }

    fn member(&self, user: &UserId) -> Option<&'a TeamMember> {
        self.data.members.iter().find(|m| &m.member.user == user)
    }

    fn name_of(&self, user: &UserId) -> String {
        self.member(user)
            .map(|m| m.member.name.clone())
            .unwrap_or_else(|| user.to_string())
    }
}

// ----- Today ---------------------------------------------------------------------------

/// Today: every agent against the daily standard, furthest behind first, with the team's
/// totals.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TodayView {
    /// The day.
    pub date: NaiveDate,
    /// The playbook in force.
    pub playbook: PlaybookName,
    /// The playbook's evening deadline for the work log and the evening report (`HH:MM`), if
    /// it sets one.
    pub evening_deadline: Option<String>,
    /// Whether a missing work log or evening report is still pending rather than missed: the
    /// day is today and the deadline (the end of the day when the playbook sets none) has not
    /// passed, or the day is still ahead.
    pub evening_pending: bool,
    /// One row per agent: first those whose data is not synced for the day (never synced,
    /// then the oldest last sync first), then the synced ones from the least done.
    pub agents: Vec<TodayRow>,
    /// The team's totals.
    pub total: TodayTotal,
}

/// One agent's day against the daily standard, as `GET /v1/team/today` answers it.
#[derive(Clone, Debug, Serialize)]
pub struct AgentToday {
    /// The agent.
    pub agent: UserId,
    /// Their name.
    pub name: String,
    /// When one of their devices last completed a sync: the numbers below are what the server
    /// had then ("not yet synced" is not "not done").
    pub last_sync: Option<String>,
    /// The day against the daily standard, computed with client-core's playbook.
    pub today: playbook::TodayStatus,
}

/// Every active agent of the team against the daily standard on `date`, in the team's order:
/// the one computation of Today that the Today view and `GET /v1/team/today` share. The data
/// should reach back to [`day_data_from`]`(date)`.
pub fn team_today(ctx: &TeamContext<'_>, date: NaiveDate) -> Vec<AgentToday> {
    let prepared = Prepared::new(&ctx.playbook, &ctx.data.working_set);
    let statuses = prepared.today(&ctx.agent_ids(), date);
    ctx.agents
        .iter()
        .zip(statuses)
        .map(|(m, today)| AgentToday {
            agent: m.member.user.clone(),
            name: m.member.name.clone(),
            last_sync: m.last_sync.clone(),
            today,
        })
        .collect()
}

/// One agent's day.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TodayRow {
    /// The agent.
    #[schema(value_type = String)]
    pub agent: UserId,
    /// Their name.
    pub name: String,
    /// When one of their devices last completed a sync (RFC 3339).
    pub last_sync: Option<String>,
    /// Whether the numbers can be trusted for the day.
    pub freshness: Freshness,
    /// How much of the day's standard is done, in percent: the mean of effective visits,
    /// calls, meetings and results against their targets (each capped at 100), with the log
    /// and the report when the playbook asks for them.
    pub done_pct: f64,
    /// client-core's `TodayStatus`: effective visits against the target, log, report, 311,
    /// 10-3-1, the seven things, the day targets.
    #[schema(value_type = Object)]
    pub today: playbook::TodayStatus,
}

/// A count summed over the team, against the sum of the targets.
#[derive(Clone, Copy, Debug, Default, Serialize, ToSchema)]
pub struct CountTotal {
    /// Done by the team.
    pub actual: u64,
    /// Asked of the team.
    pub target: u64,
}

/// The team's day in totals.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct TodayTotal {
    /// Agents.
    pub agents: usize,
    /// Agents whose data is synced for the day.
    pub synced: usize,
    /// Effective visits.
    pub effective_visits: CountTotal,
    /// Work logs written.
    pub work_logs: usize,
    /// Evening reports submitted.
    pub evening_reports: usize,
    /// Agents who met 311.
    pub met_311: usize,
    /// Calls.
    pub calls: CountTotal,
    /// Meetings.
    pub meetings: CountTotal,
    /// Results.
    pub results: CountTotal,
    /// Agents who met 10-3-1.
    pub met_10_3_1: usize,
    /// The mean of the agents' `done_pct`.
    pub done_pct: f64,
}

/// How much of the daily standard a day's status shows done, in percent.
pub fn done_pct(pb: &Playbook, t: &playbook::TodayStatus) -> f64 {
    let mut parts: Vec<f64> = [&t.effective_visits, &t.calls, &t.meetings, &t.results]
        .into_iter()
        .filter(|c| c.target > 0)
        .map(|c| (f64::from(c.actual) / f64::from(c.target)).min(1.0))
        .collect();
    if pb.daily.work_log {
        parts.push(if t.work_log { 1.0 } else { 0.0 });
    }
    if pb.daily.evening_report {
        parts.push(if t.evening_report { 1.0 } else { 0.0 });
    }
    if parts.is_empty() {
        return 100.0;
    }
    parts.iter().sum::<f64>() * 100.0 / parts.len() as f64
}

/// Whether a missing log or report of `date` is still pending at `now` (local time).
pub fn evening_pending(pb: &Playbook, date: NaiveDate, now: chrono::NaiveDateTime) -> bool {
    match date.cmp(&now.date()) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => pb.daily.evening_deadline.is_none_or(|d| now.time() < d),
    }
}

/// The Today view at `now` (local time: it decides whether the evening deadline has passed).
pub fn today(ctx: &TeamContext<'_>, date: NaiveDate, now: chrono::NaiveDateTime) -> TodayView {
    let pb = &ctx.playbook;
    let mut agents: Vec<TodayRow> = team_today(ctx, date)
        .into_iter()
        .map(|a| TodayRow {
            freshness: freshness(a.last_sync.as_deref(), date),
            done_pct: done_pct(pb, &a.today),
            agent: a.agent,
            name: a.name,
            last_sync: a.last_sync,
            today: a.today,
        })
        .collect();
    let rank = |r: &TodayRow| match r.freshness {
        Freshness::Never => 0,
        Freshness::Behind => 1,
        Freshness::Partial => 2,
        Freshness::Synced => 3,
    };
    agents.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.last_sync.cmp(&b.last_sync))
            .then_with(|| a.done_pct.total_cmp(&b.done_pct))
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut total = TodayTotal {
        agents: agents.len(),
        ..TodayTotal::default()
    };
    let add = |t: &mut CountTotal, c: &playbook::DailyCount| {
        t.actual += u64::from(c.actual);
        t.target += u64::from(c.target);
    };
    for r in &agents {
        let t = &r.today;
        // Synced on the day (partial) counts: the agent's phone is in touch.
        total.synced += usize::from(matches!(
            r.freshness,
            Freshness::Synced | Freshness::Partial
        ));
        add(&mut total.effective_visits, &t.effective_visits);
        add(&mut total.calls, &t.calls);
        add(&mut total.meetings, &t.meetings);
        add(&mut total.results, &t.results);
        total.work_logs += usize::from(t.work_log);
        total.evening_reports += usize::from(t.evening_report);
        total.met_311 += usize::from(t.met_311);
        total.met_10_3_1 += usize::from(t.met_10_3_1);
        total.done_pct += r.done_pct;
    }
    if !agents.is_empty() {
        total.done_pct /= agents.len() as f64;
    }
    TodayView {
        date,
        playbook: ctx.name(),
        evening_deadline: pb
            .daily
            .evening_deadline
            .map(|d| d.format("%H:%M").to_string()),
        evening_pending: evening_pending(pb, date, now),
        agents,
        total,
    }
}

// ----- Week and month -------------------------------------------------------------------

/// Which period a progress view covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// The week (work cycle) of the month.
    Week,
    /// The month so far.
    Month,
}

/// Week or month: each agent against the playbook's targets, the team ratios and their trend.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodView {
    /// Week or month.
    pub period: PeriodKind,
    /// The day asked about.
    pub date: NaiveDate,
    /// The week (work cycle) of the month.
    pub week: u32,
    /// The playbook in force.
    pub playbook: PlaybookName,
    /// The targets of the period, in the playbook's order: the columns of the agents ×
    /// targets grid (each agent's `progress.targets` lists the same targets in this order).
    pub columns: Vec<GridColumn>,
    /// One row per agent.
    pub agents: Vec<PeriodRow>,
    /// client-core's `TeamRatios`: for the week view the week (cycle) of `date`, for the month
    /// view the month of `date` (month targets, the daily standard on every working day of the
    /// month, …).
    #[schema(value_type = Object)]
    pub ratios: playbook::TeamRatios,
    /// The team ratios at the end of each week (cycle) of this month and the previous one (week
    /// view), or of the previous month and this one so far (month view).
    pub trend: Vec<TrendPoint>,
}

/// What a target's number is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A count (visits, calls, policies…).
    Count,
    /// A percentage (a share of customers, a collection rate).
    Percent,
}

impl Unit {
    /// The unit of a metric: the `…_pct` metrics are percentages.
    pub fn of(metric: Metric) -> Unit {
        if metric.code().ends_with("_pct") {
            Unit::Percent
        } else {
            Unit::Count
        }
    }
}

/// One target of a period: a column of the grid.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GridColumn {
    /// The metric's code.
    pub metric: String,
    /// What screens call the target, in the asked language.
    pub label: String,
    /// Count or percent.
    pub unit: Unit,
    /// The number to reach.
    pub target: f64,
}

/// One agent's progress.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodRow {
    /// The agent.
    #[schema(value_type = String)]
    pub agent: UserId,
    /// Their name.
    pub name: String,
    /// Their last sync.
    pub last_sync: Option<String>,
    /// Freshness for the day asked about.
    pub freshness: Freshness,
    /// client-core's `PeriodProgress`: each target with actual, percent, met and tier.
    #[schema(value_type = Object)]
    pub progress: playbook::PeriodProgress,
}

/// The team ratios of one week (cycle), or of one month in the month view.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrendPoint {
    /// Its first day.
    pub from: NaiveDate,
    /// Its last day counted (the day asked about, for the current week).
    pub to: NaiveDate,
    /// The week (cycle) of its month.
    pub week: u32,
    /// Each ratio's share of agents.
    pub ratios: Vec<TrendRatio>,
}

/// One ratio in a trend point.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrendRatio {
    /// The measure's code.
    pub measure: String,
    /// What screens call it.
    pub label: String,
    /// The share of agents who count.
    pub actual_pct: f64,
    /// The share to reach.
    pub min_pct: f64,
}

/// How many months the month view's trend shows, this one included: the previous month and
/// this one, so that the month view reads the same records as the week view (a third month
/// would load a quarter more records for every request of a large team).
pub const MONTH_TREND_MONTHS: u32 = 2;

/// The first day of the data a period view needs: the trend reaches back to the previous
/// month, whose "this month" measures look one month further.
pub fn period_data_from(date: NaiveDate) -> NaiveDate {
    let first = date.with_day(1).unwrap_or(date);
    first
        .checked_sub_months(Months::new(MONTH_TREND_MONTHS))
        .unwrap_or(first)
}

/// The first day of the data a day view needs (as on the device: follow-ups and week cycles
/// reach back into the previous month).
pub fn day_data_from(date: NaiveDate) -> NaiveDate {
    let first = date.with_day(1).unwrap_or(date);
    first.checked_sub_months(Months::new(1)).unwrap_or(first)
}

/// `f` of each input, in order, spread over the machine's cores (scoped threads).
fn side_by_side<I: Send, O: Send>(inputs: Vec<I>, f: &(dyn Fn(I) -> O + Sync)) -> Vec<O> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len().max(1));
    if threads <= 1 {
        return inputs.into_iter().map(f).collect();
    }
    let mut chunks: Vec<Vec<(usize, I)>> = (0..threads).map(|_| vec![]).collect();
    for (i, input) in inputs.into_iter().enumerate() {
        chunks[i % threads].push((i, input));
    }
    let mut out: Vec<(usize, O)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, input)| (i, f(input)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, o)| o).collect()
}

/// The week or month view.
pub fn period(ctx: &TeamContext<'_>, kind: PeriodKind, date: NaiveDate) -> PeriodView {
    let pb = &ctx.playbook;
    let prepared = Prepared::new(pb, &ctx.data.working_set);
    let ids = ctx.agent_ids();
    let progress = side_by_side(ids.iter().collect(), &|agent| match kind {
        PeriodKind::Week => prepared.week_progress(agent, date),
        PeriodKind::Month => prepared.month_progress(agent, date),
    });
    let columns = progress
        .first()
        .map(|p| {
            p.targets
                .iter()
                .map(|t| GridColumn {
                    metric: t.metric.code().to_string(),
                    label: t.label.clone(),
                    unit: Unit::of(t.metric),
                    target: t.target,
                })
                .collect()
        })
        .unwrap_or_default();
    let agents = ctx
        .agents
        .iter()
        .zip(progress)
        .map(|(m, progress)| PeriodRow {
            agent: m.member.user.clone(),
            name: m.member.name.clone(),
            last_sync: m.last_sync.clone(),
            freshness: freshness(m.last_sync.as_deref(), date),
            progress,
        })
        .collect();
    let cycle = pb.schedule.cycle;
    // The points of the trend: for the week view each week (cycle) from the first of the
    // previous month to `date`; for the month view each month of the last
    // MONTH_TREND_MONTHS, the current one up to `date`.
    let mut weeks = vec![];
    match kind {
        PeriodKind::Week => {
            let mut day = date
                .with_day(1)
                .and_then(|d| d.checked_sub_months(Months::new(1)))
                .unwrap_or(date);
            while day <= date {
                let (from, last) = cycle.bounds(day);
                weeks.push((from, last.min(date)));
                day = last.succ_opt().unwrap_or(NaiveDate::MAX);
            }
        }
        PeriodKind::Month => {
            let first = date.with_day(1).unwrap_or(date);
            for back in (0..MONTH_TREND_MONTHS).rev() {
                let Some(from) = first.checked_sub_months(Months::new(back)) else {
                    continue;
                };
                let last = from
                    .checked_add_months(Months::new(1))
                    .and_then(|d| d.pred_opt())
                    .unwrap_or(from);
                weeks.push((from, last.min(date)));
            }
        }
    }
    // Each point's team ratios are independent of the others': computed side by side on the
    // machine's cores (they are most of this view's time for a large team).
    let ratios_of = |to: NaiveDate| match kind {
        PeriodKind::Week => prepared.team_ratios(to, &ids),
        PeriodKind::Month => prepared.team_month_ratios(to, &ids),
    };
    let mut all = side_by_side(
        weeks.iter().map(|(_, to)| *to).chain([date]).collect(),
        &ratios_of,
    );
    let ratios = all.pop().unwrap_or_else(|| ratios_of(date));
    let trend = weeks
        .iter()
        .zip(all)
        .map(|((from, to), r)| TrendPoint {
            from: *from,
            to: *to,
            week: r.week,
            ratios: r
                .ratios
                .iter()
                .map(|x| TrendRatio {
                    measure: x.measure.code().to_string(),
                    label: x.label.clone(),
                    actual_pct: x.actual_pct,
                    min_pct: x.min_pct,
                })
                .collect(),
        })
        .collect();
    PeriodView {
        period: kind,
        date,
        week: cycle.number(date),
        playbook: ctx.name(),
        columns,
        agents,
        ratios,
        trend,
    }
}

// ----- Renewal pipeline -----------------------------------------------------------------

/// The renewal pipeline: the policies of each renewal month, collected or not, against the
/// week's collection-rate target, and the lists of policies that need a manager.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PipelineView {
    /// The day asked about.
    pub date: NaiveDate,
    /// The week (cycle) of the month.
    pub week: u32,
    /// The playbook in force.
    pub playbook: PlaybookName,
    /// `monthly` (months around the due date), `cadence` (steps before expiry) or `none`.
    pub calendar: String,
    /// One entry per renewal month in play (none without a renewal calendar).
    pub months: Vec<PipelineMonth>,
    /// Difficult, exited (surrender asked or lapsed), dead and orphan policies.
    pub lists: Vec<StatusList>,
}

/// The policies whose month plays one role on the day asked about.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PipelineMonth {
    /// The phase's code (`cross`, `receivable`, `due`, `transition`, `final`).
    pub phase: String,
    /// What the playbook calls it.
    pub label: String,
    /// How many policies.
    pub total: usize,
    /// How many are collected (paid in this cycle).
    pub collected: usize,
    /// `collected / total` in percent; null without policies (no rate: "n/a").
    pub rate_pct: Option<f64>,
    /// The playbook's collection-rate target for this month in this week, if it sets one.
    pub target: Option<RateTarget>,
    /// The policies.
    pub policies: Vec<PipelinePolicy>,
}

/// A collection-rate target with its tiers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RateTarget {
    /// What screens call it.
    pub label: String,
    /// The basic tier.
    pub target: f64,
    /// The good tier.
    pub good: Option<f64>,
    /// The excellent tier.
    pub excellent: Option<f64>,
    /// The tier reached (`basic`, `good`, `excellent`), if any.
    pub tier: Option<String>,
    /// Whether the basic tier is reached.
    pub met: bool,
    /// `met`, `missed` or `n/a` (no policy this month: neither met nor missed), decided by
    /// client-core's `Target::standing` as on the agent's phone.
    pub standing: String,
}

/// A policy as the pipeline and its CSV list it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PipelinePolicy {
    /// The policy's id.
    pub policy: String,
    /// The company's number.
    pub number: String,
    /// The customer's id.
    pub customer: String,
    /// The customer's name.
    pub customer_name: String,
    /// The agent the customer is assigned to.
    pub agent: Option<String>,
    /// That agent's name.
    pub agent_name: Option<String>,
    /// The due (or expiry) date.
    pub due_date: NaiveDate,
    /// Premium in minor units.
    pub premium_cents: i64,
    /// `normal`, `difficult`, `exited`, `dead`, `orphan`.
    pub status: String,
    /// Where the policy stands today (client-core's `Phase` code).
    pub phase: String,
    /// Whether this cycle's premium is received.
    pub collected: bool,
    /// When it was received.
    pub paid_on: Option<NaiveDate>,
}

/// The policies of one status.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StatusList {
    /// `difficult`, `exited`, `dead` or `orphan`.
    pub status: String,
    /// The policies.
    pub policies: Vec<PipelinePolicy>,
}

fn pipeline_policy(
    ctx: &TeamContext<'_>,
    customers: &HashMap<CustomerId, &Customer>,
    p: &Policy,
    date: NaiveDate,
) -> PipelinePolicy {
    let customer = customers.get(&p.customer);
    let phase = ctx.playbook.calendar.phase(p, date);
    PipelinePolicy {
        policy: p.id.to_string(),
        number: p.number.clone(),
        customer: p.customer.to_string(),
        customer_name: customer.map(|c| c.name.clone()).unwrap_or_default(),
        agent: customer.and_then(|c| c.agent.as_ref().map(|a| a.to_string())),
        agent_name: customer.and_then(|c| c.agent.as_ref().map(|a| ctx.name_of(a))),
        due_date: p.due_date,
        premium_cents: p.premium_cents,
        status: p.status.code().to_string(),
        phase: phase.code().to_string(),
        collected: matches!(phase, Phase::Received | Phase::Settled),
        paid_on: p.paid_on,
    }
}

/// The pipeline view.
pub fn pipeline(ctx: &TeamContext<'_>, date: NaiveDate) -> PipelineView {
    let pb = &ctx.playbook;
    let ws = &ctx.data.working_set;
    let week = pb.schedule.cycle.number(date);
    let customers: HashMap<CustomerId, &Customer> =
        ws.customers.iter().map(|c| (c.id, c)).collect();
    let mut policies: Vec<&Policy> = ws.policies.iter().collect();
    policies.sort_by(|a, b| (a.due_date, &a.number).cmp(&(b.due_date, &b.number)));
    let month = |phase: Phase, label: String, members: Vec<&Policy>| {
        let rows: Vec<PipelinePolicy> = members
            .iter()
            .map(|p| pipeline_policy(ctx, &customers, p, date))
            .collect();
        let collected = rows.iter().filter(|r| r.collected).count();
        // No policy this month: no rate (n/a), as on the agent's phone.
        let rate = playbook::rate_pct(rows.iter().map(|r| r.collected));
        let target = pb
            .targets
            .iter()
            .find(|t| {
                t.metric == Metric::CollectionRatePct
                    && t.phase == Some(phase)
                    && t.applies_in_week(week)
            })
            .map(|t| RateTarget {
                label: t.label(),
                target: t.target,
                good: t.good,
                excellent: t.excellent,
                tier: rate.and_then(|r| t.tier(r)).map(|x| {
                    serde_json::to_value(x)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                }),
                met: t.standing(rate).is_met(),
                standing: t.standing(rate).code().to_string(),
            });
        PipelineMonth {
            phase: phase.code().to_string(),
            label,
            total: rows.len(),
            collected,
            rate_pct: rate,
            target,
            policies: rows,
        }
    };
    let (calendar, months) = match &pb.calendar {
        Calendar::Monthly(m) => (
            "monthly",
            [
                Phase::Cross,
                Phase::Receivable,
                Phase::Due,
                Phase::Transition,
                Phase::Final,
            ]
            .into_iter()
            .map(|phase| {
                let members = policies
                    .iter()
                    .copied()
                    .filter(|p| m.month_role(p.due_date, date) == phase)
                    .collect();
                month(phase, m.text(phase).0, members)
            })
            .collect(),
        ),
        Calendar::Cadence(_) => {
            let members = policies
                .iter()
                .copied()
                .filter(|p| matches!(pb.calendar.phase(p, date), Phase::Due | Phase::Received))
                .collect();
            (
                "cadence",
                vec![month(
                    Phase::Due,
                    match ctx.language {
                        Language::Chinese => "续保窗口".into(),
                        Language::English => "renewal window".into(),
                    },
                    members,
                )],
            )
        }
        Calendar::None => ("none", vec![]),
    };
    let lists = [
        PolicyStatus::Difficult,
        PolicyStatus::Exited,
        PolicyStatus::Dead,
        PolicyStatus::Orphan,
    ]
    .into_iter()
    .map(|s| StatusList {
        status: s.code().to_string(),
        policies: policies
            .iter()
            .filter(|p| match s {
                // Exited is lapsed or surrender asked, as on the phone's lists.
                PolicyStatus::Exited => pb.is_exited(p, date),
                _ => p.status == s,
            })
            .map(|p| pipeline_policy(ctx, &customers, p, date))
            .collect(),
    })
    .collect();
    PipelineView {
        date,
        week,
        playbook: ctx.name(),
        calendar: calendar.to_string(),
        months,
        lists,
    }
}

// ----- Escalated problems -----------------------------------------------------------------

/// The problems of the team's evening reports.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProblemsView {
    /// Open problems first, then resolved ones; oldest first within each.
    pub problems: Vec<ProblemRow>,
}

/// One problem with its escalation chain.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProblemRow {
    /// Who raised it.
    #[schema(value_type = String)]
    pub agent: UserId,
    /// Their name.
    pub name: String,
    /// In which day's report.
    pub date: NaiveDate,
    /// client-core's `Problem`: text, customer, level, status, answers.
    #[schema(value_type = Object)]
    pub problem: client_core::model::Problem,
    /// The name of the customer the problem is about, if any.
    pub customer_name: Option<String>,
    /// The escalation chain, supervisor first.
    pub chain: Vec<ChainStep>,
    /// Whether the viewer may answer or escalate it (it waits at their level or below).
    pub can_act: bool,
}

/// One level of the escalation chain.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChainStep {
    /// The role's code.
    pub role: String,
    /// `passed` (escalated beyond), `waiting` (the problem is here), `resolved` (closed here)
    /// or `ahead`.
    pub state: String,
}

/// Whether `viewer` may answer or escalate a problem waiting at `level`.
pub fn may_act(viewer: &Member, level: Role) -> bool {
    viewer.role.is_manager() && viewer.role >= level
}

/// The problems view.
pub fn problems(
    ctx: &TeamContext<'_>,
    viewer: &Member,
    raised: Vec<RaisedProblem>,
) -> ProblemsView {
    let mut rows: Vec<ProblemRow> = raised
        .into_iter()
        .map(|r| {
            let level = r.problem.level;
            let open = r.problem.status == client_core::model::ProblemStatus::Open;
            let mut chain = vec![];
            let mut role = Some(Role::Supervisor);
            while let Some(x) = role {
                let state = if x < level {
                    "passed"
                } else if x == level {
                    if open {
                        "waiting"
                    } else {
                        "resolved"
                    }
                } else {
                    "ahead"
                };
                chain.push(ChainStep {
                    role: x.code().to_string(),
                    state: state.to_string(),
                });
                role = x.escalates_to();
            }
            let customer_name = r.problem.customer.and_then(|id| {
                ctx.data
                    .working_set
                    .customers
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.name.clone())
            });
            ProblemRow {
                customer_name,
                name: ctx.name_of(&r.agent),
                can_act: open && may_act(viewer, level),
                agent: r.agent,
                date: r.date,
                problem: r.problem,
                chain,
            }
        })
        .collect();
    rows.sort_by_key(|r| r.problem.status != client_core::model::ProblemStatus::Open);
    ProblemsView { problems: rows }
}

// ----- An agent's day -------------------------------------------------------------------------

/// An agent's day: log, report, and a timeline of visits and contacts with notes and comments.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AgentDayView {
    /// The agent.
    #[schema(value_type = String)]
    pub agent: UserId,
    /// Their name.
    pub name: String,
    /// The day.
    pub date: NaiveDate,
    /// Their last sync.
    pub last_sync: Option<String>,
    /// Freshness for the day.
    pub freshness: Freshness,
    /// client-core's `Day` (work log, evening report with problems), once synced.
    #[schema(value_type = Option<Object>)]
    pub day: Option<Day>,
    /// Visits, calls and SMS by time.
    pub timeline: Vec<TimelineEntry>,
}

/// One visit, call or SMS.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// When (RFC 3339 with the device's offset).
    pub at: String,
    /// When it ended, for a visit.
    pub end: Option<String>,
    /// `visit`, `call` or `sms`.
    pub kind: String,
    /// The record's id (a visit's is what comments name).
    pub id: String,
    /// The customer's id.
    pub customer: String,
    /// The customer's name.
    pub customer_name: String,
    /// The visit kind, purposes and outcome as the playbook labels them in the asked language
    /// (or the contact's purpose and outcome); a code the playbook does not know stays a code.
    pub what: String,
    /// For a visit: whether the playbook counts it as effective.
    pub effective: Option<bool>,
    /// The agent's notes (or the SMS text).
    pub notes: String,
    /// Managers' comments on a visit.
    #[schema(value_type = Vec<Object>)]
    pub comments: Vec<Comment>,
}

fn visit_what(pb: &Playbook, v: &Visit) -> String {
    let mut s = pb
        .visit_kind(&v.kind)
        .map_or_else(|| v.kind.clone(), |k| k.label.clone());
    if !v.purposes.is_empty() {
        s.push_str(": ");
        let purposes: Vec<String> = v
            .purposes
            .iter()
            .map(|p| pb.purpose(p).map_or_else(|| p.clone(), |x| x.label.clone()))
            .collect();
        s.push_str(&purposes.join(", "));
    }
    if let Some(o) = &v.outcome {
        s.push_str(" → ");
        s.push_str(
            &pb.outcome(&o.code)
                .map_or_else(|| o.code.clone(), |x| x.label.clone()),
        );
    }
    s
}

fn contact_what(pb: &Playbook, c: &Contact) -> String {
    let mut s = c
        .purpose
        .as_deref()
        .map(|p| {
            pb.contact_purpose(p)
                .map_or_else(|| p.to_string(), |x| x.label.clone())
        })
        .unwrap_or_default();
    if let Some(o) = &c.outcome {
        s.push_str(" → ");
        s.push_str(&pb.outcome(o).map_or_else(|| o.clone(), |x| x.label.clone()));
    }
    s
}

/// The agent's day view.
pub fn agent_day(
    ctx: &TeamContext<'_>,
    agent: &UserId,
    date: NaiveDate,
    records: AgentDayRecords,
) -> AgentDayView {
    let names: BTreeMap<_, _> = records.customer_names.into_iter().collect();
    let name_of = |c| names.get(&c).cloned().unwrap_or_default();
    let mut comments: BTreeMap<_, Vec<Comment>> = BTreeMap::new();
    for c in records.comments {
        comments.entry(c.visit).or_default().push(c);
    }
    let mut timeline: Vec<(DateTime<chrono::FixedOffset>, TimelineEntry)> = vec![];
    for v in records.visits {
        let location = ctx
            .data
            .working_set
            .customers
            .iter()
            .find(|c| c.id == v.customer)
            .and_then(|c| c.location);
        timeline.push((
            v.start,
            TimelineEntry {
                at: v.start.to_rfc3339(),
                end: Some(v.end.to_rfc3339()),
                kind: "visit".into(),
                id: v.id.to_string(),
                customer: v.customer.to_string(),
                customer_name: name_of(v.customer),
                what: visit_what(&ctx.playbook, &v),
                effective: Some(playbook::is_effective(&ctx.playbook, &v, location)),
                notes: v.notes.clone(),
                comments: comments.remove(&v.id).unwrap_or_default(),
            },
        ));
    }
    for c in records.contacts {
        timeline.push((
            c.at,
            TimelineEntry {
                at: c.at.to_rfc3339(),
                end: None,
                kind: c.kind.code().into(),
                id: c.id.to_string(),
                customer: c.customer.to_string(),
                customer_name: name_of(c.customer),
                what: contact_what(&ctx.playbook, &c),
                effective: None,
                notes: c.notes.clone(),
                comments: vec![],
            },
        ));
    }
    timeline.sort_by_key(|(t, e)| (*t, e.id.clone()));
    let member = ctx.member(agent);
    let last_sync = member.and_then(|m| m.last_sync.clone());
    AgentDayView {
        agent: agent.clone(),
        name: ctx.name_of(agent),
        date,
        freshness: freshness(last_sync.as_deref(), date),
        last_sync,
        day: records.day,
        timeline: timeline.into_iter().map(|(_, e)| e).collect(),
    }
}

// ----- Spot check -------------------------------------------------------------------------------

/// This week's spot check: a share of the team's agents (30% by default) drawn for the week,
/// with their process records of the week so far.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SpotCheckView {
    /// The day asked about.
    pub date: NaiveDate,
    /// The week (cycle) of the month.
    pub week: u32,
    /// Its first day.
    pub from: NaiveDate,
    /// The playbook's share of agents to check.
    pub share_pct: f64,
    /// The distance (metres) from which a visit's recorded location counts as far from the
    /// customer's known location: the playbook's effective-visit distance, else
    /// [`FAR_DEFAULT_M`].
    pub far_from_m: f64,
    /// The agents drawn.
    pub agents: Vec<SpotCheckAgent>,
    /// The names of the customers their visits and contacts name, by customer id.
    pub customer_names: BTreeMap<String, String>,
}

/// One agent drawn for the spot check, with their records of the week.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SpotCheckAgent {
    /// The agent.
    #[schema(value_type = String)]
    pub agent: UserId,
    /// Their name.
    pub name: String,
    /// Their last sync.
    pub last_sync: Option<String>,
    /// Visits of the week, by start.
    #[schema(value_type = Vec<Object>)]
    pub visits: Vec<Visit>,
    /// Calls and SMS of the week, by time.
    #[schema(value_type = Vec<Object>)]
    pub contacts: Vec<Contact>,
    /// Their days of the week (work logs, evening reports).
    #[schema(value_type = Vec<Object>)]
    pub days: Vec<Day>,
    /// Their visits recorded far from the customer's known location, worth a look.
    pub far: Vec<FarVisit>,
    /// Whether a manager marked their week checked, by whom, when and with what note.
    pub checked: Option<CheckedMark>,
}

/// A manager's mark on an agent's week in the spot check.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CheckedMark {
    /// Who checked.
    #[schema(value_type = String)]
    pub by: UserId,
    /// Their name.
    pub by_name: String,
    /// What they noted.
    pub note: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A visit whose recorded location is far from the customer's known location.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FarVisit {
    /// The visit's id.
    pub visit: String,
    /// How far, in metres.
    pub distance_m: f64,
}

/// The distance from which a visit counts as far when the playbook sets no effective-visit
/// distance: 1 km.
pub const FAR_DEFAULT_M: f64 = 1000.0;

/// The visits of `visits` recorded more than `far_m` metres from their customer's known
/// location (a visit or customer without coordinates is never flagged).
pub fn far_visits(far_m: f64, visits: &[Visit], customers: &[Customer]) -> Vec<FarVisit> {
    visits
        .iter()
        .filter_map(|v| {
            let at = v.location?;
            let home = customers.iter().find(|c| c.id == v.customer)?.location?;
            let distance_m = at.distance_m(&home);
            (distance_m > far_m).then(|| FarVisit {
                visit: v.id.to_string(),
                distance_m: distance_m.round(),
            })
        })
        .collect()
}

/// The agents drawn for the week starting `from`: a draw that looks random but is the same all
/// week for the same team (the agents ordered by a hash of team, week and agent).
pub fn spot_check_draw(
    team: &str,
    from: NaiveDate,
    agents: &[UserId],
    count: usize,
) -> Vec<UserId> {
    let mut keyed: Vec<([u8; 32], &UserId)> = agents
        .iter()
        .map(|a| {
            let h = Sha256::digest(format!("{team}|{from}|{a}").as_bytes());
            (h.into(), a)
        })
        .collect();
    keyed.sort();
    keyed
        .into_iter()
        .take(count)
        .map(|(_, a)| a.clone())
        .collect()
}

/// The first day of the week (cycle) the spot check of `date` covers.
pub fn spot_check_week(ctx: &TeamContext<'_>, date: NaiveDate) -> NaiveDate {
    ctx.playbook.schedule.cycle.bounds(date).0
}

/// The spot-check view, with the marks managers left on this week's agents.
pub fn spot_check(
    ctx: &TeamContext<'_>,
    date: NaiveDate,
    marks: Vec<crate::store::SpotCheckMark>,
) -> SpotCheckView {
    let pb = &ctx.playbook;
    let ws = &ctx.data.working_set;
    let ids = ctx.agent_ids();
    let ratios = playbook::team_ratios(pb, date, &ids, ws);
    let (from, _) = pb.schedule.cycle.bounds(date);
    let drawn = spot_check_draw(ctx.data.team.as_str(), from, &ids, ratios.spot_check);
    let in_week = |d: NaiveDate| d >= from && d <= date;
    let far_m = pb.effective_visit.max_distance_m.unwrap_or(FAR_DEFAULT_M);
    let agents: Vec<SpotCheckAgent> = drawn
        .into_iter()
        .map(|a| {
            let mut visits: Vec<Visit> = ws
                .visits
                .iter()
                .filter(|v| v.agent == a && in_week(v.start.date_naive()))
                .cloned()
                .collect();
            visits.sort_by_key(|v| (v.start, v.id));
            visits.dedup_by_key(|v| v.id);
            let mut contacts: Vec<Contact> = ws
                .contacts
                .iter()
                .filter(|c| c.agent == a && in_week(c.at.date_naive()))
                .cloned()
                .collect();
            contacts.sort_by_key(|c| (c.at, c.id));
            contacts.dedup_by_key(|c| c.id);
            let mut days: Vec<Day> = ws
                .days
                .iter()
                .filter(|d| d.agent == a && in_week(d.date))
                .cloned()
                .collect();
            days.sort_by_key(|d| d.date);
            let far = far_visits(far_m, &visits, &ws.customers);
            let checked = marks.iter().find(|m| m.agent == a).map(|m| CheckedMark {
                by_name: ctx.name_of(&m.checked_by),
                by: m.checked_by.clone(),
                note: m.note.clone(),
                at: m.at.clone(),
            });
            SpotCheckAgent {
                checked,
                far,
                name: ctx.name_of(&a),
                last_sync: ctx.member(&a).and_then(|m| m.last_sync.clone()),
                agent: a,
                visits,
                contacts,
                days,
            }
        })
        .collect();
    let named: std::collections::BTreeSet<CustomerId> = agents
        .iter()
        .flat_map(|a| {
            a.visits
                .iter()
                .map(|v| v.customer)
                .chain(a.contacts.iter().map(|c| c.customer))
        })
        .collect();
    let customer_names = ws
        .customers
        .iter()
        .filter(|c| named.contains(&c.id))
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect();
    SpotCheckView {
        date,
        week: ratios.week,
        from,
        share_pct: pb.team.spot_check_pct,
        far_from_m: far_m,
        agents,
        customer_names,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn freshness_tells_not_synced_from_not_done() {
        let d = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
        assert_eq!(freshness(None, d), Freshness::Never);
        assert_eq!(
            freshness(Some("2026-06-10T10:00:00.000Z"), d),
            Freshness::Behind
        );
        assert_eq!(
            freshness(Some("2026-06-16T10:00:00.000Z"), d),
            Freshness::Synced
        );
    }

    /// Issue 13, item 9: a sync in the middle of the day does not make the day's numbers
    /// final: visits recorded after it are unknown, not a final zero.
    #[test]
    fn a_sync_at_noon_leaves_the_afternoon_unknown() {
        let d = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
        let noon = chrono::Local
            .from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .single()
            .unwrap()
            .to_rfc3339();
        assert_eq!(freshness(Some(&noon), d), Freshness::Partial);
        let next_morning = chrono::Local
            .from_local_datetime(&d.succ_opt().unwrap().and_hms_opt(7, 0, 0).unwrap())
            .single()
            .unwrap()
            .to_rfc3339();
        assert_eq!(freshness(Some(&next_morning), d), Freshness::Synced);
    }

    #[test]
    fn the_spot_check_draw_is_stable_for_a_week_and_changes_with_it() {
        let agents: Vec<UserId> = (0..10).map(|i| format!("A-{i}").parse().unwrap()).collect();
        let w1 = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let w2 = NaiveDate::from_ymd_opt(2026, 6, 8).unwrap();
        let a = spot_check_draw("north", w1, &agents, 3);
        assert_eq!(a.len(), 3);
        assert_eq!(a, spot_check_draw("north", w1, &agents, 3));
        let weeks: Vec<Vec<UserId>> = (0..6)
            .map(|k| spot_check_draw("north", w2 + chrono::Days::new(7 * k), &agents, 3))
            .collect();
        assert!(
            weeks.iter().any(|w| *w != a),
            "the draw changes across weeks"
        );
        assert!(spot_check_draw("north", w1, &agents, 0).is_empty());
    }

    #[test]
    fn the_log_and_report_are_pending_until_the_evening_deadline() {
        let pb = Playbook::insurance();
        assert_eq!(
            pb.daily.evening_deadline,
            chrono::NaiveTime::from_hms_opt(21, 0, 0)
        );
        let d = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
        let at = |day: NaiveDate, h, m| day.and_hms_opt(h, m, 0).unwrap();
        assert!(evening_pending(&pb, d, at(d, 14, 0)), "2 p.m.: pending");
        assert!(evening_pending(&pb, d, at(d, 20, 59)));
        assert!(
            !evening_pending(&pb, d, at(d, 21, 0)),
            "from 9 p.m.: missed"
        );
        assert!(!evening_pending(&pb, d, at(d.succ_opt().unwrap(), 8, 0)));
        assert!(evening_pending(&pb, d.succ_opt().unwrap(), at(d, 23, 0)));
        // Without a deadline in the playbook, the whole day.
        let mut none = pb.clone();
        none.daily.evening_deadline = None;
        assert!(evening_pending(&none, d, at(d, 23, 59)));
    }

    #[test]
    fn the_day_done_share_weighs_every_part_of_the_standard() {
        let pb = Playbook::insurance();
        let count = |actual, target| playbook::DailyCount {
            actual,
            target,
            met: actual >= target,
        };
        let json = serde_json::json!({
            "agent": "a1", "date": "2026-06-15", "working_day": true,
            "effective_visits": count(3, 3), "work_log": true, "evening_report": false,
            "met_311": false, "calls": count(5, 10), "meetings": count(6, 3),
            "results": count(0, 1), "met_10_3_1": false,
            "seven_things": playbook::SevenThings::default(), "targets": []
        });
        let t: playbook::TodayStatus = serde_json::from_value(json).unwrap();
        // visits 1, calls 0.5, meetings 1 (capped), results 0, log 1, report 0: 3.5 of 6.
        assert!((done_pct(&pb, &t) - 3.5 * 100.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn a_visit_recorded_far_from_the_customer_is_flagged() {
        let json = |id: &str, customer: &str, at: Option<(f64, f64)>| {
            serde_json::from_value::<Visit>(serde_json::json!({
                "id": id, "customer": customer, "agent": "a1", "kind": "collection",
                "purposes": [], "outcome": null, "policies": [],
                "start": "2026-06-15T10:00:00+08:00", "end": "2026-06-15T10:30:00+08:00",
                "location": at.map(|(lat, lon)| serde_json::json!({ "lat": lat, "lon": lon })),
                "notes": "", "number": 1
            }))
            .unwrap()
        };
        let c1 = "11111111-1111-4111-8111-111111111111";
        let c2 = "22222222-2222-4222-8222-222222222222";
        let customer = |id: &str, at: Option<(f64, f64)>| {
            serde_json::from_value::<Customer>(serde_json::json!({
                "id": id, "name": "x", "phones": [], "status": "prospect",
                "location": at.map(|(lat, lon)| serde_json::json!({ "lat": lat, "lon": lon })),
                "created_on": "2026-06-01"
            }))
            .unwrap()
        };
        let v = |n: u8| format!("{n}{n}{n}{n}{n}{n}{n}{n}-aaaa-4aaa-8aaa-aaaaaaaaaaaa");
        // Shanghai, People's Square; about 0.1 km and about 11 km away.
        let home = (31.2304, 121.4737);
        let visits = [
            json(&v(1), c1, Some((31.2313, 121.4737))),
            json(&v(2), c1, Some((31.3304, 121.4737))),
            json(&v(3), c1, None),
            json(&v(4), c2, Some((31.3304, 121.4737))),
        ];
        let customers = [customer(c1, Some(home)), customer(c2, None)];
        let far = far_visits(FAR_DEFAULT_M, &visits, &customers);
        assert_eq!(far.len(), 1, "{far:?}");
        assert_eq!(far[0].visit, v(2));
        assert!((far[0].distance_m - 11_120.0).abs() < 50.0, "{far:?}");
        assert!(far_visits(50.0, &visits, &customers).len() == 2);
    }

    #[test]
    fn only_managers_at_or_above_the_level_act() {
        let m = |role| Member {
            user: "x".parse().unwrap(),
            name: "x".into(),
            role,
            team: "t".parse().unwrap(),
            reports_to: None,
        };
        assert!(may_act(&m(Role::Supervisor), Role::Supervisor));
        assert!(!may_act(&m(Role::Supervisor), Role::DepartmentManager));
        assert!(may_act(&m(Role::DistrictManager), Role::Supervisor));
        assert!(!may_act(&m(Role::Agent), Role::Supervisor));
    }
}
