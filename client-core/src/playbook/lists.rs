//! Service-routine lists (串-查-打-访-结), grouped by postcode.
//!
//! Agents plan their phoning and their routes by postcode area: "check lists" is the second of
//! the seven things a day. Per postcode this gathers the customers with a policy in play this
//! month, the large premiums, the households holding several policies, the policies with
//! riders (附加险), and the difficult, exited (lapsed or surrender asked), dead and orphan
//! policies. Customers without a postcode are grouped last under
//! `postcode: None`, so nobody falls off the lists.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::calendar::Phase;
use super::facts::Facts;
use super::{Playbook, WorkingSet};
use crate::ids::{CustomerId, PolicyId};
use crate::model::{Customer, Policy, PolicyStatus};

/// The lists of one postcode area.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PostcodeGroup {
    /// The postcode; `None` is the group of customers with no postcode.
    pub postcode: Option<String>,
    /// Customers with a policy in play on the day (cross, receivable, due, transition, final).
    pub in_play: Vec<ListEntry>,
    /// Customers with a policy whose premium reaches the playbook's threshold.
    pub large_premiums: Vec<ListEntry>,
    /// Several policies with the same policyholder or the same insured.
    pub households: Vec<Household>,
    /// Customers with a policy carrying riders (附加险), reviewed with the main policy.
    pub riders: Vec<ListEntry>,
    /// Customers with a difficult policy (疑难单).
    pub difficult: Vec<ListEntry>,
    /// Customers with an exited policy (退出单): surrender asked (status `exited`) or lapsed
    /// (unpaid past its grace end, whatever its typed status; see [`Playbook::is_exited`]).
    pub exited: Vec<ListEntry>,
    /// Customers with a dead policy (死单).
    pub dead: Vec<ListEntry>,
    /// Customers with an orphan policy (孤儿保单).
    pub orphan: Vec<ListEntry>,
}

/// A customer on a list, with the policies that put them there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListEntry {
    /// The customer.
    pub customer: CustomerId,
    /// The customer's name.
    pub name: String,
    /// Phone numbers, for the phoning round.
    pub phones: Vec<String>,
    /// Street address, for the route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The policies concerned.
    pub policies: Vec<PolicyLine>,
}

/// A policy on a list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyLine {
    /// The policy.
    pub policy: PolicyId,
    /// Its number.
    pub number: String,
    /// Its product.
    pub product: String,
    /// Premium in minor units.
    pub premium_cents: i64,
    /// Its due date.
    pub due_date: NaiveDate,
    /// Its status.
    pub status: PolicyStatus,
    /// Its phase on the day.
    pub phase: Phase,
    /// Its riders (附加险).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub riders: Vec<String>,
}

/// What a household is recognised by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseholdBy {
    /// The same policyholder (投保人).
    Policyholder,
    /// The same insured (被保险人).
    Insured,
}

/// Several policies of one person: review them together (policy review table).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Household {
    /// Whether the policies share their policyholder or their insured.
    pub by: HouseholdBy,
    /// The shared name.
    pub name: String,
    /// The customers whose documents hold the policies.
    pub customers: Vec<CustomerId>,
    /// The policies.
    pub policies: Vec<PolicyLine>,
}

