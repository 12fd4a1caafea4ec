//! The Doorstep server crate: the `doorstep` command line and the axum server that merges
//! every phone's documents into the team's authoritative record.
//!
//! `main.rs` only parses arguments; each subcommand lives in its own module (`agent`, `serve`,
//! `admin`). The server is layered: `http` (routes, one module per resource) → `store` (narrow
//! traits, [`store::ServerStore`] for all of them, and their SQLite implementation) →
//! client-core; the rules sit beside them as plain functions (`access`: who reaches what;
//! `verify`: what a device may write; `history`: reading a document's changes; `import`: the
//! policy list) or as code over the store's traits (`matching`: what an import changes;
//! `desk`: a manager's dashboard writes; `views`: the managers' numbers).

pub mod access;
pub mod accounts;
pub mod admin;
pub mod agent;
pub mod demo;
pub mod desk;
pub mod error;
pub mod history;
pub mod http;
pub mod import;
pub mod lock_files;
pub mod logins;
pub mod matching;
pub mod migrate;
pub mod serve;
pub mod store;
pub mod sync_plan;
pub mod text;
pub mod throttle;
pub mod verify;
pub mod views;

pub use error::{Error, Result};
