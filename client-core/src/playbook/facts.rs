//! The working set as the computations read it: records deduplicated by id and indexed by
//! customer, by agent and by day.
//!
//! The store fills a `WorkingSet` from its index, and a visit recorded on two phones may reach
//! it twice; counting it twice would let an agent meet 311 with two visits. Every computation
//! goes through `Facts`, built once per call, so deduplication and the "local date of the
//! start" rule live in one place.
//!
//! The indexes keep every question about one customer or one agent proportional to that
//! customer's or agent's records: a manager's view computes over a whole team (10,000
//! customers and a month of 50 agents' visits in the views benchmark), where a scan of every
//! visit per customer took minutes.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use super::calendar::{month_start, Phase};
use super::{Playbook, WorkingSet};
use crate::ids::{CustomerId, UserId};
use crate::model::{Contact, ContactKind, Customer, Policy, PolicyStatus, Visit};

/// Whether an agent's day has its log and its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DayFacts {
    pub log: bool,
    pub report: bool,
}

/// The working set, deduplicated and indexed.
pub(crate) struct Facts<'a> {
    pub pb: &'a Playbook,
    customers: BTreeMap<CustomerId, &'a Customer>,
    policies: HashMap<CustomerId, Vec<&'a Policy>>,
    days: BTreeMap<(&'a UserId, NaiveDate), DayFacts>,
    /// Each customer's visits (once each, by start time) and contacts (once each, by time).
    visits_of: HashMap<CustomerId, Vec<&'a Visit>>,
    contacts_of: HashMap<CustomerId, Vec<&'a Contact>>,
    /// Each agent's visits and contacts (by who made them) with their local dates, sorted by
    /// date then time, so a day's or a week's are found by binary search.
    visits_by_agent: HashMap<&'a UserId, Vec<(NaiveDate, &'a Visit)>>,
    contacts_by_agent: HashMap<&'a UserId, Vec<(NaiveDate, &'a Contact)>>,
    /// Each agent's assigned customers, in id order.
    assigned: HashMap<&'a UserId, Vec<&'a Customer>>,
}

impl<'a> Facts<'a> {
    pub fn new(pb: &'a Playbook, ws: &'a WorkingSet) -> Self {
        // The visits are most of a large working set: a manager's (tens of thousands of
        // records) indexes them on a second thread while this one does the rest; a phone's
        // year of work is indexed in a few milliseconds on one.
        if ws.visits.len() >= PARALLEL_FROM {
            Self::new_on_two_threads(pb, ws)
        } else {
            Self::new_on_one_thread(pb, ws)
        }
    }

    pub(crate) fn new_on_one_thread(pb: &'a Playbook, ws: &'a WorkingSet) -> Self {
        Facts::with_visits(Self::new_without_visits(pb, ws), index_visits(ws))
    }

    pub(crate) fn new_on_two_threads(pb: &'a Playbook, ws: &'a WorkingSet) -> Self {
        std::thread::scope(|s| {
            let visits = s.spawn(|| index_visits(ws));
            let rest = Self::new_without_visits(pb, ws);
            let visits = visits
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            Facts::with_visits(rest, visits)
        })
    }

    fn with_visits(mut f: Facts<'a>, (of, by): VisitIndex<'a>) -> Self {
        f.visits_of = of;
        f.visits_by_agent = by;
        f
    }

    /// Everything but the visits' index.
    fn new_without_visits(pb: &'a Playbook, ws: &'a WorkingSet) -> Self {
        let mut customers = BTreeMap::new();
        for c in &ws.customers {
            customers.entry(c.id).or_insert(c);
        }
        // Hash sets and maps: a team's working set is deduplicated here and policies are looked
        // up per customer for every target; B-trees' key comparisons showed in the profiles.
        let mut seen = HashSet::with_capacity(ws.policies.len());
        let mut policies: HashMap<CustomerId, Vec<&Policy>> = HashMap::new();
        for p in &ws.policies {
            if seen.insert(p.id) {
                policies.entry(p.customer).or_default().push(p);
            }
        }
        for list in policies.values_mut() {
            list.sort_by(|a, b| (&a.number, a.id).cmp(&(&b.number, b.id)));
        }
        let mut seen = HashSet::with_capacity(ws.contacts.len());
        let mut contacts: Vec<&Contact> =
            ws.contacts.iter().filter(|c| seen.insert(c.id)).collect();
        contacts.sort_by_key(|c| (c.at, c.id));
        let mut days: BTreeMap<(&UserId, NaiveDate), DayFacts> = BTreeMap::new();
        for day in &ws.days {
            let f = days.entry((&day.agent, day.date)).or_default();
            f.log |= day.log.as_ref().is_some_and(|l| !l.text.trim().is_empty());
            f.report |= day.report.is_some();
        }
        let (contacts_of, contacts_by_agent) =
            by_customer_and_agent(&contacts, |c| (c.customer, &c.agent, contact_date(c)));
        let mut assigned: HashMap<&UserId, Vec<&Customer>> = HashMap::new();
        for c in customers.values() {
            if let Some(agent) = &c.agent {
                assigned.entry(agent).or_default().push(c);
            }
        }
        Facts {
            pb,
            customers,
            policies,
            days,
            visits_of: HashMap::new(),
            contacts_of,
            visits_by_agent: HashMap::new(),
            contacts_by_agent,
            assigned,
        }
    }

