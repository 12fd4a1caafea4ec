//! A connection cut in the middle of a sync loses nothing.
//!
//! An agent's phone syncs a large batch (a visit on each of 100 customers) with the real
//! `doorstep serve` through a TCP proxy, and each time something breaks while the batch that
//! carries the changes is under way: the server is killed with SIGKILL while the request
//! arrives, or while it applies the documents; the proxy closes the connection halfway through
//! the request, or halfway through the response (the server applied everything, the phone
//! never hears so). After each: the sync fails with a retryable error, the phone still has
//! every visit and still counts the documents as pending; the server's record holds none of the
//! batch after a cut request, all of it after a cut response; the next sync (to a restarted
//! server) completes, and the server then has every visit exactly once. Both stores run it:
//! the embedded SQLite one (the record read from its file while the server is stopped) and
//! PostgreSQL (a database made for the test; the record read by a fresh supervisor device).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_core::model::{NewCustomer, Role};
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{CustomerId, DocId, Options, Store, VisitId};
use client_sync::{HttpOptions, HttpTransport, RunOptions, SyncError, Transport};
use doorstep_tests::pg::TestDatabase;
use doorstep_tests::phone::{sales_visit, Phone};
use doorstep_tests::proxy::{Direction, Proxy};
use doorstep_tests::server::{create_team, issue_token, ServerProcess, Storage};
use tempfile::TempDir;

const CUSTOMERS: usize = 100;

/// What breaks during the batch that carries the changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// SIGKILL when half of the request's body has reached the server.
    KillWhileReceiving,
    /// SIGKILL just after the whole request reached the server, while it applies documents.
    KillWhileApplying,
    /// The proxy closes the connection halfway through the request.
    CutRequest,
    /// The proxy closes the connection a little way into the response.
    CutResponse,
}

/// The phone's transport with a fault injected into the first large request.
struct Faulty {
    inner: HttpTransport,
    proxy: Arc<Proxy>,
    server: Arc<Mutex<ServerProcess>>,
    fault: Mutex<Option<Fault>>,
    /// Set once the fault fired.
    fired: Mutex<bool>,
}

impl Transport for Faulty {
    async fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        let payload: usize = request.messages.iter().map(|m| m.data.len()).sum();
        // The batch that carries the changes (the first round only sends heads).
        let fault = if payload > 30_000 {
            self.fault.lock().unwrap().take()
        } else {
            None
        };
        if let Some(fault) = fault {
            *self.fired.lock().unwrap() = true;
            // Requests go uncompressed here, so the body is the JSON.
            let body = serde_json::to_vec(request).unwrap().len() as u64;
            let start = self.proxy.bytes(Direction::Up);
            match fault {
                Fault::CutRequest => self.proxy.cut_after(Direction::Up, 300 + body / 2),
                Fault::CutResponse => self.proxy.cut_after(Direction::Down, 2_000),
                Fault::KillWhileReceiving | Fault::KillWhileApplying => {
                    let threshold = match fault {
                        Fault::KillWhileReceiving => start + body / 2,
                        _ => start + body,
                    };
                    let (proxy, server) = (self.proxy.clone(), self.server.clone());
                    std::thread::spawn(move || {
                        let deadline = Instant::now() + Duration::from_secs(30);
                        while proxy.bytes(Direction::Up) < threshold && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        if fault == Fault::KillWhileApplying {
                            std::thread::sleep(Duration::from_millis(30));
                        }
                        server.lock().unwrap().kill();
                    });
                }
            }
        }
        self.inner.exchange(request).await
    }
}

/// The visits the server's record holds, leaving the server running: on SQLite read from its
/// file while it is stopped, on PostgreSQL by a fresh supervisor device that syncs it all.
fn record_visits(srv: &mut ServerProcess, dir: &Path) -> BTreeMap<VisitId, CustomerId> {
    match srv.storage.clone() {
        Storage::Dir(data) => {
            if srv.is_running() {
                assert!(srv.terminate());
            }
            let held = server_visits(&data);
            srv.restart();
            held
        }
        Storage::Postgres(_) => {
            if !srv.is_running() {
                srv.restart();
            }
            static READERS: AtomicUsize = AtomicUsize::new(0);
            let n = READERS.fetch_add(1, Ordering::Relaxed);
            let token = issue_token(&srv.storage, "S-01");
            let reader = Phone::create_named(
                dir,
                &format!("reader-{n}"),
                "S-01",
                Role::Supervisor,
                &srv.url(),
                &token,
            );
            reader.sync().expect("a fresh device reads the record");
            phone_visits(&reader)
        }
    }
}

/// The visits the server's record holds (read from its store while it is stopped).
fn server_visits(data: &Path) -> BTreeMap<VisitId, CustomerId> {
    let store = Store::open(data.join("server.db"), Options::default()).unwrap();
    let mut out = BTreeMap::new();
    for id in store.doc_ids().unwrap() {
        if let DocId::Customer(c) = id {
            for v in store.visits_of(c).unwrap() {
                assert!(out.insert(v.id, c).is_none(), "visit {} twice", v.id);
            }
        }
    }
    out
}

