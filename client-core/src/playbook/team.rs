//! Team ratios for managers: what share of a group's agents met their targets, kept the daily
//! standard, were active, executed the cross-month plan and accumulated customers, against the
//! playbook's ratios, and how many agents to spot-check.
//!
//! A manager steers by shares of agents, not by one agent's numbers, so these are computed
//! per agent with the same functions as the agent's own screens and then counted.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::{month_start, Phase};
use super::facts::Facts;
use super::measure::Span;
use super::standards::{active, met_311_in, month_progress_in, week_targets_met_in};
use super::targets::{rate_pct, Standing};
use super::{Playbook, WorkingSet};
use crate::ids::UserId;

/// What the playbook expects of a team, per week (work cycle) of the month.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamStandard {
    /// Share of agents whose process records a manager spot-checks (30%).
    #[serde(default)]
    pub spot_check_pct: f64,
    /// New prospects an agent must add per week (cycle) to meet the accumulation target.
    #[serde(default)]
    pub prospects_per_week: u32,
    /// The expected shares of agents.
    #[serde(default)]
    pub ratios: Vec<TeamRatio>,
}

/// An expected share of agents: "active agents 80%", "healthy agents 40–60%".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamRatio {
    /// What the agents are counted by.
    pub measure: TeamMeasure,
    /// The share to reach, in percent.
    pub min_pct: f64,
    /// The top of the normal band, if the ratio is a band (healthy 40–60%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pct: Option<f64>,
    /// What screens call it; the measure's code when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
}

/// What makes an agent count in a team ratio, this week (work cycle) so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamMeasure {
    /// Met every target of this week (cycle) of the month, collection rates included.
    MetTarget,
    /// Met the daily standard (311) on every working day of the week so far (at least one).
    Healthy,
    /// Both healthy and met the week's targets.
    Top,
    /// Made at least one effective visit this week.
    Active,
    /// Called or visited, this month, every assigned customer with a policy in its cross
    /// month.
    CrossMonthPlan,
    /// Added at least `prospects_per_week` new prospects this week.
    Accumulation,
}

impl TeamMeasure {
    /// The measure's code, as written in playbook files.
    pub fn code(self) -> &'static str {
        match self {
            TeamMeasure::MetTarget => "met_target",
            TeamMeasure::Healthy => "healthy",
            TeamMeasure::Top => "top",
            TeamMeasure::Active => "active",
            TeamMeasure::CrossMonthPlan => "cross_month_plan",
            TeamMeasure::Accumulation => "accumulation",
        }
    }
}

/// One team ratio against the playbook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioProgress {
    /// What the agents are counted by.
    pub measure: TeamMeasure,
    /// What screens call it.
    pub label: String,
    /// The share to reach.
    pub min_pct: f64,
    /// The top of the normal band, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pct: Option<f64>,
    /// The share of agents who count.
    pub actual_pct: f64,
    /// Whether `actual_pct` reaches `min_pct` (`standing` is `met`).
    pub met: bool,
    /// Met, missed, or n/a (no agent to count).
    pub standing: Standing,
    /// Whether `actual_pct` is above the band (worth a look: a standard too easy, records too
    /// generous).
    pub above_band: bool,
    /// The agents who count, by id.
    pub agents: Vec<UserId>,
}

/// A group's ratios for the week (work cycle) of `date`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamRatios {
    /// The day asked about.
    pub date: NaiveDate,
    /// The week (work cycle) of the month.
    pub week: u32,
    /// How many distinct agents were looked at.
    pub agents: usize,
    /// Each ratio of the playbook.
    pub ratios: Vec<RatioProgress>,
    /// How many agents' process records to spot-check this week (rounded up).
    pub spot_check: usize,
}

/// The team ratios of `agents` for the week (work cycle) of `date`, from its first day to
/// `date` included.
pub fn team_ratios(
    pb: &Playbook,
    date: NaiveDate,
    agents: &[UserId],
    ws: &WorkingSet,
) -> TeamRatios {
    team_ratios_in(&Facts::new(pb, ws), date, agents)
}

pub(crate) fn team_ratios_in(f: &Facts<'_>, date: NaiveDate, agents: &[UserId]) -> TeamRatios {
    let (from, _) = f.pb.schedule.cycle.bounds(date);
    ratios_over(f, date, agents, |a| {
        Verdict::of(f, a, from, date, week_targets_met_in(f, a, date))
    })
}

