//! Builders for the playbook's tests: customers, policies, visits and contacts in a line each,
//! so a test reads like the worked example it comes from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;

pub(crate) use super::Playbook;
use crate::ids::{ContactId, CustomerId, PolicyId, UserId, VisitId};
use crate::model::{
    Contact, ContactKind, Customer, CustomerStatus, Day, EveningReport, Outcome, PaymentMethod,
    Policy, PolicyStatus, Timestamp, Visit, WorkLog,
};

/// The car-insurance playbook.
pub(crate) fn car() -> Playbook {
    let text = include_str!("../../../docs/playbooks/car-insurance.toml");
    Playbook::from_toml_str("car-insurance.toml", text).expect("car playbook loads")
}

pub(crate) fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
}

pub(crate) fn ts(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s).expect("valid test timestamp")
}

pub(crate) fn agent(s: &str) -> UserId {
    s.parse().expect("valid test user id")
}

pub(crate) fn customer(name: &str, agent_id: &str) -> Customer {
    Customer {
        id: CustomerId::new(),
        name: name.to_string(),
        phones: vec!["13800000000".to_string()],
        address: None,
        postcode: None,
        birthday: None,
        family: None,
        income_band: None,
        workplace: None,
        notes: None,
        grade: None,
        status: CustomerStatus::Closed,
        agent: Some(agent(agent_id)),
        location: None,
        created_on: d(2020, 1, 1),
    }
}

/// A policy of an unknown customer.
pub(crate) fn policy(due: NaiveDate) -> Policy {
    policy_of(&customer("someone", "a1"), due)
}

pub(crate) fn policy_of(c: &Customer, due: NaiveDate) -> Policy {
    Policy {
        id: PolicyId::new(),
        customer: c.id,
        number: format!("{}-{due}", c.name),
        product: "鑫福年金".to_string(),
        policyholder: c.name.clone(),
        insured: c.name.clone(),
        premium_cents: 500_000,
        payment_method: PaymentMethod::BankDeduction,
        riders: vec![],
        due_date: due,
        status: PolicyStatus::Normal,
        paid_on: None,
        deduction_failed_on: None,
    }
}

pub(crate) fn outcome(code: &str) -> Outcome {
    Outcome {
        code: code.to_string(),
        amount_cents: None,
        date: None,
        detail: None,
    }
}

pub(crate) fn visit(
    c: &Customer,
    agent_id: &str,
    start: &str,
    minutes: i64,
    kind: &str,
    purposes: &[&str],
    outcome_code: Option<&str>,
) -> Visit {
    let start = ts(start);
    Visit {
        id: VisitId::new(),
        customer: c.id,
        agent: agent(agent_id),
        kind: kind.to_string(),
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        outcome: outcome_code.map(outcome),
        policies: vec![],
        start,
        end: start + chrono::TimeDelta::minutes(minutes),
        location: None,
        notes: String::new(),
        number: 1,
    }
}

fn contact(
    c: &Customer,
    agent_id: &str,
    kind: ContactKind,
    at: &str,
    purpose: &str,
    outcome_code: Option<&str>,
) -> Contact {
    Contact {
        id: ContactId::new(),
        customer: c.id,
        agent: agent(agent_id),
        kind,
        at: ts(at),
        purpose: Some(purpose.to_string()),
        outcome: outcome_code.map(str::to_string),
        policies: vec![],
        notes: String::new(),
    }
}

pub(crate) fn call(
    c: &Customer,
    agent_id: &str,
    at: &str,
    purpose: &str,
    outcome_code: Option<&str>,
) -> Contact {
    contact(c, agent_id, ContactKind::Call, at, purpose, outcome_code)
}

pub(crate) fn sms(c: &Customer, agent_id: &str, at: &str, purpose: &str) -> Contact {
    contact(c, agent_id, ContactKind::Sms, at, purpose, None)
}

pub(crate) fn day(agent_id: &str, date: NaiveDate, log: bool, report: bool) -> Day {
    let at = ts(&format!("{date}T21:00:00+08:00"));
    Day {
        agent: agent(agent_id),
        date,
        log: log.then(|| WorkLog {
            agent: agent(agent_id),
            date,
            text: "拜访了三位客户".to_string(),
            written_at: at,
        }),
        report: report.then(|| EveningReport {
            agent: agent(agent_id),
            date,
            summary: "今天完成了311".to_string(),
            submitted_at: at,
            problems: vec![],
        }),
    }
}
