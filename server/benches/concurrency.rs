//! The SQLite store under concurrent sync requests (issue 11: "throughput with 50 concurrent
//! devices clearly above one-after-the-other"), without phones or HTTP in the measurement.
//!
//! Not a timed test: it measures, prints a Markdown table and writes the figures as JSON to
//! `target/bench/concurrency.json` for `docs/benchmarks.md`. Run it with
//! `cargo bench -p doorstep-server --bench concurrency` (`DOORSTEP_CONCURRENCY_CONFIG=DxCxV`,
//! default `50x100x30`; `DOORSTEP_CONCURRENCY_THREADS=1,2,4`; `-- --quick` for a smoke run).
//!
//! 1. **Record.** D phones (real client-core homes) each create C customers offline (a card
//!    and 3 visits) and sync them, in-process, with a scratch `SqliteStore`; then each adds V
//!    visits on V distinct customers and syncs again. Every request each phone sent is kept,
//!    in order (the first upload takes two rounds: heads, then the documents).
//! 2. **Replay.** For each commit mode (group commit, the default, and each commit synced
//!    under the lock: `DOORSTEP_CONCURRENCY_COMMITS=grouped,each`) and each thread count T:
//!    a fresh store with the same team, T threads taking phones from a shared queue and
//!    sending each phone's recorded requests in order (`Documents::sync`, as the HTTP handler
//!    calls it on a blocking thread) — the uploads, then the days. A fresh store answers the
//!    recorded requests as the scratch one did, so every request is accepted (asserted) and
//!    the final store holds every change.
//!
//! What it shows: how the store's own work scales with requests at once on this machine's
//! cores. Phones, gzip and HTTP are left out (the peer and scale benchmarks include them).

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use client_core::model::{NewCustomer, NewVisit, Role};
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{DocId, Identity, Options, Store};
use client_sync::{run_sync_blocking, RunOptions, SyncError, Transport};
use doorstep_server::accounts::{Device, NewMember};
use doorstep_server::store::{Accounts, Documents, SqliteStore};
use serde_json::json;

/// A transport whose server is a store, called in-process; it keeps every request.
struct Recording<'a> {
    store: &'a SqliteStore,
    device: Device,
    sent: Mutex<Vec<SyncRequest>>,
}

impl Transport for Recording<'_> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send {
        self.sent.lock().unwrap().push(request.clone());
        let r = self
            .store
            .sync(&self.device, request)
            .map_err(|e| SyncError::Server {
                status: 500,
                message: e.to_string(),
            });
        std::future::ready(r)
    }
}

/// A store in `dir` with team `north` and agents `A-0000`…, one device each; its commits
/// grouped (the default) or each synced under the lock (`grouped: false`).
fn team(dir: &Path, agents: usize, grouped: bool) -> (SqliteStore, Vec<Device>) {
    let mut store = SqliteStore::open(dir).unwrap();
    if !grouped {
        store = store.without_group_commit().unwrap();
    }
    let team = "north".parse().unwrap();
    store.create_team(&team).unwrap();
    let devices = (0..agents)
        .map(|i| {
            let user = format!("A-{i:04}").parse().unwrap();
            store
                .add_member(NewMember {
                    user: format!("A-{i:04}").parse().unwrap(),
                    name: format!("Agent {i}"),
                    role: Role::Agent,
                    team: team.clone(),
                    reports_to: None,
                })
                .unwrap();
            let issued = store.issue_device(&user).unwrap();
            store.authenticate(&issued.token).unwrap().unwrap()
        })
        .collect();
    (store, devices)
}

fn visit(home: &Store, minutes_ago: i64) -> NewVisit {
    let end = home.now() - chrono::Duration::minutes(minutes_ago);
    NewVisit {
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: None,
        policies: vec![],
        start: end - chrono::Duration::minutes(20),
        end,
        location: None,
        notes: "renewal talk".into(),
    }
}

/// Every phone's recorded requests, for the upload and for the day, and the changes each
/// phase carries.
struct Recorded {
    upload: Vec<Vec<SyncRequest>>,
    day: Vec<Vec<SyncRequest>>,
    upload_changes: usize,
    day_changes: usize,
}

fn record(dir: &Path, [devices, customers, visits]: [usize; 3]) -> Recorded {
    let (scratch, devs) = team(&dir.join("scratch"), devices, true);
    let mut out = Recorded {
        upload: vec![],
        day: vec![],
        upload_changes: 0,
        day_changes: 0,
    };
    for (i, device) in devs.iter().enumerate() {
        let mut home = Store::create(
            dir.join(format!("phone-{i}.db")),
            Identity {
                user: format!("A-{i:04}").parse().unwrap(),
                role: Role::Agent,
            },
            Options::default(),
        )
        .unwrap();
        let mut mine = vec![];
        for j in 0..customers {
            let c = home
                .add_customer(NewCustomer {
                    name: format!("Customer {j}"),
                    phones: vec![format!("1380000{j:04}")],
                    agent: Some(device.member.user.clone()),
                    ..Default::default()
                })
                .unwrap()
                .id;
            for n in 0..3 {
                let v = visit(&home, 200 - 60 * n);
                home.record_visit(c, v).unwrap();
            }
            out.upload_changes += home.changes_since(&DocId::Customer(c), &[]).unwrap().len();
            mine.push(c);
        }
        let home = Mutex::new(home);
        let sync = |home: &Mutex<Store>| {
            let t = Recording {
                store: &scratch,
                device: device.clone(),
                sent: Mutex::new(vec![]),
            };
            let r = run_sync_blocking(home, &t, &RunOptions::default()).unwrap();
            assert!(r.rejected.is_empty(), "{:?}", r.rejected);
            t.sent.into_inner().unwrap()
        };
        out.upload.push(sync(&home));
        {
            let mut h = home.lock().unwrap();
            let step = (mine.len() / visits.max(1)).max(1);
            for n in 0..visits {
                let v = visit(&h, 30);
                h.record_visit(mine[(n * step) % mine.len()], v).unwrap();
                out.day_changes += 1;
            }
        }
        out.day.push(sync(&home));
    }
    out
}

