//! The browser suite: the real `Uploader` in headless Chromium against a real partup-server,
//! directly and through `fault-proxy` (tests/src/bin/fault-proxy/).
//!
//! Run by `scripts/test-client.sh`, which starts both and passes their URLs in at compile time
//! (`PARTUP_TEST_SERVER`, `PARTUP_TEST_PROXY`). Without them every test fails: a suite that
//! silently skips proves nothing. Tests share one page and run one at a time; those that use the
//! proxy set its rules (which also zeroes its counters) first.

use js_sys::Array;
use partup::js_glue::js_object;
use partup::timers::{now_ms, sleep_ms};
use partup::{Upload, Uploader};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Sets the proxy's fault rules; this also zeroes its counters.
async fn proxy_config(rules: serde_json::Value) {
    set_proxy_rules(proxy(), rules).await;
}

async fn proxy_stats() -> serde_json::Value {
    proxy_stats_at(proxy()).await
}

/// Downloads the object and compares it byte for byte with the generated file.
async fn assert_object_equals(key: &str, len: u64, seed: u64) {
    let url = format!("{}{}/{}", server(), partup_wire::OBJECTS_PREFIX, key);
    assert_download_equals(&url, len, seed).await;
}

/// The latest onProgress object and every phase seen.
#[derive(Default)]
struct ProgressLog {
    last: Option<JsValue>,
    events: u32,
    phases: Vec<String>,
    part_states_seen: std::collections::BTreeSet<String>,
    parts_done_went_down: bool,
    last_parts_done: f64,
    /// Set if bytesDone ever exceeded bytesTotal (a part counted twice).
    overcounted: bool,
}

type SharedLog = Rc<RefCell<ProgressLog>>;

fn progress_callback(log: &SharedLog) -> JsValue {
    let log = log.clone();
    Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| {
        let mut log = log.borrow_mut();
        log.events += 1;
        let phase = text(&p, "phase");
        if log.phases.last() != Some(&phase) {
            log.phases.push(phase);
        }
        let parts: Array = get(&p, "parts").unchecked_into();
        for s in parts.iter() {
            log.part_states_seen.insert(s.as_string().unwrap());
        }
        if num(&p, "bytesDone") > num(&p, "bytesTotal") {
            log.overcounted = true;
        }
        let done = num(&p, "partsDone");
        if done < log.last_parts_done {
            log.parts_done_went_down = true;
        }
        log.last_parts_done = done;
        log.last = Some(p);
    })
    .into_js_value()
}

fn start(
    uploader: &Uploader,
    file: &web_sys::File,
    key: &str,
    log: &SharedLog,
    extra: &[(&str, JsValue)],
) -> Upload {
    let options = js_object(&[
        ("resourceKey", key.into()),
        ("onProgress", progress_callback(log)),
    ]);
    start_with(uploader, file, options, extra)
}

/// Waits until the upload has at least `parts` parts done (fails after 30 s).
async fn wait_parts_done(log: &SharedLog, parts: f64) {
    let deadline = now_ms() + 30_000.0;
    loop {
        if log
            .borrow()
            .last
            .as_ref()
            .is_some_and(|p| num(p, "partsDone") >= parts)
        {
            return;
        }
        assert!(now_ms() < deadline, "timed out waiting for {parts} parts");
        sleep_ms(10.0).await;
    }
}

/// Waits until at least `parts` are done and another is being sent: a pause then has a request in
/// flight to abort (parts start in pairs, so right after a part is done its twin may be too).
async fn wait_parts_done_and_one_sending(upload: &Upload, parts: f64) {
    let deadline = now_ms() + 30_000.0;
    loop {
        let progress = upload.progress();
        let sending = js_sys::Array::from(&get(&progress, "parts"))
            .iter()
            .any(|state| state == "uploading");
        if num(&progress, "partsDone") >= parts && sending {
            return;
        }
        assert!(
            now_ms() < deadline,
            "timed out waiting for {parts} parts and one sending"
        );
        sleep_ms(5.0).await;
    }
}

async fn list_parts(upload_id: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "uploadId": upload_id }).to_string();
    fetch_json(&format!("{}/listParts", api(server())), "POST", Some(&body)).await
}

