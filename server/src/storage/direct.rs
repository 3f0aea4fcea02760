//! Direct-to-store parts (SPEC.md §6): an upload whose parts the client sends straight into the
//! store, in requests partup signs after checking the caller's rights, so no part's bytes pass
//! through an instance. An optional capability of a backend ([`DirectStore`], the S3 store's), as
//! tusd keeps optional capabilities in interfaces of their own.
//!
//! Whether an upload is direct is decided once, at init, and written in its `upload.json`
//! ([`DirectUpload`]): every later flow reads it from there, so one upload never mixes the two
//! ways, and turning `--direct-parts` on or off leaves uploads in progress as they began. The
//! flows that depend on it go through the few methods here (`parts_of`, `assemble_upload`,
//! `discard_upload_parts`, `remove_upload_with`, `direct_activity`), so the rules above them
//! (the checks of uploadComplete, the budget of a token, the sweep's policy) stay written once.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use partup_wire::{SignPartResponse, parse_md5_hex};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::storage::backend::{AssembleFailure, Assembled, AssemblyPlan, StoredPart};
use crate::storage::records::{self, DirectUpload, Record, UploadRecord};
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// The parts of a direct upload as the store lists them.
#[derive(Debug, Clone, Default)]
pub struct DirectParts {
    pub parts: BTreeMap<u32, StoredPart>,
    /// When the newest of them was stored: a direct upload's activity.
    pub newest: Option<SystemTime>,
}

/// signPart's fields as they came (numbers may have come as text); checked by
/// [`Storage::sign_part`] in SPEC order, after the upload.
#[derive(Debug, Clone, Default)]
pub struct PartFields {
    pub part_number: Option<u64>,
    pub md5: Option<String>,
    pub size: Option<u64>,
}

/// One part the client is about to send, as checked.
#[derive(Debug, Clone, Copy)]
pub struct PartToSign {
    pub part_number: u32,
    pub md5: [u8; 16],
    pub size: u64,
}

/// A request that stores one part when sent as it is.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub url: String,
    pub method: &'static str,
    pub headers: BTreeMap<String, String>,
    pub expires_at: SystemTime,
}

/// What a store that takes parts straight from clients supplies.
#[async_trait]
pub trait DirectStore: Send + Sync {
    /// Starts the store's own multipart upload that will hold the parts of `upload_id`.
    async fn start_direct(&self, upload_id: &UploadId) -> AppResult<DirectUpload>;

    /// A presigned request that stores `part` (exactly its size and MD5, both signed in) in
    /// `direct`, valid for `expiry`.
    async fn sign_direct_part(
        &self,
        upload_id: &UploadId,
        direct: &DirectUpload,
        part: PartToSign,
        expiry: Duration,
    ) -> AppResult<SignedRequest>;

    /// The parts the store holds for the upload, the current version of each.
    async fn direct_parts(
        &self,
        upload_id: &UploadId,
        direct: &DirectUpload,
    ) -> AppResult<DirectParts>;

    /// Writes the object as the planned parts concatenated, as [`Backend::assemble`] does.
    ///
    /// [`Backend::assemble`]: crate::storage::backend::Backend::assemble
    async fn assemble_direct(
        &self,
        direct: &DirectUpload,
        plan: &AssemblyPlan,
    ) -> Result<(), AssembleFailure>;

    /// Frees everything the store holds for the upload's parts (its multipart upload, aborted
    /// when still open, and what assembling it left); gone already is fine.
    async fn discard_direct(&self, upload_id: &UploadId, direct: &DirectUpload) -> AppResult<()>;
}

/// `--direct-parts`: new uploads go direct, their parts signed for this long.
#[derive(Debug, Clone, Copy)]
pub struct DirectMode {
    pub part_expiry: Duration,
}

impl Storage {
    /// The store's direct capability for an upload that has `direct` set.
    fn direct_store(&self) -> AppResult<&dyn DirectStore> {
        self.direct
            .as_deref()
            .ok_or_else(|| AppError::internal("a direct upload on a store without direct parts"))
    }

