//! `doorstep agent`: a field agent's phone on the command line.
//!
//! Every command opens the home's store, does one thing through client-core's plain API and
//! prints the result, for people or (with `--json`) for scripts, tests and demos. No business
//! rule lives here: parsing arguments and printing is all this module does.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone};
use clap::{Args, Subcommand};
use client_core::model::{
    ContactKind, CustomerPatch, CustomerStatus, GeoPoint, NewContact, NewCustomer, NewPolicy,
    NewVisit, Outcome, PaymentMethod, PolicyPatch, PolicyStatus, Role,
};
use client_core::{
    CustomerId, Identity, Options, PolicyId, ProblemAction, ProblemId, Store, VisitId,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::text;

/// The database file inside a home directory.
pub const HOME_DB: &str = "home.db";

/// `doorstep agent`: the options every command shares, and the command.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The phone's home directory (holds `home.db`).
    #[arg(long, env = "DOORSTEP_HOME", default_value = "./doorstep-home")]
    pub home: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: AgentCommand,
}

/// What the agent does.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Creates the home for a user (once per phone).
    Init {
        /// The user's id (staff number).
        #[arg(long)]
        user: String,
        /// agent, supervisor, department_manager or district_manager.
        #[arg(long, default_value = "agent")]
        role: String,
    },
    /// Shows who this home belongs to and the playbook in force.
    Whoami,
    /// Customers: add, edit, show, list, conflicts.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Policies: add, edit.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Records an in-person visit.
    Visit(VisitArgs),
    /// Records a phone call.
    Call(ContactArgs),
    /// Records an SMS.
    Sms(ContactArgs),
    /// Lists the visits of a day.
    Visits {
        /// The day (YYYY-MM-DD); today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// Writes the day's work log.
    Log {
        /// The diary text.
        text: String,
        /// The day; today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// Submits the evening report with the day's open problems.
    Report {
        /// The day's summary.
        #[arg(long)]
        summary: String,
        /// A problem to escalate to the supervisor (repeatable).
        #[arg(long = "problem")]
        problems: Vec<String>,
        /// The day; today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// Lists the problems of the reports this home holds.
    Problems {
        /// Only the open ones.
        #[arg(long)]
        open: bool,
    },
    /// (Managers) answers, escalates or annotates a problem.
    Answer {
        /// The problem's id.
        #[arg(long)]
        problem: String,
        /// resolve, escalate or note.
        #[arg(long, default_value = "resolve")]
        action: String,
        /// The answer.
        text: String,
    },
    /// (Managers) comments on a visit.
    Comment {
        /// The visit's id.
        #[arg(long)]
        visit: String,
        /// The comment.
        text: String,
    },
    /// Today's standards: 311 and 10-3-1.
    Today {
        /// The day; today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// This week's progress against the playbook's targets.
    Week {
        /// A day of the week; today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// This month's progress against the playbook's targets.
    Month {
        /// A day of the month; today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// Reminders: birthdays, renewal calendar, failed deductions, cadence calls.
    Reminders {
        /// The day; today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// Service-routine lists grouped by postcode.
    Lists {
        /// The day; today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
    /// The playbook: show it, or set it from a TOML file.
    Playbook {
        /// A playbook file to put in force.
        #[arg(long)]
        set: Option<PathBuf>,
    },
    /// Drops the index and derives it again from the documents.
    RebuildIndex,
    /// Binds this home to a sync server with a device token (stored in the home, never
    /// printed).
    Login {
        /// The server's URL (e.g. https://sync.example.com).
        #[arg(long)]
        server: String,
        /// The device token issued by `doorstep admin` (may begin with `-`: tokens are
        /// URL-safe base64).
        #[arg(
            long,
            env = "DOORSTEP_TOKEN",
            hide_env_values = true,
            allow_hyphen_values = true
        )]
        token: String,
    },
    /// Binds this home from an enrolment link (`doorstep://enrol?server=…&token=…`, printed
    /// and shown as a QR code by `doorstep admin device issue --link`). On an existing home
    /// (a reinstall) only the binding changes: unsynced work stays and syncs next time.
    Enrol {
        /// The enrolment link.
        link: String,
    },
    /// Syncs with the server now, until both sides have nothing left to say.
    Sync,
    /// Shows where sync stands: server, pending documents, last success, last error.
    Status,
}

/// Customer commands.
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Adds a customer card.
    Add(CardArgs),
    /// Edits a customer card (only the fields given change).
    Edit {
        /// The customer's id.
        id: String,
        /// The fields.
        #[command(flatten)]
        card: CardArgs,
    },
    /// Shows a customer with policies, visits, contacts, comments and conflicts.
    Show {
        /// The customer's id.
        id: String,
    },
    /// Lists the customers.
    List,
}

/// The fields of a customer card.
#[derive(Debug, Args, Default)]
pub struct CardArgs {
    /// Full name.
    #[arg(long)]
    pub name: Option<String>,
    /// Phone number (repeatable; replaces the list when editing).
    #[arg(long = "phone")]
    pub phones: Vec<String>,
    /// Street address.
    #[arg(long)]
    pub address: Option<String>,
    /// Postcode.
    #[arg(long)]
    pub postcode: Option<String>,
    /// Birthday (YYYY-MM-DD).
    #[arg(long)]
    pub birthday: Option<String>,
    /// Family structure.
    #[arg(long)]
    pub family: Option<String>,
    /// Household income band.
    #[arg(long)]
    pub income: Option<String>,
    /// Workplace.
    #[arg(long)]
    pub workplace: Option<String>,
    /// Notes.
    #[arg(long)]
    pub notes: Option<String>,
    /// Grade code from the playbook (A–D by default).
    #[arg(long)]
    pub grade: Option<String>,
    /// closed or prospect.
    #[arg(long)]
    pub status: Option<String>,
    /// The agent the customer is assigned to.
    #[arg(long)]
    pub agent: Option<String>,
    /// Latitude of the address.
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    pub lat: Option<f64>,
    /// Longitude of the address.
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    pub lon: Option<f64>,
}

/// Policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Adds a policy to a customer.
    Add {
        /// The policyholder's customer id.
        #[arg(long)]
        customer: String,
        /// The company's policy number.
        #[arg(long)]
        number: String,
        /// Product name.
        #[arg(long, default_value = "")]
        product: String,
        /// Premium (e.g. 1234.50). A negative number reaches the parser (and is refused with one
        /// line) instead of reading as an unknown flag.
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        premium: String,
        /// Due date (YYYY-MM-DD).
        #[arg(long)]
        due: String,
        /// Policyholder (the customer's name by default).
        #[arg(long, default_value = "")]
        holder: String,
        /// Insured (the policyholder by default).
        #[arg(long, default_value = "")]
        insured: String,
        /// bank_deduction, cash or card.
        #[arg(long, default_value = "bank_deduction")]
        payment: String,
        /// A rider (repeatable).
        #[arg(long = "rider")]
        riders: Vec<String>,
        /// normal, difficult, exited, dead or orphan.
        #[arg(long, default_value = "normal")]
        status: String,
    },
    /// Edits a policy.
    Edit {
        /// The policy's id.
        id: String,
        /// New status.
        #[arg(long)]
        status: Option<String>,
        /// New due date.
        #[arg(long)]
        due: Option<String>,
        /// New premium.
        #[arg(long, allow_hyphen_values = true)]
        premium: Option<String>,
        /// Premium received on this day.
        #[arg(long)]
        paid_on: Option<String>,
        /// Bank deduction failed on this day.
        #[arg(long)]
        deduction_failed_on: Option<String>,
    },
}

/// A visit's fields.
#[derive(Debug, Args)]
pub struct VisitArgs {
    /// The customer's id.
    #[arg(long)]
    pub customer: String,
    /// Visit kind (collection, service, sales by default).
    #[arg(long)]
    pub kind: String,
    /// Purpose code (repeatable).
    #[arg(long = "purpose")]
    pub purposes: Vec<String>,
    /// Outcome code.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Amount collected (e.g. 1234.50).
    #[arg(long, allow_hyphen_values = true)]
    pub amount: Option<String>,
    /// Promised date or appointment day.
    #[arg(long)]
    pub outcome_date: Option<String>,
    /// Outcome detail (appointment reason, referral's name…).
    #[arg(long)]
    pub detail: Option<String>,
    /// A policy touched (repeatable).
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    /// Arrival (RFC 3339, or YYYY-MM-DDTHH:MM in local time); now when omitted.
    #[arg(long)]
    pub start: Option<String>,
    /// Departure; arrival + 20 minutes when omitted.
    #[arg(long)]
    pub end: Option<String>,
    /// Latitude where the phone was.
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    pub lat: Option<f64>,
    /// Longitude where the phone was.
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// Notes.
    #[arg(long, default_value = "")]
    pub notes: String,
}

/// A call's or SMS's fields.
#[derive(Debug, Args)]
pub struct ContactArgs {
    /// The customer's id.
    #[arg(long)]
    pub customer: String,
    /// When (RFC 3339 or local YYYY-MM-DDTHH:MM); now when omitted.
    #[arg(long)]
    pub at: Option<String>,
    /// Purpose code.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Outcome code.
    #[arg(long)]
    pub outcome: Option<String>,
    /// A policy concerned (repeatable).
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    /// Notes or the SMS text.
    #[arg(long, default_value = "")]
    pub notes: String,
}

fn arg_err(what: &'static str, value: &str, expected: &'static str) -> Error {
    Error::Argument {
        what,
        value: value.to_string(),
        expected,
    }
}

/// Parses a calendar date.
pub fn parse_date(what: &'static str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| arg_err(what, s, "YYYY-MM-DD"))
}

fn date_or_today(store: &Store, s: &Option<String>) -> Result<NaiveDate> {
    match s {
        Some(s) => parse_date("date", s),
        None => Ok(store.now().date_naive()),
    }
}

/// Parses a moment: RFC 3339, or a local `YYYY-MM-DDTHH:MM[:SS]` (or with a space).
pub fn parse_time(what: &'static str, s: &str) -> Result<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            if let Some(t) = Local.from_local_datetime(&n).earliest() {
                return Ok(t.fixed_offset());
            }
        }
    }
    Err(arg_err(what, s, "RFC 3339 or YYYY-MM-DDTHH:MM"))
}

