//! Which uploads are stale, one policy for every backend: an upload untouched for longer than the
//! TTL is aborted; a completion record past its retention goes with its upload; what an abort or a
//! crashed init left without a record goes after a short grace; staged bytes untouched for the TTL
//! (at least an hour) go too.

use std::time::Duration;

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

/// Result of one stale-upload sweep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub stale_uploads_aborted: usize,
    pub finished_records_removed: usize,
    /// Uploads in progress that the listing found and the sweep left (what the metrics of a store
    /// shared by several instances are set to).
    pub uploads_in_progress: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    AbortStale,
    RemoveFinished,
}

/// Whether a listed upload is in progress: started (its record stored) and not completed.
fn in_progress(activity: &UploadActivity) -> bool {
    activity.has_upload_record && activity.completed_age.is_none()
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
                report.uploads_in_progress += usize::from(in_progress(&listed));
                continue;
            }
            let upload_id = &listed.upload_id;
            let _lock = self.backend.lock_upload(upload_id).await;
            // Decided again under the lock: a part may have arrived since the listing.
            let Some(current) = self.backend.upload_activity(upload_id).await? else {
                continue;
            };
            let decided = verdict(&current, ttl);
            match decided {
                Verdict::Keep => {
                    report.uploads_in_progress += usize::from(in_progress(&current));
                    continue;
                }
                Verdict::AbortStale => {
                    self.report_expired(upload_id).await?;
                    report.stale_uploads_aborted += 1;
                }
                Verdict::RemoveFinished => report.finished_records_removed += 1,
            }
            self.backend.remove_upload(upload_id).await?;
            if decided == Verdict::AbortStale {
                metrics::upload_swept(in_progress(&current));
            }
        }
        self.backend
            .remove_stale_staging(ttl.max(MIN_STAGING_AGE))
            .await?;
        Ok(report)
    }

    /// How many uploads are in progress in the store, from one listing (what the metrics start
    /// from).
    pub async fn count_uploads_in_progress(&self) -> AppResult<usize> {
        let listed = self.backend.list_uploads().await?;
        Ok(listed.iter().filter(|upload| in_progress(upload)).count())
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
