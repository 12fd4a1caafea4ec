//! The renewal calendar and the working calendar: where a policy stands in its renewal cycle on a
//! given day, and which week (or ten-day cycle) of the month a day falls in.
//!
//! Two kinds of renewal calendar cover the teams we know. An insurance collection team works in
//! months around the due date: cross month, receivable month, due month, transition months,
//! final month, then lapse at the end of the grace period. A car-insurance renewal desk works in
//! steps counted back from the expiry day (D−90, D−65, …, D−15 reassign). A team without
//! renewals (home-improvement sales) has no calendar. Everything here is date arithmetic on
//! values passed in: no clock, no I/O.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::model::{ContactKind, Policy};

/// Where a policy stands in its renewal cycle on a given day.
///
/// For the monthly calendar with due date D and grace period G days (D = 15 June, G = 60):
/// [`NotYet`](Phase::NotYet) before April, [`Cross`](Phase::Cross) in April,
/// [`Receivable`](Phase::Receivable) in May, [`Due`](Phase::Due) in June,
/// [`Transition`](Phase::Transition) in July, [`Final`](Phase::Final) from 1 to 14 August (the
/// grace end, its last day) and [`Lapsed`](Phase::Lapsed) from 15 August on.
///
/// Payment takes over from the month: once the cycle's premium is received (`paid_on`, on or
/// before the day asked about) the policy is [`Received`](Phase::Received) for the rest of the
/// month it was paid in (实收月: deliver the receipt, propose new business) and
/// [`Settled`](Phase::Settled) after it. A `paid_on` before the cycle's first month (the cross
/// month, or the first cadence step) is taken to belong to the previous cycle and is ignored.
///
/// For a cadence calendar (car renewal) the months do not apply: a policy is `NotYet` before
/// its first step, `Due` from the first step to its expiry day, and `Lapsed` after it.
/// Without a calendar an unpaid policy is always `NotYet`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the cross month: not in play yet.
    NotYet,
    /// 跨月: two months before the due month, first contact.
    Cross,
    /// 应收月: the month before the due month, make sure the deduction will pass.
    Receivable,
    /// 本月: the due month, the deduction runs (for a cadence calendar: the whole window).
    Due,
    /// 过渡月: months strictly between the due month and the final month.
    Transition,
    /// 最终月: the month the grace period ends in, up to and including its last day.
    Final,
    /// Unpaid after the grace end (or after the expiry day): the policy has lapsed.
    Lapsed,
    /// 实收月: paid in this month, on or before the day asked about.
    Received,
    /// Paid in an earlier month of this cycle: nothing left to do until the next due date.
    Settled,
}

impl Phase {
    /// Whether the policy is unpaid and being worked on: cross, receivable, due, transition or
    /// final.
    pub fn in_play(self) -> bool {
        matches!(
            self,
            Phase::Cross | Phase::Receivable | Phase::Due | Phase::Transition | Phase::Final
        )
    }

    /// The phase's code as written in playbook files and printed.
    pub fn code(self) -> &'static str {
        match self {
            Phase::NotYet => "not_yet",
            Phase::Cross => "cross",
            Phase::Receivable => "receivable",
            Phase::Due => "due",
            Phase::Transition => "transition",
            Phase::Final => "final",
            Phase::Lapsed => "lapsed",
            Phase::Received => "received",
            Phase::Settled => "settled",
        }
    }
}

/// A team's renewal calendar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CalendarFile", into = "CalendarFile")]
#[allow(clippy::large_enum_variant)] // one per playbook: boxing would buy nothing
pub enum Calendar {
    /// No renewals (a sales team): no policy is ever in play.
    #[default]
    None,
    /// Months around the due date, with a grace period (life insurance).
    Monthly(MonthlyCalendar),
    /// Steps counted back from the expiry day (car insurance).
    Cadence(Cadence),
}

/// The monthly renewal calendar of an insurance collection team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonthlyCalendar {
    /// Days after the due date the policy stays in force unpaid (60 by default).
    pub grace_days: u32,
    /// What each month is called and what the agent does in it.
    pub phases: PhaseTexts,
}

/// What each month of the monthly calendar is called and what the agent does in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTexts {
    /// The cross month.
    #[serde(default)]
    pub cross: PhaseText,
    /// The receivable month.
    #[serde(default)]
    pub receivable: PhaseText,
    /// The due month.
    #[serde(default)]
    pub due: PhaseText,
    /// A transition month.
    #[serde(default)]
    pub transition: PhaseText,
    /// The final month.
    #[serde(default, rename = "final")]
    pub final_month: PhaseText,
    /// The actual-received month.
    #[serde(default)]
    pub received: PhaseText,
}

