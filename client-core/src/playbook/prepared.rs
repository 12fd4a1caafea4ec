//! A working set prepared once for many computations.
//!
//! Each free function of `playbook` (`today`, `week_progress`, `team_ratios`…) indexes its
//! working set before it counts. A phone asks one question at a time, but a manager's view
//! asks the same question of fifty agents, and of every week of a month for its trend; indexing
//! the team's working set once per question made those views take seconds. `Prepared` indexes
//! once and answers every question from the same facts with the same functions, so a
//! manager's figures are the agent's own, computed alike.

use chrono::NaiveDate;

use super::facts::Facts;
use super::reminders::{reminders_in, reminders_on_two_threads};
use super::standards::{month_progress_in, today_with, week_progress_in};
use super::team::{team_month_ratios_in, team_ratios_in};
use super::{PeriodProgress, Playbook, Reminder, TeamRatios, TodayStatus, WorkingSet};
use crate::ids::UserId;

/// Customers from which the reminders are computed on two threads.
const TWO_THREADS_FROM: usize = 2_000;

/// A working set indexed for a playbook's computations.
pub struct Prepared<'a> {
    facts: Facts<'a>,
}

impl<'a> Prepared<'a> {
    /// Indexes `ws` (deduplicated, by customer, agent and day) for `pb`.
    pub fn new(pb: &'a Playbook, ws: &'a WorkingSet) -> Self {
        Prepared {
            facts: Facts::new(pb, ws),
        }
    }

    /// [`super::today`] for each of `agents`, in their order; the reminders of `date` are
    /// computed once for all of them.
    pub fn today(&self, agents: &[UserId], date: NaiveDate) -> Vec<TodayStatus> {
        let reminders = self.reminders(date);
        agents
            .iter()
            .map(|a| today_with(&self.facts, a, date, &reminders))
            .collect()
    }

    /// [`super::week_progress`].
    pub fn week_progress(&self, agent: &UserId, date: NaiveDate) -> PeriodProgress {
        week_progress_in(&self.facts, agent, date)
    }

    /// [`super::month_progress`].
    pub fn month_progress(&self, agent: &UserId, date: NaiveDate) -> PeriodProgress {
        month_progress_in(&self.facts, agent, date)
    }

    /// [`super::team_ratios`].
    pub fn team_ratios(&self, date: NaiveDate, agents: &[UserId]) -> TeamRatios {
        team_ratios_in(&self.facts, date, agents)
    }

    /// [`super::team_month_ratios`].
    pub fn team_month_ratios(&self, date: NaiveDate, agents: &[UserId]) -> TeamRatios {
        team_month_ratios_in(&self.facts, date, agents)
    }

    /// [`super::reminders`]; for a team's thousands of customers, on two threads.
    pub fn reminders(&self, date: NaiveDate) -> Vec<Reminder> {
        if self.facts.customers().nth(TWO_THREADS_FROM).is_some() {
            reminders_on_two_threads(&self.facts, date)
        } else {
            reminders_in(&self.facts, date)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    use super::*;
    use crate::playbook::testing::*;
    use crate::playbook::{month_progress, reminders, team_ratios, today, week_progress};

    /// Two agents' month: customers with birthdays and policies due around it, visits of each
    /// kind with several outcomes, calls and SMS, logs and reports on most days; one visit
    /// twice (as when it reaches the working set from two phones).
    fn sample_team() -> WorkingSet {
        let mut ws = WorkingSet::default();
        let kinds = ["collection", "service", "sales"];
        let outcomes = [Some("appointment"), Some("paid"), None, Some("new_policy")];
        for i in 0..24u32 {
            let who = if i % 3 == 0 { "agent-2" } else { "agent-1" };
            let mut c = customer(&format!("客户{i}"), who);
            c.birthday = Some(d(1970 + i as i32, 6, 1 + i % 28));
            let mut p = policy_of(&c, d(2026, 5 + i % 4, 1 + (i * 3) % 28));
            if i % 5 == 0 {
                p.paid_on = Some(d(2026, 6, 2 + i % 20));
            }
            if i % 7 == 0 {
                p.deduction_failed_on = Some(d(2026, 6, 5));
            }
            ws.policies.push(p);
            for k in 0..(i % 4) {
                let day = 1 + (i * 5 + k * 7) % 30;
                ws.visits.push(visit(
                    &c,
                    who,
                    &format!("2026-06-{day:02}T{:02}:00:00+08:00", 9 + k),
                    20 + 5 * i64::from(k),
                    kinds[((i + k) % 3) as usize],
                    &["needs_discovery"],
                    outcomes[((i + k) % 4) as usize],
                ));
            }
            let day = 1 + (i * 11) % 30;
            ws.contacts.push(call(
                &c,
                who,
                &format!("2026-06-{day:02}T18:00:00+08:00"),
                "appointment",
                None,
            ));
            ws.contacts.push(sms(
                &c,
                who,
                &format!("2026-06-{:02}T19:00:00+08:00", 1 + (day + 3) % 30),
                "payment_reminder",
            ));
            ws.customers.push(c);
        }
        let again = ws.visits[0].clone();
        ws.visits.push(again);
        for date in d(2026, 6, 1).iter_days().take(30) {
            for (a, n) in [("agent-1", 2), ("agent-2", 3)] {
                ws.days
                    .push(day(a, date, date.day0() % n != 0, date.day0() % 4 != 1));
            }
        }
        ws
    }

    /// The prepared answers are the free functions' answers, for every agent and day.
    #[test]
    fn prepared_answers_equal_the_free_functions() {
        let pb = Playbook::insurance();
        let ws = sample_team();
        let agents: Vec<UserId> = ["agent-1", "agent-2", "nobody"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let prepared = Prepared::new(&pb, &ws);
        for date in d(2026, 6, 1).iter_days().take(40) {
            let todays = prepared.today(&agents, date);
            for (a, t) in agents.iter().zip(&todays) {
                assert_eq!(*t, today(&pb, a, date, &ws), "{a} {date}");
                assert_eq!(
                    prepared.week_progress(a, date),
                    week_progress(&pb, a, date, &ws)
                );
                assert_eq!(
                    prepared.month_progress(a, date),
                    month_progress(&pb, a, date, &ws)
                );
            }
            assert_eq!(
                prepared.team_ratios(date, &agents),
                team_ratios(&pb, date, &agents, &ws)
            );
            assert_eq!(prepared.reminders(date), reminders(&pb, date, &ws));
        }
    }

    /// A large team's work is indexed and its reminders computed on two threads; the answers
    /// are those of one thread.
    #[test]
    fn two_threads_answer_as_one() {
        use crate::playbook::facts::Facts;
        use crate::playbook::reminders::reminders_on_two_threads;
        use crate::playbook::standards::week_progress_in;
        let pb = Playbook::insurance();
        let ws = sample_team();
        let one = Facts::new_on_one_thread(&pb, &ws);
        let two = Facts::new_on_two_threads(&pb, &ws);
        for date in d(2026, 6, 1).iter_days().take(40) {
            let expected = reminders_in(&one, date);
            assert!(!expected.is_empty() || date.day() > 30);
            assert_eq!(reminders_in(&two, date), expected, "{date}");
            assert_eq!(reminders_on_two_threads(&one, date), expected, "{date}");
            for a in ["agent-1", "agent-2"] {
                let a: UserId = a.parse().unwrap();
                assert_eq!(
                    week_progress_in(&two, &a, date),
                    week_progress_in(&one, &a, date)
                );
            }
        }
    }
}
