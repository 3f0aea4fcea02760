//! Instant upload on S3: the content index as one small object per entry under `PREFIX/index/`,
//! and copies of objects made by the store itself (server-side `UploadPartCopy`), no byte passing
//! through partup.
//!
//! A copy must be of the version whose size and etag were checked, and S3 cannot hold an object
//! back until its completion record is stored. So the source is copied into a staging object first,
//! with `x-amz-copy-source-if-match` on the store's etag of the version checked; since some stores
//! (Garage) ignore that condition, the source is looked at again after the copy: the same store
//! etag proves the staged bytes are that version (only a replacement and a second one restoring
//! the same content within the copy could escape this, and the content would then be the same).
//! Only then is the staged object copied to its key, and deleted.

use async_trait::async_trait;
use opendal::{ErrorKind, Metadata};

use super::connection::storage_error;
use super::{CopiedRange, ETAG_METADATA, S3Backend, layout};
use crate::error::AppResult;
use crate::storage::backend::Assembled;
use crate::storage::content_index::{ContentStore, Fingerprint, IndexEntry, ObjectCopy};

/// The most one server-side copy request moves (S3 allows 5 GiB per `UploadPartCopy`).
const COPY_PIECE_BYTES: u64 = 1 << 30;

/// Whether an object's metadata says it holds `copy`'s content.
fn holds(meta: &Metadata, copy: &ObjectCopy) -> bool {
    let etag = meta.user_metadata().and_then(|m| m.get(ETAG_METADATA));
    meta.content_length() == copy.size && etag == Some(&copy.etag)
}

/// `size` bytes of `source` as pieces [`S3Backend::write_copied`] takes, read only from the version
/// whose store etag is `if_match`.
fn whole<'a>(source: &'a str, size: u64, if_match: Option<&'a str>) -> Vec<CopiedRange<'a>> {
    (0..size)
        .step_by(COPY_PIECE_BYTES as usize)
        .map(|start| (source, start..size.min(start + COPY_PIECE_BYTES), if_match))
        .collect()
}

#[async_trait]
impl ContentStore for S3Backend {
    async fn put_index_entry(&self, entry: &IndexEntry) -> AppResult<()> {
        let content = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        let path = layout::index_entry(&entry.fingerprint, &entry.resource_key);
        self.write_object(&path, &content).await
    }

    async fn index_entries(
        &self,
        fingerprint: &Fingerprint,
        limit: usize,
    ) -> AppResult<Vec<Vec<u8>>> {
        let listed = self
            .op
            .list(&layout::index_entries_prefix(fingerprint))
            .await
            .map_err(storage_error)?;
        let mut entries = Vec::new();
        for entry in listed.iter().filter(|e| e.metadata().is_file()).take(limit) {
            // An entry removed since the listing is no candidate.
            if let Some(content) = self.read_if_exists(entry.path()).await? {
                entries.push(content);
            }
        }
        Ok(entries)
    }

    async fn remove_index_entry(
        &self,
        fingerprint: &Fingerprint,
        resource_key: &str,
    ) -> AppResult<()> {
        self.op
            .delete(&layout::index_entry(fingerprint, resource_key))
            .await
            .map_err(storage_error)
    }

    async fn copy_object(&self, source: &str, copy: &ObjectCopy) -> AppResult<Option<Assembled>> {
        let source = layout::object(source);
        let Some(checked) = self.stat_if_exists(&source).await? else {
            return Ok(None);
        };
        if !holds(&checked, copy) {
            return Ok(None);
        }
        let store_etag = checked.etag().map(str::to_owned);
        let staging = layout::new_staging_object()?;
        let staged = whole(&source, copy.size, store_etag.as_deref());
        match self.write_copied(&staging, &copy.etag, staged).await {
            Ok(()) => {}
            // Replaced (a store that honours If-Match) or removed since it was checked.
            Err(e) if matches!(e.kind(), ErrorKind::ConditionNotMatch | ErrorKind::NotFound) => {
                return Ok(None);
            }
            Err(e) => return Err(storage_error(e)),
        }
        let unchanged = self
            .stat_if_exists(&source)
            .await?
            .is_some_and(|now| now.etag() == store_etag.as_deref());
        let placed = match unchanged {
            true => {
                let target = layout::object(&copy.resource_key);
                let pieces = whole(&staging, copy.size, None);
                self.write_copied(&target, &copy.etag, pieces)
                    .await
                    .map_err(storage_error)
            }
            false => Ok(()),
        };
        // The staging object goes either way (the sweep removes it should this fail).
        let _ = self.op.delete(&staging).await;
        placed?;
        Ok(unchanged.then_some(Assembled::Shown))
    }
}
