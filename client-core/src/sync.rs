//! The device's sync scheduler, sans I/O: events in, effects out.
//!
//! It decides *when* to sync — after local writes (debounced), when the network comes back,
//! when the app asks — and how to back off after failures (exponential, with jitter), without
//! ever touching a socket, a clock or a thread: the caller passes the time in and performs the
//! effects (start a round over HTTP, wake up later, tell the app). That keeps the hard part
//! testable with no server and no sleeping, and lets the same engine run under the command
//! line, a phone's background task or a deterministic test harness.
//!
//! Recording a visit never waits for any of this: a local write is an event, nothing more.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Tuning of the scheduler.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// How long after the last local write a sync starts (writes in a burst share one sync).
    pub debounce: Duration,
    /// The first retry delay after a failure.
    pub min_backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
    /// Seed of the jitter (fixed in tests, random on devices).
    pub jitter_seed: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            debounce: Duration::from_secs(2),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            jitter_seed: 0x5eed,
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A record was written locally.
    LocalWrite,
    /// The app reports the network state (`network_changed(online)`).
    NetworkChanged(bool),
    /// The user or the app asks for a sync now.
    SyncRequested,
    /// A wake-up asked for with [`Effect::WakeAt`] is due.
    Tick,
    /// A sync run finished: every document converged.
    Succeeded,
    /// A sync run failed; `retry` is false when retrying cannot help (bad token, revoked).
    Failed {
        /// What went wrong, for the status.
        error: String,
        /// Whether to retry with backoff.
        retry: bool,
        /// The server asked not to come back before this (a busy server's `Retry-After`):
        /// the retry waits at least this long, spread a little so that the phones it turned
        /// away do not all come back in the same second.
        retry_after: Option<Duration>,
    },
    /// The server said this device is revoked: its local data must go.
    Revoked,
}

/// What the caller must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Start a sync run now (exchange batches until converged).
    StartSync,
    /// Deliver [`Event::Tick`] at this instant (replaces any earlier wake-up).
    WakeAt(Instant),
    /// The status changed: tell the app (its screens refresh).
    StatusChanged(SyncStatus),
    /// Delete the local data (revoked device).
    WipeLocalData,
}

/// Where sync stands, for the app's status line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Whether the app reports a network.
    pub online: bool,
    /// Whether a sync run is under way.
    pub syncing: bool,
    /// Whether local writes wait to be synced.
    pub pending: bool,
    /// Consecutive failures since the last success.
    pub failures: u32,
    /// The last error, until the next success.
    pub last_error: Option<String>,
    /// Whether the device was revoked.
    pub revoked: bool,
}

/// The scheduler's state.
#[derive(Debug)]
pub struct SyncEngine {
    config: SyncConfig,
    status: SyncStatus,
    /// When the next sync is due, if one is.
    due: Option<Instant>,
    /// Writes arrived during the current run: another run follows.
    dirty_during_run: bool,
    rng: u64,
}

impl SyncEngine {
    /// A scheduler for a device that starts offline-unknown with `pending` writes or not.
    pub fn new(config: SyncConfig, online: bool, pending: bool) -> Self {
        let rng = config.jitter_seed | 1;
        SyncEngine {
            config,
            status: SyncStatus {
                online,
                pending,
                ..SyncStatus::default()
            },
            due: None,
            dirty_during_run: false,
            rng,
        }
    }

    /// The current status.
    pub fn status(&self) -> &SyncStatus {
        &self.status
    }

    /// When the engine next wants to act, if at all.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        // xorshift64*: deterministic for a seed, good enough to spread retries.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // Full jitter between 50% and 100% of the delay.
        let frac = 0.5 + (r >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
        d.mul_f64(frac)
    }

    fn backoff(&mut self) -> Duration {
        let exp = self.status.failures.saturating_sub(1).min(16);
        let d = self
            .config
            .min_backoff
            .saturating_mul(1 << exp)
            .min(self.config.max_backoff);
        self.jitter(d)
    }

