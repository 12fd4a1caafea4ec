//! Login throttling shared by every instance on one database ([`SharedCounts`] for
//! [`PgStore`]): the failure counts per account name and per client address live in
//! `login_throttle` (migration V7), and [`crate::throttle`]'s policy decides.
//!
//! A failure is counted under the key's row lock: the row is inserted if missing
//! (`ON CONFLICT DO NOTHING`, so two first failures take turns), locked, read, and updated
//! with what the policy says, in one transaction. The table is bounded: every
//! [`PURGE_EVERY`]th failure an instance counts, keys quiet for longer than the policy's
//! `forget_after` (and not locked) are deleted, and past [`MAX_KEYS`] keys per scope the
//! quietest go. The clock is the instance's (passed in): instances' clocks must agree to
//! within a second (NTP), as lockouts are seconds long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::store::PgStore;
use crate::error::Result;
use crate::throttle::{Scope, SharedCounts, MAX_KEYS};

/// How many counted failures (per process) between two purges of quiet keys.
pub const PURGE_EVERY: u64 = 64;

static COUNTED: AtomicU64 = AtomicU64::new(0);

fn since(later: DateTime<Utc>, earlier: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl SharedCounts for PgStore {
    fn check(
        &self,
        scope: Scope,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Duration>> {
        let until: Option<DateTime<Utc>> = self.db.write(|tx| {
            let rows = tx.query(
                "SELECT locked_until FROM login_throttle WHERE scope = $1 AND key = $2",
                &[&scope.name(), &key],
            )?;
            Ok(rows.first().and_then(|r| r.get(0)))
        })?;
        Ok(match until {
            Some(until) if until > now => Err(since(until, now)),
            _ => Ok(()),
        })
    }

    fn failed(&self, scope: Scope, key: &str, now: DateTime<Utc>) -> Result<Option<Duration>> {
        let policy = scope.policy();
        let lockout = self.db.write(|tx| {
            tx.execute(
                "INSERT INTO login_throttle (scope, key, failures, last_failure)
                 VALUES ($1, $2, 0, $3) ON CONFLICT (scope, key) DO NOTHING",
                &[&scope.name(), &key, &now],
            )?;
            let rows = tx.query(
                "SELECT failures, last_failure FROM login_throttle
                 WHERE scope = $1 AND key = $2 FOR UPDATE",
                &[&scope.name(), &key],
            )?;
            let (before, last): (i32, DateTime<Utc>) = match rows.first() {
                Some(r) => (r.get(0), r.get(1)),
                None => (0, now),
            };
            let failures =
                policy.failures_after(u32::try_from(before).unwrap_or(0), since(now, last));
            let lockout = policy.lockout(failures);
            tx.execute(
                "UPDATE login_throttle SET failures = $3, last_failure = GREATEST(last_failure, $4),
                     locked_until = COALESCE($5, locked_until)
                 WHERE scope = $1 AND key = $2",
                &[
                    &scope.name(),
                    &key,
                    &i32::try_from(failures).unwrap_or(i32::MAX),
                    &now,
                    &lockout.map(|l| after(now, l)),
                ],
            )?;
            Ok(lockout)
        })?;
        if COUNTED.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            self.purge_quiet(scope, now)?;
        }
        Ok(lockout)
    }

    fn succeeded(&self, scope: Scope, key: &str) -> Result<()> {
        self.db.write(|tx| {
            tx.execute(
                "DELETE FROM login_throttle WHERE scope = $1 AND key = $2",
                &[&scope.name(), &key],
            )?;
            Ok(())
        })
    }
}

impl PgStore {
    /// Deletes the keys of `scope` that the policy forgets anyway (quiet and not locked),
    /// then, past [`MAX_KEYS`], the quietest; returns how many went.
    pub fn purge_quiet(&self, scope: Scope, now: DateTime<Utc>) -> Result<u64> {
        let quiet_since = now
            - chrono::Duration::from_std(scope.policy().forget_after)
                .unwrap_or(chrono::Duration::MAX);
        self.db.write(|tx| {
            let forgotten = tx.execute(
                "DELETE FROM login_throttle WHERE scope = $1 AND last_failure < $2
                     AND (locked_until IS NULL OR locked_until <= $3)",
                &[&scope.name(), &quiet_since, &now],
            )?;
            let crowded = tx.execute(
                "DELETE FROM login_throttle WHERE scope = $1 AND key IN (
                     SELECT key FROM login_throttle WHERE scope = $1
                     ORDER BY last_failure DESC OFFSET $2)",
                &[&scope.name(), &(MAX_KEYS as i64)],
            )?;
            Ok(forgotten + crowded)
        })
    }
}
