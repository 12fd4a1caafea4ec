//! Side by side with the Node automerge-repo sync server (issue 11): the same workload against
//! `doorstep serve` and against the peer, in one run, one table. A plain program
//! (`harness = false`): it prints the table and writes `target/bench/peer.json`;
//! `docs/benchmarks.md` reports the figures.
//!
//! The workload, for D devices, C customers each, V visits: each device creates C customer
//! documents offline, each a card then 3 visits as separate changes (not timed); then all
//! devices sync at once, timed until the server holds every document (**first upload**); then
//! each device, offline, records V visits on V distinct customers, and all sync at once again,
//! timed until the server holds every change (**a day offline**).
//!
//! - Ours: the real `doorstep` binary (release, built by the harness) and phones that are real
//!   client-core homes syncing through client-sync's HTTP transport, one thread each; a sync
//!   run returns once the server has committed what it sent.
//! - The peer (`bench/peer/`, npm packages pinned by its lockfile, `npm ci` run if
//!   `node_modules` is missing): `server.mjs`, a Repo with the WebSocket server adapter and the
//!   filesystem storage adapter sharing everything, and `clients.mjs`, one JS Repo per device in
//!   one Node process. Convergence: the server process reports, over a side channel of its own,
//!   when it holds every document at the heads the devices have, flushed to its storage.
//!
//! Both servers run pinned to core 0, the phones (this process, its proxy threads, and the
//! Node clients) to core 1, with `taskset`. A counting TCP proxy sits between phones and server
//! on both sides (HTTP for ours, WebSocket for the peer). The server's peak RSS is `VmHWM` from
//! `/proc/<pid>/status`, its CPU time `utime + stime` from `/proc/<pid>/stat`.
//!
//! Run: `cargo bench -p doorstep-tests --bench peer` (configs `1x500x30,50x100x30`, as
//! `DxCxV`); `DOORSTEP_PEER_CONFIGS=2x3x2` or `-- --quick` for a smoke run of seconds;
//! `DOORSTEP_PEER_OURS_ONLY=1` runs our side alone, and with it `DOORSTEP_PEER_ONE_BY_ONE=1`
//! syncs our phones one after the other instead of all at once. `-- --curve` (or `DOORSTEP_PEER_CURVE=1`)
//! runs 1, 10, 50 and 200 devices with 100 customers each and draws the curve into
//! `docs/benchmarks/peer-curve.png` (module `curve`). A peer run that fails (its server
//! crashes, its clients fail, or a phase outlasts `DOORSTEP_PEER_TIMEOUT_S`, default 1,200 s)
//! is recorded as failed, with why, and the run goes on; `DOORSTEP_PEER_MAX_DEVICES` skips the
//! peer above that many devices (recorded as not run).

#[path = "peer/curve.rs"]
mod curve;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use client_core::model::{NewCustomer, Role};
use client_core::{CustomerId, DocId};
use doorstep_tests::peer::{ensure_node_modules, peer_dir, try_run_clients, NodeServer, Workload};
use doorstep_tests::phone::{sales_visit, Phone};
use doorstep_tests::proxy::{Direction, Proxy};
use doorstep_tests::server::{create_team, doorstep, issue_token, ServerProcess};
use serde_json::{json, Value};
use tempfile::TempDir;

const DEFAULT_CONFIGS: &str = "1x500x30,50x100x30";
const QUICK_CONFIG: &str = "2x3x2";
const CURVE_CONFIGS: &str = "1x100x30,10x100x30,50x100x30,200x100x30";
const PEER_TIMEOUT_S: u64 = 1_200;
const SERVER_CORE: &str = "0";
const PHONE_CORE: &str = "1";

/// One workload: devices, customers per device, visits per device on the day offline.
#[derive(Clone, Copy, Debug)]
struct Config {
    devices: usize,
    customers: usize,
    visits: usize,
}

impl Config {
    fn parse(text: &str) -> Config {
        let n: Vec<usize> = text
            .split('x')
            .map(|p| p.trim().parse().expect("DxCxV, e.g. 50x100x30"))
            .collect();
        assert_eq!(n.len(), 3, "DxCxV, e.g. 50x100x30: {text}");
        assert!(n[0] > 0 && n[1] > 0, "{text}: D and C must be positive");
        assert!(
            n[2] <= n[1],
            "{text}: V visits go to distinct customers, V <= C"
        );
        Config {
            devices: n[0],
            customers: n[1],
            visits: n[2],
        }
    }

