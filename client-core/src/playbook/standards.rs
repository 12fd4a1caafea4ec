//! The standards an agent is held to: the effective-visit rule, today's status (311, 10-3-1,
//! the seven things a day) and progress against the week's and the month's targets.
//!
//! These are what the home screen shows and what a manager's ratios are built from, so they
//! are pure functions of the playbook, a date and a working set: the phone and the server
//! compute the same numbers, and a test can pin any of them down.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::{month_start, Phase};
use super::facts::{DayFacts, Facts};
use super::measure::Span;
use super::reminders::reminders_in;
use super::targets::{Metric, Period, Standing, Target, Tier};
use super::vocabulary::Category;
use super::{Playbook, WorkingSet};
use crate::ids::UserId;
use crate::model::{ContactKind, GeoPoint, Visit};

/// When a visit is an effective visit (有效拜访).
///
/// The default is domain.md's definition: at least one purpose flagged `effective` and an
/// outcome recorded. A visit whose outcome is flagged `met = false` (not at home) is never
/// effective: an effective visit is an in-person meeting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveVisitRule {
    /// At least one of the visit's purposes must be flagged `effective`.
    #[serde(default = "yes")]
    pub require_effective_purpose: bool,
    /// An outcome must be recorded.
    #[serde(default = "yes")]
    pub require_outcome: bool,
    /// The visit must last at least this many minutes (end − start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_minutes: Option<u32>,
    /// The phone must have been within this many metres of the customer's address, when both
    /// positions are known (a visit without coordinates is not refused by this rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_distance_m: Option<f64>,
}

impl Default for EffectiveVisitRule {
    fn default() -> Self {
        EffectiveVisitRule {
            require_effective_purpose: true,
            require_outcome: true,
            min_minutes: None,
            max_distance_m: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// The daily standard: 311 (effective visits, log, report) and 10-3-1 (calls, meetings,
/// results).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyStandard {
    /// Effective visits a day (3).
    #[serde(default)]
    pub effective_visits: u32,
    /// Whether a work log is due every day.
    #[serde(default)]
    pub work_log: bool,
    /// Whether an evening report is due every day.
    #[serde(default)]
    pub evening_report: bool,
    /// The local time by which the work log and the evening report are due (`"21:00"`):
    /// before it, a day without them is pending, not missed. The end of the day when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evening_deadline: Option<chrono::NaiveTime>,
    /// Phone appointment calls a day (10).
    #[serde(default)]
    pub calls: u32,
    /// The contact purposes whose calls count toward `calls` (the insurance playbook:
    /// `appointment`, 电话约访; a payment reminder is not an appointment call). Empty: every
    /// call counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_purposes: Vec<String>,
    /// Meetings a day: visits where the customer was met (3).
    #[serde(default)]
    pub meetings: u32,
    /// Results a day: a new prospect, a renewal served, a new policy (1).
    #[serde(default)]
    pub results: u32,
}

/// Whether a visit is effective under the playbook's rule.
///
/// `customer_location` is the customer's address on the map, for the distance rule.
pub fn is_effective(pb: &Playbook, visit: &Visit, customer_location: Option<GeoPoint>) -> bool {
    let rule = &pb.effective_visit;
    if let Some(o) = &visit.outcome {
        if pb.outcome(&o.code).is_some_and(|k| !k.met) {
            return false;
        }
    } else if rule.require_outcome {
        return false;
    }
    if rule.require_effective_purpose
        && !visit
            .purposes
            .iter()
            .any(|p| pb.purpose(p).is_some_and(|p| p.effective))
    {
        return false;
    }
    if let Some(min) = rule.min_minutes {
        if (visit.end - visit.start).num_minutes() < i64::from(min) {
            return false;
        }
    }
    if let (Some(max), Some(at), Some(home)) =
        (rule.max_distance_m, visit.location, customer_location)
    {
        if at.is_valid() && home.is_valid() && at.distance_m(&home) > max {
            return false;
        }
    }
    true
}

/// [`is_effective`] with the customer's location taken from the working set.
pub(crate) fn effective_in(f: &Facts<'_>, v: &Visit) -> bool {
    is_effective(f.pb, v, f.customer(v.customer).and_then(|c| c.location))
}

/// A daily count against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCount {
    /// What was done.
    pub actual: u32,
    /// What the standard asks.
    pub target: u32,
    /// Whether `actual` reaches `target`.
    pub met: bool,
}

impl DailyCount {
    fn new(actual: usize, target: u32) -> Self {
        let actual = u32::try_from(actual).unwrap_or(u32::MAX);
        DailyCount {
            actual,
            target,
            met: actual >= target,
        }
    }
}

/// The "seven things a day" of the home screen, as counts for the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SevenThings {
    /// Reminders for the agent's customers (read reminders).
    pub reminders: usize,
    /// The agent's customers with a policy in play (check lists).
    pub in_play_customers: usize,
    /// SMS sent today.
    pub sms_sent: usize,
    /// Calls and SMS today whose contact purpose is of the collection category (催缴).
    pub payment_reminders: usize,
    /// Collection visits today.
    pub collection_visits: usize,
    /// Service visits today.
    pub service_visits: usize,
    /// Sales visits today.
    pub sales_visits: usize,
}

