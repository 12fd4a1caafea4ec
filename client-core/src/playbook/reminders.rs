//! Reminders: what the agent should not forget today, from the playbook's calendars and
//! cadences.
//!
//! "Read reminders" is the first of the seven things a day. A reminder is computed, never
//! stored: birthdays within the lead days, each customer's job for the renewal month their
//! unpaid policies are in, a failed deduction to call this week, a car-renewal step due or
//! overdue, a renewal to hand over, an orphan customer to call, a receipt to deliver, a
//! follow-up SMS after a sales visit that did not close. Once the work is recorded (the call,
//! visit, SMS or delivery it asks for) the reminder disappears by itself: every kind says
//! which record clears it. The day's list comes most urgent first ([`Urgency`]).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::calendar::{
    add_days, month_last, month_start, next_birthday, Cadence, CadenceDue, Phase,
};
use super::facts::{contact_date, failed_deduction, visit_date, Facts};
use super::vocabulary::Category;
use super::{Playbook, WorkingSet};
use crate::ids::{CustomerId, PolicyId, UserId};
use crate::model::{ContactKind, Customer, Policy, PolicyStatus};

/// What a reminder is about; reminders of the same day sort in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// A bank deduction failed: call the customer the same week.
    FailedDeduction,
    /// A car renewal reached its reassign step unrenewed: hand it to another person (clears
    /// once someone calls or meets the owner from that day on).
    Reassign,
    /// A car renewal step is due or overdue.
    CadenceStep,
    /// The job of a customer's unpaid policies in one renewal month (cross, receivable, due,
    /// transition, final).
    Renewal,
    /// A policy paid this month whose receipt and invoice are still to deliver.
    Receipt,
    /// A customer with an orphan policy not yet called this month.
    Orphan,
    /// A birthday within the lead days.
    Birthday,
    /// A sales visit that did not close, some days ago: send the follow-up SMS.
    FollowUp,
}

/// How soon a reminder is due, relative to the day asked about: the day's list is read in
/// this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Due before the day: late.
    Overdue,
    /// Due on the day.
    Today,
    /// Due within the next seven days.
    ThisWeek,
    /// Due later than that (a renewal month's job due at the month's end…).
    Later,
}

impl Urgency {
    /// The urgency of something due on `due`, seen on `date`.
    pub fn of(due: NaiveDate, date: NaiveDate) -> Urgency {
        let days = (due - date).num_days();
        if days < 0 {
            Urgency::Overdue
        } else if days == 0 {
            Urgency::Today
        } else if days <= 7 {
            Urgency::ThisWeek
        } else {
            Urgency::Later
        }
    }
}

/// One thing to do for one customer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reminder {
    /// What it is about.
    pub kind: ReminderKind,
    /// The day it is due (earlier than today: overdue).
    pub due: NaiveDate,
    /// The customer.
    pub customer: CustomerId,
    /// The customer's name.
    pub customer_name: String,
    /// The agent the customer is assigned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<UserId>,
    /// The policy concerned, if any (the first of `policies`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyId>,
    /// Every policy concerned: a renewal month's reminder gathers the customer's policies in
    /// that month.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyId>,
    /// How soon it is due, for grouping the day's list.
    pub urgency: Urgency,
    /// The policy's phase, for a renewal reminder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The cadence step's code, for a car-renewal step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The SMS template suggested, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// What to do, in words.
    pub message: String,
}

/// Everything to remind on `date`, for every customer of the working set, most urgent first:
/// sorted by due day (overdue, today, this week, later: see [`Urgency`]), kind, customer
/// name, customer id, policy id and step. What was done is not listed: each reminder clears
/// once the call, visit, SMS or delivery it asks for is recorded.
///
/// Policies whose customer is not in the working set are ignored.
pub fn reminders(pb: &Playbook, date: NaiveDate, ws: &WorkingSet) -> Vec<Reminder> {
    reminders_in(&Facts::new(pb, ws), date)
}

pub(crate) fn reminders_in(f: &Facts<'_>, date: NaiveDate) -> Vec<Reminder> {
    let mut out = reminders_of(f, f.customers(), date);
    sort(&mut out);
    out
}