    fn workload(&self) -> Workload {
        Workload {
            devices: self.devices,
            customers: self.customers,
            visits: self.visits,
        }
    }

    fn workload_json(&self) -> Value {
        json!({"devices": self.devices, "customers": self.customers, "visits": self.visits})
    }

    fn label(&self) -> String {
        format!("D{} C{} V{}", self.devices, self.customers, self.visits)
    }
}

/// The figures of one phase on one side.
#[derive(Default, Debug)]
struct Phase {
    ms: f64,
    documents: usize,
    changes: usize,
    wire_up: u64,
    wire_down: u64,
    /// HTTP requests (ours), WebSocket messages sent by the devices (the peer).
    requests: u64,
    /// Sync runs that failed and were run again (ours: a request timed out).
    failed_syncs: u64,
    server_cpu_ms: f64,
}

impl Phase {
    fn json(&self) -> Value {
        json!({
            "ms": self.ms,
            "documents": self.documents,
            "changes": self.changes,
            "changes_per_s": self.changes as f64 / (self.ms / 1e3),
            "documents_per_s": self.documents as f64 / (self.ms / 1e3),
            "wire_bytes_up": self.wire_up,
            "wire_bytes_down": self.wire_down,
            "requests": self.requests,
            "failed_syncs": self.failed_syncs,
            "server_cpu_ms": self.server_cpu_ms,
        })
    }
}

/// One side's run of one config.
#[derive(Default, Debug)]
struct Side {
    upload: Phase,
    day: Phase,
    peak_rss_kib: u64,
    extra: Value,
}

