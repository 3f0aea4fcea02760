//! The S3-compatible backend (AWS S3, MinIO, Ceph, Garage, Aliyun OSS's S3 endpoint), on Apache OpenDAL.
//!
//! Every instance is stateless: uploads, parts and completion records are objects in the bucket
//! (`layout.rs`), so any instance can serve any request of an upload. Nothing relies on conditional
//! writes (Garage ignores them); instead each write is a whole object that appears atomically, and
//! every decision is made from what a listing shows (`listing.rs`). A part's bytes stream straight
//! into their object (`part_writer.rs`). Complete writes the object with `Writer::copy_from`:
//! server-side `UploadPartCopy` for whole parts of at least 5 MiB (S3's minimum part size), streaming
//! only the small ones and the bytes needed to fill a small part up to 5 MiB. Writers buffer at most
//! about 5 MiB per request in flight. Reads are pinned to the version opened (`object_reader.rs`).
//! A complete or abort holds the upload's lease (`lease.rs`) so instances take turns; the sweep
//! also aborts the store's own multipart uploads that a crash left (`multipart.rs`). Only keys of
//! partup's layout are ever deleted or aborted: the bucket may be shared.

mod connection;
mod content;
mod direct;
mod events;
mod layout;
mod lease;
mod listing;
pub mod multipart;
mod object_reader;
mod part_writer;
mod upload_index;

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use opendal::options::ReadOptions;
use opendal::{ErrorKind, Metadata, Operator};

pub use self::connection::S3Settings;
use self::connection::storage_error;
use self::multipart::MultipartAdmin;
use self::object_reader::S3ObjectReader;
use self::part_writer::S3PartWriter;
use crate::error::AppResult;
use crate::storage::backend::{
    AssembleFailure, AssemblyPlan, Backend, OpenedObject, PartDestination, PartWriter,
    StoreMultipart, StoredPart, UploadActivity, UploadClaim,
};
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;

/// A byte range of a stored object to copy, and the store etag of the only version to read it from.
type CopiedRange<'a> = (&'a str, Range<u64>, Option<&'a str>);

/// User metadata key of an object's multipart etag.
const ETAG_METADATA: &str = "partup-etag";

pub struct S3Backend {
    op: Operator,
    multiparts: MultipartAdmin,
    /// The longest resource key every key of its upload fits with (`layout.rs`).
    max_resource_key_bytes: usize,
}

impl S3Backend {
    /// Connects to the bucket `settings` name (see [`connection::connect`]).
    pub async fn connect(settings: &S3Settings) -> Result<S3Backend, String> {
        let max_resource_key_bytes = layout::max_resource_key_bytes(&settings.prefix)
            .ok_or_else(|| {
                format!(
                    "--s3-prefix is too long: partup's keys under it would exceed the store's {} bytes",
                    layout::MAX_STORE_KEY_BYTES
                )
            })?;
        Ok(S3Backend {
            op: connection::connect(settings).await?,
            multiparts: MultipartAdmin::new(settings),
            max_resource_key_bytes,
        })
    }

    /// Deletes the upload's own keys under `prefix` but those `keep` names (idempotent: deleting
    /// what is gone is fine); another application's objects there stay.
    async fn remove_upload_keys(&self, prefix: &str, keep: impl Fn(&str) -> bool) -> AppResult<()> {
        let keys = listing::upload_keys(&self.op, prefix, keep).await?;
        self.op.delete_iter(keys).await.map_err(storage_error)
    }

