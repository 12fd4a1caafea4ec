//! The sync benchmark: what a day offline costs on the wire, and how many devices the server
//! syncs per second. A plain program (`harness = false`), not a timed test: it prints its
//! figures and writes them to `target/bench/sync.json`; `docs/benchmarks.md` reports them.
//!
//! Everything is real: the `doorstep` binary (release, built by the harness) serving a data
//! directory on loopback, phones that are client-core homes syncing through client-sync's
//! HTTP transport, and a TCP proxy between them that counts the bytes that cross the wire.
//!
//! 1. **A day offline.** One agent's phone with 500 customers (a policy each), converged with
//!    the server; then 30 visits on 30 customers and the day's work log, offline; then one
//!    sync. Round trips, requests, and bytes: on the wire (HTTP headers and gzip bodies, both
//!    ways, counted by the proxy) and uncompressed (the JSON bodies), next to the size of the
//!    new changes themselves (Automerge's encoded changes, and `save_after` of the documents'
//!    old heads). The same day again with one request per document (as a per-document
//!    protocol such as automerge-repo's would exchange them), for comparison.
//! 2. **Throughput.** 50 agents' phones (50 homes, 20 customers each) record 5 visits each,
//!    then all sync at once (one thread each); devices synced per second, over a few rounds.
//!
//! Run: `cargo bench -p doorstep-tests --bench sync`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use automerge::AutoCommit;
use chrono::NaiveDate;
use client_core::model::{NewCustomer, NewPolicy, PaymentMethod, PolicyStatus, Role};
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{CustomerId, DocId};
use client_sync::{HttpTransport, RunOptions, SyncError, SyncReport, Transport};
use doorstep_tests::phone::{sales_visit, Phone};
use doorstep_tests::proxy::{Direction, Proxy};
use doorstep_tests::server::{create_team, issue_token, ServerProcess};
use serde_json::{json, Value};
use tempfile::TempDir;

const CUSTOMERS: usize = 500;
const VISITS: usize = 30;
const DEVICES: usize = 50;
const DEVICE_CUSTOMERS: usize = 20;
const DEVICE_VISITS: usize = 5;
const THROUGHPUT_ROUNDS: usize = 3;

/// HTTP with the JSON sizes of every request and response counted.
struct Metered {
    inner: HttpTransport,
    json_up: AtomicUsize,
    json_down: AtomicUsize,
}

impl Metered {
    fn new(url: &str, token: &str) -> Metered {
        Metered {
            inner: HttpTransport::new(url, token).unwrap(),
            json_up: AtomicUsize::new(0),
            json_down: AtomicUsize::new(0),
        }
    }
}

impl Transport for Metered {
    async fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        let up = serde_json::to_vec(request).unwrap().len();
        self.json_up.fetch_add(up, Ordering::SeqCst);
        let r = self.inner.exchange(request).await?;
        let down = serde_json::to_vec(&r).unwrap().len();
        self.json_down.fetch_add(down, Ordering::SeqCst);
        Ok(r)
    }
}

/// One measured sync of `phone` through the proxy.
fn measured_sync(
    phone: &Phone,
    proxy: &Proxy,
    token: &str,
    opts: &RunOptions,
) -> (SyncReport, Value) {
    let t = Metered::new(&proxy.url(), token);
    let (up0, down0) = (proxy.bytes(Direction::Up), proxy.bytes(Direction::Down));
    let start = Instant::now();
    let r = phone.sync_via(&t, opts).expect("sync");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(r.rejected.is_empty() && r.failed.is_empty(), "{r:?}");
    let wire_up = proxy.bytes(Direction::Up) - up0;
    let wire_down = proxy.bytes(Direction::Down) - down0;
    let (json_up, json_down) = (t.json_up.into_inner(), t.json_down.into_inner());
    let v = json!({
        "rounds": r.rounds,
        "requests": r.requests,
        "messages_sent": r.messages_sent,
        "messages_received": r.messages_received,
        "sync_message_bytes_sent": r.bytes_sent,
        "sync_message_bytes_received": r.bytes_received,
        "wire_bytes_up": wire_up,
        "wire_bytes_down": wire_down,
        "wire_bytes_total": wire_up + wire_down,
        "json_bytes_up": json_up,
        "json_bytes_down": json_down,
        "json_bytes_total": json_up + json_down,
        "pending_after": r.pending_documents,
        "ms": ms,
    });
    (r, v)
}