/// The team ratios of `agents` for the month of `date`, from its first day to `date`
/// included: an agent meets the target when they meet every month target, is healthy when
/// they kept the daily standard on every working day of the month so far, is active with an
/// effective visit in the month, and accumulates `prospects_per_week` new prospects for each
/// week (cycle) begun. The spot-check count is the week's.
pub fn team_month_ratios(
    pb: &Playbook,
    date: NaiveDate,
    agents: &[UserId],
    ws: &WorkingSet,
) -> TeamRatios {
    team_month_ratios_in(&Facts::new(pb, ws), date, agents)
}

pub(crate) fn team_month_ratios_in(
    f: &Facts<'_>,
    date: NaiveDate,
    agents: &[UserId],
) -> TeamRatios {
    let from = month_start(date);
    let weeks = f.pb.schedule.cycle.number(date);
    ratios_over(f, date, agents, |a| {
        let mut v = Verdict::of(f, a, from, date, month_progress_in(f, a, date).all_met);
        let span = Span {
            facts: f,
            agent: a,
            from,
            to: date,
        };
        v.accumulation = span.new_prospects() >= (f.pb.team.prospects_per_week * weeks) as usize;
        v
    })
}

fn ratios_over(
    f: &Facts<'_>,
    date: NaiveDate,
    agents: &[UserId],
    verdict: impl Fn(&UserId) -> Verdict,
) -> TeamRatios {
    let pb = f.pb;
    let agents: BTreeSet<&UserId> = agents.iter().collect();
    let cycle = pb.schedule.cycle;
    let verdicts: Vec<(&UserId, Verdict)> = agents.iter().map(|a| (*a, verdict(a))).collect();
    let ratios = pb
        .team
        .ratios
        .iter()
        .map(|r| {
            let who: Vec<UserId> = verdicts
                .iter()
                .filter(|(_, v)| v.counts(r.measure))
                .map(|(a, _)| (*a).clone())
                .collect();
            // A ratio over no agent is n/a, as every rate over nothing.
            let actual = rate_pct(verdicts.iter().map(|(_, v)| v.counts(r.measure)));
            let standing = Standing::judge(actual, r.min_pct, Standing::NotApplicable);
            let actual_pct = actual.unwrap_or(0.0);
            RatioProgress {
                measure: r.measure,
                label: r
                    .label
                    .clone()
                    .unwrap_or_else(|| r.measure.code().to_string()),
                min_pct: r.min_pct,
                max_pct: r.max_pct,
                actual_pct,
                met: standing.is_met(),
                standing,
                above_band: r.max_pct.is_some_and(|m| actual.is_some_and(|a| a > m)),
                agents: who,
            }
        })
        .collect();
    let spot = (agents.len() as f64 * pb.team.spot_check_pct / 100.0).ceil();
    TeamRatios {
        date,
        week: cycle.number(date),
        agents: agents.len(),
        ratios,
        spot_check: if spot.is_finite() && spot > 0.0 {
            (spot as usize).min(agents.len())
        } else {
            0
        },
    }
}

/// What one agent's week says for each measure.
struct Verdict {
    met_target: bool,
    healthy: bool,
    active: bool,
    cross_month_plan: bool,
    accumulation: bool,
}

impl Verdict {
    fn of(
        f: &Facts<'_>,
        agent: &UserId,
        from: NaiveDate,
        date: NaiveDate,
        met_target: bool,
    ) -> Verdict {
        let pb = f.pb;
        let working: Vec<NaiveDate> = from
            .iter_days()
            .take_while(|d| *d <= date)
            .filter(|d| pb.schedule.is_working_day(*d))
            .collect();
        let healthy = !working.is_empty() && working.iter().all(|d| met_311_in(f, agent, *d));
        let cross_month_plan = f
            .customers_of(agent)
            .filter(|c| f.has_phase(c.id, Phase::Cross, date))
            .all(|c| f.called_this_month(c.id, date) || f.visited(c.id, month_start(date), date));
        let span = Span {
            facts: f,
            agent,
            from,
            to: date,
        };
        Verdict {
            met_target,
            healthy,
            active: active(f, agent, from, date),
            cross_month_plan,
            accumulation: span.new_prospects() >= pb.team.prospects_per_week as usize,
        }
    }

