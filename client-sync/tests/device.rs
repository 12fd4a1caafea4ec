//! The device's background task against an in-process hub, in real (short) time: a local
//! write syncs after the debounce, an offline device defers and syncs when the network
//! returns, a failed run retries by itself with backoff, a revoked device is wiped and stops,
//! the listener hears every status change, and the task ends with its `Device`.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_core::model::{NewCustomer, Role};
use client_core::sync::SyncConfig;
use client_core::{Durability, Identity, Options, Store};
use client_sync::hub::{Fault, MemoryHub};
use client_sync::{login, Device, DeviceConfig, RunOptions, SyncError, SyncEvent, SyncListener};
use tempfile::TempDir;

const DEBOUNCE: Duration = Duration::from_millis(150);
const PATIENCE: Duration = Duration::from_secs(10);

fn home(dir: &TempDir, name: &str, role: Role) -> Store {
    Store::create(
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
    .unwrap()
}

fn config(online: bool) -> DeviceConfig {
    DeviceConfig {
        scheduler: SyncConfig {
            debounce: DEBOUNCE,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            jitter_seed: 7,
        },
        run: RunOptions::default(),
        online,
        sync_on_start: false,
    }
}

/// Forwards events to a channel the test reads.
struct Events(Mutex<Sender<SyncEvent>>);

impl SyncListener for Events {
    fn on_event(&self, event: SyncEvent) {
        let _ = self.0.lock().unwrap().send(event);
    }
}

struct Phone {
    _dir: TempDir,
    hub: Arc<MemoryHub>,
    store: Arc<Mutex<Store>>,
    device: Device<Arc<MemoryHub>>,
    events: Receiver<SyncEvent>,
}

fn phone(online: bool) -> Phone {
    phone_with(config(online))
}

fn phone_with(config: DeviceConfig) -> Phone {
    let dir = TempDir::new().unwrap();
    let hub = Arc::new(MemoryHub::new(home(&dir, "hub", Role::DistrictManager)));
    let s = home(&dir, "agent-1", Role::Agent);
    login(&s, "http://127.0.0.1:9", "token").unwrap();
    let store = Arc::new(Mutex::new(s));
    let device = Device::new(store.clone(), hub.clone(), config).unwrap();
    let (tx, events) = channel();
    device.set_listener(Some(Arc::new(Events(Mutex::new(tx)))));
    Phone {
        _dir: dir,
        hub,
        store,
        device,
        events,
    }
}

impl Phone {
    fn write(&self, name: &str) {
        self.store
            .lock()
            .unwrap()
            .add_customer(NewCustomer {
                name: name.into(),
                ..Default::default()
            })
            .unwrap();
        self.device.local_write();
    }

    fn hub_customers(&self) -> usize {
        self.hub.store().customers().unwrap().len()
    }

    /// Waits for an event matching `want`, returning the events seen on the way.
    fn wait_for(&self, want: impl Fn(&SyncEvent) -> bool) -> Vec<SyncEvent> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = vec![];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    let hit = want(&e);
                    seen.push(e);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!("no such event within {PATIENCE:?}; saw {seen:?}"),
            }
        }
    }

    fn wait_for_sync(&self) -> Vec<SyncEvent> {
        self.wait_for(|e| matches!(e, SyncEvent::Synced(_)))
    }
}

#[test]
fn a_local_write_syncs_after_the_debounce_and_the_listener_hears_it() {
    let p = phone(true);
    let t0 = Instant::now();
    p.write("Ada");
    std::thread::sleep(Duration::from_millis(20));
    p.write("Grace");
    assert_eq!(p.hub.requests(), 0, "nothing before the debounce");
    let seen = p.wait_for_sync();
    assert!(t0.elapsed() >= DEBOUNCE, "synced after {:?}", t0.elapsed());
    assert_eq!(p.hub_customers(), 2);
    // The listener saw the run start, then end (the status first, then the report).
    let start = seen
        .iter()
        .position(|e| matches!(e, SyncEvent::StatusChanged(s) if s.syncing))
        .unwrap_or_else(|| panic!("{seen:?}"));
    let end = seen
        .iter()
        .rposition(|e| matches!(e, SyncEvent::StatusChanged(s) if !s.syncing))
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert!(start < end, "{seen:?}");
    let SyncEvent::StatusChanged(st) = &seen[end] else {
        unreachable!()
    };
    assert_eq!(st.pending_documents, 0);
    assert!(st.last_success.is_some());
    assert_eq!(p.device.status().unwrap().pending_documents, 0);
    // Two writes in a burst made one run.
    std::thread::sleep(DEBOUNCE * 2);
    assert!(
        !p.events
            .try_iter()
            .any(|e| matches!(e, SyncEvent::Synced(_))),
        "a second run"
    );
}