/// `taskset` pins a process (all its threads) to a core; false if it could not.
fn pin(pid: u32, core: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", core, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The process's CPU time (user + system) so far, in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/pid/stat");
    // The command name may hold spaces; the fields after its closing parenthesis don't.
    let rest = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the man page: utime, stime; `rest` starts at field 3.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 * 1e3 / clock_ticks()
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/pid/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Syncs every phone at once, one thread each, each until nothing is pending — or, with
/// `one_by_one`, each phone after the previous one has finished (the same work without
/// concurrency: issue 11's "throughput with 50 devices at once clearly above one after the
/// other"). Returns the wall time in ms, the HTTP requests made and the sync runs that failed.
fn sync_all(phones: &[Arc<Phone>], one_by_one: bool) -> (f64, u64, u64) {
    if one_by_one {
        let start = Instant::now();
        let (mut requests, mut failures) = (0, 0);
        for p in phones {
            let (r, f) = sync_until_done(p);
            requests += r;
            failures += f;
        }
        return (start.elapsed().as_secs_f64() * 1e3, requests, failures);
    }
    let barrier = Arc::new(Barrier::new(phones.len() + 1));
    let handles: Vec<_> = phones
        .iter()
        .map(|p| {
            let (p, b) = (p.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                sync_until_done(&p)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let (mut requests, mut failures) = (0, 0);
    for h in handles {
        let (r, f) = h.join().unwrap();
        requests += r;
        failures += f;
    }
    (start.elapsed().as_secs_f64() * 1e3, requests, failures)
}

/// Syncs one phone until nothing is pending; returns the HTTP requests made and the sync runs
/// that failed (a request timed out: client-sync gives up after 60 s; the phone then syncs
/// again, as a real one would, at most 3 times in a row). A run the server turned away `busy`
/// is not a failure: the phone waits the server's `Retry-After`, as client-core's scheduler
/// does, and comes back.
fn sync_until_done(p: &Phone) -> (u64, u64) {
    let (mut requests, mut failures, mut in_a_row) = (0u64, 0u64, 0);
    loop {
        let r = match p.sync() {
            Ok(r) => r,
            Err(e @ client_sync::SyncError::Busy { .. }) => {
                std::thread::sleep(e.retry_after().unwrap_or_default());
                continue;
            }
            Err(e) if in_a_row < 3 => {
                eprintln!("{}: sync failed, again: {e}", p.user);
                failures += 1;
                in_a_row += 1;
                continue;
            }
            Err(e) => panic!("{}: sync failed 4 times in a row: {e}", p.user),
        };
        in_a_row = 0;
        assert!(r.rejected.is_empty() && r.failed.is_empty(), "{r:?}");
        requests += u64::from(r.requests);
        if r.pending_documents == 0 {
            return (requests, failures);
        }
    }
}

/// All changes of `docs` in `phone`'s home.
fn count_changes(phone: &Phone, docs: &[DocId]) -> usize {
    let mut s = phone.store();
    docs.iter()
        .map(|d| s.changes_since(d, &[]).unwrap().len())
        .sum()
}

fn run_doorstep(cfg: Config, one_by_one: bool) -> Side {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let agents: Vec<String> = (0..cfg.devices).map(|i| format!("A-{i:04}")).collect();
    let mut members: Vec<(&str, &str)> = vec![("S-01", "supervisor")];
    members.extend(agents.iter().map(|a| (a.as_str(), "agent")));
    create_team(&data, "north", &members);
    let server = ServerProcess::start(&data);
    let pid = server.pid().expect("running");
    let pinned = pin(pid, SERVER_CORE);
    let proxy = Proxy::start(server.addr);

    // Offline: C customers with 3 visits each, per device (not timed).
    let mut phones = vec![];
    let mut customers: Vec<Vec<CustomerId>> = vec![];
    let mut upload = Phase::default();
    for a in &agents {
        let token = issue_token(&data, a);
        let phone = Phone::create(dir.path(), a, Role::Agent, &proxy.url(), &token);
        let ids: Vec<CustomerId> = {
            let mut s = phone.store();
            (0..cfg.customers)
                .map(|j| {
                    let c = s
                        .add_customer(NewCustomer {
                            name: format!("Customer {j}"),
                            phones: vec![format!("1380000{j:04}")],
                            postcode: Some(format!("2000{:02}", j % 40)),
                            ..Default::default()
                        })
                        .unwrap()
                        .id;
                    for n in 0..3 {
                        let now = s.now();
                        let note =
                            format!("visit {n}, talked about the renewal and the children's plan");
                        s.record_visit(c, sales_visit(now, 200 - 60 * n, &note))
                            .unwrap();
                    }
                    c
                })
                .collect()
        };
        let docs: Vec<DocId> = ids.iter().map(|c| DocId::Customer(*c)).collect();
        upload.changes += count_changes(&phone, &docs);
        upload.documents += phone.pending();
        customers.push(ids);
        phones.push(Arc::new(phone));
    }

    let (up0, down0, cpu0) = (
        proxy.bytes(Direction::Up),
        proxy.bytes(Direction::Down),
        cpu_ms(pid),
    );
    let (ms, requests, failed) = sync_all(&phones, one_by_one);
    upload.ms = ms;
    upload.requests = requests;
    upload.failed_syncs = failed;
    upload.wire_up = proxy.bytes(Direction::Up) - up0;
    upload.wire_down = proxy.bytes(Direction::Down) - down0;
    upload.server_cpu_ms = cpu_ms(pid) - cpu0;

    // A day offline: V visits on V distinct customers per device.
    let mut day = Phase::default();
    for (phone, ids) in phones.iter().zip(&customers) {
        let step = (ids.len() / cfg.visits.max(1)).max(1);
        let mut s = phone.store();
        for n in 0..cfg.visits {
            let c = ids[(n * step) % ids.len()];
            let now = s.now();
            s.record_visit(
                c,
                sales_visit(now, 30, &format!("the day offline, visit {n}")),
            )
            .unwrap();
            day.changes += 1;
        }
        drop(s);
        day.documents += phone.pending();
    }
    let (up0, down0, cpu0) = (
        proxy.bytes(Direction::Up),
        proxy.bytes(Direction::Down),
        cpu_ms(pid),
    );
    let (ms, requests, failed) = sync_all(&phones, one_by_one);
    day.ms = ms;
    day.requests = requests;
    day.failed_syncs = failed;
    day.wire_up = proxy.bytes(Direction::Up) - up0;
    day.wire_down = proxy.bytes(Direction::Down) - down0;
    day.server_cpu_ms = cpu_ms(pid) - cpu0;
    for p in &phones {
        assert_eq!(p.pending(), 0, "{} still has pending documents", p.user);
    }

    Side {
        upload,
        day,
        peak_rss_kib: peak_rss_kib(pid),
        extra: json!({ "server_pinned": pinned, "one_by_one": one_by_one }),
    }
}

/// The peer's run of one config, or why it has no figures (its server died, its clients
/// failed, or a phase took longer than `timeout`).
fn run_peer(cfg: Config, timeout: Duration) -> Result<Side, String> {
    let dir = TempDir::new().unwrap();
    let mut server = NodeServer::start(&dir.path().join("server"), Some(SERVER_CORE));
    let pid = server.pid();
    let proxy = Proxy::start(([127, 0, 0, 1], server.ws_port).into());
    let ws = proxy.url().replace("http://", "ws://");
    let control = server.control_url();
    let root = dir.path().join("clients");
    std::fs::create_dir_all(&root).unwrap();

    let mut side = Side::default();
    let mut extra = serde_json::Map::new();
    for phase in ["upload", "day"] {
        let (up0, down0, cpu0) = (
            proxy.bytes(Direction::Up),
            proxy.bytes(Direction::Down),
            cpu_ms(pid),
        );
        let start = Instant::now();
        let mut give_up = || {
            if let Some(status) = server.exited() {
                return Some(format!("the server exited ({status})"));
            }
            (start.elapsed() > timeout).then(|| format!("no result within {} s", timeout.as_secs()))
        };
        let v = try_run_clients(phase, &ws, &control, &root, cfg.workload(), &mut give_up)?;
        let p = Phase {
            ms: v["ms"].as_f64().unwrap(),
            documents: v["documents_changed"].as_u64().unwrap() as usize,
            changes: v["changes"].as_u64().unwrap() as usize,
            wire_up: proxy.bytes(Direction::Up) - up0,
            wire_down: proxy.bytes(Direction::Down) - down0,
            requests: v["messages_up"].as_u64().unwrap(),
            failed_syncs: 0,
            server_cpu_ms: cpu_ms(pid) - cpu0,
        };
        extra.insert(phase.into(), v);
        if phase == "upload" {
            side.upload = p;
        } else {
            side.day = p;
        }
    }
    side.peak_rss_kib = peak_rss_kib(pid);
    side.extra = Value::Object(extra);
    Ok(side)
}

fn ratio(ours: f64, peer: f64) -> String {
    if peer == 0.0 || ours == 0.0 {
        "n/a".into()
    } else {
        format!("{:.1}x", ours / peer)
    }
}

/// Prints one config's rows: metric, ours, the peer's, and how many times better ours is.
fn print_rows(cfg: Config, ours: &Side, peer: &Side) {
    let rate = |p: &Phase, n: usize| n as f64 / (p.ms / 1e3);
    let rows: Vec<(&str, f64, f64, bool)> = vec![
        (
            "first upload, changes/s",
            rate(&ours.upload, ours.upload.changes),
            rate(&peer.upload, peer.upload.changes),
            true,
        ),
        (
            "first upload, documents/s",
            rate(&ours.upload, ours.upload.documents),
            rate(&peer.upload, peer.upload.documents),
            true,
        ),
        ("first upload, ms", ours.upload.ms, peer.upload.ms, false),
        (
            "day offline, ms to convergence",
            ours.day.ms,
            peer.day.ms,
            false,
        ),
        (
            "upload, KiB up",
            ours.upload.wire_up as f64 / 1024.0,
            peer.upload.wire_up as f64 / 1024.0,
            false,
        ),
        (
            "upload, KiB down",
            ours.upload.wire_down as f64 / 1024.0,
            peer.upload.wire_down as f64 / 1024.0,
            false,
        ),
        (
            "day, KiB up",
            ours.day.wire_up as f64 / 1024.0,
            peer.day.wire_up as f64 / 1024.0,
            false,
        ),
        (
            "day, KiB down",
            ours.day.wire_down as f64 / 1024.0,
            peer.day.wire_down as f64 / 1024.0,
            false,
        ),
        (
            "upload, requests (peer: messages up)",
            ours.upload.requests as f64,
            peer.upload.requests as f64,
            false,
        ),
        (
            "day, requests (peer: messages up)",
            ours.day.requests as f64,
            peer.day.requests as f64,
            false,
        ),
        (
            "server peak RSS, MiB",
            ours.peak_rss_kib as f64 / 1024.0,
            peer.peak_rss_kib as f64 / 1024.0,
            false,
        ),
        (
            "server CPU, upload, ms",
            ours.upload.server_cpu_ms,
            peer.upload.server_cpu_ms,
            false,
        ),
        (
            "server CPU, day, ms",
            ours.day.server_cpu_ms,
            peer.day.server_cpu_ms,
            false,
        ),
    ];
    println!("\n{}", cfg.label());
    println!(
        "  {:<38} {:>12} {:>12} {:>8}",
        "", "doorstep", "peer", "better"
    );
    for (name, o, p, higher_better) in rows {
        let better = if higher_better {
            ratio(o, p)
        } else {
            ratio(p, o)
        };
        println!("  {name:<38} {o:>12.1} {p:>12.1} {better:>8}");
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: a number")),
    )
}

/// Draws the curve again from a `peer.json` (`DOORSTEP_PEER_REDRAW=path`), without running.
fn redraw(path: &str) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("peer.json"))
        .expect("peer.json is JSON");
    let figures = |side: &Value| {
        (
            side["upload"]["changes_per_s"].as_f64().unwrap(),
            side["day"]["ms"].as_f64().unwrap() / 1e3,
        )
    };
    let points: Vec<curve::Point> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| curve::Point {
            devices: r["config"]["devices"].as_u64().unwrap() as usize,
            ours: figures(&r["doorstep"]),
            peer: match r["peer"]["failed"].as_str() {
                Some(why) => Err(short_reason(why)),
                None if r["peer"].is_null() => Err("not run".into()),
                None => Ok(figures(&r["peer"])),
            },
        })
        .collect();
    let title = v["title"]
        .as_str()
        .unwrap_or("doorstep serve vs automerge-repo");
    let note = v["note"].as_str().unwrap_or("");
    let png = curve_path();
    curve::draw(&png, &points, title, note).expect("the curve is drawn");
    println!("curve drawn to {}", png.display());
}

