//! `GET /metrics` in Prometheus' text format, on a listener of its own (`--metrics-listen`), never
//! on the API's: the API may face the internet, the metrics are for the operator's network.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::storage::Storage;

/// Stops serving `/metrics` when dropped (recording goes on, unread).
pub struct MetricsGuard(Option<JoinHandle<()>>);

impl Drop for MetricsGuard {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// With `--metrics-listen`: turns metrics on, binds the address and serves `/metrics` there until the guard is dropped. The bound address is
/// printed on stdout as `partup-server metrics on http://ADDR/metrics` (port 0 picks one). Without
/// the flag, does nothing.
pub async fn serve(config: &Config, storage: Arc<Storage>) -> Result<MetricsGuard, String> {
    let Some(address) = config.limits.metrics_listen else {
        return Ok(MetricsGuard(None));
    };
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen for metrics on {address}: {e}"))?;
    let bound: SocketAddr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the metrics address: {e}"))?;
    let metrics = super::enable();
    // The space gauges exist for a store that has free space to report (the local disk), asked
    // through the same backend capability `--min-free-space` uses.
    let with_disk = !matches!(storage.disk_space().await, Ok(None));
    let exporter = Arc::new(Exporter {
        registry: metrics.registry(with_disk),
        with_disk,
        storage,
    });
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(exporter);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics listener failed: {e}");
        }
    });
    // Like the API's listening line: how scripts and tests learn a port the system picked.
    println!("partup-server metrics on http://{bound}/metrics");
    tracing::info!(listen = %bound, "serving metrics on http://{bound}/metrics");
    Ok(MetricsGuard(Some(task)))
}

struct Exporter {
    registry: Registry,
    /// Whether each scrape measures the store's free space (`--store fs`).
    with_disk: bool,
    /// Whose count of uploads in progress and free space each scrape reports.
    storage: Arc<Storage>,
}

async fn scrape(State(exporter): State<Arc<Exporter>>) -> Response {
    super::set_uploads_in_progress(exporter.storage.uploads_in_progress());
    if exporter.with_disk {
        match exporter.storage.disk_space().await {
            Ok(Some(space)) => super::set_disk_space(space.available, space.total),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot measure the data directory's free space: {e}"),
        }
    }
    let mut text = String::with_capacity(16 << 10);
    if prometheus_text::encode(&mut text, &exporter.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        text,
    )
        .into_response()
}
