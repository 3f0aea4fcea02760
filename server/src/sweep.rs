//! The background task that runs storage's sweep (which uploads are stale is decided there) every
//! `Config::sweep_interval`, and records each run's outcome and duration in the metrics. Stopped by
//! dropping its [`SweepGuard`] (mini-redis style).
//!
//! No pass stops the ones after it: one upload the sweep cannot handle is logged by storage and
//! the others swept; a pass that fails as a whole (the uploads cannot be listed), or even panics, is
//! logged here and the next one runs on time.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::metrics;
use crate::storage::Storage;

/// Aborts the sweep task when dropped.
pub struct SweepGuard(JoinHandle<()>);

impl Drop for SweepGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn spawn_sweeper(storage: Arc<Storage>, config: &Config) -> SweepGuard {
    let ttl = config.upload_ttl;
    let mut interval = tokio::time::interval(config.sweep_interval());
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    SweepGuard(tokio::spawn(async move {
        loop {
            interval.tick().await;
            let started = tokio::time::Instant::now();
            let outcome = AssertUnwindSafe(storage.sweep(ttl)).catch_unwind().await;
            metrics::sweep_finished(matches!(outcome, Ok(Ok(_))), started.elapsed());
            match outcome {
                Ok(Ok(report)) if report.failed > 0 => {
                    tracing::warn!(
                        stale_uploads_aborted = report.stale_uploads_aborted,
                        finished_records_removed = report.finished_records_removed,
                        store_multiparts_aborted = report.store_multiparts_aborted,
                        skipped_busy = report.skipped_busy,
                        failed = report.failed,
                        "swept stale uploads; some could not be removed (see above), the next pass tries again"
                    );
                }
                Ok(Ok(report))
                    if report.stale_uploads_aborted
                        + report.finished_records_removed
                        + report.store_multiparts_aborted
                        > 0 =>
                {
                    tracing::info!(
                        stale_uploads_aborted = report.stale_uploads_aborted,
                        finished_records_removed = report.finished_records_removed,
                        store_multiparts_aborted = report.store_multiparts_aborted,
                        skipped_busy = report.skipped_busy,
                        "swept stale uploads"
                    );
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("stale-upload sweep failed: {e}"),
                Err(_) => tracing::error!(
                    "a stale-upload sweep pass panicked; the next one runs as usual"
                ),
            }
        }
    }))
}