    /// Starts the store's side of a new upload when new uploads go direct. Not for a file its
    /// client declared empty: its one part is empty, and stores refuse an empty `UploadPart`
    /// body (Garage does), so it goes through `POST upload` like any upload without the mode.
    pub(super) async fn start_direct_if_on(
        &self,
        upload_id: &UploadId,
        declared_size: Option<u64>,
    ) -> AppResult<Option<DirectUpload>> {
        match self.direct_mode {
            Some(_) if declared_size != Some(0) => {
                Ok(Some(self.direct_store()?.start_direct(upload_id).await?))
            }
            _ => Ok(None),
        }
    }

    /// The upload's stored parts, wherever they are kept.
    pub(super) async fn parts_of(
        &self,
        upload_id: &UploadId,
        record: &UploadRecord,
    ) -> AppResult<BTreeMap<u32, StoredPart>> {
        match &record.direct {
            Some(direct) => Ok(self
                .direct_store()?
                .direct_parts(upload_id, direct)
                .await?
                .parts),
            None => self.backend.stored_parts(upload_id).await,
        }
    }

    /// Assembles the upload's object from the planned parts.
    pub(super) async fn assemble_upload(
        &self,
        record: &UploadRecord,
        plan: &AssemblyPlan,
    ) -> Result<Assembled, AssembleFailure> {
        match &record.direct {
            Some(direct) => {
                let store = self.direct_store().map_err(|error| AssembleFailure {
                    error,
                    assemble_again: false,
                })?;
                store.assemble_direct(direct, plan).await?;
                Ok(Assembled::Shown)
            }
            None => self.backend.assemble_held(plan).await,
        }
    }

    /// Frees the parts of an upload that completed.
    pub(super) async fn discard_upload_parts(
        &self,
        upload_id: &UploadId,
        record: &UploadRecord,
    ) -> AppResult<()> {
        if let Some(direct) = &record.direct {
            self.direct_store()?
                .discard_direct(upload_id, direct)
                .await?;
        }
        self.backend.discard_parts(upload_id).await
    }

    /// Removes an upload (abort, the sweep, an init that failed) with what the store holds of a
    /// direct one. `record`: its `upload.json`, when it could be read.
    pub(super) async fn remove_upload_with(
        &self,
        upload_id: &UploadId,
        record: Option<&UploadRecord>,
    ) -> AppResult<()> {
        self.backend.remove_upload(upload_id).await?;
        if let Some(direct) = record.and_then(|r| r.direct.as_ref()) {
            self.direct_store()?
                .discard_direct(upload_id, direct)
                .await?;
        }
        Ok(())
    }

    /// How long a direct upload has been idle by its parts at the store (the listing of its
    /// objects sees only its records); `None` for an upload that is not direct.
    pub(super) async fn direct_idle(
        &self,
        upload_id: &UploadId,
        record: &UploadRecord,
    ) -> AppResult<Option<Duration>> {
        let Some(direct) = &record.direct else {
            return Ok(None);
        };
        let parts = self.direct_store()?.direct_parts(upload_id, direct).await?;
        Ok(parts
            .newest
            .map(|newest| SystemTime::now().duration_since(newest).unwrap_or_default()))
    }

    /// Whether `upload_id`, which looks stale by its objects, is a direct upload whose newest part
    /// at the store is younger than `ttl`.
    pub(super) async fn active_at_store(
        &self,
        upload_id: &UploadId,
        ttl: Duration,
    ) -> AppResult<bool> {
        // A store without direct parts (the disk) holds no direct upload: nothing to ask, and
        // a record it cannot read is the sweep's to remove all the same (and to log). On a store
        // with them, a record that cannot be read now keeps the upload for the next pass: it may
        // be a direct upload whose parts are arriving.
        if self.direct.is_none() {
            return Ok(false);
        }
        let Some(content) = self.backend.read_record(upload_id, Record::Upload).await? else {
            return Ok(false);
        };
        // A record that cannot be read is removed by the sweep all the same (and logged there).
        let Ok(record) = records::decode::<UploadRecord>(Record::Upload, &content) else {
            return Ok(false);
        };
        Ok(self
            .direct_idle(upload_id, &record)
            .await?
            .is_some_and(|idle| idle <= ttl))
    }