impl PhaseTexts {
    /// The text for a phase, if the calendar has one for it.
    pub fn get(&self, phase: Phase) -> Option<&PhaseText> {
        match phase {
            Phase::Cross => Some(&self.cross),
            Phase::Receivable => Some(&self.receivable),
            Phase::Due => Some(&self.due),
            Phase::Transition => Some(&self.transition),
            Phase::Final => Some(&self.final_month),
            Phase::Received => Some(&self.received),
            Phase::NotYet | Phase::Lapsed | Phase::Settled => None,
        }
    }
}

/// A month's name and the agent's job in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseText {
    /// What screens call the month (跨月…); the phase's code when empty.
    #[serde(default)]
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// What the agent does with a policy in this month.
    #[serde(default)]
    pub action: String,
    /// The SMS template suggested for the month, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
}

/// The cadence of a car-insurance renewal desk: steps counted back from the expiry day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cadence {
    /// The steps, earliest first (largest `days_before` first).
    pub steps: Vec<CadenceStep>,
}

/// One step of a renewal cadence ("D−65: care call, no price").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadenceStep {
    /// The step's code (`care_call`).
    pub code: String,
    /// What screens show.
    pub label: String,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// How many days before the expiry day the step is due.
    pub days_before: u32,
    /// What the agent does.
    pub action: String,
    /// The contact that performs the step (a call, an SMS); none for a step that is not a
    /// contact (reassign).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ContactKind>,
    /// The SMS template to send, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// Whether reaching this step unrenewed means handing the customer to another person.
    #[serde(default)]
    pub reassign: bool,
    /// A step taken only if the previous step failed ("a fourth call if the third failed").
    #[serde(default)]
    pub only_if_previous_failed: bool,
    /// Outcome codes that make this step a success (so a following conditional step is
    /// skipped). Any other outcome, or none, is a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub success_outcomes: Vec<String>,
}

/// The step of a cadence a policy has reached on a given day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CadenceDue<'a> {
    /// The step.
    pub step: &'a CadenceStep,
    /// The step's position in [`Cadence::steps`].
    pub index: usize,
    /// The day it is due (expiry − `days_before`).
    pub day: NaiveDate,
}

impl CadenceDue<'_> {
    /// Days since the step was due (0 on the day itself).
    pub fn overdue_days(&self, date: NaiveDate) -> i64 {
        (date - self.day).num_days()
    }

    /// Whether the step is the hand-over to another person.
    pub fn is_reassign(&self) -> bool {
        self.step.reassign
    }
}

/// How a month is divided into work cycles: the "week" of week targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkCycle {
    /// Weeks of the month: days 1–7, 8–14, 15–21, 22 to the end.
    #[default]
    Week,
    /// Ten-day cycles (旬): days 1–10, 11–20, 21 to the end.
    TenDays,
}

impl WorkCycle {
    /// The cycle a day falls in, from 1.
    pub fn number(self, date: NaiveDate) -> u32 {
        let (len, count) = self.shape();
        ((date.day() - 1) / len + 1).min(count)
    }

    /// How many cycles a month has (4 weeks, 3 ten-day cycles).
    pub fn count(self) -> u32 {
        self.shape().1
    }

    /// The first and last day of the cycle a day falls in.
    pub fn bounds(self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let (len, count) = self.shape();
        let n = self.number(date);
        let first = date.with_day((n - 1) * len + 1).unwrap_or(date);
        let last = if n == count {
            month_last(date)
        } else {
            date.with_day(n * len).unwrap_or(date)
        };
        (first, last)
    }

    fn shape(self) -> (u32, u32) {
        match self {
            WorkCycle::Week => (7, 4),
            WorkCycle::TenDays => (10, 3),
        }
    }
}

/// The week of the month a day falls in: days 1–7 are week 1, 8–14 week 2, 15–21 week 3 and
/// 22 to the end of the month week 4.
pub fn week_of_month(date: NaiveDate) -> u32 {
    WorkCycle::Week.number(date)
}

/// When the team works: the cycle of week targets and the working days of the daily standard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// How the month is divided for week targets.
    #[serde(default)]
    pub cycle: WorkCycle,
    /// The days the daily standard applies ("healthy" agents met it on each of them).
    #[serde(default = "monday_to_saturday")]
    pub working_days: Vec<Weekday>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            cycle: WorkCycle::Week,
            working_days: monday_to_saturday(),
        }
    }
}

