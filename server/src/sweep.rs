//! The background task that runs storage's sweep (which uploads are stale is decided there) every
//! `Config::sweep_interval`. Stopped by dropping its [`SweepGuard`] (mini-redis style).

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::config::Config;
use crate::storage::{Storage, SweepReport};

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
            match storage.sweep(ttl).await {
                Ok(report) if report != SweepReport::default() => {
                    tracing::info!(
                        stale_uploads_aborted = report.stale_uploads_aborted,
                        finished_records_removed = report.finished_records_removed,
                        store_multiparts_aborted = report.store_multiparts_aborted,
                        "swept stale uploads"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("stale-upload sweep failed: {e}"),
            }
        }
    }))
}