    fn counts(&self, m: TeamMeasure) -> bool {
        match m {
            TeamMeasure::MetTarget => self.met_target,
            TeamMeasure::Healthy => self.healthy,
            TeamMeasure::Top => self.healthy && self.met_target,
            TeamMeasure::Active => self.active,
            TeamMeasure::CrossMonthPlan => self.cross_month_plan,
            TeamMeasure::Accumulation => self.accumulation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Customer;
    use crate::playbook::testing::*;

    /// Issue 13, item 7, for the manager's ratios: a share of no agents is n/a, not 0% missed.
    #[test]
    fn a_ratio_over_no_agent_is_n_a() {
        let r = team_ratios(
            &Playbook::insurance(),
            d(2026, 6, 2),
            &[],
            &WorkingSet::default(),
        );
        assert!(!r.ratios.is_empty());
        for x in &r.ratios {
            assert_eq!(
                (x.standing, x.met, x.above_band),
                (Standing::NotApplicable, false, false)
            );
        }
    }

    #[test]
    fn shares_of_agents_against_the_playbook() {
        let pb = Playbook::insurance();
        // Monday 1 and Tuesday 2 June 2026: week 1.
        let date = d(2026, 6, 2);
        let mut ws = WorkingSet::default();
        let agents: Vec<UserId> = ["a1", "a2", "a3", "a4"].map(agent).to_vec();
        // a1 meets 311 on both days; a2 only on Tuesday; a3 makes one effective visit; a4 nothing.
        // 311's three effective visits are three customers.
        let c1: Vec<Customer> = (0..3).map(|i| customer(&format!("王{i}"), "a1")).collect();
        let c2: Vec<Customer> = (0..3).map(|i| customer(&format!("李{i}"), "a2")).collect();
        let c3 = customer("张伟", "a3");
        for (cs, who, days) in [(&c1, "a1", &[1, 2][..]), (&c2, "a2", &[2][..])] {
            for day_of_month in days {
                for (h, c) in cs.iter().enumerate() {
                    ws.visits.push(visit(
                        c,
                        who,
                        &format!("2026-06-{day_of_month:02}T{:02}:00:00+08:00", 9 + h),
                        30,
                        "collection",
                        &["premium_collected"],
                        Some("paid"),
                    ));
                }
                ws.days
                    .push(day(who, d(2026, 6, *day_of_month), true, true));
            }
        }
        ws.visits.push(visit(
            &c3,
            "a3",
            "2026-06-01T10:00:00+08:00",
            30,
            "sales",
            &["closing"],
            Some("refused"),
        ));
        ws.customers = c1.into_iter().chain(c2).chain([c3]).collect();
        let r = team_ratios(&pb, date, &agents, &ws);
        assert_eq!((r.week, r.agents, r.spot_check), (1, 4, 2));
        let get = |m: TeamMeasure| {
            r.ratios
                .iter()
                .find(|x| x.measure == m)
                .unwrap_or_else(|| panic!("insurance has a {} ratio", m.code()))
        };
        let healthy = get(TeamMeasure::Healthy);
        assert_eq!(healthy.agents, vec![agent("a1")]);
        assert_eq!(
            (healthy.actual_pct, healthy.min_pct, healthy.max_pct),
            (25.0, 40.0, Some(60.0))
        );
        assert!(!healthy.met && !healthy.above_band);
        let active = get(TeamMeasure::Active);
        assert_eq!(active.agents, vec![agent("a1"), agent("a2"), agent("a3")]);
        assert_eq!((active.actual_pct, active.met), (75.0, false));
        // Nobody has cross-month customers: the plan is trivially executed.
        assert_eq!(get(TeamMeasure::CrossMonthPlan).actual_pct, 100.0);
        // Duplicated agents are counted once.
        let twice: Vec<UserId> = agents.iter().chain(agents.iter()).cloned().collect();
        assert_eq!(team_ratios(&pb, date, &twice, &ws).agents, 4);
    }

    #[test]
    fn the_month_counts_the_whole_month_and_the_week_only_its_week() {
        let pb = Playbook::insurance();
        // Tuesday 9 June 2026, week 2 (8–14). a1 kept 311 on Monday 8 and Tuesday 9 only;
        // a2 made one effective visit on Monday 1 and nothing since.
        let date = d(2026, 6, 9);
        let mut ws = WorkingSet::default();
        let agents: Vec<UserId> = ["a1", "a2"].map(agent).to_vec();
        // Three customers a day: effective visits count once per customer and day (issue 13).
        let c1 = [
            customer("王芳", "a1"),
            customer("张伟", "a1"),
            customer("刘洋", "a1"),
        ];
        let c2 = customer("李明", "a2");
        for day_of_month in [8, 9] {
            for (h, c) in c1.iter().enumerate() {
                ws.visits.push(visit(
                    c,
                    "a1",
                    &format!("2026-06-{day_of_month:02}T{:02}:00:00+08:00", 9 + h),
                    30,
                    "collection",
                    &["premium_collected"],
                    Some("paid"),
                ));
            }
            ws.days
                .push(day("a1", d(2026, 6, day_of_month), true, true));
        }
        ws.visits.push(visit(
            &c2,
            "a2",
            "2026-06-01T10:00:00+08:00",
            30,
            "collection",
            &["premium_collected"],
            Some("paid"),
        ));
        ws.customers = c1.into_iter().chain([c2]).collect();
        let share = |r: &TeamRatios, m: TeamMeasure| {
            let x = r.ratios.iter().find(|x| x.measure == m).unwrap();
            (x.actual_pct, x.agents.clone())
        };
        let week = team_ratios(&pb, date, &agents, &ws);
        let month = team_month_ratios(&pb, date, &agents, &ws);
        assert_eq!((week.date, month.date, month.week), (date, date, 2));
        // Healthy: the week's two working days for a1; the month's first week was missed.
        assert_eq!(
            share(&week, TeamMeasure::Healthy),
            (50.0, vec![agent("a1")])
        );
        assert_eq!(share(&month, TeamMeasure::Healthy), (0.0, vec![]));
        // Active: a2's visit of 1 June counts in the month, not in week 2.
        assert_eq!(share(&week, TeamMeasure::Active), (50.0, vec![agent("a1")]));
        assert_eq!(share(&month, TeamMeasure::Active).0, 100.0);
    }

    #[test]
    fn the_week_shortcut_agrees_with_the_full_progress() {
        use crate::playbook::facts::Facts;
        use crate::playbook::standards::week_progress_in;
        use crate::playbook::targets::{Metric, Period, Target};
        // Two targets for every week: a count (one close) and a share (every cross-month
        // customer called this month), so that an agent can meet them all or miss either.
        let mut pb = Playbook::insurance();
        let target = |metric, target| Target {
            period: Period::Week,
            week: None,
            metric,
            target,
            good: None,
            excellent: None,
            label: None,
            label_en: None,
            kind: None,
            purpose: None,
            outcome: None,
            grade: None,
            phase: None,
        };
        pb.targets = vec![
            target(Metric::CrossMonthCallsPct, 100.0),
            target(Metric::Closes, 1.0),
        ];
        let date = d(2026, 6, 3);
        let mut ws = WorkingSet::default();
        // a1 closes and calls their cross-month customer (a policy due in August); a2 calls
        // but does not close; a3 closes but does not call; a4 does nothing.
        for (who, closes, calls) in [
            ("a1", true, true),
            ("a2", false, true),
            ("a3", true, false),
            ("a4", false, false),
        ] {
            let c = customer("客户", who);
            ws.policies.push(policy_of(&c, d(2026, 8, 15)));
            if closes {
                ws.visits.push(visit(
                    &c,
                    who,
                    "2026-06-02T10:00:00+08:00",
                    30,
                    "sales",
                    &["needs_discovery"],
                    Some("new_policy"),
                ));
            }
            if calls {
                ws.contacts.push(call(
                    &c,
                    who,
                    "2026-06-01T09:00:00+08:00",
                    "renewal_contact",
                    None,
                ));
            }
            ws.customers.push(c);
        }
        let f = Facts::new(&pb, &ws);
        let mut met = vec![];
        for who in ["a1", "a2", "a3", "a4"] {
            for date in [date, d(2026, 6, 1), d(2026, 6, 6)] {
                let full = week_progress_in(&f, &agent(who), date).all_met;
                assert_eq!(
                    week_targets_met_in(&f, &agent(who), date),
                    full,
                    "{who} {date}"
                );
            }
            met.push(week_targets_met_in(&f, &agent(who), date));
        }
        assert_eq!(met, [true, false, false, false], "both answers occur");
    }
}
