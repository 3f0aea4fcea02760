//! The S3-compatible backend (AWS S3, MinIO, Ceph, Garage, Aliyun OSS's S3 endpoint), on Apache OpenDAL.
//!
//! Every instance is stateless: uploads, parts and completion records are objects in the bucket, so
//! any instance can serve any request of an upload. Nothing relies on conditional writes (Garage
//! ignores them); instead each write is a whole object that appears atomically, and every decision is
//! made from what a listing shows:
//!
//! ```text
//! PREFIX/uploads/ID/upload.json                 the session, written once at init
//! PREFIX/uploads/ID/parts/NNNNN/TS-MD5          one object per verified version of part NNNNN;
//!                                               the newest TS (nanoseconds at its start) wins
//! PREFIX/uploads/ID/completed.json              the complete request and its answer (24 h)
//! PREFIX/tmp/NONCE                              a part whose fields came after its bytes, until placed
//! PREFIX/objects/KEY                            completed objects; user metadata `partup-etag`
//! ```
//! A part's bytes stream straight into its final object (OpenDAL's multipart writer, a bounded buffer),
//! which is only committed (closed) once the MD5 matched. Complete writes the object with
//! `Writer::copy_from`: server-side `UploadPartCopy` for whole parts of at least 5 MiB (S3's minimum
//! part size), streaming only the small ones and the bytes needed to fill a small part up to 5 MiB.
//! Writers buffer at most about 5 MiB per request in flight.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use opendal::{ErrorKind, Operator};
use partup_wire::{CompletePart, CompleteResponse, ErrorCode, PartInfo, md5_to_hex};
use serde::Serialize;

use crate::error::{AppError, AppResult};
use crate::storage::digest::multipart_etag;
use crate::storage::{
    ByteStream, COMPLETED_RECORD_RETENTION, CompletedRecord, ObjectReader, OpenRangeError,
    PartTarget, StagedPart, Store, SweepReport, UploadId, UploadRecord, check_complete_list,
    same_part_list,
};

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub prefix: String,
    pub virtual_host_style: bool,
}

/// User metadata key of an object's multipart etag.
const ETAG_METADATA: &str = "partup-etag";

pub struct S3Store {
    op: Operator,
}

fn storage_error(err: opendal::Error) -> AppError {
    AppError::internal(format!("object store: {err}"))
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn upload_record(id: &UploadId) -> String {
    format!("uploads/{id}/upload.json")
}
fn completed_record(id: &UploadId) -> String {
    format!("uploads/{id}/completed.json")
}
fn parts_prefix(id: &UploadId) -> String {
    format!("uploads/{id}/parts/")
}
fn part_object(id: &UploadId, part_number: u32, md5_hex: &str) -> String {
    format!(
        "uploads/{id}/parts/{part_number:05}/{:020}-{md5_hex}",
        unix_nanos()
    )
}
fn object_path(key: &str) -> String {
    format!("objects/{key}")
}

/// A stored part version parsed from its object name.
#[derive(Debug, Clone)]
struct PartVersion {
    path: String,
    part_number: u32,
    started_nanos: u128,
    md5: String,
    size: u64,
}

fn parse_part_version(path: &str, size: u64) -> Option<PartVersion> {
    let rest = path.split("/parts/").nth(1)?;
    let (number, name) = rest.split_once('/')?;
    let (started, md5) = name.split_once('-')?;
    Some(PartVersion {
        path: path.to_owned(),
        part_number: (number.len() == 5)
            .then(|| partup_wire::parse_part_number(number))
            .flatten()?,
        started_nanos: started.parse().ok()?,
        md5: partup_wire::parse_md5_hex(md5).map(|d| md5_to_hex(&d))?,
        size,
    })
}

/// A part being received: an open writer (committed by closing it) or a staged object (committed by
/// copying it into place). Dropped uncommitted, it cleans up after itself in the background.
struct S3Staged {
    op: Operator,
    pending: Option<Pending>,
}

enum Pending {
    /// Streaming into an object that appears only when the writer is closed. `destination` is the
    /// upload and part number when the object already has the part's final name.
    Writer {
        writer: opendal::Writer,
        path: String,
        destination: Option<(UploadId, u32)>,
    },
    /// Written whole under tmp/, to be copied into place.
    Staged { path: String },
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let op = self.op.clone();
        // An unclosed multipart upload would otherwise linger, invisible but billed, in the bucket.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                match pending {
                    Pending::Writer { mut writer, .. } => {
                        let _ = writer.abort().await;
                    }
                    Pending::Staged { path } => {
                        let _ = op.delete(&path).await;
                    }
                }
            });
        }
    }
}

