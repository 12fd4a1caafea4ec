//! Record edits as functions of a document, without a database: the customer card and policy
//! writes `Store` makes, in pieces any holder of an Automerge document can call.
//!
//! `Store` loads a document from its SQLite file and persists it after the edit; the server's
//! PostgreSQL store loads it under a row lock in its own transaction. Both run the same steps
//! here: build or patch the record and check it (`new_customer`, `patch_customer`,
//! `new_policy`, `patch_policy`), then write its fields as one change ([`change`] with
//! [`write_card`] or [`write_policy`]), which registers the writer's actor and refuses a write
//! that leaves a record unreadable. Nothing here persists anything.

use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ROOT};
use chrono::NaiveDate;
use serde_json::{Map, Value as Json};

use crate::documents::{self, obj, record_obj, register_actor, write_fields};
use crate::error::{Error, Result};
use crate::ids::{CustomerId, DocId, PolicyId, UserId};
use crate::layout;
use crate::model::{
    Customer, CustomerPatch, NewCustomer, NewPolicy, Policy, PolicyPatch, Role, Timestamp,
};
use crate::playbook::Playbook;

/// Who writes an edit and when: the identity its actor is registered under and the time the
/// change carries (the server's history shows when).
#[derive(Clone, Copy, Debug)]
pub struct Writer<'a> {
    /// The writer's role (settles role-governed conflicts).
    pub role: Role,
    /// The writer's user id.
    pub user: &'a UserId,
    /// When the change is made.
    pub at: Timestamp,
}

