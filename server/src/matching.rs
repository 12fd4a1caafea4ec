//! Import matching: which customer and which policy each row of the company's policy list
//! (`import::read_policies`) matches, and what an import changes.
//!
//! It decides, the store writes. Rows are grouped by customer key (name and first phone); a
//! key an earlier import created a customer for matches that customer (`Imports::import_key`),
//! any other key makes a new closed customer; a policy number the team record already holds
//! matches that policy, which must be the same customer's. The whole list is checked (agents
//! of the team, no birthday in the future, no policy of another customer) before anything is
//! written, so a bad list changes nothing. The decision is an [`ImportPlan`], written by
//! `Imports::apply_import`; this module reads the store only through its traits and knows no
//! SQL, so every store imports the same way. The plan is made outside the store's lock; a
//! store refuses a plan another import made stale meanwhile (`Error::StaleImport`, nothing
//! written) and [`import_policies`] plans again.

use std::collections::HashMap;

use chrono::NaiveDate;
use client_core::model::{
    Customer, CustomerPatch, CustomerStatus, NewCustomer, NewPolicy, Policy, PolicyPatch,
};
use client_core::CustomerId;
use serde::Serialize;

use crate::accounts::TeamId;
use crate::error::{Error, Result};
use crate::import::PolicyRow;
use crate::store::{
    Accounts, ImportPlan, Imports, PlannedCard, PlannedCustomer, PlannedPolicy, Projection,
};

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Customers created.
    pub customers_created: usize,
    /// Existing customers whose card changed.
    pub customers_updated: usize,
    /// Policies created.
    pub policies_created: usize,
    /// Existing policies that changed.
    pub policies_updated: usize,
    /// Customer ids, in the order of the file.
    pub customers: Vec<CustomerId>,
}

/// How many times [`import_policies`] plans and writes a list whose plan another import made
/// stale before it was written (`Error::StaleImport`).
pub const IMPORT_ATTEMPTS: usize = 5;

/// Imports the company's policy list for a team: creates or updates customers and policies
/// (matched by customer name and phone, and by policy number). Today is the machine's local
/// date (no birthday after it). When another import of the team writes between this one's
/// plan and its write (the same list imported twice at once), the store refuses the stale
/// plan and the list is planned again against what that import wrote, up to
/// [`IMPORT_ATTEMPTS`] times: each customer key still becomes one customer.
pub fn import_policies<S>(store: &S, team: &TeamId, rows: &[PolicyRow]) -> Result<ImportReport>
where
    S: Accounts + Projection + Imports + ?Sized,
{
    import_policies_with(store, team, rows, |_| {})
}

