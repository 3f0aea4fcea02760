//! What listings show: the current version of each part (the newest wins), each upload's records
//! and last activity for the sweep, old staging objects. Every decision is made from a listing,
//! since nothing here relies on conditional writes (Garage ignores them). Only keys of partup's
//! layout count: another application's objects in a shared bucket are never listed as an upload's
//! nor deleted (`layout::is_upload_key`, `layout::is_staging_object`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use opendal::Operator;

use super::connection::storage_error;
use super::layout::{self, PartVersion, parse_part_version};
use crate::error::AppResult;
use crate::storage::backend::{PartDigest, StoredPart, UploadActivity};
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;

/// Every object under `prefix`.
pub async fn list_recursive(op: &Operator, prefix: &str) -> AppResult<Vec<opendal::Entry>> {
    op.list_with(prefix)
        .recursive(true)
        .await
        .map_err(storage_error)
}

fn age_of(entry: &opendal::Entry, now: SystemTime) -> Duration {
    entry
        .metadata()
        .last_modified()
        .map(|t| now.duration_since(SystemTime::from(t)).unwrap_or_default())
        .unwrap_or_default()
}

/// The newest version of each part, from one listing.
pub async fn current_parts(
    op: &Operator,
    upload_id: &UploadId,
) -> AppResult<BTreeMap<u32, StoredPart>> {
    let mut newest: BTreeMap<u32, (PartVersion, u64)> = BTreeMap::new();
    for entry in list_recursive(op, &layout::parts_prefix(upload_id)).await? {
        let Some(version) = parse_part_version(entry.path()) else {
            continue;
        };
        match newest.get(&version.part_number) {
            Some((kept, _)) if kept.started_nanos >= version.started_nanos => {}
            _ => {
                let size = entry.metadata().content_length();
                newest.insert(version.part_number, (version, size));
            }
        }
    }
    Ok(newest
        .into_iter()
        .map(|(number, (version, size))| {
            let digest = PartDigest {
                md5: version.md5,
                size,
            };
            let part = StoredPart {
                part_number: number,
                digest,
                source: version.path,
            };
            (number, part)
        })
        .collect())
}

/// Deletes the versions of a part older than `keep` (best effort: the newest wins regardless).
pub async fn delete_older_versions(op: &Operator, id: &UploadId, part_number: u32, keep: &str) {
    let prefix = layout::part_versions_prefix(id, part_number);
    let Ok(entries) = op.list(&prefix).await else {
        return;
    };
    let Some(kept) = parse_part_version(keep) else {
        return;
    };
    for entry in entries {
        if parse_part_version(entry.path()).is_some_and(|v| v.started_nanos < kept.started_nanos) {
            let _ = op.delete(entry.path()).await;
        }
    }
}

/// The activity of every upload under `prefix` (all of `uploads/`, or one upload's folder), from
/// one listing: whether it has its records, and the age of its youngest object.
pub async fn upload_activities(op: &Operator, prefix: &str) -> AppResult<Vec<UploadActivity>> {
    let now = SystemTime::now();
    let mut uploads: BTreeMap<String, UploadActivity> = BTreeMap::new();
    for entry in list_recursive(op, prefix).await? {
        let Some(upload_id) = layout::upload_id_of(entry.path()) else {
            continue;
        };
        let age = age_of(&entry, now);
        let activity = uploads
            .entry(upload_id.to_string())
            .or_insert_with(|| UploadActivity {
                upload_id: upload_id.clone(),
                has_upload_record: false,
                completed_age: None,
                idle: Duration::MAX,
            });
        if entry.path() == layout::record(&upload_id, Record::Upload) {
            activity.has_upload_record = true;
        }
        if entry.path() == layout::record(&upload_id, Record::Completed) {
            activity.completed_age = Some(age);
        }
        activity.idle = activity.idle.min(age);
    }
    Ok(uploads.into_values().collect())
}

/// Deletes partup's staging objects older than `age`.
pub async fn remove_stale_staging(op: &Operator, age: Duration) -> AppResult<()> {
    let now = SystemTime::now();
    for entry in list_recursive(op, layout::STAGING).await? {
        if layout::is_staging_object(entry.path()) && age_of(&entry, now) > age {
            let _ = op.delete(entry.path()).await;
        }
    }
    Ok(())
}

/// The keys of one upload's own objects under `prefix` (its folder, or its `parts/`) that `keep`
/// lets go, from one listing.
pub async fn upload_keys(
    op: &Operator,
    prefix: &str,
    keep: impl Fn(&str) -> bool,
) -> AppResult<Vec<String>> {
    Ok(list_recursive(op, prefix)
        .await?
        .into_iter()
        .map(|entry| entry.path().to_owned())
        .filter(|path| layout::is_upload_key(path) && !keep(path))
        .collect())
}