    /// A customer's visits (by anyone), by start time.
    pub fn customer_visits(&self, customer: CustomerId) -> &[&'a Visit] {
        self.visits_of.get(&customer).map_or(&[], Vec::as_slice)
    }

    /// A customer's calls and SMS (by anyone), by time.
    pub fn customer_contacts(&self, customer: CustomerId) -> &[&'a Contact] {
        self.contacts_of.get(&customer).map_or(&[], Vec::as_slice)
    }

    /// Customers, in id order.
    pub fn customers(&self) -> impl Iterator<Item = &'a Customer> + '_ {
        self.customers.values().copied()
    }

    pub fn customer(&self, id: CustomerId) -> Option<&'a Customer> {
        self.customers.get(&id).copied()
    }

    /// The customers assigned to an agent.
    pub fn customers_of<'s>(
        &'s self,
        agent: &'s UserId,
    ) -> impl Iterator<Item = &'a Customer> + 's {
        self.assigned
            .get(agent)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .copied()
    }

    /// A customer's policies, by number.
    pub fn policies_of(&self, customer: CustomerId) -> &[&'a Policy] {
        self.policies.get(&customer).map_or(&[], Vec::as_slice)
    }

    pub fn day(&self, agent: &UserId, date: NaiveDate) -> DayFacts {
        self.days.get(&(agent, date)).copied().unwrap_or_default()
    }

    /// An agent's visits whose local start date is in `[from, to]`.
    pub fn visits_by<'s>(
        &'s self,
        agent: &'s UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = &'a Visit> + 's {
        dated_between(self.visits_by_agent.get(agent), from, to)
    }

    /// An agent's calls or SMS whose local date is in `[from, to]`.
    pub fn contacts_by<'s>(
        &'s self,
        agent: &'s UserId,
        kind: ContactKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = &'a Contact> + 's {
        dated_between(self.contacts_by_agent.get(agent), from, to).filter(move |c| c.kind == kind)
    }

    /// Whether the customer was met in a visit (by anyone) with a local date in `[from, to]`.
    pub fn visited(&self, customer: CustomerId, from: NaiveDate, to: NaiveDate) -> bool {
        self.customer_visits(customer).iter().any(|v| {
            let day = visit_date(v);
            day >= from && day <= to && self.met(v)
        })
    }

    /// Whether the customer had a contact of this kind (by anyone) with a local date in
    /// `[from, to]`.
    pub fn contacted(
        &self,
        customer: CustomerId,
        kind: ContactKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> bool {
        self.customer_contacts(customer).iter().any(|c| {
            let day = contact_date(c);
            c.kind == kind && day >= from && day <= to
        })
    }

    /// Whether the customer was met in a visit (by anyone) from the first of the month to `to`.
    pub fn visited_this_month(&self, customer: CustomerId, to: NaiveDate) -> bool {
        self.visited(customer, month_start(to), to)
    }

    /// Whether the customer was called (by anyone) from the first of the month to `to`.
    pub fn called_this_month(&self, customer: CustomerId, to: NaiveDate) -> bool {
        self.contacted(customer, ContactKind::Call, month_start(to), to)
    }

    /// Whether an outcome is a close in the domain's sense: new business (`closes`) or a
    /// renewal (`marks_paid`).
    pub fn closes_or_pays(&self, outcome: Option<&str>) -> bool {
        outcome
            .and_then(|o| self.pb.outcome(o))
            .is_some_and(|o| o.closes || o.marks_paid)
    }

    /// Whether the visit met the customer (its outcome is not flagged `met = false`).
    pub fn met(&self, v: &Visit) -> bool {
        v.outcome
            .as_ref()
            .and_then(|o| self.pb.outcome(&o.code))
            .is_none_or(|k| k.met)
    }

    /// The phase of each of a customer's policies on `date`.
    pub fn phases(
        &self,
        customer: CustomerId,
        date: NaiveDate,
    ) -> impl Iterator<Item = Phase> + '_ {
        self.policies_of(customer)
            .iter()
            .map(move |p| self.pb.calendar.phase(p, date))
    }

    /// Whether one of the customer's policies is in `phase` on `date`.
    pub fn has_phase(&self, customer: CustomerId, phase: Phase, date: NaiveDate) -> bool {
        self.phases(customer, date).any(|p| p == phase)
    }

    /// Whether one of the customer's policies is in play on `date`.
    pub fn in_play(&self, customer: CustomerId, date: NaiveDate) -> bool {
        self.phases(customer, date).any(Phase::in_play)
    }

    /// Whether one of the customer's policies has one of these statuses.
    pub fn has_status(&self, customer: CustomerId, statuses: &[PolicyStatus]) -> bool {
        self.policies_of(customer)
            .iter()
            .any(|p| statuses.contains(&p.status))
    }

    /// Whether one of the customer's policies is difficult or exited (surrender asked, or
    /// lapsed whatever its typed status: [`Playbook::is_exited`]) on `date`.
    pub fn difficult_or_exited(&self, customer: CustomerId, date: NaiveDate) -> bool {
        self.policies_of(customer)
            .iter()
            .any(|p| p.status == PolicyStatus::Difficult || self.pb.is_exited(p, date))
    }

    /// Whether the customer is hard to collect on `date`: an unpaid policy that is difficult,
    /// exited (or lapsed) or dead, or whose deduction failed.
    pub fn hard_to_collect(&self, customer: CustomerId, date: NaiveDate) -> bool {
        self.policies_of(customer).iter().any(|p| {
            let unpaid = !matches!(
                self.pb.calendar.phase(p, date),
                Phase::Received | Phase::Settled
            );
            let hard = matches!(p.status, PolicyStatus::Difficult | PolicyStatus::Dead)
                || self.pb.is_exited(p, date)
                || failed_deduction(p, date).is_some();
            unpaid && hard
        })
    }
}

