//! The device's background sync: a task that drives client-core's `SyncEngine`.
//!
//! The engine decides *when* to sync (debounced after local writes, at once when the network
//! returns, with exponential backoff and jitter after failures) and says so as effects; this
//! module performs them on a tokio runtime: it starts runs ([`crate::run::run_sync`]), sleeps
//! until the engine's next wake-up, wipes a revoked device and tells the app through a
//! [`SyncListener`]. The app only reports facts — [`Device::local_write`],
//! [`Device::network_changed`] — or asks ([`Device::sync_now`]); none of these calls waits for
//! the network, and recording a visit never waits for a sync (the store lock is held only for
//! one document's work at a time). The task stops when the [`Device`] is dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use client_core::sync::{Effect, Event, SyncConfig, SyncEngine, SyncStatus};
use client_core::Store;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::error::SyncError;
use crate::run::{lock, run_sync, wipe_revoked, RunOptions, SyncReport};
use crate::settings::{self, stored_login, SERVER_PEER};
use crate::transport::{HttpTransport, Transport};

/// Where sync stands, for the app's status line (and `doorstep agent status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    /// Whether the app reports a network.
    pub online: bool,
    /// Whether a sync run is under way.
    pub syncing: bool,
    /// Consecutive failed runs since the last success.
    pub failures: u32,
    /// Whether the server revoked this device (its data is gone; sync has stopped).
    pub revoked: bool,
    /// Documents with changes the server is not yet known to have.
    pub pending_documents: usize,
    /// When the last run converged (RFC 3339).
    pub last_success: Option<String>,
    /// The last error, or what the server refused in the last run.
    pub last_error: Option<String>,
    /// The server this home syncs with.
    pub server: Option<String>,
}

/// What the app hears about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SyncEvent {
    /// The status changed: a run started or ended, the network came or went, writes wait.
    StatusChanged(DeviceStatus),
    /// A run converged: what the screens show may have changed.
    Synced(SyncReport),
    /// The server revoked this device and its local data was wiped.
    Wiped,
}

/// Receives sync events, on the sync task: keep `on_event` short (hand over to the UI).
pub trait SyncListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: SyncEvent);
}

/// How a device syncs.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// The scheduler's debounce and backoff. The default has a random jitter seed, so that
    /// phones that lost the network together do not retry together.
    pub scheduler: SyncConfig,
    /// The limits of one run.
    pub run: RunOptions,
    /// Whether the network is there when the device starts (the app corrects it with
    /// [`Device::network_changed`]).
    pub online: bool,
    /// Whether to sync as soon as the device starts (the server may have news).
    pub sync_on_start: bool,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            scheduler: SyncConfig {
                jitter_seed: rand::random(),
                ..SyncConfig::default()
            },
            run: RunOptions::default(),
            online: true,
            sync_on_start: true,
        }
    }
}

/// A caller of [`Device::sync_now`] waiting for a run's outcome.
type Reply = oneshot::Sender<Result<SyncReport, SyncError>>;

enum Command {
    Event(Event),
    SyncNow(Reply),
}

/// What the app and the task share.
struct Shared<T> {
    store: Arc<Mutex<Store>>,
    transport: T,
    options: RunOptions,
    listener: Mutex<Option<Arc<dyn SyncListener>>>,
    scheduler: Mutex<SyncStatus>,
}

impl<T> Shared<T> {
    fn status(&self) -> Result<DeviceStatus, SyncError> {
        let sched = self
            .scheduler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let stored = settings::stored_status(&lock(&self.store))?;
        Ok(DeviceStatus {
            online: sched.online,
            syncing: sched.syncing,
            failures: sched.failures,
            revoked: sched.revoked,
            pending_documents: stored.pending_documents,
            last_success: stored.last_success,
            last_error: stored.last_error.or(sched.last_error),
            server: stored.server,
        })
    }

    fn tell(&self, event: SyncEvent) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(l) = listener {
            l.on_event(event);
        }
    }
}

