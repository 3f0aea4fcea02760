//! Part files: a header (md5, size) and the bytes. A part on its way to disk is a temporary file in
//! `tmp/`, its header written and fsynced once the bytes are verified, renamed to its part file on
//! commit; dropped before that, the file is deleted.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use partup_wire::{md5_to_hex, parse_md5_hex};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::durable_file::{
    HEADER_LEN, blocking, read_header, start_writeback, sync_dir, write_header,
};
use super::layout::Layout;
use crate::error::{AppError, AppResult};
use crate::storage::backend::{PartDigest, PartWriter, StoredPart};
use crate::storage::upload_id::UploadId;

/// Bytes received before they are handed to the blocking pool in one go: big enough that each
/// trip there moves a useful amount, small enough to stay far below the memory budget. The chunks
/// go as they came from the network, without a copy into a buffer of ours (a `BufWriter` over
/// `tokio::fs::File` copied every byte twice in user space before the kernel's own copy).
const PART_WRITE_BATCH: usize = 1 << 20;

/// Header of a part file.
#[derive(Debug, Serialize, Deserialize)]
struct PartHeader {
    md5: String,
    size: u64,
}

pub struct FsPartWriter {
    layout: Arc<Layout>,
    /// Deleted on drop until persisted.
    staged: Option<NamedTempFile>,
    /// The staged file's descriptor, shared with the blocking pool's writes.
    file: Arc<File>,
    /// Chunks received and not yet written, `pending_len` bytes in all.
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Where the next byte goes: the bytes follow the header.
    offset: u64,
}

impl FsPartWriter {
    pub async fn create(layout: Arc<Layout>) -> AppResult<FsPartWriter> {
        let tmp = layout.tmp_dir();
        let staged = blocking(move || Ok(NamedTempFile::new_in(tmp)?)).await?;
        let file = Arc::new(staged.as_file().try_clone()?);
        Ok(FsPartWriter {
            layout,
            staged: Some(staged),
            file,
            pending: Vec::new(),
            pending_len: 0,
            offset: HEADER_LEN,
        })
    }

    /// Writes the pending chunks. A writer dropped meanwhile (the client went away) deletes the
    /// staged file; the write in flight then lands in an unlinked file and is freed with it.
    async fn write_pending(&mut self) -> AppResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.pending);
        let file = self.file.clone();
        let offset = self.offset;
        self.offset = blocking(move || {
            let mut end = offset;
            for chunk in chunks {
                file.write_all_at(&chunk, end)?;
                end += chunk.len() as u64;
            }
            // The disk starts on this batch while the next one arrives: the part's fsync, which
            // its answer waits for, then has about one batch left to write instead of the part.
            start_writeback(&file, offset, end - offset);
            Ok(end)
        })
        .await?;
        self.pending_len = 0;
        Ok(())
    }
}

#[async_trait]
impl PartWriter for FsPartWriter {
    async fn write(&mut self, chunk: Bytes) -> AppResult<()> {
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= PART_WRITE_BATCH {
            self.write_pending().await?;
        }
        Ok(())
    }

    async fn seal(&mut self, digest: PartDigest) -> AppResult<()> {
        self.write_pending().await?;
        let staged = self.staged.take().expect("sealed once");
        let header = PartHeader {
            md5: md5_to_hex(&digest.md5),
            size: digest.size,
        };
        let staged = blocking(move || {
            write_header(staged.as_file(), &header)?;
            staged.as_file().sync_all()?;
            Ok(staged)
        })
        .await?;
        self.staged = Some(staged);
        Ok(())
    }

    async fn commit(mut self: Box<Self>, upload_id: &UploadId, part_number: u32) -> AppResult<()> {
        let staged = self.staged.take().expect("sealed before commit");
        let layout = self.layout.clone();
        let id = upload_id.clone();
        blocking(move || {
            staged
                .persist(layout.part_file(&id, part_number))
                .map_err(|e| e.error)?;
            sync_dir(&layout.parts_dir(&id))?;
            Ok(())
        })
        .await
    }
}

/// The upload's part files, by number.
pub fn read_stored_parts(layout: &Layout, id: &UploadId) -> AppResult<BTreeMap<u32, StoredPart>> {
    let mut parts = BTreeMap::new();
    let entries = match fs::read_dir(layout.parts_dir(id)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(parts),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let Some(part_number) = entry.file_name().to_str().and_then(Layout::part_number_of) else {
            continue;
        };
        let header: PartHeader = read_header(&mut File::open(entry.path())?)?;
        let md5 = parse_md5_hex(&header.md5).ok_or_else(|| {
            AppError::internal(format!("part {part_number} has a corrupt header"))
        })?;
        let digest = PartDigest {
            md5,
            size: header.size,
        };
        parts.insert(
            part_number,
            StoredPart {
                part_number,
                digest,
                source: String::new(),
            },
        );
    }
    Ok(parts)
}
