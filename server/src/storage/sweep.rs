//! Which uploads are stale, one policy for every backend: an upload untouched for longer than the
//! TTL is aborted; a completion record past its retention goes with its upload; what an abort or a
//! crashed init left without a record goes after a short grace; staged bytes untouched for the TTL
//! (at least an hour) go too, and so do the store's own multipart uploads that no request will
//! finish (`abort_stale_multiparts`).
//!
//! What the sweep never does: remove an upload with a part in flight (however slowly its bytes
//! arrive, whatever the TTL: [`PartsInFlight`]), wait behind an upload's lock (a long complete holds
//! it: that upload is skipped for this pass), or stop at one upload it cannot handle (an unreadable
//! record, a failed removal: logged, and the others are swept).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::AppResult;
use crate::hooks::event::{Event, EventKind};
use crate::metrics;
use crate::storage::backend::UploadActivity;
use crate::storage::records::{self, COMPLETED_RECORD_RETENTION, Record, UploadRecord};
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// How long an upload without `upload.json` is left alone: an init may be writing it right now.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);
/// Staged bytes are never removed sooner than this, however short the TTL: a slow part may still
/// be arriving.
const MIN_STAGING_AGE: Duration = Duration::from_secs(3600);
/// Age before the store's multipart upload of a direct upload without a record (an init that
/// failed between the two) is aborted: longer than any init takes.
const DIRECT_INIT_GRACE: Duration = Duration::from_secs(600);

/// Result of one stale-upload sweep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub stale_uploads_aborted: usize,
    pub finished_records_removed: usize,
    /// The store's own multipart uploads (S3) aborted.
    pub store_multiparts_aborted: usize,
    /// Stale-looking uploads left for the next pass because their lock was held (a complete).
    pub skipped_busy: usize,
    /// Uploads the sweep could not handle (each logged); the others were swept all the same.
    pub failed: usize,
}

/// The parts of each upload whose bytes are arriving right now, in this process. An upload with one
/// is never stale: its last change is still going on.
#[derive(Debug, Default)]
pub struct PartsInFlight(Mutex<HashMap<UploadId, usize>>);

/// One part in flight; dropped when it was committed or refused.
#[derive(Debug)]
pub struct PartInFlight {
    parts: Arc<PartsInFlight>,
    upload_id: UploadId,
}

impl PartsInFlight {
    /// Counts a part of `upload_id` in flight until the guard is dropped.
    pub fn enter(self: &Arc<Self>, upload_id: &UploadId) -> PartInFlight {
        *self
            .0
            .lock()
            .expect("parts in flight")
            .entry(upload_id.clone())
            .or_default() += 1;
        PartInFlight {
            parts: self.clone(),
            upload_id: upload_id.clone(),
        }
    }

    /// Whether a part of `upload_id` is in flight.
    pub fn any(&self, upload_id: &UploadId) -> bool {
        self.0
            .lock()
            .expect("parts in flight")
            .contains_key(upload_id)
    }
}

impl Drop for PartInFlight {
    fn drop(&mut self) {
        let mut counts = self.parts.0.lock().expect("parts in flight");
        if let Some(count) = counts.get_mut(&self.upload_id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.upload_id);
            }
        }
    }
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

/// What the sweep did with one upload.
enum Swept {
    Kept,
    Busy,
    Removed(Verdict),
}

impl Storage {
    /// Marks a part of `upload_id` as in flight until the guard is dropped: the sweep leaves the
    /// upload alone meanwhile, however long its bytes take.
    pub fn part_in_flight(&self, upload_id: &UploadId) -> PartInFlight {
        self.in_flight.enter(upload_id)
    }

