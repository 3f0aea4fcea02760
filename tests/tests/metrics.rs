//! Prometheus metrics (`--metrics-listen`, SPEC.md "Metrics and logs") against the real binary:
//! off unless asked for; on their own port; exact counts after a known sequence of requests; the
//! sweep's results; and labels that never carry what a client sent (keys, ids, token subjects).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use partup_tests::exposition::{Scrape, scrape};
use partup_tests::tokens::{auth_args, claims, token};
use partup_tests::{Api, TestServer, listening_ports, md5_hex, test_bytes};
use partup_wire::{Endpoint, ErrorCode};
use serde_json::json;

const METRICS_ON: [&str; 2] = ["--metrics-listen", "127.0.0.1:0"];

fn with_metrics(extra: &[&'static str]) -> Vec<&'static str> {
    METRICS_ON.iter().chain(extra).copied().collect()
}

#[tokio::test]
async fn without_the_flag_nothing_serves_metrics() {
    let server = TestServer::start(&[]).await;
    let answer = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], ErrorCode::NotFound.as_str());
    assert_eq!(
        listening_ports(server.pid()),
        BTreeSet::from([server.port]),
        "the server listens on a port besides the API's"
    );
}

#[tokio::test]
async fn the_metrics_port_is_its_own_and_serves_only_metrics() {
    let server = TestServer::start(&METRICS_ON).await;
    let url = server.metrics_url().await;
    let metrics_port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    assert_ne!(metrics_port, server.port);
    assert_eq!(
        listening_ports(server.pid()),
        BTreeSet::from([server.port, metrics_port])
    );
    // The API's port still has no /metrics; the metrics port has nothing else.
    let api_side = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap();
    assert_eq!(api_side.status(), 404);
    let elsewhere = reqwest::get(url.replace("/metrics", "/healthz"))
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    let posted = reqwest::Client::new().post(&url).send().await.unwrap();
    assert_eq!(posted.status(), 405);
    let first = scrape(&url).await;
    assert_eq!(
        first.value(
            "partup_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

/// Space of `--data`'s filesystem, on the fs store only.
#[track_caller]
fn assert_disk_space_reported(scrape: &Scrape, fs_store: bool) {
    if !fs_store {
        assert!(scrape.get("partup_data_available_bytes", &[]).is_none());
        return;
    }
    let available = scrape.value("partup_data_available_bytes", &[]);
    let size = scrape.value("partup_data_size_bytes", &[]);
    assert!(
        available > 0.0 && available <= size,
        "{available} of {size}"
    );
}

/// Three parts, a damaged part, a part for an aborted upload, a complete: returns the bytes of
/// parts' content that reached the server.
async fn upload_with_two_mistakes(api: &Api, url: &str) -> usize {
    let upload_id = api.init("metrics/clip.bin").await.upload_id;
    let in_progress = scrape(url).await.value("partup_uploads_in_progress", &[]);
    assert_eq!(in_progress, 1.0);
    let parts = [
        test_bytes(1, 200_000),
        test_bytes(2, 150_000),
        test_bytes(3, 5_000),
    ];
    let mut listed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let info = api.upload_part(&upload_id, i as u32 + 1, part).await;
        listed.push((info.part_number, info.md5));
    }
    // Refused after its bytes arrived: they count as received.
    let damaged = test_bytes(4, 1234);
    api.upload_part_raw(
        &upload_id,
        "4",
        &md5_hex(b"something else"),
        damaged.clone(),
    )
    .await
    .error(ErrorCode::BadDigest);
    // Refused before its bytes were read (the uploadId comes first): nothing received.
    let gone = api.init("metrics/gone.bin").await.upload_id;
    assert_eq!(api.abort(&gone).await.status, 200);
    let late = test_bytes(5, 777);
    api.upload_part_raw(&gone, "1", &md5_hex(&late), late)
        .await
        .error(ErrorCode::NoSuchUpload);
    let in_progress = scrape(url).await.value("partup_uploads_in_progress", &[]);
    assert_eq!(in_progress, 1.0);
    api.complete(&upload_id, &listed).await;
    parts.iter().map(Vec::len).sum::<usize>() + damaged.len()
}

#[tokio::test]
async fn a_known_sequence_of_requests_gives_exact_counts() {
    let server = TestServer::start(&with_metrics(&[
        "--min-part-size",
        "1",
        "--max-part-size",
        "300000",
    ]))
    .await;
    let url = server.metrics_url().await;
    let api = server.api();
    let fs_store = !server.store.is_s3();
    let start = scrape(&url).await;
    assert_eq!(start.value("partup_uploads_in_progress", &[]), 0.0);
    assert_eq!(start.value("partup_received_bytes_total", &[]), 0.0);
    assert!(start.all("partup_requests_total").is_empty());
    assert!(start.all("partup_refusals_total").is_empty());
    assert_disk_space_reported(&start, fs_store);

    let sent = upload_with_two_mistakes(&api, &url).await;
    let done = scrape(&url).await;
    assert_eq!(done.value("partup_received_bytes_total", &[]), sent as f64);
    assert_eq!(done.value("partup_uploads_in_progress", &[]), 0.0);
    let requests = |endpoint: Endpoint, code: &str| {
        let labels = [("endpoint", endpoint.name()), ("code", code)];
        done.get("partup_requests_total", &labels)
    };
    assert_eq!(requests(Endpoint::UploadPart, "ok"), Some(3.0));
    assert_eq!(requests(Endpoint::UploadPart, "BadDigest"), Some(1.0));
    assert_eq!(requests(Endpoint::UploadPart, "NoSuchUpload"), Some(1.0));
    assert_eq!(requests(Endpoint::UploadComplete, "ok"), Some(1.0));
    assert_eq!(requests(Endpoint::UploadInit, "ok"), Some(2.0));
    assert_eq!(requests(Endpoint::UploadAbort, "ok"), Some(1.0));
    assert_eq!(done.all("partup_requests_total").len(), 6, "{}", done.text);
    // Client mistakes are not refusals.
    assert!(
        done.all("partup_refusals_total").is_empty(),
        "{}",
        done.text
    );
    assert_histograms_match_requests(&done);
    assert_disk_space_reported(&done, fs_store);
}

#[tokio::test]
async fn a_part_over_the_limit_is_counted_as_a_refusal() {
    let server = TestServer::start(&with_metrics(&["--max-part-size", "300000"])).await;
    let url = server.metrics_url().await;
    let api = server.api();
    let upload_id = api.init("metrics/big.bin").await.upload_id;
    // Declared over the limit, so refused before a byte of it is read.
    let oversized = test_bytes(6, 400_000);
    api.upload_part_raw(&upload_id, "1", &md5_hex(&oversized), oversized)
        .await
        .error(ErrorCode::EntityTooLarge);
    let refused = scrape(&url).await;
    let reason = [("reason", "entity_too_large")];
    assert_eq!(refused.value("partup_refusals_total", &reason), 1.0);
    let labels = [("endpoint", "upload"), ("code", "EntityTooLarge")];
    assert_eq!(refused.value("partup_requests_total", &labels), 1.0);
    assert_eq!(refused.value("partup_received_bytes_total", &[]), 0.0);
    assert_eq!(refused.value("partup_uploads_in_progress", &[]), 1.0);
    assert_histograms_match_requests(&refused);
    // The upload is intact, and its abort is counted.
    let listed = api.list_parts(&upload_id).await;
    assert_eq!(listed.status, 200);
    assert_eq!(api.abort(&upload_id).await.status, 200);
    let after = scrape(&url).await;
    assert_eq!(after.value("partup_uploads_in_progress", &[]), 0.0);
}

/// Each endpoint's latency histogram counted exactly its requests.
#[track_caller]
fn assert_histograms_match_requests(scrape: &Scrape) {
    let requests = scrape.sum_by("partup_requests_total", "endpoint");
    let histograms = scrape.sum_by("partup_request_duration_seconds_count", "endpoint");
    assert_eq!(requests, histograms);
    for endpoint in requests.keys() {
        let labels = [("endpoint", endpoint.as_str())];
        let histogram = scrape.histogram("partup_request_duration_seconds", &labels);
        assert!(histogram.sum > 0.0, "{endpoint}");
    }
}

#[tokio::test]
async fn the_sweep_reports_the_uploads_it_expired() {
    let server = TestServer::start(&with_metrics(&[
        "--upload-ttl",
        "2s",
        "--min-part-size",
        "1",
    ]))
    .await;
    let url = server.metrics_url().await;
    let api = server.api();
    let upload_id = api.init("metrics/stale.bin").await.upload_id;
    api.upload_part(&upload_id, 1, &test_bytes(1, 1000)).await;
    assert_eq!(
        scrape(&url).await.value("partup_uploads_in_progress", &[]),
        1.0
    );
    let started = Instant::now();
    let swept = loop {
        let now = scrape(&url).await;
        if now.get("partup_swept_uploads_total", &[]) == Some(1.0) {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the upload was not swept:\n{}",
            now.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    api.list_parts(&upload_id)
        .await
        .error(ErrorCode::NoSuchUpload);
    assert_eq!(swept.value("partup_uploads_in_progress", &[]), 0.0);
    assert!(swept.value("partup_sweeps_total", &[("outcome", "ok")]) >= 1.0);
    assert!(
        swept
            .get("partup_sweeps_total", &[("outcome", "error")])
            .is_none()
    );
    let duration = swept.value("partup_sweep_duration_seconds", &[]);
    assert!((0.0..10.0).contains(&duration), "{duration}");
}

#[tokio::test]
async fn labels_never_carry_keys_ids_or_token_subjects() {
    let mut args: Vec<String> = auth_args();
    args.extend(METRICS_ON.iter().map(|s| s.to_string()));
    args.extend(["--min-part-size", "1"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start(&args).await;
    let url = server.metrics_url().await;
    let marker = "zq7marker";
    let as_client = |i: usize| {
        let sub = format!("sub-{marker}-{i}");
        let scope = json!({"write": [format!("tenant-{marker}-{i}/")]});
        Api::with_token(&server.base_url(), &token(&claims(&sub, scope)))
    };
    let stranger = Api::with_token(&server.base_url(), "not.a-token.at-all");
    let mut ids = Vec::new();
    let mut first = None;
    for i in 0..=100 {
        let key = format!("tenant-{marker}-{i}/file-{marker}-{i}.bin");
        let (id, _) = as_client(i)
            .upload_whole(&key, &[test_bytes(i as u64, 100)])
            .await;
        ids.push(id);
        stranger
            .post_json("uploadInit", &json!({"resourceKey": key}))
            .await
            .unauthorized();
        // After one of each request kind, every series the loop touches exists.
        if i == 0 {
            first = Some(scrape(&url).await);
        }
    }
    let first = first.unwrap();
    let last = scrape(&url).await;
    assert_eq!(
        last.value(
            "partup_requests_total",
            &[("endpoint", "uploadComplete"), ("code", "ok")]
        ),
        101.0
    );
    assert_eq!(
        last.value("partup_refusals_total", &[("reason", "unauthorized")]),
        101.0
    );
    assert_eq!(first.series(), last.series(), "new series appeared");
    assert!(
        last.text.len() < first.text.len() + first.text.len() / 10,
        "the exposition grew from {} to {} bytes",
        first.text.len(),
        last.text.len()
    );
    let data_dir = server.data.path().to_string_lossy().into_owned();
    for secret in [marker, "tenant", &data_dir, &ids[0], &ids[100]] {
        assert!(!last.text.contains(secret), "{secret} in\n{}", last.text);
    }
}

#[tokio::test]
async fn uploads_in_progress_are_counted_from_the_store_at_start() {
    let mut server = TestServer::start(&with_metrics(&["--min-part-size", "1"])).await;
    let api = server.api();
    api.init("metrics/one.bin").await;
    api.init("metrics/two.bin").await;
    let aborted = api.init("metrics/three.bin").await.upload_id;
    assert_eq!(api.abort(&aborted).await.status, 200);
    api.upload_whole("metrics/done.bin", &[b"done".to_vec()])
        .await;
    server.restart().await;
    let restarted = scrape(&server.metrics_url().await).await;
    assert_eq!(restarted.value("partup_uploads_in_progress", &[]), 2.0);
    assert_eq!(restarted.value("partup_received_bytes_total", &[]), 0.0);
}

/// Runs the binary with `args` until it exits; returns its exit code and stderr.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(partup_tests::server_binary())
        .arg("--data")
        .arg(data.path())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn metrics_never_share_the_apis_address() {
    for api in ["127.0.0.1:18091", "0.0.0.0:18091"] {
        let (code, stderr) = run_to_exit(&[
            "--listen",
            api,
            "--allow-anonymous",
            "--metrics-listen",
            "127.0.0.1:18091",
        ]);
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--metrics-listen"), "{stderr}");
    }
}

#[test]
fn a_metrics_address_in_use_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (code, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--metrics-listen", &address]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen for metrics on {address}")),
        "{stderr}"
    );
}

/// Sends `request`, then reads until the server closes the connection (whatever it answered).
async fn send_and_wait_for_close(server: &TestServer, request: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut sink = Vec::new();
    // Ends at the server's close: the test waits for the event, not for a guessed time.
    let _ = stream.read_to_end(&mut sink).await;
}

#[tokio::test]
async fn connections_cut_by_the_header_and_body_idle_timeouts_are_counted_by_reason() {
    let server = TestServer::start(&with_metrics(&[
        "--header-timeout",
        "1s",
        "--body-idle-timeout",
        "1s",
    ]))
    .await;
    let url = server.metrics_url().await;
    let upload_id = server.api().init("metrics/cut.bin").await.upload_id;
    // Headers that never end.
    send_and_wait_for_close(
        &server,
        b"POST /v1/multipart/parallel/upload HTTP/1.1\r\nHost: x\r\n",
    )
    .await;
    // A part whose body stops after its fields.
    let body = format!(
        "--b\r\nContent-Disposition: form-data; name=\"uploadId\"\r\n\r\n{upload_id}\r\n--b\r\nContent-Disposition: form-data; name=\"partNumber\"\r\n\r\n1\r\n"
    );
    let request = format!(
        "POST /v1/multipart/parallel/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n{body}"
    );
    send_and_wait_for_close(&server, request.as_bytes()).await;
    let cut = scrape(&url).await;
    assert_eq!(
        cut.value("partup_refusals_total", &[("reason", "body_timeout")]),
        1.0
    );
    assert!(cut.value("partup_refusals_total", &[("reason", "header_timeout")]) >= 1.0);
    // The upload is intact.
    assert_eq!(server.api().list_parts(&upload_id).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_md5_engine_counts_every_byte_it_hashed_and_the_parts_it_hashed_together() {
    for path in md5lanes::Path::available() {
        let server = TestServer::start(&with_metrics(&[
            "--md5-path",
            path.name(),
            "--min-part-size",
            "1",
        ]))
        .await;
        let url = server.metrics_url().await;
        let api = server.api();
        let upload_id = api
            .init(&format!("md5/{}.bin", path.name()))
            .await
            .upload_id;
        let parts: Vec<Vec<u8>> = (0..6)
            .map(|i| test_bytes(i, 700_000 + i as usize))
            .collect();
        let sends = parts
            .iter()
            .enumerate()
            .map(|(i, bytes)| api.upload_part(&upload_id, i as u32 + 1, bytes));
        futures_util::future::join_all(sends).await;
        let sent: usize = parts.iter().map(Vec::len).sum();
        let done = scrape(&url).await;
        let labels = [("path", path.name())];
        if path == md5lanes::Path::Scalar {
            // Each part hashed on its own task: the engine has no thread and counts nothing.
            assert!(
                done.all("partup_md5_hashed_bytes_total").is_empty(),
                "{}",
                done.text
            );
            continue;
        }
        assert_eq!(
            done.get("partup_md5_hashed_bytes_total", &labels),
            Some(sent as f64),
            "{}",
            done.text
        );
        let rounds = done.value("partup_md5_rounds_total", &labels);
        let streams = done.value("partup_md5_round_streams_total", &labels);
        assert!(
            rounds >= 1.0 && streams >= rounds,
            "{rounds} rounds, {streams} streams"
        );
        // A round hashes each part at most once: never more parts than were sent at once.
        assert!(
            streams <= rounds * parts.len() as f64,
            "{streams} streams in {rounds} rounds"
        );
    }
}
