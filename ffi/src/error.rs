//! The one error of the ffi crate: what the app can act on, as a typed exception.
//!
//! client-core's `Error` and client-sync's `SyncError` are detailed; an app needs to know what
//! to do: show a validation message, ask for the key again, log in again, wait for the
//! network. Each variant is one of those cases and carries the sentence of the error it came
//! from. They are mapped here, once, by the stable codes of the two crates. In Kotlin the enum
//! is `DoorstepException`, in Swift `DoorstepError`, in Python `DoorstepError.<Variant>`.

use client_sync::SyncError;

/// Everything a call of the Doorstep API can fail with.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum DoorstepError {
    /// Input that breaks a rule: an id, a date or a field that does not parse or is refused
    /// (an empty name, a visit that ends before it starts, a code the playbook lacks…).
    #[error("{detail}")]
    Invalid {
        /// What was refused and why.
        detail: String,
    },
    /// A customer, policy, visit or problem this home does not hold.
    #[error("{detail}")]
    NotFound {
        /// What was looked for.
        detail: String,
    },
    /// The user's role may not do this (an agent answering a problem…).
    #[error("{detail}")]
    Forbidden {
        /// Why.
        detail: String,
    },
    /// No home at this path yet: create it first.
    #[error("{detail}")]
    NotInitialised {
        /// The path.
        detail: String,
    },
    /// The file is not a Doorstep home (another application's, not SQLite, encrypted and
    /// opened without its key, or from a newer Doorstep).
    #[error("{detail}")]
    ForeignDatabase {
        /// What gave it away.
        detail: String,
    },
    /// The key given does not open this encrypted home.
    #[error("{detail}")]
    WrongKey {
        /// The path.
        detail: String,
    },
    /// The storage failed: disk full, I/O error, a corrupt document.
    #[error("{detail}")]
    Storage {
        /// SQLite's or the file system's sentence.
        detail: String,
    },
    /// The home is not bound to a server: call `login` first.
    #[error("{detail}")]
    NotLoggedIn {
        /// How to fix it.
        detail: String,
    },
    /// Background sync is not started (or was stopped): call `start_sync` first.
    #[error("{detail}")]
    SyncOff {
        /// Why.
        detail: String,
    },
    /// The app reports no network: the sync waits for `network_changed(true)`.
    #[error("{detail}")]
    Offline {
        /// Why.
        detail: String,
    },
    /// The server could not be reached, failed, or the exchange did not settle: retried
    /// later by itself.
    #[error("{detail}")]
    Network {
        /// What happened.
        detail: String,
    },
    /// The server refused this device's token: log in again with a new one.
    #[error("{detail}")]
    Unauthorized {
        /// The server's sentence.
        detail: String,
    },
    /// The server revoked this device; its local data was wiped.
    #[error("{detail}")]
    Revoked {
        /// Why.
        detail: String,
    },
    /// The server refused a request as such (retrying the same one cannot help).
    #[error("{detail}")]
    Refused {
        /// The server's code and sentence.
        detail: String,
    },
}

impl From<client_core::Error> for DoorstepError {
    fn from(e: client_core::Error) -> Self {
        let detail = e.to_string();
        match e.code() {
            "invalid" | "playbook" => DoorstepError::Invalid { detail },
            "not_found" => DoorstepError::NotFound { detail },
            "forbidden" => DoorstepError::Forbidden { detail },
            "not_initialised" => DoorstepError::NotInitialised { detail },
            "foreign_database" => DoorstepError::ForeignDatabase { detail },
            "wrong_key" => DoorstepError::WrongKey { detail },
            _ => DoorstepError::Storage { detail },
        }
    }
}

impl From<SyncError> for DoorstepError {
    fn from(e: SyncError) -> Self {
        let detail = e.to_string();
        match e {
            SyncError::NotLoggedIn => DoorstepError::NotLoggedIn { detail },
            SyncError::Invalid { .. } => DoorstepError::Invalid { detail },
            SyncError::Offline => DoorstepError::Offline { detail },
            // A busy server is, to the app, a network that will come back (the device's
            // scheduler already waits the server's Retry-After).
            SyncError::Network(_)
            | SyncError::Server { .. }
            | SyncError::Busy { .. }
            | SyncError::DidNotConverge(_) => DoorstepError::Network { detail },
            SyncError::Unauthorized(_) => DoorstepError::Unauthorized { detail },
            SyncError::Revoked => DoorstepError::Revoked { detail },
            SyncError::Refused { .. } => DoorstepError::Refused { detail },
            SyncError::Stopped => DoorstepError::SyncOff { detail },
            SyncError::Store { code, .. } => match code {
                "not_initialised" => DoorstepError::NotInitialised { detail },
                "foreign_database" => DoorstepError::ForeignDatabase { detail },
                "wrong_key" => DoorstepError::WrongKey { detail },
                _ => DoorstepError::Storage { detail },
            },
        }
    }
}