fn phone_visits(phone: &Phone) -> BTreeMap<VisitId, CustomerId> {
    let s = phone.store();
    let mut out = BTreeMap::new();
    for c in s.customers().unwrap() {
        for v in s.visits_of(c.id).unwrap() {
            out.insert(v.id, c.id);
        }
    }
    out
}

#[test]
fn a_connection_cut_mid_request_loses_nothing() {
    cut_mid_request(None);
}

#[test]
fn a_connection_cut_mid_request_loses_nothing_on_postgresql() {
    let db = TestDatabase::new();
    cut_mid_request(Some(&db));
}

fn cut_mid_request(db: Option<&TestDatabase>) {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let storage = db.map_or(Storage::Dir(data.clone()), |db| Storage::Postgres(db.url()));
    create_team(
        &storage,
        "north",
        &[("S-01", "supervisor"), ("A-1", "agent")],
    );
    let token = issue_token(&storage, "A-1");
    let server = Arc::new(Mutex::new(ServerProcess::start_on(
        storage.clone(),
        &data,
        "warn",
    )));
    let proxy = Arc::new(Proxy::start(server.lock().unwrap().addr));
    let phone = Phone::create(dir.path(), "A-1", Role::Agent, &proxy.url(), &token);
    let plain = HttpOptions {
        gzip_above: None,
        ..HttpOptions::default()
    };
    let transport = |fault| Faulty {
        inner: HttpTransport::with_options(&proxy.url(), &token, plain.clone()).unwrap(),
        proxy: proxy.clone(),
        server: server.clone(),
        fault: Mutex::new(fault),
        fired: Mutex::new(false),
    };
    let opts = RunOptions::default();

    let customers: Vec<CustomerId> = (0..CUSTOMERS)
        .map(|i| {
            phone
                .store()
                .add_customer(NewCustomer {
                    name: format!("Customer {i}"),
                    phones: vec![format!("1390000{i:04}")],
                    ..Default::default()
                })
                .unwrap()
                .id
        })
        .collect();
    let r = phone.sync_via(&transport(None), &opts).unwrap();
    assert_eq!(r.pending_documents, 0, "{r:?}");

    for (n, fault) in [
        Fault::KillWhileReceiving,
        Fault::KillWhileApplying,
        Fault::CutRequest,
        Fault::CutResponse,
    ]
    .into_iter()
    .enumerate()
    {
        // A day offline: a visit on every customer.
        let before_batch = phone_visits(&phone);
        for (i, c) in customers.iter().enumerate() {
            let mut s = phone.store();
            let now = s.now();
            let note = format!("batch {n}, customer {i}: a long talk about the education plan");
            s.record_visit(*c, sales_visit(now, 60, &note)).unwrap();
        }
        let written = phone_visits(&phone);
        assert_eq!(written.len(), before_batch.len() + CUSTOMERS);

        let t = transport(Some(fault));
        let started = Instant::now();
        let err = phone
            .sync_via(&t, &opts)
            .expect_err(&format!("{fault:?}: the sync should fail"));
        assert!(*t.fired.lock().unwrap(), "{fault:?} never fired");
        assert!(err.is_retryable(), "{fault:?}: {err}");
        println!(
            "{fault:?}: the sync failed after {:.1} s with {err}",
            started.elapsed().as_secs_f64()
        );

        // The phone kept everything and still knows what to send.
        assert_eq!(
            phone_visits(&phone),
            written,
            "{fault:?}: the phone lost visits"
        );
        assert!(
            phone.pending() >= CUSTOMERS,
            "{fault:?}: only {} documents pending",
            phone.pending()
        );

        // What the server holds now.
        let held = record_visits(&mut server.lock().unwrap(), dir.path());
        let new_on_server = written
            .keys()
            .filter(|v| !before_batch.contains_key(*v) && held.contains_key(*v))
            .count();
        println!("{fault:?}: the server applied {new_on_server} of {CUSTOMERS} new visits");
        match fault {
            Fault::CutRequest => assert_eq!(new_on_server, 0, "a cut request applied something"),
            Fault::CutResponse => assert_eq!(new_on_server, CUSTOMERS, "{fault:?}"),
            _ => assert!(new_on_server <= CUSTOMERS),
        }

        // The next sync completes; the server has every visit exactly once.
        let r = phone.sync_via(&transport(None), &opts).unwrap();
        assert!(r.rejected.is_empty() && r.failed.is_empty(), "{r:?}");
        assert_eq!(r.pending_documents, 0, "{fault:?}: {r:?}");
        assert_eq!(
            record_visits(&mut server.lock().unwrap(), dir.path()),
            written,
            "{fault:?}: server and phone differ"
        );
    }
    assert!(
        proxy.cuts() >= 2,
        "the proxy cut {} connections",
        proxy.cuts()
    );
}
