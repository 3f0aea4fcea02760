//! Instant upload (`instant: true`, SPEC.md §1): every part hashed before uploadInit, which carries
//! the file's size, part size and etag. A hit (the server holds the same content) completes the
//! upload without a single part request; a miss sends the parts with the MD5s already known.
//!
//! Uploads go through the fault proxy, whose counters say which requests the server really got;
//! the worker probe (`tests/worker_probe/`) counts the parts the hashing workers hashed. Contents
//! that must miss are random per run, as the suite's server is shared by every engine's run.
//! The read-scope rule (no hit on an object the token may not read) is in `tests/tokens.rs`.
//!
//! Run by `scripts/test-client.sh` (`PARTUP_TEST_SERVER`, `PARTUP_TEST_PROXY`) in Chromium, Firefox
//! and WebKitGTK.

use partup::js_glue::js_object;
use partup::{Upload, Uploader};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

mod common;
use common::*;
mod worker_probe;
use worker_probe::{WorkerProbe, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

const PART: u64 = 64 * KIB;

/// A seed no other run used: content the server cannot hold yet.
fn fresh_seed() -> u64 {
    (js_sys::Math::random() * 9e15) as u64
}

fn with_workers(workers: u32, part_size: u64, endpoint: &str) -> Uploader {
    uploader(endpoint, part_size, 2, &[("hashWorkers", workers.into())])
}

fn start(up: &Uploader, file: &web_sys::File, key: &str, instant: bool) -> Upload {
    let options = js_object(&[("resourceKey", key.into()), ("instant", instant.into())]);
    start_with(up, file, options, &[])
}

/// The phases `onProgress` reported, in order, without repeats.
type Phases = Rc<RefCell<Vec<String>>>;

fn record_phases(phases: &Phases) -> JsValue {
    let phases = phases.clone();
    Closure::<dyn FnMut(JsValue)>::new(move |progress: JsValue| {
        let phase = text(&progress, "phase");
        let mut seen = phases.borrow_mut();
        if seen.last() != Some(&phase) {
            seen.push(phase);
        }
    })
    .into_js_value()
}

/// Starts an instant upload of `file` to `key` whose `onProgress` phases go to `phases`.
fn start_instant_recording(
    up: &Uploader,
    file: &web_sys::File,
    key: &str,
    phases: &Phases,
) -> Upload {
    let options = js_object(&[("resourceKey", key.into())]);
    let extra = [
        ("instant", JsValue::TRUE),
        ("onProgress", record_phases(phases)),
    ];
    start_with(up, file, options, &extra)
}

async fn assert_object_equals(key: &str, len: u64, seed: u64) {
    let url = format!("{}{}/{}", server(), partup_wire::OBJECTS_PREFIX, key);
    assert_download_equals(&url, len, seed).await;
}

/// Uploads `len` bytes of `seed` to a fresh key (no instant, straight to the server): the
/// content the server then holds. Returns the result.
async fn store(len: u64, seed: u64, part_size: u64, workers: u32) -> JsValue {
    let key = unique_key(&format!("stored-{len}.bin"));
    let up = with_workers(workers, part_size, &api(server()));
    let upload = start(&up, &make_file(len, seed, "f.bin"), &key, false);
    finish(&upload).await.expect("the first upload")
}

#[wasm_bindgen_test]
async fn a_second_upload_of_the_same_bytes_completes_without_a_part_request() {
    for (i, len) in [0, 1, PART, PART + 1].into_iter().enumerate() {
        let seed = 1400 + i as u64;
        let stored = store(len, seed, PART, 1).await;
        set_proxy_rules(proxy(), serde_json::json!({})).await;
        let key = unique_key(&format!("instant-{len}.bin"));
        let phases = Phases::default();
        let up = with_workers(1, PART, &api(proxy()));
        let upload = start_instant_recording(&up, &make_file(len, seed, "copy.bin"), &key, &phases);
        let result = finish(&upload)
            .await
            .unwrap_or_else(|e| panic!("{len} bytes: {e:?}"));
        assert_eq!(get(&result, "instant"), JsValue::TRUE, "{len} bytes");
        assert_eq!(text(&result, "etag"), text(&stored, "etag"));
        assert_eq!(num(&result, "size") as u64, len);
        assert_eq!(text(&result, "resourceKey"), key);
        let stats = proxy_stats_at(proxy()).await;
        assert_eq!(stat(&stats, "partRequests"), 0, "{len} bytes: {stats}");
        assert_eq!(stat(&stats, "initRequests"), 1);
        assert_eq!(stat(&stats, "completeRequests"), 0);
        let progress = upload.progress();
        assert_eq!(num(&progress, "bytesDone") as u64, len);
        assert_eq!(num(&progress, "bytesTotal") as u64, len);
        assert_eq!(num(&progress, "partsDone"), num(&progress, "partsTotal"));
        assert_eq!(
            *phases.borrow(),
            ["initializing", "hashing", "initializing", "done"],
            "{len} bytes"
        );
        assert_object_equals(&key, len, seed).await;
    }
}

#[wasm_bindgen_test]
async fn a_miss_sends_every_part_hashing_each_once() {
    let probe = WorkerProbe::counting();
    let (len, seed) = (5 * PART + 7, fresh_seed());
    set_proxy_rules(proxy(), serde_json::json!({})).await;
    let key = unique_key("miss.bin");
    let phases = Phases::default();
    let up = with_workers(2, PART, &api(proxy()));
    let upload = start_instant_recording(&up, &make_file(len, seed, "f.bin"), &key, &phases);
    let result = finish(&upload).await.expect("the upload");
    assert_eq!(get(&result, "instant"), JsValue::FALSE);
    assert_eq!(num(&result, "parts"), 6.0);
    // Hashed ahead of uploadInit, then sent with those MD5s: no second pass.
    assert_eq!(probe.count("hashed"), 6);
    assert_eq!(num(&upload.progress(), "bytesHashed") as u64, len);
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(stat(&stats, "partRequests"), 6, "{stats}");
    assert_eq!(stat(&stats, "initRequests"), 1);
    let seen = phases.borrow().clone();
    let hashing = seen.iter().position(|p| p == "hashing");
    let uploading = seen.iter().position(|p| p == "uploading");
    assert!(hashing.is_some() && hashing < uploading, "phases: {seen:?}");
    assert_object_equals(&key, len, seed).await;
}

#[wasm_bindgen_test]
async fn workers_and_the_page_thread_claim_the_same_etag() {
    // Each one's claim must find the object the other stored.
    for (stored_by, claimed_by) in [(2, 0), (0, 2)] {
        let (len, seed) = (3 * PART + 100, fresh_seed());
        let stored = store(len, seed, PART, stored_by).await;
        let key = unique_key(&format!("claim-{claimed_by}-workers.bin"));
        let up = with_workers(claimed_by, PART, &api(server()));
        let result = finish(&start(&up, &make_file(len, seed, "f.bin"), &key, true))
            .await
            .expect("the instant upload");
        assert_eq!(
            get(&result, "instant"),
            JsValue::TRUE,
            "hashed with {claimed_by} workers, stored with {stored_by}"
        );
        assert_eq!(text(&result, "etag"), text(&stored, "etag"));
        assert_object_equals(&key, len, seed).await;
    }
}

#[wasm_bindgen_test]
async fn pause_while_hashing_holds_it_and_resume_hashes_on() {
    let probe = WorkerProbe::counting();
    set_proxy_rules(proxy(), serde_json::json!({})).await;
    // 16 MiB parts: a worker takes tens of ms per part, so the pause lands mid-hash.
    let (len, part, seed) = (3 * 16 * MIB, 16 * MIB, fresh_seed());
    let key = unique_key("pause-hashing.bin");
    let up = with_workers(2, part, &api(proxy()));
    let upload = start(&up, &make_file(len, seed, "f.bin"), &key, true);
    probe.pause_at_first_hash(&upload).await;
    // Nothing is sent while the hashing is held; the parts hashed before the pause were dropped
    // with it (the pause came as the first was posted).
    let answered_while_paused = probe.count("hashed");
    // Only the look for an unfinished upload on the server (none), before the hashing.
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(stat(&stats, "apiRequests"), 1, "{stats}");
    assert_eq!(stat(&stats, "listUploadsRequests"), 1, "{stats}");
    assert!(
        probe.count("cancelsPosted") >= 1,
        "the workers were told to stop"
    );
    upload.resume();
    let result = finish(&upload).await.expect("the resumed upload");
    assert_eq!(get(&result, "instant"), JsValue::FALSE);
    assert_eq!(probe.count("hashed") - answered_while_paused, 3);
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(stat(&stats, "partRequests"), 3, "{stats}");
    assert_eq!(stat(&stats, "initRequests"), 1);
    assert_object_equals(&key, len, seed).await;
}

#[wasm_bindgen_test]
async fn cancel_while_hashing_stops_the_workers_and_never_starts_the_upload() {
    let probe = WorkerProbe::counting();
    set_proxy_rules(proxy(), serde_json::json!({})).await;
    let (len, part) = (3 * 16 * MIB, 16 * MIB);
    let key = unique_key("cancel-hashing.bin");
    let up = with_workers(2, part, &api(proxy()));
    let upload = start(&up, &make_file(len, fresh_seed(), "f.bin"), &key, true);
    let cancelling = upload.clone();
    probe.on_first_hash(move || drop(cancelling.cancel()));
    let error = finish(&upload).await.expect_err("cancelled");
    assert_eq!(error_code(&error), "Cancelled");
    assert_eq!(text(&upload.progress(), "phase"), "cancelled");
    assert!(
        probe.count("cancelsPosted") >= 1,
        "the workers were told to stop"
    );
    assert_eq!(probe.count("alive"), 0, "terminated with the upload");
    assert!(probe.count("hashed") < 3, "the hashing stopped");
    let stats = proxy_stats_at(proxy()).await;
    // The look for an unfinished upload on the server (none) came before the hashing; nothing else.
    assert_eq!(stat(&stats, "apiRequests"), 1, "{stats}");
    assert_eq!(stat(&stats, "listUploadsRequests"), 1, "{stats}");
}

#[wasm_bindgen_test]
async fn a_remembered_upload_resumes_without_hashing_ahead() {
    set_proxy_rules(
        proxy(),
        serde_json::json!({ "delayEvery": 1, "delayMs": 150 }),
    )
    .await;
    let (len, seed) = (8 * PART + 3, fresh_seed());
    let key = unique_key("remembered.bin");
    let file = make_file(len, seed, "remembered.bin");
    let first = start(&with_workers(1, PART, &api(proxy())), &file, &key, false);
    wait_until("2 parts stored", || {
        num(&first.progress(), "partsDone") >= 2.0
    })
    .await;
    // The "page" goes away mid-upload; its entry in localStorage stays.
    first.pause();
    drop(first);
    set_proxy_rules(proxy(), serde_json::json!({})).await;
    let phases = Phases::default();
    let second_page = with_workers(1, PART, &api(proxy()));
    let second = start_instant_recording(&second_page, &file, &key, &phases);
    let result = finish(&second).await.expect("the resumed upload");
    assert_eq!(get(&result, "resumed"), JsValue::TRUE);
    assert_eq!(get(&result, "instant"), JsValue::FALSE);
    assert!(num(&result, "skippedParts") >= 2.0);
    assert!(
        !phases.borrow().iter().any(|p| p == "hashing"),
        "{:?}",
        phases.borrow()
    );
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(
        stat(&stats, "initRequests"),
        0,
        "resumed, not started again"
    );
    assert_eq!(stat(&stats, "listPartsRequests"), 1);
    assert_object_equals(&key, len, seed).await;
}

#[wasm_bindgen_test]
fn a_non_boolean_instant_throws_invalid_options() {
    let up = uploader(&api(server()), PART, 2, &[]);
    let options = js_object(&[("resourceKey", "k".into()), ("instant", "yes".into())]);
    let error = up
        .upload(&make_file(1, 1, "f.bin"), options.unchecked_into())
        .err()
        .expect("instant: 'yes' is refused");
    assert_eq!(error_code(&error), "InvalidOptions");
    assert!(text(&error, "message").contains("instant"));
}

/// Uploads `len` bytes of `seed` to `key` with `instant` through the proxy; the result and the
/// number of part requests the server got.
async fn upload_counting_parts(key: &str, len: u64, seed: u64, instant: bool) -> (JsValue, u64) {
    set_proxy_rules(proxy(), serde_json::json!({})).await;
    let up = with_workers(1, PART, &api(proxy()));
    let upload = start(&up, &make_file(len, seed, "f.bin"), key, instant);
    let result = finish(&upload).await.expect("the upload");
    let parts = stat(&proxy_stats_at(proxy()).await, "partRequests");
    (result, parts)
}

#[wasm_bindgen_test]
async fn an_object_replaced_meanwhile_gives_its_new_content_never_the_old() {
    let len = 3 * PART + 5;
    let (old, new) = (fresh_seed(), fresh_seed());
    let source = unique_key("replaced-source.bin");
    upload_counting_parts(&source, len, old, false).await;
    upload_counting_parts(&source, len, new, false).await;
    // The old content is nowhere any more: a miss, every part sent, the client's own bytes stored.
    let old_copy = unique_key("old-copy.bin");
    let (result, parts) = upload_counting_parts(&old_copy, len, old, true).await;
    assert_eq!(get(&result, "instant"), JsValue::FALSE);
    assert_eq!(parts, 4);
    assert_object_equals(&old_copy, len, old).await;
    // The new content is a hit, with the new bytes.
    let new_copy = unique_key("new-copy.bin");
    let (result, parts) = upload_counting_parts(&new_copy, len, new, true).await;
    assert_eq!(get(&result, "instant"), JsValue::TRUE);
    assert_eq!(parts, 0);
    assert_object_equals(&new_copy, len, new).await;
}
