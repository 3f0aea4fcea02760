//! Counting the uploads in progress from the store (`admission.rs` holds the counts): at start, so
//! a restart counts what the store holds rather than zero, and after every sweep, so uploads other
//! instances started or finished are counted too.

use std::collections::HashSet;
use std::time::Instant;

use futures_util::{StreamExt, stream};

use crate::error::AppResult;
use crate::storage::admission::Owner;
use crate::storage::backend::UploadActivity;
use crate::storage::records::{self, Record, UploadRecord};
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// Upload records read at once when recounting.
const RECORD_READS_AT_ONCE: usize = 16;

impl Storage {
    /// Uploads in progress as counted now (the metrics' gauge reads it at each scrape).
    pub fn uploads_in_progress(&self) -> usize {
        self.admission.in_progress()
    }

    /// Counts the uploads in progress from the store's listing (at start: a restart counts what
    /// the store holds, not zero).
    pub async fn recount_uploads(&self) -> AppResult<usize> {
        let listing_began = Instant::now();
        let listing = self.backend.list_uploads().await?;
        self.recount(listing_began, &listing).await?;
        Ok(self.admission.in_progress())
    }

    /// Makes the admission registry match `listing` (taken from `listing_began` on): only the
    /// records of uploads it does not count yet are read, for their owner, several at a time (a
    /// bucket answers each read in milliseconds, and a restart may find thousands).
    pub(super) async fn recount(
        &self,
        listing_began: Instant,
        listing: &[UploadActivity],
    ) -> AppResult<()> {
        let mut in_progress = self.admission.counted();
        let listed: HashSet<&UploadId> = listing
            .iter()
            .filter(|l| l.has_upload_record && l.completed_age.is_none())
            .map(|l| &l.upload_id)
            .collect();
        in_progress.retain(|id, _| listed.contains(id));
        let unknown: Vec<UploadId> = listed
            .into_iter()
            .filter(|id| !in_progress.contains_key(*id))
            .cloned()
            .collect();
        let owners: Vec<AppResult<Option<(UploadId, Owner)>>> = stream::iter(unknown)
            .map(|id| self.owner_of(id))
            .buffer_unordered(RECORD_READS_AT_ONCE)
            .collect()
            .await;
        for owner in owners {
            in_progress.extend(owner?);
        }
        self.admission.resync(listing_began, in_progress);
        Ok(())
    }

    /// Who upload `id` counts against, from its record; `None` once it is gone.
    async fn owner_of(&self, id: UploadId) -> AppResult<Option<(UploadId, Owner)>> {
        let Some(content) = self.backend.read_record(&id, Record::Upload).await? else {
            return Ok(None);
        };
        let owner = records::decode::<UploadRecord>(Record::Upload, &content)
            .map_or(Owner::Unknown, |record| Owner::of_record(&record));
        Ok(Some((id, owner)))
    }
}
