//! What the playbook computes, as the apps see it: today's standards (311, 10-3-1, the seven
//! things), week and month progress, reminders and the service-routine lists.
//!
//! Mirrors of `client_core::playbook`'s results, converted field for field. The playbook's
//! own vocabulary (metrics, renewal phases, tiers) stays as the codes the playbook files use,
//! so a team's new playbook needs no new bindings.

use client_core::playbook as pb;

use crate::records::{mirror_enum, PolicyStatus};
use crate::scalars::{code, texts};

use pb::{
    HouseholdBy as CoreHouseholdBy, ReminderKind as CoreReminderKind, Urgency as CoreUrgency,
};

/// A daily count against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DailyCount {
    /// What was done.
    pub actual: u32,
    /// What the standard asks.
    pub target: u32,
    /// Whether `actual` reaches `target`.
    pub met: bool,
}

impl From<pb::DailyCount> for DailyCount {
    fn from(c: pb::DailyCount) -> Self {
        DailyCount {
            actual: c.actual,
            target: c.target,
            met: c.met,
        }
    }
}

/// The "seven things a day" of the home screen, as counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SevenThings {
    /// Reminders for the agent's customers.
    pub reminders: u64,
    /// The agent's customers with a policy in play.
    pub in_play_customers: u64,
    /// SMS sent today.
    pub sms_sent: u64,
    /// Payment reminders (催缴) by call or SMS today.
    pub payment_reminders: u64,
    /// Collection visits today.
    pub collection_visits: u64,
    /// Service visits today.
    pub service_visits: u64,
    /// Sales visits today.
    pub sales_visits: u64,
}

impl From<pb::SevenThings> for SevenThings {
    fn from(s: pb::SevenThings) -> Self {
        SevenThings {
            reminders: s.reminders as u64,
            in_play_customers: s.in_play_customers as u64,
            sms_sent: s.sms_sent as u64,
            payment_reminders: s.payment_reminders as u64,
            collection_visits: s.collection_visits as u64,
            service_visits: s.service_visits as u64,
            sales_visits: s.sales_visits as u64,
        }
    }
}

/// One target against what was done.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Progress {
    /// What is counted (the playbook's metric code, e.g. `effective_visits`).
    pub metric: String,
    /// What screens call the target.
    pub label: String,
    /// The number to reach.
    pub target: f64,
    /// What was done.
    pub actual: f64,
    /// Whether `actual` reaches `target`.
    pub met: bool,
    /// `met`, `missed` or `n/a` (a rate over an empty pool: neither met nor missed).
    pub standing: String,
    /// `actual` as a percentage of `target`.
    pub percent: f64,
    /// The tier reached (`basic`, `good`, `excellent`), for a target with tiers.
    pub tier: Option<String>,
    /// The renewal month the target is about (`transition`, `due`…), for a collection rate.
    pub phase: Option<String>,
}

impl From<pb::Progress> for Progress {
    fn from(p: pb::Progress) -> Self {
        Progress {
            metric: code(&p.metric),
            label: p.label,
            target: p.target,
            actual: p.actual,
            met: p.met,
            standing: p.standing.code().to_string(),
            percent: p.percent,
            tier: p.tier.map(|t| code(&t)),
            phase: p.phase.map(|ph| code(&ph)),
        }
    }
}

/// An agent's day against the daily standard.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct TodayStatus {
    /// Whose day.
    pub agent: String,
    /// Which day (YYYY-MM-DD).
    pub date: String,
    /// Whether the standard applies today (a working day).
    pub working_day: bool,
    /// Effective visits against the target (311's 3).
    pub effective_visits: DailyCount,
    /// Whether the work log is written.
    pub work_log: bool,
    /// Whether the evening report is submitted.
    pub evening_report: bool,
    /// Whether 311 is met.
    pub met_311: bool,
    /// Calls against the target (10-3-1's 10).
    pub calls: DailyCount,
    /// Meetings against the target (10-3-1's 3).
    pub meetings: DailyCount,
    /// Results against the target (10-3-1's 1).
    pub results: DailyCount,
    /// Whether 10-3-1 is met.
    pub met_10_3_1: bool,
    /// The seven things a day.
    pub seven_things: SevenThings,
    /// The playbook's other day targets.
    pub targets: Vec<Progress>,
}

