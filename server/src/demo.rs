//! `doorstep demo`: a newcomer's first run, a team with a month of work on a live server.
//!
//! It starts the server on a fresh embedded database, creates a sample team (a department
//! manager, a supervisor, five agents), imports 200 customers with policies spread across the
//! renewal months, then gives each agent a simulated phone — a real client-core home, synced
//! over HTTP like any phone — that records a month of plausible visits, calls, SMS, work logs
//! and evening reports offline and syncs once at the end. The supervisor comments on a few
//! visits and answers a problem, so every dashboard view has something to show. It prints the
//! dashboard's URL and the supervisor's login, and keeps serving until stopped.
//!
//! The data come from a seeded generator: the same seed gives the same team and the same month.
//! The supervisor's password is random on every run, unless a seed is given (then it comes
//! from the seed too, for scripts). While a demo runs it holds a lock on its directory's
//! marker file: a second demo on the same directory is refused rather than deleting the
//! running one's database under it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Local, NaiveDate, NaiveTime, TimeZone, Weekday,
};
use clap::Args;
use client_core::model::{
    ContactKind, NewContact, NewVisit, Outcome, PaymentMethod, PolicyStatus, Role,
};
use client_core::{Durability, Identity, Options, ProblemAction, Store, UserId};
use client_sync::{login, run_sync_blocking, HttpTransport, RunOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::accounts::{NewMember, TeamId};
use crate::agent::HOME_DB;
use crate::desk::Desks;
use crate::error::{Error, Result};
use crate::import::PolicyRow;
use crate::serve::{init_logging, serve_store, EdgeArgs, Ready};
use crate::store::{ServerStore, SqliteStore};
use crate::{logins, matching};

/// Marks a data directory as the demo's own, so a second run may replace it.
const MARKER: &str = "DOORSTEP-DEMO";

/// The generator's seed when none is given.
const DEFAULT_SEED: u64 = 2026;

/// `doorstep demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo's data directory: created fresh (a previous demo's is replaced; any other
    /// non-empty directory is refused).
    #[arg(long, default_value = "./doorstep-demo")]
    pub data: PathBuf,
    /// The address to serve the dashboard and the sync API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Agents in the team.
    #[arg(long, default_value_t = 5)]
    pub agents: usize,
    /// Customers, shared out among the agents.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    /// Days of work each phone records before it syncs.
    #[arg(long, default_value_t = 30)]
    pub days: i64,
    /// Visits a fully diligent agent records on a working day (agents vary below it).
    #[arg(long, default_value_t = 4.0)]
    pub visits_per_day: f64,
    /// Seed of the generator: the same seed gives the same team and month (runs without one
    /// share those of seed 2026). Given, the supervisor's password comes from it too;
    /// otherwise the password is random on every run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop once the phones have synced instead of serving (for scripts and tests).
    #[arg(long)]
    pub exit_when_ready: bool,
}

/// Who the demo created, as printed at the end.
#[derive(Debug, serde::Serialize)]
pub struct DemoTeam {
    /// The dashboard.
    pub url: String,
    /// The supervisor's user id.
    pub supervisor: String,
    /// Their password.
    pub password: String,
    /// The agents' phones (homes for `doorstep agent --home`).
    pub phones: Vec<PathBuf>,
    /// Visits the phones recorded.
    pub visits: usize,
}

const TEAM: &str = "demo";
const DEPARTMENT_MANAGER: (&str, &str) = ("D-01", "Zhou Min");
const SUPERVISOR: (&str, &str) = ("S-01", "Wang Jun");
const AGENT_NAMES: &[&str] = &[
    "Li Na",
    "Zhang Wei",
    "Liu Yang",
    "Chen Jing",
    "Yang Fan",
    "Huang Lei",
    "Zhao Li",
    "Wu Tao",
    "Xu Hui",
    "Sun Qiang",
];
const SURNAMES: &[&str] = &[
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
    "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo",
];
const GIVEN: &[&str] = &[
    "Fang", "Min", "Jie", "Hong", "Xia", "Ping", "Gang", "Yan", "Hua", "Bo", "Lan", "Qing", "Jun",
    "Mei", "Tao", "Ying", "Lei", "Ning", "Kai", "Rui",
];
const PRODUCTS: &[&str] = &[
    "Whole Life 20",
    "Endowment 10",
    "Critical Illness",
    "Annuity 60",
];
const POSTCODES: &[&str] = &["200001", "200002", "200003", "200011", "200012", "200020"];