/// Parses an amount of money ("1234.5") into minor units.
pub fn parse_money(what: &'static str, s: &str) -> Result<i64> {
    let bad = || arg_err(what, s, "an amount like 1234.50");
    let t = s.trim();
    if t.starts_with('-') {
        return Err(arg_err(what, s, "an amount of zero or more, like 1234.50"));
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || frac.len() > 2 || !int.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let units: i64 = int.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    units
        .checked_mul(100)
        .and_then(|u| u.checked_add(cents))
        .ok_or_else(bad)
}

fn opt_date(what: &'static str, s: &Option<String>) -> Result<Option<NaiveDate>> {
    s.as_deref().map(|s| parse_date(what, s)).transpose()
}

fn geo(lat: Option<f64>, lon: Option<f64>) -> Option<GeoPoint> {
    Some(GeoPoint {
        lat: lat?,
        lon: lon?,
    })
}

fn policy_ids(v: &[String]) -> Result<Vec<PolicyId>> {
    Ok(v.iter().map(|p| p.parse()).collect::<Result<_, _>>()?)
}

/// Opens the store of a home directory.
pub fn open_home(home: &Path) -> Result<Store> {
    Ok(Store::open(home.join(HOME_DB), Options::default())?)
}

/// Prints a value as JSON, or with `human` for people.
fn out<T: Serialize>(json: bool, v: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
    let text = if json {
        serde_json::to_string_pretty(v).unwrap_or_default()
    } else {
        human(v)
    };
    crate::text::print_stdout(&text)
}

fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Runs one `doorstep agent` command.
pub fn run(args: AgentArgs) -> Result<()> {
    let json = args.json;
    let home = args.home;
    if let AgentCommand::Init { user, role } = &args.command {
        std::fs::create_dir_all(&home).map_err(|e| Error::Io {
            path: home.display().to_string(),
            source: e,
        })?;
        let role = Role::from_code(role).ok_or_else(|| {
            arg_err(
                "role",
                role,
                "agent, supervisor, department_manager or district_manager",
            )
        })?;
        let identity = Identity {
            user: user.parse()?,
            role,
        };
        let store = Store::create(home.join(HOME_DB), identity, Options::default())?;
        return out(json, store.identity(), |i| {
            format!(
                "home {} ready for {} ({})",
                home.display(),
                i.user,
                i.role.code()
            )
        });
    }
    let mut store = open_home(&home)?;
    match args.command {
        AgentCommand::Init { .. } => unreachable!("handled above"),
        AgentCommand::Whoami => {
            let who = serde_json::json!({
                "user": store.identity().user,
                "role": store.identity().role,
                "actor": store.actor_hex(),
                "playbook": store.playbook().name,
            });
            out(json, &who, pretty)
        }
        AgentCommand::Customer(c) => customer(&mut store, json, c),
        AgentCommand::Policy(p) => policy(&mut store, json, p),
        AgentCommand::Visit(v) => {
            let customer: CustomerId = v.customer.parse()?;
            let start = match &v.start {
                Some(s) => parse_time("start", s)?,
                None => store.now(),
            };
            let end = match &v.end {
                Some(s) => parse_time("end", s)?,
                None => start + chrono::Duration::minutes(20),
            };
            let outcome = match v.outcome {
                Some(code) => Some(Outcome {
                    code,
                    amount_cents: v
                        .amount
                        .as_deref()
                        .map(|a| parse_money("amount", a))
                        .transpose()?,
                    date: opt_date("outcome date", &v.outcome_date)?,
                    detail: v.detail,
                }),
                None => None,
            };
            let visit = store.record_visit(
                customer,
                NewVisit {
                    kind: v.kind,
                    purposes: v.purposes,
                    outcome,
                    policies: policy_ids(&v.policies)?,
                    start,
                    end,
                    location: geo(v.lat, v.lon),
                    notes: v.notes,
                },
            )?;
            let effective = store.is_effective(&visit)?;
            out(
                json,
                &serde_json::json!({"visit": visit, "effective": effective}),
                |_| {
                    format!(
                        "visit {} recorded (visit no. {} for this customer, {})",
                        visit.id,
                        visit.number,
                        if effective {
                            "effective"
                        } else {
                            "not effective"
                        }
                    )
                },
            )
        }
        AgentCommand::Call(c) => contact(&mut store, json, ContactKind::Call, c),
        AgentCommand::Sms(c) => contact(&mut store, json, ContactKind::Sms, c),
        AgentCommand::Visits { date } => {
            let date = date_or_today(&store, &date)?;
            let visits = store.visits_on(date)?;
            out(json, &visits, |vs| {
                let mut s = format!("{} visit(s) on {date}", vs.len());
                for v in vs {
                    s.push_str(&format!(
                        "\n  {} {}–{} {} [{}] {}",
                        v.id,
                        v.start.format("%H:%M"),
                        v.end.format("%H:%M"),
                        v.kind,
                        v.purposes.join(","),
                        v.outcome.as_ref().map(|o| o.code.as_str()).unwrap_or("-")
                    ));
                }
                s
            })
        }
        AgentCommand::Log { text, date } => {
            let date = date_or_today(&store, &date)?;
            let log = store.write_log(date, &text)?;
            out(json, &log, |l| format!("work log for {} written", l.date))
        }
        AgentCommand::Report {
            summary,
            problems,
            date,
        } => {
            let date = date_or_today(&store, &date)?;
            let report = store.submit_report(
                date,
                &summary,
                problems.into_iter().map(|p| (p, None)).collect(),
            )?;
            out(json, &report, |r| {
                format!(
                    "evening report for {} submitted with {} problem(s)",
                    r.date,
                    r.problems.len()
                )
            })
        }
        AgentCommand::Problems { open } => {
            let status = open.then_some(client_core::model::ProblemStatus::Open);
            let ps = store.problems(status)?;
            out(json, &ps, |ps| {
                let mut s = format!("{} problem(s)", ps.len());
                for p in ps {
                    s.push_str(&format!(
                        "\n  {} {} {} [{:?} at {}] {}",
                        p.problem.id,
                        p.date,
                        p.agent,
                        p.problem.status,
                        p.problem.level.code(),
                        p.problem.text
                    ));
                }
                s
            })
        }
        AgentCommand::Answer {
            problem,
            action,
            text,
        } => {
            let action = match action.as_str() {
                "resolve" => ProblemAction::Resolve,
                "escalate" => ProblemAction::Escalate,
                "note" => ProblemAction::Note,
                _ => return Err(arg_err("action", &action, "resolve, escalate or note")),
            };
            let id: ProblemId = problem.parse()?;
            let p = store.answer_problem(id, &text, action)?;
            out(json, &p, |p| {
                format!("problem {} is {:?} at {}", p.id, p.status, p.level.code())
            })
        }
        AgentCommand::Comment { visit, text } => {
            let id: VisitId = visit.parse()?;
            let c = store.comment_visit(id, &text)?;
            out(json, &c, |c| format!("comment {} added", c.id))
        }
        AgentCommand::Today { date } => {
            let date = date_or_today(&store, &date)?;
            let t = store.today(date)?;
            out(json, &t, text::today)
        }
        AgentCommand::Week { date } => {
            let date = date_or_today(&store, &date)?;
            let p = store.week_progress(date)?;
            out(json, &p, text::progress)
        }
        AgentCommand::Month { date } => {
            let date = date_or_today(&store, &date)?;
            let p = store.month_progress(date)?;
            out(json, &p, text::progress)
        }
        AgentCommand::Reminders { date } => {
            let date = date_or_today(&store, &date)?;
            let r = store.reminders(date)?;
            out(json, &r, |rs| text::reminders(rs, date))
        }
        AgentCommand::Lists { date } => {
            let date = date_or_today(&store, &date)?;
            let l = store.lists(date)?;
            out(json, &l, |groups| {
                let mut s = String::new();
                for g in groups {
                    s.push_str(&text::group(g));
                }
                s
            })
        }
        AgentCommand::Playbook { set } => {
            if let Some(path) = set {
                let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
                    path: path.display().to_string(),
                    source: e,
                })?;
                store.set_playbook_toml(&text)?;
            }
            out(json, store.playbook(), |p| {
                format!("playbook in force: {} ({})", p.name, p.title)
            })
        }
        AgentCommand::Login { server, token } => {
            let server = client_sync::login(&store, &server, &token)?;
            let v = serde_json::json!({ "server": server });
            out(json, &v, |_| {
                format!("home bound to {server}: run `doorstep agent sync` to sync")
            })
        }
        AgentCommand::Enrol { link } => {
            let server = client_sync::enrol(&store, &link)?;
            let v = serde_json::json!({ "server": server });
            out(json, &v, |_| {
                format!("home bound to {server}: run `doorstep agent sync` to sync")
            })
        }
        AgentCommand::Sync => sync(store, json),
        AgentCommand::Status => {
            let st = client_sync::stored_status(&store)?;
            out(json, &st, sync_status_text)
        }
        AgentCommand::RebuildIndex => {
            store.rebuild_index()?;
            let (docs, chunks, bytes) = store.storage_stats()?;
            let v = serde_json::json!({"documents": docs, "chunks": chunks, "bytes": bytes});
            out(json, &v, |_| {
                format!("index rebuilt from {docs} document(s)")
            })
        }
    }
}