/// An agent's day against the daily standard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TodayStatus {
    /// Whose day.
    pub agent: UserId,
    /// Which day.
    pub date: NaiveDate,
    /// Whether the daily standard applies today (a working day of the schedule).
    pub working_day: bool,
    /// Effective visits against the target (311's 3).
    pub effective_visits: DailyCount,
    /// Whether the work log is written.
    pub work_log: bool,
    /// Whether the evening report is submitted.
    pub evening_report: bool,
    /// Whether the daily visit standard is met: enough effective visits, and the log and the
    /// report when the playbook asks for them (311 in the insurance playbook).
    pub met_311: bool,
    /// Calls against the target (10-3-1's 10).
    pub calls: DailyCount,
    /// Meetings against the target (10-3-1's 3).
    pub meetings: DailyCount,
    /// Results against the target (10-3-1's 1).
    pub results: DailyCount,
    /// Whether calls, meetings and results all reach their targets.
    pub met_10_3_1: bool,
    /// The seven things a day.
    pub seven_things: SevenThings,
    /// The playbook's other day targets.
    pub targets: Vec<Progress>,
}

/// One target against what was done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// What is counted.
    pub metric: Metric,
    /// What screens call the target.
    pub label: String,
    /// The number to reach.
    pub target: f64,
    /// What was done.
    pub actual: f64,
    /// Whether `actual` reaches `target` (`standing` is `met`).
    pub met: bool,
    /// Met, missed, or n/a (a rate over an empty pool: neither met nor missed).
    pub standing: Standing,
    /// `actual` as a percentage of `target` (100 for a zero target).
    pub percent: f64,
    /// The tier reached, for a target with tiers (collection rates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// The renewal month the target is about, for a collection rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
}

/// An agent's progress against the targets of a week (work cycle) or a month.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodProgress {
    /// Whose progress.
    pub agent: UserId,
    /// The first day of the period.
    pub from: NaiveDate,
    /// The day asked about: the period so far.
    pub to: NaiveDate,
    /// The week (work cycle) of the month, for week progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
    /// Each target of the period.
    pub targets: Vec<Progress>,
    /// Whether no target is missed (n/a ones are not; true when there are none).
    pub all_met: bool,
}

/// An agent's day: 311, 10-3-1, the seven things and the day targets.
///
/// Visits count on the local date of their start, each visit once however many times it
/// appears in the working set.
pub fn today(pb: &Playbook, agent: &UserId, date: NaiveDate, ws: &WorkingSet) -> TodayStatus {
    let f = Facts::new(pb, ws);
    today_with(&f, agent, date, &reminders_in(&f, date))
}

/// Today's status with the reminder count taken from `reminders` (every reminder of `date`).
pub(crate) fn today_with(
    f: &Facts<'_>,
    agent: &UserId,
    date: NaiveDate,
    reminders: &[crate::playbook::Reminder],
) -> TodayStatus {
    let mut status = today_in(f, agent, date);
    status.seven_things.reminders = reminders
        .iter()
        .filter(|r| r.agent.as_ref() == Some(agent))
        .count();
    status
}

/// Whether the agent met 311 on `date` ([`TodayStatus::met_311`] alone: the team ratios ask it
/// of every working day of every agent's week).
pub(crate) fn met_311_in(f: &Facts<'_>, agent: &UserId, date: NaiveDate) -> bool {
    let span = Span {
        facts: f,
        agent,
        from: date,
        to: date,
    };
    let count = DailyCount::new(span.effective_visits(), f.pb.daily.effective_visits);
    met_311_of(f, count, f.day(agent, date))
}

fn met_311_of(f: &Facts<'_>, effective_visits: DailyCount, day: DayFacts) -> bool {
    let daily = &f.pb.daily;
    effective_visits.met && (!daily.work_log || day.log) && (!daily.evening_report || day.report)
}