    /// signPart (SPEC.md §6): checks, in SPEC order, that `caller` may send this part of this
    /// direct upload, then signs the store's request for it.
    pub async fn sign_part(
        &self,
        caller: &Caller,
        upload_id: &str,
        fields: &PartFields,
    ) -> AppResult<SignPartResponse> {
        let upload_id = UploadId::parse(upload_id)?;
        let record = self.upload_in_progress(&upload_id, caller).await?;
        let (Some(direct), Some(mode)) = (&record.direct, self.direct_mode_or_default()) else {
            return Err(AppError::invalid_argument(format!(
                "upload '{upload_id}' is not direct: send its parts to POST upload"
            )));
        };
        let part = checked_part(fields)?;
        if part.size > self.limits.max_part_size {
            return Err(AppError::too_large(format!(
                "part {} is {} bytes; parts may be at most {} bytes (--max-part-size)",
                part.part_number, part.size, self.limits.max_part_size
            )));
        }
        if let Some(budget) = self
            .part_budget(&upload_id, &record, Some(part.part_number))
            .await?
        {
            budget.check(part.size)?;
        }
        let signed = self
            .direct_store()?
            .sign_direct_part(&upload_id, direct, part, mode.part_expiry)
            .await?;
        Ok(SignPartResponse {
            url: signed.url,
            method: signed.method.to_owned(),
            headers: signed.headers,
            expires_at: humantime::format_rfc3339_seconds(signed.expires_at).to_string(),
        })
    }

    /// The signing expiry: `--direct-parts`'s, or, once it was turned off, the default for the
    /// direct uploads still in progress.
    fn direct_mode_or_default(&self) -> Option<DirectMode> {
        self.direct.as_ref()?;
        Some(self.direct_mode.unwrap_or(DirectMode {
            part_expiry: DEFAULT_PART_EXPIRY,
        }))
    }

    /// Refuses `POST upload` of a direct upload: its parts go to the store.
    pub(super) fn refuse_if_direct(upload_id: &UploadId, record: &UploadRecord) -> AppResult<()> {
        match record.direct {
            Some(_) => Err(AppError::invalid_argument(format!(
                "the parts of upload '{upload_id}' go straight to the store: ask signPart for each"
            ))),
            None => Ok(()),
        }
    }
}

/// How long a signed part request stays valid by default (`--direct-part-expiry`).
pub const DEFAULT_PART_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// The part of a signPart request, its fields checked (`InvalidArgument` naming the field).
fn checked_part(fields: &PartFields) -> AppResult<PartToSign> {
    let max = partup_wire::MAX_PART_NUMBER;
    let part_number = match fields.part_number {
        Some(n) if (1..=u64::from(max)).contains(&n) => n as u32,
        _ => {
            return Err(AppError::invalid_argument(format!(
                "partNumber must be a whole number 1–{max} for a part sent to the store"
            )));
        }
    };
    let md5 = fields
        .md5
        .as_deref()
        .and_then(parse_md5_hex)
        .ok_or_else(|| {
            AppError::invalid_argument("md5 must be the part's MD5 as 32 hexadecimal digits")
        })?;
    let size = fields.size.ok_or_else(|| {
        AppError::invalid_argument("size must be the part's size as a whole number of bytes")
    })?;
    Ok(PartToSign {
        part_number,
        md5,
        size,
    })
}

/// A part the store lists, as listParts shows one.
pub fn stored_part(part_number: u32, md5: [u8; 16], size: u64) -> StoredPart {
    StoredPart {
        part_number,
        digest: crate::storage::backend::PartDigest { md5, size },
        source: String::new(),
    }
}

/// A store whose part ETags are not MD5s (an encrypted bucket) cannot have its parts checked:
/// they are refused rather than trusted.
pub fn etag_not_md5(part_number: u32) -> AppError {
    AppError::internal(format!(
        "the store's ETag of part {part_number} is not an MD5 (an encrypted bucket?)"
    ))
}