async fn upload_round_trip(len: u64, part_size: u64, seed: u64) {
    let key = unique_key(&format!("size-{len}.bin"));
    let file = make_file(len, seed, "f.bin");
    let log = SharedLog::default();
    let upload = start(
        &uploader(&api(server()), part_size, 4, &[]),
        &file,
        &key,
        &log,
        &[],
    );
    let result = finish(&upload)
        .await
        .unwrap_or_else(|e| panic!("upload of {len} bytes failed: {e:?}"));
    assert_eq!(num(&result, "size") as u64, len);
    assert_eq!(text(&result, "resourceKey"), key);
    let expected_parts = len.div_ceil(part_size).max(1);
    assert_eq!(num(&result, "parts") as u64, expected_parts);
    assert!(text(&result, "etag").ends_with(&format!("-{expected_parts}")));
    assert_eq!(get(&result, "existed"), JsValue::FALSE);
    assert_object_equals(&key, len, seed).await;
    let log = log.borrow();
    let last = log.last.as_ref().expect("progress was reported");
    assert_eq!(text(last, "phase"), "done");
    assert_eq!(num(last, "bytesDone") as u64, len);
    assert_eq!(num(last, "bytesTotal") as u64, len);
    assert_eq!(num(last, "partsDone") as u64, expected_parts);
    assert!(!log.parts_done_went_down);
    assert_eq!(log.phases.first().map(String::as_str), Some("initializing"));
}

#[wasm_bindgen_test]
async fn sizes_around_the_part_size_arrive_byte_exact() {
    let part = 64 * KIB;
    for (i, len) in [0, 1, part - 1, part, part + 1, 3 * part + 7]
        .into_iter()
        .enumerate()
    {
        upload_round_trip(len, part, 100 + i as u64).await;
    }
}

#[wasm_bindgen_test]
async fn fifty_mib_with_default_part_size_arrives_byte_exact_within_concurrency() {
    proxy_config(serde_json::json!({})).await;
    let len = 50 * MIB + 12_345;
    let key = unique_key("big.bin");
    let file = make_file(len, 7, "big.bin");
    let log = SharedLog::default();
    let up = uploader(&api(proxy()), 8 * MIB, 4, &[]);
    let started = now_ms();
    let result = finish(&start(&up, &file, &key, &log, &[]))
        .await
        .expect("50 MiB upload");
    let seconds = (now_ms() - started) / 1000.0;
    // Bounded memory: the whole wasm heap (test code included) stays far below the file size.
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let heap = memory
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as u64;
    console_log!("wasm memory after a 50 MiB upload: {} MiB", heap / MIB);
    assert!(heap < 16 * MIB, "wasm memory grew to {heap} bytes");
    assert_eq!(num(&result, "parts"), 7.0);
    assert_object_equals(&key, len, 7).await;
    let stats = proxy_stats().await;
    console_log!("50 MiB in {seconds:.2} s; proxy stats: {stats}");
    assert_eq!(stat(&stats, "partRequests"), 7);
    assert!(stat(&stats, "maxConcurrentParts") <= 4, "{stats}");
    let seen = &log.borrow().part_states_seen;
    for state in ["waiting", "hashing", "uploading", "done"] {
        assert!(
            seen.contains(state),
            "part state {state} never reported: {seen:?}"
        );
    }
}

#[wasm_bindgen_test]
async fn concurrency_is_never_exceeded() {
    // Every part is held 100 ms at the proxy, so parts overlap as much as the client allows.
    proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 100 })).await;
    let len = 24 * 16 * KIB;
    let key = unique_key("concurrency.bin");
    let file = make_file(len, 8, "c.bin");
    let log = SharedLog::default();
    let up = uploader(&api(proxy()), 16 * KIB, 3, &[]);
    finish(&start(&up, &file, &key, &log, &[]))
        .await
        .expect("upload");
    let stats = proxy_stats().await;
    console_log!("concurrency 3: proxy stats {stats}");
    assert_eq!(stat(&stats, "partRequests"), 24);
    assert_eq!(stat(&stats, "maxConcurrentParts"), 3, "{stats}");
    assert_object_equals(&key, len, 8).await;
}