    /// Aborts uploads untouched for longer than `ttl` and drops completion records past retention;
    /// then recounts the uploads in progress from the same listing (`recount.rs`).
    /// Two instances sweeping at once both delete the same things: harmless. Fails only when the
    /// uploads cannot be listed at all; one upload that cannot be handled is logged and skipped.
    pub async fn sweep(&self, ttl: Duration) -> AppResult<SweepReport> {
        let mut report = SweepReport::default();
        let listing_began = Instant::now();
        let listing = self.backend.list_uploads().await?;
        for listed in &listing {
            if verdict(listed, ttl) == Verdict::Keep || self.in_flight.any(&listed.upload_id) {
                continue;
            }
            let upload_id = &listed.upload_id;
            match self.sweep_upload(upload_id, ttl).await {
                Ok(Swept::Kept) => {}
                Ok(Swept::Busy) => report.skipped_busy += 1,
                Ok(Swept::Removed(Verdict::RemoveFinished)) => report.finished_records_removed += 1,
                Ok(Swept::Removed(_)) => report.stale_uploads_aborted += 1,
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(%upload_id, "the sweep could not remove this stale upload, it goes on with the others: {e}");
                }
            }
        }
        if let Err(e) = self.recount(listing_began, &listing).await {
            report.failed += 1;
            tracing::warn!("the sweep could not recount the uploads in progress: {e}");
        }
        if let Err(e) = self
            .backend
            .remove_stale_staging(ttl.max(MIN_STAGING_AGE))
            .await
        {
            report.failed += 1;
            tracing::warn!("the sweep could not remove old staged bytes: {e}");
        }
        match self.abort_stale_multiparts(ttl).await {
            Ok(aborted) => report.store_multiparts_aborted = aborted,
            Err(e) => {
                report.failed += 1;
                tracing::warn!("the sweep could not list the store's multipart uploads: {e}");
            }
        }
        Ok(report)
    }

    /// Removes one upload the listing found stale, when it still is under its lock. An upload whose
    /// lock is held (a complete may take minutes) is left for the next pass rather than waited for.
    async fn sweep_upload(&self, upload_id: &UploadId, ttl: Duration) -> AppResult<Swept> {
        let Some(_lock) = self.backend.try_lock_upload(upload_id).await else {
            return Ok(Swept::Busy);
        };
        // Decided again under the lock: a part may have arrived, or started, since the listing.
        if self.in_flight.any(upload_id) {
            return Ok(Swept::Kept);
        }
        let Some(current) = self.backend.upload_activity(upload_id).await? else {
            return Ok(Swept::Kept);
        };
        let verdict = verdict(&current, ttl);
        // A direct upload's parts arrive at the store, not among its objects: ask the store.
        if verdict == Verdict::AbortStale && self.active_at_store(upload_id, ttl).await? {
            return Ok(Swept::Kept);
        }
        let expired = match verdict {
            Verdict::Keep => return Ok(Swept::Kept),
            Verdict::AbortStale => self.report_expired(upload_id).await?,
            Verdict::RemoveFinished => None,
        };
        match verdict {
            // An abort never deletes a completion record (s3/lease.rs): only its retention does.
            Verdict::RemoveFinished => self.backend.remove_completed(upload_id).await?,
            _ => self.remove_upload_with(upload_id, expired.as_ref()).await?,
        }
        // From here the upload is no longer in progress: its slot is free for another.
        self.admission.release(upload_id);
        if let Some(record) = &expired {
            self.unindex_upload(upload_id, record).await;
        }
        if verdict == Verdict::AbortStale {
            metrics::upload_swept();
        }
        Ok(Swept::Removed(verdict))
    }

    /// Aborts the store's multipart uploads that no request will finish, which a crash mid-write
    /// leaves: a part's as soon as its upload is no longer in progress (aborted, swept or completed:
    /// its commit would be refused); any, a part of an upload in progress included, once older than
    /// staged bytes may be (a slow part may still be arriving until then). The one holding a direct
    /// upload's parts only once that upload is gone (its abort and its sweep abort it already: this
    /// is for what a crash between the two left).
    async fn abort_stale_multiparts(&self, ttl: Duration) -> AppResult<usize> {
        let mut aborted = 0;
        for multipart in self.backend.store_multiparts().await? {
            let in_progress = match &multipart.upload_id {
                Some(upload_id) => Some(self.is_in_progress(upload_id).await?),
                None => None,
            };
            let stale = if multipart.holds_direct_parts {
                // It lives as long as its upload, however long; an init writes the upload's
                // record just after starting it.
                in_progress == Some(false) && multipart.age > DIRECT_INIT_GRACE
            } else {
                multipart.age > ttl.max(MIN_STAGING_AGE) || in_progress == Some(false)
            };
            if !stale {
                continue;
            }
            // One that cannot be aborted now is logged; the others are, and the next pass retries.
            match self.backend.abort_store_multipart(&multipart).await {
                Ok(()) => aborted += 1,
                Err(e) => {
                    tracing::warn!("the sweep could not abort a multipart upload of the store: {e}")
                }
            }
        }
        Ok(aborted)
    }

    /// Emits `upload.expired` for a stale upload about to be removed, and answers its record (to
    /// remove its index entry). One that never got its `upload.json` (an init cut short) has no key
    /// to report and was never answered: no event. Nor has one whose record cannot be read
    /// (damaged): it is removed all the same, and logged (its entry goes at a listing).
    async fn report_expired(&self, upload_id: &UploadId) -> AppResult<Option<UploadRecord>> {
        let record = match self.backend.read_record(upload_id, Record::Upload).await {
            Ok(Some(content)) => records::decode::<UploadRecord>(Record::Upload, &content),
            Ok(None) => return Ok(None),
            Err(e) => Err(e),
        };
        match record {
            Ok(record) => {
                self.emit(Event::new(EventKind::Expired, upload_id, &record))
                    .await?;
                Ok(Some(record))
            }
            Err(e) => {
                tracing::warn!(%upload_id, "removing a stale upload whose record cannot be read, without an upload.expired event: {e}");
                Ok(None)
            }
        }
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

    #[test]
    fn a_part_in_flight_is_counted_until_its_guard_goes() {
        let parts = Arc::new(PartsInFlight::default());
        let (a, b) = (
            UploadId::generate().expect("random id"),
            UploadId::generate().expect("random id"),
        );
        let first = parts.enter(&a);
        let second = parts.enter(&a);
        assert!(parts.any(&a) && !parts.any(&b));
        drop(first);
        assert!(parts.any(&a), "one part of it is still arriving");
        drop(second);
        assert!(!parts.any(&a));
        assert!(parts.0.lock().unwrap().is_empty(), "nothing left behind");
    }
}
