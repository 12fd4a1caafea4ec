//! Documents and the sync of one request on PostgreSQL ([`crate::store::Documents`]).
//!
//! Not yet written: every method answers an internal error naming itself.

use crate::accounts::Device;
use crate::error::Result;
use client_core::model::Customer;
use client_core::protocol::{SyncRequest, SyncResponse};
use client_core::{CustomerId, DocId, UserId};

use super::store::{not_yet, PgStore};
use crate::store::Documents;

impl Documents for PgStore {
    fn sync(&self, _device: &Device, _request: &SyncRequest) -> Result<SyncResponse> {
        Err(not_yet("Documents::sync"))
    }

    fn sync_within(
        &self,
        _device: &Device,
        _request: &SyncRequest,
        _scope: Option<&DocId>,
    ) -> Result<SyncResponse> {
        Err(not_yet("Documents::sync_within"))
    }

    fn change_seq(&self) -> Result<i64> {
        Err(not_yet("Documents::change_seq"))
    }

    fn assign(&self, customer: CustomerId, agent: &UserId, orphan: bool) -> Result<Customer> {
        self.assign_customer(customer, agent, orphan)
    }

    fn document_cache_bytes(&self) -> Option<u64> {
        Some(0)
    }
}