    async fn write_object(&self, path: &str, content: &[u8]) -> AppResult<()> {
        self.op
            .write(path, content.to_vec())
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// A small object's content; `None` when it does not exist.
    async fn read_if_exists(&self, path: &str) -> AppResult<Option<Vec<u8>>> {
        match self.op.read(path).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn assemble_object(&self, plan: &AssemblyPlan) -> opendal::Result<()> {
        let pieces = plan
            .parts
            .iter()
            .map(|part| (part.source.as_str(), 0..part.digest.size, None))
            .collect();
        self.write_copied(&layout::object(&plan.resource_key), &plan.etag, pieces)
            .await
    }

    /// Writes `target`, labelled with the multipart `etag`, as the concatenation of `pieces`: byte
    /// ranges of stored objects (each at most 5 GiB), each read only from the version whose store
    /// etag is its `if_match` where one is given (and the store honours it). Whole ranges of 5 MiB
    /// or more are copied server-side (`UploadPartCopy`); an error aborts what was written.
    async fn write_copied(
        &self,
        target: &str,
        etag: &str,
        pieces: Vec<CopiedRange<'_>>,
    ) -> opendal::Result<()> {
        // No explicit `.chunk()`: OpenDAL 0.59's exact-chunk mode can commit a natively copied range
        // before the buffered bytes that precede it (parts out of order); its default, S3's 5 MiB
        // minimum in non-exact mode, keeps the order.
        let mut writer = self
            .op
            .writer_with(target)
            .concurrent(4)
            .user_metadata([(ETAG_METADATA.to_owned(), etag.to_owned())])
            .await?;
        let copied = async {
            for (source, range, if_match) in pieces {
                let options = ReadOptions {
                    range: range.into(),
                    if_match: if_match.map(str::to_owned),
                    ..ReadOptions::default()
                };
                writer.copy_from_options(source, options).await?;
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

    /// An object's metadata; `None` when it does not exist.
    async fn stat_if_exists(&self, path: &str) -> AppResult<Option<Metadata>> {
        match self.op.stat(path).await {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }
}

#[async_trait]
impl Backend for S3Backend {
    async fn create_upload(&self, upload_id: &UploadId, record: &[u8]) -> AppResult<()> {
        self.write_object(&layout::record(upload_id, Record::Upload), record)
            .await
    }

    async fn read_record(&self, id: &UploadId, record: Record) -> AppResult<Option<Vec<u8>>> {
        self.read_if_exists(&layout::record(id, record)).await
    }

    async fn record_exists(&self, upload_id: &UploadId, record: Record) -> AppResult<bool> {
        self.op
            .exists(&layout::record(upload_id, record))
            .await
            .map_err(storage_error)
    }

    async fn write_record(&self, id: &UploadId, record: Record, content: &[u8]) -> AppResult<()> {
        self.write_object(&layout::record(id, record), content)
            .await
    }

    async fn begin_part(
        &self,
        destination: Option<&PartDestination>,
    ) -> AppResult<Box<dyn PartWriter>> {
        Ok(Box::new(
            S3PartWriter::create(self.op.clone(), destination).await?,
        ))
    }

    async fn stored_parts(&self, upload_id: &UploadId) -> AppResult<BTreeMap<u32, StoredPart>> {
        listing::current_parts(&self.op, upload_id).await
    }

    async fn assemble(&self, plan: &AssemblyPlan) -> Result<(), AssembleFailure> {
        self.assemble_object(plan)
            .await
            .map_err(|e| AssembleFailure {
                // Some stores (Garage) drop a multipart upload of a key when another upload of the
                // same key completes first: the copy then finds its upload gone.
                assemble_again: e.kind() == ErrorKind::NotFound,
                error: storage_error(e),
            })
    }

    async fn discard_parts(&self, upload_id: &UploadId) -> AppResult<()> {
        self.remove_upload_keys(&layout::parts_prefix(upload_id), |_| false)
            .await
    }

    async fn remove_upload(&self, upload_id: &UploadId) -> AppResult<()> {
        // The record goes first: from then on the upload is gone for every instance.
        self.op
            .delete(&layout::record(upload_id, Record::Upload))
            .await
            .map_err(storage_error)?;
        // A complete on another instance that passed its checks before this may still replace the
        // object and write its completion record: that record must outlive this abort, or the
        // object would have no record to answer retries with. It goes after its retention.
        let completed = layout::record(upload_id, Record::Completed);
        self.remove_upload_keys(&layout::upload_prefix(upload_id), |path| path == completed)
            .await
    }

    async fn remove_completed(&self, upload_id: &UploadId) -> AppResult<()> {
        self.remove_upload_keys(&layout::upload_prefix(upload_id), |_| false)
            .await
    }

    async fn claim_upload(&self, upload_id: &UploadId) -> AppResult<Option<UploadClaim>> {
        Ok(lease::claim(&self.op, upload_id)
            .await?
            .map(|held| Box::new(held) as UploadClaim))
    }

    fn max_resource_key_bytes(&self) -> Option<usize> {
        Some(self.max_resource_key_bytes)
    }

    async fn object_exists(&self, resource_key: &str) -> AppResult<bool> {
        self.op
            .exists(&layout::object(resource_key))
            .await
            .map_err(storage_error)
    }

    async fn open_object(&self, resource_key: &str) -> AppResult<Option<OpenedObject>> {
        let path = layout::object(resource_key);
        let Some(meta) = self.stat_if_exists(&path).await? else {
            return Ok(None);
        };
        let store_etag = meta.etag().map(str::to_owned);
        let etag = meta
            .user_metadata()
            .and_then(|m| m.get(ETAG_METADATA).map(str::to_owned))
            .unwrap_or_else(|| {
                store_etag
                    .as_deref()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned()
            });
        Ok(Some(OpenedObject {
            size: meta.content_length(),
            etag,
            // S3 dates an object made by a multipart upload at that upload's start: here the start
            // of the assembly, moments before completion; each replacement gets a later one.
            last_modified: meta.last_modified().map(SystemTime::from),
            reader: Box::new(S3ObjectReader {
                op: self.op.clone(),
                path,
                store_etag,
            }),
        }))
    }

    async fn list_uploads(&self) -> AppResult<Vec<UploadActivity>> {
        listing::upload_activities(&self.op, layout::UPLOADS).await
    }

    async fn upload_activity(&self, upload_id: &UploadId) -> AppResult<Option<UploadActivity>> {
        let prefix = layout::upload_prefix(upload_id);
        Ok(listing::upload_activities(&self.op, &prefix).await?.pop())
    }

    async fn remove_stale_staging(&self, age: Duration) -> AppResult<()> {
        listing::remove_stale_staging(&self.op, age).await
    }

    async fn store_multiparts(&self) -> AppResult<Vec<StoreMultipart>> {
        Ok(self
            .multiparts
            .list()
            .await?
            .into_iter()
            .map(|pending| StoreMultipart {
                upload_id: layout::upload_id_of(&pending.path),
                holds_direct_parts: layout::is_direct_object(&pending.path),
                age: multipart::age(&pending),
                key: pending.path,
                store_id: pending.upload_id,
            })
            .collect())
    }

    async fn abort_store_multipart(&self, multipart: &StoreMultipart) -> AppResult<()> {
        self.multiparts
            .abort(&multipart.key, &multipart.store_id)
            .await
    }
}
