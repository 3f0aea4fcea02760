//! Instant upload (SPEC.md §1): a new upload whose declared content an object the caller may read
//! already holds is completed at init from a copy of that object, without a byte sent.
//!
//! Why the read scope decides: the declared fingerprint is only an MD5-based etag, which a caller
//! can know without holding the content (and MD5 collisions can be made). Were any object a
//! candidate, a hash would be a key to someone else's file: declare it, get a copy into your own
//! key, read it. So a candidate must be an object the caller could read anyway (its token's read
//! scope; an anonymous server's callers may read everything), and then a hit discloses nothing.

use partup_wire::CompleteResponse;

use crate::auth::Caller;
use crate::error::AppResult;
use crate::storage::complete::Published;
use crate::storage::content_index::{ContentStore, Fingerprint, IndexEntry, ObjectCopy};
use crate::storage::space_floor::Write;
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// Entries looked at for one init: many keys may hold the same content, but a handful of them in
/// the caller's read scope is plenty, and a flood of look-ups must not cost a listing of them all.
const CANDIDATES: usize = 32;

impl Storage {
    /// Completes the upload `upload_id` (just started by `caller`, no part stored) at once from an
    /// object with `fingerprint` that `caller` may read; `None` when there is none (a miss: the
    /// upload goes on as usual).
    pub async fn complete_instantly(
        &self,
        upload_id: &UploadId,
        caller: &Caller,
        fingerprint: &Fingerprint,
    ) -> AppResult<Option<CompleteResponse>> {
        let Some(content) = self.content.clone() else {
            return Ok(None);
        };
        let _lock = self.backend.lock_upload(upload_id).await;
        let record = self.upload_in_progress(upload_id, caller).await?;
        let copy = ObjectCopy {
            upload_id: upload_id.clone(),
            resource_key: record.resource_key.clone(),
            size: fingerprint.size,
            etag: fingerprint.etag.clone(),
        };
        // As in uploadComplete: completes of a key take turns, and `replace: false` and the disk's
        // floor are checked for the object this makes.
        let _key_lock = self.key_locks.lock(&copy.resource_key).await;
        self.may_assemble(&record, copy.size).await?;
        self.space.ensure_room(copy.size, Write::Object).await?;
        for source in self
            .readable_sources(&*content, caller, fingerprint)
            .await?
        {
            let Some(assembled) = content.copy_object(&source, &copy).await? else {
                // Replaced or gone since it was filed: the entry is stale.
                if let Err(e) = content.remove_index_entry(fingerprint, &source).await {
                    tracing::warn!("could not remove a stale content index entry: {e}");
                }
                continue;
            };
            let response = CompleteResponse {
                resource_key: copy.resource_key.clone(),
                size: copy.size,
                parts: fingerprint.parts(),
                etag: copy.etag.clone(),
            };
            let published = Published {
                response,
                fingerprint: Some(fingerprint.clone()),
            };
            // No part list: a later uploadComplete of this upload is one with another list.
            let done = self
                .publish(upload_id, &record, published, assembled, &[])
                .await?;
            tracing::info!(%upload_id, size = done.size, "upload completed instantly from content already stored");
            return Ok(Some(done));
        }
        Ok(None)
    }

    /// The keys the index files under `fingerprint` that `caller` may read.
    async fn readable_sources(
        &self,
        content: &dyn ContentStore,
        caller: &Caller,
        fingerprint: &Fingerprint,
    ) -> AppResult<Vec<String>> {
        let entries = content.index_entries(fingerprint, CANDIDATES).await?;
        Ok(entries
            .iter()
            .filter_map(|stored| serde_json::from_slice::<IndexEntry>(stored).ok())
            .filter(|entry| {
                &entry.fingerprint == fingerprint && caller.may_read(&entry.resource_key)
            })
            .map(|entry| entry.resource_key)
            .collect())
    }

    /// Files the object `resource_key`, just completed with `fingerprint`, in the content index. A
    /// failure is logged, not answered: the object is complete, and a missing entry costs a later
    /// instant upload of the same content its hit, nothing else.
    pub(super) async fn index_content(&self, resource_key: &str, fingerprint: Fingerprint) {
        let Some(content) = &self.content else {
            return;
        };
        let entry = IndexEntry {
            resource_key: resource_key.to_owned(),
            fingerprint,
        };
        if let Err(e) = content.put_index_entry(&entry).await {
            tracing::warn!("could not file a completed object in the content index: {e}");
        }
    }
}