/// Sends every phone's requests of one phase, `threads` at once; returns the wall time (s).
fn replay(
    store: &SqliteStore,
    devices: &[Device],
    phase: &[Vec<SyncRequest>],
    threads: usize,
) -> f64 {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|t| {
        for _ in 0..threads {
            t.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(requests) = phase.get(i) else {
                    return;
                };
                for req in requests {
                    let r = store.sync(&devices[i], req).unwrap();
                    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
                }
            });
        }
    });
    started.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let config = std::env::var("DOORSTEP_CONCURRENCY_CONFIG")
        .unwrap_or_else(|_| if quick { "4x5x2" } else { "50x100x30" }.into());
    let n: Vec<usize> = config
        .split('x')
        .map(|p| p.parse().expect("DxCxV"))
        .collect();
    let cfg = [n[0], n[1], n[2]];
    let threads: Vec<usize> = std::env::var("DOORSTEP_CONCURRENCY_THREADS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|t| t.trim().parse().expect("thread counts, e.g. 1,2,4"))
        .collect();
    // Group commit on, off or both ("grouped", "each"; default both).
    let modes: Vec<bool> = std::env::var("DOORSTEP_CONCURRENCY_COMMITS")
        .unwrap_or_else(|_| "grouped,each".into())
        .split(',')
        .map(|m| match m.trim() {
            "grouped" => true,
            "each" => false,
            other => panic!("DOORSTEP_CONCURRENCY_COMMITS: grouped or each, not {other}"),
        })
        .collect();
    let runs: usize = std::env::var("DOORSTEP_CONCURRENCY_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 });
    let dir = tempfile::tempdir().unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "D{} C{} V{}, {} cores; load average at the start: {}",
        cfg[0],
        cfg[1],
        cfg[2],
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load.trim()
    );
    let recorded = record(dir.path(), cfg);
    let requests: usize = recorded.upload.iter().map(Vec::len).sum();
    println!(
        "recorded: {} upload requests ({} changes), {} day requests ({} changes)",
        requests,
        recorded.upload_changes,
        recorded.day.iter().map(Vec::len).sum::<usize>(),
        recorded.day_changes
    );
    let mut results = vec![];
    for run in 0..runs {
        // Thread counts and commit modes interleaved within each run, so a change of the
        // machine's load touches all of them alike.
        for &grouped in &modes {
            for &t in &threads {
                let name = format!("run-{run}-{t}-{grouped}");
                let (store, devices) = team(&dir.path().join(name), cfg[0], grouped);
                let upload = replay(&store, &devices, &recorded.upload, t);
                let day = replay(&store, &devices, &recorded.day, t);
                let c = store.group_commit_counts().unwrap_or_default();
                let r = json!({
                    "commits": if grouped { "grouped" } else { "each" },
                    "threads": t,
                    "run": run,
                    "upload_s": upload,
                    "upload_changes_per_s": recorded.upload_changes as f64 / upload,
                    "day_s": day,
                    "day_changes_per_s": recorded.day_changes as f64 / day,
                    "writing_calls": c.writes,
                    "fsyncs": c.fsyncs,
                    "covered_by_another": c.covered,
                });
                println!("{r}");
                results.push(r);
            }
        }
    }
    println!();
    println!(
        "| commits | requests at once | first upload, changes/s (runs) | a day offline, s (runs) | WAL fsyncs / writing calls |"
    );
    println!("|---|---:|---|---|---|");
    for &grouped in &modes {
        let mode = if grouped { "grouped" } else { "each" };
        for &t in &threads {
            let mine: Vec<_> = results
                .iter()
                .filter(|r| r["threads"] == t && r["commits"] == mode)
                .collect();
            let ups: Vec<String> = mine
                .iter()
                .map(|r| format!("{:.0}", r["upload_changes_per_s"].as_f64().unwrap()))
                .collect();
            let days: Vec<String> = mine
                .iter()
                .map(|r| format!("{:.2}", r["day_s"].as_f64().unwrap()))
                .collect();
            let syncs: Vec<String> = mine
                .iter()
                .map(|r| {
                    if grouped {
                        format!("{} / {}", r["fsyncs"], r["writing_calls"])
                    } else {
                        "one per commit".into()
                    }
                })
                .collect();
            println!(
                "| {mode} | {t} | {} | {} | {} |",
                ups.join(" / "),
                days.join(" / "),
                syncs.join("; ")
            );
        }
    }
    let exe = std::env::current_exe().unwrap();
    let out = exe
        .ancestors()
        .find(|d| {
            d.file_name()
                .is_some_and(|n| n == "release" || n == "debug")
        })
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"))
        .join("bench");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("concurrency.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"config": config, "results": results})).unwrap(),
    )
    .unwrap();
    println!("written to {}", path.display());
}