/// `doorstep agent sync`: one run to convergence with the server the home is bound to.
fn sync(store: Store, json: bool) -> Result<()> {
    let login = client_sync::stored_login(&store)?.ok_or(client_sync::SyncError::NotLoggedIn)?;
    let transport = client_sync::HttpTransport::new(&login.server, &login.token)?;
    let store = std::sync::Mutex::new(store);
    let report = client_sync::run_sync_blocking(&store, &transport, &Default::default())?;
    out(json, &report, |r| sync_report_text(&login.server, r))
}

fn sync_report_text(server: &str, r: &client_sync::SyncReport) -> String {
    let mut s = format!(
        "synced with {server} in {} round(s), {} request(s): sent {} message(s) ({} bytes), \
         received {} ({} bytes)",
        r.rounds, r.requests, r.messages_sent, r.bytes_sent, r.messages_received, r.bytes_received
    );
    if let Some(hash) = &r.playbook {
        s.push_str(&format!("\nnew playbook in force ({hash})"));
    }
    for d in &r.removed {
        s.push_str(&format!("\nremoved {d} (reassigned)"));
    }
    if let Some(p) = r.problems() {
        s.push_str(&format!("\nwarning: {p}"));
    }
    s.push_str(&format!("\n{} document(s) pending", r.pending_documents));
    s
}