fn main() {
    if let Ok(path) = std::env::var("DOORSTEP_PEER_REDRAW") {
        return redraw(&path);
    }
    let args: Vec<String> = std::env::args().collect();
    let quick =
        args.iter().any(|a| a == "--quick") || std::env::var_os("DOORSTEP_PEER_QUICK").is_some();
    let curve =
        args.iter().any(|a| a == "--curve") || std::env::var_os("DOORSTEP_PEER_CURVE").is_some();
    let configs_text = match std::env::var("DOORSTEP_PEER_CONFIGS") {
        Ok(t) => t,
        Err(_) if quick => QUICK_CONFIG.into(),
        Err(_) if curve => CURVE_CONFIGS.into(),
        Err(_) => DEFAULT_CONFIGS.into(),
    };
    let configs: Vec<Config> = configs_text.split(',').map(Config::parse).collect();
    // Our side alone (the peer's side of D50 takes minutes to create its documents).
    let ours_only = std::env::var_os("DOORSTEP_PEER_OURS_ONLY").is_some();
    // Our phones one after the other instead of all at once (with `DOORSTEP_PEER_OURS_ONLY`).
    let one_by_one = std::env::var_os("DOORSTEP_PEER_ONE_BY_ONE").is_some();
    assert!(
        !one_by_one || ours_only,
        "DOORSTEP_PEER_ONE_BY_ONE compares our side with itself: set DOORSTEP_PEER_OURS_ONLY too"
    );
    let peer_max_devices = env_number("DOORSTEP_PEER_MAX_DEVICES").unwrap_or(u64::MAX);
    let peer_timeout =
        Duration::from_secs(env_number("DOORSTEP_PEER_TIMEOUT_S").unwrap_or(PEER_TIMEOUT_S));

    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    // The phones: this process and everything it starts, on core 1 (the servers move to 0).
    let phones_pinned = pin(std::process::id(), PHONE_CORE);
    if !phones_pinned {
        eprintln!("taskset failed: the processes are not pinned");
    }
    doorstep();
    if !ours_only {
        ensure_node_modules();
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the start: {}", load.trim());
    let started = Instant::now();

    let mut results = vec![];
    let mut points = vec![];
    for cfg in configs {
        eprintln!("{}: doorstep serve ...", cfg.label());
        let ours = run_doorstep(cfg, one_by_one);
        let ours_json = json!({
            "upload": ours.upload.json(),
            "day": ours.day.json(),
            "server_peak_rss_kib": ours.peak_rss_kib,
            "extra": ours.extra,
        });
        // Printed at once: a peer that fails must not take our figures with it.
        println!("{} doorstep: {ours_json}", cfg.label());
        let figures = |s: &Side| {
            (
                s.upload.changes as f64 / (s.upload.ms / 1e3),
                s.day.ms / 1e3,
            )
        };
        let peer = if ours_only {
            Err("not run".to_string())
        } else if cfg.devices as u64 > peer_max_devices {
            Err(format!("not run (over {peer_max_devices} devices)"))
        } else {
            eprintln!("{}: the Node automerge-repo server ...", cfg.label());
            run_peer(cfg, peer_timeout)
        };
        points.push(curve::Point {
            devices: cfg.devices,
            ours: figures(&ours),
            peer: peer.as_ref().map(figures).map_err(|e| short_reason(e)),
        });
        let peer_json = match &peer {
            Ok(peer) => {
                print_rows(cfg, &ours, peer);
                json!({
                    "upload": peer.upload.json(),
                    "day": peer.day.json(),
                    "server_peak_rss_kib": peer.peak_rss_kib,
                    "clients": peer.extra,
                })
            }
            Err(why) => {
                println!("{} peer: no figures: {why}", cfg.label());
                json!({ "failed": why })
            }
        };
        if ours_only {
            results.push(json!({"config": cfg.workload_json(), "doorstep": ours_json}));
        } else {
            results.push(json!({
                "config": cfg.workload_json(),
                "doorstep": ours_json,
                "peer": peer_json,
            }));
        }
    }
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    println!("\nload average at the end: {}", load_end.trim());
    println!("the run took {minutes:.1} min");
    let out = json!({
        "machine": {
            "nproc": nproc,
            "load_start": load.trim(),
            "load_end": load_end.trim(),
            "pinned": phones_pinned,
        },
        "minutes": minutes,
        "peer_versions": peer_versions(),
        "results": results,
    });
    let target = bench_dir();
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join("peer.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("figures written to {}", path.display());
    if curve {
        let png = curve_path();
        let note = format!(
            "{} · load average {} at the start, {} at the end · {minutes:.0} min",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            load.split(' ').next().unwrap_or("?"),
            load_end.split(' ').next().unwrap_or("?"),
        );
        let customers: Vec<String> = configs_text
            .split(',')
            .map(|c| Config::parse(c).customers.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let title = format!(
            "doorstep serve vs the Node automerge-repo sync server, {} customers per device",
            customers.join("/")
        );
        match curve::draw(&png, &points, &title, &note) {
            Ok(()) => println!("curve drawn to {}", png.display()),
            Err(e) => println!("no curve drawn: {e}"),
        }
    }
}

/// The first line of a failure, shortened for the curve's legend.
fn short_reason(why: &str) -> String {
    let line = why.lines().next().unwrap_or(why);
    let line = line.strip_prefix("clients.mjs ").unwrap_or(line);
    line.chars().take(70).collect()
}

/// `docs/benchmarks/peer-curve.png` in this repository (or `DOORSTEP_PEER_CURVE_PNG`).
fn curve_path() -> PathBuf {
    if let Some(p) = std::env::var_os("DOORSTEP_PEER_CURVE_PNG") {
        return PathBuf::from(p);
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join("docs/benchmarks");
    std::fs::create_dir_all(&docs).expect("docs/benchmarks");
    docs.join("peer-curve.png")
}

/// The peer's package versions, as bench/peer/package.json pins them.
fn peer_versions() -> Value {
    std::fs::read_to_string(peer_dir().join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|v| v["dependencies"].clone())
        .unwrap_or(Value::Null)
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