/// A day offline on `phone`: a visit on each of `customers`, and the day's log. Returns the
/// size of the new changes: (encoded changes, `save_after` of the old heads), and the
/// documents touched.
fn day_offline(phone: &Phone, customers: &[CustomerId], label: &str) -> (usize, usize, usize) {
    let mut s = phone.store();
    let today = s.now().date_naive();
    let mut docs: Vec<DocId> = customers.iter().map(|c| DocId::Customer(*c)).collect();
    docs.push(DocId::Day(s.identity().user.clone(), today));
    let before: Vec<_> = docs.iter().map(|d| s.heads(d).unwrap()).collect();
    for (i, c) in customers.iter().enumerate() {
        let now = s.now();
        let note = format!("{label}: visit {i}, talked about the renewal and the children's plan");
        s.record_visit(*c, sales_visit(now, 60 + i as i64, &note))
            .unwrap();
    }
    s.write_log(
        today,
        &format!(
            "{label}: {} visits, two appointments made.",
            customers.len()
        ),
    )
    .unwrap();
    let (mut changes, mut save_after) = (0, 0);
    for (d, heads) in docs.iter().zip(&before) {
        changes += s
            .changes_since(d, heads)
            .unwrap()
            .iter()
            .map(|c| c.raw_bytes().len())
            .sum::<usize>();
        let bytes = s.save_document(d).unwrap().unwrap();
        save_after += AutoCommit::load(&bytes).unwrap().save_after(heads).len();
    }
    (changes, save_after, docs.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let agents: Vec<String> = (0..=DEVICES).map(|i| format!("A-{i:04}")).collect();
    let mut members: Vec<(&str, &str)> = vec![("S-01", "supervisor")];
    members.extend(agents.iter().map(|a| (a.as_str(), "agent")));
    create_team(&data, "north", &members);
    let server = ServerProcess::start(&data);
    let proxy = Proxy::start(server.addr);
    let opts = RunOptions::default();

    // 1. A day offline.
    let token = issue_token(&data, &agents[0]);
    let phone = Phone::create(dir.path(), &agents[0], Role::Agent, &proxy.url(), &token);
    let due = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
    let customers: Vec<CustomerId> = {
        let mut s = phone.store();
        (0..CUSTOMERS)
            .map(|i| {
                let c = s
                    .add_customer(NewCustomer {
                        name: format!("Customer {i}"),
                        phones: vec![format!("1380000{i:04}")],
                        postcode: Some(format!("2000{:02}", i % 40)),
                        ..Default::default()
                    })
                    .unwrap();
                s.add_policy(
                    c.id,
                    NewPolicy {
                        number: format!("P-{i:05}"),
                        product: "Education plan".into(),
                        policyholder: String::new(),
                        insured: String::new(),
                        premium_cents: 360_000,
                        payment_method: PaymentMethod::BankDeduction,
                        riders: vec![],
                        due_date: due + chrono::Days::new((i % 365) as u64),
                        status: PolicyStatus::Normal,
                    },
                )
                .unwrap();
                c.id
            })
            .collect()
    };
    let (first, first_v) = measured_sync(&phone, &proxy, &token, &opts);
    assert_eq!(first.pending_documents, 0);
    println!("first sync of {CUSTOMERS} customers: {first_v}");

    let touched: Vec<CustomerId> = customers
        .iter()
        .step_by(CUSTOMERS / VISITS)
        .take(VISITS)
        .copied()
        .collect();
    let (changes, save_after, docs) = day_offline(&phone, &touched, "day 1");
    let (day, day_v) = measured_sync(&phone, &proxy, &token, &opts);
    assert_eq!(day.pending_documents, 0);
    let wire = day_v["wire_bytes_total"].as_u64().unwrap() as f64;
    println!(
        "a day offline ({VISITS} visits, {docs} documents): {day_v}\n  new changes {changes} B \
         (save_after {save_after} B); wire/changes = {:.2}",
        wire / changes as f64
    );

    // The same day again, one request per document.
    let touched2: Vec<CustomerId> = customers
        .iter()
        .skip(1)
        .step_by(CUSTOMERS / VISITS)
        .take(VISITS)
        .copied()
        .collect();
    let (changes2, save_after2, docs2) = day_offline(&phone, &touched2, "day 2");
    let per_doc = RunOptions {
        max_batch_messages: 1,
        ..RunOptions::default()
    };
    let (_, per_doc_v) = measured_sync(&phone, &proxy, &token, &per_doc);
    let wire2 = per_doc_v["wire_bytes_total"].as_u64().unwrap() as f64;
    println!(
        "the same day, one request per document: {per_doc_v}\n  new changes {changes2} B; \
         wire/changes = {:.2}",
        wire2 / changes2 as f64
    );

    // A sync with nothing to say.
    let (_, idle_v) = measured_sync(&phone, &proxy, &token, &opts);
    println!("nothing new: {idle_v}");

    // 2. Throughput: 50 devices at once.
    let phones: Vec<Arc<Phone>> = agents[1..]
        .iter()
        .map(|a| {
            let token = issue_token(&data, a);
            Arc::new(Phone::create(
                dir.path(),
                a,
                Role::Agent,
                &server.url(),
                &token,
            ))
        })
        .collect();
    for p in &phones {
        let mut s = p.store();
        for i in 0..DEVICE_CUSTOMERS {
            s.add_customer(NewCustomer {
                name: format!("{} customer {i}", p.user),
                ..Default::default()
            })
            .unwrap();
        }
        drop(s);
        p.sync().unwrap();
    }
    let mut rates = vec![];
    let mut walls = vec![];
    for round in 0..THROUGHPUT_ROUNDS {
        for p in &phones {
            let mut s = p.store();
            let ids: Vec<CustomerId> = s.customers().unwrap().iter().map(|c| c.id).collect();
            for i in 0..DEVICE_VISITS {
                let now = s.now();
                let c = ids[(round * DEVICE_VISITS + i) % ids.len()];
                s.record_visit(c, sales_visit(now, 30, "throughput"))
                    .unwrap();
            }
        }
        let barrier = Arc::new(Barrier::new(phones.len() + 1));
        let handles: Vec<_> = phones
            .iter()
            .map(|p| {
                let (p, b) = (p.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    let t = Instant::now();
                    let r = p.sync().expect("sync");
                    assert_eq!(r.pending_documents, 0);
                    (t.elapsed().as_secs_f64() * 1e3, r.rounds)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let per: Vec<(f64, u32)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wall = start.elapsed().as_secs_f64();
        let rate = phones.len() as f64 / wall;
        println!(
            "throughput round {round}: {} devices in {:.2} s = {rate:.1} devices/s \
             (per device: median {:.0} ms, max {:.0} ms, rounds {:?})",
            phones.len(),
            wall,
            median(per.iter().map(|p| p.0).collect()),
            per.iter().map(|p| p.0).fold(0.0, f64::max),
            per.iter().map(|p| p.1).max()
        );
        rates.push(rate);
        walls.push(wall);
    }
    // A sequential baseline: the same work, one device after the other.
    for p in &phones {
        let mut s = p.store();
        let c = s.customers().unwrap()[0].id;
        let now = s.now();
        for _ in 0..DEVICE_VISITS {
            s.record_visit(c, sales_visit(now, 30, "sequential"))
                .unwrap();
        }
    }
    let start = Instant::now();
    for p in &phones {
        p.sync().unwrap();
    }
    let sequential = phones.len() as f64 / start.elapsed().as_secs_f64();
    println!("sequential: {sequential:.1} devices/s");

    let server_bytes = std::fs::metadata(data.join("server.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let out = json!({
        "machine": {
            "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        },
        "first_sync": first_v,
        "day_offline": {
            "customers": CUSTOMERS,
            "visits": VISITS,
            "documents_touched": docs,
            "new_change_bytes": changes,
            "save_after_bytes": save_after,
            "batched": day_v,
            "wire_over_changes": wire / changes as f64,
            "one_request_per_document": per_doc_v,
            "one_request_per_document_new_change_bytes": changes2,
            "one_request_per_document_save_after_bytes": save_after2,
            "one_request_per_document_documents": docs2,
            "one_request_per_document_wire_over_changes": wire2 / changes2 as f64,
        },
        "idle_sync": idle_v,
        "throughput": {
            "devices": phones.len(),
            "customers_each": DEVICE_CUSTOMERS,
            "visits_each": DEVICE_VISITS,
            "devices_per_second": rates,
            "wall_seconds": walls,
            "median_devices_per_second": median(rates.clone()),
            "sequential_devices_per_second": sequential,
        },
        "server_db_bytes": server_bytes,
    });
    let target = bench_dir();
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join("sync.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("figures written to {}", path.display());
}

/// `target/bench/`, next to the profile directory this program runs from.
fn bench_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir.parent().unwrap().join("bench")
}
