//! The rules of upload tokens that need stored state (SPEC.md "Authorization"), written once for
//! every flow: an upload belongs to the `sub` that started it (anyone else is told it does not
//! exist), its key must stay in the caller's write scope, it holds at most the `maxSize` of the
//! token that started it (or `--max-object-size`, whichever is smaller), and with `replace: false` it never replaces an object.

use partup_wire::{ErrorCode, Metadata};

use crate::auth::Caller;
use crate::error::{AppError, AppResult, truncate_for_message};
use crate::storage::admission::Owner;
use crate::storage::incoming_part::{SizeCap, UploadBudget};
use crate::storage::records::{self, Record, UploadRecord};
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

impl Storage {
    /// The upload's record when it is in progress and `caller` may go on with it: `NoSuchUpload`
    /// when unknown, aborted, completed or another sub's; `AccessDenied` when the caller's token
    /// may not write its key.
    pub async fn upload_in_progress(
        &self,
        upload_id: &UploadId,
        caller: &Caller,
    ) -> AppResult<UploadRecord> {
        let (record, completed) = tokio::join!(
            self.backend.read_record(upload_id, Record::Upload),
            self.backend.record_exists(upload_id, Record::Completed)
        );
        match (record?, completed?) {
            (Some(record), false) => {
                let record = records::decode(Record::Upload, &record)?;
                check_owner(upload_id, record, caller)
            }
            _ => Err(AppError::no_such_upload(upload_id.as_str())),
        }
    }

    /// Whether the upload is in progress (whoever's it is).
    pub(super) async fn is_in_progress(&self, upload_id: &UploadId) -> AppResult<bool> {
        let (record, completed) = tokio::join!(
            self.backend.record_exists(upload_id, Record::Upload),
            self.backend.record_exists(upload_id, Record::Completed)
        );
        Ok(record? && !completed?)
    }

    /// The upload's record, in progress or completed, when `caller` may see it; `kept` is the copy
    /// a completion record holds, for when `upload.json` is gone.
    pub(super) async fn owned_record(
        &self,
        upload_id: &UploadId,
        kept: Option<UploadRecord>,
        caller: &Caller,
    ) -> AppResult<UploadRecord> {
        match self.backend.read_record(upload_id, Record::Upload).await? {
            Some(record) => {
                check_owner(upload_id, records::decode(Record::Upload, &record)?, caller)
            }
            None => match kept {
                Some(record) => check_owner(upload_id, record, caller),
                None => Err(AppError::no_such_upload(upload_id.as_str())),
            },
        }
    }

    /// The most bytes the upload `record` may hold (see [`SizeCap`]).
    pub fn size_cap(&self, record: &UploadRecord) -> SizeCap {
        SizeCap::of(record.max_size, self.limits.max_object_size)
    }

    /// Refuses an upload `caller` starts when it says it will hold `size` bytes, more than its cap
    /// (the token's `maxSize` or `--max-object-size`) allows.
    pub fn check_declared_size(&self, caller: &Caller, size: u64) -> AppResult<()> {
        let max_size = caller.grant().and_then(|g| g.scope.max_size);
        let cap = SizeCap::of(max_size, self.limits.max_object_size);
        UploadBudget { cap, stored: 0 }.check(size)
    }

    /// The room the upload `record` has for part `part_number` (counted as new when not known
    /// yet): `None` when parts within the part-size limit cannot reach its cap anyway.
    pub async fn part_budget(
        &self,
        upload_id: &UploadId,
        record: &UploadRecord,
        part_number: Option<u32>,
    ) -> AppResult<Option<UploadBudget>> {
        let cap = self.size_cap(record);
        if !cap.reachable_with(self.limits.max_part_size) {
            return Ok(None);
        }
        let stored = self
            .parts_of(upload_id, record)
            .await?
            .values()
            .filter(|part| Some(part.part_number) != part_number)
            .map(|part| part.digest.size)
            .sum();
        Ok(Some(UploadBudget { cap, stored }))
    }

    /// The room a part whose upload is not known yet (its `content` came before `uploadId`) has:
    /// the server's cap alone; the upload's own is checked when the part is committed.
    pub fn unknown_upload_budget(&self) -> UploadBudget {
        UploadBudget {
            cap: SizeCap::of(None, self.limits.max_object_size),
            stored: 0,
        }
    }

    /// Refuses with `code` when an object `resource_key` exists.
    pub(super) async fn refuse_existing(
        &self,
        resource_key: &str,
        code: ErrorCode,
    ) -> AppResult<()> {
        if !self.backend.object_exists(resource_key).await? {
            return Ok(());
        }
        Err(AppError::new(
            code,
            format!(
                "an object '{}' exists and the token that started this upload may not replace it (replace: false)",
                truncate_for_message(resource_key)
            ),
        ))
    }

    /// uploadComplete's checks of the upload's token and the server's limit: the object's `size`
    /// within its cap, and no object to replace with `replace: false` (`ObjectExists`).
    pub(super) async fn may_assemble(&self, record: &UploadRecord, size: u64) -> AppResult<()> {
        let cap = self.size_cap(record);
        UploadBudget { cap, stored: 0 }.check(size)?;
        if !record.may_replace() {
            self.refuse_existing(&record.resource_key, ErrorCode::ObjectExists)
                .await?;
        }
        Ok(())
    }
}

/// The record of a new upload of `resource_key` by `caller`, whose token must allow writing it;
/// `owner` is who the upload counts against (an anonymous client's address is recorded).
pub(super) fn new_record(
    caller: &Caller,
    owner: &Owner,
    (resource_key, metadata): (&str, Option<Metadata>),
    created_unix_ms: u64,
) -> AppResult<UploadRecord> {
    ensure_may_write(caller, resource_key)?;
    let grant = caller.grant();
    Ok(UploadRecord {
        resource_key: resource_key.to_owned(),
        created_unix_ms,
        sub: grant.map(|g| g.sub.clone()),
        max_size: grant.and_then(|g| g.scope.max_size),
        replace: grant.map(|g| g.scope.replace),
        client: match owner {
            Owner::Address(client) if grant.is_none() => Some(client.clone()),
            _ => None,
        },
        metadata,
        direct: None,
    })
}

/// `record` when `caller` may go on with its upload (see [`Storage::upload_in_progress`]).
fn check_owner(
    upload_id: &UploadId,
    record: UploadRecord,
    caller: &Caller,
) -> AppResult<UploadRecord> {
    let Some(grant) = caller.grant() else {
        return Ok(record);
    };
    if record.sub.as_deref() != Some(grant.sub.as_str()) {
        return Err(AppError::no_such_upload(upload_id.as_str()));
    }
    if !caller.may_write(&record.resource_key) {
        return Err(not_in_scope(&record.resource_key));
    }
    Ok(record)
}

/// `AccessDenied` unless `caller`'s token may upload to `resource_key` (checked at init before
/// anything else is asked, the application's pre-create hook included).
pub fn ensure_may_write(caller: &Caller, resource_key: &str) -> AppResult<()> {
    if caller.may_write(resource_key) {
        Ok(())
    } else {
        Err(not_in_scope(resource_key))
    }
}

fn not_in_scope(resource_key: &str) -> AppError {
    AppError::access_denied(format!(
        "your token may not upload to '{}': it is outside the token's write scope",
        truncate_for_message(resource_key)
    ))
}
