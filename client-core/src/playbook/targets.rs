//! What a playbook can set a target on: the metrics, implemented in code, and the targets a
//! playbook file sets on them for a day, a week (work cycle) or a month.
//!
//! The metric names are the vocabulary shared by playbook files and screens. What each one
//! counts is documented on its variant and implemented in one place (`measure`); a file only
//! chooses metrics and numbers, so a car desk and a sales team count different things with the
//! same code.

use serde::{Deserialize, Serialize};

use super::calendar::Phase;

/// Something an agent's work is measured by.
///
/// Conventions shared by every metric:
/// - Work is credited to the agent who did it (`Visit::agent`, `Contact::agent`) on the local
///   date of its start; a visit or contact appearing twice counts once.
/// - "Visits" are visits where the customer was met: a visit whose outcome is flagged
///   `met = false` (not at home) does not count; a visit without an outcome does.
/// - Policy-based metrics (cross month, difficult, orphan…) read the policies of the customers
///   the visit or contact was with, and the policy's current status.
/// - Percentage metrics (`…_pct`) look at the customers assigned to the agent and count what
///   was done from the first of the month up to the day asked about. Over an empty pool there
///   is no percentage: [`Metric::over_nothing`] says how the target then stands ("call every
///   cross-month customer" with none is met; a collection rate over no policy is n/a).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Visits (filters: kind, purpose, outcome, grade, phase).
    Visits,
    /// Effective visits, by the playbook's effective-visit rule, one per customer and day.
    EffectiveVisits,
    /// Phone calls (filters: purpose, outcome, grade, phase).
    Calls,
    /// SMS sent (filters: purpose, outcome, grade, phase).
    Sms,
    /// 10-3-1 results: visits and calls whose outcome is flagged `result`, plus customer cards
    /// created (new prospects).
    Results,
    /// New business closed: visits and calls whose outcome is flagged `closes`.
    Closes,
    /// Customer cards created and assigned to the agent (customer accumulation).
    NewProspects,
    /// Days with a work log written.
    WorkLogs,
    /// Days with an evening report submitted.
    EveningReports,
    /// Visits of a collection kind.
    CollectionVisits,
    /// Visits of a service kind.
    ServiceVisits,
    /// Visits of a sales kind.
    SalesVisits,
    /// Customers met with a policy in its cross month on the day of the visit (亲访10位客户:
    /// customers, not visits).
    CrossMonthVisits,
    /// Customers met with a policy in its receivable month on the day of the visit.
    ReceivableMonthVisits,
    /// Customers met with a policy paid this month (actual-received month).
    ActualMonthVisits,
    /// Collection visits to customers with a difficult or exited (surrender asked or lapsed)
    /// policy.
    CollectionVisitsDifficult,
    /// Calls to hard-to-collect customers: an unpaid policy that is difficult, exited or dead,
    /// or whose deduction failed.
    HardToCollectCalls,
    /// Visits to hard-to-collect customers.
    HardToCollectVisits,
    /// Share of the agent's customers with a difficult or exited (surrender asked or lapsed)
    /// policy visited this month.
    DifficultExitedVisitedPct,
    /// Share of the agent's customers with a policy in its cross month called this month.
    CrossMonthCallsPct,
    /// Share of the agent's customers with a policy in its receivable month called this month.
    ReceivableCallsPct,
    /// Share of the agent's customers whose deduction failed this month, still unpaid, called
    /// since it failed.
    FailedDeductionCallsPct,
    /// Sales visits to customers of the top grade (the playbook's first grade: A).
    #[serde(alias = "sales_visits_a_grade")]
    SalesVisitsTopGrade,
    /// Top-grade customers given two sales visits or more.
    #[serde(alias = "a_grade_visited_twice")]
    TopGradeVisitedTwice,
    /// Calls whose contact purpose is of the service category.
    ServiceCalls,
    /// Service visits to customers with a policy in play (their collection period).
    ServiceVisitsInCollectionPeriod,
    /// Share of the agent's customers whose birthday fell this month (up to the day asked
    /// about) who were greeted: a contact or visit with the birthday purpose within the
    /// reminder lead days before it, or on it.
    BirthdaysGreetedPct,
    /// Share of the agent's policies paid this month whose customer was visited on or after
    /// the payment (receipt and invoice delivered).
    ReceiptsDeliveredPct,
    /// Share of the agent's customers with an orphan policy called or visited this month.
    OrphansCalledPct,
    /// Share of the agent's policies whose month plays the target's `phase` (due, transition,
    /// final…) that are paid by the day asked about (the collection rate).
    CollectionRatePct,
}