    fn schedule(&mut self, at: Instant, effects: &mut Vec<Effect>) {
        // Keep the earlier of two wake-ups.
        let at = self.due.map_or(at, |d| d.min(at));
        if self.due != Some(at) {
            self.due = Some(at);
            effects.push(Effect::WakeAt(at));
        }
    }

    fn start_if_due(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.status.online && !self.status.syncing && !self.status.revoked {
            if let Some(due) = self.due {
                if due <= now {
                    self.due = None;
                    self.status.syncing = true;
                    self.dirty_during_run = false;
                    effects.push(Effect::StartSync);
                }
            }
        }
    }

    /// Feeds one event at time `now`; returns what to do.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Effect> {
        let before = self.status.clone();
        let mut effects = vec![];
        if self.status.revoked {
            return effects;
        }
        match event {
            Event::LocalWrite => {
                self.status.pending = true;
                if self.status.syncing {
                    self.dirty_during_run = true;
                } else if self.status.failures == 0 {
                    // Debounce: every write pushes the sync back a little.
                    self.due = None;
                    self.schedule(now + self.config.debounce, &mut effects);
                }
            }
            Event::NetworkChanged(online) => {
                self.status.online = online;
                if online {
                    // Back online: try at once, forgetting the backoff.
                    self.status.failures = 0;
                    self.due = None;
                    self.schedule(now, &mut effects);
                }
            }
            Event::SyncRequested => {
                self.due = None;
                self.schedule(now, &mut effects);
            }
            Event::Tick => {}
            Event::Succeeded => {
                self.status.syncing = false;
                self.status.failures = 0;
                self.status.last_error = None;
                self.status.pending = self.dirty_during_run;
                if self.dirty_during_run {
                    self.schedule(now + self.config.debounce, &mut effects);
                }
            }
            Event::Failed {
                error,
                retry,
                retry_after,
            } => {
                self.status.syncing = false;
                self.status.failures += 1;
                self.status.last_error = Some(error);
                if retry {
                    let mut delay = self.backoff();
                    if let Some(wait) = retry_after {
                        // Between 100% and 150% of the server's wait.
                        let spread = wait + self.jitter(wait).saturating_sub(wait / 2);
                        delay = delay.max(spread);
                    }
                    self.due = None;
                    self.schedule(now + delay, &mut effects);
                }
            }
            Event::Revoked => {
                self.status.revoked = true;
                self.status.syncing = false;
                self.due = None;
                effects.push(Effect::WipeLocalData);
            }
        }
        self.start_if_due(now, &mut effects);
        if self.status != before {
            effects.push(Effect::StatusChanged(self.status.clone()));
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(e: &[Effect]) -> bool {
        e.contains(&Effect::StartSync)
    }

    #[test]
    fn writes_are_debounced_into_one_sync() {
        let t0 = Instant::now();
        let mut e = SyncEngine::new(SyncConfig::default(), true, false);
        assert!(!starts(&e.handle(t0, Event::LocalWrite)));
        let t1 = t0 + Duration::from_millis(500);
        assert!(!starts(&e.handle(t1, Event::LocalWrite)));
        // Not yet 2 s after the last write.
        assert!(!starts(&e.handle(t0 + Duration::from_secs(2), Event::Tick)));
        assert!(starts(&e.handle(t1 + Duration::from_secs(2), Event::Tick)));
        assert!(e.status().syncing);
    }

    #[test]
    fn offline_writes_wait_for_the_network_and_then_sync_at_once() {
        let t0 = Instant::now();
        let mut e = SyncEngine::new(SyncConfig::default(), false, false);
        e.handle(t0, Event::LocalWrite);
        assert!(!starts(
            &e.handle(t0 + Duration::from_secs(60), Event::Tick)
        ));
        assert!(e.status().pending);
        let fx = e.handle(t0 + Duration::from_secs(61), Event::NetworkChanged(true));
        assert!(starts(&fx));
    }

    #[test]
    fn failures_back_off_exponentially_with_jitter_up_to_the_cap() {
        let t0 = Instant::now();
        let cfg = SyncConfig::default();
        let mut e = SyncEngine::new(cfg.clone(), true, true);
        assert!(starts(&e.handle(t0, Event::SyncRequested)));
        let mut now = t0;
        let mut delays = vec![];
        for _ in 0..12 {
            let fx = e.handle(
                now,
                Event::Failed {
                    error: "connection refused".into(),
                    retry: true,
                    retry_after: None,
                },
            );
            let at = fx
                .iter()
                .find_map(|f| match f {
                    Effect::WakeAt(at) => Some(*at),
                    _ => None,
                })
                .expect("a retry is scheduled");
            delays.push(at - now);
            assert!(!starts(
                &e.handle(at - Duration::from_millis(1), Event::Tick)
            ));
            assert!(starts(&e.handle(at, Event::Tick)));
            now = at;
        }
        assert!(delays[0] >= cfg.min_backoff / 2 && delays[0] <= cfg.min_backoff);
        assert!(delays[3] > delays[0] * 3, "{delays:?}");
        assert!(delays.iter().all(|d| *d <= cfg.max_backoff));
        assert!(delays[11] >= cfg.max_backoff / 2);
        assert_eq!(e.status().failures, 12);
        // Success clears the failure count and the error.
        e.handle(now, Event::Succeeded);
        assert_eq!(e.status().failures, 0);
        assert_eq!(e.status().last_error, None);
    }

    #[test]
    fn a_write_during_a_run_is_synced_by_a_following_run() {
        let t0 = Instant::now();
        let mut e = SyncEngine::new(SyncConfig::default(), true, true);
        assert!(starts(&e.handle(t0, Event::SyncRequested)));
        e.handle(t0, Event::LocalWrite);
        e.handle(t0, Event::Succeeded);
        assert!(e.status().pending);
        assert!(starts(&e.handle(t0 + Duration::from_secs(3), Event::Tick)));
    }

    #[test]
    fn revocation_wipes_and_stops_everything() {
        let t0 = Instant::now();
        let mut e = SyncEngine::new(SyncConfig::default(), true, false);
        assert!(e
            .handle(t0, Event::Revoked)
            .contains(&Effect::WipeLocalData));
        assert!(!starts(&e.handle(t0, Event::SyncRequested)));
        assert!(e.status().revoked);
    }

    #[test]
    fn a_hopeless_failure_does_not_retry_by_itself() {
        let t0 = Instant::now();
        let mut e = SyncEngine::new(SyncConfig::default(), true, true);
        e.handle(t0, Event::SyncRequested);
        let fx = e.handle(
            t0,
            Event::Failed {
                error: "token refused".into(),
                retry: false,
                retry_after: None,
            },
        );
        assert!(!fx.iter().any(|f| matches!(f, Effect::WakeAt(_))));
        assert!(starts(
            &e.handle(t0 + Duration::from_secs(1), Event::SyncRequested)
        ));
    }

    #[test]
    fn a_busy_server_is_not_asked_again_before_its_retry_after() {
        let t0 = Instant::now();
        let mut e = SyncEngine::new(SyncConfig::default(), true, true);
        e.handle(t0, Event::SyncRequested);
        let fx = e.handle(
            t0,
            Event::Failed {
                error: "busy".into(),
                retry: true,
                retry_after: Some(Duration::from_secs(20)),
            },
        );
        let at = fx
            .iter()
            .find_map(|f| match f {
                Effect::WakeAt(at) => Some(*at),
                _ => None,
            })
            .expect("a retry is scheduled");
        // The first backoff alone would be ~1 s; the server's 20 s wins, spread up to 30 s.
        assert!(at - t0 >= Duration::from_secs(20), "{:?}", at - t0);
        assert!(at - t0 <= Duration::from_secs(30), "{:?}", at - t0);
        assert!(!starts(
            &e.handle(t0 + Duration::from_secs(19), Event::Tick)
        ));
        assert!(starts(&e.handle(at, Event::Tick)));
    }
}
