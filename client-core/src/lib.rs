//! Doorstep on the device: the offline visit journal.
//!
//! An agent's phone records customers, policies, visits, calls, SMS, the daily work log and the
//! evening report with no network. Each record lives in an Automerge document persisted in
//! SQLite (`store`), a queryable index is kept in step with the documents (`index`), and the
//! team's playbook (`playbook`) turns the index into today's standards, progress, reminders and
//! lists: pure functions with the date passed in, so the server computes the same numbers for
//! managers.

pub mod checkpoint;
pub mod db;
pub mod doc_cache;
pub mod documents;
pub mod edits;
pub mod error;
pub mod ids;
pub mod index;
pub mod layout;
pub mod model;
pub mod playbook;
pub mod premerge;
pub mod protocol;
pub mod receive;
pub mod schema;
pub mod store;
pub mod sync;
pub mod wire;

pub use db::{DatabaseKey, Durability};
pub use doc_cache::CacheUsage;
pub use error::{Error, Result};
pub use ids::{CommentId, ContactId, CustomerId, DocId, PolicyId, ProblemId, UserId, VisitId};
pub use store::{Identity, Incoming, Options, ProblemAction, RaisedProblem, Store, SyncSession};
