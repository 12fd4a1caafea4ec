//! Sync runs against an in-process hub (a second client-core store playing the server): two
//! devices converge through it, the server's removals, refusals and playbook reach the
//! device, a run cut by the network loses nothing, a revoked device is wiped, and recording a
//! visit never waits for a run's network exchange.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use client_core::model::{CustomerPatch, NewCustomer, NewVisit, Outcome, Role};
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{CustomerId, DocId, Durability, Identity, Options, Store};
use client_sync::hub::{Fault, MemoryHub};
use client_sync::{
    login, run_sync, run_sync_blocking, stored_login, stored_status, RunOptions, SyncError,
    Transport,
};
use tempfile::TempDir;

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn home(dir: &TempDir, name: &str, role: Role) -> Store {
    let mut s = Store::create(
        dir.path().join(format!("{name}.db")),
        Identity {
            user: name.parse().unwrap(),
            role,
        },
        Options {
            durability: Durability::Process,
            ..Options::default()
        },
    )
    .unwrap();
    s.set_clock(Box::new(|| t("2026-06-16T18:00:00+08:00")));
    s
}

fn device(dir: &TempDir, name: &str, role: Role) -> Mutex<Store> {
    let s = home(dir, name, role);
    login(&s, "http://127.0.0.1:9", "token").unwrap();
    Mutex::new(s)
}

fn hub(dir: &TempDir) -> MemoryHub {
    MemoryHub::new(home(dir, "hub", Role::DistrictManager))
}

fn add_customers(store: &Mutex<Store>, n: usize) -> Vec<CustomerId> {
    let mut s = store.lock().unwrap();
    (0..n)
        .map(|i| {
            s.add_customer(NewCustomer {
                name: format!("Customer {i}"),
                ..Default::default()
            })
            .unwrap()
            .id
        })
        .collect()
}

fn visit(start: &str, end: &str) -> NewVisit {
    NewVisit {
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: Some(Outcome {
            code: "appointment".into(),
            amount_cents: None,
            date: None,
            detail: None,
        }),
        policies: vec![],
        start: t(start),
        end: t(end),
        location: None,
        notes: String::new(),
    }
}

fn sync(store: &Mutex<Store>, hub: &MemoryHub) -> Result<client_sync::SyncReport, SyncError> {
    run_sync_blocking(store, hub, &RunOptions::default())
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 16).unwrap()
}

#[test]
fn two_devices_converge_through_the_hub() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    let boss = device(&dir, "boss", Role::Supervisor);
    let ids = add_customers(&agent, 5);

    let first = sync(&agent, &hub).unwrap();
    assert!(first.messages_sent >= 5, "{first:?}");
    assert!(first.rounds <= 3, "{first:?}");
    assert_eq!(first.pending_documents, 0);
    assert_eq!(hub.store().customers().unwrap().len(), 5);

    // The supervisor's phone gets every customer from the hub.
    let pulled = sync(&boss, &hub).unwrap();
    assert!(pulled.messages_received >= 5, "{pulled:?}");
    assert_eq!(boss.lock().unwrap().customers().unwrap().len(), 5);

    // Offline: the agent records visits while the supervisor regrades a customer.
    for c in &ids[..2] {
        agent
            .lock()
            .unwrap()
            .record_visit(
                *c,
                visit("2026-06-16T10:00:00+08:00", "2026-06-16T10:30:00+08:00"),
            )
            .unwrap();
    }
    boss.lock()
        .unwrap()
        .edit_customer(
            ids[0],
            CustomerPatch {
                grade: Some(Some("A".into())),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        stored_status(&agent.lock().unwrap())
            .unwrap()
            .pending_documents,
        2
    );

    // They reconnect in either order; a second pass settles everything.
    let r = sync(&boss, &hub).unwrap();
    assert!(r.rounds <= 3, "{r:?}");
    let r = sync(&agent, &hub).unwrap();
    assert!(r.rounds <= 3, "{r:?}");
    sync(&boss, &hub).unwrap();
    for store in [&agent, &boss] {
        let s = store.lock().unwrap();
        assert_eq!(s.visits_on(day()).unwrap().len(), 2);
        assert_eq!(s.customer(ids[0]).unwrap().grade.as_deref(), Some("A"));
        assert_eq!(stored_status(&s).unwrap().pending_documents, 0);
    }
    assert_eq!(hub.store().visits_on(day()).unwrap().len(), 2);

    // Nothing left to say: one empty exchange, and the status says when it happened.
    let quiet = sync(&agent, &hub).unwrap();
    assert_eq!(
        (quiet.rounds, quiet.requests, quiet.messages_sent),
        (1, 1, 0)
    );
    let st = stored_status(&agent.lock().unwrap()).unwrap();
    assert_eq!(
        st.last_success.as_deref(),
        Some("2026-06-16T18:00:00+08:00")
    );
    assert_eq!(st.last_error, None);
    assert_eq!(st.server.as_deref(), Some("http://127.0.0.1:9"));
}