#[wasm_bindgen_test]
async fn faults_are_retried_and_the_object_is_byte_exact() {
    proxy_config(serde_json::json!({
        "fail503Every": 4, "resetEvery": 7, "corruptEvery": 9, "delayEvery": 5, "delayMs": 150
    }))
    .await;
    let len = 8 * MIB + 321;
    let key = unique_key("faults.bin");
    let file = make_file(len, 9, "faults.bin");
    let log = SharedLog::default();
    let up = uploader(&api(proxy()), 256 * KIB, 4, &[]);
    let result = finish(&start(&up, &file, &key, &log, &[]))
        .await
        .expect("upload through faults");
    let stats = proxy_stats().await;
    let retries = num(&result, "retries") as u64;
    console_log!(
        "fault test: 33 parts, part requests {}, stored {}, injected 503 {}, resets {}, corrupted {} \
         (BadDigest answers {}), delayed {}, client retries {retries}, max concurrent {}",
        stat(&stats, "partRequests"),
        stat(&stats, "partsStored"),
        stat(&stats, "injected503"),
        stat(&stats, "resets"),
        stat(&stats, "corrupted"),
        stat(&stats, "badDigestAnswers"),
        stat(&stats, "delayed"),
        stat(&stats, "maxConcurrentParts"),
    );
    assert_eq!(num(&result, "parts"), 33.0);
    assert!(
        stat(&stats, "injected503") > 0
            && stat(&stats, "resets") > 0
            && stat(&stats, "corrupted") > 0
    );
    assert_eq!(stat(&stats, "badDigestAnswers"), stat(&stats, "corrupted"));
    // Every 503 and every BadDigest is seen by the client; a reset may be resent by the browser.
    assert!(
        retries >= stat(&stats, "injected503") + stat(&stats, "badDigestAnswers"),
        "{retries} {stats}"
    );
    assert!(stat(&stats, "maxConcurrentParts") <= 4);
    assert_object_equals(&key, len, 9).await;
    let last = log.borrow().last.clone().unwrap();
    assert_eq!(
        num(&last, "bytesDone") as u64,
        len,
        "a retried part was counted twice"
    );
    assert_eq!(num(&last, "retries") as u64, retries);
}

#[wasm_bindgen_test]
async fn corrupted_part_gets_bad_digest_and_is_resent() {
    proxy_config(serde_json::json!({ "corruptEvery": 2 })).await;
    let len = 4 * 64 * KIB;
    let key = unique_key("corrupt.bin");
    let file = make_file(len, 10, "corrupt.bin");
    let log = SharedLog::default();
    let up = uploader(&api(proxy()), 64 * KIB, 1, &[]);
    let result = finish(&start(&up, &file, &key, &log, &[]))
        .await
        .expect("upload");
    let stats = proxy_stats().await;
    console_log!("corruption: {stats}");
    // One at a time: requests 2, 4, 6 are corrupted, each answered BadDigest and resent.
    assert!(stat(&stats, "badDigestAnswers") >= 2, "{stats}");
    assert_eq!(stat(&stats, "partsStored"), 4);
    assert_eq!(
        num(&result, "retries") as u64,
        stat(&stats, "badDigestAnswers")
    );
    assert!(log.borrow().part_states_seen.contains("retrying"));
    assert_object_equals(&key, len, 10).await;
}

#[wasm_bindgen_test]
async fn stalled_requests_are_aborted_and_retried() {
    proxy_config(serde_json::json!({ "stallEvery": 3, "stallMs": 4000 })).await;
    let len = 6 * 16 * KIB;
    let key = unique_key("stall.bin");
    let file = make_file(len, 11, "stall.bin");
    let log = SharedLog::default();
    let up = uploader(&api(proxy()), 16 * KIB, 2, &[("stallTimeout", 400.into())]);
    let started = now_ms();
    let result = finish(&start(&up, &file, &key, &log, &[]))
        .await
        .expect("upload");
    let stats = proxy_stats().await;
    console_log!("stalls: {stats}, {} ms", now_ms() - started);
    assert!(stat(&stats, "stalled") >= 2);
    assert!(num(&result, "retries") as u64 >= stat(&stats, "stalled"));
    // Far less than one 4 s stall per stalled request: they were cut short.
    assert!(now_ms() - started < 4000.0);
    assert_object_equals(&key, len, 11).await;
}

