//! Part files: a header (md5, size) and the bytes. A part on its way to disk is a temporary file in
//! `tmp/`, its header written and fsynced once the bytes are verified, renamed to its part file on
//! commit; dropped before that, the file is deleted.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, SeekFrom};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use partup_wire::{md5_to_hex, parse_md5_hex};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::durable_file::{HEADER_LEN, blocking, read_header, sync_dir, write_header};
use super::layout::Layout;
use crate::error::{AppError, AppResult};
use crate::storage::backend::{PartDigest, PartWriter, StoredPart};
use crate::storage::upload_id::UploadId;

/// Size of the buffer between the network and a part file: big enough that each write to the
/// blocking pool moves a useful amount, small enough to stay far below the memory budget.
const PART_WRITE_BUFFER: usize = 1 << 20;

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
    writer: BufWriter<tokio::fs::File>,
}

impl FsPartWriter {
    pub async fn create(layout: Arc<Layout>) -> AppResult<FsPartWriter> {
        let tmp = layout.tmp_dir();
        let staged = blocking(move || Ok(NamedTempFile::new_in(tmp)?)).await?;
        let mut file = tokio::fs::File::from_std(staged.as_file().try_clone()?);
        file.seek(SeekFrom::Start(HEADER_LEN)).await?;
        Ok(FsPartWriter {
            layout,
            staged: Some(staged),
            writer: BufWriter::with_capacity(PART_WRITE_BUFFER, file),
        })
    }
}

#[async_trait]
impl PartWriter for FsPartWriter {
    async fn write(&mut self, chunk: Bytes) -> AppResult<()> {
        Ok(self.writer.write_all(&chunk).await?)
    }

    async fn seal(&mut self, digest: PartDigest) -> AppResult<()> {
        self.writer.flush().await?;
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