impl S3Store {
    /// Connects to the bucket and checks it answers. Credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) as the AWS tools do.
    pub async fn connect(settings: &S3Settings) -> Result<S3Store, String> {
        // OpenDAL's reqwest transport; installed explicitly (first install wins) rather than by a
        // process constructor.
        opendal::install_default();
        let mut builder = opendal::services::S3::default()
            .bucket(&settings.bucket)
            .region(&settings.region)
            .root(&format!("/{}", settings.prefix.trim_matches('/')));
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if settings.virtual_host_style {
            builder = builder.enable_virtual_host_style();
        }
        if let (Ok(id), Ok(secret)) = (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) {
            builder = builder.access_key_id(&id).secret_access_key(&secret);
        }
        let op = Operator::new(builder)
            .map_err(|e| format!("invalid S3 settings: {e}"))?
            .layer(opendal::layers::RetryLayer::new().with_jitter())
            .layer(opendal::layers::TimeoutLayer::new().with_io_timeout(Duration::from_secs(60)));
        op.list_with("uploads/")
            .limit(1)
            .await
            .map_err(|e| format!("cannot reach bucket '{}': {e}", settings.bucket))?;
        Ok(S3Store { op })
    }

    async fn read_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> AppResult<Option<T>> {
        match self.op.read(path).await {
            Ok(buffer) => serde_json::from_slice(&buffer.to_vec())
                .map(Some)
                .map_err(|e| AppError::internal(format!("corrupt record {path}: {e}"))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn write_json<T: Serialize>(&self, path: &str, value: &T) -> AppResult<()> {
        let body = serde_json::to_vec(value).map_err(AppError::internal)?;
        self.op.write(path, body).await.map_err(storage_error)?;
        Ok(())
    }

    async fn exists(&self, path: &str) -> AppResult<bool> {
        self.op.exists(path).await.map_err(storage_error)
    }

    /// The upload's record when it is in progress; `NoSuchUpload` when unknown, aborted or completed.
    async fn open_upload(&self, id: &UploadId) -> AppResult<UploadRecord> {
        let (record_path, completed_path) = (upload_record(id), completed_record(id));
        let (record, completed) = tokio::join!(
            self.read_json::<UploadRecord>(&record_path),
            self.exists(&completed_path)
        );
        match (record?, completed?) {
            (Some(record), false) => Ok(record),
            _ => Err(AppError::no_such_upload(id.as_str())),
        }
    }

    /// Every stored version of every part, from one listing.
    async fn part_versions(&self, id: &UploadId) -> AppResult<Vec<PartVersion>> {
        let entries = self
            .op
            .list_with(&parts_prefix(id))
            .recursive(true)
            .await
            .map_err(storage_error)?;
        Ok(entries
            .iter()
            .filter_map(|e| parse_part_version(e.path(), e.metadata().content_length()))
            .collect())
    }

    /// The newest version of each part, ascending by part number.
    async fn current_parts(&self, id: &UploadId) -> AppResult<Vec<PartVersion>> {
        let mut newest: BTreeMap<u32, PartVersion> = BTreeMap::new();
        for version in self.part_versions(id).await? {
            match newest.get(&version.part_number) {
                Some(kept) if kept.started_nanos >= version.started_nanos => {}
                _ => {
                    newest.insert(version.part_number, version);
                }
            }
        }
        Ok(newest.into_values().collect())
    }

    /// Deletes the versions of a part older than `keep` (best effort: the newest wins regardless).
    async fn delete_older_versions(&self, id: &UploadId, part_number: u32, keep: &str) {
        let prefix = format!("uploads/{id}/parts/{part_number:05}/");
        let Ok(entries) = self.op.list(&prefix).await else {
            return;
        };
        let Some(kept) = parse_part_version(keep, 0) else {
            return;
        };
        for entry in entries {
            if parse_part_version(entry.path(), 0)
                .is_some_and(|v| v.started_nanos < kept.started_nanos)
            {
                let _ = self.op.delete(entry.path()).await;
            }
        }
    }

    async fn assemble(
        &self,
        key: &str,
        chosen: &[&PartVersion],
        etag: &str,
    ) -> opendal::Result<()> {
        // No explicit `.chunk()`: OpenDAL 0.59's exact-chunk mode can commit a natively copied range
        // before the buffered bytes that precede it (parts out of order); its default, S3's 5 MiB
        // minimum in non-exact mode, keeps the order.
        let mut writer = self
            .op
            .writer_with(&object_path(key))
            .concurrent(4)
            .user_metadata([(ETAG_METADATA.to_owned(), etag.to_owned())])
            .await?;
        let copied = async {
            for part in chosen {
                writer.copy_from(&part.path, 0..part.size).await?;
            }
            writer.close().await
        }
        .await;
        if let Err(e) = copied {
            let _ = writer.abort().await;
            return Err(e);
        }
        Ok(())
    }

    /// Deletes every object under `prefix` (idempotent: deleting what is gone is fine).
    async fn remove_prefix(&self, prefix: &str) -> AppResult<()> {
        self.op
            .delete_with(prefix)
            .recursive(true)
            .await
            .map_err(storage_error)
    }

    /// Lists every object under `uploads/` and `tmp/` once, for the sweep.
    async fn list_all(&self, prefix: &str) -> AppResult<Vec<opendal::Entry>> {
        self.op
            .list_with(prefix)
            .recursive(true)
            .await
            .map_err(storage_error)
    }
}

fn age_of(entry: &opendal::Entry, now: SystemTime) -> Duration {
    entry
        .metadata()
        .last_modified()
        .map(|t| now.duration_since(SystemTime::from(t)).unwrap_or_default())
        .unwrap_or_default()
}

#[async_trait]
impl Store for S3Store {
    async fn init_upload(&self, resource_key: &str) -> AppResult<(UploadId, bool)> {
        let id = UploadId::generate()?;
        let record = UploadRecord {
            resource_key: resource_key.to_owned(),
            created_unix_ms: (unix_nanos() / 1_000_000) as u64,
        };
        self.write_json(&upload_record(&id), &record).await?;
        let exists = self.exists(&object_path(resource_key)).await?;
        Ok((id, exists))
    }

    async fn ensure_upload_open(&self, upload_id: &UploadId) -> AppResult<()> {
        self.open_upload(upload_id).await.map(|_| ())
    }

    async fn stage_part(
        &self,
        target: &PartTarget,
        mut bytes: ByteStream<'_>,
    ) -> AppResult<Box<dyn Any + Send>> {
        let (path, destination) = match (&target.upload_id, target.part_number, &target.claimed_md5)
        {
            (Some(id), Some(number), Some(md5)) => (
                part_object(id, number, &md5_to_hex(md5)),
                Some((id.clone(), number)),
            ),
            _ => (
                format!("tmp/{:020}-{}", unix_nanos(), UploadId::generate()?),
                None,
            ),
        };
        let writer = self.op.writer(&path).await.map_err(storage_error)?;
        let mut staged = S3Staged {
            op: self.op.clone(),
            pending: Some(Pending::Writer {
                writer,
                path,
                destination,
            }),
        };
        let Some(Pending::Writer {
            writer,
            path,
            destination,
        }) = staged.pending.as_mut()
        else {
            unreachable!("just created")
        };
        while let Some(chunk) = bytes.next().await {
            writer.write(chunk?).await.map_err(storage_error)?;
        }
        if destination.is_none() {
            // Without its upload, number or md5 the part cannot take its final name yet: finish it
            // under tmp/ now and copy it into place once the form has ended.
            writer.close().await.map_err(storage_error)?;
            staged.pending = Some(Pending::Staged { path: path.clone() });
        }
        Ok(Box::new(staged))
    }

    async fn commit_part(
        &self,
        upload_id: &UploadId,
        part_number: u32,
        staged: StagedPart,
    ) -> AppResult<PartInfo> {
        let mut handle = staged
            .backend_handle
            .downcast::<S3Staged>()
            .map_err(|_| AppError::internal("staged part from another backend"))?;
        let md5 = md5_to_hex(&staged.md5);
        self.open_upload(upload_id).await?;
        let final_path = match handle.pending.take() {
            Some(Pending::Writer {
                mut writer,
                path,
                destination: Some((id, number)),
            }) if &id == upload_id && number == part_number && path.ends_with(&md5) => {
                writer.close().await.map_err(storage_error)?;
                path
            }
            Some(Pending::Staged { path: staged_path }) => {
                // Put the handle back so the tmp/ object is deleted when it drops.
                handle.pending = Some(Pending::Staged {
                    path: staged_path.clone(),
                });
                let final_path = part_object(upload_id, part_number, &md5);
                self.op
                    .copy(&staged_path, &final_path)
                    .await
                    .map_err(storage_error)?;
                final_path
            }
            other => {
                handle.pending = other;
                return Err(AppError::internal(
                    "the staged part does not match its form fields",
                ));
            }
        };
        drop(handle);
        self.delete_older_versions(upload_id, part_number, &final_path)
            .await;
        Ok(PartInfo {
            md5,
            part_number,
            size: staged.size,
        })
    }

    async fn list_parts(&self, upload_id: &UploadId) -> AppResult<(String, Vec<PartInfo>)> {
        let record = self.open_upload(upload_id).await?;
        let parts = self
            .current_parts(upload_id)
            .await?
            .into_iter()
            .map(|v| PartInfo {
                md5: v.md5,
                part_number: v.part_number,
                size: v.size,
            })
            .collect();
        Ok((record.resource_key, parts))
    }

    async fn complete(
        &self,
        upload_id: &UploadId,
        parts: &[CompletePart],
        min_part_size: u64,
    ) -> AppResult<CompleteResponse> {
        let completed_path = completed_record(upload_id);
        let answer_recorded = |done: CompletedRecord| {
            if same_part_list(&done.parts, parts) {
                Ok(done.response)
            } else {
                Err(AppError::new(
                    ErrorCode::NoSuchUpload,
                    format!(
                        "upload '{upload_id}' was already completed with a different part list"
                    ),
                ))
            }
        };
        if let Some(done) = self.read_json::<CompletedRecord>(&completed_path).await? {
            return answer_recorded(done);
        }
        let record = self.open_upload(upload_id).await?;
        let versions = self.current_parts(upload_id).await?;
        let stored: Vec<PartInfo> = versions
            .iter()
            .map(|v| PartInfo {
                md5: v.md5.clone(),
                part_number: v.part_number,
                size: v.size,
            })
            .collect();
        let chosen_infos = check_complete_list(parts, &stored, min_part_size)?;
        let chosen: Vec<&PartVersion> = chosen_infos
            .iter()
            .map(|info| {
                versions
                    .iter()
                    .find(|v| v.part_number == info.part_number)
                    .expect("listed")
            })
            .collect();
        let size: u64 = chosen.iter().map(|p| p.size).sum();
        let etag = multipart_etag(chosen.iter().map(|p| p.md5.as_str()));
        let mut attempts = 0;
        while let Err(e) = self.assemble(&record.resource_key, &chosen, &etag).await {
            // Another instance may have completed the same upload (and removed its parts) meanwhile.
            if let Some(done) = self.read_json::<CompletedRecord>(&completed_path).await? {
                return answer_recorded(done);
            }
            // Some stores (Garage) drop a multipart upload of a key when another upload of the same
            // key completes first. Assembling again makes this complete the later one, which SPEC.md
            // says wins.
            attempts += 1;
            if e.kind() != ErrorKind::NotFound || attempts == 3 {
                return Err(storage_error(e));
            }
            tracing::info!(%upload_id, "the store lost the assembly of this object to a concurrent one; assembling again");
        }
        let response = CompleteResponse {
            resource_key: record.resource_key,
            size,
            parts: chosen.len() as u32,
            etag,
        };
        self.write_json(
            &completed_path,
            &CompletedRecord {
                parts: parts.to_vec(),
                response: response.clone(),
            },
        )
        .await?;
        if let Err(e) = self.remove_prefix(&parts_prefix(upload_id)).await {
            tracing::warn!(%upload_id, "could not delete parts after completing: {e}");
        }
        Ok(response)
    }

    async fn abort(&self, upload_id: &UploadId) -> AppResult<()> {
        self.open_upload(upload_id).await?;
        // The record goes first: from then on the upload is gone for every instance.
        self.op
            .delete(&upload_record(upload_id))
            .await
            .map_err(storage_error)?;
        self.remove_prefix(&format!("uploads/{upload_id}/")).await
    }

    async fn open_object(&self, resource_key: &str) -> AppResult<ObjectReader> {
        let path = object_path(resource_key);
        let meta = match self.op.stat(&path).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(AppError::new(
                    ErrorCode::NoSuchKey,
                    format!("no object is stored under '{resource_key}'"),
                ));
            }
            Err(e) => return Err(storage_error(e)),
        };
        let etag = meta
            .user_metadata()
            .and_then(|m| m.get(ETAG_METADATA).map(str::to_owned))
            .unwrap_or_else(|| meta.etag().unwrap_or_default().trim_matches('"').to_owned());
        let store_etag = meta.etag().map(str::to_owned);
        let op = self.op.clone();
        Ok(ObjectReader {
            size: meta.content_length(),
            etag,
            open_range: Box::new(move |range| {
                Box::pin(async move {
                    // If-Match on the store's etag: a version replaced since the stat fails the read
                    // instead of mixing versions, and the caller opens the new one.
                    let mut reader = op.reader_with(&path);
                    if let Some(store_etag) = &store_etag {
                        reader = reader.if_match(store_etag);
                    }
                    let opened = async { reader.await?.into_bytes_stream(range).await }.await;
                    let mut stream = match opened {
                        Ok(stream) => stream,
                        Err(e) if e.kind() == ErrorKind::ConditionNotMatch => {
                            return Err(OpenRangeError::Replaced);
                        }
                        Err(e) => return Err(OpenRangeError::Failed(storage_error(e))),
                    };
                    // The first chunk proves the GET was accepted (and which version answers).
                    let first = match stream.next().await {
                        Some(Ok(chunk)) => Some(chunk),
                        None => None,
                        Some(Err(e)) => {
                            let replaced = e
                                .get_ref()
                                .and_then(|inner| inner.downcast_ref::<opendal::Error>())
                                .is_some_and(|inner| inner.kind() == ErrorKind::ConditionNotMatch);
                            return Err(if replaced {
                                OpenRangeError::Replaced
                            } else {
                                OpenRangeError::Failed(AppError::internal(format!(
                                    "object store read: {e}"
                                )))
                            });
                        }
                    };
                    let rest =
                        stream.map_err(|e| AppError::internal(format!("object store read: {e}")));
                    let body: ByteStream<'static> =
                        Box::pin(futures_util::stream::iter(first.map(Ok)).chain(rest));
                    Ok(body)
                })
            }),
        })
    }

    async fn sweep(&self, ttl: Duration) -> AppResult<SweepReport> {
        let now = SystemTime::now();
        let mut report = SweepReport::default();
        // Per upload: has a record, age of its completion record, youngest object (last activity).
        let mut uploads: BTreeMap<String, (bool, Option<Duration>, Duration)> = BTreeMap::new();
        for entry in self.list_all("uploads/").await? {
            let Some(id) = entry
                .path()
                .strip_prefix("uploads/")
                .and_then(|p| p.split('/').next())
            else {
                continue;
            };
            let age = age_of(&entry, now);
            let state = uploads
                .entry(id.to_owned())
                .or_insert((false, None, Duration::MAX));
            if entry.path().ends_with("/upload.json") {
                state.0 = true;
            }
            if entry.path().ends_with("/completed.json") {
                state.1 = Some(age);
            }
            state.2 = state.2.min(age);
        }
        for (id, (has_record, completed_age, youngest)) in uploads {
            let remove = match completed_age {
                Some(age) => age > COMPLETED_RECORD_RETENTION,
                // A directory without a record is what an abort or a crashed init left.
                None => youngest > ttl || (!has_record && youngest > Duration::from_secs(60)),
            };
            if remove {
                // Two instances sweeping at once both delete the same objects: harmless.
                self.remove_prefix(&format!("uploads/{id}/")).await?;
                if completed_age.is_some() {
                    report.finished_records_removed += 1;
                } else {
                    report.stale_uploads_aborted += 1;
                }
            }
        }
        for entry in self.list_all("tmp/").await? {
            if age_of(&entry, now) > ttl.max(Duration::from_secs(3600)) {
                let _ = self.op.delete(entry.path()).await;
            }
        }
        Ok(report)
    }
}

/// The S3 store behind the common interface.
pub async fn open(settings: &S3Settings) -> Result<Arc<dyn Store>, String> {
    Ok(Arc::new(S3Store::connect(settings).await?))
}
