//! The team's playbook: its vocabulary, calendars, standards, reminders, lists and SMS
//! templates, and the pure computations that turn a working set into what an agent and a
//! manager see.
//!
//! A playbook is a TOML file (`docs/playbooks/*.toml`). The insurance playbook is built in and
//! is the file `docs/playbooks/insurance.toml` itself, so the numbers of the field's manuals
//! live in one place; a car-insurance renewal desk or a home-improvement sales team loads its
//! own file through the same code. Every section refuses unknown fields, and [`Playbook::validate`]
//! refuses inconsistent files, so a typo is a load error naming the field, not a target that
//! silently counts nothing.
//!
//! The computations ([`today`], [`week_progress`], [`month_progress`], [`team_ratios`],
//! [`reminders`], [`lists`]) take the date and a [`WorkingSet`] and do no I/O: the phone and the
//! server get the same numbers from the same records.

mod calendar;
mod facts;
mod form;
mod language;
mod lists;
mod measure;
mod prepared;
mod reminders;
mod sms;
mod standards;
mod targets;
mod team;
mod validation;
mod vocabulary;

#[cfg(test)]
mod testing;

use std::path::Path;
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use calendar::{
    week_of_month, Cadence, CadenceDue, CadenceStep, Calendar, MonthlyCalendar, Phase, PhaseText,
    PhaseTexts, Schedule, WorkCycle,
};
pub use form::{FormVocabulary, OutcomeTerm, Term, LANGUAGES};
pub use language::Language;
pub use lists::{lists, Household, HouseholdBy, ListEntry, PolicyLine, PostcodeGroup};
pub use prepared::Prepared;
pub use reminders::{reminders, Reminder, ReminderKind, Urgency};
pub use sms::{SmsSettings, SmsTemplate, SmsValues, PLACEHOLDERS};
pub use standards::{
    is_effective, month_progress, today, week_progress, DailyCount, DailyStandard,
    EffectiveVisitRule, PeriodProgress, Progress, SevenThings, TodayStatus,
};
pub use targets::{rate_pct, Metric, Period, Standing, Target, Tier};
pub use team::{
    team_month_ratios, team_ratios, RatioProgress, TeamMeasure, TeamRatio, TeamRatios, TeamStandard,
};
pub use vocabulary::{Category, ContactPurpose, Grade, OutcomeKind, Purpose, VisitKind};

use crate::error::{Error, Result};
use crate::model::{Contact, Customer, Day, NewContact, NewVisit, Policy, PolicyStatus, Visit};

/// The built-in insurance playbook's file.
const INSURANCE_TOML: &str = include_str!("../../../docs/playbooks/insurance.toml");

/// A team's playbook. Build one with [`Playbook::insurance`], [`Playbook::from_toml_str`] or
/// [`Playbook::load`], which validate it; the fields are public for reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// A short name (`insurance`, `car-insurance`…).
    pub name: String,
    /// What screens call the playbook.
    pub title: String,
    /// What English screens call the playbook; `title` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_en: Option<String>,
    /// Who the playbook is for.
    #[serde(default)]
    pub description: String,
    /// The work cycle of week targets and the working days.
    #[serde(default)]
    pub schedule: Schedule,
    /// Customer grades, best first.
    #[serde(default)]
    pub grades: Vec<Grade>,
    /// Visit kinds.
    pub visit_kinds: Vec<VisitKind>,
    /// Visit purposes, each flagged effective or not.
    pub purposes: Vec<Purpose>,
    /// Purposes of calls and SMS.
    #[serde(default)]
    pub contact_purposes: Vec<ContactPurpose>,
    /// Outcomes of visits and calls.
    pub outcomes: Vec<OutcomeKind>,
    /// When a visit is effective.
    #[serde(default)]
    pub effective_visit: EffectiveVisitRule,
    /// The renewal calendar.
    #[serde(default)]
    pub calendar: Calendar,
    /// The daily standard (311, 10-3-1).
    pub daily: DailyStandard,
    /// Day, week and month targets.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// What managers expect of the team.
    #[serde(default)]
    pub team: TeamStandard,
    /// Reminder cadences.
    #[serde(default)]
    pub reminders: ReminderSettings,
    /// Service-routine list settings.
    #[serde(default)]
    pub lists: ListSettings,
    /// SMS templates.
    #[serde(default)]
    pub sms: SmsSettings,
    /// What a record must hold to be accepted (the domain's anti-padding rules).
    #[serde(default)]
    pub records: RecordRules,
}