/// [`reminders_in`] with the customers split between this thread and a second one (a
/// manager's team has thousands; the reminders of one customer are independent of the
/// others').
pub(crate) fn reminders_on_two_threads(f: &Facts<'_>, date: NaiveDate) -> Vec<Reminder> {
    let customers: Vec<&Customer> = f.customers().collect();
    let (first, second) = customers.split_at(customers.len() / 2);
    let mut out = std::thread::scope(|s| {
        let other = s.spawn(|| reminders_of(f, first.iter().copied(), date));
        let mut mine = reminders_of(f, second.iter().copied(), date);
        let mut out = other
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // In customer order, as on one thread, so that the stable sort orders equal keys alike.
        out.append(&mut mine);
        out
    });
    sort(&mut out);
    out
}

/// The reminders of some customers, unsorted.
fn reminders_of<'c>(
    f: &Facts<'_>,
    customers: impl Iterator<Item = &'c Customer>,
    date: NaiveDate,
) -> Vec<Reminder> {
    let mut out = Vec::new();
    for c in customers {
        out.extend(birthday(f, c, date));
        out.extend(follow_up(f, c, date));
        out.extend(orphan(f, c, date));
        out.extend(renewals(f, c, date));
        for p in f.policies_of(c.id) {
            out.extend(cadence(f, c, p, date));
            out.extend(failed(f, c, p, date));
        }
    }
    for r in &mut out {
        r.urgency = Urgency::of(r.due, date);
    }
    out
}

/// Reminders by due date, kind, customer, policy and step.
fn sort(out: &mut [Reminder]) {
    out.sort_by(|a, b| {
        (
            a.due,
            a.kind,
            &a.customer_name,
            a.customer,
            a.policy,
            &a.step,
        )
            .cmp(&(
                b.due,
                b.kind,
                &b.customer_name,
                b.customer,
                b.policy,
                &b.step,
            ))
    });
}

/// A reminder for a customer, without the optional fields.
fn reminder(
    c: &Customer,
    kind: ReminderKind,
    due: NaiveDate,
    policy: Option<&Policy>,
    message: String,
) -> Reminder {
    Reminder {
        kind,
        due,
        customer: c.id,
        customer_name: c.name.clone(),
        agent: c.agent.clone(),
        policy: policy.map(|p| p.id),
        policies: policy.map(|p| p.id).into_iter().collect(),
        urgency: Urgency::Later,
        phase: None,
        step: None,
        sms: None,
        message,
    }
}

fn birthday(f: &Facts<'_>, c: &Customer, date: NaiveDate) -> Option<Reminder> {
    let settings = &f.pb.reminders;
    let born = c.birthday?;
    let next = next_birthday(born, date);
    let days = (next - date).num_days();
    if days > i64::from(settings.birthday_lead_days) {
        return None;
    }
    if let Some(purpose) = &settings.birthday_purpose {
        let from = add_days(next, -i64::from(settings.birthday_lead_days));
        let in_window = |d: NaiveDate| d >= from && d <= date;
        let greeted = f
            .customer_contacts(c.id)
            .iter()
            .any(|x| in_window(contact_date(x)) && x.purpose.as_ref() == Some(purpose))
            || f.customer_visits(c.id)
                .iter()
                .any(|v| in_window(visit_date(v)) && v.purposes.contains(purpose));
        if greeted {
            return None;
        }
    }
    let message = if days == 0 {
        format!("{}'s birthday is today: greet them", c.name)
    } else {
        format!(
            "{}'s birthday is on {next} (in {days} days): greet them",
            c.name
        )
    };
    Some(Reminder {
        sms: settings.birthday_sms.clone(),
        ..reminder(c, ReminderKind::Birthday, next, None, message)
    })
}

