//! Documents and the sync of one request on PostgreSQL ([`crate::store::Documents`]): the
//! request runs in one transaction through the shared driver (`postgres/sync.rs`); the
//! change sequence is the change log's highest number.

use crate::accounts::Device;
use crate::error::{Error, Result};
use client_core::model::Customer;
use client_core::protocol::{SyncRequest, SyncResponse, PROTOCOL_VERSION};
use client_core::{CustomerId, DocId, UserId};

use super::store::PgStore;
use super::sync::{change_seq, sync_in};
use crate::store::sync::{log_refusals, Request};
use crate::store::Documents;

impl Documents for PgStore {
    fn sync(&self, device: &Device, request: &SyncRequest) -> Result<SyncResponse> {
        self.sync_within(device, request, None)
    }

    fn sync_within(
        &self,
        device: &Device,
        req: &SyncRequest,
        scope: Option<&DocId>,
    ) -> Result<SyncResponse> {
        if req.protocol != PROTOCOL_VERSION {
            return Err(Error::UnsupportedProtocol(req.protocol));
        }
        let codes = self.codes_of(&device.member.team)?;
        let request = Request {
            device,
            req,
            scope,
            codes: &codes,
            budget: self.sync_budget,
            spent: std::time::Duration::ZERO,
        };
        // One transaction for the whole request, run again from the start if PostgreSQL
        // breaks a deadlock: everything it decides is decided inside it.
        let outcome = self.db.write(|tx| sync_in(tx, &request))?;
        log_refusals(device, &outcome);
        let pb = self.playbook_of(&device.member.team)?;
        let playbook = (req.playbook.as_deref() != Some(pb.hash.as_str())).then_some(pb);
        Ok(SyncResponse {
            protocol: PROTOCOL_VERSION,
            rejected: outcome.rejections(),
            messages: outcome.messages,
            removed: outcome.removed,
            more: outcome.more,
            playbook,
        })
    }

    fn change_seq(&self) -> Result<i64> {
        self.db.write(change_seq)
    }

    fn assign(&self, customer: CustomerId, agent: &UserId, orphan: bool) -> Result<Customer> {
        self.assign_customer(customer, agent, orphan)
    }

    /// The PostgreSQL store keeps no document cache between requests.
    fn document_cache_bytes(&self) -> Option<u64> {
        Some(0)
    }
}
