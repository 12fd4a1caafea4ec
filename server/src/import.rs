//! Reading the company's policy list (CSV) into rows the store imports.
//!
//! One row per policy; the customer's fields repeat on each of their policies. The header
//! names the columns (any order; extra columns are ignored):
//!
//! `customer_name, phone, address, postcode, birthday, policy_number, product, policyholder,
//! insured, premium, payment_method, due_date, status, agent`
//!
//! `phone` may hold several numbers separated by `;`; `premium` is in units with up to two
//! decimals (`1234.50`); dates are `YYYY-MM-DD`; `payment_method` is `bank_deduction`, `cash`
//! or `card` (default `bank_deduction`); `status` a policy status (default `normal`). Every row
//! is checked before anything is written: one bad row fails the import with its line number.

use std::io::Read;

use chrono::NaiveDate;
use client_core::model::{PaymentMethod, PolicyStatus};
use client_core::UserId;
use serde::Serialize;

use crate::error::{Error, Result};

/// One policy of the list, parsed and checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyRow {
    /// The line in the file (for messages).
    pub line: u64,
    /// The customer's full name.
    pub customer_name: String,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Street address.
    pub address: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Birthday.
    pub birthday: Option<NaiveDate>,
    /// The company's policy number.
    pub policy_number: String,
    /// Product.
    pub product: String,
    /// Policyholder (the customer when empty).
    pub policyholder: String,
    /// Insured (the policyholder when empty).
    pub insured: String,
    /// Premium in minor units.
    pub premium_cents: i64,
    /// Payment method.
    pub payment_method: PaymentMethod,
    /// Due date of the current cycle.
    pub due_date: NaiveDate,
    /// Status.
    pub status: PolicyStatus,
    /// The agent serving the customer.
    pub agent: UserId,
}

impl PolicyRow {
    /// The key that groups a customer's rows: name and first phone number.
    pub fn customer_key(&self) -> String {
        format!(
            "{}|{}",
            self.customer_name.to_lowercase(),
            self.phones.first().map(String::as_str).unwrap_or("")
        )
    }
}

const REQUIRED: &[&str] = &["customer_name", "policy_number", "due_date", "agent"];

fn bad(line: u64, reason: impl Into<String>) -> Error {
    Error::invalid(format!("line {line}"), reason)
}

/// Parses money in units (`1234.5`, `1234.50`, `1,234.50`) into minor units.
pub fn parse_premium(s: &str) -> Option<i64> {
    let s = s.trim().replace(',', "");
    if s.is_empty() {
        return Some(0);
    }
    let (units, cents) = match s.split_once('.') {
        Some((u, c)) if !c.is_empty() && c.len() <= 2 && c.chars().all(|x| x.is_ascii_digit()) => (
            u,
            if c.len() == 1 {
                format!("{c}0")
            } else {
                c.to_string()
            },
        ),
        Some(_) => return None,
        None => (s.as_str(), "00".to_string()),
    };
    if units.is_empty() || !units.chars().all(|x| x.is_ascii_digit()) {
        return None;
    }
    units
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents.parse::<i64>().ok()?)
}

/// Reads and checks every row of a policy list.
pub fn read_policies(input: impl Read) -> Result<Vec<PolicyRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    for r in REQUIRED {
        if !headers.iter().any(|h| h == r) {
            return Err(bad(1, format!("missing column {r:?}")));
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut rows = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let get = |name: &str| -> String {
            col(name)
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let opt = |name: &str| Some(get(name)).filter(|s| !s.is_empty());
        let date = |name: &str| -> Result<Option<NaiveDate>> {
            opt(name)
                .map(|s| {
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map_err(|_| bad(line, format!("{name} {s:?} is not YYYY-MM-DD")))
                })
                .transpose()
        };
        let customer_name = get("customer_name");
        if customer_name.is_empty() {
            return Err(bad(line, "customer_name is empty"));
        }
        let policy_number = get("policy_number");
        if policy_number.is_empty() {
            return Err(bad(line, "policy_number is empty"));
        }
        let premium = get("premium");
        let premium_cents =
            parse_premium(&premium).ok_or_else(|| bad(line, format!("premium {premium:?}")))?;
        let payment_method = match opt("payment_method") {
            None => PaymentMethod::BankDeduction,
            Some(s) => PaymentMethod::from_code(&s)
                .ok_or_else(|| bad(line, format!("payment_method {s:?}")))?,
        };
        let status = match opt("status") {
            None => PolicyStatus::Normal,
            Some(s) => {
                PolicyStatus::from_code(&s).ok_or_else(|| bad(line, format!("status {s:?}")))?
            }
        };
        let agent_text = get("agent");
        let agent = agent_text
            .parse::<UserId>()
            .map_err(|_| bad(line, format!("agent {agent_text:?}")))?;
        rows.push(PolicyRow {
            line,
            phones: get("phone")
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            address: opt("address"),
            postcode: opt("postcode"),
            birthday: date("birthday")?,
            product: get("product"),
            policyholder: get("policyholder"),
            insured: get("insured"),
            premium_cents,
            payment_method,
            due_date: date("due_date")?.ok_or_else(|| bad(line, "due_date is empty"))?,
            status,
            agent,
            customer_name,
            policy_number,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_list_reads() {
        let text = include_str!("../../docs/sample-policies.csv");
        let rows = read_policies(text.as_bytes()).unwrap();
        assert!(rows.len() >= 10);
        let agents: std::collections::BTreeSet<_> = rows.iter().map(|r| r.agent.clone()).collect();
        assert_eq!(agents.len(), 2);
        assert!(rows.iter().all(|r| r.premium_cents > 0));
    }

    #[test]
    fn bad_rows_name_their_line() {
        let text = "customer_name,policy_number,due_date,agent,premium\nLi,P1,2026-06-15,a1,10\nWang,P2,15/06/2026,a1,10\n";
        let e = read_policies(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = read_policies("name,policy_number\n".as_bytes()).unwrap_err();
        assert!(e.to_string().contains("customer_name"), "{e}");
    }

    #[test]
    fn premiums_parse_to_minor_units() {
        assert_eq!(parse_premium("1234.5"), Some(123_450));
        assert_eq!(parse_premium("1,234.56"), Some(123_456));
        assert_eq!(parse_premium("12"), Some(1200));
        assert_eq!(parse_premium("1.234"), None);
        assert_eq!(parse_premium("-3"), None);
    }
}
