//! The offline journal's numbers: how long a visit takes to record, and how long a phone holding
//! a year of one agent's work takes to open and show today's status and reminders.
//!
//! Not a timed test: it measures, prints a Markdown table and writes the figures as JSON to
//! `target/bench/journal.json`, so `docs/benchmarks.md` can quote them and a later run can be
//! compared with them. Run it with `cargo bench -p doorstep-client-core --bench journal`.
//!
//! 1. **Writes.** A fresh home gets 1,000 customers with one or two policies each (due dates
//!    spread over the year), then 10,000 visits across them; every `record_visit` call is
//!    timed on its own. Once with `Durability::PowerLoss` (the default: one fsync per write),
//!    once with `Durability::Process`, and once more with `Process` and every document kept in
//!    the cache (a diagnosis: what reloading evicted documents costs). Writes that ran SQLite's
//!    automatic WAL checkpoint (seen as a change of the main file's mtime) are counted apart.
//! 2. **A year of one agent's work.** 1,000 customers, 5,000 visits spread over 365 days, a
//!    work log and an evening report for every working day. Then, several times: drop the
//!    store, `Store::open`, `working_set(month_start, today)`, `playbook::today` and
//!    `playbook::reminders`, each timed; with the files in the OS page cache, then evicted
//!    from it before each open (Linux), as on the first open after the phone was busy.
//! 3. **One customer's long history.** Visits recorded one after another for a single customer:
//!    the write latency when the customer already has 10, 50, … 300 visits (a diagnosis: the
//!    index is re-projected from the whole document on every write).
//!
//! The data are drawn from a fixed-seed generator, so two runs write the same records.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Weekday};
use client_core::model::{
    CustomerStatus, NewCustomer, NewPolicy, NewVisit, Outcome, PaymentMethod, Role,
};
use client_core::playbook;
use client_core::{CustomerId, Durability, Identity, Options, PolicyId, Store};
use serde_json::{json, Value as Json};

/// Customers of parts 1 and 2.
const CUSTOMERS: usize = 1_000;
/// Visits recorded in the write scenario.
const WRITE_VISITS: usize = 10_000;
/// Visits of the year scenario.
const YEAR_VISITS: usize = 5_000;
/// How many times the year's home is opened.
const OPEN_REPEATS: usize = 7;
/// Visits of the one customer whose history grows in part 3.
const HISTORY_VISITS: usize = 300;
/// Where part 3 reports the write latency (visits the customer already has).
const HISTORY_MARKS: [usize; 5] = [10, 50, 100, 200, 300];
/// The year: 365 days ending on `TODAY`.
const TODAY: (i32, u32, u32) = (2026, 12, 15);

/// The targets the figures are compared with.
const TARGET_P99_WRITE_MS: f64 = 5.0;
const TARGET_OPEN_TODAY_MS: f64 = 300.0;

/// splitmix64: a few lines, no dependency, and the same stream on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn today_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("a valid date")
}

fn tz() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

fn at(day: NaiveDate, minutes: u32) -> DateTime<FixedOffset> {
    let naive =
        day.and_hms_opt(0, 0, 0).expect("midnight") + chrono::Duration::minutes(minutes as i64);
    tz().from_local_datetime(&naive)
        .single()
        .expect("a fixed offset is unambiguous")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// The nearest-rank percentile of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    ms(sorted[rank - 1])
}

