//! Scale-out (issue 12): the same workload as the peer benchmark's (D devices each create C
//! customer documents offline with 3 visits, all upload at once; then a day offline with V
//! visits each on distinct customers, all sync at once) against `doorstep serve` on the
//! embedded SQLite store and on PostgreSQL with 1, 2 and 3 instances sharing one database.
//! A plain program (`harness = false`): it prints one table and writes
//! `target/bench/scale.json`; `docs/benchmarks.md` reports the figures.
//!
//! The phones are real client-core homes syncing through client-sync over loopback HTTP, one
//! thread each; with several instances each sync run goes to an instance picked at random (a
//! load balancer with no stickiness). A run the server turns away `busy` waits its
//! `Retry-After`, as a phone does. The servers are release builds on the machine's cores, not
//! pinned (several instances share them); PostgreSQL is the machine's own (127.0.0.1:5432, a
//! database made for the run and dropped after), with its default settings.
//!
//! Figures: first upload changes/s, the day offline's time to convergence, and the p50/p99 of
//! one sync run's wall time (what a phone waits for one run: its requests, in rounds, until
//! nothing is left to send) over both phases.
//!
//! Run: `cargo bench -p doorstep-tests --bench scale` (config `50x100x30`; setups
//! `sqlite,pg1,pg2,pg3`); `DOORSTEP_SCALE_CONFIG=DxCxV`, `DOORSTEP_SCALE_SETUPS=pg1,pg3`;
//! `-- --quick` for a smoke run of seconds (4x5x2). The setup `sqlite-seq` is `sqlite` with
//! the phones syncing one after the other instead of all at once (issue 11: throughput with
//! 50 devices at once against one after the other).

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use client_core::model::{NewCustomer, Role};
use client_core::{CustomerId, DocId};
use doorstep_tests::pg::TestDatabase;
use doorstep_tests::phone::{sales_visit, Phone};
use doorstep_tests::server::{create_team, doorstep, issue_token, ServerProcess, Storage};
use serde_json::{json, Value};
use tempfile::TempDir;

const DEFAULT_CONFIG: &str = "50x100x30";
const QUICK_CONFIG: &str = "4x5x2";
const DEFAULT_SETUPS: &str = "sqlite,pg1,pg2,pg3";

/// One phase's figures.
#[derive(Default, Debug)]
struct Phase {
    ms: f64,
    changes: usize,
    runs: Vec<f64>,
    busy: u64,
}

/// Syncs one phone until nothing is pending, each run through an instance picked from `urls`
/// (`seed` spreads the phones); returns every run's time and the busy answers.
fn sync_phone(p: &Phone, urls: &[String], seed: u64) -> (Vec<f64>, u64) {
    let (mut runs, mut busy, mut failures) = (vec![], 0u64, 0);
    let mut pick = seed;
    loop {
        // A cheap, deterministic spread over the instances per run.
        pick = pick.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let url = &urls[(pick >> 33) as usize % urls.len()];
        let started = Instant::now();
        match p.sync_with(url) {
            Ok(r) => {
                runs.push(started.elapsed().as_secs_f64() * 1e3);
                assert!(r.rejected.is_empty() && r.failed.is_empty(), "{r:?}");
                if r.pending_documents == 0 {
                    return (runs, busy);
                }
            }
            Err(e @ client_sync::SyncError::Busy { .. }) => {
                busy += 1;
                std::thread::sleep(e.retry_after().unwrap_or_default());
            }
            Err(e) if failures < 3 => {
                eprintln!("{}: sync failed, again: {e}", p.user);
                failures += 1;
            }
            Err(e) => panic!("{}: sync failed 4 times: {e}", p.user),
        }
    }
}

