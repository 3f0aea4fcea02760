//! Hashing in Web Workers (`src/hash_pool.rs`, `js/hash_pool.js`): the same objects as on the
//! page's thread, one worker hashing up to its lanes of parts at once (4 in the SIMD128 build: this
//! suite runs in both builds, see `scripts/test-client.sh`), the fallback when workers cannot start,
//! a worker silent while starting replaced once, pause and cancel while a worker hashes,
//! a resume after a "reload", BadDigest re-hashing, and workers that end when nothing runs.
//!
//! A probe (`tests/worker_probe/`) in place of `globalThis.Worker` counts the workers started and
//! terminated, the parts posted and the answers, so the tests see what the workers really did, not
//! only what `onInit` says.
//!
//! Run by `scripts/test-client.sh` (`PARTUP_TEST_SERVER`, `PARTUP_TEST_PROXY`) in Chromium, Firefox
//! and WebKitGTK.

use partup::js_glue::js_object;
use partup::lane_hashing::hash_lanes;
use partup::{Upload, Uploader};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::*;
mod worker_probe;
use worker_probe::{WorkerProbe, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

/// The argument of a hook's last call (`onInit`, `onProgress`).
type LastArgument = Rc<RefCell<Option<JsValue>>>;

fn remember_last(slot: &LastArgument) -> JsValue {
    let slot = slot.clone();
    Closure::<dyn FnMut(JsValue)>::new(move |info| *slot.borrow_mut() = Some(info)).into_js_value()
}

fn last_argument(slot: &LastArgument) -> JsValue {
    slot.borrow().clone().expect("the hook was called")
}

fn start(up: &Uploader, file: &web_sys::File, key: &str, extra: &[(&str, JsValue)]) -> Upload {
    start_with(up, file, js_object(&[("resourceKey", key.into())]), extra)
}

fn with_workers(workers: u32, part_size: u64, concurrency: u32, endpoint: &str) -> Uploader {
    uploader(
        endpoint,
        part_size,
        concurrency,
        &[("hashWorkers", workers.into())],
    )
}

async fn assert_object_equals(key: &str, len: u64, seed: u64) {
    let url = format!("{}{}/{}", server(), partup_wire::OBJECTS_PREFIX, key);
    assert_download_equals(&url, len, seed).await;
}

/// Uploads `len` bytes with `workers` hashing workers; returns the result and onInit's argument,
/// having checked that the progress reports after onInit say the same about the hashing.
async fn upload_with(workers: u32, len: u64, part_size: u64, seed: u64) -> (JsValue, JsValue) {
    let key = unique_key(&format!("w{workers}-{len}.bin"));
    let file = make_file(len, seed, "f.bin");
    let slot = LastArgument::default();
    let reports = LastArgument::default();
    let up = with_workers(workers, part_size, 4, &api(server()));
    let hooks = [
        ("onInit", remember_last(&slot)),
        ("onProgress", remember_last(&reports)),
    ];
    let upload = start(&up, &file, &key, &hooks);
    let result = finish(&upload)
        .await
        .unwrap_or_else(|e| panic!("{len} bytes with {workers} workers: {e:?}"));
    assert_object_equals(&key, len, seed).await;
    let info = last_argument(&slot);
    for progress in [last_argument(&reports), upload.progress()] {
        for field in ["hashing", "hashWorkers", "hashLanes", "hashingFallback"] {
            assert_eq!(
                get(&progress, field),
                get(&info, field),
                "progress's {field}"
            );
        }
    }
    (result, info)
}

#[wasm_bindgen_test]
async fn workers_and_the_page_thread_store_identical_objects_at_edge_sizes() {
    let probe = WorkerProbe::counting();
    let part = 64 * KIB;
    let sizes = [0, 1, part - 1, part, part + 1, 5 * part + 7];
    for (i, len) in sizes.into_iter().enumerate() {
        let seed = 1300 + i as u64;
        let hashed_before = probe.count("hashed");
        let (in_workers, info) = upload_with(3, len, part, seed).await;
        assert_eq!(text(&info, "hashing"), "workers", "{len} bytes");
        assert_eq!(num(&info, "hashWorkers"), 3.0);
        assert_eq!(num(&info, "hashLanes"), hash_lanes() as f64);
        assert!(get(&info, "hashingFallback").is_null());
        let parts = len.div_ceil(part).max(1);
        assert_eq!(probe.count("hashed") - hashed_before, parts, "{len} bytes");
        let (on_page, info) = upload_with(0, len, part, seed).await;
        assert_eq!(text(&info, "hashing"), "main-thread");
        assert_eq!(num(&info, "hashWorkers"), 0.0);
        assert_eq!(num(&info, "hashLanes"), 0.0);
        assert!(get(&info, "hashingFallback").is_null());
        assert_eq!(
            probe.count("hashed") - hashed_before,
            parts,
            "0 workers hash nothing"
        );
        assert_eq!(
            text(&in_workers, "etag"),
            text(&on_page, "etag"),
            "{len} bytes"
        );
        assert_eq!(num(&in_workers, "parts") as u64, parts);
    }
    // Every upload ended, so every worker was terminated; hashWorkers: 0 never made one.
    assert_eq!(probe.count("alive"), 0);
    assert_eq!(probe.count("ready"), 3 * sizes.len() as u64);
    console_log!(
        "edge sizes: {} workers replaced for not answering in time",
        probe.count("started") - probe.count("ready")
    );
}

#[wasm_bindgen_test]
async fn one_worker_hashes_up_to_its_lanes_of_parts_at_once_storing_identical_objects() {
    let probe = WorkerProbe::counting();
    let lanes = hash_lanes();
    assert_eq!(
        lanes,
        if cfg!(target_feature = "simd128") {
            4
        } else {
            1
        }
    );
    let part = 256 * KIB;
    // Parts of 256 KiB: several stream chunks each, so parts hashed together share rounds.
    for (i, len) in [9 * part + 77, 4 * part, 3 * part - 1]
        .into_iter()
        .enumerate()
    {
        let seed = 1380 + i as u64;
        let posted_before = probe.count("posted");
        let (in_lanes, info) = upload_with(1, len, part, seed).await;
        assert_eq!(text(&info, "hashing"), "workers");
        assert_eq!(num(&info, "hashWorkers"), 1.0);
        assert_eq!(num(&info, "hashLanes"), lanes as f64);
        assert_eq!(probe.count("posted") - posted_before, len.div_ceil(part));
        let (on_page, _) = upload_with(0, len, part, seed).await;
        assert_eq!(
            text(&in_lanes, "etag"),
            text(&on_page, "etag"),
            "{len} bytes"
        );
    }
    // concurrency 4: an upload hashes up to 4 parts ahead, which a 4-lane worker takes at once.
    let most = probe.count("maxInFlight");
    if lanes > 1 {
        assert!(
            most > 1 && most <= lanes as u64,
            "{most} parts at once in one worker"
        );
    } else {
        assert_eq!(
            most, 1,
            "the scalar build's worker hashes one part at a time"
        );
    }
    assert_eq!(probe.count("alive"), 0);
}

#[wasm_bindgen_test]
async fn a_worker_that_cannot_be_created_falls_back_to_the_page_thread() {
    let _probe = WorkerProbe::throwing();
    let (len, seed) = (3 * 64 * KIB + 11, 1320);
    let (result, info) = upload_with(2, len, 64 * KIB, seed).await;
    assert_eq!(text(&info, "hashing"), "main-thread");
    assert_eq!(num(&info, "hashWorkers"), 0.0);
    let why = text(&info, "hashingFallback");
    assert!(why.contains("could not be created"), "{why}");
    assert!(why.contains("refused by the test"), "{why}");
    assert_eq!(num(&result, "size") as u64, len);
}

#[wasm_bindgen_test]
async fn a_worker_that_fails_to_start_falls_back_to_the_page_thread() {
    let probe = WorkerProbe::failing();
    let (len, seed) = (4 * 64 * KIB + 3, 1321);
    let (result, info) = upload_with(2, len, 64 * KIB, seed).await;
    assert_eq!(text(&info, "hashing"), "main-thread");
    let why = text(&info, "hashingFallback");
    assert!(why.contains("hashing worker failed"), "{why}");
    assert_eq!(num(&result, "parts"), 5.0);
    assert_eq!(probe.count("started"), 2);
    assert_eq!(probe.count("hashed"), 0);
    assert_eq!(probe.count("alive"), 0, "the failed workers are terminated");
}

#[wasm_bindgen_test]
async fn a_worker_silent_while_starting_is_replaced_once_and_the_upload_uses_workers() {
    let probe = WorkerProbe::silent_first();
    let (len, seed) = (4 * 64 * KIB + 5, 1322);
    let (result, info) = upload_with(2, len, 64 * KIB, seed).await;
    assert_eq!(text(&info, "hashing"), "workers");
    assert_eq!(num(&info, "hashWorkers"), 2.0);
    assert!(get(&info, "hashingFallback").is_null());
    assert_eq!(
        probe.count("started"),
        3,
        "the silent one and its replacement"
    );
    assert_eq!(probe.count("ready"), 2);
    assert_eq!(probe.count("hashed"), 5, "every part in a worker");
    assert_eq!(
        probe.count("alive"),
        0,
        "all terminated, the silent one too"
    );
    assert_eq!(num(&result, "size") as u64, len);
}

#[wasm_bindgen_test]
async fn workers_silent_twice_fall_back_to_the_page_thread_saying_how_far_they_got() {
    let probe = WorkerProbe::silent();
    let (len, seed) = (2 * 64 * KIB + 1, 1323);
    let (result, info) = upload_with(2, len, 64 * KIB, seed).await;
    assert_eq!(text(&info, "hashing"), "main-thread");
    let why = text(&info, "hashingFallback");
    assert!(why.contains("did not load its script within"), "{why}");
    assert_eq!(probe.count("started"), 4, "each replaced once, no more");
    assert_eq!(probe.count("ready"), 0);
    assert_eq!(probe.count("alive"), 0, "all terminated");
    assert_eq!(num(&result, "parts"), 3.0);
}

#[wasm_bindgen_test]
async fn pause_mid_hash_tells_the_worker_to_stop_and_resume_finishes_byte_exact() {
    let probe = WorkerProbe::counting();
    // 32 MiB parts: hashing one takes a worker ~50 ms; the pause comes right after the first part
    // was posted to a worker.
    let (len, part, seed) = (32 * MIB + 16 * MIB + 9, 32 * MIB, 1330);
    let key = unique_key("pause-mid-hash.bin");
    let file = make_file(len, seed, "f.bin");
    let up = with_workers(2, part, 2, &api(server()));
    let upload = start(&up, &file, &key, &[]);
    probe.pause_at_first_hash(&upload).await;
    // The worker hashing the posted part was told to stop its read. Whether it stopped early
    // (answered "cancelled") depends on the engine: Firefox hands an in-memory part over as one
    // chunk, which is read whole before the stop can be seen.
    assert!(
        probe.count("cancelsPosted") >= 1,
        "the worker was told to stop"
    );
    console_log!(
        "pause mid-hash: {} of {} posted parts stopped early",
        probe.count("cancelled"),
        probe.count("posted")
    );
    assert_eq!(probe.count("alive"), 2, "a paused upload keeps its workers");
    upload.resume();
    let result = finish(&upload).await.expect("resumed upload");
    assert_eq!(num(&result, "parts"), 2.0);
    assert_eq!(probe.count("ready"), 2);
    assert_object_equals(&key, len, seed).await;
    assert_eq!(probe.count("alive"), 0, "terminated once nothing runs");
}

#[wasm_bindgen_test]
async fn cancel_mid_hash_ends_the_upload_and_its_workers() {
    let probe = WorkerProbe::counting();
    let (len, part) = (3 * 16 * MIB, 16 * MIB);
    let key = unique_key("cancel-mid-hash.bin");
    let up = with_workers(2, part, 2, &api(server()));
    let upload = start(&up, &make_file(len, 1331, "f.bin"), &key, &[]);
    let cancelling = upload.clone();
    probe.on_first_hash(move || drop(cancelling.cancel()));
    let error = finish(&upload).await.expect_err("cancelled");
    assert_eq!(error_code(&error), "Cancelled");
    assert_eq!(probe.count("ready"), 2);
    assert_eq!(probe.count("alive"), 0, "terminated with the last upload");
    let url = format!("{}{}/{}", server(), partup_wire::OBJECTS_PREFIX, key);
    assert_eq!(
        fetch(&url, "GET", None, "").await.0,
        404,
        "nothing completed"
    );
    // The Uploader starts new workers for its next upload.
    let (len, seed) = (2 * 64 * KIB + 1, 1332);
    let key = unique_key("after-cancel.bin");
    let slot = LastArgument::default();
    let file = make_file(len, seed, "g.bin");
    finish(&start(
        &up,
        &file,
        &key,
        &[("onInit", remember_last(&slot))],
    ))
    .await
    .expect("next upload");
    assert_eq!(text(&last_argument(&slot), "hashing"), "workers");
    assert_eq!(probe.count("ready"), 4);
    assert_eq!(probe.count("alive"), 0);
    assert_object_equals(&key, len, seed).await;
}

#[wasm_bindgen_test]
async fn uploads_of_one_uploader_share_its_workers_until_the_last_ends() {
    let probe = WorkerProbe::counting();
    let up = with_workers(2, 64 * KIB, 4, &api(server()));
    let files: Vec<_> = (0..3)
        .map(|i| {
            (
                unique_key(&format!("shared-{i}.bin")),
                5 * 64 * KIB + 1 + i,
                1340 + i,
            )
        })
        .collect();
    let uploads: Vec<_> = files
        .iter()
        .map(|(key, len, seed)| start(&up, &make_file(*len, *seed, "f.bin"), key, &[]))
        .collect();
    for upload in &uploads {
        finish(upload).await.expect("upload");
    }
    assert_eq!(probe.count("ready"), 2, "one pool for the Uploader");
    assert_eq!(probe.count("hashed"), 3 * 6);
    assert_eq!(probe.count("alive"), 0);
    for (key, len, seed) in &files {
        assert_object_equals(key, *len, *seed).await;
    }
}

#[wasm_bindgen_test]
async fn an_uploader_freed_mid_upload_still_finishes_and_its_workers_end_with_it() {
    let probe = WorkerProbe::counting();
    let (len, seed) = (9 * 64 * KIB + 5, 1345);
    let key = unique_key("freed-uploader.bin");
    let up = with_workers(2, 64 * KIB, 2, &api(server()));
    let upload = start(&up, &make_file(len, seed, "f.bin"), &key, &[]);
    drop(up); // what uploader.free() does
    finish(&upload)
        .await
        .expect("the upload outlives its Uploader");
    assert_eq!(probe.count("ready"), 2);
    assert_eq!(probe.count("hashed"), 10);
    assert_eq!(probe.count("alive"), 0, "terminated with the last upload");
    assert_object_equals(&key, len, seed).await;
}

#[wasm_bindgen_test]
async fn bad_digest_is_hashed_again_in_a_worker() {
    let probe = WorkerProbe::counting();
    set_proxy_rules(proxy(), serde_json::json!({ "corruptEvery": 2 })).await;
    let (len, seed) = (4 * 64 * KIB, 1350);
    let key = unique_key("corrupt-workers.bin");
    let up = with_workers(2, 64 * KIB, 1, &api(proxy()));
    let result = finish(&start(&up, &make_file(len, seed, "f.bin"), &key, &[]))
        .await
        .expect("upload");
    let stats = proxy_stats_at(proxy()).await;
    let bad_digests = stat(&stats, "badDigestAnswers");
    assert!(bad_digests >= 2, "{stats}");
    assert_eq!(stat(&stats, "partsStored"), 4);
    // Each BadDigest makes the part be read and hashed again, by a worker.
    assert_eq!(probe.count("hashed"), 4 + bad_digests);
    assert_eq!(num(&result, "retries") as u64, bad_digests);
    assert_object_equals(&key, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_new_page_resumes_with_workers_and_sends_only_missing_parts() {
    let probe = WorkerProbe::counting();
    set_proxy_rules(
        proxy(),
        serde_json::json!({ "delayEvery": 1, "delayMs": 150 }),
    )
    .await;
    let (len, part, seed) = (12 * 32 * KIB + 5, 32 * KIB, 1360);
    let key = unique_key("reload-workers.bin");
    let file = make_file(len, seed, "reload.bin");
    let first = start(&with_workers(2, part, 2, &api(proxy())), &file, &key, &[]);
    wait_until("4 parts stored", || {
        num(&first.progress(), "partsDone") >= 4.0
    })
    .await;
    // The "page" goes away mid-upload: its requests stop, nothing is aborted on the server.
    first.pause();
    let stored: f64 = num(&first.progress(), "partsDone");
    drop(first);

    set_proxy_rules(proxy(), serde_json::json!({})).await;
    // The first page's reads that were under way have answered (hashed or stopped).
    wait_until("the first page's workers", || {
        probe.count("hashed") + probe.count("cancelled") == probe.count("posted")
    })
    .await;
    let hashed_before = probe.count("hashed");
    let slot = LastArgument::default();
    let second_page = with_workers(2, part, 2, &api(proxy()));
    let second = start(
        &second_page,
        &file,
        &key,
        &[("onInit", remember_last(&slot))],
    );
    let result = finish(&second).await.expect("resumed upload");
    let info = last_argument(&slot);
    assert_eq!(get(&info, "resumed"), JsValue::TRUE);
    assert_eq!(
        text(&info, "hashing"),
        "workers",
        "{:?}",
        get(&info, "hashingFallback")
    );
    // Every local part is hashed again (in workers) to compare with the server's MD5s.
    assert_eq!(probe.count("hashed") - hashed_before, 13);
    let stats = proxy_stats_at(proxy()).await;
    assert!(
        num(&result, "skippedParts") >= stored,
        "{stored} parts were stored"
    );
    assert_eq!(
        stat(&stats, "partRequests"),
        13 - num(&result, "skippedParts") as u64
    );
    assert_object_equals(&key, len, seed).await;
}

#[wasm_bindgen_test]
fn bad_hash_workers_throw_invalid_options() {
    for bad in [
        JsValue::from(-1),
        JsValue::from(1.5),
        JsValue::from("2"),
        JsValue::from(17),
    ] {
        let options = js_object(&[("endpoint", "/x".into()), ("hashWorkers", bad.clone())]);
        let error = Uploader::new(options.unchecked_into())
            .err()
            .unwrap_or_else(|| panic!("hashWorkers {bad:?} was accepted"));
        assert_eq!(error_code(&error), "InvalidOptions");
        assert!(text(&error, "message").contains("hashWorkers"), "{bad:?}");
    }
}

#[wasm_bindgen_test]
async fn md5_of_blob_stops_when_its_signal_aborts() {
    let controller = web_sys::AbortController::new().unwrap();
    controller.abort();
    let options = js_object(&[("signal", controller.signal().into())]);
    let file = make_file(3 * MIB, 1370, "f.bin");
    let hashing = partup::md5_of_blob(&file, Some(options.unchecked_into()));
    let error = JsFuture::from(hashing).await.expect_err("aborted");
    assert_eq!(error_code(&error), "Cancelled");
}
