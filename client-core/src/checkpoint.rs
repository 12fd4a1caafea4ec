//! Moving the write-ahead log into the database file off the write path.
//!
//! In WAL mode every commit appends pages to the log; a *checkpoint* copies them into the main
//! file and syncs it. Left to SQLite, the checkpoint runs inside whichever commit crosses the
//! threshold, and that one write takes several times as long as the others: it is what made
//! the p99 of `record_visit` miss its target (docs/benchmarks.md). Here a thread with its own
//! connection runs passive checkpoints instead, after a burst of writes or a quiet moment, while
//! the writer keeps going (a passive checkpoint never blocks a writer). Durability does not
//! depend on it: a committed write is in the log, which SQLite replays on the next open.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::db::{self, DatabaseKey};

/// Writes after which a checkpoint runs even if writes keep coming.
const BURST_WRITES: usize = 48;
/// Quiet time after the last write before a checkpoint runs.
const QUIET: Duration = Duration::from_millis(500);

enum Signal {
    Wrote,
    Stop,
}

/// The background checkpointer of one home database; stops when dropped.
pub struct Checkpointer {
    tx: Sender<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `path` (a home already opened by `db::open`).
    pub fn spawn(path: PathBuf, key: Option<DatabaseKey>) -> std::io::Result<Checkpointer> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("doorstep-checkpoint".into())
            .spawn(move || run(path, key, rx))?;
        Ok(Checkpointer {
            tx,
            thread: Some(thread),
        })
    }

    /// Tells the checkpointer a write was committed.
    pub fn wrote(&self) {
        let _ = self.tx.send(Signal::Wrote);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.tx.send(Signal::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(path: PathBuf, key: Option<DatabaseKey>, rx: Receiver<Signal>) {
    let conn = match db::open_checkpointer(&path, key.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            // The writer's own automatic checkpoint still bounds the log.
            tracing::warn!(error = %e, "background checkpoints are off");
            return;
        }
    };
    let mut pending = 0usize;
    loop {
        let signal = if pending == 0 {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(QUIET)
        };
        // Passive checkpoints never block the writer; one that finishes in a quiet moment
        // lets the next write start the log afresh (cut back to `journal_size_limit`).
        match signal {
            Ok(Signal::Wrote) => {
                pending += 1;
                if pending < BURST_WRITES {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
        pending = 0;
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "passive checkpoint did not run");
        }
    }
}