impl From<pb::TodayStatus> for TodayStatus {
    fn from(t: pb::TodayStatus) -> Self {
        TodayStatus {
            agent: t.agent.to_string(),
            date: t.date.to_string(),
            working_day: t.working_day,
            effective_visits: t.effective_visits.into(),
            work_log: t.work_log,
            evening_report: t.evening_report,
            met_311: t.met_311,
            calls: t.calls.into(),
            meetings: t.meetings.into(),
            results: t.results.into(),
            met_10_3_1: t.met_10_3_1,
            seven_things: t.seven_things.into(),
            targets: t.targets.into_iter().map(Into::into).collect(),
        }
    }
}

/// An agent's progress against the targets of a week (work cycle) or a month.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PeriodProgress {
    /// Whose progress.
    pub agent: String,
    /// The period's first day (YYYY-MM-DD).
    pub first_day: String,
    /// The day asked about: the period so far (YYYY-MM-DD).
    pub last_day: String,
    /// The week (work cycle) of the month, for week progress.
    pub week: Option<u32>,
    /// Each target of the period.
    pub targets: Vec<Progress>,
    /// Whether every target is met.
    pub all_met: bool,
}

impl From<pb::PeriodProgress> for PeriodProgress {
    fn from(p: pb::PeriodProgress) -> Self {
        PeriodProgress {
            agent: p.agent.to_string(),
            first_day: p.from.to_string(),
            last_day: p.to.to_string(),
            week: p.week,
            targets: p.targets.into_iter().map(Into::into).collect(),
            all_met: p.all_met,
        }
    }
}

mirror_enum!(
    /// What a reminder is about.
    ReminderKind = CoreReminderKind {
        /// A bank deduction failed: call the customer the same week.
        FailedDeduction,
        /// A car renewal reached its reassign step unrenewed.
        Reassign,
        /// A car renewal step is due or overdue.
        CadenceStep,
        /// An unpaid policy's job for its renewal month.
        Renewal,
        /// A receipt and invoice to deliver for a policy paid this month.
        Receipt,
        /// A customer with an orphan policy not yet called this month.
        Orphan,
        /// A birthday within the lead days.
        Birthday,
        /// A sales visit that did not close, some days ago: send the follow-up SMS.
        FollowUp,
    }
);

mirror_enum!(
    /// How soon a reminder is due: the day's list is read in this order.
    Urgency = CoreUrgency {
        /// Due before the day.
        Overdue,
        /// Due on the day.
        Today,
        /// Due within seven days.
        ThisWeek,
        /// Due later.
        Later,
    }
);

/// One thing to do for one customer.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Reminder {
    /// What it is about.
    pub kind: ReminderKind,
    /// The day it is due (earlier than today: overdue).
    pub due: String,
    /// The customer.
    pub customer: String,
    /// The customer's name.
    pub customer_name: String,
    /// The agent the customer is assigned to.
    pub agent: Option<String>,
    /// The policy concerned (the first of `policies`).
    pub policy: Option<String>,
    /// Every policy concerned (a renewal month's reminder gathers the customer's policies).
    pub policies: Vec<String>,
    /// How soon it is due.
    pub urgency: Urgency,
    /// The policy's renewal phase code, for a renewal reminder.
    pub phase: Option<String>,
    /// The cadence step's code, for a car-renewal step.
    pub step: Option<String>,
    /// The SMS template suggested.
    pub sms: Option<String>,
    /// What to do, in words.
    pub message: String,
}

impl From<pb::Reminder> for Reminder {
    fn from(r: pb::Reminder) -> Self {
        Reminder {
            kind: r.kind.into(),
            due: r.due.to_string(),
            customer: r.customer.to_string(),
            customer_name: r.customer_name,
            agent: r.agent.map(|a| a.to_string()),
            policy: r.policy.map(|p| p.to_string()),
            policies: texts(&r.policies),
            urgency: r.urgency.into(),
            phase: r.phase.map(|p| code(&p)),
            step: r.step,
            sms: r.sms,
            message: r.message,
        }
    }
}