#[wasm_bindgen_test]
async fn retry_after_is_honoured() {
    proxy_config(serde_json::json!({ "fail503Every": 2, "retryAfterSeconds": 1 })).await;
    let key = unique_key("retry-after.bin");
    let file = make_file(2 * 16 * KIB, 12, "ra.bin");
    let up = uploader(&api(proxy()), 16 * KIB, 1, &[]);
    let started = now_ms();
    let result = finish(&start(&up, &file, &key, &SharedLog::default(), &[]))
        .await
        .expect("upload");
    let elapsed = now_ms() - started;
    assert_eq!(num(&result, "retries"), 1.0);
    // retryDelay is 20 ms here, so only Retry-After: 1 explains a wait of a second.
    assert!(
        elapsed >= 1000.0,
        "retried after {elapsed} ms despite Retry-After: 1"
    );
}

#[wasm_bindgen_test]
async fn client_errors_fail_at_once_without_retry() {
    proxy_config(serde_json::json!({})).await;
    let file = make_file(100, 13, "bad.bin");
    let up = uploader(&api(proxy()), 64 * KIB, 2, &[]);
    let started = now_ms();
    let error = finish(&start(
        &up,
        &file,
        "../escape.bin",
        &SharedLog::default(),
        &[],
    ))
    .await
    .expect_err("an invalid key must fail");
    assert_eq!(error_code(&error), "InvalidObjectName");
    assert_eq!(get(&error, "status").as_f64(), Some(400.0));
    assert_eq!(error_reason(&error), "rejected");
    assert!(
        get(&error, "requestId")
            .as_string()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(get(&error, "partNumber").is_null());
    let description = text(&error, "description");
    assert!(
        !description.contains("InvalidObjectName") && !description.starts_with("partup:"),
        "{description}"
    );
    let message = get(&error, "message").as_string().unwrap();
    assert!(
        message.contains("InvalidObjectName") && message.contains("HTTP 400"),
        "{message}"
    );
    assert!(!message.contains("[object"), "{message}");
    assert_eq!(
        get(&error, "name").as_string().as_deref(),
        Some("PartupError")
    );
    let stats = proxy_stats().await;
    assert_eq!(stat(&stats, "initRequests"), 1, "{stats}");
    assert_eq!(stat(&stats, "partRequests"), 0);
    assert!(now_ms() - started < 2000.0);
}

#[wasm_bindgen_test]
async fn unreachable_server_fails_with_network_error_after_retries() {
    let file = make_file(10, 14, "x.bin");
    // Port 9 (discard) is closed on the test machine: connection refused at once.
    let up = uploader(
        "http://127.0.0.1:9/v1/multipart/parallel",
        64 * KIB,
        1,
        &[("retries", 2.into())],
    );
    let log = SharedLog::default();
    let error = finish(&start(&up, &file, &unique_key("x.bin"), &log, &[]))
        .await
        .expect_err("no server");
    assert_eq!(error_code(&error), "NetworkError");
    assert!(get(&error, "status").is_null());
    assert_eq!(error_reason(&error), "network");
    assert!(get(&error, "requestId").is_null());
    // Network errors are retried: two retries, then the error.
    let last = log.borrow().last.clone().unwrap();
    assert_eq!(num(&last, "retries"), 2.0);
    assert_eq!(text(&last, "phase"), "failed");
}

#[wasm_bindgen_test]
async fn pause_aborts_in_flight_parts_and_resume_sends_only_the_rest() {
    proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 200 })).await;
    let len = 16 * 32 * KIB;
    let key = unique_key("pause.bin");
    let file = make_file(len, 15, "pause.bin");
    let log = SharedLog::default();
    let up = uploader(&api(proxy()), 32 * KIB, 2, &[]);
    let upload = start(&up, &file, &key, &log, &[]);
    wait_parts_done_and_one_sending(&upload, 3.0).await;
    upload.pause();
    sleep_ms(100.0).await;
    let paused = proxy_stats().await;
    let progress = upload.progress();
    assert_eq!(text(&progress, "phase"), "paused");
    sleep_ms(500.0).await;
    let still = proxy_stats().await;
    assert_eq!(
        stat(&still, "partRequests"),
        stat(&paused, "partRequests"),
        "no request starts while paused"
    );
    let done_at_pause = num(&progress, "partsDone") as u64;
    upload.resume();
    let result = finish(&upload).await.expect("resumed upload");
    let stats = proxy_stats().await;
    console_log!("pause/resume: {done_at_pause} parts done at pause; {stats}");
    assert_eq!(num(&result, "parts"), 16.0);
    // Finished parts are not re-sent; the (≤ 2) requests in flight at the pause were aborted,
    // so their answers never arrived and those parts are sent again.
    assert!(stat(&stats, "partRequests") <= 16 + 2, "{stats}");
    assert!(
        stat(&stats, "partRequests") > 16,
        "pause did not abort the in-flight parts: {stats}"
    );
    assert!(log.borrow().phases.contains(&"paused".to_string()));
    assert_object_equals(&key, len, 15).await;
}

