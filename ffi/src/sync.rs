//! The background sync as the apps see it: its status, the report of a run, the events, and
//! the listener interface the app implements to hear them.
//!
//! `client_sync::Device` runs the sync on its own thread and tells a
//! `client_sync::SyncListener`; [`SyncListener`] is the same interface for Kotlin, Swift and
//! Python, and `Relay` passes each event on, converted. Events arrive on the sync thread:
//! the app hands them to its UI thread (refresh the screens on `Synced`).

use std::sync::Arc;

use crate::scalars::texts;

/// Where sync stands, for the app's status line.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// Whether background sync is started (`start_sync`).
    pub running: bool,
    /// Whether the app reports a network.
    pub online: bool,
    /// Whether a sync run is under way.
    pub syncing: bool,
    /// Consecutive failed runs since the last success.
    pub failures: u32,
    /// Whether the server revoked this device (its data is gone; sync has stopped).
    pub revoked: bool,
    /// Documents with changes the server is not yet known to have.
    pub pending_documents: u64,
    /// When the last run converged (RFC 3339).
    pub last_success: Option<String>,
    /// The last error, or what the server refused in the last run.
    pub last_error: Option<String>,
    /// The server this home syncs with.
    pub server: Option<String>,
}

impl From<client_sync::DeviceStatus> for SyncStatus {
    fn from(s: client_sync::DeviceStatus) -> Self {
        SyncStatus {
            running: true,
            online: s.online,
            syncing: s.syncing,
            failures: s.failures,
            revoked: s.revoked,
            pending_documents: s.pending_documents as u64,
            last_success: s.last_success,
            last_error: s.last_error,
            server: s.server,
        }
    }
}

impl From<client_sync::StoredStatus> for SyncStatus {
    fn from(s: client_sync::StoredStatus) -> Self {
        SyncStatus {
            running: false,
            online: false,
            syncing: false,
            failures: 0,
            revoked: false,
            pending_documents: s.pending_documents as u64,
            last_success: s.last_success,
            last_error: s.last_error,
            server: s.server,
        }
    }
}

/// A document the server refused in a run.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Rejection {
    /// The document (`customer:…`, `day:…`).
    pub doc: String,
    /// The server's code (`forbidden`, `forged_actor`, `corrupt`, `invalid`).
    pub code: String,
    /// The server's sentence.
    pub message: String,
}

/// Something the server sent that this home could not take, or a document of this home that
/// could not be sent.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LocalFailure {
    /// The document or `playbook`.
    pub what: String,
    /// Why.
    pub message: String,
}

/// What a sync run did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Rounds that sent something.
    pub rounds: u32,
    /// HTTP requests made.
    pub requests: u32,
    /// Document messages sent.
    pub messages_sent: u64,
    /// Bytes of sync messages sent.
    pub bytes_sent: u64,
    /// Document messages received.
    pub messages_received: u64,
    /// Bytes of sync messages received.
    pub bytes_received: u64,
    /// Documents dropped because the server said so (customers reassigned).
    pub removed: Vec<String>,
    /// Documents whose messages the server refused.
    pub rejected: Vec<Rejection>,
    /// What the server sent that this home could not take, and documents of this home that
    /// could not be sent (they stay pending; the others synced).
    pub failed: Vec<LocalFailure>,
    /// The hash of a playbook the server put in force during the run.
    pub playbook: Option<String>,
    /// Documents still out of sync after the run.
    pub pending_documents: u64,
}

impl From<client_sync::SyncReport> for SyncReport {
    fn from(r: client_sync::SyncReport) -> Self {
        SyncReport {
            rounds: r.rounds,
            requests: r.requests,
            messages_sent: r.messages_sent as u64,
            bytes_sent: r.bytes_sent as u64,
            messages_received: r.messages_received as u64,
            bytes_received: r.bytes_received as u64,
            removed: texts(&r.removed),
            rejected: r
                .rejected
                .into_iter()
                .map(|x| Rejection {
                    doc: x.doc.to_string(),
                    code: x.code,
                    message: x.message,
                })
                .collect(),
            failed: r
                .failed
                .into_iter()
                .map(|f| LocalFailure {
                    what: f.what,
                    message: f.message,
                })
                .collect(),
            playbook: r.playbook,
            pending_documents: r.pending_documents as u64,
        }
    }
}

/// What the app hears about.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEvent {
    /// The status changed: a run started or ended, the network came or went, writes wait.
    StatusChanged {
        /// The new status.
        status: SyncStatus,
    },
    /// A run converged: what the screens show may have changed.
    Synced {
        /// What the run did.
        report: SyncReport,
    },
    /// The server revoked this device and its local data was wiped.
    Wiped,
}

impl From<client_sync::SyncEvent> for SyncEvent {
    fn from(e: client_sync::SyncEvent) -> Self {
        match e {
            client_sync::SyncEvent::StatusChanged(s) => {
                SyncEvent::StatusChanged { status: s.into() }
            }
            client_sync::SyncEvent::Synced(r) => SyncEvent::Synced { report: r.into() },
            client_sync::SyncEvent::Wiped => SyncEvent::Wiped,
        }
    }
}

/// Implemented by the app to hear sync events. Called on the sync thread: keep `on_event`
/// short and hand over to the UI thread.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: SyncEvent);
}

/// Passes client-sync's events to the app's listener.
pub(crate) struct Relay(pub(crate) Arc<dyn SyncListener>);

impl client_sync::SyncListener for Relay {
    fn on_event(&self, event: client_sync::SyncEvent) {
        self.0.on_event(event.into());
    }
}
