//! Refused messages and spot-check marks on PostgreSQL ([`crate::store::Logs`]), read and
//! written as the SQLite store does.
//!
//! `sync_rejections` is written by the sync path (one row per device, document and message,
//! its `attempts` counted); this file only reads it. A spot-check mark is one row per agent
//! and week, replaced by `INSERT … ON CONFLICT DO UPDATE`. Times come out as RFC 3339 UTC with
//! milliseconds, as on SQLite.

use chrono::{DateTime, NaiveDate, Utc};
use client_core::UserId;

use super::accounts::{device_id, rfc3339};
use super::store::PgStore;
use crate::error::Result;
use crate::store::{Logs, RejectionRecord, SpotCheckMark};

impl Logs for PgStore {
    fn rejections(&self, limit: usize) -> Result<Vec<RejectionRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.db.write(|tx| {
            tx.query(
                "SELECT device, user_id, doc, code, message, first_at, last_at, attempts
                 FROM sync_rejections ORDER BY last_at DESC, id DESC LIMIT $1",
                &[&limit],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(RejectionRecord {
                    device: device_id(r.try_get(0)?)?,
                    user: r.try_get(1)?,
                    doc: r.try_get(2)?,
                    code: r.try_get(3)?,
                    message: r.try_get(4)?,
                    first_at: rfc3339(r.try_get(5)?),
                    last_at: rfc3339(r.try_get(6)?),
                    attempts: i64::from(r.try_get::<_, i32>(7)?),
                })
            })
            .collect()
    }

    fn mark_spot_check(
        &self,
        agent: &UserId,
        week_from: NaiveDate,
        by: &UserId,
        note: &str,
    ) -> Result<SpotCheckMark> {
        let at: DateTime<Utc> = self.db.write(|tx| {
            let rows = tx.query(
                "INSERT INTO spot_checks (agent, week_from, checked_by, note, at)
                 VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (agent, week_from) DO UPDATE SET checked_by = excluded.checked_by,
                     note = excluded.note, at = excluded.at
                 RETURNING at",
                &[&agent.as_str(), &week_from, &by.as_str(), &note],
            )?;
            Ok(rows
                .first()
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or_else(Utc::now))
        })?;
        Ok(SpotCheckMark {
            agent: agent.clone(),
            week_from,
            checked_by: by.clone(),
            note: note.to_string(),
            at: rfc3339(at),
        })
    }

    fn spot_check_marks(
        &self,
        agents: &[UserId],
        week_from: NaiveDate,
    ) -> Result<Vec<SpotCheckMark>> {
        let names: Vec<&str> = agents.iter().map(|a| a.as_str()).collect();
        let rows = self.db.write(|tx| {
            tx.query(
                "SELECT agent, checked_by, note, at FROM spot_checks
                 WHERE week_from = $1 AND agent = ANY($2)
                 ORDER BY agent COLLATE \"C\"",
                &[&week_from, &names],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(SpotCheckMark {
                    agent: r.try_get::<_, String>(0)?.parse()?,
                    week_from,
                    checked_by: r.try_get::<_, String>(1)?.parse()?,
                    note: r.try_get(2)?,
                    at: rfc3339(r.try_get(3)?),
                })
            })
            .collect()
    }
}