/// [`import_policies`], calling `before_write(attempt)` (0 for the first) between each plan
/// and its write: a test's hook to make two imports write at the same moment.
pub fn import_policies_with<S>(
    store: &S,
    team: &TeamId,
    rows: &[PolicyRow],
    mut before_write: impl FnMut(usize),
) -> Result<ImportReport>
where
    S: Accounts + Projection + Imports + ?Sized,
{
    let today = chrono::Local::now().date_naive();
    let mut attempt = 0;
    loop {
        let (plan, mut report) = plan(store, team, rows, today)?;
        before_write(attempt);
        match store.apply_import(&plan) {
            Ok(ids) => {
                report.customers = ids;
                return Ok(report);
            }
            Err(Error::StaleImport(why)) if attempt + 1 < IMPORT_ATTEMPTS => {
                tracing::info!(%team, attempt, %why, "import planned again");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The card a row's customer should have.
fn card_patch(first: &PolicyRow) -> CustomerPatch {
    CustomerPatch {
        name: Some(first.customer_name.clone()),
        phones: Some(first.phones.clone()),
        address: Some(first.address.clone()),
        postcode: Some(first.postcode.clone()),
        birthday: Some(first.birthday),
        status: Some(CustomerStatus::Closed),
        agent: Some(Some(first.agent.clone())),
        ..CustomerPatch::default()
    }
}

/// Whether a customer's card differs from what a row says.
fn card_changes(c: &Customer, first: &PolicyRow) -> bool {
    c.name != first.customer_name
        || c.phones != first.phones
        || c.address != first.address
        || c.postcode != first.postcode
        || c.birthday != first.birthday
        || c.status != CustomerStatus::Closed
        || c.agent.as_ref() != Some(&first.agent)
}

fn policy_patch(p: &PolicyRow) -> PolicyPatch {
    PolicyPatch {
        product: Some(p.product.clone()),
        premium_cents: Some(p.premium_cents),
        payment_method: Some(p.payment_method),
        due_date: Some(p.due_date),
        status: Some(p.status),
        ..PolicyPatch::default()
    }
}

/// The editable fields of a policy, to compare what a row says with what is held.
type PolicyFields = (
    String,
    i64,
    client_core::model::PaymentMethod,
    NaiveDate,
    client_core::model::PolicyStatus,
);

fn held_fields(p: &Policy) -> PolicyFields {
    (
        p.product.clone(),
        p.premium_cents,
        p.payment_method,
        p.due_date,
        p.status,
    )
}

fn row_fields(p: &PolicyRow) -> PolicyFields {
    (
        p.product.clone(),
        p.premium_cents,
        p.payment_method,
        p.due_date,
        p.status,
    )
}

fn new_policy(p: &PolicyRow) -> NewPolicy {
    NewPolicy {
        number: p.policy_number.clone(),
        product: p.product.clone(),
        policyholder: p.policyholder.clone(),
        insured: p.insured.clone(),
        premium_cents: p.premium_cents,
        payment_method: p.payment_method,
        riders: vec![],
        due_date: p.due_date,
        status: p.status,
    }
}

fn owned_by_another(p: &PolicyRow, owner: impl std::fmt::Display) -> Error {
    Error::invalid(
        format!("line {}", p.line),
        format!(
            "policy {} belongs to another customer ({owner})",
            p.policy_number
        ),
    )
}

/// Decides an import: the plan and its report (without the customers' ids, known once the
/// plan is written). Reads the store, writes nothing.
pub fn plan<S>(
    store: &S,
    team: &TeamId,
    rows: &[PolicyRow],
    today: NaiveDate,
) -> Result<(ImportPlan, ImportReport)>
where
    S: Accounts + Projection + Imports + ?Sized,
{
    if !store.team_exists(team)? {
        return Err(Error::not_found("team", team));
    }
    let members = store.members(Some(team))?;
    for r in rows {
        let line = format!("line {}", r.line);
        if !members.iter().any(|m| m.member.user == r.agent) {
            return Err(Error::invalid(
                line,
                format!("agent {} is not a member of team {team}", r.agent),
            ));
        }
        if r.birthday.is_some_and(|b| b > today) {
            return Err(Error::invalid(line, "birthday is in the future"));
        }
    }
    let mut by_key: Vec<(String, Vec<&PolicyRow>)> = vec![];
    for r in rows {
        let key = r.customer_key();
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => by_key.push((key, vec![r])),
        }
    }
    let mut report = ImportReport::default();
    let mut plan = ImportPlan {
        team: team.clone(),
        customers: Vec::with_capacity(by_key.len()),
    };
    // Policy numbers planned so far: the customer (index in the plan) and the policy (index
    // in that customer's list) they went to.
    let mut planned: HashMap<&str, (usize, usize)> = HashMap::new();
    for (key, policies) in by_key {
        let first = policies[0];
        let index = plan.customers.len();
        let known = match store.import_key(team, &key)? {
            Some(id) => store.customer(id)?.map(|c| (id, c)),
            None => None,
        };
        let card = match known {
            Some((id, current)) => {
                let changes = card_changes(&current, first);
                report.customers_updated += usize::from(changes);
                PlannedCard::Existing(id, changes.then(|| card_patch(first)))
            }
            None => {
                report.customers_created += 1;
                PlannedCard::New(NewCustomer {
                    name: first.customer_name.clone(),
                    phones: first.phones.clone(),
                    address: first.address.clone(),
                    postcode: first.postcode.clone(),
                    birthday: first.birthday,
                    status: CustomerStatus::Closed,
                    agent: Some(first.agent.clone()),
                    ..NewCustomer::default()
                })
            }
        };
        let id = match &card {
            PlannedCard::Existing(id, _) => Some(*id),
            PlannedCard::New(_) => None,
        };
        let mut out: Vec<PlannedPolicy> = vec![];
        // What each planned policy will hold after the rows so far.
        let mut fields: Vec<PolicyFields> = vec![];
        for p in policies {
            if let Some(&(owner, at)) = planned.get(p.policy_number.as_str()) {
                if owner != index {
                    return Err(owned_by_another(p, &plan.customers[owner].key));
                }
                // The same policy twice for one customer: the later row edits it.
                let now = row_fields(p);
                if fields[at] != now {
                    report.policies_updated += 1;
                    fields[at] = now;
                }
                match &mut out[at] {
                    PlannedPolicy::New(np) => {
                        np.product = p.product.clone();
                        np.premium_cents = p.premium_cents;
                        np.payment_method = p.payment_method;
                        np.due_date = p.due_date;
                        np.status = p.status;
                    }
                    PlannedPolicy::Existing(_, patch) => *patch = policy_patch(p),
                }
                continue;
            }
            match store.policy_by_number(&p.policy_number)? {
                Some(held) => {
                    if Some(held.customer) != id {
                        return Err(owned_by_another(p, held.customer));
                    }
                    if held_fields(&held) != row_fields(p) {
                        report.policies_updated += 1;
                    }
                    out.push(PlannedPolicy::Existing(held.id, policy_patch(p)));
                }
                None => {
                    report.policies_created += 1;
                    out.push(PlannedPolicy::New(new_policy(p)));
                }
            }
            fields.push(row_fields(p));
            planned.insert(p.policy_number.as_str(), (index, out.len() - 1));
        }
        plan.customers.push(PlannedCustomer {
            key,
            card,
            policies: out,
        });
    }
    Ok((plan, report))
}