impl Schedule {
    /// Whether the daily standard applies on this day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.working_days.contains(&date.weekday())
    }
}

fn monday_to_saturday() -> Vec<Weekday> {
    vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
    ]
}

impl Calendar {
    /// The policy's phase on `date` (see [`Phase`]).
    pub fn phase(&self, policy: &Policy, date: NaiveDate) -> Phase {
        let due = policy.due_date;
        let start = match self {
            Calendar::None => NaiveDate::MIN,
            Calendar::Monthly(m) => m.cycle_start(due),
            Calendar::Cadence(c) => c.window_start(due),
        };
        if let Some(paid) = policy.paid_on {
            if paid >= start && paid <= date {
                return if month_index(paid) == month_index(date) {
                    Phase::Received
                } else {
                    Phase::Settled
                };
            }
        }
        match self {
            Calendar::None => Phase::NotYet,
            Calendar::Monthly(m) => m.unpaid_phase(due, date),
            Calendar::Cadence(c) => {
                if date < c.window_start(due) {
                    Phase::NotYet
                } else if date <= due {
                    Phase::Due
                } else {
                    Phase::Lapsed
                }
            }
        }
    }

    /// The last day of the phase an unpaid in-play policy is in on `date`: the end of the
    /// month, or the grace end if sooner (for a cadence: the expiry day).
    pub fn phase_end(&self, policy: &Policy, date: NaiveDate) -> NaiveDate {
        match self {
            Calendar::None => date,
            Calendar::Monthly(m) => month_last(date).min(m.grace_end(policy.due_date)),
            Calendar::Cadence(_) => policy.due_date,
        }
    }

    /// The monthly calendar, if the team has one.
    pub fn monthly(&self) -> Option<&MonthlyCalendar> {
        match self {
            Calendar::Monthly(m) => Some(m),
            _ => None,
        }
    }

    /// The cadence, if the team has one.
    pub fn cadence(&self) -> Option<&Cadence> {
        match self {
            Calendar::Cadence(c) => Some(c),
            _ => None,
        }
    }
}

impl MonthlyCalendar {
    /// The last day of the grace period: due date + grace days (15 June + 60 → 14 August).
    pub fn grace_end(&self, due: NaiveDate) -> NaiveDate {
        add_days(due, i64::from(self.grace_days))
    }

    /// The first day of the cycle: the first of the cross month.
    pub fn cycle_start(&self, due: NaiveDate) -> NaiveDate {
        month_first(month_index(due) - 2)
    }

    /// The phase of an unpaid policy on `date`, ignoring any payment.
    pub fn unpaid_phase(&self, due: NaiveDate, date: NaiveDate) -> Phase {
        if date > self.grace_end(due) {
            Phase::Lapsed
        } else {
            self.month_role(due, date)
        }
    }

    /// The role the month of `date` plays for a policy due on `due`, whatever the day and the
    /// payment: the pool a collection rate of that month counts the policy in. A policy whose
    /// grace ended earlier in its final month is still in the final month's pool.
    pub fn month_role(&self, due: NaiveDate, date: NaiveDate) -> Phase {
        let m = month_index(date);
        let due_m = month_index(due);
        let end_m = month_index(self.grace_end(due));
        if m == due_m {
            Phase::Due
        } else if m < due_m {
            match due_m - m {
                1 => Phase::Receivable,
                2 => Phase::Cross,
                _ => Phase::NotYet,
            }
        } else if m == end_m {
            Phase::Final
        } else if m < end_m {
            Phase::Transition
        } else {
            Phase::Lapsed
        }
    }

    /// The name and action of a phase, with the phase's code when the file names none.
    pub fn text(&self, phase: Phase) -> (String, String) {
        match self.phases.get(phase) {
            Some(t) if !t.label.is_empty() => (t.label.clone(), t.action.clone()),
            Some(t) => (phase.code().to_string(), t.action.clone()),
            None => (phase.code().to_string(), String::new()),
        }
    }
}

impl Cadence {
    /// The day a step is due for a policy expiring on `expiry`.
    pub fn step_day(step: &CadenceStep, expiry: NaiveDate) -> NaiveDate {
        add_days(expiry, -i64::from(step.days_before))
    }

