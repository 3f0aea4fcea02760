//! The filesystem backend: uploads, parts and objects as files under `--data` (see `layout.rs`).
//!
//! Durability rules, each the reason for an fsync below: a part is acknowledged only after its file is
//! fsynced, renamed into place and its directory fsynced; an object is assembled beside its final
//! name, fsynced, then renamed; an upload's records are written with [`write_json_atomic`]. A crash
//! therefore leaves only whole files in `uploads/` and `objects/`, and debris in `tmp/`, which is
//! emptied at start. State changes of one upload are serialised by [`KeyedLocks`]; readers need no lock.

mod durable_file;
mod keyed_locks;
mod layout;

use std::any::Any;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::StreamExt;
use partup_wire::{CompletePart, CompleteResponse, ErrorCode, PartInfo};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use self::durable_file::{
    HEADER_LEN, read_header, read_json, start_writeback, sync_dir, write_header, write_json_atomic,
};
use self::keyed_locks::KeyedLocks;
pub use self::layout::Layout;
use crate::error::{AppError, AppResult};
use crate::storage::digest::multipart_etag;
use crate::storage::{
    ByteStream, COMPLETED_RECORD_RETENTION, CompletedRecord, ObjectReader, PartTarget, StagedPart,
    Store, SweepReport, UploadId, UploadRecord, check_complete_list, same_part_list,
};

/// Header of a part file.
#[derive(Debug, Serialize, Deserialize)]
struct PartHeader {
    md5: String,
    size: u64,
}

/// Header of an object file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectHeader {
    resource_key: String,
    size: u64,
    etag: String,
}

/// Size of the buffer between the network and a part file: big enough that each write to the
/// blocking pool moves a useful amount, small enough to stay far below the memory budget.
const PART_WRITE_BUFFER: usize = 1 << 20;
/// Read size when serving objects.
const OBJECT_READ_CHUNK: usize = 256 << 10;

pub struct FsStore {
    layout: Arc<Layout>,
    locks: KeyedLocks,
}

impl FsStore {
    /// Opens (creating if needed) a data directory and empties its `tmp/`, where a crash may have left
    /// staged parts, half-assembled objects and aborted uploads being deleted.
    pub fn open(root: PathBuf) -> io::Result<FsStore> {
        let layout = Layout::new(root);
        for dir in [layout.uploads_dir(), layout.objects_dir()] {
            fs::create_dir_all(&dir)?;
        }
        let tmp = layout.tmp_dir();
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        sync_dir(layout.root())?;
        Ok(FsStore {
            layout: Arc::new(layout),
            locks: KeyedLocks::default(),
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> AppResult<T> + Send + 'static,
) -> AppResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::internal(format!("storage task failed: {e}")))?
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// In progress = `upload.json` present and no `completed.json`.
fn upload_state(layout: &Layout, id: &UploadId) -> AppResult<UploadRecord> {
    if layout.completed_record(id).exists() {
        return Err(AppError::no_such_upload(id.as_str()));
    }
    match read_json::<UploadRecord>(&layout.upload_record(id)) {
        Ok(record) => Ok(record),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(AppError::no_such_upload(id.as_str())),
        Err(e) => Err(e.into()),
    }
}

fn read_stored_parts(layout: &Layout, id: &UploadId) -> AppResult<Vec<PartInfo>> {
    let mut parts = Vec::new();
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
        let mut file = File::open(entry.path())?;
        let header: PartHeader = read_header(&mut file)?;
        parts.push(PartInfo {
            md5: header.md5,
            part_number,
            size: header.size,
        });
    }
    parts.sort_by_key(|p| p.part_number);
    Ok(parts)
}

/// Concatenates the chosen parts into a new object file beside its final name, then renames it in.
fn assemble_object(
    layout: &Layout,
    id: &UploadId,
    key: &str,
    chosen: &[&PartInfo],
) -> AppResult<CompleteResponse> {
    let size: u64 = chosen.iter().map(|p| p.size).sum();
    let etag = multipart_etag(chosen.iter().map(|p| p.md5.as_str()));
    let mut assembled = NamedTempFile::new_in(layout.tmp_dir())?;
    write_header(
        assembled.as_file(),
        &ObjectHeader {
            resource_key: key.to_owned(),
            size,
            etag: etag.clone(),
        },
    )?;
    assembled.as_file_mut().seek(SeekFrom::Start(HEADER_LEN))?;
    let mut written = HEADER_LEN;
    for part in chosen {
        let path = layout.part_file(id, part.part_number);
        let mut source = File::open(&path)?;
        if source.metadata()?.len() != HEADER_LEN + part.size {
            return Err(AppError::internal(format!(
                "part file {} has the wrong length",
                path.display()
            )));
        }
        source.seek(SeekFrom::Start(HEADER_LEN))?;
        // File-to-file io::copy uses copy_file_range on Linux: the bytes never pass through user space.
        let copied = io::copy(
            &mut io::Read::take(source, part.size),
            assembled.as_file_mut(),
        )?;
        if copied != part.size {
            return Err(AppError::internal(format!(
                "part {} was shorter than recorded",
                part.part_number
            )));
        }
        // The disk writes this part while the next ones are copied: the final fsync then waits
        // for the tail only, not for the whole object (what `cat` + `sync` would wait for).
        start_writeback(assembled.as_file(), written, part.size);
        written += part.size;
    }
    assembled.as_file().sync_all()?;
    let target = layout.object_file(key);
    let shard = target
        .parent()
        .expect("object files live in a shard directory");
    if !shard.exists() {
        fs::create_dir_all(shard)?;
        sync_dir(&layout.objects_dir())?;
    }
    assembled.persist(&target).map_err(|e| e.error)?;
    sync_dir(shard)?;
    Ok(CompleteResponse {
        resource_key: key.to_owned(),
        size,
        parts: chosen.len() as u32,
        etag,
    })
}

/// Moves an upload's directory out of `uploads/` in one rename (so it is gone at once, even if the
/// deletion after it is interrupted), then deletes it.
fn remove_upload_dir(layout: &Layout, id: &UploadId) -> AppResult<()> {
    let doomed = layout.tmp_dir().join(format!("removed-{id}"));
    fs::rename(layout.upload_dir(id), &doomed)?;
    sync_dir(&layout.uploads_dir())?;
    fs::remove_dir_all(&doomed)?;
    Ok(())
}

fn modified_age(path: &std::path::Path, now: SystemTime) -> Option<Duration> {
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(now.duration_since(modified).unwrap_or_default())
}

#[async_trait]
impl Store for FsStore {
    async fn init_upload(&self, resource_key: &str) -> AppResult<(UploadId, bool)> {
        let layout = self.layout.clone();
        let key = resource_key.to_owned();
        blocking(move || {
            let id = UploadId::generate()?;
            fs::create_dir(layout.upload_dir(&id))?;
            fs::create_dir(layout.parts_dir(&id))?;
            let record = UploadRecord {
                resource_key: key.clone(),
                created_unix_ms: unix_ms(SystemTime::now()),
            };
            write_json_atomic(&layout.tmp_dir(), &layout.upload_record(&id), &record)?;
            sync_dir(&layout.uploads_dir())?;
            let exists = layout.object_file(&key).exists();
            Ok((id, exists))
        })
        .await
    }