fn sync_status_text(st: &client_sync::StoredStatus) -> String {
    format!(
        "server: {}\npending documents: {}\nlast success: {}\nlast error: {}",
        st.server
            .as_deref()
            .unwrap_or("none (run `doorstep agent login`)"),
        st.pending_documents,
        st.last_success.as_deref().unwrap_or("never"),
        st.last_error.as_deref().unwrap_or("none"),
    )
}

fn customer(store: &mut Store, json: bool, cmd: CustomerCommand) -> Result<()> {
    match cmd {
        CustomerCommand::Add(card) => {
            let name = card
                .name
                .clone()
                .ok_or_else(|| arg_err("name", "", "a customer's name (--name)"))?;
            let new = NewCustomer {
                name,
                phones: card.phones,
                address: card.address,
                postcode: card.postcode,
                birthday: opt_date("birthday", &card.birthday)?,
                family: card.family,
                income_band: card.income,
                workplace: card.workplace,
                notes: card.notes,
                grade: card.grade,
                status: match card.status.as_deref() {
                    None => CustomerStatus::Prospect,
                    Some(s) => CustomerStatus::from_code(s)
                        .ok_or_else(|| arg_err("status", s, "closed or prospect"))?,
                },
                agent: card.agent.as_deref().map(str::parse).transpose()?,
                location: geo(card.lat, card.lon),
            };
            let c = store.add_customer(new)?;
            out(json, &c, |c| format!("customer {} added: {}", c.id, c.name))
        }
        CustomerCommand::Edit { id, card } => {
            let id: CustomerId = id.parse()?;
            let patch = CustomerPatch {
                name: card.name,
                phones: (!card.phones.is_empty()).then_some(card.phones),
                address: card.address.map(Some),
                postcode: card.postcode.map(Some),
                birthday: opt_date("birthday", &card.birthday)?.map(Some),
                family: card.family.map(Some),
                income_band: card.income.map(Some),
                workplace: card.workplace.map(Some),
                notes: card.notes.map(Some),
                grade: card.grade.map(Some),
                status: card
                    .status
                    .as_deref()
                    .map(|s| {
                        CustomerStatus::from_code(s)
                            .ok_or_else(|| arg_err("status", s, "closed or prospect"))
                    })
                    .transpose()?,
                agent: card
                    .agent
                    .as_deref()
                    .map(|a| a.parse().map(Some))
                    .transpose()?,
                location: geo(card.lat, card.lon).map(Some),
            };
            let c = store.edit_customer(id, patch)?;
            out(json, &c, |c| format!("customer {} updated", c.id))
        }
        CustomerCommand::Show { id } => {
            let id: CustomerId = id.parse()?;
            let v = store.customer_view(id)?;
            let value = serde_json::json!({
                "customer": v.customer,
                "policies": v.policies,
                "visits": v.visits,
                "contacts": v.contacts,
                "comments": v.comments,
                "conflicts": v.conflicts,
            });
            out(json, &value, pretty)
        }
        CustomerCommand::List => {
            let cs = store.customers()?;
            out(json, &cs, |cs| {
                let mut s = format!("{} customer(s)", cs.len());
                for c in cs {
                    s.push_str(&format!(
                        "\n  {} {} [{}] {} {}",
                        c.id,
                        c.name,
                        c.grade.as_deref().unwrap_or("-"),
                        c.status.code(),
                        c.postcode.as_deref().unwrap_or("")
                    ));
                }
                s
            })
        }
    }
}

