//! What a store holds of the documents themselves: the team's Automerge documents, their
//! changes and each device's sync state, reached through the batched sync of one request.
//!
//! The sync rules (what a device may write, what it is sent) are `crate::verify` and the
//! store's sync module; this trait is what the HTTP layer, the managers' desks
//! (`crate::desk`) and `doorstep admin` call.

use client_core::model::Customer;
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{CustomerId, DocId, UserId};

use crate::accounts::Device;
use crate::error::Result;

/// Documents, their changes and the sync of one device's request.
pub trait Documents: Send + Sync {
    /// Runs one sync request of an authenticated, not revoked device (see `docs/protocol.md`).
    /// Promises: a request sent again (a lost answer) stores nothing twice; a refused message
    /// stores nothing of itself and is logged once (`Logs::rejections`), a retry counting an
    /// attempt; a document the device no longer reaches is listed in `removed`.
    fn sync(&self, device: &Device, request: &SyncRequest) -> Result<SyncResponse>;
    /// [`Documents::sync`], pushing only `scope` when it is given (a manager's desk syncs the
    /// one document it writes to). Messages the device sends are answered either way.
    fn sync_within(
        &self,
        device: &Device,
        request: &SyncRequest,
        scope: Option<&DocId>,
    ) -> Result<SyncResponse>;
    /// A number that grows whenever the server stores a change of a document (the live
    /// dashboard compares it before and after a sync); it never goes down.
    fn change_seq(&self) -> Result<i64>;
    /// Reassigns a customer to another agent, written by the server in the customer's
    /// document; with `orphan`, their normal policies become orphan policies (their agent
    /// left). Unknown customer or agent: `NotFound`.
    fn assign(&self, customer: CustomerId, agent: &UserId, orphan: bool) -> Result<Customer>;
    /// The document cache's estimated memory in bytes (`/metrics`), if it can be read without
    /// waiting for a request that holds the documents (`None` then; a store without a cache
    /// says `Some(0)`). Never blocks.
    fn document_cache_bytes(&self) -> Option<u64>;
    /// What the store's group commit did since it opened (`/metrics`): calls that wrote,
    /// fsyncs of the write-ahead log run, writes covered by another call's fsync. `None` where
    /// the database groups its own commits (PostgreSQL) or the store syncs each commit itself.
    /// Never blocks.
    fn group_commit_counts(&self) -> Option<GroupCommitCounts> {
        None
    }
}

/// What group commit did since the store opened (see `store::group_commit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupCommitCounts {
    /// Calls through the writer's lock that wrote; each waited for its writes on disk.
    pub writes: u64,
    /// fsyncs of the write-ahead log run.
    pub fsyncs: u64,
    /// Writes another call's fsync covered (`writes` = `fsyncs` + `covered` once all waited).
    pub covered: u64,
}
