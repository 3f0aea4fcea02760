//! Prometheus metrics: every metric partup exposes is defined here, once, with the functions that
//! record it; `serve.rs` serves them at `GET /metrics` on `--metrics-listen` (SPEC.md, "Metrics and
//! logs"). Without that flag nothing is ever created: each recording function is one atomic load
//! that finds no metrics and returns.
//!
//! | exposed name | type | labels |
//! | --- | --- | --- |
//! | `partup_build_info` | gauge (always 1) | `version` |
//! | `partup_uploads_in_progress` | gauge | |
//! | `partup_received_bytes_total` | counter | |
//! | `partup_requests_total` | counter | `endpoint`, `code` |
//! | `partup_request_duration_seconds` | histogram | `endpoint` |
//! | `partup_refusals_total` | counter | `reason` |
//! | `partup_sweeps_total` | counter | `outcome` |
//! | `partup_swept_uploads_total` | counter | |
//! | `partup_instant_uploads_total` | counter | `outcome` (`hit`, `miss`) |
//! | `partup_sweep_duration_seconds` | gauge | |
//! | `partup_md5_rounds_total` | counter | `path` (`avx512`, `avx2`) |
//! | `partup_md5_round_streams_total` | counter | `path` |
//! | `partup_md5_hashed_bytes_total` | counter | `path` |
//! | `partup_data_available_bytes` | gauge (fs store) | |
//! | `partup_data_size_bytes` | gauge (fs store) | |
//!
//! Every label value comes from a closed set ([`Endpoint`], [`ErrorCode`], [`Refusal`], a sweep's
//! outcome, the version): never a key, an upload id, a token's `sub` or a path, so no client can
//! grow the exposition (or learn another's keys) by what it sends.

mod serve;

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use partup_wire::{API_PREFIX, Endpoint, ErrorCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use serve::{MetricsGuard, serve};

/// Upper bounds (seconds) of the request-latency buckets: from a listParts answered from memory to
/// a large part over a slow link.
const LATENCY_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Why a request or a connection was refused to protect the server or the store; the `reason`
/// label of `partup_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// 429 TooManyUploads: a cap on uploads in progress.
    TooManyUploads,
    /// 507 InsufficientStorage: below `--min-free-space`, or the disk ran full.
    InsufficientStorage,
    /// 413 EntityTooLarge: a part over `--max-part-size`, an object over `--max-object-size` or a
    /// token's `maxSize`.
    EntityTooLarge,
    /// 401 Unauthorized: no valid upload token.
    Unauthorized,
    /// 403 AccessDenied: a token (or anonymous request) that may not do this.
    AccessDenied,
    /// 503 ServiceUnavailable: shutting down, or the pre-create hook did not answer.
    ServiceUnavailable,
    /// A request body that sent nothing for `--body-idle-timeout` (the connection is cut, so no
    /// response carries it: the connection handling records it with [`record_refusal`]).
    BodyTimeout,
    /// Headers not complete within `--header-timeout` (recorded like [`Refusal::BodyTimeout`]).
    HeaderTimeout,
}

impl Refusal {
    pub const ALL: [Refusal; 8] = [
        Refusal::TooManyUploads,
        Refusal::InsufficientStorage,
        Refusal::EntityTooLarge,
        Refusal::Unauthorized,
        Refusal::AccessDenied,
        Refusal::ServiceUnavailable,
        Refusal::BodyTimeout,
        Refusal::HeaderTimeout,
    ];