/// Visits in a working set from which the visits are indexed on a thread of their own.
const PARALLEL_FROM: usize = 20_000;

/// The visits by customer and by agent (`by_customer_and_agent`).
type VisitIndex<'a> = (
    HashMap<CustomerId, Vec<&'a Visit>>,
    HashMap<&'a UserId, Vec<(NaiveDate, &'a Visit)>>,
);

/// The working set's visits, once each, indexed by customer and by agent.
///
/// "Once each" is by id (a record synced twice) and by what the visit is: the same customer,
/// agent and start time typed on two phones is one visit (domain, December decisions); the one
/// with the smaller id is kept, so every device keeps the same one.
fn index_visits(ws: &WorkingSet) -> VisitIndex<'_> {
    let mut seen = HashSet::with_capacity(ws.visits.len());
    let mut visits: Vec<&Visit> = ws.visits.iter().filter(|v| seen.insert(v.id)).collect();
    visits.sort_by_key(|v| (v.start, v.id));
    let mut same = HashSet::with_capacity(visits.len());
    visits.retain(|v| same.insert((v.customer, &v.agent, v.start)));
    by_customer_and_agent(&visits, |v| (v.customer, &v.agent, visit_date(v)))
}

/// Records (in time order) by customer, and by agent with their local dates sorted by date
/// (stable: time order within a date).
#[allow(clippy::type_complexity)]
fn by_customer_and_agent<'a, T>(
    records: &[&'a T],
    key: impl Fn(&'a T) -> (CustomerId, &'a UserId, NaiveDate),
) -> (
    HashMap<CustomerId, Vec<&'a T>>,
    HashMap<&'a UserId, Vec<(NaiveDate, &'a T)>>,
) {
    let mut of: HashMap<CustomerId, Vec<&T>> = HashMap::new();
    let mut by: HashMap<&UserId, Vec<(NaiveDate, &T)>> = HashMap::new();
    for r in records {
        let (customer, agent, date) = key(r);
        of.entry(customer).or_default().push(r);
        by.entry(agent).or_default().push((date, r));
    }
    for list in by.values_mut() {
        list.sort_by_key(|(d, _)| *d);
    }
    (of, by)
}

/// The records of a date-sorted list whose date is in `[from, to]`, in the list's order.
fn dated_between<'s, 'a: 's, T>(
    list: Option<&'s Vec<(NaiveDate, &'a T)>>,
    from: NaiveDate,
    to: NaiveDate,
) -> impl Iterator<Item = &'a T> + 's {
    let list = list.map_or(&[][..], Vec::as_slice);
    let start = list.partition_point(|(d, _)| *d < from);
    let end = list.partition_point(|(d, _)| *d <= to).max(start);
    list[start..end].iter().map(|(_, r)| *r)
}

/// The local date a visit is credited to: the date of its start in the phone's own offset.
pub(crate) fn visit_date(v: &Visit) -> NaiveDate {
    v.start.date_naive()
}

/// The local date of a call or SMS.
pub(crate) fn contact_date(c: &Contact) -> NaiveDate {
    c.at.date_naive()
}

/// The day a pending failed deduction failed, if it failed on or before `date` and nothing was
/// paid since.
pub(crate) fn failed_deduction(p: &Policy, date: NaiveDate) -> Option<NaiveDate> {
    let failed = p.deduction_failed_on.filter(|f| *f <= date)?;
    match p.paid_on {
        Some(paid) if paid >= failed && paid <= date => None,
        _ => Some(failed),
    }
}