fn median_max(mut xs: Vec<Duration>) -> (f64, f64) {
    xs.sort();
    (
        percentile(&xs, 0.5),
        ms(*xs.last().expect("at least one run")),
    )
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn wal_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn new_home(path: &Path, options: Options) -> Store {
    let identity = Identity {
        user: "agent-1".parse().expect("a valid user id"),
        role: Role::Agent,
    };
    let mut store = Store::create(path, identity, options).expect("a new home");
    let now = at(today_date(), 20 * 60);
    store.set_clock(Box::new(move || now));
    store
}

/// A customer with one or two policies due somewhere in the year.
fn add_customers(store: &mut Store, rng: &mut Rng) -> Vec<(CustomerId, Vec<PolicyId>)> {
    let year_start = today_date() - chrono::Duration::days(364);
    (0..CUSTOMERS)
        .map(|i| {
            let birthday = NaiveDate::from_ymd_opt(1950 + rng.below(50) as i32, 1, 1)
                .expect("a valid date")
                + chrono::Duration::days(rng.below(365) as i64);
            let c = store
                .add_customer(NewCustomer {
                    name: format!("Customer {i:04}"),
                    phones: vec![format!("139{:08}", rng.below(100_000_000))],
                    address: Some(format!(
                        "{} Garden Road, block {}",
                        1 + rng.below(300),
                        i % 40
                    )),
                    postcode: Some(format!("2000{:02}", rng.below(20))),
                    birthday: Some(birthday),
                    family: Some("married, two children".into()),
                    grade: Some((*rng.pick(&["A", "B", "C", "D"])).into()),
                    status: CustomerStatus::Closed,
                    ..NewCustomer::default()
                })
                .expect("add_customer");
            let policies = (0..1 + rng.below(2))
                .map(|k| {
                    store
                        .add_policy(
                            c.id,
                            NewPolicy {
                                number: format!("P{i:05}-{k}"),
                                product: (*rng.pick(&[
                                    "Whole life",
                                    "Critical illness",
                                    "Annuity",
                                ]))
                                .into(),
                                policyholder: String::new(),
                                insured: String::new(),
                                premium_cents: 50_000 + 1_000 * rng.below(500) as i64,
                                payment_method: PaymentMethod::BankDeduction,
                                riders: vec![],
                                due_date: year_start
                                    + chrono::Duration::days(rng.below(365) as i64),
                                status: Default::default(),
                            },
                        )
                        .expect("add_policy")
                        .id
                })
                .collect();
            (c.id, policies)
        })
        .collect()
}

/// A visit of the built-in insurance playbook's vocabulary, on `day`.
fn visit(rng: &mut Rng, day: NaiveDate, policies: &[PolicyId]) -> NewVisit {
    let start = at(day, 9 * 60 + rng.below(9 * 60) as u32);
    let (kind, purposes, outcomes): (&str, &[&str], &[&str]) = match rng.below(3) {
        0 => (
            "collection",
            &["renewal_contact", "premium_collected"],
            &["paid", "promised", "not_at_home"],
        ),
        1 => (
            "service",
            &["policy_service"],
            &["served", "referral", "not_at_home"],
        ),
        _ => (
            "sales",
            &["needs_discovery"],
            &["appointment", "proposal", "refused"],
        ),
    };
    let outcome = *rng.pick(outcomes);
    NewVisit {
        kind: kind.into(),
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        outcome: Some(Outcome {
            code: outcome.into(),
            amount_cents: (outcome == "paid").then_some(120_000),
            date: None,
            detail: None,
        }),
        policies: if kind == "collection" {
            policies.to_vec()
        } else {
            vec![]
        },
        start,
        end: start + chrono::Duration::minutes(15 + rng.below(45) as i64),
        location: None,
        notes: "Met the family; reviewed the policies and the bank account for the deduction."
            .into(),
    }
}

/// The main database file's modification time: in WAL mode only a checkpoint writes to it.
fn db_mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn latency(mut lat: Vec<Duration>) -> Json {
    lat.sort();
    if lat.is_empty() {
        return json!({ "count": 0 });
    }
    json!({
        "count": lat.len(),
        "p50": percentile(&lat, 0.50),
        "p90": percentile(&lat, 0.90),
        "p99": percentile(&lat, 0.99),
        "max": ms(*lat.last().expect("not empty")),
        "mean": ms(lat.iter().sum::<Duration>()) / lat.len() as f64,
    })
}

/// Part 1: write latency of `record_visit` with one set of options.
fn writes(label: &str, options: Options, dir: &Path) -> Json {
    let path = dir.join(format!("writes-{}.db", label.replace([' ', ','], "-")));
    let mut rng = Rng(1);
    let mut store = new_home(&path, options.clone());
    let setup = Instant::now();
    let customers = add_customers(&mut store, &mut rng);
    let setup = setup.elapsed();
    let year_start = today_date() - chrono::Duration::days(364);
    let (mut lat, mut plain, mut checkpointing) = (vec![], vec![], vec![]);
    let mut mtime = db_mtime(&path);
    let all = Instant::now();
    for _ in 0..WRITE_VISITS {
        let (c, policies) = rng.pick(&customers);
        let day = year_start + chrono::Duration::days(rng.below(365) as i64);
        let v = visit(&mut rng, day, policies);
        let t = Instant::now();
        store.record_visit(*c, v).expect("record_visit");
        let d = t.elapsed();
        lat.push(d);
        // Outside the timed region: did this write run SQLite's automatic WAL checkpoint?
        let now = db_mtime(&path);
        if now != mtime {
            checkpointing.push(d);
        } else {
            plain.push(d);
        }
        mtime = now;
    }
    let all = all.elapsed();
    let db = file_len(&path);
    let wal = file_len(&wal_of(&path));
    let (docs, chunks, doc_bytes) = store.storage_stats().expect("storage_stats");
    drop(store);
    json!({
        "label": label,
        "durability": format!("{:?}", options.durability),
        "cache_bytes": options.cache_bytes,
        "customers": CUSTOMERS,
        "policies": customers.iter().map(|(_, p)| p.len()).sum::<usize>(),
        "visits": WRITE_VISITS,
        "setup_s": setup.as_secs_f64(),
        "visits_s": all.as_secs_f64(),
        "visits_per_s": WRITE_VISITS as f64 / all.as_secs_f64(),
        "write_ms": latency(lat),
        "write_ms_without_checkpoint": latency(plain),
        "write_ms_with_checkpoint": latency(checkpointing),
        "db_bytes": db,
        "wal_bytes": wal,
        "storage_stats": { "documents": docs, "chunks": chunks, "document_bytes": doc_bytes },
    })
}

/// Part 2: a year of one agent's work, then open + today's status + reminders.
fn year(dir: &Path) -> Json {
    let path = dir.join("year.db");
    let mut rng = Rng(2);
    let today = today_date();
    let year_start = today - chrono::Duration::days(364);
    let build = Instant::now();
    let mut store = new_home(
        &path,
        Options {
            durability: Durability::Process,
            ..Options::default()
        },
    );
    let customers = add_customers(&mut store, &mut rng);
    // The visits in the order they happened, as a phone records them.
    let mut days: Vec<NaiveDate> = (0..YEAR_VISITS)
        .map(|_| year_start + chrono::Duration::days(rng.below(365) as i64))
        .collect();
    days.sort();
    for day in days {
        let (c, policies) = rng.pick(&customers);
        let v = visit(&mut rng, day, policies);
        store.record_visit(*c, v).expect("record_visit");
    }
    let mut working_days = 0;
    let mut day = year_start;
    while day <= today {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            working_days += 1;
            store
                .write_log(
                    day,
                    "Visited the customers of the route; two appointments made.",
                )
                .expect("write_log");
            let problems = if rng.below(10) == 0 {
                vec![(
                    "The deduction failed twice: which account?".to_string(),
                    None,
                )]
            } else {
                vec![]
            };
            store
                .submit_report(day, "Three effective visits, log written.", problems)
                .expect("submit_report");
        }
        day += chrono::Duration::days(1);
    }
    let build = build.elapsed();
    let (docs, chunks, doc_bytes) = store.storage_stats().expect("storage_stats");
    drop(store);
    let db = file_len(&path);

    let month_start = today.with_day(1).expect("day 1");
    let mut timings = vec![];
    let (mut n_visits, mut n_reminders, mut effective) = (0, 0, 0);
    let mut evicted = true;
    for cold in [false, true] {
        let mut runs: [Vec<Duration>; 5] = Default::default();
        for _ in 0..OPEN_REPEATS {
            if cold {
                evicted &= evict_from_page_cache(&[path.clone(), wal_of(&path)]);
            }
            let t0 = Instant::now();
            let store = Store::open(&path, Options::default()).expect("open");
            let t1 = Instant::now();
            let ws = store.working_set(month_start, today).expect("working_set");
            let t2 = Instant::now();
            let st = playbook::today(store.playbook(), &store.identity().user, today, &ws);
            let t3 = Instant::now();
            let rs = playbook::reminders(store.playbook(), today, &ws);
            let t4 = Instant::now();
            for (run, d) in runs
                .iter_mut()
                .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0])
            {
                run.push(d);
            }
            n_visits = ws.visits.len();
            n_reminders = rs.len();
            effective = st.effective_visits.actual;
            drop(store);
        }
        let mut m = serde_json::Map::new();
        for (key, run) in ["open", "working_set", "today", "reminders", "total"]
            .into_iter()
            .zip(runs)
        {
            let (median, max) = median_max(run);
            m.insert(key.into(), json!({ "median": median, "max": max }));
        }
        timings.push(Json::Object(m));
    }
    let cold = timings.pop().expect("cold runs");
    let warm = timings.pop().expect("warm runs");
    json!({
        "customers": CUSTOMERS,
        "visits": YEAR_VISITS,
        "working_days": working_days,
        "build_s": build.as_secs_f64(),
        "db_bytes": db,
        "storage_stats": { "documents": docs, "chunks": chunks, "document_bytes": doc_bytes },
        "today": today.to_string(),
        "month_visits": n_visits,
        "reminders_today": n_reminders,
        "effective_visits_today": effective,
        "repeats": OPEN_REPEATS,
        "ms": warm,
        "ms_cold_file_cache": cold,
        "cold_file_cache_evicted": evicted,
    })
}