/// The service-routine lists on `date`, one group per postcode in postcode order, the group
/// without a postcode last. Groups with nothing on any list are left out; entries are ordered
/// by customer name then id, policies by number.
pub fn lists(pb: &Playbook, date: NaiveDate, ws: &WorkingSet) -> Vec<PostcodeGroup> {
    let f = Facts::new(pb, ws);
    let line = |p: &Policy| PolicyLine {
        policy: p.id,
        number: p.number.clone(),
        product: p.product.clone(),
        premium_cents: p.premium_cents,
        due_date: p.due_date,
        status: p.status,
        phase: pb.calendar.phase(p, date),
        riders: p.riders.clone(),
    };
    let entry = |c: &Customer, keep: &dyn Fn(&Policy) -> bool| -> Option<ListEntry> {
        let policies: Vec<PolicyLine> = f
            .policies_of(c.id)
            .iter()
            .filter(|p| keep(p))
            .map(|p| line(p))
            .collect();
        (!policies.is_empty()).then(|| ListEntry {
            customer: c.id,
            name: c.name.clone(),
            phones: c.phones.clone(),
            address: c.address.clone(),
            policies,
        })
    };
    let status = |s: PolicyStatus| move |p: &Policy| p.status == s;

    // Customers by postcode (None last), then by name and id.
    let mut by_postcode: BTreeMap<(bool, String), Vec<&Customer>> = BTreeMap::new();
    for c in f.customers() {
        let key = match postcode(c) {
            Some(p) => (false, p),
            None => (true, String::new()),
        };
        by_postcode.entry(key).or_default().push(c);
    }

    let mut groups = Vec::new();
    for ((missing, code), mut customers) in by_postcode {
        customers.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        let mut g = PostcodeGroup {
            postcode: (!missing).then_some(code),
            ..PostcodeGroup::default()
        };
        let threshold = pb.lists.large_premium_cents;
        for c in &customers {
            g.in_play
                .extend(entry(c, &|p| pb.calendar.phase(p, date).in_play()));
            if let Some(t) = threshold {
                g.large_premiums.extend(entry(c, &|p| p.premium_cents >= t));
            }
            g.difficult
                .extend(entry(c, &status(PolicyStatus::Difficult)));
            g.riders.extend(entry(c, &|p| !p.riders.is_empty()));
            g.exited.extend(entry(c, &|p| pb.is_exited(p, date)));
            g.dead.extend(entry(c, &status(PolicyStatus::Dead)));
            g.orphan.extend(entry(c, &status(PolicyStatus::Orphan)));
        }
        for by in [HouseholdBy::Policyholder, HouseholdBy::Insured] {
            let mut people: BTreeMap<String, Vec<&Policy>> = BTreeMap::new();
            for c in &customers {
                for p in f.policies_of(c.id) {
                    let name = match by {
                        HouseholdBy::Policyholder => p.policyholder.trim(),
                        HouseholdBy::Insured => p.insured.trim(),
                    };
                    if !name.is_empty() {
                        people.entry(name.to_string()).or_default().push(p);
                    }
                }
            }
            for (name, mut policies) in people {
                if policies.len() < 2 {
                    continue;
                }
                policies.sort_by(|a, b| (&a.number, a.id).cmp(&(&b.number, b.id)));
                let mut holders: Vec<CustomerId> = policies.iter().map(|p| p.customer).collect();
                holders.sort();
                holders.dedup();
                g.households.push(Household {
                    by,
                    name,
                    customers: holders,
                    policies: policies.into_iter().map(line).collect(),
                });
            }
        }
        let empty = g.in_play.is_empty()
            && g.large_premiums.is_empty()
            && g.households.is_empty()
            && g.riders.is_empty()
            && g.difficult.is_empty()
            && g.exited.is_empty()
            && g.dead.is_empty()
            && g.orphan.is_empty();
        if !empty {
            groups.push(g);
        }
    }
    groups
}

