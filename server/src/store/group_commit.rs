//! Group commit for the SQLite store's document writer: requests share fsyncs, and none is
//! done while the document lock is held.
//!
//! The writer's connection commits with `synchronous = NORMAL` (in WAL mode a commit writes its
//! frames to the `-wal` file and makes them visible, without syncing), and every call through
//! the lock (`SqliteStore::with_core`) then waits **outside the lock** until the WAL is synced
//! past everything committed up to the end of its call — what `synchronous = FULL` does inside
//! each commit, deferred until the lock is free and shared: one request's fsync covers every
//! commit written before it started, so while one fsync runs, the requests that commit
//! meanwhile wait for the next one together. The promise is unchanged: no answer leaves
//! before what it stored, and everything it read, is on disk (an fsync started after its own
//! commit covers every commit it could have read). SQLite itself syncs the WAL before a
//! checkpoint copies it into the database file and the database file after, so a checkpoint
//! never makes a synced commit depend on an unsynced one.
//!
//! What differs from `FULL`: for the length of an fsync, a commit is visible before it is
//! durable — to a reader outside the lock (a dashboard view, a premerge) — and a power cut in
//! that window takes it back; no device was told it was stored, so its device sends it again.
//! A killed process loses nothing either way (the frames are in the OS's cache).
//!
//! If the database is not in WAL mode (a filesystem without shared memory), the writer keeps
//! `FULL` and nothing is grouped.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::GroupCommitCounts;

/// The WAL's sync state, shared by every request of one store.
#[derive(Debug)]
pub(super) struct GroupCommit {
    /// The `-wal` file beside the database (opened for each fsync: SQLite may truncate it
    /// after a checkpoint, never replace it while the server has it open, but opening costs
    /// microseconds and never syncs a stale inode).
    wal: PathBuf,
    /// Calls through the writer's lock that changed rows (each may hold several commits).
    written: AtomicU64,
    /// Of those, the last one known to be on disk.
    synced: AtomicU64,
    /// Held by the one request running an fsync; the others wait on it, then find their
    /// writes covered.
    leader: Mutex<()>,
    /// Figures since the store opened.
    counts: GroupCounts,
}

/// What a call waits for before its answer leaves.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    /// Every write up to this one must be on disk.
    upto: u64,
    /// Whether the call wrote (for the counts).
    wrote: bool,
}

/// What group commit did since the store opened.
#[derive(Debug, Default)]
struct GroupCounts {
    /// Calls through the writer's lock that wrote (each waits for its writes to be on disk).
    writes: AtomicU64,
    /// fsyncs of the WAL that were run.
    fsyncs: AtomicU64,
    /// Writing calls whose writes another call's fsync covered (the others ran one).
    covered: AtomicU64,
}

impl GroupCommit {
    /// Group commit for the database at `db` (its WAL is `<db>-wal`).
    pub(super) fn new(db: &Path) -> GroupCommit {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        GroupCommit {
            wal: PathBuf::from(wal),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            leader: Mutex::new(()),
            counts: GroupCounts::default(),
        }
    }

    /// Under the writer's lock, at the end of a call: what the call waits for once the lock
    /// is released — its own writes if it wrote, else the last call's (it may have read them).
    pub(super) fn ticket(&self, wrote: bool) -> Ticket {
        if wrote {
            self.counts.writes.fetch_add(1, Ordering::Relaxed);
            Ticket {
                upto: self.written.fetch_add(1, Ordering::AcqRel) + 1,
                wrote,
            }
        } else {
            Ticket {
                upto: self.written.load(Ordering::Acquire),
                wrote,
            }
        }
    }

    /// Outside the writer's lock: returns once every write up to the ticket's is on disk,
    /// running the fsync itself unless another call's covers it. An fsync error is returned to
    /// every call it was meant to cover (their answers must not say "stored"); the next call
    /// tries again.
    pub(super) fn wait_durable(&self, ticket: Ticket) -> io::Result<()> {
        let covered = || {
            let yes = self.synced.load(Ordering::Acquire) >= ticket.upto;
            if yes && ticket.wrote {
                self.counts.covered.fetch_add(1, Ordering::Relaxed);
            }
            yes
        };
        if covered() {
            return Ok(());
        }
        let _leader = self.leader.lock().unwrap_or_else(|e| e.into_inner());
        if covered() {
            return Ok(());
        }
        // Every call counted up to here has committed (the count is taken after the commit,
        // under the lock): this fsync covers all of them, not only this one.
        let upto = self.written.load(Ordering::Acquire);
        File::open(&self.wal)?.sync_data()?;
        self.counts.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.synced.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// Writing calls whose writes are not known to be on disk yet (0 once every answer that
    /// was sent had its writes synced).
    #[cfg(test)]
    pub(super) fn unsynced(&self) -> u64 {
        self.written.load(Ordering::Acquire) - self.synced.load(Ordering::Acquire)
    }

    /// What it did since the store opened.
    pub(super) fn counts(&self) -> GroupCommitCounts {
        let c = &self.counts;
        GroupCommitCounts {
            writes: c.writes.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            covered: c.covered.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn counts(writes: u64, fsyncs: u64, covered: u64) -> GroupCommitCounts {
        GroupCommitCounts {
            writes,
            fsyncs,
            covered,
        }
    }

    #[test]
    fn a_call_that_wrote_waits_for_an_fsync_one_that_only_read_for_the_last_write() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(dir.path().join("x.db-wal"), b"frames").unwrap();
        let g = GroupCommit::new(&db);
        // Nothing written yet: a reading call has nothing to wait for.
        let t = g.ticket(false);
        g.wait_durable(t).unwrap();
        assert_eq!(g.counts(), counts(0, 0, 0));
        let t1 = g.ticket(true);
        let t2 = g.ticket(true);
        // One fsync covers both writes; the reading call after them is covered too.
        g.wait_durable(t2).unwrap();
        g.wait_durable(t1).unwrap();
        let t3 = g.ticket(false);
        g.wait_durable(t3).unwrap();
        assert_eq!(
            g.counts(),
            counts(2, 1, 1),
            "2 writes, 1 fsync, 1 write covered by another's"
        );
        // A failed fsync is every waiter's error, and the write stays owed.
        std::fs::remove_file(dir.path().join("x.db-wal")).unwrap();
        let t4 = g.ticket(true);
        assert!(g.wait_durable(t4).is_err());
        std::fs::write(dir.path().join("x.db-wal"), b"frames").unwrap();
        g.wait_durable(t4).unwrap();
        assert_eq!(g.counts(), counts(3, 2, 1));
    }

    #[test]
    fn concurrent_writers_share_fsyncs() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(dir.path().join("x.db-wal"), vec![7u8; 1 << 20]).unwrap();
        let g = Arc::new(GroupCommit::new(&db));
        let writer = Arc::new(Mutex::new(()));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (g, writer) = (g.clone(), writer.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let t = {
                            let _lock = writer.lock().unwrap();
                            g.ticket(true)
                        };
                        g.wait_durable(t).unwrap();
                        assert!(g.synced.load(Ordering::Acquire) >= t.upto);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = g.counts();
        assert_eq!(c.writes, 400);
        // Every write either ran an fsync or was covered by one; with 8 threads at once,
        // some were covered.
        assert_eq!(c.fsyncs + c.covered, c.writes);
        assert!(c.fsyncs < c.writes, "{c:?}");
        assert_eq!(g.synced.load(Ordering::Acquire), 400);
    }
}
