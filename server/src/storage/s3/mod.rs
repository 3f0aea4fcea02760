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

mod layout;
mod listing;
mod object_reader;
mod part_writer;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use opendal::{ErrorKind, Operator};

use self::object_reader::S3ObjectReader;
use self::part_writer::S3PartWriter;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::storage::UploadId;
use crate::storage::backend::{
    AssembleFailure, AssemblyPlan, Backend, OpenedObject, PartDestination, PartWriter, StoredPart,
    UploadActivity,
};
use crate::storage::records::Record;

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub prefix: String,
    pub virtual_host_style: bool,
}

impl S3Settings {
    pub fn from_config(config: &Config) -> S3Settings {
        S3Settings {
            endpoint: config.s3_endpoint.clone(),
            bucket: config.s3_bucket.clone().unwrap_or_default(),
            region: config.s3_region.clone(),
            prefix: config.s3_prefix.clone(),
            virtual_host_style: config.s3_virtual_host_style,
        }
    }
}

/// User metadata key of an object's multipart etag.
const ETAG_METADATA: &str = "partup-etag";

pub struct S3Backend {
    op: Operator,
}

fn storage_error(err: opendal::Error) -> AppError {
    AppError::internal(format!("object store: {err}"))
}

impl S3Backend {
    /// Connects to the bucket and checks it answers. Credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) as the AWS tools do.
    pub async fn connect(settings: &S3Settings) -> Result<S3Backend, String> {
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
        op.list_with(layout::UPLOADS)
            .limit(1)
            .await
            .map_err(|e| format!("cannot reach bucket '{}': {e}", settings.bucket))?;
        Ok(S3Backend { op })
    }

    /// Deletes every object under `prefix` (idempotent: deleting what is gone is fine).
    async fn remove_prefix(&self, prefix: &str) -> AppResult<()> {
        self.op
            .delete_with(prefix)
            .recursive(true)
            .await
            .map_err(storage_error)
    }

    async fn write_object(&self, path: &str, content: &[u8]) -> AppResult<()> {
        self.op
            .write(path, content.to_vec())
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn assemble_object(&self, plan: &AssemblyPlan) -> opendal::Result<()> {
        // No explicit `.chunk()`: OpenDAL 0.59's exact-chunk mode can commit a natively copied range
        // before the buffered bytes that precede it (parts out of order); its default, S3's 5 MiB
        // minimum in non-exact mode, keeps the order.
        let mut writer = self
            .op
            .writer_with(&layout::object(&plan.resource_key))
            .concurrent(4)
            .user_metadata([(ETAG_METADATA.to_owned(), plan.etag.clone())])
            .await?;
        let copied = async {
            for part in &plan.parts {
                writer.copy_from(&part.source, 0..part.digest.size).await?;
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
}

#[async_trait]
impl Backend for S3Backend {
    async fn create_upload(&self, upload_id: &UploadId, record: &[u8]) -> AppResult<()> {
        self.write_object(&layout::record(upload_id, Record::Upload), record)
            .await
    }

    async fn read_record(
        &self,
        upload_id: &UploadId,
        record: Record,
    ) -> AppResult<Option<Vec<u8>>> {
        match self.op.read(&layout::record(upload_id, record)).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn record_exists(&self, upload_id: &UploadId, record: Record) -> AppResult<bool> {
        self.op
            .exists(&layout::record(upload_id, record))
            .await
            .map_err(storage_error)
    }

    async fn write_record(
        &self,
        upload_id: &UploadId,
        record: Record,
        content: &[u8],
    ) -> AppResult<()> {
        self.write_object(&layout::record(upload_id, record), content)
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
        self.remove_prefix(&layout::parts_prefix(upload_id)).await
    }

    async fn remove_upload(&self, upload_id: &UploadId) -> AppResult<()> {
        // The record goes first: from then on the upload is gone for every instance.
        self.op
            .delete(&layout::record(upload_id, Record::Upload))
            .await
            .map_err(storage_error)?;
        self.remove_prefix(&layout::upload_prefix(upload_id)).await
    }

    async fn object_exists(&self, resource_key: &str) -> AppResult<bool> {
        self.op
            .exists(&layout::object(resource_key))
            .await
            .map_err(storage_error)
    }

    async fn open_object(&self, resource_key: &str) -> AppResult<Option<OpenedObject>> {
        let path = layout::object(resource_key);
        let meta = match self.op.stat(&path).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(storage_error(e)),
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
}
