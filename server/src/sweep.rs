//! The background task that aborts stale uploads (untouched longer than `--upload-ttl`) and drops
//! completion records past their retention. Stopped by dropping its [`SweepGuard`] (mini-redis style).

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::config::Config;
use crate::storage::Store;

/// Aborts the sweep task when dropped.
pub struct SweepGuard(JoinHandle<()>);

impl Drop for SweepGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn spawn_sweeper(store: Arc<dyn Store>, config: &Config) -> SweepGuard {
    let ttl = config.upload_ttl;
    let mut interval = tokio::time::interval(config.sweep_interval());
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    SweepGuard(tokio::spawn(async move {
        loop {
            interval.tick().await;
            match store.sweep(ttl).await {
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
