//! Refused messages and spot-check marks on PostgreSQL ([`crate::store::Logs`]).
//!
//! Not yet written: every method answers an internal error naming itself.

use crate::error::Result;
use crate::store::{RejectionRecord, SpotCheckMark};
use chrono::NaiveDate;
use client_core::UserId;

use super::store::{not_yet, PgStore};
use crate::store::Logs;

impl Logs for PgStore {
    fn rejections(&self, _limit: usize) -> Result<Vec<RejectionRecord>> {
        Err(not_yet("Logs::rejections"))
    }

    fn mark_spot_check(
        &self,
        _agent: &UserId,
        _week_from: NaiveDate,
        _by: &UserId,
        _note: &str,
    ) -> Result<SpotCheckMark> {
        Err(not_yet("Logs::mark_spot_check"))
    }

    fn spot_check_marks(
        &self,
        _agents: &[UserId],
        _week_from: NaiveDate,
    ) -> Result<Vec<SpotCheckMark>> {
        Err(not_yet("Logs::spot_check_marks"))
    }
}
