//! What each [`Metric`] counts, in one place.
//!
//! A playbook file chooses metrics and numbers; this module is where a metric's name turns into
//! a count over the working set. The conventions every metric follows are documented on
//! [`Metric`]; keep them true here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};

use super::calendar::{add_days, birthday_in, month_start, Phase};
use super::facts::{contact_date, failed_deduction, visit_date, Facts};
use super::standards::effective_in;
use super::targets::{rate_pct, Metric, Target};
use super::vocabulary::Category;
use crate::ids::UserId;
use crate::model::{Contact, ContactKind, CustomerStatus, PolicyStatus, Visit};

/// One agent's work over the days `[from, to]`.
pub(crate) struct Span<'s, 'a> {
    pub facts: &'s Facts<'a>,
    pub agent: &'s UserId,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl<'a> Span<'_, 'a> {
    /// The value of a target's metric over the span; `None` for a percentage over an empty
    /// pool.
    pub fn measure(&self, t: &Target) -> Option<f64> {
        let f = self.facts;
        let to = self.to;
        let count = |n: usize| Some(n as f64);
        match t.metric {
            Metric::Visits => count(self.visits().filter(|v| self.visit_matches(t, v)).count()),
            Metric::EffectiveVisits => count(self.effective_visits()),
            Metric::Calls => count(
                self.contacts(ContactKind::Call)
                    .filter(|c| self.contact_matches(t, c))
                    .count(),
            ),
            Metric::Sms => count(
                self.contacts(ContactKind::Sms)
                    .filter(|c| self.contact_matches(t, c))
                    .count(),
            ),
            Metric::Results => count(self.results()),
            Metric::Closes => count(self.closes()),
            Metric::NewProspects => count(self.new_prospects()),
            Metric::WorkLogs => count(self.days().filter(|d| f.day(self.agent, *d).log).count()),
            Metric::EveningReports => {
                count(self.days().filter(|d| f.day(self.agent, *d).report).count())
            }
            Metric::CollectionVisits => count(self.visits_of(Category::Collection).count()),
            Metric::ServiceVisits => count(self.visits_of(Category::Service).count()),
            Metric::SalesVisits => count(self.visits_of(Category::Sales).count()),
            Metric::CrossMonthVisits => count(self.visits_in_phase(Phase::Cross)),
            Metric::ReceivableMonthVisits => count(self.visits_in_phase(Phase::Receivable)),
            Metric::ActualMonthVisits => count(self.visits_in_phase(Phase::Received)),
            Metric::CollectionVisitsDifficult => count(
                self.visits_of(Category::Collection)
                    .filter(|v| f.difficult_or_exited(v.customer, visit_date(v)))
                    .count(),
            ),
            Metric::HardToCollectCalls => count(
                self.contacts(ContactKind::Call)
                    .filter(|c| f.hard_to_collect(c.customer, contact_date(c)))
                    .count(),
            ),
            Metric::HardToCollectVisits => count(
                self.visits()
                    .filter(|v| f.hard_to_collect(v.customer, visit_date(v)))
                    .count(),
            ),
            Metric::DifficultExitedVisitedPct => pct(f
                .customers_of(self.agent)
                .filter(|c| f.difficult_or_exited(c.id, to))
                .map(|c| f.visited_this_month(c.id, to))),
            Metric::CrossMonthCallsPct => self.called_in_phase_pct(Phase::Cross),
            Metric::ReceivableCallsPct => self.called_in_phase_pct(Phase::Receivable),
            Metric::FailedDeductionCallsPct => pct(f.customers_of(self.agent).filter_map(|c| {
                let failed = f
                    .policies_of(c.id)
                    .iter()
                    .filter_map(|p| failed_deduction(p, to))
                    .filter(|d| *d >= month_start(to))
                    .min()?;
                Some(f.contacted(c.id, ContactKind::Call, failed, to))
            })),
            Metric::SalesVisitsTopGrade => count(
                self.visits_of(Category::Sales)
                    .filter(|v| self.top_grade(v))
                    .count(),
            ),
            Metric::TopGradeVisitedTwice => {
                let mut per_customer = BTreeMap::new();
                for v in self
                    .visits_of(Category::Sales)
                    .filter(|v| self.top_grade(v))
                {
                    *per_customer.entry(v.customer).or_insert(0u32) += 1;
                }
                count(per_customer.values().filter(|n| **n >= 2).count())
            }
            Metric::ServiceCalls => count(
                self.contacts(ContactKind::Call)
                    .filter(|c| {
                        c.purpose
                            .as_deref()
                            .and_then(|p| f.pb.contact_purpose(p))
                            .is_some_and(|p| p.category == Some(Category::Service))
                    })
                    .count(),
            ),
            Metric::ServiceVisitsInCollectionPeriod => count(
                self.visits_of(Category::Service)
                    .filter(|v| f.in_play(v.customer, visit_date(v)))
                    .count(),
            ),
            Metric::BirthdaysGreetedPct => self.birthdays_greeted_pct(),
            Metric::ReceiptsDeliveredPct => pct(f
                .customers_of(self.agent)
                .flat_map(|c| f.policies_of(c.id).iter())
                .filter_map(|p| {
                    let paid = p.paid_on.filter(|d| *d >= month_start(to))?;
                    (f.pb.calendar.phase(p, to) == Phase::Received)
                        .then(|| f.visited(p.customer, paid, to))
                })),
            Metric::OrphansCalledPct => pct(f
                .customers_of(self.agent)
                .filter(|c| f.has_status(c.id, &[PolicyStatus::Orphan]))
                .map(|c| f.called_this_month(c.id, to) || f.visited_this_month(c.id, to))),
            Metric::CollectionRatePct => self.collection_rate(t.phase),
        }
    }

    /// The days of the span.
    fn days(&self) -> impl Iterator<Item = NaiveDate> {
        self.from.iter_days().take_while({
            let to = self.to;
            move |d| *d <= to
        })
    }

    /// The agent's visits in the span that met the customer.
    pub fn visits(&self) -> impl Iterator<Item = &'a Visit> + '_ {
        self.facts
            .visits_by(self.agent, self.from, self.to)
            .filter(|v| self.facts.met(v))
    }

    /// The agent's visits in the span of a kind of this category that met the customer.
    pub fn visits_of(&self, category: Category) -> impl Iterator<Item = &'a Visit> + '_ {
        self.visits().filter(move |v| {
            self.facts
                .pb
                .visit_kind(&v.kind)
                .is_some_and(|k| k.category == category)
        })
    }

    /// The agent's calls or SMS in the span.
    pub fn contacts(&self, kind: ContactKind) -> impl Iterator<Item = &'a Contact> + '_ {
        self.facts.contacts_by(self.agent, kind, self.from, self.to)
    }

    /// The agent's calls in the span that count toward the daily standard's calls (10-3-1's
    /// ten): those whose purpose is one of `daily.call_purposes`, or every call when the
    /// playbook names none.
    pub fn daily_calls(&self) -> usize {
        let purposes = &self.facts.pb.daily.call_purposes;
        self.contacts(ContactKind::Call)
            .filter(|c| {
                purposes.is_empty() || c.purpose.as_ref().is_some_and(|p| purposes.contains(p))
            })
            .count()
    }

    /// The agent's effective visits in the span, one per customer and day: three visits to
    /// one customer on a day are one effective visit toward 311 (domain: customers, not
    /// visits).
    pub fn effective_visits(&self) -> usize {
        per_customer_day(
            self.facts
                .visits_by(self.agent, self.from, self.to)
                .filter(|v| effective_in(self.facts, v)),
        )
    }

    /// The agent's meetings in the span (visits that met the customer), one per customer and
    /// day (10-3-1's three meetings are three customers met).
    pub fn meetings(&self) -> usize {
        per_customer_day(self.visits())
    }

    /// 10-3-1 results: result outcomes of visits and contacts, and new prospects.
    pub fn results(&self) -> usize {
        let pb = self.facts.pb;
        let is_result = |code: &str| pb.outcome(code).is_some_and(|o| o.result);
        let visits = self
            .facts
            .visits_by(self.agent, self.from, self.to)
            .filter(|v| v.outcome.as_ref().is_some_and(|o| is_result(&o.code)))
            .count();
        let contacts = [ContactKind::Call, ContactKind::Sms]
            .into_iter()
            .flat_map(|k| self.contacts(k))
            .filter(|c| c.outcome.as_deref().is_some_and(is_result))
            .count();
        visits + contacts + self.new_prospects()
    }

    fn closes(&self) -> usize {
        let pb = self.facts.pb;
        let closes = |code: &str| pb.outcome(code).is_some_and(|o| o.closes);
        let visits = self
            .facts
            .visits_by(self.agent, self.from, self.to)
            .filter(|v| v.outcome.as_ref().is_some_and(|o| closes(&o.code)))
            .count();
        let contacts = [ContactKind::Call, ContactKind::Sms]
            .into_iter()
            .flat_map(|k| self.contacts(k))
            .filter(|c| c.outcome.as_deref().is_some_and(closes))
            .count();
        visits + contacts
    }

    /// Customer cards created in the span and assigned to the agent.
    /// Prospects (not yet customers) the agent added in the span: an imported policy list or a
    /// reassignment brings customers, not new prospects.
    pub fn new_prospects(&self) -> usize {
        self.facts
            .customers_of(self.agent)
            .filter(|c| c.status == CustomerStatus::Prospect)
            .filter(|c| c.created_on >= self.from && c.created_on <= self.to)
            .count()
    }

    /// The customers met in the span with a policy in `phase` on the day of the visit: "亲访10位
    /// 客户" counts ten customers, not ten visits.
    fn visits_in_phase(&self, phase: Phase) -> usize {
        self.visits()
            .filter(|v| self.facts.has_phase(v.customer, phase, visit_date(v)))
            .map(|v| v.customer)
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn top_grade(&self, v: &Visit) -> bool {
        let top = self.facts.pb.grades.first().map(|g| g.code.as_str());
        top.is_some()
            && self
                .facts
                .customer(v.customer)
                .and_then(|c| c.grade.as_deref())
                == top
    }

    fn called_in_phase_pct(&self, phase: Phase) -> Option<f64> {
        let f = self.facts;
        pct(f
            .customers_of(self.agent)
            .filter(|c| f.has_phase(c.id, phase, self.to))
            .map(|c| f.called_this_month(c.id, self.to)))
    }

    fn birthdays_greeted_pct(&self) -> Option<f64> {
        let f = self.facts;
        let settings = &f.pb.reminders;
        let first = month_start(self.to);
        pct(f.customers_of(self.agent).filter_map(|c| {
            let day = birthday_in(c.birthday?, self.to.year());
            if day < first || day > self.to {
                return None;
            }
            let from = add_days(day, -i64::from(settings.birthday_lead_days));
            let purpose = settings.birthday_purpose.as_deref();
            let by_contact = f.customer_contacts(c.id).iter().any(|x| {
                let d = contact_date(x);
                d >= from && d <= day && purpose.is_none_or(|p| x.purpose.as_deref() == Some(p))
            });
            let by_visit = f.customer_visits(c.id).iter().any(|v| {
                let d = visit_date(v);
                d >= from && d <= day && purpose.is_none_or(|p| v.purposes.iter().any(|q| q == p))
            });
            Some(by_contact || by_visit)
        }))
    }

    fn collection_rate(&self, phase: Option<Phase>) -> Option<f64> {
        let f = self.facts;
        let (Some(phase), Some(cal)) = (phase, f.pb.calendar.monthly()) else {
            return None;
        };
        pct(f
            .customers_of(self.agent)
            .flat_map(|c| f.policies_of(c.id).iter())
            .filter(|p| cal.month_role(p.due_date, self.to) == phase)
            .map(|p| {
                p.paid_on
                    .is_some_and(|d| d >= cal.cycle_start(p.due_date) && d <= self.to)
            }))
    }

    fn visit_matches(&self, t: &Target, v: &Visit) -> bool {
        let f = self.facts;
        t.kind.as_ref().is_none_or(|k| &v.kind == k)
            && t.purpose.as_ref().is_none_or(|p| v.purposes.contains(p))
            && t.outcome
                .as_ref()
                .is_none_or(|o| v.outcome.as_ref().is_some_and(|x| &x.code == o))
            && self.grade_matches(t, v.customer)
            && t.phase
                .is_none_or(|p| f.has_phase(v.customer, p, visit_date(v)))
    }

    fn contact_matches(&self, t: &Target, c: &Contact) -> bool {
        let f = self.facts;
        t.kind.is_none()
            && t.purpose
                .as_ref()
                .is_none_or(|p| c.purpose.as_ref() == Some(p))
            && t.outcome
                .as_ref()
                .is_none_or(|o| c.outcome.as_ref() == Some(o))
            && self.grade_matches(t, c.customer)
            && t.phase
                .is_none_or(|p| f.has_phase(c.customer, p, contact_date(c)))
    }

    fn grade_matches(&self, t: &Target, customer: crate::ids::CustomerId) -> bool {
        t.grade
            .as_ref()
            .is_none_or(|g| self.facts.customer(customer).and_then(|c| c.grade.as_ref()) == Some(g))
    }
}

/// How many distinct (customer, local date) pairs the visits cover.
fn per_customer_day<'a>(visits: impl Iterator<Item = &'a Visit>) -> usize {
    visits
        .map(|v| (v.customer, visit_date(v)))
        .collect::<BTreeSet<_>>()
        .len()
}

/// The share of `true` in percent; `None` when there is nothing to count.
pub(crate) fn pct(done: impl Iterator<Item = bool>) -> Option<f64> {
    rate_pct(done)
}