/// A policy on a list.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PolicyLine {
    /// The policy.
    pub policy: String,
    /// Its number.
    pub number: String,
    /// Its product.
    pub product: String,
    /// Premium in minor units.
    pub premium_cents: i64,
    /// Its due date (YYYY-MM-DD).
    pub due_date: String,
    /// Its status.
    pub status: PolicyStatus,
    /// Its renewal phase code on the day.
    pub phase: String,
    /// Its riders (附加险).
    pub riders: Vec<String>,
}

impl From<pb::PolicyLine> for PolicyLine {
    fn from(p: pb::PolicyLine) -> Self {
        PolicyLine {
            policy: p.policy.to_string(),
            number: p.number,
            product: p.product,
            premium_cents: p.premium_cents,
            due_date: p.due_date.to_string(),
            status: p.status.into(),
            phase: code(&p.phase),
            riders: p.riders,
        }
    }
}

/// A customer on a list, with the policies that put them there.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ListEntry {
    /// The customer.
    pub customer: String,
    /// The customer's name.
    pub name: String,
    /// Phone numbers, for the phoning round.
    pub phones: Vec<String>,
    /// Street address, for the route.
    pub address: Option<String>,
    /// The policies concerned.
    pub policies: Vec<PolicyLine>,
}

impl From<pb::ListEntry> for ListEntry {
    fn from(e: pb::ListEntry) -> Self {
        ListEntry {
            customer: e.customer.to_string(),
            name: e.name,
            phones: e.phones,
            address: e.address,
            policies: e.policies.into_iter().map(Into::into).collect(),
        }
    }
}

mirror_enum!(
    /// What a household is recognised by.
    HouseholdBy = CoreHouseholdBy {
        /// The same policyholder (投保人).
        Policyholder,
        /// The same insured (被保险人).
        Insured,
    }
);

/// Several policies of one person: review them together.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Household {
    /// Whether the policies share their policyholder or their insured.
    pub shared_by: HouseholdBy,
    /// The shared name.
    pub name: String,
    /// The customers whose documents hold the policies.
    pub customers: Vec<String>,
    /// The policies.
    pub policies: Vec<PolicyLine>,
}

impl From<pb::Household> for Household {
    fn from(h: pb::Household) -> Self {
        Household {
            shared_by: h.by.into(),
            name: h.name,
            customers: texts(&h.customers),
            policies: h.policies.into_iter().map(Into::into).collect(),
        }
    }
}

/// The service-routine lists of one postcode.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PostcodeGroup {
    /// The postcode; absent for the customers with none.
    pub postcode: Option<String>,
    /// Customers with a policy in play on the day.
    pub in_play: Vec<ListEntry>,
    /// Customers with a large premium.
    pub large_premiums: Vec<ListEntry>,
    /// Several policies with the same policyholder or insured.
    pub households: Vec<Household>,
    /// Customers with a policy carrying riders (附加险).
    pub riders: Vec<ListEntry>,
    /// Customers with a difficult policy (疑难单).
    pub difficult: Vec<ListEntry>,
    /// Customers with an exited policy (退出单): surrender asked or lapsed.
    pub exited: Vec<ListEntry>,
    /// Customers with a dead policy (死单).
    pub dead: Vec<ListEntry>,
    /// Customers with an orphan policy (孤儿保单).
    pub orphan: Vec<ListEntry>,
}

impl From<pb::PostcodeGroup> for PostcodeGroup {
    fn from(g: pb::PostcodeGroup) -> Self {
        let entries = |v: Vec<pb::ListEntry>| v.into_iter().map(Into::into).collect();
        PostcodeGroup {
            postcode: g.postcode,
            in_play: entries(g.in_play),
            large_premiums: entries(g.large_premiums),
            households: g.households.into_iter().map(Into::into).collect(),
            riders: entries(g.riders),
            difficult: entries(g.difficult),
            exited: entries(g.exited),
            dead: entries(g.dead),
            orphan: entries(g.orphan),
        }
    }
}
