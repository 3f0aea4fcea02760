//! The plain-file baselines the server is compared with, run as the real tools: `dd` with
//! `conv=fsync` for ingest, `cat` + `sync FILE` for assembling parts into one file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Flushes every dirty page (not timed): each timed step starts with a clean page cache state.
pub fn sync_all() {
    let _ = Command::new("sync").status();
}

/// Drops `files` from the page cache (after a `sync`, so nothing dirty is left to drop), so the
/// next step reads them from disk whatever ran before it: with GiBs of parts, whichever side runs
/// second would otherwise find some of them evicted by the first side's output.
pub fn evict_from_page_cache(files: &[PathBuf]) {
    use std::os::fd::AsRawFd;
    for path in files {
        if let Ok(file) = std::fs::File::open(path) {
            // SAFETY: a plain syscall on an open descriptor; no memory is passed.
            unsafe {
                libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}

/// Copies `source` to `target` with `dd bs=1M conv=fsync`; returns the seconds it took.
pub fn dd_copy(source: &Path, target: &Path) -> f64 {
    let started = Instant::now();
    let status = Command::new("dd")
        .arg(format!("if={}", source.display()))
        .arg(format!("of={}", target.display()))
        .args(["bs=1M", "conv=fsync", "status=none"])
        .status()
        .expect("run dd");
    let secs = started.elapsed().as_secs_f64();
    assert!(status.success(), "dd failed");
    secs
}

/// `cat files... > target && sync target`; returns the seconds it took.
pub fn cat_into(files: &[PathBuf], target: &Path) -> f64 {
    let started = Instant::now();
    let out = std::fs::File::create(target).expect("create the cat target");
    let status = Command::new("cat")
        .args(files)
        .stdout(out)
        .status()
        .expect("run cat");
    assert!(status.success(), "cat failed");
    let status = Command::new("sync").arg(target).status().expect("run sync");
    let secs = started.elapsed().as_secs_f64();
    assert!(status.success(), "sync failed");
    secs
}