#[test]
fn a_document_the_server_removes_is_dropped_and_stays_gone() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    let ids = add_customers(&agent, 3);
    sync(&agent, &hub).unwrap();
    let actor = agent.lock().unwrap().actor_hex();
    let gone = DocId::Customer(ids[1]);
    hub.reassign_away(&actor, gone.clone());

    let r = sync(&agent, &hub).unwrap();
    assert_eq!(r.removed, vec![gone]);
    {
        let s = agent.lock().unwrap();
        assert!(s.customer(ids[1]).is_err());
        assert_eq!(s.customers().unwrap().len(), 2);
    }
    // The hub still has it (for its new agent) but never pushes it back.
    assert_eq!(hub.store().customers().unwrap().len(), 3);
    let again = sync(&agent, &hub).unwrap();
    assert!(again.removed.is_empty());
    assert_eq!(agent.lock().unwrap().customers().unwrap().len(), 2);
}

#[test]
fn a_playbook_from_the_server_is_put_in_force_once() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    let toml = include_str!("../../docs/playbooks/car-insurance.toml");
    hub.set_playbook("sha256:car-1", toml);
    assert_eq!(agent.lock().unwrap().playbook().name, "insurance");

    let r = sync(&agent, &hub).unwrap();
    assert_eq!(r.playbook.as_deref(), Some("sha256:car-1"));
    assert_eq!(agent.lock().unwrap().playbook().name, "car-insurance");
    // The device now sends the hash, so the server does not send the playbook again.
    assert_eq!(sync(&agent, &hub).unwrap().playbook, None);

    // A playbook that does not parse is reported; the run still converges.
    hub.set_playbook("sha256:broken", "name = [");
    let r = sync(&agent, &hub).unwrap();
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert_eq!(agent.lock().unwrap().playbook().name, "car-insurance");
    let st = stored_status(&agent.lock().unwrap()).unwrap();
    assert!(st.last_error.unwrap().contains("playbook"));
}

#[test]
fn a_run_cut_by_the_network_loses_nothing_and_the_next_run_completes() {
    for fault in [Fault::LoseRequest, Fault::LoseAnswer] {
        for after in [0, 1, 3] {
            let dir = TempDir::new().unwrap();
            let hub = hub(&dir);
            let agent = device(&dir, "agent-1", Role::Agent);
            add_customers(&agent, 12);
            let opts = RunOptions {
                max_batch_messages: 4,
                ..RunOptions::default()
            };
            hub.fail_after(after, fault.clone());
            let err = run_sync_blocking(&agent, &hub, &opts).unwrap_err();
            assert!(matches!(err, SyncError::Network(_)), "{err}");
            assert!(err.is_retryable());
            {
                let s = agent.lock().unwrap();
                assert_eq!(s.customers().unwrap().len(), 12);
                let st = stored_status(&s).unwrap();
                assert!(st.last_error.unwrap().contains("connection reset"));
                assert_eq!(st.last_success, None);
                assert!(st.pending_documents > 0);
            }
            let r = run_sync_blocking(&agent, &hub, &opts).unwrap();
            assert_eq!(r.pending_documents, 0, "{fault:?} after {after}: {r:?}");
            assert_eq!(hub.store().customers().unwrap().len(), 12);
            let st = stored_status(&agent.lock().unwrap()).unwrap();
            assert_eq!(st.last_error, None);
        }
    }
}

