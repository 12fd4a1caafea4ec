//! Backoff after failed logins: how long an account or an address must wait before its next
//! password is heard.
//!
//! A key (an account's name, a client's address) gets a few free failures; each failure past
//! them locks the key for twice as long as the one before (1 s, 2 s, 4 s, … up to 15 minutes),
//! and while it is locked every attempt is refused unheard — the right password too, so a
//! guesser learns nothing during a lockout. A success forgets an account's failures; failures
//! of a key quiet for an hour are forgotten. The table is bounded: past [`MAX_KEYS`] keys the
//! quietest are dropped. Plain state with the clock passed in: no HTTP, no tokio, testable
//! without waiting.
//!
//! Several instances behind one database (PostgreSQL) count together: the same [`Policy`]
//! decides ([`Policy::failures_after`], [`Policy::lockout`]) and the state per key lives in the
//! database ([`SharedCounts`], implemented by the PostgreSQL store), so a guesser hopping
//! between instances meets the same lockouts.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The most keys a throttle remembers.
pub const MAX_KEYS: usize = 10_000;

/// How a throttle counts.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures before the first lockout.
    pub free_failures: u32,
    /// The first lockout; each further failure doubles it.
    pub first_lockout: Duration,
    /// The longest lockout.
    pub max_lockout: Duration,
    /// A key with no failure for this long starts afresh.
    pub forget_after: Duration,
}

/// Per account: five tries, then backoff.
pub const ACCOUNT: Policy = Policy {
    free_failures: 5,
    first_lockout: Duration::from_secs(1),
    max_lockout: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(3600),
};

/// Per client address: room for an office of managers behind one address mistyping, then
/// backoff (spraying many accounts from one address is stopped here).
pub const ADDRESS: Policy = Policy {
    free_failures: 20,
    first_lockout: Duration::from_secs(1),
    max_lockout: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(3600),
};

impl Policy {
    /// The failures a key has counted after one more, given the count before and how long
    /// ago its last failure was (a key quiet for longer than `forget_after` starts afresh).
    pub fn failures_after(&self, before: u32, quiet_for: Duration) -> u32 {
        if quiet_for > self.forget_after {
            1
        } else {
            before.saturating_add(1)
        }
    }

    /// The lockout that `failures` failures start, if any: none within the free failures,
    /// then the first lockout, doubled for each failure past it, up to the longest.
    pub fn lockout(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?;
        Some(
            self.first_lockout
                .saturating_mul(2u32.saturating_pow(over.min(30)))
                .min(self.max_lockout),
        )
    }
}

/// What a throttle counts: an account's name or a client's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Login names ([`ACCOUNT`]).
    Account,
    /// Client addresses ([`ADDRESS`]).
    Address,
}

impl Scope {
    /// The policy of this scope.
    pub fn policy(self) -> Policy {
        match self {
            Scope::Account => ACCOUNT,
            Scope::Address => ADDRESS,
        }
    }

    /// The scope's name as stored (`account`, `address`).
    pub fn name(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
        }
    }
}

/// Failure counts kept where several server instances see them (a database), decided by
/// [`Scope::policy`] with the wall clock passed in. Each call is atomic per key: two
/// instances counting a failure of one key at once count two.
pub trait SharedCounts: Send + Sync {
    /// `Ok(Err(wait))` while `key` is locked out at `now`.
    fn check(
        &self,
        scope: Scope,
        key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::Result<Result<(), Duration>>;

    /// Counts a failure of `key` at `now`; returns the lockout it starts, if any. Keys quiet
    /// for longer than the policy's `forget_after` are purged from time to time, and past
    /// [`MAX_KEYS`] keys per scope the quietest go.
    fn failed(
        &self,
        scope: Scope,
        key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::Result<Option<Duration>>;

    /// Forgets `key`'s failures.
    fn succeeded(&self, scope: Scope, key: &str) -> crate::Result<()>;
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

/// Failed attempts per key.
#[derive(Debug)]
pub struct Throttle<K> {
    policy: Policy,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// An empty throttle.
    pub fn new(policy: Policy) -> Self {
        Throttle {
            policy,
            entries: HashMap::new(),
        }
    }

    /// `Err(wait)` while `key` is locked out.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure of `key`; returns the lockout it starts, if any.
    pub fn failed(&mut self, key: K, now: Instant) -> Option<Duration> {
        if !self.entries.contains_key(&key) && self.entries.len() >= MAX_KEYS {
            self.make_room(now);
        }
        let policy = self.policy;
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            locked_until: None,
            last_failure: now,
        });
        entry.failures = policy.failures_after(
            entry.failures,
            now.saturating_duration_since(entry.last_failure),
        );
        entry.last_failure = now;
        let lockout = policy.lockout(entry.failures)?;
        entry.locked_until = Some(now + lockout);
        Some(lockout)
    }

    /// Forgets `key`'s failures.
    pub fn succeeded(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops keys that are forgotten anyway; if none, the one whose last failure is oldest.
    fn make_room(&mut self, now: Instant) {
        let forget = self.policy.forget_after;
        self.entries.retain(|_, e| {
            now.saturating_duration_since(e.last_failure) <= forget
                || e.locked_until.is_some_and(|u| u > now)
        });
        if self.entries.len() >= MAX_KEYS {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_failures_then_doubling_lockouts_up_to_the_cap() {
        let mut t = Throttle::new(ACCOUNT);
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(t.failed("S-01", t0), None);
            assert!(t.check(&"S-01", t0).is_ok());
        }
        assert_eq!(t.failed("S-01", t0), Some(Duration::from_secs(1)));
        assert_eq!(t.check(&"S-01", t0), Err(Duration::from_secs(1)));
        assert!(
            t.check(&"S-02", t0).is_ok(),
            "other accounts are not locked"
        );
        let t1 = t0 + Duration::from_secs(1);
        assert!(t.check(&"S-01", t1).is_ok(), "the lockout ends");
        assert_eq!(t.failed("S-01", t1), Some(Duration::from_secs(2)));
        assert_eq!(t.failed("S-01", t1), Some(Duration::from_secs(4)));
        for _ in 0..40 {
            t.failed("S-01", t1);
        }
        assert_eq!(t.check(&"S-01", t1), Err(ACCOUNT.max_lockout));
    }

    #[test]
    fn success_and_quiet_forget_failures() {
        let mut t = Throttle::new(ACCOUNT);
        let t0 = Instant::now();
        for _ in 0..4 {
            t.failed("S-01", t0);
        }
        t.succeeded(&"S-01");
        assert_eq!(t.failed("S-01", t0), None, "counted afresh after a success");
        for _ in 0..3 {
            t.failed("S-01", t0);
        }
        let later = t0 + ACCOUNT.forget_after + Duration::from_secs(1);
        assert_eq!(
            t.failed("S-01", later),
            None,
            "counted afresh after an hour"
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut t = Throttle::new(ADDRESS);
        let t0 = Instant::now();
        for i in 0..MAX_KEYS + 50 {
            t.failed(i, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(t.len(), MAX_KEYS);
        assert!(t.check(&(MAX_KEYS + 49), t0).is_ok());
    }
}
