//! Change notices between instances: `NOTIFY doorstep_events, '<team>'` after a change is
//! stored, and a listener per instance that hears every instance's notices (its own too).
//!
//! Both run on threads of their own with a dedicated connection each (not the pool's: a
//! listener holds its connection for good, and a notice must not wait behind requests).
//! [`Notifier`] takes a team from a request handler without blocking it (a set of teams still
//! to announce: many changes of one team before the thread runs make one notice) and sends
//! the notices after the change's transaction committed, so an instance that hears one reads
//! the change. [`listen`] `LISTEN`s and hands each notice to its callback; when the connection
//! drops (a restarted database, `pg_terminate_backend`) it connects again with a backoff
//! (100 ms doubling to 5 s) and reports [`Heard::Reconnected`]: notices sent meanwhile are
//! lost, so whoever shows the data should refresh it all. Neither knows HTTP: the server
//! wires them to its dashboards' events (`http::events`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};

/// The channel change notices go through.
pub const CHANNEL: &str = "doorstep_events";

/// The `application_name` of a listener's connection (how an operator finds it in
/// `pg_stat_activity`).
pub const LISTENER_APPLICATION: &str = "doorstep-listener";

/// The `application_name` of a notifier's connection.
pub const NOTIFIER_APPLICATION: &str = "doorstep-notifier";

/// The first wait before connecting again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often a quiet listener checks that its connection is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long a listener waits for a notice before looking at its stop flag.
const POLL: Duration = Duration::from_millis(250);

fn next_backoff(b: Duration) -> Duration {
    (b * 2).min(MAX_BACKOFF)
}

fn connect_as(config: &Config, application: &str) -> Result<Client, postgres::Error> {
    let mut config = config.clone();
    config.application_name(application);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    // A database host that vanished without closing the socket is noticed within a minute.
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    config.connect(NoTls)
}

#[derive(Default)]
struct Pending {
    teams: BTreeSet<String>,
    closed: bool,
}

/// Sends change notices from a thread of its own (see the module's documentation). Dropping
/// it stops the thread once it has sent what is pending.
pub struct Notifier {
    shared: Arc<(Mutex<Pending>, Condvar)>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts the notifier's thread; it connects when it first has something to send.
    pub fn start(config: &Config) -> Notifier {
        let shared = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let inner = shared.clone();
        let config = config.clone();
        std::thread::Builder::new()
            .name("pg-notifier".into())
            .spawn(move || notifier_thread(&config, &inner))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "the notifier thread did not start"));
        Notifier { shared }
    }

    /// Announces that `team`'s records changed (returns at once; the thread sends it).
    pub fn notify(&self, team: &str) {
        let (lock, wake) = &*self.shared;
        lock.lock()
            .unwrap_or_else(|p| p.into_inner())
            .teams
            .insert(team.to_string());
        wake.notify_one();
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        wake.notify_one();
    }
}

fn notifier_thread(config: &Config, shared: &(Mutex<Pending>, Condvar)) {
    let (lock, wake) = shared;
    let mut client: Option<Client> = None;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let teams = {
            let mut pending = lock.lock().unwrap_or_else(|p| p.into_inner());
            while pending.teams.is_empty() && !pending.closed {
                pending = wake.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            if pending.teams.is_empty() {
                return;
            }
            std::mem::take(&mut pending.teams)
        };
        let sent = send_all(config, &mut client, &teams);
        match sent {
            Ok(()) => backoff = FIRST_BACKOFF,
            Err(e) => {
                tracing::warn!(error = %e, "change notices not sent: trying again");
                client = None;
                let mut pending = lock.lock().unwrap_or_else(|p| p.into_inner());
                if pending.closed {
                    return;
                }
                pending.teams.extend(teams);
                drop(pending);
                std::thread::sleep(backoff);
                backoff = next_backoff(backoff);
            }
        }
    }
}

fn send_all(
    config: &Config,
    client: &mut Option<Client>,
    teams: &BTreeSet<String>,
) -> Result<(), postgres::Error> {
    let c = match client {
        Some(c) if !c.is_closed() => c,
        _ => client.insert(connect_as(config, NOTIFIER_APPLICATION)?),
    };
    for team in teams {
        c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, team])?;
    }
    Ok(())
}

/// What a listener hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A team's records changed (the notice's payload).
    Changed(String),
    /// The listener connected again after losing its connection: notices may have been
    /// missed.
    Reconnected,
}

/// A running listener; dropping it stops its thread (within a fraction of a second).
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Listens on [`CHANNEL`] from a thread of its own and calls `heard` for every notice, and
/// with [`Heard::Reconnected`] after each reconnection (see the module's documentation).
pub fn listen(config: &Config, heard: impl Fn(Heard) + Send + 'static) -> Listener {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let config = config.clone();
    std::thread::Builder::new()
        .name("pg-listener".into())
        .spawn(move || listener_thread(&config, &stopped, &heard))
        .map(|_| ())
        .unwrap_or_else(|e| tracing::error!(error = %e, "the listener thread did not start"));
    Listener { stop }
}

fn listener_thread(config: &Config, stop: &AtomicBool, heard: &dyn Fn(Heard)) {
    let mut backoff = FIRST_BACKOFF;
    let mut connected_before = false;
    while !stop.load(Ordering::Relaxed) {
        let mut client = match connect_as(config, LISTENER_APPLICATION)
            .and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANNEL}")).map(|()| c))
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, ?backoff, "change listener: cannot connect");
                sleep_unless_stopped(backoff, stop);
                backoff = next_backoff(backoff);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        if connected_before {
            tracing::info!("change listener connected again");
            heard(Heard::Reconnected);
        } else {
            tracing::info!(channel = CHANNEL, "change listener listening");
        }
        connected_before = true;
        if let Err(e) = hear(&mut client, stop, heard) {
            tracing::warn!(error = %e, "change listener lost its connection");
        }
    }
}

/// Hands notices over until the connection fails or the listener is stopped.
fn hear(client: &mut Client, stop: &AtomicBool, heard: &dyn Fn(Heard)) -> Result<(), String> {
    let mut quiet = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let next = client.notifications().timeout_iter(POLL).next();
        match next.map_err(|e| e.to_string())? {
            Some(n) => {
                quiet = Duration::ZERO;
                if n.channel() == CHANNEL {
                    heard(Heard::Changed(n.payload().to_string()));
                }
            }
            None => {
                if client.is_closed() {
                    return Err("the connection closed".into());
                }
                quiet += POLL;
                if quiet >= HEARTBEAT {
                    quiet = Duration::ZERO;
                    client.simple_query("").map_err(|e| e.to_string())?;
                }
            }
        }
    }
    Ok(())
}

fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < wait && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(step);
        slept += step;
    }
}
