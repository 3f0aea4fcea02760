//! How much room `--data`'s filesystem has: the one place that asks the kernel (`statvfs`).
//! The fs store refuses writes below `--min-free-space`, and metrics report it.

use std::io;
use std::path::Path;

/// Sizes of the filesystem holding a directory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub total: u64,
    /// Bytes an unprivileged process may still write (`f_bavail`, not `f_bfree`: the blocks
    /// reserved for root are not ours to fill).
    pub available: u64,
}

/// The space of the filesystem that holds `dir`.
pub fn probe(dir: &Path) -> io::Result<DiskSpace> {
    let stats = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    let block = stats.f_frsize.max(1);
    Ok(DiskSpace {
        total: stats.f_blocks.saturating_mul(block),
        available: stats.f_bavail.saturating_mul(block),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_directory_has_a_size_and_some_room() {
        let dir = tempfile::tempdir().unwrap();
        let space = probe(dir.path()).unwrap();
        assert!(space.total > 0);
        assert!(space.available <= space.total);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_zero() {
        assert!(probe(Path::new("/nonexistent/partup/free-space")).is_err());
    }
}
