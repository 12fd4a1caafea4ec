//! Refusing inconsistent playbooks at load time.
//!
//! A playbook is edited by hand by someone who is not a programmer. A duplicated code, a target
//! on a visit kind that does not exist or a week 5 must fail when the file is loaded, with a
//! message naming the entry, rather than quietly count nothing on every phone of the team.

use std::collections::BTreeSet;

use super::calendar::{Calendar, Phase};
use super::sms::{check_date_format, check_template};
use super::targets::{Metric, Period};
use super::team::TeamMeasure;
use super::Playbook;
use crate::error::{Error, Result};

impl Playbook {
    /// Checks that the playbook is consistent: codes unique and well formed, every code a
    /// target, step or setting refers to defined, numbers in range, metrics compatible with
    /// the calendar. Lists every problem found.
    pub fn validate(&self) -> Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Playbook {
                source_name: self.name.clone(),
                reason: problems.join("\n"),
            })
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.name.trim().is_empty() {
            p.push("`name` is empty".to_string());
        }
        if self.title.trim().is_empty() {
            p.push("`title` is empty".to_string());
        }
        self.check_vocabulary(&mut p);
        self.check_effective_rule(&mut p);
        self.check_calendar(&mut p);
        self.check_schedule(&mut p);
        self.check_targets(&mut p);
        self.check_team(&mut p);
        self.check_reminders(&mut p);
        for code in &self.daily.call_purposes {
            if self.contact_purpose(code).is_none() {
                p.push(format!(
                    "daily.call_purposes: unknown contact purpose `{code}`"
                ));
            }
        }
        self.check_sms(&mut p);
        if self.lists.large_premium_cents.is_some_and(|c| c < 0) {
            p.push("lists.large_premium_cents is negative".to_string());
        }
        p
    }

    fn check_vocabulary(&self, p: &mut Vec<String>) {
        codes(p, "grades", self.grades.iter().map(|g| (&g.code, &g.label)));
        codes(
            p,
            "visit_kinds",
            self.visit_kinds.iter().map(|k| (&k.code, &k.label)),
        );
        codes(
            p,
            "purposes",
            self.purposes.iter().map(|x| (&x.code, &x.label)),
        );
        codes(
            p,
            "contact_purposes",
            self.contact_purposes.iter().map(|x| (&x.code, &x.label)),
        );
        codes(
            p,
            "outcomes",
            self.outcomes.iter().map(|o| (&o.code, &o.label)),
        );
        for (list, empty) in [
            ("visit_kinds", self.visit_kinds.is_empty()),
            ("purposes", self.purposes.is_empty()),
            ("outcomes", self.outcomes.is_empty()),
        ] {
            if empty {
                p.push(format!(
                    "`{list}` is empty: agents could not record a visit"
                ));
            }
        }
    }

    fn check_effective_rule(&self, p: &mut Vec<String>) {
        let rule = &self.effective_visit;
        if rule.require_effective_purpose && !self.purposes.iter().any(|x| x.effective) {
            p.push(
                "effective_visit requires an effective purpose but no purpose is `effective = true`"
                    .to_string(),
            );
        }
        if let Some(m) = rule.max_distance_m {
            if !(m.is_finite() && m > 0.0) {
                p.push(format!(
                    "effective_visit.max_distance_m must be a positive number of metres, not {m}"
                ));
            }
        }
        if rule.min_minutes.is_some_and(|m| m > 24 * 60) {
            p.push("effective_visit.min_minutes is longer than a day".to_string());
        }
    }

    fn check_calendar(&self, p: &mut Vec<String>) {
        match &self.calendar {
            Calendar::None => {}
            Calendar::Monthly(m) => {
                if m.grace_days > 366 {
                    p.push(format!(
                        "calendar.grace_days {} is longer than a year",
                        m.grace_days
                    ));
                }
                for phase in [
                    Phase::Cross,
                    Phase::Receivable,
                    Phase::Due,
                    Phase::Transition,
                    Phase::Final,
                    Phase::Received,
                ] {
                    if let Some(code) = m.phases.get(phase).and_then(|t| t.sms.as_ref()) {
                        self.sms_exists(p, &format!("calendar.phases.{}.sms", phase.code()), code);
                    }
                }
            }
            Calendar::Cadence(c) => {
                codes(
                    p,
                    "calendar.steps",
                    c.steps.iter().map(|s| (&s.code, &s.label)),
                );
                let mut days = BTreeSet::new();
                for s in &c.steps {
                    if !days.insert(s.days_before) {
                        p.push(format!(
                            "calendar.steps: two steps on D-{} (`{}`)",
                            s.days_before, s.code
                        ));
                    }
                    if let Some(code) = &s.sms {
                        self.sms_exists(p, &format!("calendar.steps `{}`.sms", s.code), code);
                    }
                    for o in &s.success_outcomes {
                        if self.outcome(o).is_none() {
                            p.push(format!(
                                "calendar.steps `{}`: unknown success outcome `{o}`",
                                s.code
                            ));
                        }
                    }
                    if s.reassign && s.channel.is_some() {
                        p.push(format!(
                            "calendar.steps `{}`: a reassign step is not a contact (drop `channel`)",
                            s.code
                        ));
                    }
                }
                // Steps are kept earliest first (largest days_before first).
                for (i, s) in c.steps.iter().enumerate() {
                    if !s.only_if_previous_failed {
                        continue;
                    }
                    match i.checked_sub(1).and_then(|j| c.steps.get(j)) {
                        None => p.push(format!(
                            "calendar.steps `{}`: the first step cannot depend on a previous one",
                            s.code
                        )),
                        Some(prev) if prev.success_outcomes.is_empty() => p.push(format!(
                            "calendar.steps `{}` depends on `{}` failing, but `{}` lists no success_outcomes",
                            s.code, prev.code, prev.code
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
    }

    fn check_schedule(&self, p: &mut Vec<String>) {
        let days = &self.schedule.working_days;
        if days.is_empty() {
            p.push("schedule.working_days is empty".to_string());
        }
        let unique: BTreeSet<u32> = days.iter().map(|d| d.num_days_from_monday()).collect();
        if unique.len() != days.len() {
            p.push("schedule.working_days names a day twice".to_string());
        }
    }

    fn check_targets(&self, p: &mut Vec<String>) {
        let cycles = self.schedule.cycle.count();
        let monthly = self.calendar.monthly().is_some();
        let mut seen = BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            let when = match (t.period, t.week) {
                (Period::Day, _) => "day".to_string(),
                (Period::Week, Some(w)) => format!("week {w}"),
                (Period::Week, None) => "every week".to_string(),
                (Period::Month, _) => "month".to_string(),
            };
            let at = format!("targets[{i}] ({when}, {})", t.metric.code());
            let numbers = [Some(t.target), t.good, t.excellent];
            if numbers.iter().flatten().any(|n| !n.is_finite() || *n < 0.0) {
                p.push(format!("{at}: numbers must be zero or more"));
            }
            if t.metric.is_pct() && numbers.iter().flatten().any(|n| *n > 100.0) {
                p.push(format!("{at}: a percentage cannot exceed 100"));
            }
            if t.good.is_some_and(|g| g < t.target)
                || t.excellent.is_some_and(|e| e < t.good.unwrap_or(t.target))
            {
                p.push(format!("{at}: tiers must rise: target ≤ good ≤ excellent"));
            }
            match (t.period, t.week) {
                (Period::Week, Some(w)) if w == 0 || w > cycles => p.push(format!(
                    "{at}: week {w} does not exist (the month has {cycles} work cycles)"
                )),
                (Period::Day | Period::Month, Some(_)) => {
                    p.push(format!("{at}: `week` only applies to week targets"));
                }
                _ => {}
            }
            if t.metric.needs_monthly_calendar() && !monthly {
                p.push(format!(
                    "{at}: `{}` needs a monthly renewal calendar",
                    t.metric.code()
                ));
            }
            if matches!(
                t.metric,
                Metric::SalesVisitsTopGrade | Metric::TopGradeVisitedTwice
            ) && self.grades.is_empty()
            {
                p.push(format!("{at}: there is no grade to be the top grade"));
            }
            self.check_filters(p, &at, t);
            let key = (
                format!("{:?}", t.period),
                t.week,
                t.metric,
                (&t.kind, &t.purpose, &t.outcome, &t.grade, t.phase),
            );
            if !seen.insert(key) {
                p.push(format!("{at}: the same target is set twice"));
            }
        }
    }

    fn check_filters(&self, p: &mut Vec<String>, at: &str, t: &super::targets::Target) {
        if t.metric == Metric::CollectionRatePct {
            match t.phase {
                Some(
                    Phase::Cross
                    | Phase::Receivable
                    | Phase::Due
                    | Phase::Transition
                    | Phase::Final,
                ) => {}
                Some(other) => p.push(format!(
                    "{at}: a collection rate is for a renewal month, not `{}`",
                    other.code()
                )),
                None => p.push(format!("{at}: a collection rate needs a `phase`")),
            }
            if t.kind.is_some() || t.purpose.is_some() || t.outcome.is_some() || t.grade.is_some() {
                p.push(format!("{at}: a collection rate takes only a `phase`"));
            }
            return;
        }
        if !t.metric.takes_filters() {
            if t.has_filters() {
                p.push(format!(
                    "{at}: only visits, calls and sms take kind/purpose/outcome/grade/phase filters"
                ));
            }
            return;
        }
        if let Some(k) = &t.kind {
            if t.metric != Metric::Visits {
                p.push(format!("{at}: `kind` only filters visits"));
            } else if self.visit_kind(k).is_none() {
                p.push(format!("{at}: unknown visit kind `{k}`"));
            }
        }
        if let Some(x) = &t.purpose {
            let known = if t.metric == Metric::Visits {
                self.purpose(x).is_some()
            } else {
                self.contact_purpose(x).is_some()
            };
            if !known {
                p.push(format!("{at}: unknown purpose `{x}`"));
            }
        }
        if let Some(o) = &t.outcome {
            if self.outcome(o).is_none() {
                p.push(format!("{at}: unknown outcome `{o}`"));
            }
        }
        if let Some(g) = &t.grade {
            if self.grade(g).is_none() {
                p.push(format!("{at}: unknown grade `{g}`"));
            }
        }
        if let Some(ph) = t.phase {
            if self.calendar.monthly().is_none() && self.calendar.cadence().is_none() {
                p.push(format!("{at}: a `phase` filter needs a renewal calendar"));
            } else if !(ph.in_play() || ph == Phase::Received) {
                p.push(format!(
                    "{at}: phase `{}` cannot filter visits or contacts",
                    ph.code()
                ));
            }
        }
    }

    fn check_team(&self, p: &mut Vec<String>) {
        let team = &self.team;
        let pct_ok = |x: f64| x.is_finite() && (0.0..=100.0).contains(&x);
        if !pct_ok(team.spot_check_pct) {
            p.push("team.spot_check_pct must be between 0 and 100".to_string());
        }
        let mut seen = BTreeSet::new();
        for r in &team.ratios {
            let at = format!("team.ratios `{}`", r.measure.code());
            if !seen.insert(r.measure) {
                p.push(format!("{at}: set twice"));
            }
            if !pct_ok(r.min_pct) || r.max_pct.is_some_and(|m| !pct_ok(m)) {
                p.push(format!("{at}: percentages must be between 0 and 100"));
            }
            if r.max_pct.is_some_and(|m| m < r.min_pct) {
                p.push(format!("{at}: max_pct is below min_pct"));
            }
            if r.measure == TeamMeasure::CrossMonthPlan && self.calendar.monthly().is_none() {
                p.push(format!("{at}: needs a monthly renewal calendar"));
            }
        }
    }

    fn check_reminders(&self, p: &mut Vec<String>) {
        let r = &self.reminders;
        if r.birthday_lead_days > 366 {
            p.push("reminders.birthday_lead_days is longer than a year".to_string());
        }
        if let Some(code) = &r.birthday_sms {
            self.sms_exists(p, "reminders.birthday_sms", code);
        }
        if let Some(code) = &r.follow_up_sms {
            self.sms_exists(p, "reminders.follow_up_sms", code);
        }
        if let Some(x) = &r.birthday_purpose {
            if self.purpose(x).is_none() && self.contact_purpose(x).is_none() {
                p.push(format!("reminders.birthday_purpose: unknown purpose `{x}`"));
            }
        }
    }

    fn check_sms(&self, p: &mut Vec<String>) {
        codes(
            p,
            "sms.templates",
            self.sms.templates.iter().map(|t| (&t.code, &t.label)),
        );
        if let Err(e) = check_date_format(&self.sms.date_format) {
            p.push(format!("sms: {e}"));
        }
        for t in &self.sms.templates {
            if let Err(e) = check_template(&t.text) {
                p.push(format!("sms.templates `{}`: {e}", t.code));
            }
        }
    }

    fn sms_exists(&self, p: &mut Vec<String>, at: &str, code: &str) {
        if self.sms.template(code).is_none() {
            p.push(format!("{at}: unknown sms template `{code}`"));
        }
    }
}

/// Checks a list of codes: each well formed, labelled and unique.
fn codes<'a>(
    p: &mut Vec<String>,
    list: &str,
    items: impl Iterator<Item = (&'a String, &'a String)>,
) {
    let mut seen = BTreeSet::new();
    for (code, label) in items {
        if code.is_empty() || code.chars().any(|c| c.is_whitespace() || c.is_control()) {
            p.push(format!(
                "{list}: code {code:?} must be a non-empty word without spaces"
            ));
        }
        if label.trim().is_empty() {
            p.push(format!("{list}: `{code}` has an empty label"));
        }
        if !seen.insert(code.as_str()) {
            p.push(format!("{list}: duplicate code `{code}`"));
        }
    }
}
