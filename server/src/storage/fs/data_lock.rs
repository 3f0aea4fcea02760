//! One server per data directory: an advisory lock (`flock`) on `DATA/partup-server.lock`, taken
//! before anything in the directory is touched and held for the life of the process.
//!
//! Two servers on one directory would each empty the other's `tmp/` at start and assemble the same
//! uploads at once. The kernel drops the lock with the process, however it ends (kill -9, a crash),
//! so a restart never finds a stale lock; the pid written in the file only names the holder in the
//! refusal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

/// The lock file's name, directly under `--data`.
pub const LOCK_FILE: &str = "partup-server.lock";

/// The held lock: released when dropped or when the process ends.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; its pid, as it wrote it.
    InUse {
        pid: Option<u32>,
    },
    Io(io::Error),
}

impl From<io::Error> for LockError {
    fn from(e: io::Error) -> Self {
        LockError::Io(e)
    }
}

/// Takes the lock of data directory `root` (creating the directory if needed), without waiting.
pub fn lock_data_dir(root: &Path) -> Result<DataDirLock, LockError> {
    fs::create_dir_all(root)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(root.join(LOCK_FILE))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            return Err(LockError::InUse {
                pid: holder_pid(&mut file),
            });
        }
        Err(e) => return Err(LockError::Io(e.into())),
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

/// The pid the holder wrote (absent if it has not written it yet).
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_data_dir(dir.path()).unwrap();
        match lock_data_dir(dir.path()) {
            Err(LockError::InUse { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        lock_data_dir(dir.path()).unwrap();
    }
}