/// Refuses an empty (or blank) required text.
pub(crate) fn non_empty(field: &str, s: &str) -> Result<()> {
    if s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// Applies `f` to document `id` as one change by `w`, committed before returning.
///
/// The writer's actor (the document's current actor) is registered first. The records `f`
/// writes (`touched`: `card`, `visits/<id>`, …) must still read as the model afterwards
/// (`layout::check_records`): a write that would leave a record the index cannot read, a text
/// over its limit or a date out of range is refused with [`Error::Invalid`] naming the field
/// path, and the document is left as it was. Faults the document already had do not block the
/// write; telling them apart costs a second check only when a fault is found. On any error
/// the document is rolled back to its last commit.
pub fn change<R>(
    d: &mut AutoCommit,
    id: &DocId,
    w: Writer<'_>,
    touched: &[String],
    mut f: impl FnMut(&mut AutoCommit) -> Result<R>,
) -> Result<R> {
    let user = w.user.as_str();
    let mut applied = register_actor(d, w.role, user).and_then(|()| f(d));
    if applied.is_ok() {
        let issues = layout::check_records(d, id, touched, None);
        if !issues.is_empty() {
            d.rollback();
            let old = layout::check_records(d, id, touched, None);
            applied = match layout::new_issues(old, issues).into_iter().next() {
                Some(i) => Err(Error::invalid(i.path, i.reason)),
                None => register_actor(d, w.role, user).and_then(|()| f(d)),
            };
        }
    }
    match applied {
        Ok(r) => {
            d.commit_with(CommitOptions::default().with_time(w.at.timestamp()));
            Ok(r)
        }
        Err(e) => {
            d.rollback();
            Err(e)
        }
    }
}

/// Checks a customer card against the playbook (its grade) and plain sense (a name, phone
/// numbers, coordinates, a birthday not after `today`).
pub fn check_customer(c: &Customer, playbook: &Playbook, today: NaiveDate) -> Result<()> {
    non_empty("name", &c.name)?;
    if let Some(g) = &c.grade {
        playbook.check_grade(g)?;
    }
    if let Some(l) = &c.location {
        if !l.is_valid() {
            return Err(Error::invalid("location", "coordinates out of range"));
        }
    }
    for p in &c.phones {
        if p.trim().is_empty() || p.len() > 32 {
            return Err(Error::invalid(
                "phone",
                format!("{p:?} is not a phone number"),
            ));
        }
    }
    if let Some(b) = c.birthday {
        if b > today {
            return Err(Error::invalid("birthday", "is in the future"));
        }
    }
    Ok(())
}

/// A new customer's card, checked, with a new id; their agent is `default_agent` unless the
/// card names one, and they are created on `today`. Write it into their new document (from
/// `documents::genesis`) with [`write_card`] of [`card_fields`].
pub fn new_customer(
    new: NewCustomer,
    default_agent: &UserId,
    playbook: &Playbook,
    today: NaiveDate,
) -> Result<Customer> {
    non_empty("name", &new.name)?;
    let customer = Customer {
        id: CustomerId::new(),
        name: new.name.trim().to_string(),
        phones: new.phones,
        address: new.address,
        postcode: new.postcode,
        birthday: new.birthday,
        family: new.family,
        income_band: new.income_band,
        workplace: new.workplace,
        notes: new.notes,
        grade: new.grade,
        status: new.status,
        agent: Some(new.agent.unwrap_or_else(|| default_agent.clone())),
        location: new.location,
        created_on: today,
    };
    check_customer(&customer, playbook, today)?;
    Ok(customer)
}

/// Every field of a new card, as written into its document.
pub fn card_fields(c: &Customer) -> Map<String, Json> {
    documents::to_fields(c, &["id"])
}

/// The card `c` with `patch` applied and checked, and the fields to write: only those the
/// patch names, so a conflict on another field stays visible until someone edits that field.
pub fn patch_customer(
    mut c: Customer,
    patch: CustomerPatch,
    playbook: &Playbook,
    today: NaiveDate,
) -> Result<(Customer, Map<String, Json>)> {
    let mut touched: Vec<&str> = vec![];
    if let Some(v) = patch.name {
        c.name = v.trim().to_string();
        touched.push("name");
    }
    macro_rules! apply {
        ($($f:ident),*) => { $( if let Some(v) = patch.$f { c.$f = v; touched.push(stringify!($f)); } )* };
    }
    apply!(
        phones,
        address,
        postcode,
        birthday,
        family,
        income_band,
        workplace,
        notes,
        grade,
        status,
        agent,
        location
    );
    check_customer(&c, playbook, today)?;
    let mut fields = documents::to_fields(&c, &["id", "created_on"]);
    fields.retain(|k, _| touched.contains(&k.as_str()));
    Ok((c, fields))
}

/// The record path a card write touches (for [`change`]).
pub fn card_record() -> String {
    "card".to_string()
}

/// Writes card fields into a customer document (inside [`change`]).
pub fn write_card(d: &mut AutoCommit, fields: &Map<String, Json>) -> Result<()> {
    let card = obj(d, &ROOT, "card")?;
    write_fields(d, &card, fields)
}

/// A new policy of `customer`, checked, with a new id (the policyholder and the insured
/// default to the customer's name).
pub fn new_policy(customer: &Customer, new: NewPolicy) -> Result<Policy> {
    non_empty("number", &new.number)?;
    if new.premium_cents < 0 {
        return Err(Error::invalid("premium", "must not be negative"));
    }
    let holder = if new.policyholder.trim().is_empty() {
        customer.name.clone()
    } else {
        new.policyholder
    };
    Ok(Policy {
        id: PolicyId::new(),
        customer: customer.id,
        number: new.number.trim().to_string(),
        product: new.product,
        insured: if new.insured.trim().is_empty() {
            holder.clone()
        } else {
            new.insured
        },
        policyholder: holder,
        premium_cents: new.premium_cents,
        payment_method: new.payment_method,
        riders: new.riders,
        due_date: new.due_date,
        status: new.status,
        paid_on: None,
        deduction_failed_on: None,
    })
}

/// Every field of a new policy, as written into its customer's document.
pub fn policy_fields(p: &Policy) -> Map<String, Json> {
    documents::to_fields(p, &["id", "customer"])
}

/// The policy `p` with `patch` applied and checked, and the fields to write (only those the
/// patch names).
pub fn patch_policy(mut p: Policy, patch: PolicyPatch) -> Result<(Policy, Map<String, Json>)> {
    let mut touched: Vec<&str> = vec![];
    macro_rules! apply {
        ($($f:ident),*) => { $( if let Some(v) = patch.$f { p.$f = v; touched.push(stringify!($f)); } )* };
    }
    apply!(
        product,
        premium_cents,
        payment_method,
        due_date,
        status,
        paid_on,
        deduction_failed_on
    );
    if p.premium_cents < 0 {
        return Err(Error::invalid("premium", "must not be negative"));
    }
    let mut fields = policy_fields(&p);
    fields.retain(|k, _| touched.contains(&k.as_str()));
    Ok((p, fields))
}

/// The record path a write of policy `id` touches (for [`change`]).
pub fn policy_record(id: PolicyId) -> String {
    format!("policies/{id}")
}

/// Writes policy fields into its customer's document (inside [`change`]): `create` for a new
/// policy; an edit of a policy the document lacks is `NotFound`.
pub fn write_policy(
    d: &mut AutoCommit,
    id: PolicyId,
    fields: &Map<String, Json>,
    create: bool,
) -> Result<()> {
    let pid = id.to_string();
    let o = record_obj(d, "policies", &pid, create)?.ok_or(Error::NotFound {
        what: "policy",
        id: pid.clone(),
    })?;
    write_fields(d, &o, fields)
}
