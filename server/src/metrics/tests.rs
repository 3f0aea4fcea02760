//! The metrics' names, labels and mapping, on a private set of metrics (none is turned on here).

use super::*;
use prometheus_client::encoding::prometheus_text::encode;

fn exposition(metrics: &Metrics, with_disk: bool) -> String {
    let mut text = String::new();
    encode(&mut text, &metrics.registry(with_disk)).unwrap();
    text
}

/// The names of the samples' metrics, without the histogram's `_bucket`/`_sum`/`_count`.
fn exposed_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split(' ').next().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_names_are_the_documented_ones() {
    let metrics = Metrics::new();
    metrics.record_response("/v1/multipart/parallel/upload", None, Duration::ZERO);
    metrics.record_refusal(Refusal::BodyTimeout);
    metrics
        .sweeps
        .get_or_create(&OutcomeLabels { outcome: "ok" })
        .inc();
    let mut expected = vec![
        "partup_build_info",
        "partup_data_available_bytes",
        "partup_data_size_bytes",
        "partup_received_bytes_total",
        "partup_refusals_total",
        "partup_request_duration_seconds",
        "partup_requests_total",
        "partup_sweep_duration_seconds",
        "partup_sweeps_total",
        "partup_swept_uploads_total",
        "partup_uploads_in_progress",
    ];
    expected.sort();
    assert_eq!(exposed_names(&exposition(&metrics, true)), expected);
    let without_disk = exposition(&metrics, false);
    assert!(!without_disk.contains("partup_data_"), "{without_disk}");
    assert!(without_disk.contains(&format!(
        "partup_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn requests_are_counted_by_endpoint_and_code_and_refusals_by_reason() {
    let metrics = Metrics::new();
    let part = Endpoint::UploadPart.path();
    metrics.record_response(&part, None, Duration::from_millis(3));
    metrics.record_response(&part, Some(ErrorCode::BadDigest), Duration::from_millis(3));
    metrics.record_response(
        &Endpoint::UploadInit.path(),
        Some(ErrorCode::TooManyUploads),
        Duration::from_millis(3),
    );
    // Not an endpoint: only the refusal counts, and the path never becomes a label.
    metrics.record_response(
        "/v1/objects/secret/key.bin",
        Some(ErrorCode::Unauthorized),
        Duration::ZERO,
    );
    let text = exposition(&metrics, false);
    for line in [
        "partup_requests_total{endpoint=\"upload\",code=\"ok\"} 1",
        "partup_requests_total{endpoint=\"upload\",code=\"BadDigest\"} 1",
        "partup_requests_total{endpoint=\"uploadInit\",code=\"TooManyUploads\"} 1",
        "partup_refusals_total{reason=\"too_many_uploads\"} 1",
        "partup_refusals_total{reason=\"unauthorized\"} 1",
        "partup_request_duration_seconds_count{endpoint=\"upload\"} 2",
        "partup_request_duration_seconds_bucket{endpoint=\"upload\",le=\"0.005\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains("objects"), "{text}");
}

#[test]
fn only_api_paths_are_endpoints() {
    for endpoint in Endpoint::ALL {
        assert_eq!(endpoint_of(&endpoint.path()), Some(endpoint));
    }
    assert_eq!(endpoint_of("/v1/multipart/parallel/"), None);
    assert_eq!(endpoint_of("/v1/multipart/parallel/upload/x"), None);
    assert_eq!(endpoint_of("/v1/multipart/parallelupload"), None);
    assert_eq!(endpoint_of("/healthz"), None);
}

#[test]
fn refusals_come_from_the_protective_codes_only() {
    let refused: Vec<Refusal> = ErrorCode::ALL.into_iter().filter_map(Refusal::of).collect();
    let timeouts = [Refusal::BodyTimeout, Refusal::HeaderTimeout];
    // Each refusal but the timeouts (which no response carries) comes from exactly one code.
    for reason in Refusal::ALL {
        let from_codes = refused.iter().filter(|r| **r == reason).count();
        assert_eq!(
            from_codes,
            usize::from(!timeouts.contains(&reason)),
            "{reason:?}"
        );
    }
    for mistake in [
        ErrorCode::BadDigest,
        ErrorCode::NoSuchUpload,
        ErrorCode::InternalError,
    ] {
        assert_eq!(Refusal::of(mistake), None);
    }
    let labels: std::collections::HashSet<&str> =
        Refusal::ALL.into_iter().map(Refusal::as_str).collect();
    assert_eq!(labels.len(), Refusal::ALL.len());
}

#[test]
fn recording_without_metrics_on_does_nothing() {
    // No `serve` in this test binary turns them on: every call finds nothing and returns.
    assert!(metrics().is_none());
    record_received(10);
    upload_swept();
    record_refusal(Refusal::HeaderTimeout);
    record_response("/v1/multipart/parallel/upload", None, Duration::ZERO);
    assert!(metrics().is_none());
}
