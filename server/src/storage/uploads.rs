//! The flows of an upload in progress: init, a part's begin and commit, listParts, abort. What "in
//! progress" means (`upload.json` present, no `completed.json`) and who may go on with an upload
//! are written once in `access.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use partup_wire::{ErrorCode, Metadata, PartInfo, md5_to_hex};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::hooks::event::{Event, EventKind};
use crate::storage::access;
use crate::storage::admission::{Admission, AdmissionLimits, Owner, Reservation, client_key};
use crate::storage::backend::{Backend, PartDestination, StoredPart};
use crate::storage::content_index::ContentStore;
use crate::storage::direct::{DirectMode, DirectStore};
use crate::storage::event_queue::EventQueue;
use crate::storage::incoming_part::{IncomingPart, UploadBudget};
use crate::storage::keyed_locks::KeyedLocks;
use crate::storage::md5_engine::Md5Engine;
use crate::storage::records::{self, UploadRecord};
use crate::storage::space_floor::{PartRoomWatch, SpaceFloor, Write};
use crate::storage::sweep::PartsInFlight;
use crate::storage::upload_id::UploadId;
use crate::storage::upload_index::UploadIndex;

/// A new upload, as uploadInit answers it.
#[derive(Debug, Clone)]
pub struct StartedUpload {
    pub upload_id: UploadId,
    /// A completed object with this key exists now (`isExist`).
    pub exists: bool,
    /// Its parts go straight to the store (SPEC.md §6).
    pub direct: bool,
}

/// What listParts answers about an upload in progress.
#[derive(Debug, Clone)]
pub struct ListedParts {
    pub resource_key: String,
    pub parts: Vec<PartInfo>,
    /// Its parts go straight to the store (SPEC.md §6).
    pub direct: bool,
}

/// The size limits of SPEC.md §2, §3 and "Limits" that storage enforces.
#[derive(Debug, Clone, Copy)]
pub struct PartLimits {
    /// Largest part accepted (`--max-part-size`).
    pub max_part_size: u64,
    /// Smallest size of every listed part but the last (`--min-part-size`).
    pub min_part_size: u64,
    /// Largest object an upload may complete into (`--max-object-size`).
    pub max_object_size: u64,
}

/// The uploads and objects of one backend, with SPEC.md's rules. Its flows: here (an upload in
/// progress), `complete.rs`, `objects.rs` (reading), `sweep.rs` (stale uploads).
pub struct Storage {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) limits: PartLimits,
    /// One lock per object key: completes of a key take turns in this process (`complete.rs`).
    pub(super) key_locks: KeyedLocks,
    /// Where events go when hooks are on (`event_queue.rs`).
    pub(super) events: Option<Arc<EventQueue>>,
    /// The uploads in progress and their caps (`admission.rs`).
    pub(super) admission: Arc<Admission>,
    /// `--min-free-space` (`space_floor.rs`).
    pub(super) space: SpaceFloor,
    /// Parts arriving now, which keep their uploads from the sweep (`sweep.rs`).
    pub(super) in_flight: Arc<PartsInFlight>,
    /// The content index and copies of instant upload (`instant.rs`); `None`: no instant upload.
    pub(super) content: Option<Arc<dyn ContentStore>>,
    /// The index of uploads in progress, for listUploads (`list_uploads.rs`).
    pub(super) uploads_index: Option<Arc<dyn UploadIndex>>,
    /// The store's direct parts, where it has them (`direct.rs`); direct uploads need it.
    pub(super) direct: Option<Arc<dyn DirectStore>>,
    /// `--direct-parts`: new uploads go direct.
    pub(super) direct_mode: Option<DirectMode>,
    /// Hashes the parts arriving, together (`md5_engine.rs`).
    pub(super) md5: Md5Engine,
}

impl Storage {
    /// Storage over `backend`, its parts hashed by `md5` (`--md5-path`, `md5_engine.rs`).
    pub fn new(
        backend: Arc<dyn Backend>,
        limits: PartLimits,
        admission: AdmissionLimits,
        md5: Md5Engine,
    ) -> Storage {
        Storage {
            space: SpaceFloor::new(backend.clone(), crate::config::FreeSpace::Bytes(0)),
            backend,
            limits,
            key_locks: KeyedLocks::default(),
            events: None,
            admission: Admission::new(admission),
            in_flight: Arc::default(),
            content: None,
            uploads_index: None,
            direct: None,
            direct_mode: None,
            md5,
        }
    }