fn policy(store: &mut Store, json: bool, cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Add {
            customer,
            number,
            product,
            premium,
            due,
            holder,
            insured,
            payment,
            riders,
            status,
        } => {
            let customer: CustomerId = customer.parse()?;
            let new = NewPolicy {
                number,
                product,
                policyholder: holder,
                insured,
                premium_cents: parse_money("premium", &premium)?,
                payment_method: PaymentMethod::from_code(&payment)
                    .ok_or_else(|| arg_err("payment", &payment, "bank_deduction, cash or card"))?,
                riders,
                due_date: parse_date("due", &due)?,
                status: PolicyStatus::from_code(&status).ok_or_else(|| {
                    arg_err(
                        "status",
                        &status,
                        "normal, difficult, exited, dead or orphan",
                    )
                })?,
            };
            let p = store.add_policy(customer, new)?;
            out(json, &p, |p| {
                format!("policy {} ({}) added", p.id, p.number)
            })
        }
        PolicyCommand::Edit {
            id,
            status,
            due,
            premium,
            paid_on,
            deduction_failed_on,
        } => {
            let id: PolicyId = id.parse()?;
            let patch = PolicyPatch {
                status: status
                    .as_deref()
                    .map(|s| {
                        PolicyStatus::from_code(s).ok_or_else(|| {
                            arg_err("status", s, "normal, difficult, exited, dead or orphan")
                        })
                    })
                    .transpose()?,
                due_date: opt_date("due", &due)?,
                premium_cents: premium
                    .as_deref()
                    .map(|p| parse_money("premium", p))
                    .transpose()?,
                paid_on: opt_date("paid on", &paid_on)?.map(Some),
                deduction_failed_on: opt_date("deduction failed on", &deduction_failed_on)?
                    .map(Some),
                ..PolicyPatch::default()
            };
            let p = store.edit_policy(id, patch)?;
            out(json, &p, |p| format!("policy {} updated", p.id))
        }
    }
}