/// Today's status without the reminder count (cheap enough to run for every day of a week).
pub(crate) fn today_in(f: &Facts<'_>, agent: &UserId, date: NaiveDate) -> TodayStatus {
    let pb = f.pb;
    let daily = &pb.daily;
    let span = Span {
        facts: f,
        agent,
        from: date,
        to: date,
    };
    let day = f.day(agent, date);
    let effective_visits = DailyCount::new(span.effective_visits(), daily.effective_visits);
    let met_311 = met_311_of(f, effective_visits, day);
    let calls = DailyCount::new(span.daily_calls(), daily.calls);
    let meetings = DailyCount::new(span.meetings(), daily.meetings);
    let results = DailyCount::new(span.results(), daily.results);
    let collection_purpose = |p: Option<&str>| {
        p.and_then(|p| pb.contact_purpose(p))
            .is_some_and(|p| p.category == Some(Category::Collection))
    };
    let seven_things = SevenThings {
        reminders: 0,
        in_play_customers: f
            .customers_of(agent)
            .filter(|c| f.in_play(c.id, date))
            .count(),
        sms_sent: span.contacts(ContactKind::Sms).count(),
        payment_reminders: [ContactKind::Call, ContactKind::Sms]
            .into_iter()
            .flat_map(|k| span.contacts(k))
            .filter(|c| collection_purpose(c.purpose.as_deref()))
            .count(),
        collection_visits: span.visits_of(Category::Collection).count(),
        service_visits: span.visits_of(Category::Service).count(),
        sales_visits: span.visits_of(Category::Sales).count(),
    };
    let targets = pb
        .targets
        .iter()
        .filter(|t| t.period == Period::Day)
        .map(|t| progress(&span, t))
        .collect();
    TodayStatus {
        agent: agent.clone(),
        date,
        working_day: pb.schedule.is_working_day(date),
        effective_visits,
        work_log: day.log,
        evening_report: day.report,
        met_311,
        met_10_3_1: calls.met && meetings.met && results.met,
        calls,
        meetings,
        results,
        seven_things,
        targets,
    }
}

/// An agent's progress against the targets of the current week (work cycle) of the month, from
/// its first day to `date`.
pub fn week_progress(
    pb: &Playbook,
    agent: &UserId,
    date: NaiveDate,
    ws: &WorkingSet,
) -> PeriodProgress {
    week_progress_in(&Facts::new(pb, ws), agent, date)
}

/// An agent's progress against the month's targets, from the first of the month to `date`.
pub fn month_progress(
    pb: &Playbook,
    agent: &UserId,
    date: NaiveDate,
    ws: &WorkingSet,
) -> PeriodProgress {
    month_progress_in(&Facts::new(pb, ws), agent, date)
}

pub(crate) fn month_progress_in(f: &Facts<'_>, agent: &UserId, date: NaiveDate) -> PeriodProgress {
    let span = Span {
        facts: f,
        agent,
        from: month_start(date),
        to: date,
    };
    period_progress(&span, None, |t| t.period == Period::Month)
}

/// The agent's work cycle so far on `date`, and the cycle's number.
fn week_span<'s, 'a>(f: &'s Facts<'a>, agent: &'s UserId, date: NaiveDate) -> (Span<'s, 'a>, u32) {
    let cycle = f.pb.schedule.cycle;
    let span = Span {
        facts: f,
        agent,
        from: cycle.bounds(date).0,
        to: date,
    };
    (span, cycle.number(date))
}

pub(crate) fn week_progress_in(f: &Facts<'_>, agent: &UserId, date: NaiveDate) -> PeriodProgress {
    let (span, week) = week_span(f, agent, date);
    period_progress(&span, Some(week), |t| t.applies_in_week(week))
}

/// Whether the agent meets every target of the week so far: `week_progress_in(…).all_met`
/// without building the report, stopping at the first target missed. The team ratios ask it
/// of every agent for every week of the trend; the counts are tried before the percentages,
/// which go through each of the agent's customers.
pub(crate) fn week_targets_met_in(f: &Facts<'_>, agent: &UserId, date: NaiveDate) -> bool {
    let (span, week) = week_span(f, agent, date);
    let applies = || f.pb.targets.iter().filter(|t| t.applies_in_week(week));
    applies()
        .filter(|t| !t.metric.is_pct())
        .chain(applies().filter(|t| t.metric.is_pct()))
        .all(|t| !t.standing(span.measure(t)).is_missed())
}

fn period_progress(
    span: &Span<'_, '_>,
    week: Option<u32>,
    applies: impl Fn(&Target) -> bool,
) -> PeriodProgress {
    let targets: Vec<Progress> = span
        .facts
        .pb
        .targets
        .iter()
        .filter(|t| applies(t))
        .map(|t| progress(span, t))
        .collect();
    PeriodProgress {
        agent: span.agent.clone(),
        from: span.from,
        to: span.to,
        week,
        all_met: targets.iter().all(|p| !p.standing.is_missed()),
        targets,
    }
}

fn progress(span: &Span<'_, '_>, t: &Target) -> Progress {
    let measured = span.measure(t);
    let standing = t.standing(measured);
    // Over an empty pool: a coverage target met reads 100, a rate n/a reads 0 with no tier.
    let actual = measured.unwrap_or(if standing.is_met() { 100.0 } else { 0.0 });
    let percent = if t.target > 0.0 {
        actual * 100.0 / t.target
    } else {
        100.0
    };
    Progress {
        metric: t.metric,
        label: t.label(),
        target: t.target,
        actual,
        met: standing.is_met(),
        standing,
        percent,
        tier: (t.good.is_some() || t.excellent.is_some())
            .then(|| measured.and_then(|a| t.tier(a)))
            .flatten(),
        phase: t.phase,
    }
}

