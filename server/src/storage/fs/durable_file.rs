//! Durable, atomic files: the header format of part and object files, and write-beside-fsync-rename.
//!
//! Part and object files start with a fixed 4 KiB header (magic, JSON length, JSON metadata), then the
//! bytes. Keeping the metadata inside the file means one rename publishes data and metadata together:
//! there is no moment where a part's bytes and its md5 disagree. 4 KiB keeps the payload page-aligned,
//! which suits `copy_file_range` when parts are assembled.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AppError, AppResult};

pub const HEADER_LEN: u64 = 4096;
const MAGIC: &[u8; 8] = b"PARTUP1\n";

/// Writes `meta` as the header at the start of `file` (the payload follows at `HEADER_LEN`).
pub fn write_header<M: Serialize>(file: &File, meta: &M) -> io::Result<()> {
    let json = serde_json::to_vec(meta)?;
    let mut block = vec![0u8; HEADER_LEN as usize];
    if json.len() + 12 > block.len() {
        return Err(io::Error::other("metadata does not fit the file header"));
    }
    block[..8].copy_from_slice(MAGIC);
    block[8..12].copy_from_slice(&(json.len() as u32).to_le_bytes());
    block[12..12 + json.len()].copy_from_slice(&json);
    file.write_all_at(&block, 0)
}

/// Reads the header of a part or object file; the file's position is left at the payload.
pub fn read_header<M: DeserializeOwned>(file: &mut File) -> io::Result<M> {
    let mut block = vec![0u8; HEADER_LEN as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut block)?;
    if &block[..8] != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a partup data file",
        ));
    }
    let len = u32::from_le_bytes(block[8..12].try_into().expect("4 bytes")) as usize;
    if 12 + len > block.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "corrupt partup header",
        ));
    }
    let meta = serde_json::from_slice(&block[12..12 + len])?;
    Ok(meta)
}

/// Starts writing `len` bytes of `file` from `offset` back to disk without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so the disk works while the caller goes on producing
/// the rest, and the final `sync_all` has little left to wait for. Only a hint: it never makes
/// anything durable by itself, and where it is unsupported nothing happens.
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; no memory is passed.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// fsync a directory so a rename or create inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes a small file (a record) atomically and durably: temp file in `tmp_dir`, fsync, rename,
/// fsync the directory. Readers see the old file or the new one.
pub fn write_atomic(tmp_dir: &Path, target: &Path, content: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir)?;
    tmp.write_all(content)?;
    tmp.flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    sync_dir(target.parent().expect("target has a parent"))
}

/// A small file's content; `None` when it does not exist.
pub fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(content) => Ok(Some(content)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs blocking filesystem work off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> AppResult<T> + Send + 'static,
) -> AppResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::internal(format!("storage task failed: {e}")))?
}
