//! The managers' views' cached working sets against fresh reads. A store that stays open
//! (as `doorstep serve` does) patches its cached sets with the index rows that changed; here,
//! after phones' syncs through a real server, an admin's reassignment and import in other
//! processes, and touches pruned away, its sets must equal what a newly opened store reads
//! from the same file — for one agent and for the whole team — and the counters say which way
//! each was answered, so a test cannot pass by always reading afresh.

mod support;

use chrono::{Duration as Span, NaiveDate};
use client_core::model::{ContactKind, NewContact, NewVisit, Role};
use client_core::playbook::WorkingSet;
use client_core::{CustomerId, UserId};
use doorstep_server::store::{SetReads, SqliteStore};
use serde_json::Value;
use support::*;
use tempfile::TempDir;

/// The set with each list sorted, so two sets holding the same records compare equal.
fn normalised(ws: &WorkingSet) -> Value {
    let mut v = serde_json::to_value(ws).unwrap();
    for list in v.as_object_mut().unwrap().values_mut() {
        list.as_array_mut()
            .unwrap()
            .sort_by_key(|record| record.to_string());
    }
    v
}

fn visit(phone: &Phone, days_ago: i64) -> NewVisit {
    let start = phone.store.now() - Span::days(days_ago) - Span::minutes(30);
    NewVisit {
        kind: "service".into(),
        purposes: vec![],
        outcome: None,
        policies: vec![],
        start,
        end: start + Span::minutes(20),
        location: None,
        notes: format!("{days_ago} days ago"),
    }
}

struct Views {
    store: SqliteStore,
    data: std::path::PathBuf,
    groups: Vec<Vec<UserId>>,
    from: NaiveDate,
    to: NaiveDate,
}

impl Views {
    /// Asks the open store for every group's set and checks each against a fresh read;
    /// returns how the open store answered (since the last check) and the one agent's set.
    fn check(&self, step: &str) -> (SetReads, WorkingSet) {
        let before = self.store.set_reads();
        let fresh = SqliteStore::open(&self.data).unwrap();
        let mut first = None;
        for group in &self.groups {
            let kept = self.store.working_set(group, self.from, self.to).unwrap();
            let read = fresh.working_set(group, self.from, self.to).unwrap();
            assert_eq!(
                normalised(&kept),
                normalised(&read),
                "{step}: the kept set of {group:?} differs from a fresh read"
            );
            first.get_or_insert_with(|| (*kept).clone());
        }
        let after = self.store.set_reads();
        let reads = SetReads {
            cached: after.cached - before.cached,
            patched: after.patched - before.patched,
            fresh: after.fresh - before.fresh,
        };
        (reads, first.unwrap())
    }
}