fn follow_up(f: &Facts<'_>, c: &Customer, date: NaiveDate) -> Option<Reminder> {
    let settings = &f.pb.reminders;
    let after = settings.follow_up_after_days?;
    let last = f
        .customer_visits(c.id)
        .iter()
        .filter(|v| visit_date(v) <= date)
        .max_by_key(|v| (v.start, v.id))?;
    let sales =
        f.pb.visit_kind(&last.kind)
            .is_some_and(|k| k.category == Category::Sales);
    // A renewal is a close (domain: December decisions): an outcome that closes or marks paid,
    // on the visit or on a call since, or a policy paid since the visit (renewed at the shop),
    // means there is no "did not close" to follow up.
    let visited = visit_date(last);
    let closed = f.closes_or_pays(last.outcome.as_ref().map(|o| o.code.as_str()))
        || f.customer_contacts(c.id)
            .iter()
            .any(|x| x.at > last.start && f.closes_or_pays(x.outcome.as_deref()))
        || f.policies_of(c.id)
            .iter()
            .any(|p| p.paid_on.is_some_and(|d| d >= visited && d <= date));
    if !sales || closed || !f.met(last) {
        return None;
    }
    let due = add_days(visited, i64::from(after));
    // A week to act on it, then the reminder is stale.
    if date < due || date > add_days(due, 6) {
        return None;
    }
    let answered = f
        .customer_contacts(c.id)
        .iter()
        .any(|x| x.at > last.start && contact_date(x) <= date);
    if answered {
        return None;
    }
    let message = format!(
        "Sales visit to {} on {} did not close: send the follow-up message",
        c.name,
        visit_date(last)
    );
    Some(Reminder {
        sms: settings.follow_up_sms.clone(),
        ..reminder(c, ReminderKind::FollowUp, due, None, message)
    })
}

fn orphan(f: &Facts<'_>, c: &Customer, date: NaiveDate) -> Option<Reminder> {
    let p = f
        .policies_of(c.id)
        .iter()
        .find(|p| p.status == PolicyStatus::Orphan)?;
    if f.called_this_month(c.id, date) || f.visited(c.id, month_start(date), date) {
        return None;
    }
    let message = format!(
        "Orphan policy {}: its agent left, call {} this month",
        p.number, c.name
    );
    Some(reminder(
        c,
        ReminderKind::Orphan,
        month_last(date),
        Some(p),
        message,
    ))
}

