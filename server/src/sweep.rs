//! The background task that runs storage's sweep (which uploads are stale is decided there) every
//! `Config::sweep_interval`, and records each run's outcome and duration in the metrics. Stopped by
//! dropping its [`SweepGuard`] (mini-redis style).

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::config::{Config, StoreKind};
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
    // A bucket is shared by instances that each start and end uploads: its count is read again from
    // each later sweep's listing (the first runs at once, just after `metrics::serve` counted). On
    // the local disk this process sees every change as it happens.
    let shared_store = config.store == StoreKind::S3;
    let mut first = true;
    let mut interval = tokio::time::interval(config.sweep_interval());
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    SweepGuard(tokio::spawn(async move {
        loop {
            interval.tick().await;
            let started = tokio::time::Instant::now();
            let result = storage.sweep(ttl).await;
            metrics::sweep_finished(result.is_ok(), started.elapsed());
            if let Ok(report) = &result
                && shared_store
                && !first
            {
                metrics::set_uploads_in_progress(report.uploads_in_progress);
            }
            first = false;
            match result {
                Ok(report)
                    if report.stale_uploads_aborted + report.finished_records_removed > 0 =>
                {
                    tracing::info!(
                        stale_uploads_aborted = report.stale_uploads_aborted,
                        finished_records_removed = report.finished_records_removed,
                        "swept stale uploads"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("stale-upload sweep failed: {e}"),
            }
        }
    }))
}