fn contact(store: &mut Store, json: bool, kind: ContactKind, c: ContactArgs) -> Result<()> {
    let customer: CustomerId = c.customer.parse()?;
    let at = match &c.at {
        Some(s) => parse_time("at", s)?,
        None => store.now(),
    };
    let contact = store.record_contact(
        customer,
        NewContact {
            kind,
            at,
            purpose: c.purpose,
            outcome: c.outcome,
            policies: policy_ids(&c.policies)?,
            notes: c.notes,
        },
    )?;
    out(json, &contact, |x| {
        format!("{} {} recorded", x.kind.code(), x.id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One device token in 64 begins with `-` (URL-safe base64); it must still be a value.
    #[test]
    fn a_token_that_begins_with_a_hyphen_is_a_token() {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            agent: AgentArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "doorstep", "--home", "h", "login", "--server", "http://x", "--token", "-m0Eb_x",
        ])
        .unwrap();
        match cli.agent.command {
            AgentCommand::Login { token, .. } => assert_eq!(token, "-m0Eb_x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn money_parses_to_minor_units_and_refuses_garbage() {
        assert_eq!(parse_money("a", "1234.5").unwrap(), 123_450);
        assert_eq!(parse_money("a", "7").unwrap(), 700);
        assert_eq!(parse_money("a", "0.05").unwrap(), 5);
        for bad in ["", "-1", "1.234", "1,5", "abc", "99999999999999999999"] {
            assert!(parse_money("a", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_parse_with_or_without_offset() {
        let t = parse_time("t", "2026-06-15T09:30:00+08:00").unwrap();
        assert_eq!(t.offset().local_minus_utc(), 8 * 3600);
        assert!(parse_time("t", "2026-06-15T09:30").is_ok());
        assert!(parse_time("t", "2026-02-30T09:30").is_err());
        assert!(parse_date("d", "2026-13-01").is_err());
    }
}
