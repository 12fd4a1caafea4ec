//! What stands between an anonymous caller and the password check: the throttle, a bounded
//! number of argon2 checks at once, and equal work for names that do not exist.
//!
//! Every password check costs 19 MiB and tens of milliseconds; unbounded, 64 callers guessing
//! at once grew the server to gigabytes (each blocking thread's allocator kept its freed
//! blocks). Here at most [`CONCURRENT_CHECKS`] run at once, each in working memory kept and
//! reused ([`logins::verify_password_in`]), so the checks' memory is fixed; a caller waiting
//! longer than [`QUEUE_WAIT`] is told `503 busy`. An account or an address that failed too often
//! is refused unheard with `429` and `Retry-After` ([`crate::throttle`]). A name with no
//! password (unknown, or an agent without one) is checked against an unmatchable hash, so
//! the answer takes as long as for a real manager.
//!
//! On one instance (SQLite) the throttle lives in this process's memory. Several instances on
//! one database (PostgreSQL) count in the database instead ([`LoginGuard::with_shared`],
//! [`throttle::SharedCounts`]), on a blocking thread: a guesser hopping between instances
//! meets the same lockouts.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use argon2::Block;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::logins;
use crate::throttle::{self, Scope, SharedCounts, Throttle};

/// Password checks running at once.
pub const CONCURRENT_CHECKS: usize = 2;

/// How long a login waits for a check to be free before it is told to come back.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The longest account name the throttle keys on (longer ones are cut: none exists).
const MAX_NAME_CHARS: usize = 64;

