//! A phone for the end-to-end tests: a real client-core home in a directory of its own,
//! logged in to a server and syncing through client-sync's real HTTP transport, plus the
//! comparison of replicas (documents' heads and what their projections show).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::Duration;
use client_core::model::{NewVisit, Outcome, Role, Timestamp};
use client_core::{DocId, Durability, Identity, Options, Store};
use client_sync::{HttpTransport, RunOptions, SyncError, SyncReport, Transport};
use serde_json::Value;

/// A device: a home database and the transport to its server.
pub struct Phone {
    /// Whose phone.
    pub user: String,
    /// The home database's path.
    pub path: PathBuf,
    /// The device token it logged in with.
    pub token: String,
    store: Mutex<Store>,
    transport: HttpTransport,
}

/// Store options for test homes: a killed process loses nothing, a power cut is not simulated.
pub fn home_options() -> Options {
    Options {
        durability: Durability::Process,
        ..Options::default()
    }
}

impl Phone {
    /// Creates a home for `user` in `dir` and logs it in to `server` with `token`.
    pub fn create(dir: &Path, user: &str, role: Role, server: &str, token: &str) -> Phone {
        Phone::create_named(dir, user, user, role, server, token)
    }

    /// [`Phone::create`] with the home in `dir/NAME.db` (one user with several phones).
    pub fn create_named(
        dir: &Path,
        name: &str,
        user: &str,
        role: Role,
        server: &str,
        token: &str,
    ) -> Phone {
        let path = dir.join(format!("{name}.db"));
        let store = Store::create(
            &path,
            Identity {
                user: user.parse().expect("a user id"),
                role,
            },
            home_options(),
        )
        .expect("a new home");
        client_sync::login(&store, server, token).expect("login");
        Phone {
            user: user.to_string(),
            path,
            token: token.to_string(),
            store: Mutex::new(store),
            transport: HttpTransport::new(server, token).expect("a transport"),
        }
    }

    /// The home, locked.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One sync run with the server over HTTP.
    pub fn sync(&self) -> Result<SyncReport, SyncError> {
        self.sync_via(&self.transport, &RunOptions::default())
    }

    /// One sync run with another server sharing the same record (an instance behind a load
    /// balancer with no stickiness).
    pub fn sync_with(&self, server: &str) -> Result<SyncReport, SyncError> {
        let transport = HttpTransport::new(server, &self.token)?;
        self.sync_via(&transport, &RunOptions::default())
    }

    /// One sync run through another transport or with other limits.
    pub fn sync_via<T: Transport>(
        &self,
        transport: &T,
        options: &RunOptions,
    ) -> Result<SyncReport, SyncError> {
        client_sync::run_sync_blocking(&self.store, transport, options)
    }

    /// Documents with changes the server is not known to have.
    pub fn pending(&self) -> usize {
        self.store()
            .out_of_sync(client_sync::SERVER_PEER)
            .expect("out_of_sync")
            .len()
    }
}

/// A sales visit that ended `minutes_ago` minutes before `now` and lasted half an hour.
pub fn sales_visit(now: Timestamp, minutes_ago: i64, notes: &str) -> NewVisit {
    let end = now - Duration::minutes(minutes_ago);
    NewVisit {
        kind: "sales".into(),
        purposes: vec!["needs_discovery".into()],
        outcome: Some(Outcome {
            code: "appointment".into(),
            amount_cents: None,
            date: None,
            detail: None,
        }),
        policies: vec![],
        start: end - Duration::minutes(30),
        end,
        location: None,
        notes: notes.into(),
    }
}

/// One document as a replica holds it: its heads and what its projection shows.
#[derive(Clone, Debug, PartialEq)]
pub struct DocState {
    /// Sorted heads, comma-separated.
    pub heads: String,
    /// The customer view (card, policies, visits, contacts, comments, conflicts) or the day.
    pub view: Value,
}

/// Every document of a replica, by id.
pub type Replica = BTreeMap<String, DocState>;

/// Reads a replica: every document's heads and projection.
pub fn replica(store: &mut Store) -> Replica {
    let mut out = Replica::new();
    for id in store.doc_ids().expect("doc_ids") {
        let heads = client_core::store::heads_text(&store.heads(&id).expect("heads"));
        let view = match &id {
            DocId::Customer(c) => {
                let v = store.customer_view(*c).expect("view");
                Ok(serde_json::json!({
                    "customer": v.customer,
                    "policies": v.policies,
                    "visits": v.visits,
                    "contacts": v.contacts,
                    "comments": v.comments,
                    "conflicts": v.conflicts,
                }))
            }
            DocId::Day(agent, date) => serde_json::to_value(store.day(agent, *date).expect("day")),
        }
        .expect("JSON");
        out.insert(id.to_string(), DocState { heads, view });
    }
    out
}