/// A phone's sync: owns (or borrows) a tokio runtime and a background task that keeps the
/// home in sync with the server. Dropping it stops the task.
pub struct Device<T: Transport + 'static = HttpTransport> {
    shared: Arc<Shared<T>>,
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Device<HttpTransport> {
    /// A device syncing with the server the home is bound to (`doorstep agent login`).
    pub fn connect(store: Arc<Mutex<Store>>, config: DeviceConfig) -> Result<Self, SyncError> {
        let login = stored_login(&lock(&store))?.ok_or(SyncError::NotLoggedIn)?;
        let transport = HttpTransport::new(&login.server, &login.token)?;
        Device::new(store, transport, config)
    }
}

impl<T: Transport + 'static> Device<T> {
    /// A device with a runtime of its own (one worker thread, `doorstep-sync`).
    pub fn new(
        store: Arc<Mutex<Store>>,
        transport: T,
        config: DeviceConfig,
    ) -> Result<Self, SyncError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("doorstep-sync")
            .enable_all()
            .build()
            .map_err(|e| SyncError::Network(format!("cannot start the sync runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let mut device = Device::with_runtime(&handle, store, transport, config);
        device.runtime = Some(runtime);
        Ok(device)
    }

    /// A device whose task runs on an existing runtime.
    pub fn with_runtime(
        runtime: &tokio::runtime::Handle,
        store: Arc<Mutex<Store>>,
        transport: T,
        config: DeviceConfig,
    ) -> Self {
        let shared = Arc::new(Shared {
            store,
            transport,
            options: config.run.clone(),
            listener: Mutex::new(None),
            scheduler: Mutex::new(SyncStatus {
                online: config.online,
                ..SyncStatus::default()
            }),
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let task = runtime.spawn(drive(shared.clone(), rx, config));
        Device {
            shared,
            commands,
            task,
            runtime: None,
        }
    }

    /// The home this device syncs.
    pub fn store(&self) -> &Arc<Mutex<Store>> {
        &self.shared.store
    }

    /// Sets (or removes) the listener.
    pub fn set_listener(&self, listener: Option<Arc<dyn SyncListener>>) {
        *self
            .shared
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = listener;
    }

    fn send(&self, command: Command) -> Result<(), SyncError> {
        self.commands.send(command).map_err(|_| SyncError::Stopped)
    }

    /// A record was written: a sync follows after the debounce. Never blocks.
    pub fn local_write(&self) {
        let _ = self.send(Command::Event(Event::LocalWrite));
    }

    /// The app reports the network: back online syncs at once; offline defers every sync.
    pub fn network_changed(&self, online: bool) {
        let _ = self.send(Command::Event(Event::NetworkChanged(online)));
    }

    /// Asks for a sync now and waits for its outcome. Fails at once with
    /// [`SyncError::Offline`] while the app reports no network.
    pub async fn sync_now(&self) -> Result<SyncReport, SyncError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::SyncNow(tx))?;
        rx.await.map_err(|_| SyncError::Stopped)?
    }

    /// [`Device::sync_now`] for callers outside an async context (it panics inside one).
    pub fn sync_now_blocking(&self) -> Result<SyncReport, SyncError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::SyncNow(tx))?;
        rx.blocking_recv().map_err(|_| SyncError::Stopped)?
    }

    /// Where sync stands: the scheduler's view, pending documents, last success and error.
    pub fn status(&self) -> Result<DeviceStatus, SyncError> {
        self.shared.status()
    }
}

impl<T: Transport + 'static> Drop for Device<T> {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(rt) = self.runtime.take() {
            // Never blocks, so a device may be dropped anywhere, even on a runtime thread.
            rt.shutdown_background();
        }
    }
}

type RunFuture = Pin<Box<dyn Future<Output = Result<SyncReport, SyncError>> + Send>>;

