//! What a home remembers about its server, in the home's own settings.
//!
//! The server's URL and the device token (bound by `doorstep agent login`), the hash of the
//! playbook the server last sent, and the outcome of the last sync (last success, last error)
//! live in the home database, so that another process — `doorstep agent status` while the
//! app syncs, or the app after a restart — reads the same status. The token is stored here
//! and nowhere else; nothing in this crate prints it.

use client_core::Store;
use serde::Serialize;

use crate::error::SyncError;
use crate::transport::normalize_server_url;

/// The peer name of the server in the home's sync states.
pub const SERVER_PEER: &str = "server";

const SERVER: &str = "sync.server";
const TOKEN: &str = "sync.token";
const LAST_SUCCESS: &str = "sync.last_success";
const LAST_ERROR: &str = "sync.last_error";
const PLAYBOOK_HASH: &str = "sync.playbook_hash";

/// The server a home is bound to.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The server's URL (normalised).
    pub server: String,
    /// The device token.
    pub token: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Where sync stands, as far as the home itself knows (readable from any process).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoredStatus {
    /// The server the home is bound to.
    pub server: Option<String>,
    /// Documents with changes the server was not yet known to have.
    pub pending_documents: usize,
    /// When the last sync run converged (RFC 3339, by the store's clock).
    pub last_success: Option<String>,
    /// The last run's error, or what the server refused in the last successful run.
    pub last_error: Option<String>,
}

/// Binds the home to `server` with `token`. Returns the normalised URL.
///
/// Binding to a *different* server than before forgets what the old one was known to have,
/// so every document is offered to the new one; the same server keeps its sync states.
pub fn login(store: &Store, server: &str, token: &str) -> Result<String, SyncError> {
    let server = normalize_server_url(server)?;
    let token = token.trim();
    if token.is_empty() {
        return Err(SyncError::Invalid {
            field: "token",
            reason: "must not be empty".into(),
        });
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(SyncError::Invalid {
            field: "token",
            reason: "must not contain spaces or control characters".into(),
        });
    }
    let previous = store.setting(SERVER)?;
    if previous.as_deref().is_some_and(|p| p != server) {
        store.forget_peer(SERVER_PEER)?;
        for key in [PLAYBOOK_HASH, LAST_SUCCESS, LAST_ERROR] {
            store.set_setting(key, None)?;
        }
    }
    store.set_setting(SERVER, Some(&server))?;
    store.set_setting(TOKEN, Some(token))?;
    Ok(server)
}

/// The server the home is bound to, if any.
pub fn stored_login(store: &Store) -> Result<Option<Login>, SyncError> {
    Ok(match (store.setting(SERVER)?, store.setting(TOKEN)?) {
        (Some(server), Some(token)) => Some(Login { server, token }),
        _ => None,
    })
}

/// The status the home records: server, pending documents, last success and last error.
pub fn stored_status(store: &Store) -> Result<StoredStatus, SyncError> {
    Ok(StoredStatus {
        server: store.setting(SERVER)?,
        pending_documents: store.out_of_sync(SERVER_PEER)?.len(),
        last_success: store.setting(LAST_SUCCESS)?,
        last_error: store.setting(LAST_ERROR)?,
    })
}

/// The hash of the playbook the server last put in force here.
pub(crate) fn playbook_hash(store: &Store) -> Result<Option<String>, SyncError> {
    Ok(store.setting(PLAYBOOK_HASH)?)
}

pub(crate) fn set_playbook_hash(store: &Store, hash: &str) -> Result<(), SyncError> {
    Ok(store.set_setting(PLAYBOOK_HASH, Some(hash))?)
}

/// Records a converged run; `problem` is what the server refused in it, if anything.
pub(crate) fn record_success(store: &Store, problem: Option<&str>) -> Result<(), SyncError> {
    store.set_setting(LAST_SUCCESS, Some(&store.now().to_rfc3339()))?;
    store.set_setting(LAST_ERROR, problem)?;
    Ok(())
}

/// Records a failed run.
pub(crate) fn record_failure(store: &Store, error: &SyncError) -> Result<(), SyncError> {
    Ok(store.set_setting(LAST_ERROR, Some(&error.to_string()))?)
}
