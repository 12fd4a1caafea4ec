//! `Home`: the one object the apps hold — a home database and its background sync.
//!
//! Every exported method is one call into `client_core::Store` or `client_sync`, with its
//! arguments and result converted. Database calls are synchronous and short (a write is on
//! disk when it returns): apps call them off the main thread (Kotlin `Dispatchers.IO`, a Swift
//! `Task`). The network sync is the one `async` call (`sync_now`); the rest of the sync runs on
//! the device's own thread. `Home` is safe to share between threads: the store sits behind a
//! mutex, which a sync run never holds across the network.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use client_core::{Identity as CoreIdentity, Options, Store};
use client_sync::{Device, DeviceConfig};

use crate::error::DoorstepError;
use crate::progress::{PeriodProgress, PostcodeGroup, Reminder, TodayStatus};
use crate::records::{
    all, Comment, Contact, Customer, CustomerPatch, CustomerView, Day, EveningReport,
    FormVocabulary, Identity, NewContact, NewCustomer, NewPolicy, NewProblem, NewVisit,
    PlaybookInfo, Policy, PolicyPatch, Problem, ProblemAction, RaisedProblem, Role, Visit, WorkLog,
};
use crate::scalars::{date, id};
use crate::sync::{Relay, SyncListener, SyncReport, SyncStatus};

type Result<T, E = DoorstepError> = std::result::Result<T, E>;

/// A field agent's (or manager's) home on the phone: one database file with their records,
/// and its sync with the team's server.
#[derive(uniffi::Object)]
pub struct Home {
    store: Arc<Mutex<Store>>,
    device: Mutex<Option<Arc<Device>>>,
    listener: Mutex<Option<Arc<dyn client_sync::SyncListener>>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The store's options for an optional key of 32 bytes.
fn options(key: Option<Vec<u8>>) -> Result<Options> {
    let key = key
        .map(|k| client_core::DatabaseKey::from_bytes(&k))
        .transpose()?;
    Ok(Options {
        key,
        ..Options::default()
    })
}

impl Home {
    fn wrap(store: Store) -> Arc<Home> {
        Arc::new(Home {
            store: Arc::new(Mutex::new(store)),
            device: Mutex::new(None),
            listener: Mutex::new(None),
        })
    }

    /// Runs a read on the store.
    fn read<R>(&self, f: impl FnOnce(&Store) -> client_core::Result<R>) -> Result<R> {
        Ok(f(&guard(&self.store))?)
    }

    /// Runs a write on the store, then tells the background sync (if started) that a record
    /// was written, so a sync follows after its debounce.
    fn write<R>(&self, f: impl FnOnce(&mut Store) -> client_core::Result<R>) -> Result<R> {
        let r = f(&mut guard(&self.store))?;
        if let Some(d) = guard(&self.device).as_ref() {
            d.local_write();
        }
        Ok(r)
    }

    /// The running background sync.
    fn device(&self) -> Result<Arc<Device>> {
        guard(&self.device)
            .clone()
            .ok_or_else(|| DoorstepError::SyncOff {
                detail: "background sync is not started: call start_sync first".into(),
            })
    }
}

#[uniffi::export]
impl Home {
    // ----- opening -----------------------------------------------------------------------

    /// Creates a new home database at `path` (a file in the app's private storage) for
    /// `user` with `role`. With a `key` (32 random bytes kept in Android Keystore or the iOS
    /// Keychain) the file is encrypted (SQLCipher); without one it is plain SQLite. Fails if
    /// the file exists.
    #[uniffi::constructor]
    pub fn create(
        path: String,
        user: String,
        role: Role,
        key: Option<Vec<u8>>,
    ) -> Result<Arc<Self>> {
        let identity = CoreIdentity {
            user: id(&user)?,
            role: role.into(),
        };
        Ok(Home::wrap(Store::create(path, identity, options(key)?)?))
    }

    /// Opens an existing home database, with the key it was created with (if any). A wrong
    /// key is `DoorstepError.WrongKey`; an encrypted file opened without its key is
    /// `DoorstepError.ForeignDatabase`; a missing file is `DoorstepError.NotInitialised`.
    #[uniffi::constructor]
    pub fn open(path: String, key: Option<Vec<u8>>) -> Result<Arc<Self>> {
        Ok(Home::wrap(Store::open(path, options(key)?)?))
    }

    /// Who uses this home.
    pub fn identity(&self) -> Identity {
        guard(&self.store).identity().clone().into()
    }

    /// The playbook in force on this device.
    pub fn playbook(&self) -> PlaybookInfo {
        guard(&self.store).playbook().into()
    }

    /// The playbook's vocabulary for building the visit, call and customer forms, with labels
    /// in `language` (`zh` or `en`); see docs/mobile.md.
    pub fn vocabulary(&self, language: String) -> Result<FormVocabulary> {
        self.read(|s| s.playbook().form_vocabulary(&language).map(Into::into))
    }

    /// Puts a playbook in force from a TOML file's text (kept across restarts; the server's
    /// playbook replaces it on the next sync).
    pub fn set_playbook(&self, toml: String) -> Result<PlaybookInfo> {
        self.write(|s| s.set_playbook_toml(&toml).map(|()| s.playbook().into()))
    }

