//! Object files: assembled from part files beside their final name, fsynced, renamed in; read back
//! from an open file, which keeps its version readable even if a newer complete replaces it.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use tokio::io::AsyncSeekExt;

use super::durable_file::{HEADER_LEN, read_header, start_writeback, sync_dir, write_header};
use super::layout::Layout;
use crate::error::{AppError, AppResult};
use crate::storage::backend::{
    AssemblyPlan, ByteStream, ObjectReader, OpenedObject, ReadFailure, StoredPart,
};
use crate::storage::content_index::ObjectCopy;
use crate::storage::upload_id::UploadId;

/// Read size when serving objects.
const OBJECT_READ_CHUNK: usize = 256 << 10;

/// Header of an object file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectHeader {
    resource_key: String,
    size: u64,
    etag: String,
}

/// Concatenates the planned parts into a new object file beside its final name, then renames it in
/// (shown at once, without a completion record: `completion.rs` publishes both together).
pub fn assemble_object(layout: &Layout, plan: &AssemblyPlan) -> AppResult<()> {
    let assembled = assemble_staged(layout, plan)?;
    let target = object_target(layout, &plan.resource_key)?;
    assembled.persist(&target).map_err(|e| e.error)?;
    sync_dir(
        target
            .parent()
            .expect("object files live in a shard directory"),
    )?;
    Ok(())
}

/// Concatenates the planned parts into a new object file in `tmp/`, fsynced, that no reader sees
/// yet. On any failure (a full disk included) the file is deleted before this returns.
pub fn assemble_staged(layout: &Layout, plan: &AssemblyPlan) -> AppResult<NamedTempFile> {
    let mut assembled = NamedTempFile::new_in(layout.tmp_dir())?;
    write_header(
        assembled.as_file(),
        &ObjectHeader {
            resource_key: plan.resource_key.clone(),
            size: plan.size,
            etag: plan.etag.clone(),
        },
    )?;
    assembled.as_file_mut().seek(SeekFrom::Start(HEADER_LEN))?;
    let mut written = HEADER_LEN;
    for part in &plan.parts {
        append_part(layout, &plan.upload_id, part, assembled.as_file_mut())?;
        // The disk writes this part while the next ones are copied: the final fsync then waits
        // for the tail only, not for the whole object (what `cat` + `sync` would wait for).
        start_writeback(assembled.as_file(), written, part.digest.size);
        written += part.digest.size;
    }
    assembled.as_file().sync_all()?;
    Ok(assembled)
}

/// A new object file for `copy.resource_key` in `tmp/`, fsynced, that no reader sees yet, with
/// the payload of the object file of `source` when that still has `copy`'s size and etag; `None`
/// when it is gone or holds other content now. The file opened is the version checked and copied,
/// even if a complete replaces it meanwhile. The payload is copied with `copy_file_range`, which
/// on a filesystem that can share extents (XFS, btrfs) shares them instead: both object files start
/// their payload at the same block-aligned offset, so the copy costs no space there.
pub fn copy_staged(
    layout: &Layout,
    source: &str,
    copy: &ObjectCopy,
) -> AppResult<Option<NamedTempFile>> {
    let Some(mut source_file) = open_object_file(layout, source)? else {
        return Ok(None);
    };
    let header: ObjectHeader = read_header(&mut source_file)?;
    if header.resource_key != source || header.size != copy.size || header.etag != copy.etag {
        return Ok(None);
    }
    if source_file.metadata()?.len() != HEADER_LEN + copy.size {
        return Err(AppError::internal(format!(
            "object file {} has the wrong length",
            layout.object_file(source).display()
        )));
    }
    let mut staged = NamedTempFile::new_in(layout.tmp_dir())?;
    write_header(
        staged.as_file(),
        &ObjectHeader {
            resource_key: copy.resource_key.clone(),
            size: copy.size,
            etag: copy.etag.clone(),
        },
    )?;
    source_file.seek(SeekFrom::Start(HEADER_LEN))?;
    staged.as_file_mut().seek(SeekFrom::Start(HEADER_LEN))?;
    let copied = io::copy(
        &mut io::Read::take(source_file, copy.size),
        staged.as_file_mut(),
    )?;
    if copied != copy.size {
        return Err(AppError::internal(
            "an object file was shorter than its header says",
        ));
    }
    staged.as_file().sync_all()?;
    Ok(Some(staged))
}