/// Syncs every phone, each until nothing is pending: all at once, one thread each, or
/// (`one_by_one`) one after the other; returns the wall time and every run's time.
fn sync_all(phones: &[Arc<Phone>], urls: &[String], one_by_one: bool) -> Phase {
    let mut phase = Phase::default();
    if one_by_one {
        let start = Instant::now();
        for (i, p) in phones.iter().enumerate() {
            let (runs, busy) = sync_phone(p, urls, i as u64);
            phase.runs.extend(runs);
            phase.busy += busy;
        }
        phase.ms = start.elapsed().as_secs_f64() * 1e3;
        return phase;
    }
    let barrier = Arc::new(Barrier::new(phones.len() + 1));
    let handles: Vec<_> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (p, b, urls) = (p.clone(), barrier.clone(), urls.to_vec());
            std::thread::spawn(move || {
                b.wait();
                sync_phone(&p, &urls, i as u64)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        let (runs, busy) = h.join().unwrap();
        phase.runs.extend(runs);
        phase.busy += busy;
    }
    phase.ms = start.elapsed().as_secs_f64() * 1e3;
    phase
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One setup's run: `instances` servers on `storage`.
fn run(setup: &str, storage: Storage, instances: usize, dir: &Path, cfg: [usize; 3]) -> Value {
    let [devices, customers, visits] = cfg;
    let one_by_one = setup.ends_with("-seq");
    let agents: Vec<String> = (0..devices).map(|i| format!("A-{i:04}")).collect();
    let mut members: Vec<(&str, &str)> = vec![("S-01", "supervisor")];
    members.extend(agents.iter().map(|a| (a.as_str(), "agent")));
    create_team(&storage, "north", &members);
    let servers: Vec<ServerProcess> = (0..instances)
        .map(|i| ServerProcess::start_on(storage.clone(), &dir.join(format!("server-{i}")), "warn"))
        .collect();
    let urls: Vec<String> = servers.iter().map(ServerProcess::url).collect();

    let mut phones = vec![];
    let mut ids: Vec<Vec<CustomerId>> = vec![];
    let mut upload_changes = 0;
    for a in &agents {
        let token = issue_token(&storage, a);
        let phone = Phone::create(dir, a, Role::Agent, &urls[0], &token);
        let mine: Vec<CustomerId> = {
            let mut s = phone.store();
            (0..customers)
                .map(|j| {
                    let c = s
                        .add_customer(NewCustomer {
                            name: format!("Customer {j}"),
                            phones: vec![format!("1380000{j:04}")],
                            ..Default::default()
                        })
                        .unwrap()
                        .id;
                    for n in 0..3 {
                        let now = s.now();
                        s.record_visit(c, sales_visit(now, 200 - 60 * n, "renewal talk"))
                            .unwrap();
                    }
                    c
                })
                .collect()
        };
        {
            let mut s = phone.store();
            for c in &mine {
                upload_changes += s.changes_since(&DocId::Customer(*c), &[]).unwrap().len();
            }
        }
        ids.push(mine);
        phones.push(Arc::new(phone));
    }
    eprintln!("{setup}: upload ...");
    let mut upload = sync_all(&phones, &urls, one_by_one);
    upload.changes = upload_changes;

    let mut day_changes = 0;
    for (phone, mine) in phones.iter().zip(&ids) {
        let step = (mine.len() / visits.max(1)).max(1);
        let mut s = phone.store();
        for n in 0..visits {
            let c = mine[(n * step) % mine.len()];
            let now = s.now();
            s.record_visit(c, sales_visit(now, 30, &format!("day offline {n}")))
                .unwrap();
            day_changes += 1;
        }
    }
    eprintln!("{setup}: a day offline ...");
    let mut day = sync_all(&phones, &urls, one_by_one);
    day.changes = day_changes;
    for p in &phones {
        assert_eq!(p.pending(), 0, "{} still has pending documents", p.user);
    }
    drop(servers);

    let mut runs: Vec<f64> = upload.runs.iter().chain(&day.runs).copied().collect();
    runs.sort_by(f64::total_cmp);
    json!({
        "setup": setup,
        "instances": instances,
        "upload_ms": upload.ms,
        "upload_changes": upload.changes,
        "upload_changes_per_s": upload.changes as f64 / (upload.ms / 1e3),
        "day_ms": day.ms,
        "day_changes": day.changes,
        "run_ms_p50": percentile(&runs, 0.50),
        "run_ms_p99": percentile(&runs, 0.99),
        "runs": runs.len(),
        "busy_answers": upload.busy + day.busy,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick =
        args.iter().any(|a| a == "--quick") || std::env::var_os("DOORSTEP_SCALE_QUICK").is_some();
    let config = std::env::var("DOORSTEP_SCALE_CONFIG").unwrap_or_else(|_| {
        if quick {
            QUICK_CONFIG.into()
        } else {
            DEFAULT_CONFIG.into()
        }
    });
    let n: Vec<usize> = config
        .split('x')
        .map(|p| p.trim().parse().expect("DxCxV, e.g. 50x100x30"))
        .collect();
    assert!(
        n.len() == 3 && n[0] > 0 && n[1] > 0 && n[2] <= n[1],
        "DxCxV: {config}"
    );
    let cfg = [n[0], n[1], n[2]];
    let setups = std::env::var("DOORSTEP_SCALE_SETUPS").unwrap_or_else(|_| DEFAULT_SETUPS.into());
    doorstep();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "D{} C{} V{}; load average at the start: {}",
        cfg[0],
        cfg[1],
        cfg[2],
        load.trim()
    );

    let mut results = vec![];
    for setup in setups.split(',').map(str::trim) {
        let dir = TempDir::new().unwrap();
        let r = match setup {
            "sqlite" | "sqlite-seq" => run(
                setup,
                Storage::Dir(dir.path().join("data")),
                1,
                dir.path(),
                cfg,
            ),
            pg if pg.starts_with("pg") => {
                let instances: usize = pg[2..].parse().expect("pg1, pg2, pg3 …");
                let db = TestDatabase::new();
                run(
                    setup,
                    Storage::Postgres(db.url()),
                    instances,
                    dir.path(),
                    cfg,
                )
            }
            other => panic!("unknown setup {other}: sqlite, sqlite-seq, pg1, pg2, pg3"),
        };
        println!("{setup}: {r}");
        results.push(r);
    }

    println!();
    println!(
        "| setup | first upload, changes/s | a day offline, s | sync run p50 / p99, ms | busy answers |"
    );
    println!("|---|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {:.0} | {:.2} | {:.0} / {:.0} | {} |",
            r["setup"].as_str().unwrap(),
            r["upload_changes_per_s"].as_f64().unwrap(),
            r["day_ms"].as_f64().unwrap() / 1e3,
            r["run_ms_p50"].as_f64().unwrap(),
            r["run_ms_p99"].as_f64().unwrap(),
            r["busy_answers"],
        );
    }
    // target/bench/, beside the profile directory this program runs from.
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
    let path = out.join("scale.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"config": config, "results": results})).unwrap(),
    )
    .unwrap();
    println!("written to {}", path.display());
}