    async fn ensure_upload_open(&self, upload_id: &UploadId) -> AppResult<()> {
        let layout = self.layout.clone();
        let id = upload_id.clone();
        blocking(move || upload_state(&layout, &id).map(|_| ())).await
    }

    async fn stage_part(
        &self,
        _target: &PartTarget,
        mut bytes: ByteStream<'_>,
    ) -> AppResult<Box<dyn Any + Send>> {
        let layout = self.layout.clone();
        let staged = blocking(move || Ok(NamedTempFile::new_in(layout.tmp_dir())?)).await?;
        let mut file = tokio::fs::File::from_std(staged.as_file().try_clone()?);
        file.seek(SeekFrom::Start(HEADER_LEN)).await?;
        let mut writer = BufWriter::with_capacity(PART_WRITE_BUFFER, file);
        while let Some(chunk) = bytes.next().await {
            writer.write_all(&chunk?).await?;
        }
        writer.flush().await?;
        Ok(Box::new(staged))
    }

    async fn commit_part(
        &self,
        upload_id: &UploadId,
        part_number: u32,
        staged: StagedPart,
    ) -> AppResult<PartInfo> {
        let file = staged
            .backend_handle
            .downcast::<NamedTempFile>()
            .map_err(|_| AppError::internal("staged part from another backend"))?;
        let info = PartInfo {
            md5: partup_wire::md5_to_hex(&staged.md5),
            part_number,
            size: staged.size,
        };
        let header = PartHeader {
            md5: info.md5.clone(),
            size: info.size,
        };
        // The slow fsync happens before taking the upload's lock.
        let file = blocking(move || {
            write_header(file.as_file(), &header)?;
            file.as_file().sync_all()?;
            Ok(file)
        })
        .await?;
        let _guard = self.locks.lock(upload_id.as_str()).await;
        let layout = self.layout.clone();
        let id = upload_id.clone();
        blocking(move || {
            upload_state(&layout, &id)?;
            let target = layout.part_file(&id, part_number);
            file.persist(&target).map_err(|e| e.error)?;
            sync_dir(&layout.parts_dir(&id))?;
            Ok(())
        })
        .await?;
        Ok(info)
    }

    async fn list_parts(&self, upload_id: &UploadId) -> AppResult<(String, Vec<PartInfo>)> {
        let _guard = self.locks.lock(upload_id.as_str()).await;
        let layout = self.layout.clone();
        let id = upload_id.clone();
        blocking(move || {
            let record = upload_state(&layout, &id)?;
            Ok((record.resource_key, read_stored_parts(&layout, &id)?))
        })
        .await
    }