/// The object file of `key` opened, or `None` when there is none.
fn open_object_file(layout: &Layout, key: &str) -> AppResult<Option<File>> {
    match File::open(layout.object_file(key)) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The object file of `resource_key`, its shard directory created (durably) when missing.
pub fn object_target(layout: &Layout, resource_key: &str) -> io::Result<PathBuf> {
    let target = layout.object_file(resource_key);
    let shard = target
        .parent()
        .expect("object files live in a shard directory");
    if !shard.exists() {
        fs::create_dir_all(shard)?;
        sync_dir(&layout.objects_dir())?;
    }
    Ok(target)
}

/// The key an object file (complete, a pending one included) was assembled for.
pub fn key_of_object_file(path: &Path) -> io::Result<String> {
    let header: ObjectHeader = read_header(&mut File::open(path)?)?;
    Ok(header.resource_key)
}

fn append_part(
    layout: &Layout,
    upload_id: &UploadId,
    part: &StoredPart,
    object: &mut File,
) -> AppResult<()> {
    let path = layout.part_file(upload_id, part.part_number);
    let size = part.digest.size;
    let mut source = File::open(&path)?;
    if source.metadata()?.len() != HEADER_LEN + size {
        return Err(AppError::internal(format!(
            "part file {} has the wrong length",
            path.display()
        )));
    }
    source.seek(SeekFrom::Start(HEADER_LEN))?;
    // File-to-file io::copy uses copy_file_range on Linux: the bytes never pass through user space.
    let copied = io::copy(&mut io::Read::take(source, size), object)?;
    if copied != size {
        return Err(AppError::internal(format!(
            "part {} was shorter than recorded",
            part.part_number
        )));
    }
    Ok(())
}

/// Opens the object file of `key`; `None` when there is none (or it belongs to another key).
pub fn open_object(layout: &Layout, key: &str) -> AppResult<Option<OpenedObject>> {
    let Some(mut file) = open_object_file(layout, key)? else {
        return Ok(None);
    };
    let header: ObjectHeader = read_header(&mut file)?;
    if header.resource_key != key {
        return Ok(None);
    }
    // The file is written once, in the temporary directory, and renamed in when complete: its
    // mtime is the completion time of this version.
    let last_modified = file.metadata()?.modified().ok();
    Ok(Some(OpenedObject {
        size: header.size,
        etag: header.etag,
        last_modified,
        reader: Box::new(ObjectFileReader { file }),
    }))
}

/// The open file keeps this version readable even if a newer complete replaces it meanwhile.
struct ObjectFileReader {
    file: File,
}

#[async_trait]
impl ObjectReader for ObjectFileReader {
    async fn read(self: Box<Self>, range: Range<u64>) -> Result<ByteStream<'static>, ReadFailure> {
        Ok(stream_of_file(
            self.file,
            HEADER_LEN + range.start,
            range.end - range.start,
        ))
    }
}

/// Streams `len` bytes of `file` from `offset`.
fn stream_of_file(file: File, offset: u64, len: u64) -> ByteStream<'static> {
    let stream = futures_util::stream::once(async move {
        let mut file = tokio::fs::File::from_std(file);
        file.seek(SeekFrom::Start(offset)).await?;
        Ok::<_, io::Error>(tokio_util::io::ReaderStream::with_capacity(
            tokio::io::AsyncReadExt::take(file, len),
            OBJECT_READ_CHUNK,
        ))
    })
    .map(|opened| match opened {
        Ok(reader) => reader.left_stream(),
        Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
    })
    .flatten()
    .map(|chunk| chunk.map_err(AppError::from));
    Box::pin(stream)
}
