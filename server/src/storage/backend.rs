//! What a backend supplies: primitive operations on records, parts, objects and uploads, and no
//! protocol rule. The rules (what "in progress" means, the checks and answer of uploadComplete, its
//! replay, which uploads are stale) live once above this trait, in [`Storage`](super::Storage), so
//! every backend gets them alike. A new backend implements [`Backend`], [`PartWriter`] and
//! [`ObjectReader`]; nothing else changes.

use std::collections::BTreeMap;
use std::ops::Range;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use partup_wire::{PartInfo, md5_to_hex};
use tokio::sync::OwnedMutexGuard;

use crate::error::{AppError, AppResult};
use crate::storage::fs::free_space::DiskSpace;
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;

/// A stream of stored bytes; an error means the store failed mid-way.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = Result<Bytes, AppError>> + Send + 'a>>;

/// Where a part will go, when the form named it before sending its bytes. A backend may use it to
/// write the bytes straight to their final place; it must still work without it.
#[derive(Debug, Clone)]
pub struct PartDestination {
    pub upload_id: UploadId,
    pub part_number: u32,
    pub claimed_md5: [u8; 16],
}

/// What the bytes of a received part turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartDigest {
    pub md5: [u8; 16],
    pub size: u64,
}

/// One stored part: its number, digest and size.
#[derive(Debug, Clone)]
pub struct StoredPart {
    pub part_number: u32,
    pub digest: PartDigest,
    /// Where the backend keeps exactly these bytes when the part number alone does not say (S3 keeps
    /// several versions of a part); handed back to [`Backend::assemble`]. Empty where unneeded.
    pub source: String,
}

impl StoredPart {
    /// As listParts shows it.
    pub fn info(&self) -> PartInfo {
        PartInfo {
            md5: md5_to_hex(&self.digest.md5),
            part_number: self.part_number,
            size: self.digest.size,
        }
    }
}

/// An object to assemble from chosen parts, in order.
#[derive(Debug, Clone)]
pub struct AssemblyPlan {
    pub upload_id: UploadId,
    pub resource_key: String,
    pub parts: Vec<StoredPart>,
    pub size: u64,
    pub etag: String,
}

/// An object assembled where no reader sees it yet, waiting for its completion record.
#[async_trait]
pub trait HeldObject: Send {
    /// Shows the object and stores its completion record `record` together: readers, and a restart
    /// after a crash at any moment, find both or neither. Dropped instead, the object is discarded
    /// and nothing changed.
    async fn publish(self: Box<Self>, record: &[u8]) -> AppResult<()>;
}

/// What [`Backend::assemble_held`] made.
pub enum Assembled {
    /// The store showed the object at once (it cannot hold one back); the completion record is
    /// written after it ([`Backend::write_record`]).
    Shown,
    /// Not shown yet: [`HeldObject::publish`] shows it with its completion record.
    Held(Box<dyn HeldObject>),
}

/// Why an assembly failed.
pub struct AssembleFailure {
    pub error: AppError,
    /// The store dropped this assembly because another one of the same key finished first (Garage
    /// does); assembling again makes this complete the later one, which SPEC.md says wins.
    pub assemble_again: bool,
}

/// A completed object, opened: its size, etag and completion time, and a reader for one range of it.
pub struct OpenedObject {
    pub size: u64,
    pub etag: String,
    /// When this version of the object was completed (`Last-Modified`); `None` when the store
    /// does not say.
    pub last_modified: Option<SystemTime>,
    pub reader: Box<dyn ObjectReader>,
}

/// Why a range of an opened object could not be read.
pub enum ReadFailure {
    /// The object was replaced by a newer one since it was opened (a store that cannot keep the
    /// opened version readable): open it again.
    Replaced,
    Failed(AppError),
}

/// What a listing shows of one upload, for the sweep's policy.
#[derive(Debug, Clone)]
pub struct UploadActivity {
    pub upload_id: UploadId,
    /// `upload.json` is stored.
    pub has_upload_record: bool,
    /// Age of `completed.json`, when stored.
    pub completed_age: Option<Duration>,
    /// Time since the upload last changed (init or a part).
    pub idle: Duration,
}

/// Held while one upload's state changes; `None` from a backend that needs no lock.
pub type UploadLock = Option<OwnedMutexGuard<()>>;

/// The right to complete or abort one upload, held across every instance sharing the store until
/// dropped ([`Backend::claim_upload`]).
pub type UploadClaim = Box<dyn Send + Sync>;

/// A multipart upload the store itself keeps open for partup (S3's own, made for a large part or an
/// assembly): invisible, but billed, until completed or aborted.
#[derive(Debug, Clone)]
pub struct StoreMultipart {
    /// The partup upload whose part it is writing; `None` for a staging object or an assembly.
    pub upload_id: Option<UploadId>,
    /// Time since the store started it.
    pub age: Duration,
    /// The store's key and id of it, for [`Backend::abort_store_multipart`].
    pub key: String,
    pub store_id: String,
    /// It holds the parts of a direct upload (SPEC.md §6): it lives as long as that upload.
    pub holds_direct_parts: bool,
}