#[tokio::test]
async fn kept_working_sets_equal_fresh_reads_after_syncs_reassignments_imports_and_pruning() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let north = north_team(&data);
    let server = Server::start(&data);
    let http = http();
    let a1: UserId = "A-0001".parse().unwrap();
    let a2: UserId = "A-0002".parse().unwrap();
    let mut phone1 = Phone::new("A-0001", Role::Agent, token_for(&data, "A-0001"));
    let mut phone2 = Phone::new("A-0002", Role::Agent, token_for(&data, "A-0002"));
    let today = phone1.store.now().date_naive();
    let views = Views {
        store: SqliteStore::open(&data).unwrap(),
        data: data.clone(),
        groups: vec![vec![a1.clone()], vec![a1.clone(), a2.clone()]],
        from: today - Span::days(7),
        to: today + Span::days(1),
    };
    let two = |cached, patched, fresh| SetReads {
        cached,
        patched,
        fresh,
    };

    let (reads, set) = views.check("first read");
    assert_eq!(reads, two(0, 0, 2));
    assert_eq!(set.customers.len(), 4, "A-0001's four customers");
    let (reads, _) = views.check("nothing changed");
    assert_eq!(reads, two(2, 0, 0));

    // The phones take their customers down (only sync states change), then A-0001 records
    // a visit, a call, a visit outside the period, a log and a report, and syncs.
    phone1.sync(&http, &server.url).await;
    phone2.sync(&http, &server.url).await;
    let c1: CustomerId = north[0].parse().unwrap();
    let inside = phone1.store.record_visit(c1, visit(&phone1, 0)).unwrap();
    let outside = phone1.store.record_visit(c1, visit(&phone1, 30)).unwrap();
    let call = phone1
        .store
        .record_contact(
            c1,
            NewContact {
                kind: ContactKind::Call,
                at: phone1.store.now(),
                purpose: None,
                outcome: None,
                policies: vec![],
                notes: "Called about the renewal.".into(),
            },
        )
        .unwrap();
    phone1
        .store
        .write_log(today, "Visited and called.")
        .unwrap();
    phone1
        .store
        .submit_report(today, "Quiet day", vec![])
        .unwrap();
    phone1.sync(&http, &server.url).await;
    let (reads, set) = views.check("after A-0001's sync");
    assert_eq!(reads, two(0, 2, 0), "patched, not read again");
    assert!(set.visits.iter().any(|v| v.id == inside.id));
    assert!(!set.visits.iter().any(|v| v.id == outside.id));
    assert!(set.contacts.iter().any(|c| c.id == call.id));
    assert!(set
        .days
        .iter()
        .any(|d| d.date == today && d.report.is_some()));

    // Another process reassigns the customer to A-0002: the card and its policies leave
    // A-0001's set (their policy rows did not change) and stay in the team's.
    let policies_of_c1 = set.policies.iter().filter(|p| p.customer == c1).count();
    assert!(
        policies_of_c1 > 0,
        "the sample gives each customer a policy"
    );
    admin(
        &data,
        &["assign", "--customer", &north[0], "--agent", "A-0002"],
    );
    let (reads, set) = views.check("after the reassignment");
    assert_eq!(reads, two(0, 2, 0));
    assert!(!set.customers.iter().any(|c| c.id == c1));
    assert!(!set.policies.iter().any(|p| p.customer == c1));

    // An import in another process adds a customer with a policy for A-0001.
    let csv = dir.path().join("more.csv");
    std::fs::write(
        &csv,
        "customer_name,phone,postcode,policy_number,product,premium,due_date,agent\n\
         Qian Hua,13000130099,100001,N-99,Term Life 30,900.00,2026-12-01,A-0001\n",
    )
    .unwrap();
    let imported = admin(
        &data,
        &["import", "--team", "north", "--csv", csv.to_str().unwrap()],
    );
    let new_customer: CustomerId = imported["customers"][0].as_str().unwrap().parse().unwrap();
    let (reads, set) = views.check("after the import");
    assert_eq!(reads, two(0, 2, 0));
    assert!(set.customers.iter().any(|c| c.id == new_customer));
    assert!(set.policies.iter().any(|p| p.customer == new_customer));

    // The phones catch up: A-0001 drops the card, A-0002 visits the customer now theirs.
    phone1.sync(&http, &server.url).await;
    phone2.sync(&http, &server.url).await;
    let by_a2 = phone2.store.record_visit(c1, visit(&phone2, 0)).unwrap();
    phone2.sync(&http, &server.url).await;
    let (reads, _) = views.check("after A-0002's visit");
    assert_eq!(reads, two(0, 2, 0));
    let team = views
        .store
        .working_set(&[a1.clone(), a2.clone()], views.from, views.to)
        .unwrap();
    assert!(team.visits.iter().any(|v| v.id == by_a2.id));

    // Touches pruned before the kept sets saw them: the sets are read afresh, not patched
    // with half of what changed.
    let late = phone1
        .store
        .record_visit(new_customer, visit(&phone1, 1))
        .unwrap();
    phone1.sync(&http, &server.url).await;
    rusqlite::Connection::open(data.join("server.db"))
        .unwrap()
        .execute("DELETE FROM index_touches", [])
        .unwrap();
    let (reads, set) = views.check("after pruning");
    assert_eq!(reads, two(0, 0, 2));
    assert!(set.visits.iter().any(|v| v.id == late.id));
    drop(server);
}