    /// The same storage over a store that takes parts straight from clients; with `mode`
    /// (`--direct-parts`), every new upload does (SPEC.md §6).
    pub fn with_direct_store(
        self,
        store: Arc<dyn DirectStore>,
        mode: Option<DirectMode>,
    ) -> Storage {
        Storage {
            direct: Some(store),
            direct_mode: mode,
            ..self
        }
    }

    /// The same storage, keeping its uploads in progress in `index` for listUploads (SPEC.md §5).
    pub fn with_upload_index(self, index: Arc<dyn UploadIndex>) -> Storage {
        Storage {
            uploads_index: Some(index),
            ..self
        }
    }

    /// The same storage, with instant upload over `content` (SPEC.md §1).
    pub fn with_content_store(self, content: Arc<dyn ContentStore>) -> Storage {
        Storage {
            content: Some(content),
            ..self
        }
    }

    /// The same storage, emitting events into `queue`.
    pub fn with_events(self, queue: Arc<EventQueue>) -> Storage {
        Storage {
            events: Some(queue),
            ..self
        }
    }

    /// The event queue, when hooks are on.
    pub fn events(&self) -> Option<Arc<EventQueue>> {
        self.events.clone()
    }

    /// Takes a slot for an upload `caller` (from `address`, which counts without tokens) is about
    /// to start, or refuses with `429 TooManyUploads` (see `admission.rs`). Taken before anything
    /// else is asked or written; [`Storage::init_upload`] needs it.
    pub fn admit(&self, caller: &Caller, address: Option<IpAddr>) -> AppResult<Reservation> {
        let owner = match caller.grant() {
            Some(grant) => Owner::Sub(grant.sub.clone()),
            None => Owner::Address(client_key(address)),
        };
        self.admission.admit(owner)
    }

    /// Starts an upload of `resource_key` (already validated) with its `metadata` (already
    /// validated) and the size its client declared, for `caller`, whose token must allow writing it (and, with `replace: false`, no
    /// object may exist), in the slot `reservation`; answers the new id and whether a completed
    /// object with this key exists now.
    pub async fn init_upload(
        &self,
        caller: &Caller,
        (resource_key, metadata, declared_size): (&str, Option<Metadata>, Option<u64>),
        reservation: Reservation,
    ) -> AppResult<StartedUpload> {
        let created_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut record = access::new_record(
            caller,
            reservation.owner(),
            (resource_key, metadata),
            created_unix_ms,
        )?;
        if !record.may_replace() {
            self.refuse_existing(resource_key, ErrorCode::AccessDenied)
                .await?;
        }
        self.space.ensure_room(0, Write::Init).await?;
        let upload_id = UploadId::generate()?;
        // Held until the answer: the sweep (which only try-locks) never removes an upload while
        // it is being created, however long its writes take on a busy disk.
        let _lock = self.backend.lock_upload(&upload_id).await;
        // The entry first: every upload in progress has one (one naming nothing is removed later).
        self.index_upload(&upload_id, &record).await?;
        let created = (self.create_upload(&upload_id, &mut record, declared_size)).await;
        if let Err(e) = created {
            self.unindex_upload(&upload_id, &record).await;
            return Err(e);
        }
        reservation.bind(&upload_id);
        // After the upload exists (a receiver may look at it at once), before the answer.
        if let Err(e) = self
            .emit(Event::new(EventKind::Created, &upload_id, &record))
            .await
        {
            let _ = self.remove_upload_with(&upload_id, Some(&record)).await;
            self.unindex_upload(&upload_id, &record).await;
            self.admission.release(&upload_id);
            return Err(e);
        }
        let exists = self.backend.object_exists(resource_key).await?;
        Ok(StartedUpload {
            upload_id,
            exists,
            direct: record.direct.is_some(),
        })
    }