/// The domain's rules on records that count (issue 13: padding), beyond the vocabulary: how far
/// ahead a visit may be dated. An outcome's own needs (an amount, a date) are flags on the
/// outcome ([`OutcomeKind::requires_amount`], [`OutcomeKind::requires_date`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRules {
    /// A visit starting more than this many days after the phone's today is refused (a
    /// visit is recorded when it happened, or planned a few days ahead at most).
    #[serde(default = "default_max_days_ahead")]
    pub max_days_ahead: u32,
}

fn default_max_days_ahead() -> u32 {
    3
}

impl Default for RecordRules {
    fn default() -> Self {
        RecordRules {
            max_days_ahead: default_max_days_ahead(),
        }
    }
}

/// Reminder cadences of a playbook.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderSettings {
    /// How many days ahead a birthday is reminded (0: on the day only).
    #[serde(default)]
    pub birthday_lead_days: u32,
    /// The visit or contact purpose that records a birthday greeting (clears the reminder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_purpose: Option<String>,
    /// The SMS template for birthdays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_sms: Option<String>,
    /// Days after a sales visit that did not close to send a follow-up message; none: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_after_days: Option<u32>,
    /// The SMS template for that follow-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_sms: Option<String>,
}

/// Service-routine list settings of a playbook.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSettings {
    /// The premium (minor units) from which a policy is on the large-premium list; none: no
    /// such list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_premium_cents: Option<i64>,
}

/// The records the computations read, as the store's index holds them for one agent (or, on
/// the server, for a manager's group). Plain data: the same visit may appear twice and is
/// counted once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkingSet {
    /// Customer cards.
    pub customers: Vec<Customer>,
    /// Their policies.
    pub policies: Vec<Policy>,
    /// Visits.
    pub visits: Vec<Visit>,
    /// Calls and SMS.
    pub contacts: Vec<Contact>,
    /// Agents' days (work log, evening report).
    pub days: Vec<Day>,
}

impl Playbook {
    /// The built-in insurance playbook (`docs/playbooks/insurance.toml`).
    pub fn insurance() -> Playbook {
        static BUILT_IN: OnceLock<Playbook> = OnceLock::new();
        BUILT_IN
            .get_or_init(|| {
                Playbook::from_toml_str("built-in insurance", INSURANCE_TOML)
                    .unwrap_or_else(|e| panic!("the built-in playbook is tested to load: {e}"))
            })
            .clone()
    }

    /// Parses and validates a playbook. `source_name` names the file in errors.
    ///
    /// An unknown field, a missing one or a wrong type is an [`Error::Playbook`] whose reason
    /// gives the line and column and names the field; an inconsistent file is an
    /// [`Error::Playbook`] listing every problem.
    pub fn from_toml_str(source_name: &str, text: &str) -> Result<Playbook> {
        let pb: Playbook = toml::from_str(text).map_err(|e| Error::Playbook {
            source_name: source_name.to_string(),
            reason: toml_reason(text, &e),
        })?;
        pb.validate().map_err(|e| match e {
            Error::Playbook { reason, .. } => Error::Playbook {
                source_name: source_name.to_string(),
                reason,
            },
            other => other,
        })?;
        Ok(pb)
    }

