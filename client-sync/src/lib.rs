//! Doorstep on the device, online: keeps the home's documents in sync with the server.
//!
//! client-core holds the documents, makes the Automerge sync messages and decides *when* to
//! sync (its sans-I/O `SyncEngine`), but knows no network. This crate is the thin I/O shell
//! around it: the HTTP transport (`transport`), one sync run of batched rounds to convergence
//! (`run`), what the home remembers about its server (`settings`), and the background task
//! that drives the engine on a tokio runtime and tells the app what happened (`device`). The
//! in-process hub (`hub`) stands in for the server in tests.
//!
//! ```no_run
//! # use std::sync::{Arc, Mutex};
//! # fn demo(store: client_core::Store) -> Result<(), client_sync::SyncError> {
//! let store = Arc::new(Mutex::new(store));
//! let device = client_sync::Device::connect(store.clone(), Default::default())?;
//! // … the app records a visit through `store`, then:
//! device.local_write();
//! println!("{:?}", device.status()?);
//! # Ok(()) }
//! ```

pub mod device;
pub mod error;
pub mod hub;
pub mod run;
pub mod settings;
pub mod transport;

pub use device::{Device, DeviceConfig, DeviceStatus, SyncEvent, SyncListener};
pub use error::SyncError;
pub use run::{run_sync, run_sync_blocking, wipe_revoked, LocalFailure, RunOptions, SyncReport};
pub use settings::{enrol, login, stored_login, stored_status, Login, StoredStatus, SERVER_PEER};
pub use transport::{
    enrol_link, normalize_server_url, parse_enrol_link, HttpOptions, HttpTransport, Transport,
    ENROL_LINK_PREFIX,
};

/// Results of client-sync.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