impl Metric {
    /// The metric's code, as written in playbook files.
    pub fn code(self) -> &'static str {
        match self {
            Metric::Visits => "visits",
            Metric::EffectiveVisits => "effective_visits",
            Metric::Calls => "calls",
            Metric::Sms => "sms",
            Metric::Results => "results",
            Metric::Closes => "closes",
            Metric::NewProspects => "new_prospects",
            Metric::WorkLogs => "work_logs",
            Metric::EveningReports => "evening_reports",
            Metric::CollectionVisits => "collection_visits",
            Metric::ServiceVisits => "service_visits",
            Metric::SalesVisits => "sales_visits",
            Metric::CrossMonthVisits => "cross_month_visits",
            Metric::ReceivableMonthVisits => "receivable_month_visits",
            Metric::ActualMonthVisits => "actual_month_visits",
            Metric::CollectionVisitsDifficult => "collection_visits_difficult",
            Metric::HardToCollectCalls => "hard_to_collect_calls",
            Metric::HardToCollectVisits => "hard_to_collect_visits",
            Metric::DifficultExitedVisitedPct => "difficult_exited_visited_pct",
            Metric::CrossMonthCallsPct => "cross_month_calls_pct",
            Metric::ReceivableCallsPct => "receivable_calls_pct",
            Metric::FailedDeductionCallsPct => "failed_deduction_calls_pct",
            Metric::SalesVisitsTopGrade => "sales_visits_top_grade",
            Metric::TopGradeVisitedTwice => "top_grade_visited_twice",
            Metric::ServiceCalls => "service_calls",
            Metric::ServiceVisitsInCollectionPeriod => "service_visits_in_collection_period",
            Metric::BirthdaysGreetedPct => "birthdays_greeted_pct",
            Metric::ReceiptsDeliveredPct => "receipts_delivered_pct",
            Metric::OrphansCalledPct => "orphans_called_pct",
            Metric::CollectionRatePct => "collection_rate_pct",
        }
    }

    /// Whether the metric is a percentage (0–100) rather than a count.
    pub fn is_pct(self) -> bool {
        self.code().ends_with("_pct")
    }

    /// How a target on this metric stands when there is nothing to measure (an empty pool of
    /// customers or policies). A rate over nothing (`collection_rate_pct`) is neither met nor
    /// missed; a coverage target ("call / visit / greet every …", the other `…_pct` metrics) over
    /// nothing is met: there was nobody to miss. Counts always have a value.
    pub fn over_nothing(self) -> Standing {
        match self {
            Metric::CollectionRatePct => Standing::NotApplicable,
            _ => Standing::Met,
        }
    }

    /// Whether the metric takes the kind/purpose/outcome/grade/phase filters of a target.
    pub fn takes_filters(self) -> bool {
        matches!(self, Metric::Visits | Metric::Calls | Metric::Sms)
    }

    /// Whether the metric only makes sense with a monthly renewal calendar.
    pub fn needs_monthly_calendar(self) -> bool {
        matches!(
            self,
            Metric::CrossMonthVisits
                | Metric::ReceivableMonthVisits
                | Metric::CrossMonthCallsPct
                | Metric::ReceivableCallsPct
                | Metric::CollectionRatePct
        )
    }
}