    // ----- customers and policies -----------------------------------------------------

    /// Adds a customer card; it is assigned to this home's user unless `agent` is given.
    pub fn add_customer(&self, new: NewCustomer) -> Result<Customer> {
        let new = new.try_into()?;
        self.write(|s| s.add_customer(new)).map(Into::into)
    }

    /// Edits a customer card: only the fields given change.
    pub fn edit_customer(&self, customer: String, patch: CustomerPatch) -> Result<Customer> {
        let (customer, patch) = (id(&customer)?, patch.try_into()?);
        self.write(|s| s.edit_customer(customer, patch))
            .map(Into::into)
    }

    /// One customer card.
    pub fn customer(&self, customer: String) -> Result<Customer> {
        let customer = id(&customer)?;
        self.read(|s| s.customer(customer)).map(Into::into)
    }

    /// Every customer this home holds.
    pub fn customers(&self) -> Result<Vec<Customer>> {
        self.read(|s| s.customers()).map(all)
    }

    /// A customer's screen: card, policies, visits, calls and SMS, comments, conflicts.
    pub fn customer_view(&self, customer: String) -> Result<CustomerView> {
        let customer = id(&customer)?;
        self.read(|s| s.customer_view(customer)).map(Into::into)
    }

    /// Adds a policy to a customer (its policyholder).
    pub fn add_policy(&self, customer: String, new: NewPolicy) -> Result<Policy> {
        let (customer, new) = (id(&customer)?, new.try_into()?);
        self.write(|s| s.add_policy(customer, new)).map(Into::into)
    }

    /// Edits a policy: only the fields given change.
    pub fn edit_policy(&self, policy: String, patch: PolicyPatch) -> Result<Policy> {
        let (policy, patch) = (id(&policy)?, patch.try_into()?);
        self.write(|s| s.edit_policy(policy, patch)).map(Into::into)
    }

    /// One policy.
    pub fn policy(&self, policy: String) -> Result<Policy> {
        let policy = id(&policy)?;
        self.read(|s| s.policy(policy)).map(Into::into)
    }

    /// A customer's policies.
    pub fn policies_of(&self, customer: String) -> Result<Vec<Policy>> {
        let customer = id(&customer)?;
        self.read(|s| s.policies_of(customer)).map(all)
    }

    // ----- visits, calls, SMS, comments ------------------------------------------------

    /// Records an in-person visit; it is on disk when the call returns, network or not.
    pub fn record_visit(&self, customer: String, new: NewVisit) -> Result<Visit> {
        let (customer, new) = (id(&customer)?, new.try_into()?);
        self.write(|s| s.record_visit(customer, new))
            .map(Into::into)
    }

    /// One visit, with its number for the customer.
    pub fn visit(&self, visit: String) -> Result<Visit> {
        let visit = id(&visit)?;
        self.read(|s| s.visit(visit)).map(Into::into)
    }

    /// A customer's visits, oldest first.
    pub fn visits_of(&self, customer: String) -> Result<Vec<Visit>> {
        let customer = id(&customer)?;
        self.read(|s| s.visits_of(customer)).map(all)
    }

    /// The visits of a day (YYYY-MM-DD), by start time.
    pub fn visits_on(&self, day: String) -> Result<Vec<Visit>> {
        let day = date("day", &day)?;
        self.read(|s| s.visits_on(day)).map(all)
    }

    /// Whether a visit counts as effective under the playbook in force.
    pub fn is_effective(&self, visit: String) -> Result<bool> {
        let visit = id(&visit)?;
        self.read(|s| s.is_effective(&s.visit(visit)?))
    }

    /// Records a phone call or an SMS (`kind`).
    pub fn record_contact(&self, customer: String, new: NewContact) -> Result<Contact> {
        let (customer, new) = (id(&customer)?, new.try_into()?);
        self.write(|s| s.record_contact(customer, new))
            .map(Into::into)
    }

    /// (Managers) comments on a visit; the comment reaches the agent with the next sync.
    pub fn comment_visit(&self, visit: String, text: String) -> Result<Comment> {
        let visit = id(&visit)?;
        self.write(|s| s.comment_visit(visit, &text))
            .map(Into::into)
    }

    // ----- the day: log, report, problems ----------------------------------------------

    /// Writes (or rewrites) the work log of a day (YYYY-MM-DD).
    pub fn write_log(&self, day: String, text: String) -> Result<WorkLog> {
        let day = date("day", &day)?;
        self.write(|s| s.write_log(day, &text)).map(Into::into)
    }

    /// Submits the evening report of a day with its open problems (each goes to the
    /// supervisor first). Submitting again updates the summary and adds the new problems.
    pub fn submit_report(
        &self,
        day: String,
        summary: String,
        problems: Vec<NewProblem>,
    ) -> Result<EveningReport> {
        let day = date("day", &day)?;
        let problems = problems
            .into_iter()
            .map(|p| Ok((p.text, p.customer.map(|c| id(&c)).transpose()?)))
            .collect::<Result<Vec<_>>>()?;
        self.write(|s| s.submit_report(day, &summary, problems))
            .map(Into::into)
    }