/// Whether the agent had an effective visit in `[from, to]`.
pub(crate) fn active(f: &Facts<'_>, agent: &UserId, from: NaiveDate, to: NaiveDate) -> bool {
    f.visits_by(agent, from, to).any(|v| effective_in(f, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PolicyStatus;
    use crate::playbook::testing::*;

    fn collect(v: Vec<Visit>) -> WorkingSet {
        WorkingSet {
            visits: v,
            ..WorkingSet::default()
        }
    }

    #[test]
    fn a_visit_needs_an_effective_purpose_and_a_met_outcome() {
        let pb = crate::playbook::Playbook::insurance();
        let c = customer("王芳", "a1");
        let table: [(&str, &[&str], Option<&str>, bool); 7] = [
            (
                "effective purpose and outcome",
                &["premium_collected"],
                Some("paid"),
                true,
            ),
            (
                "one effective purpose is enough",
                &["birthday", "needs_discovery"],
                Some("appointment"),
                true,
            ),
            ("no outcome", &["premium_collected"], None, false),
            (
                "only non-effective purposes",
                &["birthday", "thanks"],
                Some("greeted"),
                false,
            ),
            ("no purpose", &[], Some("paid"), false),
            (
                "not at home",
                &["premium_collected"],
                Some("not_at_home"),
                false,
            ),
            ("unknown purpose", &["chatting"], Some("paid"), false),
        ];
        for (why, purposes, outcome, want) in table {
            let v = visit(
                &c,
                "a1",
                "2026-06-16T10:00:00+08:00",
                30,
                "collection",
                purposes,
                outcome,
            );
            assert_eq!(is_effective(&pb, &v, None), want, "{why}");
        }
    }

    #[test]
    fn minimum_minutes_and_maximum_distance_when_the_playbook_asks() {
        let mut pb = crate::playbook::Playbook::insurance();
        pb.effective_visit.min_minutes = Some(15);
        pb.effective_visit.max_distance_m = Some(500.0);
        let c = customer("王芳", "a1");
        let home = GeoPoint {
            lat: 31.2304,
            lon: 121.4737,
        };
        let near = GeoPoint {
            lat: 31.2310,
            lon: 121.4740,
        }; // about 70 m
        let far = GeoPoint {
            lat: 31.2504,
            lon: 121.4737,
        }; // about 2.2 km
        let table = [
            ("long enough, near", 20, Some(near), Some(home), true),
            ("exactly the minimum", 15, Some(near), Some(home), true),
            ("too short", 10, Some(near), Some(home), false),
            ("too far", 20, Some(far), Some(home), false),
            ("phone had no position", 20, None, Some(home), true),
            ("customer has no position", 20, Some(far), None, true),
        ];
        for (why, minutes, at, customer_at, want) in table {
            let mut v = visit(
                &c,
                "a1",
                "2026-06-16T10:00:00+08:00",
                minutes,
                "service",
                &["policy_service"],
                Some("served"),
            );
            v.location = at;
            assert_eq!(is_effective(&pb, &v, customer_at), want, "{why}");
        }
        // The insurance playbook itself sets neither rule.
        let plain = crate::playbook::Playbook::insurance();
        let mut v = visit(
            &c,
            "a1",
            "2026-06-16T10:00:00+08:00",
            1,
            "service",
            &["policy_service"],
            Some("served"),
        );
        v.location = Some(far);
        assert!(is_effective(&plain, &v, Some(home)));
    }

    /// A Tuesday with `n` effective visits, each to another customer.
    fn day_with(n: usize, log: bool, report: bool) -> WorkingSet {
        let customers: Vec<_> = (0..n)
            .map(|i| customer(&format!("客户{i}"), "a1"))
            .collect();
        let visits = customers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                visit(
                    c,
                    "a1",
                    &format!("2026-06-16T{:02}:00:00+08:00", 9 + i),
                    30,
                    "collection",
                    &["premium_collected"],
                    Some("paid"),
                )
            })
            .collect();
        let mut ws = collect(visits);
        ws.customers = customers;
        ws.days.push(day("a1", d(2026, 6, 16), log, report));
        ws
    }

    /// Issue 13, item 10: the same visit typed on two phones (same customer, agent and start,
    /// two ids) counts once; three visits to one customer are one effective visit and one
    /// meeting (customers, not visits).
    #[test]
    fn padding_the_same_visit_on_two_phones_or_three_visits_to_one_customer_counts_once() {
        let pb = crate::playbook::Playbook::insurance();
        let tuesday = d(2026, 6, 16);
        let mut ws = day_with(2, true, true);
        let mut typed_again = ws.visits[0].clone();
        typed_again.id = crate::ids::VisitId::new();
        typed_again.notes = "typed on the second phone".into();
        ws.visits.push(typed_again);
        let s = today(&pb, &agent("a1"), tuesday, &ws);
        assert_eq!((s.effective_visits.actual, s.meetings.actual), (2, 2));
        assert!(!s.met_311);
        // Three visits to one customer at three times of the day.
        let c = customer("王芳", "a1");
        let mut one = collect(
            (0..3)
                .map(|i| {
                    visit(
                        &c,
                        "a1",
                        &format!("2026-06-16T{:02}:00:00+08:00", 9 + 2 * i),
                        30,
                        "collection",
                        &["premium_collected"],
                        Some("paid"),
                    )
                })
                .collect(),
        );
        one.customers.push(c);
        one.days.push(day("a1", tuesday, true, true));
        let s = today(&pb, &agent("a1"), tuesday, &one);
        assert_eq!((s.effective_visits.actual, s.meetings.actual), (1, 1));
        assert!(!s.met_311, "one customer is not 311's three");
    }

    #[test]
    fn a_tuesday_with_two_effective_visits_fails_311_and_three_pass() {
        let pb = crate::playbook::Playbook::insurance();
        let tuesday = d(2026, 6, 16);
        let table = [
            (2, true, true, false),
            (3, true, true, true),
            (4, true, true, true),
            (3, false, true, false),
            (3, true, false, false),
        ];
        for (n, log, report, want) in table {
            let s = today(&pb, &agent("a1"), tuesday, &day_with(n, log, report));
            assert_eq!(s.effective_visits.actual as usize, n);
            assert_eq!(s.effective_visits.target, 3);
            assert_eq!(s.met_311, want, "{n} visits, log {log}, report {report}");
        }
        // The day after does not see Tuesday's visits.
        let s = today(&pb, &agent("a1"), d(2026, 6, 17), &day_with(3, true, true));
        assert_eq!(s.effective_visits.actual, 0);
        assert!(!s.met_311);
    }

    #[test]
    fn a_visit_counts_on_the_local_date_of_its_start() {
        let pb = crate::playbook::Playbook::insurance();
        let c = customer("王芳", "a1");
        // 00:30 on Wednesday in Shanghai is 16:30 on Tuesday in UTC.
        let v = visit(
            &c,
            "a1",
            "2026-06-17T00:30:00+08:00",
            30,
            "sales",
            &["closing"],
            Some("new_policy"),
        );
        assert_eq!(v.start.naive_utc().date(), d(2026, 6, 16));
        let ws = collect(vec![v]);
        let tue = today(&pb, &agent("a1"), d(2026, 6, 16), &ws);
        let wed = today(&pb, &agent("a1"), d(2026, 6, 17), &ws);
        assert_eq!(tue.effective_visits.actual, 0);
        assert_eq!(wed.effective_visits.actual, 1);
        assert_eq!(wed.results.actual, 1);
    }

    #[test]
    fn the_same_visit_twice_counts_once() {
        let pb = crate::playbook::Playbook::insurance();
        let mut ws = day_with(2, true, true);
        let again = ws.visits[0].clone();
        ws.visits.push(again);
        let s = today(&pb, &agent("a1"), d(2026, 6, 16), &ws);
        assert_eq!(s.effective_visits.actual, 2);
        assert_eq!(s.meetings.actual, 2);
        assert!(!s.met_311);
    }

    #[test]
    fn ten_three_one_counts_calls_meetings_and_results() {
        let pb = crate::playbook::Playbook::insurance();
        let date = d(2026, 6, 16);
        let mut c = customer("王芳", "a1");
        c.created_on = date; // a new prospect is a result
        c.status = crate::model::CustomerStatus::Prospect;
        let mut ws = WorkingSet::default();
        for i in 0..10 {
            ws.contacts.push(call(
                &c,
                "a1",
                &format!("2026-06-16T{:02}:00:00+08:00", 8 + i),
                "appointment",
                None,
            ));
        }
        ws.contacts.push(sms(
            &c,
            "a1",
            "2026-06-16T20:00:00+08:00",
            "payment_reminder",
        ));
        ws.visits.push(visit(
            &c,
            "a1",
            "2026-06-16T09:00:00+08:00",
            30,
            "sales",
            &["needs_discovery"],
            Some("appointment"),
        ));
        ws.visits.push(visit(
            &c,
            "a1",
            "2026-06-16T11:00:00+08:00",
            30,
            "service",
            &["birthday"],
            Some("greeted"),
        ));
        ws.visits.push(visit(
            &c,
            "a1",
            "2026-06-16T15:00:00+08:00",
            30,
            "collection",
            &["premium_collected"],
            Some("not_at_home"),
        ));
        ws.customers.push(c);
        let s = today(&pb, &agent("a1"), date, &ws);
        assert_eq!(s.calls.actual, 10);
        assert_eq!(
            s.meetings.actual, 1,
            "not at home is not a meeting, and two visits to one customer are one"
        );
        assert_eq!(s.results.actual, 1);
        assert!(!s.met_10_3_1, "two meetings of three");
        // A customer who came with a policy (an import, a reassignment) is no new prospect.
        let mut closed = ws.clone();
        closed.customers[0].status = crate::model::CustomerStatus::Closed;
        assert_eq!(today(&pb, &agent("a1"), date, &closed).results.actual, 0);
        assert_eq!(s.effective_visits.actual, 1);
        assert_eq!(s.seven_things.sms_sent, 1);
        assert_eq!(s.seven_things.payment_reminders, 1);
        assert_eq!(s.seven_things.sales_visits, 1);
        assert_eq!(s.seven_things.service_visits, 1);
        assert_eq!(s.seven_things.collection_visits, 0);
        // Another agent's day is empty.
        let other = today(&pb, &agent("a2"), date, &ws);
        assert_eq!(other.calls.actual, 0);
        assert_eq!(other.meetings.actual, 0);
    }

    /// Issue 13, item 4: ten payment-reminder calls are not 10-3-1's ten appointment calls
    /// (电话约访).
    #[test]
    fn ten_payment_reminder_calls_are_not_ten_appointment_calls() {
        let pb = crate::playbook::Playbook::insurance();
        let date = d(2026, 6, 16);
        let c = customer("王芳", "a1");
        let mut ws = WorkingSet::default();
        for i in 0..10 {
            ws.contacts.push(call(
                &c,
                "a1",
                &format!("2026-06-16T{:02}:00:00+08:00", 8 + i),
                "payment_reminder",
                None,
            ));
        }
        ws.customers.push(c.clone());
        let s = today(&pb, &agent("a1"), date, &ws);
        assert_eq!((s.calls.actual, s.calls.met), (0, false));
        assert_eq!(s.seven_things.payment_reminders, 10);
        for i in 0..4 {
            ws.contacts.push(call(
                &c,
                "a1",
                &format!("2026-06-16T{:02}:30:00+08:00", 8 + i),
                "appointment",
                Some("appointment"),
            ));
        }
        assert_eq!(today(&pb, &agent("a1"), date, &ws).calls.actual, 4);
        // A playbook that names no call purposes counts every call.
        let mut every = pb.clone();
        every.daily.call_purposes.clear();
        assert_eq!(today(&every, &agent("a1"), date, &ws).calls.actual, 14);
    }

    #[test]
    fn the_same_code_counts_what_each_playbook_says() {
        let insurance = crate::playbook::Playbook::insurance();
        let home = crate::playbook::Playbook::from_toml_str(
            "home-improvement.toml",
            include_str!("../../../docs/playbooks/home-improvement.toml"),
        )
        .expect("home-improvement playbook loads");
        let mut owner = customer("业主", "a1");
        owner.location = Some(GeoPoint {
            lat: 31.2304,
            lon: 121.4737,
        });
        let mut v = visit(
            &owner,
            "a1",
            "2026-06-16T10:00:00+08:00",
            20,
            "survey",
            &["renovation_progress"],
            Some("measure_booked"),
        );
        v.location = Some(GeoPoint {
            lat: 31.2306,
            lon: 121.4738,
        });
        // Tracking renovation progress is an effective visit for the sales team only.
        assert!(is_effective(&home, &v, owner.location));
        assert!(!is_effective(&insurance, &v, owner.location));
        // The sales team checks the phone was at the flat.
        let mut away = v.clone();
        away.location = Some(GeoPoint {
            lat: 31.2404,
            lon: 121.4737,
        });
        assert!(!is_effective(&home, &away, owner.location));
        // A booked measurement is a result for the sales team, not for the insurance team.
        let ws = WorkingSet {
            customers: vec![owner],
            visits: vec![v],
            ..WorkingSet::default()
        };
        let date = d(2026, 6, 16);
        let at_home = today(&home, &agent("a1"), date, &ws);
        let at_insurance = today(&insurance, &agent("a1"), date, &ws);
        assert_eq!(
            (at_home.results.actual, at_home.effective_visits.target),
            (1, 8)
        );
        assert_eq!(
            (
                at_insurance.results.actual,
                at_insurance.effective_visits.target
            ),
            (0, 3)
        );
        // Its day target "6 survey visits" is counted from the visit kind.
        let survey = at_home
            .targets
            .iter()
            .find(|t| t.metric == Metric::Visits)
            .expect("day target");
        assert_eq!((survey.actual, survey.target), (1.0, 6.0));
        assert!(at_insurance.targets.is_empty());
    }

    /// A small team book for week 1 of June 2026 (1–7 June).
    fn june_week_one() -> WorkingSet {
        let mut ws = WorkingSet::default();
        // Two customers whose policies are due in August: June is their cross month.
        let cross_a = customer("陈一", "a1");
        let cross_b = customer("陈二", "a1");
        // One customer due in June (this month), paid on 3 June.
        let due_paid = customer("张三", "a1");
        // One customer due in June, unpaid, difficult.
        let due_difficult = customer("李四", "a1");
        // Someone else's customer, due in August.
        let other = customer("赵五", "a2");
        ws.policies.push(policy_of(&cross_a, d(2026, 8, 10)));
        ws.policies.push(policy_of(&cross_b, d(2026, 8, 20)));
        let mut paid = policy_of(&due_paid, d(2026, 6, 15));
        paid.paid_on = Some(d(2026, 6, 3));
        ws.policies.push(paid);
        let mut difficult = policy_of(&due_difficult, d(2026, 6, 25));
        difficult.status = PolicyStatus::Difficult;
        ws.policies.push(difficult);
        ws.policies.push(policy_of(&other, d(2026, 8, 1)));
        // Visits in week 1.
        ws.visits.push(visit(
            &cross_a,
            "a1",
            "2026-06-02T10:00:00+08:00",
            30,
            "service",
            &["family_policy_review"],
            Some("appointment"),
        ));
        ws.visits.push(visit(
            &cross_a,
            "a1",
            "2026-06-04T10:00:00+08:00",
            30,
            "sales",
            &["closing"],
            Some("new_policy"),
        ));
        ws.visits.push(visit(
            &cross_b,
            "a1",
            "2026-06-05T10:00:00+08:00",
            30,
            "service",
            &["needs_discovery"],
            Some("not_at_home"),
        ));
        ws.visits.push(visit(
            &due_paid,
            "a1",
            "2026-06-04T15:00:00+08:00",
            30,
            "service",
            &["receipt_handed_over"],
            Some("served"),
        ));
        ws.visits.push(visit(
            &due_paid,
            "a1",
            "2026-06-02T15:00:00+08:00",
            30,
            "collection",
            &["premium_collected"],
            Some("promised"),
        ));
        ws.visits.push(visit(
            &due_difficult,
            "a1",
            "2026-06-05T16:00:00+08:00",
            30,
            "collection",
            &["objection_handling"],
            Some("promised"),
        ));
        // Another agent's visit to a cross-month customer does not count for a1.
        ws.visits.push(visit(
            &other,
            "a2",
            "2026-06-03T10:00:00+08:00",
            30,
            "service",
            &["needs_discovery"],
            Some("appointment"),
        ));
        // A visit in May does not count for June's week 1.
        ws.visits.push(visit(
            &cross_a,
            "a1",
            "2026-05-30T10:00:00+08:00",
            30,
            "service",
            &["needs_discovery"],
            Some("appointment"),
        ));
        // One of the two cross-month customers called this week.
        ws.contacts.push(call(
            &cross_a,
            "a1",
            "2026-06-01T09:00:00+08:00",
            "renewal_contact",
            Some("appointment"),
        ));
        ws.customers = vec![cross_a, cross_b, due_paid, due_difficult, other];
        ws
    }

    #[test]
    fn week_one_progress_on_a_small_book() {
        let pb = crate::playbook::Playbook::insurance();
        let p = week_progress(&pb, &agent("a1"), d(2026, 6, 5), &june_week_one());
        assert_eq!(p.week, Some(1));
        assert_eq!((p.from, p.to), (d(2026, 6, 1), d(2026, 6, 5)));
        let get = |m: Metric| {
            p.targets
                .iter()
                .find(|t| t.metric == m)
                .unwrap_or_else(|| panic!("week 1 has a {} target", m.code()))
        };
        let table = [
            // metric, target, actual, met
            (Metric::CrossMonthCallsPct, 100.0, 50.0, false),
            // 陈一 met twice: one customer (亲访10位客户 counts customers); 陈二 not at home.
            (Metric::CrossMonthVisits, 10.0, 1.0, false),
            (Metric::ActualMonthVisits, 5.0, 1.0, false),
            (Metric::CollectionVisitsDifficult, 2.0, 1.0, false),
            (Metric::Closes, 1.0, 1.0, true),
        ];
        for (metric, target, actual, met) in table {
            let t = get(metric);
            assert_eq!(
                (t.target, t.actual, t.met),
                (target, actual, met),
                "{}",
                metric.code()
            );
        }
        assert_eq!(get(Metric::CrossMonthVisits).percent, 10.0);
        // This month's collection rate: one of two June policies paid, 60/70/70 every week.
        let rate = |phase: Phase| {
            p.targets
                .iter()
                .find(|t| t.metric == Metric::CollectionRatePct && t.phase == Some(phase))
                .map(|t| (t.target, t.actual, t.met, t.tier))
        };
        assert_eq!(rate(Phase::Due), Some((60.0, 50.0, false, None)));
        // No policy in its transition month: no rate, n/a (it read "100%, excellent" before
        // issue 13 while the manager's pipeline read "0%").
        assert_eq!(rate(Phase::Transition), Some((70.0, 0.0, false, None)));
        assert!(p
            .targets
            .iter()
            .any(|t| t.phase == Some(Phase::Transition) && t.standing == Standing::NotApplicable));
        assert!(!p.all_met);
        // Week 2 targets are not in week 1.
        assert!(p
            .targets
            .iter()
            .all(|t| t.metric != Metric::FailedDeductionCallsPct));
    }

    #[test]
    fn week_two_calls_this_month_s_failed_deductions() {
        let pb = crate::playbook::Playbook::insurance();
        let mut ws = WorkingSet::default();
        let called = customer("已电联", "a1");
        let silent = customer("未电联", "a1");
        let old = customer("上月失败", "a1");
        for (c, failed_on) in [
            (&called, d(2026, 6, 9)),
            (&silent, d(2026, 6, 10)),
            (&old, d(2026, 5, 12)),
        ] {
            let mut p = policy_of(c, failed_on);
            p.deduction_failed_on = Some(failed_on);
            ws.policies.push(p);
        }
        // A call before the failure does not count; one after it does.
        ws.contacts.push(call(
            &silent,
            "a1",
            "2026-06-08T10:00:00+08:00",
            "payment_reminder",
            None,
        ));
        ws.contacts.push(call(
            &called,
            "a1",
            "2026-06-10T10:00:00+08:00",
            "failed_deduction",
            Some("promised"),
        ));
        ws.customers = vec![called, silent, old];
        let p = week_progress(&pb, &agent("a1"), d(2026, 6, 12), &ws);
        assert_eq!(p.week, Some(2));
        let t = p
            .targets
            .iter()
            .find(|t| t.metric == Metric::FailedDeductionCallsPct)
            .expect("week 2 target");
        assert_eq!((t.actual, t.met), (50.0, false));
    }

    #[test]
    fn month_progress_counts_from_the_first_of_the_month() {
        let pb = crate::playbook::Playbook::insurance();
        let p = month_progress(&pb, &agent("a1"), d(2026, 6, 5), &june_week_one());
        assert_eq!((p.from, p.week), (d(2026, 6, 1), None));
        let get = |m: Metric| p.targets.iter().find(|t| t.metric == m).map(|t| t.actual);
        assert_eq!(
            get(Metric::ServiceVisits),
            Some(2.0),
            "not-at-home is not a visit"
        );
        assert_eq!(get(Metric::ServiceVisitsInCollectionPeriod), Some(1.0));
        assert_eq!(get(Metric::HardToCollectVisits), Some(1.0));
        assert_eq!(get(Metric::DifficultExitedVisitedPct), Some(100.0));
        assert_eq!(get(Metric::ReceiptsDeliveredPct), Some(100.0));
        assert_eq!(
            get(Metric::OrphansCalledPct),
            Some(100.0),
            "no orphans: nothing to do"
        );
    }

    /// Issue 13, item 7: with no policy due this month the phone's week read "100%, met,
    /// excellent" while the manager's pipeline read "0%, not met". A rate over nothing is n/a
    /// (neither met nor missed, no tier); "call every cross-month customer" with none is met.
    #[test]
    fn an_empty_pool_is_n_a_for_a_rate_and_met_for_a_call_every_target() {
        let pb = crate::playbook::Playbook::insurance();
        let ws = WorkingSet {
            customers: vec![customer("王芳", "a1")],
            ..WorkingSet::default()
        };
        let p = week_progress(&pb, &agent("a1"), d(2026, 6, 6), &ws);
        let rates: Vec<&Progress> = p
            .targets
            .iter()
            .filter(|t| t.metric == Metric::CollectionRatePct)
            .collect();
        assert!(!rates.is_empty());
        for t in rates {
            assert_eq!(
                (t.standing, t.met, t.tier, t.actual),
                (Standing::NotApplicable, false, None, 0.0),
                "{}",
                t.label
            );
        }
        let calls = p
            .targets
            .iter()
            .find(|t| t.metric == Metric::CrossMonthCallsPct)
            .expect("week 1: call every cross-month customer");
        assert_eq!((calls.standing, calls.met), (Standing::Met, true));
        // n/a is not a miss: the week's other targets decide all_met.
        assert!(p
            .targets
            .iter()
            .filter(|t| t.standing == Standing::Missed)
            .all(|t| t.metric != Metric::CollectionRatePct));
        // The rule itself, as the dashboard's pipeline calls it.
        let rate = pb
            .targets
            .iter()
            .find(|t| t.metric == Metric::CollectionRatePct)
            .expect("a rate target");
        assert_eq!(rate.standing(None), Standing::NotApplicable);
        assert_eq!(rate.standing(Some(0.0)), Standing::Missed);
        assert_eq!(rate.standing(Some(rate.target)), Standing::Met);
        assert_eq!(crate::playbook::rate_pct(std::iter::empty::<bool>()), None);
    }

    #[test]
    fn collection_rate_tiers() {
        let pb = crate::playbook::Playbook::insurance();
        let mut ws = WorkingSet::default();
        // Ten policies due 20 May: the grace period ends 19 July, so June is their transition
        // month. Eight paid by 6 June: 80% by the end of week 1 reaches 70/75/80's excellent.
        let c = customer("王芳", "a1");
        for i in 0..10 {
            let mut p = policy_of(&c, d(2026, 5, 20));
            p.number = format!("P{i}");
            if i < 8 {
                p.paid_on = Some(d(2026, 6, 2));
            }
            ws.policies.push(p);
        }
        ws.customers.push(c);
        let p = week_progress(&pb, &agent("a1"), d(2026, 6, 6), &ws);
        let t = p
            .targets
            .iter()
            .find(|t| t.metric == Metric::CollectionRatePct && t.phase == Some(Phase::Transition))
            .expect("transition week 1 target");
        assert_eq!(
            (t.actual, t.met, t.tier),
            (80.0, true, Some(Tier::Excellent))
        );
    }
}