/// The stretch of time a target is counted over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One day.
    Day,
    /// One work cycle of the month: a week (days 1–7, 8–14, 15–21, 22+) or, for a team whose
    /// schedule says so, ten days. Also written `cycle`.
    #[serde(alias = "cycle")]
    Week,
    /// The month so far.
    Month,
}

/// The three tiers of a collection-rate target (basic / good / excellent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The target itself reached.
    Basic,
    /// The `good` number reached.
    Good,
    /// The `excellent` number reached.
    Excellent,
}

/// Where a target stands: the one reading the phone's progress, the manager's pipeline and the
/// team ratios share (domain, December decisions: a rate over nothing reads "n/a" on both
/// sides, never met and never missed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// The target is reached.
    Met,
    /// The target is not reached.
    Missed,
    /// Nothing to measure: a rate over an empty pool.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Standing {
    /// The standing of `actual` against `target`; `None` is an empty pool, which stands as
    /// `over_nothing` says.
    pub fn judge(actual: Option<f64>, target: f64, over_nothing: Standing) -> Standing {
        match actual {
            None => over_nothing,
            Some(a) if a >= target => Standing::Met,
            Some(_) => Standing::Missed,
        }
    }

    /// Whether the target is reached.
    pub fn is_met(self) -> bool {
        self == Standing::Met
    }

    /// Whether the target is missed (n/a is not).
    pub fn is_missed(self) -> bool {
        self == Standing::Missed
    }

    /// The standing's code (`met`, `missed`, `n/a`).
    pub fn code(self) -> &'static str {
        match self {
            Standing::Met => "met",
            Standing::Missed => "missed",
            Standing::NotApplicable => "n/a",
        }
    }
}

/// The share of `true` in percent; `None` when there is nothing to count (an empty pool has
/// no rate: see [`Standing`]).
pub fn rate_pct(done: impl Iterator<Item = bool>) -> Option<f64> {
    let (mut total, mut yes) = (0usize, 0usize);
    for d in done {
        total += 1;
        yes += usize::from(d);
    }
    (total > 0).then(|| yes as f64 * 100.0 / total as f64)
}

/// A target a playbook sets: "10 cross-month visits in week 1".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Day, week (work cycle) or month.
    pub period: Period,
    /// For a week target: the week (cycle) of the month it applies to; every week when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
    /// What is counted.
    pub metric: Metric,
    /// The number to reach (the basic tier when tiers are given).
    pub target: f64,
    /// The good tier, if the target has tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<f64>,
    /// The excellent tier, if the target has tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excellent: Option<f64>,
    /// What screens call the target; the metric's code when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What English screens show; the primary `label` when absent (see `language`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    /// Only visits of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only visits with this purpose, or contacts with this contact purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Only visits or contacts with this outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Only customers of this grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Only customers with a policy in this phase on the day (for `collection_rate_pct`: the
    /// pool of policies whose month plays this role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
}

impl Target {
    /// What screens call the target.
    pub fn label(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => self.metric.code().to_string(),
        }
    }

    /// Whether the target names any filter.
    pub fn has_filters(&self) -> bool {
        self.kind.is_some()
            || self.purpose.is_some()
            || self.outcome.is_some()
            || self.grade.is_some()
            || self.phase.is_some()
    }

    /// Whether the target applies in this week (cycle) of the month.
    pub fn applies_in_week(&self, week: u32) -> bool {
        self.period == Period::Week && self.week.is_none_or(|w| w == week)
    }

    /// Where the target stands for a measured value (`None`: nothing to measure).
    pub fn standing(&self, actual: Option<f64>) -> Standing {
        Standing::judge(actual, self.target, self.metric.over_nothing())
    }

    /// The tier an actual value reaches, if any.
    pub fn tier(&self, actual: f64) -> Option<Tier> {
        if self.excellent.is_some_and(|e| actual >= e) {
            Some(Tier::Excellent)
        } else if self.good.is_some_and(|g| actual >= g) {
            Some(Tier::Good)
        } else if actual >= self.target {
            Some(Tier::Basic)
        } else {
            None
        }
    }
}