/// Runs the demo: seed, sync the phones, print the login, serve.
pub fn run(args: DemoArgs) -> Result<()> {
    init_logging();
    if args.agents == 0 || args.agents > 999 {
        return Err(Error::invalid("agents", "between 1 and 999"));
    }
    if !(0.0..=40.0).contains(&args.visits_per_day) {
        return Err(Error::invalid("visits-per-day", "between 0 and 40"));
    }
    // Held (locked) until the process ends.
    let _held = fresh_directory(&args.data)?;
    let store: Arc<dyn ServerStore> = Arc::new(SqliteStore::open(&args.data)?);
    let seed = args.seed.unwrap_or(DEFAULT_SEED);
    let mut rng = StdRng::seed_from_u64(seed);
    let today = Local::now().date_naive();
    let password = match args.seed {
        Some(seed) => random_password(&mut StdRng::seed_from_u64(seed ^ 0x7a55)),
        None => random_password(&mut StdRng::from_os_rng()),
    };
    let tokens = seed_team(store.as_ref(), &args, today, &password, &mut rng)?;
    let data = args.data.clone();
    let exit = args.exit_when_ready;
    let (days, per_day) = (args.days, args.visits_per_day);
    let server = store.clone();
    let desks = Desks::in_data_dir(&args.data);
    serve_store(
        store,
        Desks::in_data_dir(&args.data),
        args.addr,
        &EdgeArgs::default(),
        move |local| {
            let url = format!("http://{local}");
            let phones: Vec<PathBuf> = tokens
                .iter()
                .map(|(agent, _)| data.join("phones").join(agent.as_str()))
                .collect();
            // Phones work side by side (one per core), each from its own seeded generator, so the
            // month does not depend on the order they run in.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            let counts: Vec<Result<usize>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers.min(tokens.len()))
                    .map(|_| {
                        scope.spawn(|| {
                            let mut done = vec![];
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some((agent, token)) = tokens.get(i) else {
                                    return done;
                                };
                                let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37 + i as u64));
                                let work = Work {
                                    today,
                                    days,
                                    per_day,
                                };
                                done.push(simulate_phone(
                                    &phones[i], agent, token, &url, work, &mut rng,
                                ));
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_default())
                    .collect()
            });
            let mut visits = 0;
            for c in counts {
                visits += c?;
            }
            let mut rng = StdRng::seed_from_u64(seed ^ 0x51ed);
            supervise(server.as_ref(), &desks, today, &mut rng)?;
            let team = DemoTeam {
                url: format!("{url}/"),
                supervisor: SUPERVISOR.0.into(),
                password: password.clone(),
                phones,
                visits,
            };
            print_ready(&team, !exit);
            Ok(if exit { Ready::Stop } else { Ready::Serve })
        },
    )
}