#[wasm_bindgen_test]
async fn cancel_aborts_the_upload_on_the_server() {
    proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 200 })).await;
    let file = make_file(12 * 32 * KIB, 16, "cancel.bin");
    let log = SharedLog::default();
    let up = uploader(&api(proxy()), 32 * KIB, 2, &[]);
    let key = unique_key("cancel.bin");
    let upload = start(&up, &file, &key, &log, &[]);
    wait_parts_done(&log, 2.0).await;
    let upload_id = upload.upload_id().expect("init answered");
    JsFuture::from(upload.cancel()).await.unwrap();
    let error = finish(&upload).await.expect_err("cancelled");
    assert_eq!(error_code(&error), "Cancelled");
    assert_eq!(error_reason(&error), "cancelled");
    let stats = proxy_stats().await;
    assert_eq!(stat(&stats, "abortRequests"), 1);
    let (status, body) = list_parts(&upload_id).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "NoSuchUpload");
    assert_eq!(text(&upload.progress(), "phase"), "cancelled");
    // Cancel forgot the resume entry: the same file again starts a new upload.
    proxy_config(serde_json::json!({})).await;
    let again = start(&up, &file, &key, &SharedLog::default(), &[]);
    finish(&again).await.expect("a fresh upload after cancel");
    let stats = proxy_stats().await;
    assert_eq!(
        (
            stat(&stats, "listPartsRequests"),
            stat(&stats, "initRequests")
        ),
        (0, 1)
    );
    assert_object_equals(&key, 12 * 32 * KIB, 16).await;
}

#[wasm_bindgen_test]
async fn abort_signal_cancels() {
    proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 200 })).await;
    let file = make_file(8 * 32 * KIB, 17, "signal.bin");
    let log = SharedLog::default();
    let controller = web_sys::AbortController::new().unwrap();
    let up = uploader(&api(proxy()), 32 * KIB, 2, &[]);
    let upload = start(
        &up,
        &file,
        &unique_key("signal.bin"),
        &log,
        &[("signal", controller.signal().into())],
    );
    wait_parts_done(&log, 1.0).await;
    let upload_id = upload.upload_id().unwrap();
    controller.abort();
    let error = finish(&upload).await.expect_err("aborted");
    assert_eq!(error_code(&error), "Cancelled");
    let (status, _) = list_parts(&upload_id).await;
    assert_eq!(status, 404);
}