#[test]
fn offline_defers_and_the_network_coming_back_syncs_at_once() {
    // A long debounce, so that "at once" cannot be mistaken for "after the debounce".
    let debounce = Duration::from_secs(1);
    let mut cfg = config(true);
    cfg.scheduler.debounce = debounce;
    let p = phone_with(cfg);
    p.device.network_changed(false);
    p.write("Ada");
    std::thread::sleep(debounce + DEBOUNCE);
    assert_eq!(p.hub.requests(), 0, "an offline device does not try");
    let st = p.device.status().unwrap();
    assert!(!st.online);
    assert_eq!(st.pending_documents, 1);
    assert_eq!(p.device.sync_now_blocking(), Err(SyncError::Offline));

    let t0 = Instant::now();
    p.device.network_changed(true);
    p.wait_for(|e| matches!(e, SyncEvent::StatusChanged(s) if s.syncing));
    assert!(
        t0.elapsed() < debounce,
        "no debounce when the network returns: {:?}",
        t0.elapsed()
    );
    p.wait_for_sync();
    assert_eq!(p.hub_customers(), 1);
}

#[test]
fn a_failed_run_is_retried_with_backoff_by_itself() {
    let p = phone(true);
    p.hub.fail_next(Fault::LoseAnswer);
    p.write("Ada");
    let seen = p.wait_for(|e| matches!(e, SyncEvent::StatusChanged(s) if s.failures == 1));
    let SyncEvent::StatusChanged(st) = seen.last().unwrap() else {
        unreachable!()
    };
    assert!(st
        .last_error
        .as_deref()
        .unwrap()
        .contains("connection reset"));
    // No call from the app: the retry comes after the backoff.
    p.wait_for_sync();
    let st = p.device.status().unwrap();
    assert_eq!(
        (st.failures, st.last_error, st.pending_documents),
        (0, None, 0)
    );
    assert_eq!(p.hub_customers(), 1);
}

#[test]
fn sync_now_answers_with_the_runs_report() {
    let p = phone(true);
    p.write("Ada");
    let report = p.device.sync_now_blocking().unwrap();
    assert_eq!(report.pending_documents, 0);
    assert_eq!(p.hub_customers(), 1);
    // A refused token is not retried by itself.
    p.hub.fail_next(Fault::Fail(|| {
        SyncError::Unauthorized("unknown token".into())
    }));
    let err = p.device.sync_now_blocking().unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized(_)));
    let requests = p.hub.requests();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(p.hub.requests(), requests);
    assert!(p.device.status().unwrap().last_error.is_some());
}

#[test]
fn a_revoked_device_is_wiped_and_stops_syncing() {
    let p = phone(true);
    p.write("Ada");
    p.device.sync_now_blocking().unwrap();
    p.hub.revoke();
    assert_eq!(p.device.sync_now_blocking(), Err(SyncError::Revoked));
    p.wait_for(|e| matches!(e, SyncEvent::Wiped));
    p.wait_for(|e| matches!(e, SyncEvent::StatusChanged(s) if s.revoked));
    assert!(p.store.lock().unwrap().customers().unwrap().is_empty());
    let st = p.device.status().unwrap();
    assert!(st.revoked);
    assert_eq!(st.server, None);
    let requests = p.hub.requests();
    p.device.local_write();
    p.device.network_changed(true);
    std::thread::sleep(DEBOUNCE * 3);
    assert_eq!(
        p.hub.requests(),
        requests,
        "a revoked device never tries again"
    );
    assert_eq!(p.device.sync_now_blocking(), Err(SyncError::Revoked));
}

#[test]
fn the_task_stops_when_the_device_is_dropped() {
    let p = phone(true);
    p.write("Ada");
    let store = p.store.clone();
    let hub = p.hub.clone();
    drop(p.device);
    let deadline = Instant::now() + PATIENCE;
    // Only this test's handle is left: the task released its store and transport.
    while Arc::strong_count(&store) > 2 || Arc::strong_count(&hub) > 2 {
        assert!(Instant::now() < deadline, "the task still holds the store");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(DEBOUNCE * 2);
    assert_eq!(hub.requests(), 0, "no sync after the drop");
}

#[test]
fn a_device_can_run_on_the_apps_runtime() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = TempDir::new().unwrap();
    let hub = Arc::new(MemoryHub::new(home(&dir, "hub", Role::DistrictManager)));
    let s = home(&dir, "agent-1", Role::Agent);
    let store = Arc::new(Mutex::new(s));
    store
        .lock()
        .unwrap()
        .add_customer(NewCustomer {
            name: "Ada".into(),
            ..Default::default()
        })
        .unwrap();
    let mut cfg = config(true);
    cfg.sync_on_start = true;
    let device = Device::with_runtime(rt.handle(), store.clone(), hub.clone(), cfg);
    // Already syncing at start: sync_now rides along or starts the next run.
    let report = rt.block_on(device.sync_now()).unwrap();
    assert_eq!(report.pending_documents, 0);
    assert_eq!(hub.store().customers().unwrap().len(), 1);
    drop(device);
}
