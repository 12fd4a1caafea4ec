//! Doorstep on Android and iOS: the agent's API of client-core and client-sync, through uniffi.
//!
//! The phone's app (Kotlin, Swift) and the tests (Python) see one object, [`Home`]: a home
//! database opened (optionally encrypted with a key from the platform's key store), every
//! record and computation of `client_core::Store`, and the background sync of
//! `client_sync::Device` with a [`SyncListener`] the app implements to hear sync events. This
//! crate only wraps: each exported method is one call into client-core or client-sync, the
//! records here mirror theirs (uniffi needs its own derives) with mechanical conversions, and
//! errors arrive as one typed exception, [`DoorstepError`]. No business rule lives here.
//!
//! Bindings are generated from the built library by `uniffi-bindgen` (the `ffi/bindgen`
//! crate) in library mode; `docs/mobile.md` shows how the apps consume them.

uniffi::setup_scaffolding!();

pub mod error;
pub mod home;
pub mod progress;
pub mod records;
pub mod scalars;
pub mod sync;

pub use error::DoorstepError;
pub use home::Home;
pub use sync::{SyncEvent, SyncListener, SyncReport, SyncStatus};