    /// An agent's day (log and report), if this home holds it.
    pub fn day(&self, agent: String, day: String) -> Result<Option<Day>> {
        let (agent, day) = (id(&agent)?, date("day", &day)?);
        self.read(|s| s.day(&agent, day)).map(|d| d.map(Into::into))
    }

    /// The problems of the reports this home holds; only the open ones with `open_only`.
    pub fn problems(&self, open_only: bool) -> Result<Vec<RaisedProblem>> {
        let status = open_only.then_some(client_core::model::ProblemStatus::Open);
        self.read(|s| s.problems(status)).map(all)
    }

    /// (Managers) answers, escalates or annotates a problem.
    pub fn answer_problem(
        &self,
        problem: String,
        text: String,
        action: ProblemAction,
    ) -> Result<Problem> {
        let problem = id(&problem)?;
        self.write(|s| s.answer_problem(problem, &text, action.into()))
            .map(Into::into)
    }

    // ----- what the playbook computes --------------------------------------------------

    /// This user's day against the daily standard: 311, 10-3-1, the seven things.
    pub fn today(&self, day: String) -> Result<TodayStatus> {
        let day = date("day", &day)?;
        self.read(|s| s.today(day)).map(Into::into)
    }

    /// Progress against the targets of the week (work cycle) containing the day.
    pub fn week_progress(&self, day: String) -> Result<PeriodProgress> {
        let day = date("day", &day)?;
        self.read(|s| s.week_progress(day)).map(Into::into)
    }

    /// Progress against the month's targets, to the day.
    pub fn month_progress(&self, day: String) -> Result<PeriodProgress> {
        let day = date("day", &day)?;
        self.read(|s| s.month_progress(day)).map(Into::into)
    }

    /// The reminders of the day: birthdays, renewal calendar, failed deductions…
    pub fn reminders(&self, day: String) -> Result<Vec<Reminder>> {
        let day = date("day", &day)?;
        self.read(|s| s.reminders(day)).map(all)
    }

    /// The service-routine lists of the day, grouped by postcode.
    pub fn lists(&self, day: String) -> Result<Vec<PostcodeGroup>> {
        let day = date("day", &day)?;
        self.read(|s| s.lists(day)).map(all)
    }

    // ----- sync -------------------------------------------------------------------------

    /// Binds this home to a sync server with a device token (kept in the home, never shown
    /// again). Returns the server's normalised URL. Takes effect at the next `start_sync`.
    pub fn login(&self, server: String, token: String) -> Result<String> {
        Ok(client_sync::login(&guard(&self.store), &server, &token)?)
    }

    /// Binds this home from an enrolment link or QR code (`doorstep://enrol?server=…&token=…`,
    /// from `doorstep admin device issue --link`); returns the server's URL. On a home that
    /// already exists (a reinstall over the old data) only the binding changes: the work not
    /// yet synced stays and goes up at the next sync.
    pub fn enrol(&self, link: String) -> Result<String> {
        Ok(client_sync::enrol(&guard(&self.store), &link)?)
    }

    /// Starts the background sync (after `login`): it syncs at once if `online`, after each
    /// write (debounced), when the network returns, and retries with backoff. Restarting
    /// replaces the running one.
    pub fn start_sync(&self, online: bool) -> Result<()> {
        let config = DeviceConfig {
            online,
            ..DeviceConfig::default()
        };
        let device = Device::connect(self.store.clone(), config)?;
        device.set_listener(guard(&self.listener).clone());
        *guard(&self.device) = Some(Arc::new(device));
        Ok(())
    }

    /// Stops the background sync (records stay on the phone; nothing is lost).
    pub fn stop_sync(&self) {
        guard(&self.device).take();
    }

    /// Sets (or with `None` removes) the listener that hears sync events.
    pub fn set_listener(&self, listener: Option<Arc<dyn SyncListener>>) {
        let relay = listener.map(|l| Arc::new(Relay(l)) as Arc<dyn client_sync::SyncListener>);
        if let Some(d) = guard(&self.device).as_ref() {
            d.set_listener(relay.clone());
        }
        *guard(&self.listener) = relay;
    }

    /// The app reports the network (from ConnectivityManager / NWPathMonitor): back online
    /// syncs at once; offline defers every sync. Never blocks.
    pub fn network_changed(&self, online: bool) -> Result<()> {
        self.device()?.network_changed(online);
        Ok(())
    }

    /// Where sync stands: running or not, online, syncing, pending documents, last success
    /// and last error.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        match guard(&self.device).clone() {
            Some(d) => Ok(d.status()?.into()),
            None => Ok(client_sync::stored_status(&guard(&self.store))?.into()),
        }
    }
}

#[uniffi::export]
impl Home {
    /// Syncs now and returns what the run did (a Kotlin `suspend` function, a Swift `async`
    /// one, a Python coroutine). Fails with `DoorstepError.Offline` while the app reports no
    /// network, `SyncOff` before `start_sync`.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        let device = self.device()?;
        Ok(device.sync_now().await?.into())
    }
}