    async fn complete(
        &self,
        upload_id: &UploadId,
        parts: &[CompletePart],
        min_part_size: u64,
    ) -> AppResult<CompleteResponse> {
        let _guard = self.locks.lock(upload_id.as_str()).await;
        let layout = self.layout.clone();
        let id = upload_id.clone();
        let listed = parts.to_vec();
        let (response, discarded_parts) = blocking(move || {
            match read_json::<CompletedRecord>(&layout.completed_record(&id)) {
                Ok(done) if same_part_list(&done.parts, &listed) => return Ok((done.response, None)),
                Ok(_) => {
                    return Err(AppError::new(
                        ErrorCode::NoSuchUpload,
                        format!("upload '{id}' was already completed with a different part list"),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            let record = upload_state(&layout, &id)?;
            let stored = read_stored_parts(&layout, &id)?;
            let chosen = check_complete_list(&listed, &stored, min_part_size)?;
            let response = assemble_object(&layout, &id, &record.resource_key, &chosen)?;
            let done = CompletedRecord {
                parts: listed,
                response,
            };
            write_json_atomic(&layout.tmp_dir(), &layout.completed_record(&id), &done)?;
            // The parts are no longer needed. One rename takes them out of uploads/ at once; they
            // are deleted after the answer (1,000 unlinks cost as much as the assembly). If that is
            // interrupted, tmp/ is emptied at the next start; if the rename fails, the sweep removes
            // the whole upload directory with the completion record later.
            let discarded = layout.tmp_dir().join(format!("completed-parts-{id}"));
            let discarded = match fs::rename(layout.parts_dir(&id), &discarded) {
                Ok(()) => Some(discarded),
                Err(e) => {
                    tracing::warn!(upload_id = %id, "could not discard parts after completing: {e}");
                    None
                }
            };
            Ok((done.response, discarded))
        })
        .await?;
        if let Some(dir) = discarded_parts {
            let id = upload_id.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = fs::remove_dir_all(&dir) {
                    tracing::warn!(upload_id = %id, "could not delete parts after completing: {e}");
                }
            });
        }
        Ok(response)
    }

    async fn abort(&self, upload_id: &UploadId) -> AppResult<()> {
        let _guard = self.locks.lock(upload_id.as_str()).await;
        let layout = self.layout.clone();
        let id = upload_id.clone();
        blocking(move || {
            upload_state(&layout, &id)?;
            remove_upload_dir(&layout, &id)
        })
        .await
    }

    async fn open_object(&self, resource_key: &str) -> AppResult<ObjectReader> {
        let path = self.layout.object_file(resource_key);
        let key = resource_key.to_owned();
        let (file, header) = blocking(move || {
            let no_such_key = || {
                AppError::new(
                    ErrorCode::NoSuchKey,
                    format!("no object is stored under '{key}'"),
                )
            };
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(no_such_key()),
                Err(e) => return Err(e.into()),
            };
            let header: ObjectHeader = read_header(&mut file)?;
            if header.resource_key != key {
                return Err(no_such_key());
            }
            Ok((file, header))
        })
        .await?;
        // The open file keeps this version readable even if a newer complete replaces it meanwhile.
        Ok(ObjectReader {
            size: header.size,
            etag: header.etag,
            open_range: Box::new(move |range| {
                let stream =
                    async_stream_of_file(file, HEADER_LEN + range.start, range.end - range.start);
                Box::pin(std::future::ready(Ok(stream)))
            }),
        })
    }

    async fn sweep(&self, ttl: Duration) -> AppResult<SweepReport> {
        let mut report = SweepReport::default();
        let layout = self.layout.clone();
        let ids = blocking(move || {
            let mut ids = Vec::new();
            for entry in fs::read_dir(layout.uploads_dir())? {
                if let Some(id) = entry?
                    .file_name()
                    .to_str()
                    .and_then(|n| UploadId::parse(n).ok())
                {
                    ids.push(id);
                }
            }
            Ok(ids)
        })
        .await?;
        for id in ids {
            let _guard = self.locks.lock(id.as_str()).await;
            let layout = self.layout.clone();
            let removed = blocking(move || {
                let now = SystemTime::now();
                if let Some(age) = modified_age(&layout.completed_record(&id), now) {
                    if age > COMPLETED_RECORD_RETENTION {
                        remove_upload_dir(&layout, &id)?;
                        return Ok(Some(false));
                    }
                    return Ok(None);
                }
                // A part's rename touches parts/, so its mtime is the last activity; an upload whose
                // init crashed before upload.json was written counts from its directory's mtime.
                let last_activity = modified_age(&layout.parts_dir(&id), now)
                    .or_else(|| modified_age(&layout.upload_dir(&id), now));
                match last_activity {
                    Some(age) if age > ttl => {
                        remove_upload_dir(&layout, &id)?;
                        Ok(Some(true))
                    }
                    _ => Ok(None),
                }
            })
            .await?;
            match removed {
                Some(true) => report.stale_uploads_aborted += 1,
                Some(false) => report.finished_records_removed += 1,
                None => {}
            }
        }
        Ok(report)
    }
}

/// Streams `len` bytes of `file` from `offset`.
fn async_stream_of_file(file: File, offset: u64, len: u64) -> ByteStream<'static> {
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