#[wasm_bindgen_test]
async fn a_new_page_resumes_and_sends_only_missing_parts() {
    proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 150 })).await;
    let len = 16 * 32 * KIB + 5;
    let key = unique_key("reload.bin");
    let file = make_file(len, 18, "reload.bin");
    let first_log = SharedLog::default();
    let first = start(
        &uploader(&api(proxy()), 32 * KIB, 2, &[]),
        &file,
        &key,
        &first_log,
        &[],
    );
    wait_parts_done(&first_log, 6.0).await;
    // The "page" goes away mid-upload: its requests stop, nothing is aborted on the server.
    first.pause();
    sleep_ms(100.0).await;
    let first_id = first.upload_id().unwrap();
    let (_, listed) = list_parts(&first_id).await;
    let stored_before = listed["parts"].as_array().unwrap().len() as u64;
    drop(first);

    // The listParts of the new page fails once with 503 first: it is retried.
    proxy_config(serde_json::json!({ "listPartsFail503": 1 })).await;
    let init_info: Rc<RefCell<Option<JsValue>>> = Rc::default();
    let info_sink = init_info.clone();
    let on_init =
        Closure::<dyn FnMut(JsValue)>::new(move |info| *info_sink.borrow_mut() = Some(info))
            .into_js_value();
    let second_log = SharedLog::default();
    // A new Uploader (like a reloaded page) and the same file again, with a 17-part plan.
    let second = start(
        &uploader(&api(proxy()), 32 * KIB, 2, &[]),
        &file,
        &key,
        &second_log,
        &[("onInit", on_init)],
    );
    let result = finish(&second).await.expect("resumed upload");
    let stats = proxy_stats().await;
    let info = init_info.borrow().clone().expect("onInit called");
    console_log!("reload: {stored_before} parts stored before; second page: {stats}");
    assert_eq!(get(&info, "resumed"), JsValue::TRUE);
    assert_eq!(text(&result, "uploadId"), first_id);
    assert_eq!(num(&result, "skippedParts") as u64, stored_before);
    assert_eq!(stat(&stats, "initRequests"), 0);
    assert_eq!(
        stat(&stats, "listPartsRequests"),
        2,
        "listParts retried after a 503"
    );
    assert_eq!(
        stat(&stats, "partRequests"),
        17 - stored_before,
        "only the missing parts are sent"
    );
    assert_object_equals(&key, len, 18).await;
    // Success forgets the entry: a third upload of the same file starts fresh.
    proxy_config(serde_json::json!({})).await;
    finish(&start(
        &uploader(&api(proxy()), 32 * KIB, 2, &[]),
        &file,
        &key,
        &SharedLog::default(),
        &[],
    ))
    .await
    .expect("third upload");
    assert_eq!(stat(&proxy_stats().await, "initRequests"), 1);
}

#[wasm_bindgen_test]
async fn a_remembered_upload_that_is_gone_starts_fresh() {
    proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 150 })).await;
    let len = 8 * 32 * KIB;
    let key = unique_key("gone.bin");
    let file = make_file(len, 19, "gone.bin");
    let log = SharedLog::default();
    let first = start(
        &uploader(&api(proxy()), 32 * KIB, 2, &[]),
        &file,
        &key,
        &log,
        &[],
    );
    wait_parts_done(&log, 2.0).await;
    first.pause();
    let first_id = first.upload_id().unwrap();
    // The server forgets it (aborted elsewhere, or swept as stale).
    let body = serde_json::json!({ "uploadId": first_id }).to_string();
    let (status, _) = fetch_json(
        &format!("{}/uploadAbort", api(server())),
        "POST",
        Some(&body),
    )
    .await;
    assert_eq!(status, 200);
    proxy_config(serde_json::json!({})).await;
    let result = finish(&start(
        &uploader(&api(proxy()), 32 * KIB, 2, &[]),
        &file,
        &key,
        &SharedLog::default(),
        &[],
    ))
    .await
    .expect("fresh upload");
    let stats = proxy_stats().await;
    assert_ne!(text(&result, "uploadId"), first_id);
    assert_eq!(get(&result, "resumed"), JsValue::FALSE);
    assert_eq!(
        (
            stat(&stats, "listPartsRequests"),
            stat(&stats, "initRequests")
        ),
        (1, 1)
    );
    assert_eq!(stat(&stats, "partRequests"), 8);
    assert_object_equals(&key, len, 19).await;
}

#[wasm_bindgen_test]
async fn existing_object_asks_before_replacing() {
    let key = unique_key("exists.bin");
    let up = uploader(&api(server()), 16 * KIB, 2, &[]);
    finish(&start(
        &up,
        &make_file(1000, 20, "a.bin"),
        &key,
        &SharedLog::default(),
        &[],
    ))
    .await
    .expect("first");
    // Declined: cancelled, aborted on the server, the old object untouched.
    let asked: Rc<RefCell<u32>> = Rc::default();
    let counter = asked.clone();
    let decline = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |info: JsValue| {
        assert_eq!(get(&info, "existed"), JsValue::TRUE);
        *counter.borrow_mut() += 1;
        js_sys::Promise::resolve(&JsValue::FALSE).into()
    })
    .into_js_value();
    let declined = start(
        &up,
        &make_file(2000, 21, "b.bin"),
        &key,
        &SharedLog::default(),
        &[("onExists", decline)],
    );
    let error = finish(&declined).await.expect_err("declined");
    assert_eq!(error_code(&error), "Cancelled");
    assert_eq!(error_reason(&error), "declined");
    assert_eq!(*asked.borrow(), 1);
    let (status, _) = list_parts(&declined.upload_id().unwrap()).await;
    assert_eq!(status, 404, "the declined upload is aborted on the server");
    assert_object_equals(&key, 1000, 20).await;
    // Accepted: replaced, and the result says it existed.
    let accept = Closure::<dyn FnMut(JsValue) -> JsValue>::new(|_| JsValue::TRUE).into_js_value();
    let result = finish(&start(
        &up,
        &make_file(3000, 22, "c.bin"),
        &key,
        &SharedLog::default(),
        &[("onExists", accept)],
    ))
    .await
    .expect("replace");
    assert_eq!(get(&result, "existed"), JsValue::TRUE);
    assert_object_equals(&key, 3000, 22).await;
}