/// Drops a file from the OS page cache (after writing back its dirty pages), so that the next
/// open reads it from the disk as a phone's first open of the day would. Linux only; elsewhere
/// it does nothing and says so.
fn evict_from_page_cache(paths: &[PathBuf]) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        paths.iter().all(|p| match std::fs::File::open(p) {
            Ok(f) => {
                let _ = f.sync_all();
                // SAFETY: the descriptor is open for the whole call; the advice only affects the
                // page cache, never the file's content.
                unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) == 0 }
            }
            // No WAL file (the last close checkpointed and removed it): nothing to evict.
            Err(_) => true,
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = paths;
        false
    }
}

/// Part 3: how the write latency grows with one customer's number of visits.
fn history(dir: &Path) -> Json {
    let path = dir.join("history.db");
    let mut rng = Rng(3);
    let mut store = new_home(
        &path,
        Options {
            durability: Durability::Process,
            ..Options::default()
        },
    );
    let c = store
        .add_customer(NewCustomer {
            name: "A long-standing customer".into(),
            ..NewCustomer::default()
        })
        .expect("add_customer");
    let day0 = today_date() - chrono::Duration::days(364);
    let mut lat = Vec::with_capacity(HISTORY_VISITS);
    for i in 0..HISTORY_VISITS {
        let v = visit(
            &mut rng,
            day0 + chrono::Duration::days((i % 365) as i64),
            &[],
        );
        let t = Instant::now();
        store.record_visit(c.id, v).expect("record_visit");
        lat.push(t.elapsed());
    }
    let marks: Vec<Json> = HISTORY_MARKS
        .iter()
        .map(|&m| {
            // The ten writes before the mark, so one slow write does not stand for the mark.
            let (median, max) = median_max(lat[m.saturating_sub(10)..m].to_vec());
            json!({ "visits": m, "median_ms": median, "max_ms": max })
        })
        .collect();
    json!({ "durability": "Process", "marks": marks })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            crate_dir.parent().unwrap_or(crate_dir).join("target")
        })
}

