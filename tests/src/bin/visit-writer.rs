//! `visit-writer`: a phone that records visits until it is killed, for the crash test.
//!
//! The store promises that a write whose call returned is on disk. This binary makes that
//! promise observable from outside: it opens (or creates) a home database at the path given,
//! makes sure a few customers exist, then records visits in a loop and prints each visit's id
//! on its own line, flushed, only after `record_visit` has returned. `tests/tests/crash.rs`
//! kills it with SIGKILL at a random moment and checks that every printed id survived.
//!
//! Documents are compacted every few chunks and a new customer is added now and then, so a
//! kill also lands in the middle of compactions and document creations, not only appends.
//!
//! Usage: `visit-writer HOME.db [MAX_VISITS]` (without a maximum it runs until killed).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use client_core::model::{NewCustomer, NewPolicy, NewVisit, Outcome, PaymentMethod, Role};
use client_core::{CustomerId, Identity, Options, PolicyId, Store};

/// Customers the home holds before the loop starts.
const CUSTOMERS: usize = 6;
/// A new customer every this many visits.
const NEW_CUSTOMER_EVERY: u64 = 40;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: visit-writer HOME.db [MAX_VISITS]");
        return ExitCode::from(2);
    };
    let max = match args.get(1).map(|s| s.parse::<u64>()) {
        None => u64::MAX,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("MAX_VISITS: {e}");
            return ExitCode::from(2);
        }
    };
    match run(Path::new(path), max) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("visit-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &Path, max: u64) -> client_core::Result<()> {
    // Compact often, so that kills also hit the DELETE + snapshot transaction.
    let options = Options {
        compact_after: 8,
        ..Options::default()
    };
    let mut store = if path.exists() {
        Store::open(path, options)?
    } else {
        let identity = Identity {
            user: "agent-1".parse()?,
            role: Role::Agent,
        };
        Store::create(path, identity, options)?
    };
    let mut customers: Vec<(CustomerId, PolicyId)> = vec![];
    for c in store.customers()? {
        if let Some(p) = store.policies_of(c.id)?.first() {
            customers.push((c.id, p.id));
        }
    }
    while customers.len() < CUSTOMERS {
        customers.push(add_customer(&mut store, customers.len())?);
    }
    let base = DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00").expect("a valid time");
    let out = std::io::stdout();
    let mut n = 0u64;
    let mut since_new_customer = 0;
    while n < max {
        if since_new_customer == NEW_CUSTOMER_EVERY {
            customers.push(add_customer(&mut store, customers.len())?);
            since_new_customer = 0;
        }
        since_new_customer += 1;
        // Spread the visits unevenly over the customers and over a month of days.
        let (customer, policy) = customers[(n * 7 + n / 3) as usize % customers.len()];
        let start = base + Duration::minutes((n % (30 * 24 * 60)) as i64 * 13 % (30 * 24 * 60));
        let visit = store.record_visit(customer, new_visit(n, policy, start))?;
        // One write per line: the test only counts lines that end with '\n'.
        let mut lock = out.lock();
        writeln!(lock, "{}", visit.id)
            .and_then(|()| lock.flush())
            .map_err(|e| client_core::Error::Io {
                path: "stdout".into(),
                source: e,
            })?;
        n += 1;
    }
    Ok(())
}

fn add_customer(store: &mut Store, i: usize) -> client_core::Result<(CustomerId, PolicyId)> {
    let c = store.add_customer(NewCustomer {
        name: format!("Customer {i}"),
        phones: vec![format!("138{i:08}")],
        postcode: Some(format!("2000{}", i % 10)),
        ..NewCustomer::default()
    })?;
    let p = store.add_policy(
        c.id,
        NewPolicy {
            number: format!("P-{i:06}"),
            product: "Whole life".into(),
            policyholder: String::new(),
            insured: String::new(),
            premium_cents: 120_000,
            payment_method: PaymentMethod::Cash,
            riders: vec![],
            due_date: NaiveDate::from_ymd_opt(2026, 6, 1 + (i % 28) as u32).expect("a valid date"),
            status: Default::default(),
        },
    )?;
    Ok((c.id, p.id))
}

fn new_visit(n: u64, policy: PolicyId, start: DateTime<FixedOffset>) -> NewVisit {
    // Every third visit collects the premium, which also writes the policy's `paid_on`.
    let (kind, purpose, outcome, policies) = match n % 3 {
        0 => ("collection", "premium_collected", "paid", vec![policy]),
        _ => ("sales", "needs_discovery", "appointment", vec![]),
    };
    NewVisit {
        kind: kind.into(),
        purposes: vec![purpose.to_string()],
        outcome: Some(Outcome {
            code: outcome.into(),
            amount_cents: (outcome == "paid").then_some(120_000),
            date: None,
            detail: None,
        }),
        policies,
        start,
        end: start + Duration::minutes(25),
        location: None,
        notes: format!("visit {n}: talked about the family's cover"),
    }
}
