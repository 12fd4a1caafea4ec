//! Lock files: a file in a directory held locked for as long as a process keeps it open.
//!
//! Two things a process must not share with another are guarded this way: a SQLite data
//! directory being served or migrated (`store::sqlite::hold_serve_lock`) and a desk directory
//! (`desk::Desks::hold_dir`, one Automerge actor per desk home). Both want the same thing —
//! take the lock without waiting, or learn that another process holds it — and differ only
//! in what they tell the user, so the taking lives here once.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Takes `dir/name` (creating the directory and the file if needed) shared or exclusive,
/// without waiting: `Some(file)`, locked until it is dropped, or `None` when another holder's
/// lock conflicts with it.
pub fn try_hold(dir: &Path, name: &str, exclusive: bool) -> Result<Option<File>> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    let taken = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match taken {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}