    /// The label value, e.g. `too_many_uploads`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TooManyUploads => "too_many_uploads",
            Refusal::InsufficientStorage => "insufficient_storage",
            Refusal::EntityTooLarge => "entity_too_large",
            Refusal::Unauthorized => "unauthorized",
            Refusal::AccessDenied => "access_denied",
            Refusal::ServiceUnavailable => "service_unavailable",
            Refusal::BodyTimeout => "body_timeout",
            Refusal::HeaderTimeout => "header_timeout",
        }
    }

    /// The refusal an error answer stands for; `None` for the client's own mistakes (a bad
    /// digest, an unknown upload) and for failures.
    pub fn of(code: ErrorCode) -> Option<Refusal> {
        match code {
            ErrorCode::TooManyUploads => Some(Refusal::TooManyUploads),
            ErrorCode::InsufficientStorage => Some(Refusal::InsufficientStorage),
            ErrorCode::EntityTooLarge => Some(Refusal::EntityTooLarge),
            ErrorCode::Unauthorized => Some(Refusal::Unauthorized),
            ErrorCode::AccessDenied => Some(Refusal::AccessDenied),
            ErrorCode::ServiceUnavailable => Some(Refusal::ServiceUnavailable),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    /// `ok`, or the [`ErrorCode`] answered.
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Md5PathLabels {
    /// The MD5 engine's SIMD path (`md5lanes::Path::name`).
    path: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    /// `ok` or `error` (sweeps), `hit` or `miss` (instant uploads).
    outcome: &'static str,
}

type LatencyFamily = Family<EndpointLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every metric, created once when `--metrics-listen` is given.
struct Metrics {
    build_info: Family<BuildLabels, Gauge>,
    uploads_in_progress: Gauge,
    received_bytes: Counter,
    requests: Family<RequestLabels, Counter>,
    request_duration: LatencyFamily,
    refusals: Family<RefusalLabels, Counter>,
    sweeps: Family<OutcomeLabels, Counter>,
    swept_uploads: Counter,
    sweep_duration: Gauge<f64, AtomicU64>,
    instant_uploads: Family<OutcomeLabels, Counter>,
    md5_rounds: Family<Md5PathLabels, Counter>,
    md5_round_streams: Family<Md5PathLabels, Counter>,
    md5_hashed_bytes: Family<Md5PathLabels, Counter>,
    data_available: Gauge,
    data_size: Gauge,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The metrics, when they are on.
fn metrics() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Turns metrics on for the rest of the process (the first call creates them).
fn enable() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let metrics = Metrics {
            build_info: Family::default(),
            uploads_in_progress: Gauge::default(),
            received_bytes: Counter::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            refusals: Family::default(),
            sweeps: Family::default(),
            swept_uploads: Counter::default(),
            sweep_duration: Gauge::default(),
            instant_uploads: Family::default(),
            md5_rounds: Family::default(),
            md5_round_streams: Family::default(),
            md5_hashed_bytes: Family::default(),
            data_available: Gauge::default(),
            data_size: Gauge::default(),
        };
        metrics
            .build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        metrics
    }

    /// The registry naming every metric (the encoder appends the unit, then `_total` to counters).
    /// `with_disk`: the fs store, whose `--data` free space is reported.
    fn registry(&self, with_disk: bool) -> Registry {
        let mut registry = Registry::with_prefix("partup");
        registry.register(
            "build_info",
            "partup-server's version; always 1",
            self.build_info.clone(),
        );
        registry.register(
            "uploads_in_progress",
            "Uploads started and not yet completed, aborted or expired (counted from the store at start; over S3, the bucket's count at this instance's last sweep plus the changes it made since)",
            self.uploads_in_progress.clone(),
        );
        registry.register_with_unit(
            "received",
            "Bytes of parts' content received, including parts refused after their bytes arrived (a bad digest, over a limit)",
            Unit::Bytes,
            self.received_bytes.clone(),
        );
        self.register_requests(&mut registry);
        self.register_sweeps(&mut registry);
        if with_disk {
            registry.register_with_unit(
                "data_available",
                "Bytes partup may still write on --data's filesystem (measured at each scrape)",
                Unit::Bytes,
                self.data_available.clone(),
            );
            registry.register_with_unit(
                "data_size",
                "Size of --data's filesystem (measured at each scrape)",
                Unit::Bytes,
                self.data_size.clone(),
            );
        }
        registry
    }

    fn register_requests(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "API requests answered, by endpoint and outcome (code is ok or the error code)",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a request's arrival to its answer's headers, by endpoint (for a part, its whole body)",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register(
            "refusals",
            "Requests or connections refused to protect the server or the store, by reason",
            self.refusals.clone(),
        );
    }

    fn register_sweeps(&self, registry: &mut Registry) {
        registry.register(
            "sweeps",
            "Runs of the stale-upload sweep, by outcome (ok or error)",
            self.sweeps.clone(),
        );
        registry.register(
            "swept_uploads",
            "Uploads the sweep aborted because they were untouched for --upload-ttl (or left without a record)",
            self.swept_uploads.clone(),
        );
        registry.register_with_unit(
            "sweep_duration",
            "How long the last stale-upload sweep took",
            Unit::Seconds,
            self.sweep_duration.clone(),
        );
        registry.register(
            "instant_uploads",
            "uploadInits that declared their content (instant upload), by outcome: hit (completed from content already stored) or miss",
            self.instant_uploads.clone(),
        );
        registry.register(
            "md5_rounds",
            "Calls of the MD5 engine's SIMD kernels (storage/md5_engine.rs), by path",
            self.md5_rounds.clone(),
        );
        registry.register(
            "md5_round_streams",
            "Parts hashed together, summed over the MD5 engine's rounds: divided by md5_rounds, the lanes in use",
            self.md5_round_streams.clone(),
        );
        registry.register(
            "md5_hashed_bytes",
            "Bytes of parts hashed by the MD5 engine's threads",
            self.md5_hashed_bytes.clone(),
        );
    }

    fn record_response(&self, path: &str, error: Option<ErrorCode>, elapsed: Duration) {
        if let Some(refusal) = error.and_then(Refusal::of) {
            self.record_refusal(refusal);
        }
        let Some(endpoint) = endpoint_of(path) else {
            return;
        };
        let endpoint = endpoint.name();
        let code = error.map_or("ok", ErrorCode::as_str);
        self.requests
            .get_or_create(&RequestLabels { endpoint, code })
            .inc();
        self.request_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    fn record_refusal(&self, reason: Refusal) {
        self.refusals
            .get_or_create(&RefusalLabels {
                reason: reason.as_str(),
            })
            .inc();
    }
}

/// The API endpoint a request path names, if any.
fn endpoint_of(path: &str) -> Option<Endpoint> {
    let name = path.strip_prefix(API_PREFIX)?.strip_prefix('/')?;
    Endpoint::ALL.into_iter().find(|e| e.name() == name)
}

/// A request was answered: `error` is the code of an error answer (`None` for success), `elapsed`
/// the time from its arrival. Counted under its endpoint when the path is one of the API's, and as
/// a refusal whatever the path when the code is one ([`Refusal::of`]).
pub fn record_response(path: &str, error: Option<ErrorCode>, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.record_response(path, error, elapsed);
    }
}

