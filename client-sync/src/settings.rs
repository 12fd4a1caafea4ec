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
use crate::transport::{normalize_server_url, parse_enrol_link};

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

/// Binds the home from an enrolment link (see [`login`]). On a home that already exists (the
/// app reinstalled over its old data, a new token issued for the phone) this only replaces the
/// binding: the records not yet synced stay and go up at the next sync.
pub fn enrol(store: &Store, link: &str) -> Result<String, SyncError> {
    let (server, token) = parse_enrol_link(link)?;
    login(store, &server, &token)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use client_core::model::{NewCustomer, Role};
    use client_core::{Identity, Options};

    use super::*;
    use crate::transport::{enrol_link, ENROL_LINK_PREFIX};

    #[test]
    fn an_enrolment_link_carries_the_server_and_the_token_and_nothing_else() {
        let token = "-m0Eb_xY9aQ2Lk8Zr4Tt7Uu1Vv3Ww5Xx6Yy0Zz2Aa4B";
        let link = enrol_link("https://sync.example.com:8443/team/", token).unwrap();
        assert!(link.starts_with(ENROL_LINK_PREFIX), "{link}");
        assert_eq!(
            parse_enrol_link(&link).unwrap(),
            (
                "https://sync.example.com:8443/team".to_string(),
                token.to_string()
            )
        );
        for bad in [
            "https://sync.example.com/?token=x",
            "doorstep://enrol?server=https%3A%2F%2Fa.example",
            "doorstep://enrol?token=abc",
            "doorstep://enrol?server=a&server=b&token=c",
            "",
        ] {
            match parse_enrol_link(bad) {
                Err(e @ SyncError::Invalid { field: "link", .. }) => {
                    assert!(!e.to_string().contains("abc"), "{e}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(enrol_link("ftp://example", token).is_err());
    }

    #[test]
    fn re_enrolment_keeps_the_work_not_yet_synced() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut store = Store::create(
            dir.path().join("home.db"),
            Identity {
                user: "A-0001".parse().unwrap(),
                role: Role::Agent,
            },
            Options::default(),
        )
        .unwrap();
        let first = enrol_link("http://127.0.0.1:9", "first-token").unwrap();
        assert_eq!(enrol(&store, &first).unwrap(), "http://127.0.0.1:9");
        store
            .add_customer(NewCustomer {
                name: "Wang".into(),
                ..Default::default()
            })
            .unwrap();
        let pending = stored_status(&store).unwrap().pending_documents;
        assert!(pending > 0);
        // The app is reinstalled over the old home; the admin issues a new token.
        drop(store);
        let store = Store::open(dir.path().join("home.db"), Options::default()).unwrap();
        let again = enrol_link("http://127.0.0.1:9", "second-token").unwrap();
        enrol(&store, &again).unwrap();
        assert_eq!(store.customers().unwrap().len(), 1);
        assert_eq!(stored_status(&store).unwrap().pending_documents, pending);
        assert_eq!(stored_login(&store).unwrap().unwrap().token, "second-token");
    }
}
