//! Which uploads are stale, one policy for every backend: an upload untouched for longer than the
//! TTL is aborted; a completion record past its retention goes with its upload; what an abort or a
//! crashed init left without a record goes after a short grace; staged bytes untouched for the TTL
//! (at least an hour) go too.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};

use crate::error::AppResult;
use crate::hooks::event::{Event, EventKind};
use crate::storage::admission::Owner;
use crate::storage::backend::UploadActivity;
use crate::storage::records::{self, COMPLETED_RECORD_RETENTION, Record, UploadRecord};
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// How long an upload without `upload.json` is left alone: an init may be writing it right now.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);
/// Staged bytes are never removed sooner than this, however short the TTL: a slow part may still
/// be arriving.
const MIN_STAGING_AGE: Duration = Duration::from_secs(3600);

/// Upload records read at once when recounting.
const RECORD_READS_AT_ONCE: usize = 16;

/// Result of one stale-upload sweep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub stale_uploads_aborted: usize,
    pub finished_records_removed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    AbortStale,
    RemoveFinished,
}

fn verdict(activity: &UploadActivity, ttl: Duration) -> Verdict {
    match activity.completed_age {
        Some(age) if age > COMPLETED_RECORD_RETENTION => Verdict::RemoveFinished,
        Some(_) => Verdict::Keep,
        None if activity.idle > ttl
            || (!activity.has_upload_record && activity.idle > ORPHAN_GRACE) =>
        {
            Verdict::AbortStale
        }
        None => Verdict::Keep,
    }
}

impl Storage {
    /// Aborts uploads untouched for longer than `ttl` and drops completion records past retention;
    /// then recounts the uploads in progress from the same listing (`admission.rs`).
    /// Two instances sweeping at once both delete the same things: harmless.
    pub async fn sweep(&self, ttl: Duration) -> AppResult<SweepReport> {
        let mut report = SweepReport::default();
        let listing_began = Instant::now();
        let listing = self.backend.list_uploads().await?;
        for listed in &listing {
            if verdict(listed, ttl) == Verdict::Keep {
                continue;
            }
            let upload_id = &listed.upload_id;
            let _lock = self.backend.lock_upload(upload_id).await;
            // Decided again under the lock: a part may have arrived since the listing.
            let Some(current) = self.backend.upload_activity(upload_id).await? else {
                continue;
            };
            match verdict(&current, ttl) {
                Verdict::Keep => continue,
                Verdict::AbortStale => {
                    self.report_expired(upload_id).await?;
                    report.stale_uploads_aborted += 1;
                }
                Verdict::RemoveFinished => report.finished_records_removed += 1,
            }
            self.backend.remove_upload(upload_id).await?;
            self.admission.release(upload_id);
        }
        self.recount(listing_began, &listing).await?;
        self.backend
            .remove_stale_staging(ttl.max(MIN_STAGING_AGE))
            .await?;
        Ok(report)
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
    async fn recount(&self, listing_began: Instant, listing: &[UploadActivity]) -> AppResult<()> {
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

    /// Emits `upload.expired` for a stale upload about to be removed. One that never got its
    /// `upload.json` (an init cut short) has no key to report and was never answered: no event.
    async fn report_expired(&self, upload_id: &UploadId) -> AppResult<()> {
        if let Some(content) = self.backend.read_record(upload_id, Record::Upload).await? {
            let record: UploadRecord = records::decode(Record::Upload, &content)?;
            self.emit(Event::new(EventKind::Expired, upload_id, &record))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::upload_id::UploadId;

    fn activity(has_upload_record: bool, completed_age: Option<u64>, idle: u64) -> UploadActivity {
        UploadActivity {
            upload_id: UploadId::generate().expect("random id"),
            has_upload_record,
            completed_age: completed_age.map(Duration::from_secs),
            idle: Duration::from_secs(idle),
        }
    }

    #[test]
    fn one_policy_decides_what_is_stale() {
        let ttl = Duration::from_secs(600);
        let day = COMPLETED_RECORD_RETENTION.as_secs();
        assert_eq!(verdict(&activity(true, None, 10), ttl), Verdict::Keep);
        assert_eq!(
            verdict(&activity(true, None, 601), ttl),
            Verdict::AbortStale
        );
        // What an abort or a crashed init left goes after the grace, whatever the TTL.
        assert_eq!(verdict(&activity(false, None, 30), ttl), Verdict::Keep);
        assert_eq!(
            verdict(&activity(false, None, 61), ttl),
            Verdict::AbortStale
        );
        // A completed upload answers retries for its retention, however idle.
        assert_eq!(
            verdict(&activity(true, Some(10), 10_000), ttl),
            Verdict::Keep
        );
        assert_eq!(
            verdict(&activity(true, Some(day + 1), 10), ttl),
            Verdict::RemoveFinished
        );
    }
}