/// The login's guard, shared by every request.
pub struct LoginGuard {
    accounts: Mutex<Throttle<String>>,
    addresses: Mutex<Throttle<IpAddr>>,
    checks: Semaphore,
    queue_wait: Duration,
    memory: Mutex<Vec<Vec<Block>>>,
    unmatchable: OnceLock<String>,
    shared: Option<Arc<dyn SharedCounts>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn too_many(wait: Duration) -> Error {
    Error::TooManyAttempts {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// The throttle's key of a login name.
fn account_key(user: &str) -> String {
    user.trim().chars().take(MAX_NAME_CHARS).collect()
}

impl LoginGuard {
    /// A guard with nothing counted.
    pub fn new() -> Self {
        Self::with_checks(CONCURRENT_CHECKS, QUEUE_WAIT)
    }

    /// A guard running `checks` password checks at once, a login waiting at most `queue_wait`.
    pub fn with_checks(checks: usize, queue_wait: Duration) -> Self {
        LoginGuard {
            accounts: Mutex::new(Throttle::new(throttle::ACCOUNT)),
            addresses: Mutex::new(Throttle::new(throttle::ADDRESS)),
            checks: Semaphore::new(checks),
            queue_wait,
            memory: Mutex::new(Vec::new()),
            unmatchable: OnceLock::new(),
            shared: None,
        }
    }

    /// The same guard counting failures in `counts` (the database several instances share)
    /// instead of this process's memory.
    pub fn with_shared(mut self, counts: Arc<dyn SharedCounts>) -> Self {
        self.shared = Some(counts);
        self
    }

    /// Refuses (`429 too_many_attempts`) while the account or the address is locked out.
    pub async fn admit(&self, user: &str, addr: Option<IpAddr>) -> Result<(), Error> {
        let Some(shared) = self.shared.clone() else {
            let now = Instant::now();
            if let Some(addr) = addr {
                lock(&self.addresses).check(&addr, now).map_err(too_many)?;
            }
            return lock(&self.accounts)
                .check(&account_key(user), now)
                .map_err(too_many);
        };
        let account = account_key(user);
        let wait = on_blocking_thread(move || {
            let now = chrono::Utc::now();
            if let Some(addr) = addr {
                if let Err(wait) = shared.check(Scope::Address, &addr.to_string(), now)? {
                    return Ok(Err(wait));
                }
            }
            shared.check(Scope::Account, &account, now)
        })
        .await?;
        wait.map_err(too_many)
    }

    /// Counts a failed login.
    pub async fn failed(&self, user: &str, addr: Option<IpAddr>) {
        let Some(shared) = self.shared.clone() else {
            let now = Instant::now();
            lock(&self.accounts).failed(account_key(user), now);
            if let Some(addr) = addr {
                lock(&self.addresses).failed(addr, now);
            }
            return;
        };
        let account = account_key(user);
        let counted = on_blocking_thread(move || {
            let now = chrono::Utc::now();
            shared.failed(Scope::Account, &account, now)?;
            if let Some(addr) = addr {
                shared.failed(Scope::Address, &addr.to_string(), now)?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = counted {
            tracing::error!(error = %e, "a failed login could not be counted");
        }
    }

    /// Forgets the account's failures (not the address's: one good account must not let its
    /// holder keep guessing others').
    pub async fn succeeded(&self, user: &str) {
        let Some(shared) = self.shared.clone() else {
            lock(&self.accounts).succeeded(&account_key(user));
            return;
        };
        let account = account_key(user);
        let forgotten =
            on_blocking_thread(move || shared.succeeded(Scope::Account, &account)).await;
        if let Err(e) = forgotten {
            tracing::error!(error = %e, "a login's failures could not be forgotten");
        }
    }

    /// Checks `password` against `phc` (or, with none, against an unmatchable hash: the same
    /// work), waiting for a free check at most [`QUEUE_WAIT`], and counts the outcome for
    /// `user` and `addr`. The throttle is asked again once a check is free, and the outcome is
    /// counted before the check is freed: guesses sent all at once, admitted before the first
    /// of them failed, are refused unheard once the account or address is locked.
    pub async fn check(
        &self,
        user: &str,
        addr: Option<IpAddr>,
        phc: Option<String>,
        password: String,
    ) -> Result<bool, Error> {
        let permit = tokio::time::timeout(self.queue_wait, self.checks.acquire())
            .await
            .map_err(|_| Error::Busy {
                retry_after_secs: 5,
            })?
            .map_err(|_| Error::Internal("the password checks are closed".into()))?;
        self.admit(user, addr).await?;
        let phc = match phc {
            Some(phc) => phc,
            None => self
                .unmatchable
                .get_or_init(logins::unmatchable_hash)
                .clone(),
        };
        let mut memory = lock(&self.memory).pop().unwrap_or_default();
        let (ok, memory) = tokio::task::spawn_blocking(move || {
            let ok = logins::verify_password_in(&phc, &password, &mut memory);
            (ok, memory)
        })
        .await
        .map_err(|e| Error::Internal(format!("password check failed: {e}")))?;
        lock(&self.memory).push(memory);
        if ok {
            self.succeeded(user).await;
        } else {
            self.failed(user, addr).await;
        }
        drop(permit);
        Ok(ok)
    }
}

/// Runs the shared counts' (blocking) database work off the async threads.
async fn on_blocking_thread<R: Send + 'static>(
    f: impl FnOnce() -> crate::Result<R> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("login throttle task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_login_that_waits_too_long_for_a_check_is_told_to_come_back() {
        let guard = LoginGuard::with_checks(0, Duration::from_millis(20));
        let e = guard
            .check("S-01", None, None, "guess".into())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "busy");
        assert_eq!(e.retry_after_secs(), Some(5));
    }

    #[tokio::test]
    async fn a_locked_account_is_refused_before_and_after_the_wait() {
        let guard = LoginGuard::new();
        for _ in 0..throttle::ACCOUNT.free_failures {
            guard.failed("S-01", None).await;
        }
        assert_eq!(
            guard.admit("S-01", None).await.unwrap_err().code(),
            "too_many_attempts"
        );
        let e = guard
            .check("S-01", None, None, "x".into())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "too_many_attempts");
        assert!(guard.admit("S-02", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_check_counts_its_outcome() {
        let guard = LoginGuard::new();
        let phc = logins::hash_password("correct horse").unwrap();
        for i in 0..throttle::ACCOUNT.free_failures {
            let unknown = format!("U-{i}");
            assert!(!guard.check(&unknown, None, None, "x".into()).await.unwrap());
            assert!(!guard
                .check("S-01", None, Some(phc.clone()), "x".into())
                .await
                .unwrap());
        }
        assert_eq!(
            guard.admit("S-01", None).await.unwrap_err().code(),
            "too_many_attempts"
        );
        let guard = LoginGuard::new();
        for _ in 0..throttle::ACCOUNT.free_failures - 1 {
            guard.failed("S-01", None).await;
        }
        assert!(guard
            .check("S-01", None, Some(phc.clone()), "correct horse".into())
            .await
            .unwrap());
        guard.failed("S-01", None).await;
        assert!(
            guard.admit("S-01", None).await.is_ok(),
            "the success cleared the count"
        );
    }
}
