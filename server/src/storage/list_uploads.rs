//! listUploads (SPEC.md §5): a page of the caller's uploads in progress, newest first, read from
//! the upload index (`upload_index.rs`) of the caller's own folder from the marker on. Each entry
//! is checked against the upload's records with the same rule every other flow uses
//! ([`Storage::upload_in_progress`]: in progress, the caller's `sub`, within its write scope)
//! before it is shown.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use partup_wire::{ErrorCode, UploadSummary};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::storage::records::UploadRecord;
use crate::storage::upload_id::UploadId;
use crate::storage::upload_index::{OwnerFolder, UploadEntry, UploadIndex};
use crate::storage::uploads::Storage;

/// Most entries one request looks at beyond its page size: entries of uploads outside the prefix
/// or the write scope, and stale ones, cost a look each, so a page may end early (truncated)
/// rather than read an owner's whole folder.
const SCAN_SLACK: usize = 1000;
/// Uploads of one page checked at once.
const CHECKS_AT_ONCE: usize = 16;
/// An entry is written before its upload's record: one naming nothing younger than this may be an
/// init under way, and is not removed as stale.
const ENTRY_GRACE: Duration = Duration::from_secs(60);

/// One page of listUploads.
#[derive(Debug)]
pub struct UploadsPage {
    pub uploads: Vec<UploadSummary>,
    /// Where the next page starts; `None` when nothing follows.
    pub next_marker: Option<String>,
}

/// What a listing asks for.
#[derive(Debug)]
pub struct UploadsQuery<'a> {
    pub prefix: &'a str,
    pub marker: Option<&'a str>,
    pub max_uploads: usize,
}

/// What the index's entry for one upload turned out to name.
enum Checked {
    Shown(Box<UploadSummary>),
    Hidden,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// A time as listUploads writes it: RFC 3339, UTC, milliseconds.
fn rfc3339_ms(unix_ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(unix_ms)).to_string()
}

impl Storage {
    fn upload_index(&self) -> AppResult<&dyn UploadIndex> {
        self.uploads_index
            .as_deref()
            .ok_or_else(|| AppError::internal("this store keeps no index of uploads"))
    }

