//! The one error type of client-sync, sorted by what the caller should do about it.
//!
//! A sync fails for few reasons that matter to a phone: the network (try again later, with
//! backoff), the server's refusal of this device (a bad token or a revoked device: retrying
//! cannot help, a person must act), a protocol or server fault, or the local store. Each
//! variant says whether a retry can help ([`SyncError::is_retryable`]) and has a stable code
//! ([`SyncError::code`]) that the command line and the ffi map once each.

/// Everything a sync run can fail with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The home is not bound to a server yet.
    #[error(
        "this home is not bound to a server: run `doorstep agent login --server URL --token T`"
    )]
    NotLoggedIn,
    /// A login with a server URL that is not an http(s) URL, or an empty token.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// `server` or `token`.
        field: &'static str,
        /// Why it was refused (never the token itself).
        reason: String,
    },
    /// The app reports no network, so nothing was tried.
    #[error("offline: the sync waits for the network")]
    Offline,
    /// The server could not be reached, or the connection broke (retry with backoff).
    #[error("network: {0}")]
    Network(String),
    /// The server refused the token (401): log in again.
    #[error("the server refused this device's token: {0}")]
    Unauthorized(String),
    /// The server revoked this device; its local data was wiped.
    #[error("this device was revoked by the server: its local data was wiped")]
    Revoked,
    /// The server refused a request as such (400, 403, 413 and other 4xx): retrying the same
    /// request cannot help.
    #[error("the server refused the request ({status} {code}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's stable code (`actor_mismatch`, `unsupported_protocol`, `malformed`,
        /// `too_large`, …).
        code: String,
        /// The server's sentence.
        message: String,
    },
    /// The server failed (5xx) or answered something that is not the protocol (retry).
    #[error("server trouble ({status}): {message}")]
    Server {
        /// The HTTP status (0 when the status was fine but the body was not).
        status: u16,
        /// What went wrong.
        message: String,
    },
    /// The server is busy (`503` or `429` with `Retry-After`): come back after
    /// `retry_after_secs`, not sooner.
    #[error("the server is busy: try again in {retry_after_secs} s ({message})")]
    Busy {
        /// When to try again, as the server said.
        retry_after_secs: u64,
        /// The server's sentence.
        message: String,
    },
    /// The exchange did not settle within the bounded number of rounds (retry later).
    #[error("sync did not converge after {0} rounds")]
    DidNotConverge(u32),
    /// The local store failed (client-core's error, by its code and sentence, so that one
    /// failed run can be told to every caller waiting for it).
    #[error("local store: {message}")]
    Store {
        /// client-core's stable code (`storage`, `corrupt`, …).
        code: &'static str,
        /// client-core's sentence.
        message: String,
    },
    /// The background sync task is gone (its device was dropped).
    #[error("the sync task has stopped")]
    Stopped,
}

impl From<client_core::Error> for SyncError {
    fn from(e: client_core::Error) -> Self {
        SyncError::Store {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl SyncError {
    /// A short stable code for the error's kind (for JSON output and other languages).
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotLoggedIn => "not_logged_in",
            SyncError::Invalid { .. } => "invalid",
            SyncError::Offline => "offline",
            SyncError::Network(_) => "network",
            SyncError::Unauthorized(_) => "unauthorized",
            SyncError::Revoked => "revoked",
            SyncError::Refused { .. } => "refused",
            SyncError::Server { .. } => "server",
            SyncError::Busy { .. } => "busy",
            SyncError::DidNotConverge(_) => "did_not_converge",
            SyncError::Store { .. } => "storage",
            SyncError::Stopped => "stopped",
        }
    }

    /// Whether trying again later (with backoff) can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Network(_)
            | SyncError::Server { .. }
            | SyncError::Busy { .. }
            | SyncError::DidNotConverge(_)
            | SyncError::Offline => true,
            // Disk full, a locked database: worth another try; a corrupt home is not, but
            // backoff keeps that cheap and the error stays visible in the status.
            SyncError::Store { .. } => true,
            SyncError::NotLoggedIn
            | SyncError::Invalid { .. }
            | SyncError::Unauthorized(_)
            | SyncError::Revoked
            | SyncError::Refused { .. }
            | SyncError::Stopped => false,
        }
    }

    /// How long the server asked to wait before the next try, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Busy {
                retry_after_secs, ..
            } => Some(std::time::Duration::from_secs(*retry_after_secs)),
            _ => None,
        }
    }

    /// Whether the server refused this device itself (token refused or device revoked).
    pub fn is_auth(&self) -> bool {
        matches!(self, SyncError::Unauthorized(_) | SyncError::Revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_trouble_retries_and_a_refused_device_does_not() {
        assert!(SyncError::Network("reset".into()).is_retryable());
        assert!(SyncError::Server {
            status: 503,
            message: "busy".into()
        }
        .is_retryable());
        assert!(!SyncError::Unauthorized("bad token".into()).is_retryable());
        assert!(!SyncError::Revoked.is_retryable());
        assert!(SyncError::Revoked.is_auth());
        let refused = SyncError::Refused {
            status: 403,
            code: "actor_mismatch".into(),
            message: "not your actor".into(),
        };
        assert!(!refused.is_retryable());
        assert_eq!(refused.code(), "refused");
        assert!(refused.to_string().contains("actor_mismatch"));
    }
}