#[wasm_bindgen_test]
async fn throwing_local_storage_does_not_break_uploads() {
    let hide = js_sys::Function::new_no_args(
        "globalThis.__partupSaved = Object.getOwnPropertyDescriptor(globalThis, 'localStorage');
         Object.defineProperty(globalThis, 'localStorage', { configurable: true,
           get() { throw new DOMException('The operation is insecure.', 'SecurityError'); } });",
    );
    let restore = js_sys::Function::new_no_args(
        "if (globalThis.__partupSaved) Object.defineProperty(globalThis, 'localStorage', globalThis.__partupSaved);
         else delete globalThis.localStorage;",
    );
    hide.call0(&JsValue::NULL).unwrap();
    let key = unique_key("private.bin");
    let result = finish(&start(
        &uploader(&api(server()), 16 * KIB, 2, &[]),
        &make_file(40 * KIB, 23, "p.bin"),
        &key,
        &SharedLog::default(),
        &[],
    ))
    .await;
    restore.call0(&JsValue::NULL).unwrap();
    result.expect("upload without localStorage");
    assert_object_equals(&key, 40 * KIB, 23).await;
}

#[wasm_bindgen_test]
fn bad_options_throw_invalid_options() {
    let error = Uploader::new(js_object(&[]).unchecked_into())
        .err()
        .expect("no endpoint");
    assert_eq!(error_code(&error), "InvalidOptions");
    assert_eq!(error_reason(&error), "invalid-options");
    let error = Uploader::new(
        js_object(&[("endpoint", "/x".into()), ("concurrency", 0.into())]).unchecked_into(),
    )
    .err()
    .expect("concurrency 0");
    assert!(
        get(&error, "message")
            .as_string()
            .unwrap()
            .contains("concurrency")
    );
    let up = uploader("/x", 64 * KIB, 1, &[]);
    let error = up
        .upload(&make_file(1, 1, "x"), js_object(&[]).unchecked_into())
        .err()
        .expect("no resourceKey");
    assert_eq!(error_code(&error), "InvalidOptions");
}