    /// The page of `caller`'s uploads in progress `query` asks for.
    pub async fn list_uploads(
        &self,
        caller: &Caller,
        query: &UploadsQuery<'_>,
    ) -> AppResult<UploadsPage> {
        if let Some(marker) = query.marker {
            UploadEntry::parse_name(marker).ok_or_else(|| {
                AppError::invalid_argument("marker must be a nextMarker listUploads answered")
            })?;
        }
        let owner = OwnerFolder::of(caller.grant().map(|g| g.sub.as_str()));
        let mut after = query.marker.map(str::to_owned);
        let mut uploads = Vec::new();
        let mut budget = query.max_uploads + SCAN_SLACK;
        'scan: while uploads.len() < query.max_uploads && budget > 0 {
            // At least a batch of checks per listing, so a sparse prefix costs few round trips.
            let wanted = (query.max_uploads - uploads.len())
                .max(CHECKS_AT_ONCE)
                .min(budget);
            let names = self
                .upload_index()?
                .upload_entries(&owner, after.as_deref(), wanted)
                .await?;
            if names.is_empty() {
                return Ok(UploadsPage {
                    uploads,
                    next_marker: None,
                });
            }
            budget -= names.len();
            for batch in names.chunks(CHECKS_AT_ONCE) {
                let checks = batch
                    .iter()
                    .map(|name| self.check_entry(caller, &owner, name, query.prefix));
                for (name, checked) in batch.iter().zip(join_all(checks).await) {
                    // The page is full: the next one starts at this entry.
                    if uploads.len() == query.max_uploads {
                        break 'scan;
                    }
                    if let Checked::Shown(summary) = checked? {
                        uploads.push(*summary);
                    }
                    after = Some(name.clone());
                }
            }
        }
        // Full (or out of budget): more follow when the index holds another entry.
        let more = !self
            .upload_index()?
            .upload_entries(&owner, after.as_deref(), 1)
            .await?
            .is_empty();
        Ok(UploadsPage {
            uploads,
            next_marker: if more { after } else { None },
        })
    }

    /// What the entry `name` in `owner`'s folder names, for `caller`: shown when its upload is in
    /// progress, `caller` may go on with it and its key starts with `prefix`. An entry naming no
    /// upload in progress (past its grace) is removed.
    async fn check_entry(
        &self,
        caller: &Caller,
        owner: &OwnerFolder,
        name: &str,
        prefix: &str,
    ) -> AppResult<Checked> {
        let Some((created_unix_ms, upload_id)) = UploadEntry::parse_name(name) else {
            return Ok(Checked::Hidden);
        };
        let record = match self.upload_in_progress(&upload_id, caller).await {
            Ok(record) => record,
            Err(e) if e.code == ErrorCode::NoSuchUpload => {
                let age = now_unix_ms().saturating_sub(created_unix_ms);
                if Duration::from_millis(age) > ENTRY_GRACE {
                    let entry = UploadEntry::new(owner.clone(), created_unix_ms, &upload_id);
                    self.upload_index()?.remove_upload_entry(&entry).await?;
                }
                return Ok(Checked::Hidden);
            }
            // Outside the caller's write scope: the caller's, but not for this token to see.
            Err(e) if e.code == ErrorCode::AccessDenied => return Ok(Checked::Hidden),
            Err(e) => return Err(e),
        };
        if !record.resource_key.starts_with(prefix) || record.created_unix_ms != created_unix_ms {
            return Ok(Checked::Hidden);
        }
        let summary = self.summary(&upload_id, record).await?;
        Ok(Checked::Shown(Box::new(summary)))
    }

    /// How listUploads shows an upload in progress: its record, and its parts as stored now.
    async fn summary(
        &self,
        upload_id: &UploadId,
        record: UploadRecord,
    ) -> AppResult<UploadSummary> {
        let (parts, activity, direct_idle) = tokio::join!(
            self.parts_of(upload_id, &record),
            self.backend.upload_activity(upload_id),
            self.direct_idle(upload_id, &record)
        );
        let parts = parts?;
        let idle = activity?.map(|a| a.idle);
        // A direct upload's parts are not among its objects: its newest part is its activity.
        let idle = match (idle, direct_idle?) {
            (Some(idle), Some(direct)) => Some(idle.min(direct)),
            (idle, direct) => idle.or(direct),
        };
        let idle_ms = idle.map_or(0, |idle| idle.as_millis() as u64);
        let last_modified = now_unix_ms()
            .saturating_sub(idle_ms)
            .max(record.created_unix_ms);
        Ok(UploadSummary {
            upload_id: upload_id.to_string(),
            resource_key: record.resource_key,
            initiated: rfc3339_ms(record.created_unix_ms),
            last_modified: rfc3339_ms(last_modified),
            parts_stored: parts.len() as u32,
            bytes_stored: parts.values().map(|p| p.digest.size).sum(),
            metadata: record.metadata.unwrap_or_default(),
        })
    }

    /// Files a new upload in its owner's folder of the index (before its record is written).
    pub(super) async fn index_upload(
        &self,
        upload_id: &UploadId,
        record: &UploadRecord,
    ) -> AppResult<()> {
        self.upload_index()?
            .put_upload_entry(&entry_of(upload_id, record))
            .await
    }

    /// Removes an upload's entry once it is no longer in progress. Best effort: an entry left
    /// behind is removed by the next listing that meets it.
    pub(super) async fn unindex_upload(&self, upload_id: &UploadId, record: &UploadRecord) {
        let removed = match self.upload_index() {
            Ok(index) => {
                index
                    .remove_upload_entry(&entry_of(upload_id, record))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            tracing::warn!(%upload_id, "could not remove the upload's index entry: {e}");
        }
    }
}

fn entry_of(upload_id: &UploadId, record: &UploadRecord) -> UploadEntry {
    let owner = OwnerFolder::of(record.sub.as_deref());
    UploadEntry::new(owner, record.created_unix_ms, upload_id)
}
