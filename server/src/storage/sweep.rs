//! Which uploads are stale, one policy for every backend: an upload untouched for longer than the
//! TTL is aborted; a completion record past its retention goes with its upload; what an abort or a
//! crashed init left without a record goes after a short grace; staged bytes untouched for the TTL
//! (at least an hour) go too, and so do the store's own multipart uploads that no request will
//! finish (`abort_stale_multiparts`).

use std::time::Duration;

use crate::error::AppResult;
use crate::hooks::event::{Event, EventKind};
use crate::storage::backend::UploadActivity;
use crate::storage::records::{self, COMPLETED_RECORD_RETENTION, Record, UploadRecord};
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// How long an upload without `upload.json` is left alone: an init may be writing it right now.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);
/// Staged bytes are never removed sooner than this, however short the TTL: a slow part may still
/// be arriving.
const MIN_STAGING_AGE: Duration = Duration::from_secs(3600);

/// Result of one stale-upload sweep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub stale_uploads_aborted: usize,
    pub finished_records_removed: usize,
    /// The store's own multipart uploads (S3) aborted.
    pub store_multiparts_aborted: usize,
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
    /// Aborts uploads untouched for longer than `ttl` and drops completion records past retention.
    /// Two instances sweeping at once both delete the same things: harmless.
    pub async fn sweep(&self, ttl: Duration) -> AppResult<SweepReport> {
        let mut report = SweepReport::default();
        for listed in self.backend.list_uploads().await? {
            if verdict(&listed, ttl) == Verdict::Keep {
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
                Verdict::RemoveFinished => {
                    report.finished_records_removed += 1;
                    self.backend.remove_completed(upload_id).await?;
                    continue;
                }
            }
            self.backend.remove_upload(upload_id).await?;
        }
        self.backend
            .remove_stale_staging(ttl.max(MIN_STAGING_AGE))
            .await?;
        report.store_multiparts_aborted = self.abort_stale_multiparts(ttl).await?;
        Ok(report)
    }

    /// Aborts the store's multipart uploads that no request will finish, which a crash mid-write
    /// leaves: a part's as soon as its upload is no longer in progress (aborted, swept or completed:
    /// its commit would be refused); any, a part of an upload in progress included, once older than
    /// staged bytes may be (a slow part may still be arriving until then).
    async fn abort_stale_multiparts(&self, ttl: Duration) -> AppResult<usize> {
        let mut aborted = 0;
        for multipart in self.backend.store_multiparts().await? {
            let stale = multipart.age > ttl.max(MIN_STAGING_AGE)
                || match &multipart.upload_id {
                    Some(upload_id) => !self.is_in_progress(upload_id).await?,
                    None => false,
                };
            if stale {
                self.backend.abort_store_multipart(&multipart).await?;
                aborted += 1;
            }
        }
        Ok(aborted)
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