/// The task's state between events.
struct Driver<T> {
    shared: Arc<Shared<T>>,
    engine: SyncEngine,
    wake: Option<Instant>,
    run: Option<RunFuture>,
    /// Asked for a run that has not started yet.
    waiting: Vec<Reply>,
    /// Answered by the run under way.
    riding: Vec<Reply>,
}

impl<T: Transport + 'static> Driver<T> {
    fn feed(&mut self, event: Event) {
        for effect in self.engine.handle(Instant::now(), event) {
            match effect {
                Effect::StartSync => {
                    let shared = self.shared.clone();
                    self.run = Some(Box::pin(async move {
                        run_sync(&shared.store, &shared.transport, &shared.options).await
                    }));
                    self.riding.append(&mut self.waiting);
                }
                Effect::WakeAt(at) => self.wake = Some(at),
                Effect::StatusChanged(status) => {
                    *self
                        .shared
                        .scheduler
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
                    match self.shared.status() {
                        Ok(s) => self.shared.tell(SyncEvent::StatusChanged(s)),
                        Err(e) => tracing::warn!("cannot read the sync status: {e}"),
                    }
                }
                Effect::WipeLocalData => {
                    // run_sync wiped already; this only finishes the job if that failed.
                    wipe_revoked(&self.shared.store);
                    self.shared.tell(SyncEvent::Wiped);
                }
            }
        }
        // Nobody waits for a run that cannot start.
        if self.run.is_none() && !self.waiting.is_empty() {
            let st = self.engine.status();
            let refusal = if st.revoked {
                Some(SyncError::Revoked)
            } else if !st.online {
                Some(SyncError::Offline)
            } else {
                None
            };
            if let Some(e) = refusal {
                for reply in self.waiting.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    fn finished(&mut self, result: Result<SyncReport, SyncError>) {
        self.run = None;
        let event = match &result {
            Ok(_) => Event::Succeeded,
            Err(SyncError::Revoked) => Event::Revoked,
            Err(e) => Event::Failed {
                error: e.to_string(),
                retry: e.is_retryable(),
                retry_after: e.retry_after(),
            },
        };
        let mut answered = std::mem::take(&mut self.riding);
        if result.is_err() {
            // Those who asked during a failed run hear of its failure, not of a retry
            // minutes later.
            answered.append(&mut self.waiting);
        }
        // The status first, so that a caller woken by the answer reads the outcome in it.
        self.feed(event);
        for reply in answered {
            let _ = reply.send(result.clone());
        }
        if let Ok(report) = result {
            self.shared.tell(SyncEvent::Synced(report));
        }
    }
}

async fn drive<T: Transport + 'static>(
    shared: Arc<Shared<T>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    config: DeviceConfig,
) {
    let pending = lock(&shared.store)
        .out_of_sync(SERVER_PEER)
        .map_or(true, |d| !d.is_empty());
    let mut d = Driver {
        engine: SyncEngine::new(config.scheduler, config.online, pending),
        shared,
        wake: None,
        run: None,
        waiting: vec![],
        riding: vec![],
    };
    if config.sync_on_start {
        d.feed(Event::SyncRequested);
    }
    loop {
        let wake = d.wake.map(tokio::time::Instant::from_std);
        tokio::select! {
            command = commands.recv() => match command {
                None => break,
                Some(Command::Event(e)) => d.feed(e),
                Some(Command::SyncNow(reply)) => {
                    d.waiting.push(reply);
                    d.feed(Event::SyncRequested);
                }
            },
            () = sleep_until(wake), if wake.is_some() => {
                d.wake = None;
                d.feed(Event::Tick);
                // A wake-up that came early (or a due time the tick did not consume) is kept.
                if d.wake.is_none() {
                    d.wake = d.engine.due().filter(|due| *due > Instant::now());
                }
            }
            result = poll_run(&mut d.run), if d.run.is_some() => d.finished(result),
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

async fn poll_run(run: &mut Option<RunFuture>) -> Result<SyncReport, SyncError> {
    match run {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}