/// The customer's postcode, trimmed; `None` when missing or blank.
fn postcode(c: &Customer) -> Option<String> {
    c.postcode
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::testing::*;

    fn book() -> WorkingSet {
        let mut ws = WorkingSet::default();
        let mut wang = customer("王芳", "a1");
        wang.postcode = Some("200001".into());
        let mut li = customer("李明", "a1");
        li.postcode = Some(" 100002 ".into());
        let mut zhang = customer("张伟", "a1");
        zhang.postcode = None;
        let mut zhao = customer("赵六", "a1");
        zhao.postcode = Some("".into());
        let mut quiet = customer("安静", "a1");
        quiet.postcode = Some("300003".into());
        // 王芳: two policies as policyholder, one large, one in its cross month.
        let mut p1 = policy_of(&wang, d(2026, 8, 15));
        p1.number = "P1".into();
        p1.premium_cents = 2_000_000;
        let mut p2 = policy_of(&wang, d(2027, 3, 1));
        p2.number = "P2".into();
        p2.insured = "王小芳".into();
        // 李明: difficult, due this month.
        let mut p3 = policy_of(&li, d(2026, 6, 20));
        p3.status = PolicyStatus::Difficult;
        // 张伟 and 赵六: no postcode, orphan and dead.
        let mut p4 = policy_of(&zhang, d(2027, 1, 1));
        p4.status = PolicyStatus::Orphan;
        let mut p5 = policy_of(&zhao, d(2027, 1, 1));
        p5.status = PolicyStatus::Dead;
        // 安静: nothing to do.
        let p6 = policy_of(&quiet, d(2027, 5, 1));
        ws.policies = vec![p1, p2, p3, p4, p5, p6];
        ws.customers = vec![wang, li, zhang, zhao, quiet];
        ws
    }

    #[test]
    fn lists_are_grouped_by_postcode_with_the_missing_ones_last() {
        let pb = Playbook::insurance();
        let groups = lists(&pb, d(2026, 6, 10), &book());
        let keys: Vec<Option<&str>> = groups.iter().map(|g| g.postcode.as_deref()).collect();
        assert_eq!(keys, vec![Some("100002"), Some("200001"), None]);

        let li = &groups[0];
        assert_eq!(li.in_play.len(), 1);
        assert_eq!(li.in_play[0].policies[0].phase, Phase::Due);
        assert_eq!(li.difficult[0].name, "李明");

        let wang = &groups[1];
        assert_eq!(
            wang.in_play[0].policies.len(),
            1,
            "only P1 is in play (cross month)"
        );
        assert_eq!(wang.in_play[0].policies[0].phase, Phase::Cross);
        assert_eq!(wang.large_premiums[0].policies[0].number, "P1");
        assert_eq!(wang.households.len(), 1);
        assert_eq!(wang.households[0].by, HouseholdBy::Policyholder);
        assert_eq!(wang.households[0].name, "王芳");
        assert_eq!(wang.households[0].policies.len(), 2);

        let none = &groups[2];
        let names = |l: &[ListEntry]| l.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&none.orphan), vec!["张伟"]);
        assert_eq!(names(&none.dead), vec!["赵六"]);
    }

    /// Issue 13, item 5: the brief's riders group (附加险) is on the lists.
    #[test]
    fn policies_with_riders_are_grouped_for_review() {
        let pb = Playbook::insurance();
        let mut ws = book();
        ws.policies[5].riders = vec!["附加意外险".into(), "附加医疗险".into()];
        let groups = lists(&pb, d(2026, 6, 10), &ws);
        let quiet = groups
            .iter()
            .find(|g| g.postcode.as_deref() == Some("300003"))
            .expect("安静 has a policy with riders: her postcode is listed");
        assert_eq!(quiet.riders.len(), 1);
        assert_eq!(quiet.riders[0].name, "安静");
        assert_eq!(
            quiet.riders[0].policies[0].riders,
            vec!["附加意外险".to_string(), "附加医疗险".to_string()]
        );
        assert!(lists(&pb, d(2026, 6, 10), &book())
            .iter()
            .all(|g| g.riders.is_empty()));
    }

    /// Issue 13, item 6: a policy past its grace end unpaid is on the exited list (退出单 =
    /// lapsed or surrender asked), whatever status was typed.
    #[test]
    fn a_lapsed_policy_is_on_the_exited_list() {
        let pb = Playbook::insurance();
        let mut ws = book();
        let li = ws.customers[1].clone();
        // Due 20 April, 60 days of grace: lapses after 19 June.
        let mut lapsed = policy_of(&li, d(2026, 4, 20));
        lapsed.number = "LAPSED".into();
        ws.policies.push(lapsed);
        let exited = |date, ws: &WorkingSet| {
            lists(&pb, date, ws)
                .into_iter()
                .flat_map(|g| g.exited)
                .flat_map(|e| e.policies)
                .map(|p| p.number)
                .collect::<Vec<_>>()
        };
        assert!(exited(d(2026, 6, 19), &ws).is_empty(), "last day of grace");
        assert_eq!(exited(d(2026, 6, 20), &ws), vec!["LAPSED".to_string()]);
        // Surrender asked is exited too, lapsed or not.
        ws.policies[0].status = PolicyStatus::Exited;
        assert_eq!(exited(d(2026, 6, 10), &ws), vec!["P1".to_string()]);
    }

    #[test]
    fn lists_do_not_depend_on_input_order() {
        let pb = Playbook::insurance();
        let mut ws = book();
        let a = lists(&pb, d(2026, 6, 10), &ws);
        ws.customers.reverse();
        ws.policies.reverse();
        assert_eq!(a, lists(&pb, d(2026, 6, 10), &ws));
    }
}
