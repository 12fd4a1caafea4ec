//! What a store logs beside the documents: refused sync messages (for `doorstep admin
//! rejections`) and the managers' spot-check marks (their own bookkeeping, which no phone
//! holds).

use chrono::NaiveDate;
use client_core::UserId;

use super::{RejectionRecord, SpotCheckMark};
use crate::error::Result;

/// Rejections and spot-check marks.
pub trait Logs: Send + Sync {
    /// The latest refused sync messages, newest first, at most `limit`. The same message
    /// refused again is one record with `attempts` counted, not a second record.
    fn rejections(&self, limit: usize) -> Result<Vec<RejectionRecord>>;
    /// Marks an agent's week (cycle starting `week_from`) as spot-checked by `by` with a note;
    /// marking it again replaces the mark.
    fn mark_spot_check(
        &self,
        agent: &UserId,
        week_from: NaiveDate,
        by: &UserId,
        note: &str,
    ) -> Result<SpotCheckMark>;
    /// The spot-check marks of a week (cycle starting `week_from`) for these agents, by agent.
    fn spot_check_marks(
        &self,
        agents: &[UserId],
        week_from: NaiveDate,
    ) -> Result<Vec<SpotCheckMark>>;
}