/// The bytes of one part on their way in. Dropped before [`PartWriter::commit`], it discards what
/// it wrote (a temporary file is deleted, an S3 multipart upload aborted).
#[async_trait]
pub trait PartWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> AppResult<()>;

    /// All bytes are written and verified: make them durable where they are. Called before the
    /// upload's lock is taken, so slow work (an fsync) belongs here rather than in `commit`.
    async fn seal(&mut self, digest: PartDigest) -> AppResult<()>;

    /// Publishes the sealed bytes as the upload's part `part_number`, durably, replacing an earlier
    /// version. Called with the upload's lock held, after it was found in progress.
    async fn commit(self: Box<Self>, upload_id: &UploadId, part_number: u32) -> AppResult<()>;
}

/// Reads one byte range of an opened object.
#[async_trait]
pub trait ObjectReader: Send {
    /// Starts reading `range` (already checked against the size). Resolves once the first bytes are
    /// on their way, so a failure can still become a clean error response.
    async fn read(self: Box<Self>, range: Range<u64>) -> Result<ByteStream<'static>, ReadFailure>;
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Creates a new upload with its `upload.json` (`record` is the file's content).
    async fn create_upload(&self, upload_id: &UploadId, record: &[u8]) -> AppResult<()>;

    /// A record's content; `None` when it is not stored.
    async fn read_record(&self, id: &UploadId, record: Record) -> AppResult<Option<Vec<u8>>>;

    async fn record_exists(&self, upload_id: &UploadId, record: Record) -> AppResult<bool>;

    /// Writes a record atomically: readers see the old content or the new, never part of it.
    async fn write_record(&self, id: &UploadId, record: Record, content: &[u8]) -> AppResult<()>;

    /// Serialises state changes of one upload, where concurrent ones could interfere.
    async fn lock_upload(&self, _upload_id: &UploadId) -> UploadLock {
        None
    }

    /// Takes the upload's lock when nobody holds it; `None` when someone does (a long complete):
    /// for the sweep, which never waits behind one.
    async fn try_lock_upload(&self, upload_id: &UploadId) -> Option<UploadLock> {
        Some(self.lock_upload(upload_id).await)
    }

    /// The room left where the store writes, for `--min-free-space`; `None` from a store that has
    /// no such notion (S3). An optional capability: the default has none.
    async fn disk_space(&self) -> AppResult<Option<DiskSpace>> {
        Ok(None)
    }

    /// Claims the right to complete or abort the upload across instances sharing the store;
    /// `Ok(None)` while another request holds it. A backend used by one process only (whose
    /// [`Backend::lock_upload`] already serialises these) always grants it.
    async fn claim_upload(&self, _upload_id: &UploadId) -> AppResult<Option<UploadClaim>> {
        Ok(Some(Box::new(())))
    }

    /// The longest resource key the store can keep with every key partup writes for its upload;
    /// `None` when only SPEC.md's own limit applies.
    fn max_resource_key_bytes(&self) -> Option<usize> {
        None
    }

    /// Starts receiving a part's bytes.
    async fn begin_part(
        &self,
        destination: Option<&PartDestination>,
    ) -> AppResult<Box<dyn PartWriter>>;

    /// The upload's stored parts, the current version of each.
    async fn stored_parts(&self, upload_id: &UploadId) -> AppResult<BTreeMap<u32, StoredPart>>;

    /// Writes the object as the planned parts concatenated, replacing an older one at once: readers
    /// see the old object or the new one.
    async fn assemble(&self, plan: &AssemblyPlan) -> Result<(), AssembleFailure>;

    /// Assembles the object as [`Backend::assemble`] does, but, where the store can, without showing
    /// it yet: uploadComplete then publishes it together with its completion record, so a complete
    /// that fails (or a crash) changes nothing visible. The default shows it at once.
    async fn assemble_held(&self, plan: &AssemblyPlan) -> Result<Assembled, AssembleFailure> {
        self.assemble(plan).await.map(|()| Assembled::Shown)
    }

    /// Frees the parts of a completed upload (its records stay).
    async fn discard_parts(&self, upload_id: &UploadId) -> AppResult<()>;

    /// Removes an upload with its records and parts; from its first step on, it is gone for readers.
    /// A completion record that a complete elsewhere wrote meanwhile may stay (it goes with
    /// [`Backend::remove_completed`]): an object it answers for must keep it.
    async fn remove_upload(&self, upload_id: &UploadId) -> AppResult<()>;

    /// Removes a completed upload past its retention, its completion record included.
    async fn remove_completed(&self, upload_id: &UploadId) -> AppResult<()> {
        self.remove_upload(upload_id).await
    }

    async fn object_exists(&self, resource_key: &str) -> AppResult<bool>;

    /// Opens a completed object; `None` when absent.
    async fn open_object(&self, resource_key: &str) -> AppResult<Option<OpenedObject>>;

    /// Every upload stored, with its activity.
    async fn list_uploads(&self) -> AppResult<Vec<UploadActivity>>;

    /// One upload's activity; `None` when nothing of it is stored.
    async fn upload_activity(&self, upload_id: &UploadId) -> AppResult<Option<UploadActivity>>;

    /// Deletes staged bytes (of parts or objects in the making) untouched for longer than `age`:
    /// what a request or an instance that died mid-way left behind.
    async fn remove_stale_staging(&self, age: Duration) -> AppResult<()>;

    /// The store's own multipart uploads that partup started (none, for a store without them).
    async fn store_multiparts(&self) -> AppResult<Vec<StoreMultipart>> {
        Ok(Vec::new())
    }

    /// Aborts one of [`Backend::store_multiparts`], freeing what it holds.
    async fn abort_store_multipart(&self, _multipart: &StoreMultipart) -> AppResult<()> {
        Ok(())
    }
}