    /// The first day of the window: the earliest step's day (the expiry day without steps).
    pub fn window_start(&self, expiry: NaiveDate) -> NaiveDate {
        self.steps
            .iter()
            .map(|s| Self::step_day(s, expiry))
            .min()
            .unwrap_or(expiry)
    }

    /// The step reached on `date`: the latest step whose day is on or before `date`, while the
    /// policy has not expired. Whether it was done is for the caller to decide from contacts.
    pub fn step_on(&self, expiry: NaiveDate, date: NaiveDate) -> Option<CadenceDue<'_>> {
        if date > expiry {
            return None;
        }
        self.steps
            .iter()
            .enumerate()
            .map(|(index, step)| CadenceDue {
                step,
                index,
                day: Self::step_day(step, expiry),
            })
            .filter(|d| d.day <= date)
            .max_by_key(|d| (d.day, std::cmp::Reverse(d.index)))
    }

    /// The step before `due` (the one due earlier), if any.
    pub fn previous(&self, due: &CadenceDue<'_>, expiry: NaiveDate) -> Option<CadenceDue<'_>> {
        self.steps
            .iter()
            .enumerate()
            .map(|(index, step)| CadenceDue {
                step,
                index,
                day: Self::step_day(step, expiry),
            })
            .filter(|d| d.day < due.day)
            .max_by_key(|d| d.day)
    }

    /// The days a contact counts for a step: from the step's day up to (not including) the
    /// next step's day, or up to the expiry day for the last step. A call made before a step's
    /// day belongs to the step before.
    pub fn step_window(&self, due: &CadenceDue<'_>, expiry: NaiveDate) -> (NaiveDate, NaiveDate) {
        let next = self
            .steps
            .iter()
            .map(|s| Self::step_day(s, expiry))
            .filter(|d| *d > due.day)
            .min();
        match next {
            Some(n) => (due.day, add_days(n, -1)),
            None => (due.day, expiry),
        }
    }
}

/// The file shape of `[calendar]`: one flat table, turned into [`Calendar`] and checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    kind: CalendarKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grace_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phases: Option<PhaseTexts>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    steps: Vec<CadenceStep>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CalendarKind {
    None,
    Monthly,
    Cadence,
}

impl TryFrom<CalendarFile> for Calendar {
    type Error = String;

    fn try_from(f: CalendarFile) -> Result<Self, String> {
        match f.kind {
            CalendarKind::None => {
                if f.grace_days.is_some() || f.phases.is_some() || !f.steps.is_empty() {
                    return Err(
                        "a calendar of kind `none` takes no grace_days, phases or steps"
                            .to_string(),
                    );
                }
                Ok(Calendar::None)
            }
            CalendarKind::Monthly => {
                if !f.steps.is_empty() {
                    return Err(
                        "a monthly calendar takes no steps (steps are for `cadence`)".to_string(),
                    );
                }
                let grace_days = f
                    .grace_days
                    .ok_or_else(|| "a monthly calendar needs `grace_days`".to_string())?;
                Ok(Calendar::Monthly(MonthlyCalendar {
                    grace_days,
                    phases: f.phases.unwrap_or_default(),
                }))
            }
            CalendarKind::Cadence => {
                if f.grace_days.is_some() || f.phases.is_some() {
                    return Err(
                        "a cadence calendar takes steps, not grace_days or phases".to_string()
                    );
                }
                if f.steps.is_empty() {
                    return Err("a cadence calendar needs at least one step".to_string());
                }
                let mut steps = f.steps;
                steps.sort_by_key(|s| std::cmp::Reverse(s.days_before));
                Ok(Calendar::Cadence(Cadence { steps }))
            }
        }
    }
}

impl From<Calendar> for CalendarFile {
    fn from(c: Calendar) -> Self {
        match c {
            Calendar::None => CalendarFile {
                kind: CalendarKind::None,
                grace_days: None,
                phases: None,
                steps: Vec::new(),
            },
            Calendar::Monthly(m) => CalendarFile {
                kind: CalendarKind::Monthly,
                grace_days: Some(m.grace_days),
                phases: Some(m.phases),
                steps: Vec::new(),
            },
            Calendar::Cadence(c) => CalendarFile {
                kind: CalendarKind::Cadence,
                grace_days: None,
                phases: None,
                steps: c.steps,
            },
        }
    }
}

/// The day a birthday is celebrated in `year`: a 29 February birthday falls on 28 February in
/// a year without one.
pub(crate) fn birthday_in(birthday: NaiveDate, year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, birthday.month(), birthday.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, birthday.month(), birthday.day() - 1))
        .unwrap_or(birthday)
}