#[test]
fn a_revoked_device_is_wiped_and_told_so() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    add_customers(&agent, 3);
    sync(&agent, &hub).unwrap();
    hub.revoke();
    let err = sync(&agent, &hub).unwrap_err();
    assert_eq!(err, SyncError::Revoked);
    assert!(!err.is_retryable() && err.is_auth());
    let s = agent.lock().unwrap();
    assert!(s.doc_ids().unwrap().is_empty());
    assert!(s.customers().unwrap().is_empty());
    assert_eq!(stored_login(&s).unwrap(), None, "the token is gone too");
    let st = stored_status(&s).unwrap();
    assert!(st.last_error.unwrap().contains("revoked"));
}

#[test]
fn a_refused_token_keeps_the_data_and_is_not_retried() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    add_customers(&agent, 2);
    hub.fail_next(Fault::Fail(|| {
        SyncError::Unauthorized("unknown token".into())
    }));
    let err = sync(&agent, &hub).unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized(_)) && !err.is_retryable());
    assert_eq!(agent.lock().unwrap().customers().unwrap().len(), 2);
    assert!(stored_login(&agent.lock().unwrap()).unwrap().is_some());
}

#[test]
fn refused_documents_are_recorded_and_the_others_still_sync() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    let ids = add_customers(&agent, 4);
    let actor = agent.lock().unwrap().actor_hex();
    hub.forbid(&actor, DocId::Customer(ids[2]));
    let r = sync(&agent, &hub).unwrap();
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    assert_eq!(r.rejected[0].code, "forbidden");
    assert_eq!(r.pending_documents, 1);
    assert_eq!(hub.store().customers().unwrap().len(), 3);
    let st = stored_status(&agent.lock().unwrap()).unwrap();
    assert!(st.last_success.is_some());
    assert!(st.last_error.unwrap().contains("forbidden"));
}

#[test]
fn batches_the_server_finds_too_large_are_halved() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    add_customers(&agent, 10);
    hub.limit_messages(3);
    let r = sync(&agent, &hub).unwrap();
    assert_eq!(r.pending_documents, 0);
    assert!(r.requests > r.rounds, "{r:?}");
    assert_eq!(hub.store().customers().unwrap().len(), 10);
}

#[test]
fn many_documents_converge_in_few_round_trips() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    let ids = add_customers(&agent, 120);
    let r = sync(&agent, &hub).unwrap();
    assert!(r.rounds <= 3, "{r:?}");
    // A day offline: visits to 10 customers; only those documents travel.
    for c in &ids[..10] {
        agent
            .lock()
            .unwrap()
            .record_visit(
                *c,
                visit("2026-06-16T11:00:00+08:00", "2026-06-16T11:20:00+08:00"),
            )
            .unwrap();
    }
    let r = sync(&agent, &hub).unwrap();
    assert!(r.rounds <= 3, "{r:?}");
    assert!(r.messages_sent <= 10 * r.rounds as usize, "{r:?}");
    assert_eq!(hub.store().visits_on(day()).unwrap().len(), 10);
}

/// A transport that stops in the middle of its exchange until the test lets it go.
struct Gate {
    hub: MemoryHub,
    reached: std::sync::mpsc::Sender<()>,
    release: Arc<tokio::sync::Notify>,
}

impl Transport for Gate {
    async fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        let _ = self.reached.send(());
        self.release.notified().await;
        self.hub.exchange(request).await
    }
}