    /// Reads, parses and validates a playbook file.
    pub fn load(path: &Path) -> Result<Playbook> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Playbook::from_toml_str(&path.display().to_string(), &text)
    }

    /// The grade with this code.
    pub fn grade(&self, code: &str) -> Option<&Grade> {
        self.grades.iter().find(|g| g.code == code)
    }

    /// The visit kind with this code.
    pub fn visit_kind(&self, code: &str) -> Option<&VisitKind> {
        self.visit_kinds.iter().find(|k| k.code == code)
    }

    /// The visit purpose with this code.
    pub fn purpose(&self, code: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.code == code)
    }

    /// The contact purpose with this code.
    pub fn contact_purpose(&self, code: &str) -> Option<&ContactPurpose> {
        self.contact_purposes.iter().find(|p| p.code == code)
    }

    /// The outcome with this code.
    pub fn outcome(&self, code: &str) -> Option<&OutcomeKind> {
        self.outcomes.iter().find(|o| o.code == code)
    }

    /// Checks a grade code against the playbook, for a customer card about to be written.
    pub fn check_grade(&self, code: &str) -> Result<()> {
        match self.grade(code) {
            Some(_) => Ok(()),
            None => Err(unknown("grade", code, self.grades.iter().map(|g| &g.code))),
        }
    }

    /// Checks a visit's kind, purposes and outcome codes against the playbook, for a visit
    /// about to be recorded.
    pub fn check_visit(&self, visit: &NewVisit) -> Result<()> {
        if self.visit_kind(&visit.kind).is_none() {
            return Err(unknown(
                "kind",
                &visit.kind,
                self.visit_kinds.iter().map(|k| &k.code),
            ));
        }
        if let Some(bad) = visit.purposes.iter().find(|p| self.purpose(p).is_none()) {
            return Err(unknown(
                "purposes",
                bad,
                self.purposes.iter().map(|p| &p.code),
            ));
        }
        self.check_outcome(visit.outcome.as_ref().map(|o| o.code.as_str()))?;
        if let Some(o) = &visit.outcome {
            if let Some(kind) = self.outcome(&o.code) {
                if kind.requires_amount && o.amount_cents.is_none_or(|a| a <= 0) {
                    return Err(Error::invalid(
                        "outcome.amount_cents",
                        format!(
                            "outcome `{}` ({}) needs the amount, above zero",
                            kind.code, kind.label
                        ),
                    ));
                }
                if kind.requires_date && o.date.is_none() {
                    return Err(Error::invalid(
                        "outcome.date",
                        format!("outcome `{}` ({}) needs a date", kind.code, kind.label),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a visit's day against the phone's today: more than
    /// [`RecordRules::max_days_ahead`] days ahead is refused.
    pub fn check_visit_day(&self, day: NaiveDate, today: NaiveDate) -> Result<()> {
        let ahead = (day - today).num_days();
        if ahead > i64::from(self.records.max_days_ahead) {
            return Err(Error::invalid(
                "start",
                format!(
                    "the visit is dated {day}, {ahead} days ahead: at most {} days ahead are accepted",
                    self.records.max_days_ahead
                ),
            ));
        }
        Ok(())
    }

    /// Checks a call's or SMS's purpose and outcome codes against the playbook.
    pub fn check_contact(&self, contact: &NewContact) -> Result<()> {
        if let Some(p) = &contact.purpose {
            if self.contact_purpose(p).is_none() {
                return Err(unknown(
                    "purpose",
                    p,
                    self.contact_purposes.iter().map(|p| &p.code),
                ));
            }
        }
        self.check_outcome(contact.outcome.as_deref())
    }

    fn check_outcome(&self, code: Option<&str>) -> Result<()> {
        match code {
            Some(c) if self.outcome(c).is_none() => {
                Err(unknown("outcome", c, self.outcomes.iter().map(|o| &o.code)))
            }
            _ => Ok(()),
        }
    }

    /// Whether a policy is exited (退出单) on `date`: surrender asked (its status is `exited`)
    /// or lapsed (unpaid past its grace end or expiry, whatever its typed status). The phone's
    /// lists and the manager's pipeline both ask this.
    pub fn is_exited(&self, policy: &Policy, date: NaiveDate) -> bool {
        policy.status == PolicyStatus::Exited || self.calendar.phase(policy, date) == Phase::Lapsed
    }

    /// Renders an SMS template with its placeholders (`{customer}`, `{agent}`, `{date}`).
    pub fn render_sms(&self, template_code: &str, values: &SmsValues) -> Result<String> {
        self.sms.render(template_code, values)
    }
}

/// A TOML error in one line: "line L, column C: message" (the parser's own text draws the
/// line with a caret over several lines, which a command line's one-line error cannot hold).
fn toml_reason(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

fn unknown<'a>(field: &str, code: &str, known: impl Iterator<Item = &'a String>) -> Error {
    let known: Vec<&str> = known.map(String::as_str).collect();
    Error::invalid(
        field,
        format!("unknown code `{code}` (known: {})", known.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;

    fn playbook_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/playbooks")
    }

    fn all_files() -> Vec<(PathBuf, Playbook)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(playbook_dir())
            .expect("docs/playbooks exists")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let pb = Playbook::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p, pb)
            })
            .collect()
    }

    #[test]
    fn every_playbook_file_loads_validates_and_counts_differently() {
        let files = all_files();
        let names: BTreeSet<&str> = files.iter().map(|(_, pb)| pb.name.as_str()).collect();
        assert!(
            ["insurance", "car-insurance", "home-improvement"]
                .iter()
                .all(|n| names.contains(n)),
            "{names:?}"
        );
        assert_eq!(names.len(), files.len(), "playbook names are unique");
        // What each one counts differs: effective purposes, result outcomes, calendars and
        // targets.
        let effective = |pb: &Playbook| -> BTreeSet<String> {
            pb.purposes
                .iter()
                .filter(|p| p.effective)
                .map(|p| p.code.clone())
                .collect()
        };
        let results = |pb: &Playbook| -> BTreeSet<String> {
            pb.outcomes
                .iter()
                .filter(|o| o.result)
                .map(|o| o.code.clone())
                .collect()
        };
        let targets = |pb: &Playbook| -> BTreeSet<(Metric, Option<String>)> {
            pb.targets
                .iter()
                .map(|t| (t.metric, t.kind.clone().or(t.purpose.clone())))
                .collect()
        };
        for (i, (pa, a)) in files.iter().enumerate() {
            assert!(!effective(a).is_empty(), "{}", pa.display());
            assert!(!results(a).is_empty(), "{}", pa.display());
            for (pb_path, b) in &files[i + 1..] {
                let what = format!("{} vs {}", pa.display(), pb_path.display());
                assert_ne!(effective(a), effective(b), "effective purposes: {what}");
                assert_ne!(results(a), results(b), "result outcomes: {what}");
                assert_ne!(targets(a), targets(b), "targets: {what}");
                assert_ne!(
                    std::mem::discriminant(&a.calendar),
                    std::mem::discriminant(&b.calendar),
                    "calendars: {what}"
                );
            }
        }
    }

    #[test]
    fn the_built_in_playbook_is_the_file() {
        let file = Playbook::load(&playbook_dir().join("insurance.toml")).expect("loads");
        assert_eq!(Playbook::insurance(), file);
    }

    #[test]
    fn the_built_in_playbook_holds_the_field_s_numbers() {
        let pb = Playbook::insurance();
        let grades: Vec<&str> = pb.grades.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(grades, ["A", "B", "C", "D"]);
        let kinds: Vec<(&str, &str, Category)> = pb
            .visit_kinds
            .iter()
            .map(|k| (k.code.as_str(), k.label.as_str(), k.category))
            .collect();
        assert_eq!(
            kinds,
            [
                ("collection", "收费访", Category::Collection),
                ("service", "服务访", Category::Service),
                ("sales", "销售访", Category::Sales),
            ]
        );
        assert_eq!(
            (
                pb.daily.effective_visits,
                pb.daily.work_log,
                pb.daily.evening_report
            ),
            (3, true, true)
        );
        assert_eq!(
            (pb.daily.calls, pb.daily.meetings, pb.daily.results),
            (10, 3, 1)
        );
        assert_eq!(pb.calendar.monthly().map(|m| m.grace_days), Some(60));
        for code in ["birthday", "thanks", "maturity"] {
            assert_eq!(pb.purpose(code).map(|p| p.effective), Some(false), "{code}");
        }
        for code in [
            "premium_collected",
            "needs_discovery",
            "closing",
            "surrender_talked_down",
        ] {
            assert_eq!(pb.purpose(code).map(|p| p.effective), Some(true), "{code}");
        }
        let paid = pb.outcome("paid").expect("paid");
        assert!(paid.marks_paid && paid.result);
        assert!(pb
            .outcome("new_policy")
            .is_some_and(|o| o.closes && o.result));
        assert!(pb.outcome("referral").is_some_and(|o| o.result));
        assert!(pb
            .outcome("not_at_home")
            .is_some_and(|o| !o.met && !o.result));
        let weeks: BTreeSet<u32> = pb.targets.iter().filter_map(|t| t.week).collect();
        assert_eq!(weeks, BTreeSet::from([1, 2, 3, 4]));
        let ratio = |m: TeamMeasure| {
            pb.team
                .ratios
                .iter()
                .find(|r| r.measure == m)
                .map(|r| (r.min_pct, r.max_pct))
        };
        assert_eq!(ratio(TeamMeasure::MetTarget), Some((80.0, None)));
        assert_eq!(ratio(TeamMeasure::Healthy), Some((40.0, Some(60.0))));
        assert_eq!(ratio(TeamMeasure::Top), Some((30.0, None)));
        assert_eq!(ratio(TeamMeasure::Active), Some((80.0, None)));
        assert_eq!(ratio(TeamMeasure::CrossMonthPlan), Some((100.0, None)));
        assert_eq!(ratio(TeamMeasure::Accumulation), Some((100.0, None)));
        assert_eq!(pb.team.spot_check_pct, 30.0);
    }

    #[test]
    fn playbooks_travel_as_json() {
        for (path, pb) in all_files() {
            let json = serde_json::to_string(&pb).expect("serialises");
            let back: Playbook = serde_json::from_str(&json).expect("deserialises");
            assert_eq!(back, pb, "{}", path.display());
        }
    }

    fn insurance_with(find: &str, replace: &str) -> Result<Playbook> {
        assert!(
            INSURANCE_TOML.contains(find),
            "fixture text {find:?} not in the file"
        );
        Playbook::from_toml_str("edited.toml", &INSURANCE_TOML.replacen(find, replace, 1))
    }

    fn reason(r: Result<Playbook>) -> String {
        match r {
            Err(Error::Playbook {
                source_name,
                reason,
            }) => {
                assert_eq!(source_name, "edited.toml");
                reason
            }
            other => panic!("expected a playbook error, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_it_and_its_line() {
        let r = reason(insurance_with(
            "code = \"closing\"",
            "code = \"closing\"\ncolour = \"red\"",
        ));
        assert!(r.contains("colour"), "{r}");
        assert!(r.contains("line"), "{r}");
        assert!(!r.contains('\n'), "one line: {r}");
        let r = reason(insurance_with("[daily]", "[daily]\nvisits_per_day = 3"));
        assert!(r.contains("visits_per_day"), "{r}");
        let r = reason(insurance_with(
            "kind = \"monthly\"",
            "kind = \"monthly\"\ngrace_period = 30",
        ));
        assert!(r.contains("grace_period"), "{r}");
        let r = reason(insurance_with(
            "metric = \"closes\"",
            "metric = \"sales_made\"",
        ));
        assert!(r.contains("sales_made"), "{r}");
    }

    #[test]
    fn inconsistent_files_are_refused_with_every_problem_named() {
        let table = [
            (
                "code = \"thanks\"",
                "code = \"closing\"",
                "purposes: duplicate code `closing`",
            ),
            (
                "metric = \"closes\"",
                "metric = \"visits\"\nkind = \"teleport\"",
                "unknown visit kind `teleport`",
            ),
            ("week = 4", "week = 5", "week 5 does not exist"),
            (
                "birthday_sms = \"birthday\"",
                "birthday_sms = \"birthdy\"",
                "unknown sms template `birthdy`",
            ),
            (
                "{customer}您好，感谢",
                "{custmer}您好，感谢",
                "unknown placeholder `{custmer}`",
            ),
            (
                "grace_days = 60",
                "grace_days = 60\nsteps = [{ code = \"x\", label = \"x\", days_before = 3, action = \"x\" }]",
                "a monthly calendar takes no steps",
            ),
            (
                "min_pct = 80",
                "min_pct = 180",
                "percentages must be between 0 and 100",
            ),
        ];
        for (find, replace, want) in table {
            let r = reason(insurance_with(find, replace));
            assert!(r.contains(want), "{want:?} not in:\n{r}");
        }
        // Several problems at once are all named.
        let text = INSURANCE_TOML.replacen("week = 4", "week = 5", 1).replacen(
            "birthday_sms = \"birthday\"",
            "birthday_sms = \"nope\"",
            1,
        );
        let r = reason(Playbook::from_toml_str("edited.toml", &text));
        assert!(r.contains("week 5") && r.contains("`nope`"), "{r}");
    }

    #[test]
    fn cross_month_metrics_need_a_monthly_calendar() {
        let home = Playbook::load(&playbook_dir().join("home-improvement.toml")).expect("loads");
        let mut text = std::fs::read_to_string(playbook_dir().join("home-improvement.toml"))
            .expect("readable");
        text.push_str(
            "\n[[targets]]\nperiod = \"month\"\nmetric = \"cross_month_visits\"\ntarget = 3\n",
        );
        let e = Playbook::from_toml_str("home", &text).unwrap_err();
        assert!(
            e.to_string().contains("needs a monthly renewal calendar"),
            "{e}"
        );
        assert!(home.calendar == Calendar::None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            "",
            "name = ",
            "[[[",
            "name = 3",
            "\u{0}",
            "name = \"x\"\ntitle = \"y\"",
        ] {
            assert!(
                Playbook::from_toml_str("garbage", text).is_err(),
                "{text:?}"
            );
        }
        let e = Playbook::load(Path::new("/nonexistent/playbook.toml")).unwrap_err();
        assert_eq!(e.code(), "storage");
    }

    #[test]
    fn records_are_checked_against_the_vocabulary() {
        let pb = Playbook::insurance();
        let at = chrono::DateTime::parse_from_rfc3339("2026-06-16T10:00:00+08:00").expect("time");
        let mut v = NewVisit {
            kind: "collection".into(),
            purposes: vec!["premium_collected".into()],
            outcome: None,
            policies: vec![],
            start: at,
            end: at,
            location: None,
            notes: String::new(),
        };
        assert!(pb.check_visit(&v).is_ok());
        v.kind = "teleport".into();
        let e = pb.check_visit(&v).unwrap_err();
        assert!(e.to_string().contains("teleport") && e.to_string().contains("collection"));
        assert!(pb.check_grade("A").is_ok());
        assert!(pb.check_grade("Z").is_err());
    }
}