/// The first celebration of a birthday on or after `date`.
pub(crate) fn next_birthday(birthday: NaiveDate, date: NaiveDate) -> NaiveDate {
    let this_year = birthday_in(birthday, date.year());
    if this_year >= date {
        this_year
    } else {
        birthday_in(birthday, date.year() + 1)
    }
}

/// Months since year 0, so that month arithmetic crosses years.
pub(crate) fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// The first day of a month given by [`month_index`].
pub(crate) fn month_first(index: i32) -> NaiveDate {
    let (y, m) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(if index < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

/// The first day of the month of `d`.
pub(crate) fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The last day of the month of `d`.
pub(crate) fn month_last(d: NaiveDate) -> NaiveDate {
    month_first(month_index(d) + 1).pred_opt().unwrap_or(d)
}

/// `d` plus `n` days, saturating at the ends of the calendar instead of panicking.
pub(crate) fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    let r = if n >= 0 {
        d.checked_add_days(Days::new(n.unsigned_abs()))
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs()))
    };
    r.unwrap_or(if n >= 0 {
        NaiveDate::MAX
    } else {
        NaiveDate::MIN
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::playbook::testing::{d, policy};
    use crate::playbook::Playbook;

    fn monthly(grace_days: u32) -> Calendar {
        Calendar::Monthly(MonthlyCalendar {
            grace_days,
            phases: PhaseTexts::default(),
        })
    }

    #[test]
    fn a_policy_due_15_june_walks_through_five_months() {
        let cal = Playbook::insurance().calendar;
        let p = policy(d(2026, 6, 15));
        let table = [
            (d(2026, 3, 31), Phase::NotYet),
            (d(2026, 4, 1), Phase::Cross),
            (d(2026, 4, 30), Phase::Cross),
            (d(2026, 5, 1), Phase::Receivable),
            (d(2026, 5, 31), Phase::Receivable),
            (d(2026, 6, 1), Phase::Due),
            (d(2026, 6, 15), Phase::Due),
            (d(2026, 6, 30), Phase::Due),
            (d(2026, 7, 1), Phase::Transition),
            (d(2026, 7, 31), Phase::Transition),
            (d(2026, 8, 1), Phase::Final),
            (d(2026, 8, 14), Phase::Final),
            (d(2026, 8, 15), Phase::Lapsed),
            (d(2027, 1, 1), Phase::Lapsed),
        ];
        for (date, want) in table {
            assert_eq!(cal.phase(&p, date), want, "on {date}");
        }
        let m = cal.monthly().expect("insurance has a monthly calendar");
        assert_eq!(m.grace_end(p.due_date), d(2026, 8, 14));
    }

    #[test]
    fn payment_turns_the_month_into_the_actual_received_month() {
        let cal = monthly(60);
        let mut p = policy(d(2026, 6, 15));
        p.paid_on = Some(d(2026, 6, 10));
        let table = [
            (d(2026, 6, 9), Phase::Due),
            (d(2026, 6, 10), Phase::Received),
            (d(2026, 6, 30), Phase::Received),
            (d(2026, 7, 1), Phase::Settled),
            (d(2026, 9, 1), Phase::Settled),
        ];
        for (date, want) in table {
            assert_eq!(cal.phase(&p, date), want, "on {date}");
        }
        // A payment of the previous cycle does not settle this one.
        p.paid_on = Some(d(2025, 6, 12));
        assert_eq!(cal.phase(&p, d(2026, 6, 20)), Phase::Due);
        // Paid late in the grace period, after the final month began.
        p.paid_on = Some(d(2026, 8, 3));
        assert_eq!(cal.phase(&p, d(2026, 8, 20)), Phase::Received);
    }

    #[test]
    fn several_transition_months_with_a_long_grace_and_none_with_a_short_one() {
        let p = policy(d(2026, 1, 31));
        let long = monthly(90); // grace ends 1 May
        assert_eq!(long.phase(&p, d(2026, 2, 10)), Phase::Transition);
        assert_eq!(long.phase(&p, d(2026, 3, 10)), Phase::Transition);
        assert_eq!(long.phase(&p, d(2026, 4, 10)), Phase::Transition);
        assert_eq!(long.phase(&p, d(2026, 5, 1)), Phase::Final);
        assert_eq!(long.phase(&p, d(2026, 5, 2)), Phase::Lapsed);
        // Cross month in the previous year.
        assert_eq!(long.phase(&p, d(2025, 11, 5)), Phase::Cross);
        let short = monthly(10); // grace ends 10 February
        assert_eq!(short.phase(&p, d(2026, 1, 31)), Phase::Due);
        assert_eq!(short.phase(&p, d(2026, 2, 10)), Phase::Final);
        assert_eq!(short.phase(&p, d(2026, 2, 11)), Phase::Lapsed);
        let none = monthly(0);
        assert_eq!(none.phase(&p, d(2026, 2, 1)), Phase::Lapsed);
    }

    #[test]
    fn weeks_and_ten_day_cycles_of_the_month() {
        let table = [
            (1, 1, 1),
            (7, 1, 1),
            (8, 2, 1),
            (10, 2, 1),
            (11, 2, 2),
            (14, 2, 2),
            (15, 3, 2),
            (21, 3, 3),
            (22, 4, 3),
            (31, 4, 3),
        ];
        for (day, week, ten) in table {
            let date = d(2026, 7, day);
            assert_eq!(week_of_month(date), week, "week of {date}");
            assert_eq!(
                WorkCycle::TenDays.number(date),
                ten,
                "ten-day cycle of {date}"
            );
        }
        assert_eq!(
            WorkCycle::Week.bounds(d(2026, 2, 23)),
            (d(2026, 2, 22), d(2026, 2, 28))
        );
        assert_eq!(
            WorkCycle::TenDays.bounds(d(2026, 7, 12)),
            (d(2026, 7, 11), d(2026, 7, 20))
        );
    }

    #[test]
    fn cadence_step_reached_on_a_day() {
        let pb = crate::playbook::testing::car();
        let cad = pb.calendar.cadence().expect("car has a cadence");
        let expiry = d(2026, 9, 30);
        let at = |days_before: u64| expiry - Days::new(days_before);
        let table = [
            (91, None),
            (90, Some(("pull_list", 0))),
            (66, Some(("pull_list", 24))),
            (65, Some(("care_call", 0))),
            (60, Some(("care_call", 5))),
            (50, Some(("follow_up", 0))),
            (35, Some(("offer", 0))),
            (25, Some(("fourth_call", 0))),
            (15, Some(("reassign", 0))),
            (0, Some(("reassign", 15))),
        ];
        for (before, want) in table {
            let date = at(before);
            let got = cad
                .step_on(expiry, date)
                .map(|s| (s.step.code.as_str(), s.overdue_days(date)));
            assert_eq!(got, want, "D-{before}");
        }
        assert!(cad.step_on(expiry, at(15)).is_some_and(|s| s.is_reassign()));
        assert!(cad
            .step_on(expiry, at(35))
            .is_some_and(|s| !s.is_reassign()));
        assert!(cad.step_on(expiry, expiry + Days::new(1)).is_none());
        let offer = cad.step_on(expiry, at(35)).expect("offer step");
        assert_eq!(cad.step_window(&offer, expiry), (at(35), at(26)));
        assert_eq!(pb.calendar.phase(&policy(expiry), at(91)), Phase::NotYet);
        assert_eq!(pb.calendar.phase(&policy(expiry), at(90)), Phase::Due);
        assert_eq!(pb.calendar.phase(&policy(expiry), at(0)), Phase::Due);
        assert_eq!(
            pb.calendar.phase(&policy(expiry), expiry + Days::new(1)),
            Phase::Lapsed
        );
    }

    fn rank(p: Phase) -> u8 {
        match p {
            Phase::NotYet => 0,
            Phase::Cross => 1,
            Phase::Receivable => 2,
            Phase::Due => 3,
            Phase::Transition => 4,
            Phase::Final => 5,
            Phase::Lapsed => 6,
            Phase::Received | Phase::Settled => 7,
        }
    }

    proptest! {
        #[test]
        fn unpaid_phases_only_move_forward(
            due_offset in 0i64..3000,
            grace in 0u32..200,
            start_offset in -400i64..0,
        ) {
            let cal = monthly(grace);
            let due = add_days(d(2020, 1, 1), due_offset);
            let p = policy(due);
            let mut last = 0;
            for i in 0..(400 + i64::from(grace) + 40) {
                let date = add_days(due, start_offset + i);
                let r = rank(cal.phase(&p, date));
                prop_assert!(r >= last, "phase went back on {}", date);
                last = r;
            }
            prop_assert_eq!(cal.phase(&p, due), Phase::Due);
        }
    }
}