#[test]
fn recording_a_visit_never_waits_for_the_network() {
    let dir = TempDir::new().unwrap();
    let agent = Arc::new(device(&dir, "agent-1", Role::Agent));
    let ids = add_customers(&agent, 3);
    let (reached, at_gate) = std::sync::mpsc::channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = Gate {
        hub: hub(&dir),
        reached,
        release: release.clone(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let running = {
        let agent = agent.clone();
        rt.spawn(async move { run_sync(&agent, &gate, &RunOptions::default()).await })
    };
    // The run is now waiting for the "network": the store is free.
    at_gate.recv_timeout(Duration::from_secs(10)).unwrap();
    let guard = agent
        .try_lock()
        .expect("the store is not locked across the network");
    drop(guard);
    agent
        .lock()
        .unwrap()
        .record_visit(
            ids[0],
            visit("2026-06-16T12:00:00+08:00", "2026-06-16T12:20:00+08:00"),
        )
        .unwrap();
    // Let every exchange through; the visit written mid-run is synced by this run or is
    // pending for the next one, never lost.
    let releaser = std::thread::spawn({
        let release = release.clone();
        move || {
            while at_gate.recv().is_ok() {
                release.notify_one();
            }
        }
    });
    release.notify_one();
    let report = rt.block_on(running).unwrap().unwrap();
    releaser.join().unwrap();
    assert!(report.pending_documents <= 1, "{report:?}");
}

#[test]
fn a_server_speaking_another_protocol_is_refused() {
    struct Future2;
    impl Transport for Future2 {
        async fn exchange(&self, _: &SyncRequest) -> Result<SyncResponse, SyncError> {
            Ok(SyncResponse {
                protocol: 2,
                ..Default::default()
            })
        }
    }
    let dir = TempDir::new().unwrap();
    let agent = device(&dir, "agent-1", Role::Agent);
    let err = run_sync_blocking(&agent, &Future2, &RunOptions::default()).unwrap_err();
    assert!(
        matches!(err, SyncError::Refused { ref code, .. } if code == "unsupported_protocol"),
        "{err}"
    );
}

/// The run's future may be spawned on a multi-threaded runtime: it holds no store guard
/// (which is not `Send`) across an await. This is the compile-time half of the test above.
#[test]
fn a_run_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let dir = TempDir::new().unwrap();
    let agent = device(&dir, "agent-1", Role::Agent);
    let hub = hub(&dir);
    let opts = RunOptions::default();
    is_send(&run_sync(&agent, &hub, &opts));
}

/// One document whose message cannot be generated (its stored bytes no longer load) does not
/// stop the run: the others sync, the run reports that document, and it stays pending (its
/// data is not touched).
#[test]
fn a_document_that_cannot_be_sent_is_reported_and_the_others_still_sync() {
    let dir = TempDir::new().unwrap();
    let hub = hub(&dir);
    let agent = device(&dir, "agent-1", Role::Agent);
    let ids = add_customers(&agent, 40);
    let broken = DocId::Customer(ids[7]);
    {
        let conn = rusqlite::Connection::open(dir.path().join("agent-1.db")).unwrap();
        let n = conn
            .execute(
                "UPDATE chunks SET data = x'00ff00ff' WHERE doc = ?1",
                [broken.to_string()],
            )
            .unwrap();
        assert!(n >= 1);
    }
    // A fresh handle: nothing of the document is cached.
    let reopened = Store::open(dir.path().join("agent-1.db"), Options::default()).unwrap();
    let agent = Mutex::new(reopened);
    let r = sync(&agent, &hub).unwrap();
    assert_eq!(hub.store().customers().unwrap().len(), 39, "{r:?}");
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert_eq!(r.failed[0].what, broken.to_string());
    assert_eq!(r.pending_documents, 1);
    let st = stored_status(&agent.lock().unwrap()).unwrap();
    assert!(st.last_success.is_some());
    assert!(st.last_error.unwrap().contains(&broken.to_string()));
}