/// Counts a refusal that no response carries (a connection cut for a timeout).
pub fn record_refusal(reason: Refusal) {
    if let Some(m) = metrics() {
        m.record_refusal(reason);
    }
}

/// `bytes` more of a part's content arrived.
pub fn record_received(bytes: usize) {
    if let Some(m) = metrics() {
        m.received_bytes.inc_by(bytes as u64);
    }
}

/// The sweep removed a stale upload.
pub fn upload_swept() {
    if let Some(m) = metrics() {
        m.swept_uploads.inc();
    }
}

/// The uploads in progress, as the admission registry counts them (`storage/admission.rs`: kept in
/// step by init, complete, abort and the sweep, and recounted from the store at start and after
/// every sweep, so over S3 it includes the uploads other instances started), read at a scrape.
fn set_uploads_in_progress(count: usize) {
    if let Some(m) = metrics() {
        m.uploads_in_progress
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// The space of `--data`'s filesystem, measured at a scrape.
fn set_disk_space(available: u64, total: u64) {
    if let Some(m) = metrics() {
        m.data_available
            .set(i64::try_from(available).unwrap_or(i64::MAX));
        m.data_size.set(i64::try_from(total).unwrap_or(i64::MAX));
    }
}

/// The MD5 engine hashed `bytes` of `streams` parts together on `path`.
pub fn record_md5_round(path: &'static str, streams: usize, bytes: usize) {
    if let Some(m) = metrics() {
        let labels = Md5PathLabels { path };
        m.md5_rounds.get_or_create(&labels).inc();
        m.md5_round_streams
            .get_or_create(&labels)
            .inc_by(streams as u64);
        m.md5_hashed_bytes
            .get_or_create(&labels)
            .inc_by(bytes as u64);
    }
}

/// An uploadInit declared its content: `hit` when the upload was completed from content already
/// stored.
pub fn instant_upload(hit: bool) {
    if let Some(m) = metrics() {
        let outcome = if hit { "hit" } else { "miss" };
        m.instant_uploads
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }
}

/// A run of the stale-upload sweep ended after `elapsed`, `ok` or with an error.
pub fn sweep_finished(ok: bool, elapsed: Duration) {
    if let Some(m) = metrics() {
        let outcome = if ok { "ok" } else { "error" };
        m.sweeps.get_or_create(&OutcomeLabels { outcome }).inc();
        m.sweep_duration.set(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests;
