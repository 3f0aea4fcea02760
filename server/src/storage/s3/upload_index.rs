//! The upload index on S3: one empty object per upload in progress under
//! `PREFIX/uploads-index/OWNER/` (`layout.rs`). The store lists keys in order, so a page is one
//! listing of that owner's folder from the marker on (`start-after`), no longer than the page.

use async_trait::async_trait;
use futures_util::TryStreamExt;

use super::connection::storage_error;
use super::{S3Backend, layout};
use crate::error::AppResult;
use crate::storage::upload_index::{OwnerFolder, UploadEntry, UploadIndex};

#[async_trait]
impl UploadIndex for S3Backend {
    async fn put_upload_entry(&self, entry: &UploadEntry) -> AppResult<()> {
        self.write_object(&layout::upload_index_entry(entry), b"")
            .await
    }

    async fn upload_entries(
        &self,
        owner: &OwnerFolder,
        after: Option<&str>,
        limit: usize,
    ) -> AppResult<Vec<String>> {
        let folder = layout::owner_index_prefix(owner);
        let mut listing = self.op.lister_with(&folder).limit(limit.max(1));
        if let Some(after) = after {
            listing = listing.start_after(&format!("{folder}{after}"));
        }
        let mut lister = listing.await.map_err(storage_error)?;
        let mut names = Vec::new();
        while names.len() < limit {
            let Some(entry) = lister.try_next().await.map_err(storage_error)? else {
                break;
            };
            // The folder itself may be listed; only its entries count.
            if let Some(name) = entry.path().strip_prefix(&folder).filter(|n| !n.is_empty()) {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    async fn remove_upload_entry(&self, entry: &UploadEntry) -> AppResult<()> {
        self.op
            .delete(&layout::upload_index_entry(entry))
            .await
            .map_err(storage_error)
    }
}