fn f(v: &Json) -> String {
    match v.as_f64() {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
        None => v.to_string(),
    }
}

fn markdown(w: &[Json], y: &Json, h: &Json) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Writes: {CUSTOMERS} customers, {} policies, then {WRITE_VISITS} visits, each \
         `record_visit` timed.\n\n|",
        w[0]["policies"]
    ));
    for r in w {
        s.push_str(&format!(" | {}", r["label"].as_str().unwrap_or("")));
    }
    s.push_str(" | target |\n|---|");
    s.push_str(&"---|".repeat(w.len() + 1));
    s.push('\n');
    let row = |s: &mut String, label: &str, get: &dyn Fn(&Json) -> String, target: &str| {
        s.push_str(&format!("| {label} |"));
        for r in w {
            s.push_str(&format!(" {} |", get(r)));
        }
        s.push_str(&format!(" {target} |\n"));
    };
    for (q, target) in [
        ("p50", ""),
        ("p90", ""),
        ("p99", "< 5 ms"),
        ("max", ""),
        ("mean", ""),
    ] {
        row(
            &mut s,
            &format!("write {q} (ms)"),
            &|r| f(&r["write_ms"][q]),
            target,
        );
    }
    row(
        &mut s,
        "writes while the main file changed (a checkpoint ran)",
        &|r| r["write_ms_with_checkpoint"]["count"].to_string(),
        "",
    );
    row(
        &mut s,
        "p50 / p99 of those (ms)",
        &|r| {
            let c = &r["write_ms_with_checkpoint"];
            format!("{} / {}", f(&c["p50"]), f(&c["p99"]))
        },
        "",
    );
    row(
        &mut s,
        "p99 of the other writes (ms)",
        &|r| f(&r["write_ms_without_checkpoint"]["p99"]),
        "",
    );
    row(&mut s, "visits per second", &|r| f(&r["visits_per_s"]), "");
    row(
        &mut s,
        "setup: customers + policies (s)",
        &|r| f(&r["setup_s"]),
        "",
    );
    row(
        &mut s,
        "database file + WAL (MiB)",
        &|r| {
            format!(
                "{:.1} + {:.1}",
                mib(r["db_bytes"].as_u64().unwrap_or(0)),
                mib(r["wal_bytes"].as_u64().unwrap_or(0))
            )
        },
        "",
    );
    row(
        &mut s,
        "storage_stats: documents / chunks / document MiB",
        &|r| {
            let st = &r["storage_stats"];
            format!(
                "{} / {} / {:.1}",
                st["documents"],
                st["chunks"],
                mib(st["document_bytes"].as_u64().unwrap_or(0))
            )
        },
        "",
    );
    s.push_str(&format!(
        "\nA year of one agent's work: {CUSTOMERS} customers, {YEAR_VISITS} visits over 365 days, \
         {} work logs and evening reports ({:.1} MiB, {} documents). Opened {} times; today = {}, \
         {} visits this month, {} reminders.\n\n",
        y["working_days"],
        mib(y["db_bytes"].as_u64().unwrap_or(0)),
        y["storage_stats"]["documents"],
        y["repeats"],
        y["today"].as_str().unwrap_or(""),
        y["month_visits"],
        y["reminders_today"],
    ));
    s.push_str(
        "| step | median (ms) | max (ms) | cold file cache: median (ms) | max (ms) | target |\n\
         |---|---|---|---|---|---|\n",
    );
    for (key, label, target) in [
        ("open", "`Store::open`", ""),
        ("working_set", "`working_set(month_start, today)`", ""),
        ("today", "`playbook::today`", ""),
        ("reminders", "`playbook::reminders`", ""),
        ("total", "**open + today's status + reminders**", "< 300 ms"),
    ] {
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {target} |\n",
            f(&y["ms"][key]["median"]),
            f(&y["ms"][key]["max"]),
            f(&y["ms_cold_file_cache"][key]["median"]),
            f(&y["ms_cold_file_cache"][key]["max"]),
        ));
    }
    s.push_str(
        "\nOne customer's history (`Durability::Process`): `record_visit` when the customer \
         already has n visits (median and max of the ten writes before n).\n\n\
         | n visits | median (ms) | max (ms) |\n|---|---|---|\n",
    );
    for m in h["marks"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            m["visits"],
            f(&m["median_ms"]),
            f(&m["max_ms"])
        ));
    }
    s
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets a smoke run only.
    if !std::env::args().any(|a| a == "--bench") {
        println!("journal: run with `cargo bench -p doorstep-client-core --bench journal`");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let started = Instant::now();
    // Other work on the machine shows in the tails: say how busy it was.
    let load_before = loadavg();
    let process = Options {
        durability: Durability::Process,
        ..Options::default()
    };
    let runs = [
        ("PowerLoss (default)", Options::default()),
        // The same without the background checkpointer: SQLite checkpoints inside the commit
        // that fills the log, as before (the comparison the checkpointer is judged by).
        (
            "PowerLoss, checkpoints in the writes",
            Options {
                background_checkpoints: false,
                ..Options::default()
            },
        ),
        ("Process", process.clone()),
        // A diagnosis, not a setting to ship: how much of a write is reloading documents the
        // phone's cache evicted (no bound: every document stays loaded).
        (
            "Process, all documents cached",
            Options {
                cache_bytes: usize::MAX,
                ..process
            },
        ),
    ];
    let w: Vec<Json> = runs
        .into_iter()
        .map(|(label, options)| {
            eprintln!("journal: writes, {label}…");
            writes(label, options, dir.path())
        })
        .collect();
    eprintln!("journal: a year of one agent's work…");
    let y = year(dir.path());
    eprintln!("journal: one customer's long history…");
    let h = history(dir.path());
    let p99 = w[0]["write_ms"]["p99"].as_f64().unwrap_or(f64::MAX);
    let total = y["ms"]["total"]["median"].as_f64().unwrap_or(f64::MAX);
    let total_cold = y["ms_cold_file_cache"]["total"]["median"]
        .as_f64()
        .unwrap_or(f64::MAX);
    let report = json!({
        "bench": "journal",
        "machine": {
            "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "cpu": cpu_model(),
            "os": std::env::consts::OS,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        },
        "writes": w,
        "year": y,
        "history": h,
        "targets": {
            "p99_write_ms": TARGET_P99_WRITE_MS,
            "p99_write_met": p99 < TARGET_P99_WRITE_MS,
            "open_today_ms": TARGET_OPEN_TODAY_MS,
            "open_today_met": total < TARGET_OPEN_TODAY_MS,
            "open_today_cold_met": total_cold < TARGET_OPEN_TODAY_MS,
        },
        "runtime_s": started.elapsed().as_secs_f64(),
    });
    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let file = out.join("journal.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&report).expect("JSON") + "\n",
    )
    .expect("write journal.json");
    println!("{}", markdown(&w, &y, &h));
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "p99 write (PowerLoss) {p99:.2} ms: target {}; open + today {total:.0} ms \
         ({total_cold:.0} ms from a cold file cache): target {}",
        verdict(p99 < TARGET_P99_WRITE_MS),
        verdict(total.max(total_cold) < TARGET_OPEN_TODAY_MS),
    );
    println!(
        "figures: {} ({:.0} s; load average {} before, {} after)",
        file.display(),
        started.elapsed().as_secs_f64(),
        report["machine"]["loadavg_before"].as_str().unwrap_or(""),
        report["machine"]["loadavg_after"].as_str().unwrap_or(""),
    );
}

/// The 1, 5 and 15-minute load averages (Linux), for the report.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The CPU model as /proc/cpuinfo names it (Linux), for the report.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