#[wasm_bindgen_test]
fn json_answers_parse_into_wire_types() {
    use partup::json::from_json_text;
    use partup_wire::{ErrorBody, ErrorCode, ListPartsResponse};
    let list: ListPartsResponse = from_json_text(
        r#"{"uploadId":"u","resourceKey":"k","parts":[{"partNumber":1,"md5":"ab","size":8388608,"extra":[1.5,null]}]}"#,
    )
    .unwrap();
    assert_eq!(list.parts[0].size, 8_388_608);
    assert_eq!(list.parts[0].part_number, 1);
    let error: ErrorBody =
        from_json_text(r#"{"code":"NoSuchUpload","message":"m","requestId":"r"}"#).unwrap();
    assert_eq!(error.code, ErrorCode::NoSuchUpload);
    assert!(
        from_json_text::<ErrorBody>(r#"{"code":"SomethingNew","message":"m","requestId":"r"}"#)
            .is_err()
    );
    assert!(
        from_json_text::<ListPartsResponse>(
            r#"{"uploadId":"u","resourceKey":"k","parts":[{"partNumber":1.5,"md5":"a","size":1}]}"#
        )
        .is_err()
    );
    let missing = from_json_text::<ListPartsResponse>(r#"{"uploadId":"u"}"#).unwrap_err();
    assert!(missing.0.contains("resourceKey"), "{missing}");
    assert!(from_json_text::<ListPartsResponse>("<html>").is_err());
}

#[wasm_bindgen_test]
fn json_requests_are_written_as_serde_json_writes_them() {
    use partup::json::to_json_text;
    use partup_wire::{CompletePart, CompleteRequest, InitRequest};
    let init = InitRequest {
        resource_key: "dir/\"quoted\" \\ \u{1}\n é 🎞.mp4".into(),
        size: Some(u64::MAX >> 11),
        part_size: None,
        etag: Some("abc-2".into()),
        metadata: Some(
            [
                ("partup.name", "\"clip\" é.mp4"),
                ("album", "a\u{2028}b"),
                ("empty", ""),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        ),
    };
    let complete = CompleteRequest {
        upload_id: "u".into(),
        complete_multipart_upload: vec![
            CompletePart {
                part_number: 1,
                md5: "ab".into(),
            },
            CompletePart {
                part_number: 10_000,
                md5: "cd".into(),
            },
        ],
    };
    assert_eq!(to_json_text(&init), serde_json::to_string(&init).unwrap());
    assert_eq!(
        to_json_text(&complete),
        serde_json::to_string(&complete).unwrap()
    );
    assert_eq!(
        to_json_text("a\u{7f}\u{2028}"),
        serde_json::to_string("a\u{7f}\u{2028}").unwrap()
    );
}

#[wasm_bindgen_test]
async fn many_files_share_one_request_queue() {
    proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 60 })).await;
    let up = uploader(&api(proxy()), 16 * KIB, 2, &[]);
    let files: Vec<(String, u64, u64)> = (0..5u64)
        .map(|i| {
            (
                unique_key(&format!("many-{i}.bin")),
                3 * 16 * KIB + i * 1000,
                40 + i,
            )
        })
        .collect();
    let uploads: Vec<Upload> = files
        .iter()
        .map(|(key, len, seed)| {
            start(
                &up,
                &make_file(*len, *seed, "m.bin"),
                key,
                &SharedLog::default(),
                &[],
            )
        })
        .collect();
    for upload in &uploads {
        finish(upload).await.expect("every file finishes");
    }
    let stats = proxy_stats().await;
    console_log!("5 files, one Uploader with concurrency 2: {stats}");
    let parts: u64 = files.iter().map(|(_, len, _)| len.div_ceil(16 * KIB)).sum();
    assert_eq!(stat(&stats, "partRequests"), parts);
    assert_eq!(stat(&stats, "maxConcurrentParts"), 2, "{stats}");
    for (key, len, seed) in &files {
        assert_object_equals(key, *len, *seed).await;
    }
}

#[wasm_bindgen_test]
async fn init_and_complete_are_retried_and_a_lost_complete_answer_is_safe() {
    proxy_config(serde_json::json!({ "initFail503": 2, "completeLoseAnswer": 1 })).await;
    let len = 3 * 16 * KIB + 1;
    let key = unique_key("control-retries.bin");
    let up = uploader(&api(proxy()), 16 * KIB, 2, &[]);
    let result = finish(&start(
        &up,
        &make_file(len, 30, "cr.bin"),
        &key,
        &SharedLog::default(),
        &[],
    ))
    .await
    .expect("upload through init 503s and a lost complete answer");
    let stats = proxy_stats().await;
    console_log!(
        "init/complete retries: {stats}; client retries {}",
        num(&result, "retries")
    );
    assert_eq!(stat(&stats, "initRequests"), 3);
    assert_eq!(stat(&stats, "lostAnswers"), 1);
    // The server got the same complete again and answered the same 200.
    assert!(stat(&stats, "completeRequests") >= 2);
    assert_eq!(num(&result, "size") as u64, len);
    assert!(num(&result, "retries") >= 2.0);
    assert_object_equals(&key, len, 30).await;
}

#[wasm_bindgen_test]
async fn md5_of_blob_matches_md5_of_the_bytes() {
    // Empty, one byte, and more than the 1 MiB update size with a ragged end.
    for (i, len) in [0, 1, 3 * MIB + 5].into_iter().enumerate() {
        let seed = 700 + i as u64;
        let file = make_file(len, seed, "hash.bin");
        let got = JsFuture::from(partup::md5_of_blob(&file, None))
            .await
            .unwrap();
        assert_eq!(got.as_string().unwrap(), md5_hex(len, seed), "{len} bytes");
    }
}