/// The customer's renewal jobs on `date`: one reminder per renewal month in play (the policies
/// in it together, so a household with three policies in its cross month is one line), and one
/// for the receipts still to deliver. Each disappears once its work is recorded:
/// - cross month (跨月): a call and a visit this month ("phone revisit and a visit");
/// - receivable and due months: a call or a visit this month (an SMS too in the due month, the
///   payment-reminder SMS the phase suggests);
/// - transition and final months: a call or a visit in this work cycle (week): the job comes
///   back each week until the policy is paid or lapses;
/// - actual-received month (实收月): a visit on or after the payment (receipt delivered).
fn renewals(f: &Facts<'_>, c: &Customer, date: NaiveDate) -> Vec<Reminder> {
    let Some(cal) = f.pb.calendar.monthly() else {
        return vec![];
    };
    let mut by_phase: BTreeMap<Phase, Vec<&Policy>> = BTreeMap::new();
    for p in f.policies_of(c.id) {
        let phase = f.pb.calendar.phase(p, date);
        let open = if phase.in_play() {
            true
        } else if phase == Phase::Received {
            // The receipt is delivered by a visit on or after the payment.
            p.paid_on.is_some_and(|paid| !f.visited(c.id, paid, date))
        } else {
            false
        };
        if open {
            by_phase.entry(phase).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    for (phase, policies) in by_phase {
        if phase.in_play() && renewal_done(f, c, phase, date) {
            continue;
        }
        let (label, action) = cal.text(phase);
        let sms = cal.phases.get(phase).and_then(|t| t.sms.clone());
        let numbers = policies
            .iter()
            .map(|p| {
                if phase == Phase::Received {
                    format!(
                        "{} paid on {}",
                        p.number,
                        p.paid_on.map(|d| d.to_string()).unwrap_or_default()
                    )
                } else {
                    format!("{} ({}) due {}", p.number, p.product, p.due_date)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let what = if policies.len() == 1 {
            "policy"
        } else {
            "policies"
        };
        let left = if phase == Phase::Cross {
            match (
                f.called_this_month(c.id, date),
                f.visited_this_month(c.id, date),
            ) {
                (true, false) => " (called; the visit is still to do)",
                (false, true) => " (visited; the call is still to do)",
                _ => "",
            }
        } else {
            ""
        };
        let message = format!("{label}: {what} {numbers}: {action}{left}");
        let (kind, due) = if phase == Phase::Received {
            (ReminderKind::Receipt, month_last(date))
        } else {
            let due = policies
                .iter()
                .map(|p| f.pb.calendar.phase_end(p, date))
                .min()
                .unwrap_or(date);
            // The weekly jobs of the grace months are due by the end of the work cycle.
            let due = if matches!(phase, Phase::Transition | Phase::Final) {
                due.min(f.pb.schedule.cycle.bounds(date).1)
            } else {
                due
            };
            (ReminderKind::Renewal, due)
        };
        out.push(Reminder {
            phase: Some(phase),
            sms,
            policies: policies.iter().map(|p| p.id).collect(),
            ..reminder(c, kind, due, policies.first().copied(), message)
        });
    }
    out
}

/// Whether the work a renewal month asks of a customer is recorded (see [`renewals`]).
fn renewal_done(f: &Facts<'_>, c: &Customer, phase: Phase, date: NaiveDate) -> bool {
    let month = month_start(date);
    let called = f.called_this_month(c.id, date);
    let visited = f.visited_this_month(c.id, date);
    match phase {
        Phase::Cross => called && visited,
        Phase::Receivable => called || visited,
        Phase::Due => called || visited || f.contacted(c.id, ContactKind::Sms, month, date),
        Phase::Transition | Phase::Final => {
            let from = f.pb.schedule.cycle.bounds(date).0;
            f.contacted(c.id, ContactKind::Call, from, date) || f.visited(c.id, from, date)
        }
        _ => false,
    }
}

fn failed(f: &Facts<'_>, c: &Customer, p: &Policy, date: NaiveDate) -> Option<Reminder> {
    let failed = failed_deduction(p, date)?;
    if matches!(
        f.pb.calendar.phase(p, date),
        Phase::Received | Phase::Settled
    ) || f.contacted(c.id, ContactKind::Call, failed, date)
    {
        return None;
    }
    let due = f.pb.schedule.cycle.bounds(failed).1;
    let message = format!(
        "Deduction failed on {failed} for policy {}: call {} this week",
        p.number, c.name
    );
    Some(reminder(
        c,
        ReminderKind::FailedDeduction,
        due,
        Some(p),
        message,
    ))
}

fn cadence(f: &Facts<'_>, c: &Customer, p: &Policy, date: NaiveDate) -> Option<Reminder> {
    let cad = f.pb.calendar.cadence()?;
    if f.pb.calendar.phase(p, date) != Phase::Due {
        return None;
    }
    let expiry = p.due_date;
    let mut step = cad.step_on(expiry, date)?;
    if step.step.only_if_previous_failed {
        if let Some(prev) = cad.previous(&step, expiry) {
            if step_succeeded(f, cad, &prev, c, expiry, date) {
                step = prev;
            }
        }
    }
    let overdue = step.overdue_days(date);
    let when = if overdue > 0 {
        format!("D-{}, {overdue} days overdue", step.step.days_before)
    } else {
        format!("D-{}", step.step.days_before)
    };
    if step.is_reassign() {
        // Handed over: the person who took the renewal over has called or met the owner since
        // the reassign day.
        let (from, to) = (step.day, date);
        if f.contacted(c.id, ContactKind::Call, from, to) || f.visited(c.id, from, to) {
            return None;
        }
        let message = format!(
            "{} ({when}): policy {} expiring {expiry} is not renewed: {}",
            step.step.label, p.number, step.step.action
        );
        return Some(Reminder {
            step: Some(step.step.code.clone()),
            ..reminder(c, ReminderKind::Reassign, step.day, Some(p), message)
        });
    }
    if step_done(f, cad, &step, c, expiry, date) {
        return None;
    }
    let message = format!(
        "{} ({when}): policy {} expiring {expiry}: {}",
        step.step.label, p.number, step.step.action
    );
    Some(Reminder {
        step: Some(step.step.code.clone()),
        sms: step.step.sms.clone(),
        ..reminder(c, ReminderKind::CadenceStep, step.day, Some(p), message)
    })
}

/// Whether the step's contact (or a visit) happened within its window.
fn step_done(
    f: &Facts<'_>,
    cad: &Cadence,
    step: &CadenceDue<'_>,
    c: &Customer,
    expiry: NaiveDate,
    date: NaiveDate,
) -> bool {
    let Some(channel) = step.step.channel else {
        return false;
    };
    let (from, to) = cad.step_window(step, expiry);
    let to = to.min(date);
    f.contacted(c.id, channel, from, to) || f.visited(c.id, from, to)
}

/// Whether a contact or visit within the step's window had one of its success outcomes.
fn step_succeeded(
    f: &Facts<'_>,
    cad: &Cadence,
    step: &CadenceDue<'_>,
    c: &Customer,
    expiry: NaiveDate,
    date: NaiveDate,
) -> bool {
    let (from, to) = cad.step_window(step, expiry);
    let to = to.min(date);
    let ok = |code: Option<&str>| {
        code.is_some_and(|code| step.step.success_outcomes.iter().any(|s| s == code))
    };
    f.customer_contacts(c.id).iter().any(|x| {
        let d = contact_date(x);
        d >= from && d <= to && ok(x.outcome.as_deref())
    }) || f.customer_visits(c.id).iter().any(|v| {
        let d = visit_date(v);
        d >= from && d <= to && ok(v.outcome.as_ref().map(|o| o.code.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use chrono::Days;

    use super::*;
    use crate::playbook::testing::*;

    fn kinds(rs: &[Reminder]) -> Vec<(ReminderKind, NaiveDate)> {
        rs.iter().map(|r| (r.kind, r.due)).collect()
    }

    #[test]
    fn birthdays_within_the_lead_days_including_29_february() {
        let pb = Playbook::insurance();
        let lead = pb.reminders.birthday_lead_days;
        assert_eq!(lead, 7);
        let mut leapling = customer("闰日", "a1");
        leapling.birthday = Some(d(2000, 2, 29));
        let mut june = customer("六月", "a1");
        june.birthday = Some(d(1985, 6, 20));
        let ws = WorkingSet {
            customers: vec![leapling, june],
            ..WorkingSet::default()
        };
        let birthday_of = |date: NaiveDate| -> Vec<(String, NaiveDate)> {
            reminders(&pb, date, &ws)
                .into_iter()
                .filter(|r| r.kind == ReminderKind::Birthday)
                .map(|r| (r.customer_name, r.due))
                .collect()
        };
        let table = [
            // 2027 has no 29 February: the birthday is kept on the 28th.
            (d(2027, 2, 20), vec![]),
            (d(2027, 2, 21), vec![("闰日".to_string(), d(2027, 2, 28))]),
            (d(2027, 2, 28), vec![("闰日".to_string(), d(2027, 2, 28))]),
            (d(2027, 3, 1), vec![]),
            // 2028 has one.
            (d(2028, 2, 22), vec![("闰日".to_string(), d(2028, 2, 29))]),
            (d(2028, 2, 29), vec![("闰日".to_string(), d(2028, 2, 29))]),
            (d(2026, 6, 12), vec![]),
            (d(2026, 6, 13), vec![("六月".to_string(), d(2026, 6, 20))]),
            (d(2026, 6, 21), vec![]),
            // Across the new year.
            (d(2027, 12, 30), vec![]),
        ];
        for (date, want) in table {
            assert_eq!(birthday_of(date), want, "on {date}");
        }
        let r = &reminders(&pb, d(2026, 6, 20), &ws)[0];
        assert_eq!(r.sms.as_deref(), Some("birthday"));
        assert!(r.message.contains("today"), "{}", r.message);
    }

    #[test]
    fn a_birthday_greeted_is_no_longer_reminded() {
        let pb = Playbook::insurance();
        let mut c = customer("六月", "a1");
        c.birthday = Some(d(1985, 6, 20));
        let mut ws = WorkingSet::default();
        ws.contacts
            .push(sms(&c, "a1", "2026-06-18T09:00:00+08:00", "birthday"));
        ws.customers.push(c);
        assert!(reminders(&pb, d(2026, 6, 19), &ws).is_empty());
    }

    #[test]
    fn each_unpaid_policy_in_play_gets_its_month_s_job() {
        let pb = Playbook::insurance();
        let c = customer("王芳", "a1");
        let mut ws = WorkingSet::default();
        let due = d(2026, 6, 15);
        ws.policies.push(policy_of(&c, due));
        ws.customers.push(c);
        let table = [
            (d(2026, 3, 20), None, None),
            (d(2026, 4, 20), Some(Phase::Cross), Some(d(2026, 4, 30))),
            (
                d(2026, 5, 20),
                Some(Phase::Receivable),
                Some(d(2026, 5, 31)),
            ),
            (d(2026, 6, 20), Some(Phase::Due), Some(d(2026, 6, 30))),
            // The grace months' jobs are weekly: due by the end of the work cycle.
            (
                d(2026, 7, 20),
                Some(Phase::Transition),
                Some(d(2026, 7, 21)),
            ),
            (d(2026, 8, 2), Some(Phase::Final), Some(d(2026, 8, 7))),
            (d(2026, 8, 12), Some(Phase::Final), Some(d(2026, 8, 14))),
            (d(2026, 8, 15), None, None),
        ];
        for (date, phase, due_by) in table {
            let rs = reminders(&pb, date, &ws);
            let renewal: Vec<_> = rs
                .iter()
                .filter(|r| r.kind == ReminderKind::Renewal)
                .collect();
            assert_eq!(
                renewal.iter().map(|r| r.phase).collect::<Vec<_>>(),
                phase.into_iter().map(Some).collect::<Vec<_>>(),
                "on {date}"
            );
            assert_eq!(renewal.first().map(|r| r.due), due_by, "on {date}");
        }
        let cross = &reminders(&pb, d(2026, 4, 20), &ws)[0];
        assert!(cross.message.contains("跨月"), "{}", cross.message);
        assert!(cross.message.contains("verify"), "{}", cross.message);
        let due_month = &reminders(&pb, d(2026, 6, 20), &ws)[0];
        assert_eq!(due_month.sms.as_deref(), Some("payment_reminder"));
    }

    #[test]
    fn failed_deductions_paid_policies_and_orphans() {
        let pb = Playbook::insurance();
        let c = customer("王芳", "a1");
        let o = customer("孤儿", "a1");
        let mut ws = WorkingSet::default();
        let mut failed = policy_of(&c, d(2026, 6, 15));
        failed.deduction_failed_on = Some(d(2026, 6, 15));
        let mut paid = policy_of(&c, d(2026, 6, 10));
        paid.number = "P-PAID".into();
        paid.paid_on = Some(d(2026, 6, 10));
        let mut orphan = policy_of(&o, d(2027, 1, 1));
        orphan.status = PolicyStatus::Orphan;
        ws.policies = vec![failed, paid, orphan];
        ws.customers = vec![c.clone(), o.clone()];
        let date = d(2026, 6, 16);
        let got = kinds(&reminders(&pb, date, &ws));
        assert_eq!(
            got,
            vec![
                (ReminderKind::FailedDeduction, d(2026, 6, 21)),
                (ReminderKind::Renewal, d(2026, 6, 30)),
                (ReminderKind::Receipt, d(2026, 6, 30)),
                (ReminderKind::Orphan, d(2026, 6, 30)),
            ]
        );
        // A call after the failure (which is also the due month's call), a visit after the
        // payment and a call to the orphan customer clear everything.
        ws.contacts.push(call(
            &c,
            "a1",
            "2026-06-16T09:00:00+08:00",
            "payment_reminder",
            Some("promised"),
        ));
        ws.contacts.push(call(
            &o,
            "a1",
            "2026-06-02T09:00:00+08:00",
            "orphan_contact",
            None,
        ));
        ws.visits.push(visit(
            &c,
            "a1",
            "2026-06-12T09:00:00+08:00",
            20,
            "service",
            &["receipt_handed_over"],
            Some("served"),
        ));
        assert_eq!(kinds(&reminders(&pb, date, &ws)), vec![]);
    }

    /// Issue 13, item 3: the cross-month reminder is still listed after the call and the visit
    /// were recorded, and every policy in play is listed every day. One line per customer and
    /// renewal month; the call and the visit clear it; the grace months come back weekly; the
    /// most urgent come first.
    #[test]
    fn the_cross_month_reminder_clears_once_the_call_and_the_visit_are_recorded() {
        let pb = Playbook::insurance();
        let c = customer("王芳", "a1");
        let mut ws = WorkingSet::default();
        // Three policies of one household due in June: April is their cross month.
        for n in 0..3 {
            let mut p = policy_of(&c, d(2026, 6, 10 + n));
            p.number = format!("P{n}");
            ws.policies.push(p);
        }
        ws.customers.push(c.clone());
        let date = d(2026, 4, 20);
        let rs = reminders(&pb, date, &ws);
        assert_eq!(rs.len(), 1, "one line for the household: {rs:#?}");
        assert_eq!(rs[0].policies.len(), 3);
        assert_eq!(rs[0].urgency, Urgency::Later);
        ws.contacts.push(call(
            &c,
            "a1",
            "2026-04-08T10:00:00+08:00",
            "renewal_contact",
            None,
        ));
        let rs = reminders(&pb, date, &ws);
        assert_eq!(rs.len(), 1, "called, not yet visited");
        assert!(
            rs[0].message.contains("visit is still to do"),
            "{}",
            rs[0].message
        );
        ws.visits.push(visit(
            &c,
            "a1",
            "2026-04-15T10:00:00+08:00",
            30,
            "service",
            &["data_verification", "renewal_contact"],
            Some("served"),
        ));
        assert!(reminders(&pb, date, &ws).is_empty(), "call and visit: done");
        // May is their receivable month: a new job, cleared by a call or a visit in May.
        assert_eq!(reminders(&pb, d(2026, 5, 4), &ws).len(), 1);
        // July, transition month: a call this week clears it until next week.
        let mut july = ws.clone();
        july.contacts.push(call(
            &c,
            "a1",
            "2026-07-02T10:00:00+08:00",
            "payment_reminder",
            Some("promised"),
        ));
        assert!(reminders(&pb, d(2026, 7, 6), &july).is_empty());
        let next_week = reminders(&pb, d(2026, 7, 8), &july);
        assert_eq!(
            kinds(&next_week),
            vec![(ReminderKind::Renewal, d(2026, 7, 14))]
        );
        assert_eq!(next_week[0].urgency, Urgency::ThisWeek);
    }

    #[test]
    fn the_day_s_list_is_most_urgent_first() {
        let pb = Playbook::insurance();
        let late = customer("逾期", "a1");
        let mut ws = WorkingSet::default();
        // A failed deduction of last week, not called: overdue.
        let mut failed = policy_of(&late, d(2026, 6, 5));
        failed.deduction_failed_on = Some(d(2026, 6, 5));
        ws.policies.push(failed);
        // A birthday today.
        let mut born = customer("寿星", "a1");
        born.birthday = Some(d(1980, 6, 16));
        // A cross-month policy (due in August): a job for the month.
        let cross = customer("跨月", "a1");
        ws.policies.push(policy_of(&cross, d(2026, 8, 20)));
        ws.customers = vec![cross, born, late];
        let rs = reminders(&pb, d(2026, 6, 16), &ws);
        let got: Vec<(Urgency, ReminderKind)> = rs.iter().map(|r| (r.urgency, r.kind)).collect();
        assert_eq!(
            got,
            vec![
                (Urgency::Overdue, ReminderKind::FailedDeduction),
                (Urgency::Today, ReminderKind::Birthday),
                (Urgency::Later, ReminderKind::Renewal),
                (Urgency::Later, ReminderKind::Renewal),
            ]
        );
    }

    #[test]
    fn car_cadence_steps_due_overdue_done_and_reassign() {
        let pb = car();
        let c = customer("车主", "a1");
        let expiry = d(2026, 9, 30);
        let at = |n: u64| expiry - Days::new(n);
        let mut ws = WorkingSet::default();
        ws.policies.push(policy_of(&c, expiry));
        ws.customers.push(c.clone());
        let step_of =
            |ws: &WorkingSet, date: NaiveDate| -> Vec<(ReminderKind, String, NaiveDate)> {
                reminders(&pb, date, ws)
                    .into_iter()
                    .map(|r| (r.kind, r.step.unwrap_or_default(), r.due))
                    .collect()
            };
        // D−65: the care call is due today.
        assert_eq!(
            step_of(&ws, at(65)),
            vec![(ReminderKind::CadenceStep, "care_call".into(), at(65))]
        );
        let r = &reminders(&pb, at(60), &ws)[0];
        assert!(r.message.contains("5 days overdue"), "{}", r.message);
        // A call on D−64 does the care call.
        let mut called = ws.clone();
        called.contacts.push(call(
            &c,
            "a1",
            &format!("{}T10:00:00+08:00", at(64)),
            "care",
            Some("reached"),
        ));
        assert!(step_of(&called, at(60)).is_empty());
        // D−90: pull the list and send the greeting SMS.
        let first = &reminders(&pb, at(90), &ws)[0];
        assert_eq!(first.sms.as_deref(), Some("greeting"));
        // The offer call got an appointment: no fourth call.
        let mut offered = ws.clone();
        offered.contacts.push(call(
            &c,
            "a1",
            &format!("{}T10:00:00+08:00", at(35)),
            "offer",
            Some("appointment"),
        ));
        assert!(step_of(&offered, at(24)).is_empty());
        // The offer call was refused: the fourth call is due at D−25.
        let mut refused = ws.clone();
        refused.contacts.push(call(
            &c,
            "a1",
            &format!("{}T10:00:00+08:00", at(35)),
            "offer",
            Some("refused"),
        ));
        assert_eq!(
            step_of(&refused, at(24)),
            vec![(ReminderKind::CadenceStep, "fourth_call".into(), at(25))]
        );
        // D−15 and still not renewed: reassign, whatever was done before.
        assert_eq!(
            step_of(&offered, at(15)),
            vec![(ReminderKind::Reassign, "reassign".into(), at(15))]
        );
        // Renewed: nothing more.
        let mut renewed = ws.clone();
        renewed.policies[0].paid_on = Some(at(20));
        assert!(step_of(&renewed, at(15)).is_empty());
    }

    #[test]
    fn a_sales_visit_that_did_not_close_gets_a_follow_up_after_three_days() {
        let pb = Playbook::insurance();
        let c = customer("王芳", "a1");
        let mut ws = WorkingSet::default();
        ws.visits.push(visit(
            &c,
            "a1",
            "2026-06-10T10:00:00+08:00",
            40,
            "sales",
            &["product_presentation"],
            Some("proposal"),
        ));
        ws.customers.push(c.clone());
        let follow = |ws: &WorkingSet, date| {
            reminders(&pb, date, ws)
                .into_iter()
                .filter(|r| r.kind == ReminderKind::FollowUp)
                .map(|r| (r.due, r.sms))
                .collect::<Vec<_>>()
        };
        assert!(follow(&ws, d(2026, 6, 12)).is_empty());
        assert_eq!(
            follow(&ws, d(2026, 6, 13)),
            vec![(d(2026, 6, 13), Some("not_closed_follow_up".to_string()))]
        );
        let mut sent = ws.clone();
        sent.contacts
            .push(sms(&c, "a1", "2026-06-13T09:00:00+08:00", "follow_up"));
        assert!(follow(&sent, d(2026, 6, 14)).is_empty());
        let mut closed = ws.clone();
        closed.visits[0].outcome = Some(outcome("new_policy"));
        assert!(follow(&closed, d(2026, 6, 13)).is_empty());
    }

    /// Issue 13, item 2: a customer who renewed at the shop gets no "not closed" follow-up
    /// three days later, whether the renewal is the visit's outcome, a call's since, or the
    /// policy's paid date.
    #[test]
    fn a_customer_who_renewed_at_the_shop_gets_no_not_closed_follow_up() {
        let pb = car();
        let c = customer("车主", "a1");
        let mut ws = WorkingSet::default();
        ws.policies.push(policy_of(&c, d(2026, 7, 1)));
        ws.visits.push(visit(
            &c,
            "a1",
            "2026-06-10T10:00:00+08:00",
            30,
            "shop_visit",
            &["renewal_offer"],
            Some("thinking"),
        ));
        ws.customers.push(c.clone());
        let follow = |ws: &WorkingSet| {
            reminders(&pb, d(2026, 6, 13), ws)
                .into_iter()
                .filter(|r| r.kind == ReminderKind::FollowUp)
                .count()
        };
        assert_eq!(follow(&ws), 1, "thinking it over: follow up");
        let mut renewed_at_the_shop = ws.clone();
        renewed_at_the_shop.visits[0].outcome = Some(outcome("renewed"));
        assert_eq!(follow(&renewed_at_the_shop), 0, "the visit renewed");
        let mut paid_since = ws.clone();
        paid_since.policies[0].paid_on = Some(d(2026, 6, 11));
        assert_eq!(
            follow(&paid_since),
            0,
            "the policy was paid since the visit"
        );
    }

    #[test]
    fn reminders_are_sorted_deterministically() {
        let pb = Playbook::insurance();
        let mut ws = WorkingSet::default();
        for name in ["乙", "甲", "丙"] {
            let mut c = customer(name, "a1");
            c.birthday = Some(d(1990, 6, 18));
            ws.policies.push(policy_of(&c, d(2026, 7, 1)));
            ws.customers.push(c);
        }
        let a = reminders(&pb, d(2026, 6, 15), &ws);
        ws.customers.reverse();
        ws.policies.reverse();
        let b = reminders(&pb, d(2026, 6, 15), &ws);
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        assert!(a.windows(2).all(|w| w[0].due <= w[1].due));
    }
}