    /// Writes the new upload's `upload.json`, after starting the store's side of it when it goes
    /// direct (the record names it); nothing is left of either when this fails.
    async fn create_upload(
        &self,
        upload_id: &UploadId,
        record: &mut UploadRecord,
        declared_size: Option<u64>,
    ) -> AppResult<()> {
        record.direct = self.start_direct_if_on(upload_id, declared_size).await?;
        let written = match records::encode(&*record) {
            Ok(content) => self.backend.create_upload(upload_id, &content).await,
            Err(e) => Err(e),
        };
        if let (Err(_), Some(direct)) = (&written, &record.direct)
            && let Some(store) = &self.direct
        {
            let _ = store.discard_direct(upload_id, direct).await;
        }
        written
    }

    /// Starts receiving a part; `destination` when the form named it before the bytes, `budget`
    /// when its upload has a `maxSize` ([`Storage::part_budget`]).
    pub async fn begin_part(
        &self,
        destination: Option<PartDestination>,
        budget: Option<UploadBudget>,
    ) -> AppResult<IncomingPart> {
        let writer = self.backend.begin_part(destination.as_ref()).await?;
        Ok(
            IncomingPart::new(writer, self.md5.part(), self.limits.max_part_size, budget)
                .watching_room(PartRoomWatch::new(self.space.clone())),
        )
    }

    /// Makes a received part the upload's part `part_number` once its MD5 matches `claimed_md5`
    /// (otherwise `BadDigest`) and the upload, `caller`'s, stays within its `maxSize` (otherwise
    /// `EntityTooLarge`); a refused part is not kept.
    pub async fn commit_part(
        &self,
        part: IncomingPart,
        caller: &Caller,
        (upload_id, part_number): (&UploadId, u32),
        claimed_md5: [u8; 16],
    ) -> AppResult<PartInfo> {
        // `_in_flight` keeps the upload from the sweep until the part is committed or refused.
        let (mut writer, digest, _in_flight) = part.finish().await;
        if digest.md5 != claimed_md5 {
            return Err(AppError::new(
                ErrorCode::BadDigest,
                format!(
                    "part {part_number}: the {} bytes received have md5 {}, not {}; they were damaged on the way, send the part again",
                    digest.size,
                    md5_to_hex(&digest.md5),
                    md5_to_hex(&claimed_md5)
                ),
            ));
        }
        // The slow part (an fsync) happens before taking the upload's lock.
        writer.seal(digest).await?;
        let _lock = self.backend.lock_upload(upload_id).await;
        let record = self.upload_in_progress(upload_id, caller).await?;
        Storage::refuse_if_direct(upload_id, &record)?;
        if let Some(budget) = self
            .part_budget(upload_id, &record, Some(part_number))
            .await?
        {
            budget.check(digest.size)?;
        }
        writer.commit(upload_id, part_number).await?;
        Ok(PartInfo {
            md5: md5_to_hex(&digest.md5),
            part_number,
            size: digest.size,
        })
    }

    /// The upload's key, its stored parts (ascending) and whether they go direct.
    pub async fn list_parts(
        &self,
        upload_id: &UploadId,
        caller: &Caller,
    ) -> AppResult<ListedParts> {
        let _lock = self.backend.lock_upload(upload_id).await;
        let record = self.upload_in_progress(upload_id, caller).await?;
        let parts = self.parts_of(upload_id, &record).await?;
        Ok(ListedParts {
            parts: parts.values().map(StoredPart::info).collect(),
            direct: record.direct.is_some(),
            resource_key: record.resource_key,
        })
    }

    /// Ends an upload in progress and frees its parts.
    pub async fn abort(&self, upload_id: &UploadId, caller: &Caller) -> AppResult<()> {
        let _lock = self.backend.lock_upload(upload_id).await;
        self.upload_in_progress(upload_id, caller).await?;
        // Not while a complete on another instance runs; then the upload is no longer in progress.
        let _claim = self.claim_upload(upload_id).await?;
        let record = self.upload_in_progress(upload_id, caller).await?;
        self.emit(Event::new(EventKind::Aborted, upload_id, &record))
            .await?;
        self.remove_upload_with(upload_id, Some(&record)).await?;
        self.admission.release(upload_id);
        self.unindex_upload(upload_id, &record).await;
        Ok(())
    }

    /// Whether a completed object with this key exists now (what uploadInit answers as `isExist`).
    pub async fn object_exists(&self, resource_key: &str) -> AppResult<bool> {
        self.backend.object_exists(resource_key).await
    }
}