/// Empties the demo's directory (only if it is the demo's and no demo runs on it) and creates
/// it; returns its marker file, locked: the lock lasts as long as the file is open.
fn fresh_directory(dir: &Path) -> Result<std::fs::File> {
    let io = |source| Error::Io {
        path: dir.display().to_string(),
        source,
    };
    let marker = dir.join(MARKER);
    if marker.exists() {
        let previous = std::fs::File::open(&marker).map_err(io)?;
        match previous.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::invalid(
                    "data",
                    format!(
                    "another `doorstep demo` is running on {}: stop it or choose another --data",
                    dir.display()
                ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        drop(previous);
        std::fs::remove_dir_all(dir).map_err(io)?;
    } else if dir.exists() && std::fs::read_dir(dir).map_err(io)?.next().is_some() {
        return Err(Error::invalid(
            "data",
            format!(
                "{} is not empty and not a previous demo's: choose another --data",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(
        &marker,
        "made by `doorstep demo`; the next demo run replaces this directory\n",
    )
    .map_err(io)?;
    let held = std::fs::File::open(&marker).map_err(io)?;
    held.lock().map_err(io)?;
    Ok(held)
}

fn random_password(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn user(id: &str) -> Result<UserId> {
    Ok(id.parse()?)
}

/// Creates the team, its managers and agents, the agents' devices, and imports the policies.
/// Returns each agent with their device token.
fn seed_team(
    store: &dyn ServerStore,
    args: &DemoArgs,
    today: NaiveDate,
    password: &str,
    rng: &mut StdRng,
) -> Result<Vec<(UserId, String)>> {
    let team: TeamId = TEAM.parse()?;
    store.create_team(&team)?;
    let member = |(id, name): (&str, &str), role, reports_to: Option<&str>| -> Result<NewMember> {
        Ok(NewMember {
            user: user(id)?,
            name: name.into(),
            role,
            team: team.clone(),
            reports_to: reports_to.map(user).transpose()?,
        })
    };
    store.add_member(member(DEPARTMENT_MANAGER, Role::DepartmentManager, None)?)?;
    store.add_member(member(
        SUPERVISOR,
        Role::Supervisor,
        Some(DEPARTMENT_MANAGER.0),
    )?)?;
    store.set_password(&user(SUPERVISOR.0)?, &logins::hash_password(password)?)?;
    let mut agents = vec![];
    for i in 0..args.agents {
        let id = format!("A-{:02}", i + 1);
        let name = match AGENT_NAMES.get(i) {
            Some(n) => n.to_string(),
            None => format!("Agent {}", i + 1),
        };
        store.add_member(member((&id, &name), Role::Agent, Some(SUPERVISOR.0))?)?;
        let issued = store.issue_device(&user(&id)?)?;
        agents.push((user(&id)?, issued.token));
    }
    let rows = policy_rows(args.customers, &agents, today, rng)?;
    matching::import_policies(store, &team, &rows)?;
    Ok(agents)
}

/// The company's policy list: every customer one or two policies, due dates spread over five
/// months either side of today so every renewal month has policies, a few in trouble.
fn policy_rows(
    customers: usize,
    agents: &[(UserId, String)],
    today: NaiveDate,
    rng: &mut StdRng,
) -> Result<Vec<PolicyRow>> {
    let mut rows = vec![];
    for c in 0..customers {
        let name = format!(
            "{} {}",
            SURNAMES[rng.random_range(0..SURNAMES.len())],
            GIVEN[rng.random_range(0..GIVEN.len())]
        );
        let phone = format!("138{:08}", rng.random_range(0..100_000_000u32));
        let birthday = NaiveDate::from_ymd_opt(
            rng.random_range(1950..2000),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
        );
        let postcode = POSTCODES[rng.random_range(0..POSTCODES.len())];
        let agent = agents[c % agents.len()].0.clone();
        for p in 0..rng.random_range(1..=2) {
            let due = today + Duration::days(rng.random_range(-75..=120));
            let status = match rng.random_range(0..100) {
                0..=5 => PolicyStatus::Difficult,
                6..=8 => PolicyStatus::Exited,
                9 => PolicyStatus::Dead,
                10..=12 => PolicyStatus::Orphan,
                _ => PolicyStatus::Normal,
            };
            rows.push(PolicyRow {
                line: rows.len() as u64 + 2,
                customer_name: name.clone(),
                phones: vec![phone.clone()],
                address: Some(format!("{} Renmin Road, flat {}", 10 + c, 1 + p)),
                postcode: Some(postcode.into()),
                birthday,
                policy_number: format!("P-{:05}-{p}", 10_000 + c),
                product: PRODUCTS[rng.random_range(0..PRODUCTS.len())].into(),
                policyholder: name.clone(),
                insured: name.clone(),
                premium_cents: rng.random_range(12..120) * 10_000,
                payment_method: if rng.random_bool(0.8) {
                    PaymentMethod::BankDeduction
                } else {
                    PaymentMethod::Cash
                },
                due_date: due,
                status,
                agent: agent.clone(),
            });
        }
    }
    Ok(rows)
}

fn at(day: NaiveDate, minutes: i64) -> Result<DateTime<FixedOffset>> {
    let naive = day.and_time(NaiveTime::MIN) + Duration::minutes(minutes);
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.fixed_offset())
        .ok_or_else(|| Error::invalid("time", format!("{naive} does not exist locally")))
}

/// How much work a phone records.
#[derive(Clone, Copy)]
struct Work {
    today: NaiveDate,
    days: i64,
    per_day: f64,
}

/// One agent's phone: logs in, pulls the agent's customers, records `days` of work offline,
/// then syncs. Returns the number of visits recorded.
fn simulate_phone(
    home: &Path,
    agent: &UserId,
    token: &str,
    url: &str,
    work: Work,
    rng: &mut StdRng,
) -> Result<usize> {
    let Work {
        today,
        days,
        per_day,
    } = work;
    std::fs::create_dir_all(home).map_err(|source| Error::Io {
        path: home.display().to_string(),
        source,
    })?;
    let identity = Identity {
        user: agent.clone(),
        role: Role::Agent,
    };
    let options = Options {
        durability: Durability::Process,
        ..Options::default()
    };
    let store = Store::create(home.join(HOME_DB), identity, options)?;
    login(&store, url, token)?;
    let store = Mutex::new(store);
    let transport = HttpTransport::new(url, token)?;
    run_sync_blocking(&store, &transport, &RunOptions::default())?;
    let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
    let customers = s.customers()?;
    // How diligent this agent is: the dashboard should show a spread, not five equal rows.
    let diligence: f64 = rng.random_range(0.55..1.0);
    let now = Local::now().fixed_offset();
    let mut visits = 0;
    for back in (0..days).rev() {
        let day = today - Duration::days(back);
        if day.weekday() == Weekday::Sun || rng.random_bool(0.04) {
            continue;
        }
        let evening = at(day, 20 * 60)?;
        s.set_clock(Box::new(move || evening.min(Local::now().fixed_offset())));
        let planned = (rng.random_range(0.5..1.5f64) * per_day * diligence).round() as i64;
        // The working day (8:30 to 20:00) shared out among the visits.
        let slot = (11 * 60 + 30) / planned.max(1);
        for k in 0..planned {
            let start = at(
                day,
                8 * 60 + 30 + k * slot + rng.random_range(0..slot.max(2) / 2),
            )?;
            let end = start + Duration::minutes(rng.random_range(12..55).min(slot.max(13) - 1));
            if end > now {
                break;
            }
            let customer = &customers[rng.random_range(0..customers.len())];
            let policies = s.policies_of(customer.id)?;
            let visit = plausible_visit(rng, day, start, end, &policies);
            s.record_visit(customer.id, visit)?;
            visits += 1;
        }
        for _ in 0..rng.random_range(2..8) {
            let when = at(day, 8 * 60 + rng.random_range(0..11 * 60))?;
            if when > now {
                continue;
            }
            let customer = &customers[rng.random_range(0..customers.len())];
            let (kind, purpose) = if rng.random_bool(0.6) {
                (ContactKind::Call, "appointment")
            } else {
                (ContactKind::Sms, "payment_reminder")
            };
            s.record_contact(
                customer.id,
                NewContact {
                    kind,
                    at: when,
                    purpose: Some(purpose.into()),
                    outcome: None,
                    policies: vec![],
                    notes: String::new(),
                },
            )?;
        }
        if day < today || now.time() > NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default() {
            if rng.random_bool(0.5 + diligence / 2.0) {
                s.write_log(
                    day,
                    "Visited the route; collected what was due, booked two appointments.",
                )?;
            }
            if rng.random_bool(0.4 + diligence / 2.0) {
                let problems = if rng.random_bool(0.12) {
                    let c = &customers[rng.random_range(0..customers.len())];
                    vec![(
                        format!(
                            "{}'s bank keeps refusing the deduction: can we take cash?",
                            c.name
                        ),
                        Some(c.id),
                    )]
                } else {
                    vec![]
                };
                s.submit_report(day, "Routine day on the route.", problems)?;
            }
        }
    }
    s.set_clock(Box::new(|| Local::now().fixed_offset()));
    drop(s);
    run_sync_blocking(&store, &transport, &RunOptions::default())?;
    Ok(visits)
}

/// A visit as an agent records it: collection when a policy of the customer is due around the
/// day, otherwise service or a sales conversation; now and then nobody is home.
fn plausible_visit(
    rng: &mut StdRng,
    day: NaiveDate,
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
    policies: &[client_core::model::Policy],
) -> NewVisit {
    let due = policies.iter().find(|p| {
        p.paid_on.is_none()
            && p.status == PolicyStatus::Normal
            && (p.due_date - day).num_days() <= 45
            && (p.due_date - day).num_days() >= -30
    });
    let outcome = |code: &str, amount: Option<i64>| {
        Some(Outcome {
            code: code.into(),
            amount_cents: amount,
            // A promise carries its date (the playbook's `requires_date`): a week on.
            date: (code == "promised").then(|| day + chrono::Days::new(7)),
            detail: None,
        })
    };
    let (kind, purposes, outcome, touched, notes) = if rng.random_bool(0.1) {
        (
            "collection",
            vec!["renewal_contact"],
            outcome("not_at_home", None),
            vec![],
            "Nobody home; left a card.",
        )
    } else if let Some(p) = due {
        if rng.random_bool(0.55) {
            (
                "collection",
                vec!["premium_collected", "receipt_handed_over"],
                outcome("paid", Some(p.premium_cents)),
                vec![p.id],
                "Premium collected at the door.",
            )
        } else {
            (
                "collection",
                vec!["renewal_contact", "grace_risk_explained"],
                outcome("promised", None),
                vec![p.id],
                "Will pay after payday.",
            )
        }
    } else if rng.random_bool(0.35) {
        (
            "sales",
            vec!["needs_discovery", "product_presentation"],
            if rng.random_bool(0.5) {
                outcome("proposal", None)
            } else {
                outcome("appointment", None)
            },
            vec![],
            "Talked about the family's cover.",
        )
    } else {
        (
            "service",
            vec!["policy_service", "data_verification"],
            outcome("served", None),
            vec![],
            "Checked phone and address; answered questions.",
        )
    };
    NewVisit {
        kind: kind.into(),
        purposes: purposes.into_iter().map(String::from).collect(),
        outcome,
        policies: touched,
        start,
        end,
        location: None,
        notes: notes.into(),
    }
}

/// The supervisor's part: comments on a few of today's and yesterday's visits and answers the
/// oldest open problem, as a manager would from the dashboard.
fn supervise(
    store: &dyn ServerStore,
    desks: &Desks,
    today: NaiveDate,
    rng: &mut StdRng,
) -> Result<()> {
    let supervisor = store
        .member(&user(SUPERVISOR.0)?)?
        .ok_or_else(|| Error::Internal("the demo supervisor vanished".into()))?;
    let team: TeamId = TEAM.parse()?;
    for member in store.members(Some(&team))? {
        if member.member.role != Role::Agent {
            continue;
        }
        for back in 0..3 {
            let visits = store.visits(&member.member.user, today - Duration::days(back))?;
            if let Some(v) = visits.first().filter(|_| rng.random_bool(0.7)) {
                desks.comment_visit(
                    store,
                    &supervisor,
                    v.id,
                    "Good visit. Next time ask for a referral before you leave.",
                )?;
                break;
            }
        }
    }
    if let Some(p) = store.team_problems(&team)?.first() {
        desks.answer_problem(
            store,
            &supervisor,
            p.problem.id,
            "Cash is fine this once; bring the receipt book and tell the customer to update the bank details.",
            ProblemAction::Resolve,
        )?;
    }
    Ok(())
}

fn print_ready(team: &DemoTeam, serving: bool) {
    let first = team
        .phones
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // A closed stdout (`| head`) must not stop the demo.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Doorstep demo: {} visits recorded offline on {} phones and synced.\n\n  \
         dashboard:  {}\n  log in as:  {} (supervisor), password {}\n  a phone:    \
         doorstep agent --home {first} today\n\n{}",
        team.visits,
        team.phones.len(),
        team.url,
        team.supervisor,
        team.password,
        if serving {
            "Serving until Ctrl-C."
        } else {
            "Stopping (--exit-when-ready)."
        },
    );
    let _ = out.flush();
}
