//! Direct parts (SPEC.md §6): the real `Uploader` against a partup started with `--store s3
//! --direct-parts`, its parts signed by partup and `PUT` into Garage by the page itself.
//!
//! `scripts/test-client.sh` starts Garage (its bucket's CORS rule set as the README says), a
//! fault proxy in `--store` mode in front of it (the signed URLs name it: `--direct-endpoint`), a
//! partup signing for it with a fault proxy in front (`PARTUP_TEST_DIRECT_PROXY`: its counters say
//! which partup requests came), and a second partup whose signatures live 3 s
//! (`PARTUP_TEST_SHORT_EXPIRY_SERVER`), and two more partups over one store prefix behind a
//! fault proxy that balances between them and kills the first on request
//! (`PARTUP_TEST_TWINS_PROXY`). The store proxy's counters say what reached the store:
//! `partRequests` (its part PUTs), `storeErrors` (its error answers by `<Code>`), `storeExpired`.

use partup::js_glue::js_object;
use partup::timers::sleep_ms;
use partup::{Upload, Uploader};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::*;
mod worker_probe;
use worker_probe::wait_until;

wasm_bindgen_test_configure!(run_in_browser);

/// S3's smallest part but the last, and the servers' `--min-part-size`.
const PART: u64 = 5 * MIB;

fn direct_server() -> &'static str {
    required(
        option_env!("PARTUP_TEST_DIRECT_SERVER"),
        "PARTUP_TEST_DIRECT_SERVER",
    )
}

/// The fault proxy in front of [`direct_server`].
fn direct_proxy() -> &'static str {
    required(
        option_env!("PARTUP_TEST_DIRECT_PROXY"),
        "PARTUP_TEST_DIRECT_PROXY",
    )
}

/// A partup like [`direct_server`] whose signatures expire after 3 s.
fn short_expiry_server() -> &'static str {
    required(
        option_env!("PARTUP_TEST_SHORT_EXPIRY_SERVER"),
        "PARTUP_TEST_SHORT_EXPIRY_SERVER",
    )
}

/// The fault proxy in front of the store, which the signed URLs name.
fn store_proxy() -> &'static str {
    required(
        option_env!("PARTUP_TEST_STORE_PROXY"),
        "PARTUP_TEST_STORE_PROXY",
    )
}

/// A fault proxy balancing between two partups over one store prefix, the first of which it kills
/// on `POST /__proxy/kill-upstream`.
fn twins_proxy() -> &'static str {
    required(
        option_env!("PARTUP_TEST_TWINS_PROXY"),
        "PARTUP_TEST_TWINS_PROXY",
    )
}

/// The second of the twins, which outlives the first.
fn twin_b() -> &'static str {
    required(option_env!("PARTUP_TEST_TWIN_B"), "PARTUP_TEST_TWIN_B")
}

/// Sets the rules of both proxies (`store` for the store's, `partup` for partup's), zeroing their
/// counters.
async fn rules(store: serde_json::Value, partup: serde_json::Value) {
    set_proxy_rules(store_proxy(), store).await;
    set_proxy_rules(direct_proxy(), partup).await;
}

fn no_faults() -> serde_json::Value {
    serde_json::json!({})
}

/// An Uploader of 5-MiB parts for `base` (a partup or its proxy).
fn direct_uploader(base: &str, concurrency: u32) -> Uploader {
    let min = (PART as f64).into();
    uploader(&api(base), PART, concurrency, &[("minPartSize", min)])
}

fn fresh_seed() -> u64 {
    (js_sys::Math::random() * 9e15) as u64
}

/// What the upload's callbacks were given.
#[derive(Default)]
struct Seen {
    init: Option<JsValue>,
    last: Option<JsValue>,
    reports: u32,
    /// Reports after onInit that said `direct: true`.
    direct_reports: u32,
}

type Shared = Rc<RefCell<Seen>>;

fn start(up: &Uploader, file: &web_sys::File, key: &str, seen: &Shared) -> Upload {
    let on_init = {
        let seen = seen.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |info| seen.borrow_mut().init = Some(info))
            .into_js_value()
    };
    let on_progress = {
        let seen = seen.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| {
            let mut seen = seen.borrow_mut();
            seen.reports += 1;
            if seen.init.is_some() && get(&p, "direct") == JsValue::TRUE {
                seen.direct_reports += 1;
            }
            seen.last = Some(p);
        })
        .into_js_value()
    };
    let options = js_object(&[("resourceKey", key.into())]);
    let callbacks = [("onInit", on_init), ("onProgress", on_progress)];
    start_with(up, file, options, &callbacks)
}

async fn assert_object_equals(server: &str, key: &str, len: u64, seed: u64) {
    let url = format!("{server}{}/{key}", partup_wire::OBJECTS_PREFIX);
    assert_download_equals(&url, len, seed).await;
}

#[wasm_bindgen_test]
async fn files_of_every_edge_size_go_straight_to_the_store_and_read_back_byte_exact() {
    let sizes = [1, PART - 1, PART, PART + 1, 3 * PART + 1234];
    for len in sizes {
        rules(no_faults(), no_faults()).await;
        let (key, seed) = (unique_key(&format!("edge-{len}.bin")), fresh_seed());
        let seen = Shared::default();
        let file = make_file(len, seed, "edge.bin");
        let upload = start(&direct_uploader(direct_proxy(), 2), &file, &key, &seen);
        let result = finish(&upload).await.expect("direct upload");
        let parts = num(&result, "parts") as u64;
        assert_eq!(parts, len.div_ceil(PART), "{len} bytes");
        assert_eq!(num(&result, "size") as u64, len);
        assert_eq!(get(&result, "direct"), JsValue::TRUE, "{len} bytes");
        {
            let seen = seen.borrow();
            let init = seen.init.as_ref().expect("onInit called");
            assert_eq!(get(init, "direct"), JsValue::TRUE);
            assert!(seen.direct_reports > 0, "progress says direct too");
            let last = seen.last.as_ref().expect("progress reported");
            assert_eq!(num(last, "bytesDone") as u64, len);
            assert_eq!(text(last, "phase"), "done");
        }

        let (partup, store) = (
            proxy_stats_at(direct_proxy()).await,
            proxy_stats_at(store_proxy()).await,
        );
        assert_eq!(
            stat(&partup, "partRequests"),
            0,
            "no part to partup: {partup}"
        );
        assert_eq!(stat(&partup, "signPartRequests"), parts, "{partup}");
        assert_eq!(stat(&store, "partRequests"), parts, "{store}");
        assert_eq!(stat(&store, "partsStored"), parts, "{store}");
        assert_object_equals(direct_server(), &key, len, seed).await;
    }
}

#[wasm_bindgen_test]
async fn an_empty_file_completes_on_a_direct_server_through_partup() {
    rules(no_faults(), no_faults()).await;
    let key = unique_key("empty.bin");
    let upload = start(
        &direct_uploader(direct_proxy(), 1),
        &make_file(0, 1, "empty.bin"),
        &key,
        &Shared::default(),
    );
    let result = finish(&upload).await.expect("an empty file's upload");
    // Stores refuse an empty part body: the server has the one empty part sent to it (SPEC §6).
    assert_eq!(get(&result, "direct"), JsValue::FALSE);
    assert_eq!(num(&result, "size"), 0.0);
    assert_eq!(num(&result, "parts"), 1.0);
    assert_object_equals(direct_server(), &key, 0, 1).await;
}

#[wasm_bindgen_test]
async fn the_direct_puts_upload_progress_counts_a_parts_bytes_before_the_store_answers() {
    // The store's answers are held 400 ms after each part's body went through.
    rules(
        serde_json::json!({ "delayEvery": 1, "delayMs": 400, "delayAnswer": true }),
        no_faults(),
    )
    .await;
    let (key, seed) = (unique_key("progress.bin"), fresh_seed());
    let len = 2 * PART + 7;
    let upload = start(
        &direct_uploader(direct_proxy(), 1),
        &make_file(len, seed, "p.bin"),
        &key,
        &Shared::default(),
    );
    // One part at a time, in order: the parts done are the first ones, all whole.
    let mut sent_ahead = false;
    let done = finish(&upload);
    let mut done = std::pin::pin!(done);
    let result = loop {
        let progress = upload.progress();
        let stored = num(&progress, "partsDone") as u64 * PART;
        sent_ahead |= stored < len && num(&progress, "bytesDone") as u64 > stored;
        let tick = std::pin::pin!(sleep_ms(20.0));
        match futures_util::future::select(done.as_mut(), tick).await {
            futures_util::future::Either::Left((result, _)) => break result,
            futures_util::future::Either::Right(_) => {}
        }
    };
    result.expect("direct upload");
    assert!(
        sent_ahead,
        "no progress counted a part's bytes before the store answered"
    );
    assert_object_equals(direct_server(), &key, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_part_damaged_on_the_way_is_refused_by_the_store_and_sent_again() {
    rules(serde_json::json!({ "corruptEvery": 2 }), no_faults()).await;
    let (key, seed) = (unique_key("damaged.bin"), fresh_seed());
    let len = 3 * PART + 1234;
    let upload = start(
        &direct_uploader(direct_proxy(), 2),
        &make_file(len, seed, "d.bin"),
        &key,
        &Shared::default(),
    );
    let result = finish(&upload).await.expect("upload through damage");
    let store = proxy_stats_at(store_proxy()).await;
    console_log!("damaged parts: {store}");
    let damaged = stat(&store, "corrupted");
    assert!(damaged >= 1, "{store}");
    assert_eq!(store["storeErrors"]["BadDigest"], damaged, "{store}");
    assert_eq!(stat(&store, "partsStored"), 4, "{store}");
    assert!(num(&result, "retries") as u64 >= damaged);
    assert_object_equals(direct_server(), &key, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_signature_that_expires_on_the_way_is_signed_again_and_the_upload_completes() {
    // The second part's PUT reaches the store 4 s after it was signed, 1 s past its expiry.
    rules(
        serde_json::json!({ "delayEvery": 2, "delayMs": 4000 }),
        no_faults(),
    )
    .await;
    let (key, seed) = (unique_key("expired.bin"), fresh_seed());
    let len = PART + 99;
    let upload = start(
        &direct_uploader(short_expiry_server(), 1),
        &make_file(len, seed, "e.bin"),
        &key,
        &Shared::default(),
    );
    let result = finish(&upload).await.expect("upload past an expiry");
    let store = proxy_stats_at(store_proxy()).await;
    console_log!("expired on the way: {store}");
    assert_eq!(stat(&store, "storeExpired"), 1, "{store}");
    assert_eq!(stat(&store, "partRequests"), 3, "{store}");
    assert_eq!(num(&result, "retries"), 0.0, "signing again is no retry");
    assert_object_equals(short_expiry_server(), &key, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_signature_past_its_time_after_a_pause_is_signed_again_before_sending() {
    // Each PUT is held 1 s, so the second part's is on its way (its signature made) at the pause.
    rules(
        serde_json::json!({ "delayEvery": 1, "delayMs": 1000 }),
        no_faults(),
    )
    .await;
    let (key, seed) = (unique_key("paused-past.bin"), fresh_seed());
    let len = PART + 5;
    let seen = Shared::default();
    let upload = start(
        &direct_uploader(short_expiry_server(), 1),
        &make_file(len, seed, "pp.bin"),
        &key,
        &seen,
    );
    wait_until("the first part stored and the second on its way", || {
        seen.borrow()
            .last
            .as_ref()
            .is_some_and(|p| num(p, "partsDone") >= 1.0)
    })
    .await;
    let store = store_proxy();
    let mut on_way = 0;
    for _ in 0..300 {
        on_way = stat(&proxy_stats_at(store).await, "partRequests");
        if on_way >= 2 {
            break;
        }
        sleep_ms(10.0).await;
    }
    assert_eq!(on_way, 2, "the second part's PUT started");
    upload.pause();
    // The scenario itself: paused longer than the signature lives (3 s).
    sleep_ms(3_500.0).await;
    upload.resume();
    let result = finish(&upload).await.expect("resumed upload");
    let stats = proxy_stats_at(store).await;
    console_log!("paused past a signature: {stats}");
    assert_eq!(
        stat(&stats, "storeExpired"),
        0,
        "an expired signature was sent: {stats}"
    );
    assert_eq!(stat(&stats, "partsStored"), 2, "{stats}");
    assert_eq!(get(&result, "direct"), JsValue::TRUE);
    assert_object_equals(short_expiry_server(), &key, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_signature_refused_as_expired_right_after_it_was_made_fails_clearly() {
    let expired = serde_json::json!({ "endpoint": "storePart", "status": 400,
        "code": "InvalidRequest", "message": "Bad request: Date is too old" });
    rules(serde_json::json!({ "answers": [expired] }), no_faults()).await;
    let upload = start(
        &direct_uploader(direct_proxy(), 1),
        &make_file(MIB, 3, "x.bin"),
        &unique_key("skewed.bin"),
        &Shared::default(),
    );
    let error = finish(&upload)
        .await
        .expect_err("a store that refuses every signature");
    assert_eq!(error_code(&error), "InvalidRequest");
    assert_eq!(num(&error, "status"), 400.0);
    assert!(text(&error, "message").contains("clocks"), "{error:?}");
    let (partup, store) = (
        proxy_stats_at(direct_proxy()).await,
        proxy_stats_at(store_proxy()).await,
    );
    assert_eq!(
        stat(&store, "partRequests"),
        2,
        "signed again once: {store}"
    );
    assert_eq!(stat(&partup, "signPartRequests"), 2, "{partup}");
}

#[wasm_bindgen_test]
async fn a_403_that_is_no_expiry_fails_at_once() {
    let denied = serde_json::json!({ "endpoint": "storePart", "status": 403,
        "code": "AccessDenied", "message": "Access Denied" });
    rules(serde_json::json!({ "answers": [denied] }), no_faults()).await;
    let upload = start(
        &direct_uploader(direct_proxy(), 1),
        &make_file(MIB, 4, "x.bin"),
        &unique_key("denied.bin"),
        &Shared::default(),
    );
    let error = finish(&upload).await.expect_err("the store denies");
    assert_eq!(error_code(&error), "AccessDenied");
    assert_eq!(error_reason(&error), "access-denied");
    assert_eq!(num(&error, "status"), 403.0);
    assert_eq!(num(&error, "partNumber"), 1.0);
    assert!(text(&error, "message").contains("store"), "{error:?}");
    let store = proxy_stats_at(store_proxy()).await;
    assert_eq!(stat(&store, "partRequests"), 1, "not resent: {store}");
}

#[wasm_bindgen_test]
async fn the_stores_503_slow_down_is_retried_after_its_retry_after() {
    rules(
        serde_json::json!({ "fail503Every": 2, "retryAfterSeconds": 1 }),
        no_faults(),
    )
    .await;
    let (key, seed) = (unique_key("slow-down.bin"), fresh_seed());
    let len = PART + 3;
    let upload = start(
        &direct_uploader(direct_proxy(), 1),
        &make_file(len, seed, "s.bin"),
        &key,
        &Shared::default(),
    );
    let result = finish(&upload).await.expect("upload through SlowDown");
    let (partup, store) = (
        proxy_stats_at(direct_proxy()).await,
        proxy_stats_at(store_proxy()).await,
    );
    console_log!("SlowDown: {store}");
    assert_eq!(stat(&store, "injected503"), 1, "{store}");
    assert_eq!(stat(&store, "partRequests"), 3, "{store}");
    let log = store["log"].as_array().unwrap();
    let at = |i: usize| log[i]["atMs"].as_u64().unwrap();
    assert_eq!(log[1]["injected"], 503);
    // The test's backoff is at most 200 ms: only Retry-After makes it wait a second.
    assert!(at(2) - at(1) >= 1000, "resent after {} ms", at(2) - at(1));
    assert_eq!(num(&result, "retries"), 1.0);
    // The signature was still good: the retry did not ask partup again.
    assert_eq!(stat(&partup, "signPartRequests"), 2, "{partup}");
    assert_object_equals(direct_server(), &key, len, seed).await;
}

#[wasm_bindgen_test]
async fn pause_stops_the_puts_and_resume_sends_only_the_rest() {
    rules(
        serde_json::json!({ "delayEvery": 1, "delayMs": 300 }),
        no_faults(),
    )
    .await;
    let (key, seed) = (unique_key("pause.bin"), fresh_seed());
    let len = 3 * PART + 1;
    let seen = Shared::default();
    let upload = start(
        &direct_uploader(direct_proxy(), 1),
        &make_file(len, seed, "pause.bin"),
        &key,
        &seen,
    );
    wait_until("a part stored", || {
        seen.borrow()
            .last
            .as_ref()
            .is_some_and(|p| num(p, "partsDone") >= 1.0)
    })
    .await;
    upload.pause();
    let paused = stat(&proxy_stats_at(store_proxy()).await, "partRequests");
    sleep_ms(600.0).await;
    let still = stat(&proxy_stats_at(store_proxy()).await, "partRequests");
    assert_eq!(still, paused, "no PUT starts while paused");
    assert_eq!(text(&upload.progress(), "phase"), "paused");
    upload.resume();
    let result = finish(&upload).await.expect("resumed upload");
    let store = proxy_stats_at(store_proxy()).await;
    // One PUT may have been in flight at the pause (aborted, sent again).
    assert!(stat(&store, "partRequests") <= 4 + 1, "{store}");
    assert_eq!(num(&result, "parts"), 4.0);
    assert_eq!(get(&result, "direct"), JsValue::TRUE);
    assert_object_equals(direct_server(), &key, len, seed).await;
}

#[wasm_bindgen_test]
async fn cancel_aborts_the_upload_on_the_server() {
    rules(
        serde_json::json!({ "delayEvery": 1, "delayMs": 300 }),
        no_faults(),
    )
    .await;
    let seen = Shared::default();
    let upload = start(
        &direct_uploader(direct_proxy(), 1),
        &make_file(3 * PART, 5, "c.bin"),
        &unique_key("cancel.bin"),
        &seen,
    );
    wait_until("a part stored", || {
        seen.borrow()
            .last
            .as_ref()
            .is_some_and(|p| num(p, "partsDone") >= 1.0)
    })
    .await;
    let upload_id = upload.upload_id().expect("init answered");
    JsFuture::from(upload.cancel()).await.unwrap();
    let error = finish(&upload).await.expect_err("cancelled");
    assert_eq!(error_reason(&error), "cancelled");
    let partup = proxy_stats_at(direct_proxy()).await;
    assert_eq!(stat(&partup, "abortRequests"), 1, "{partup}");
    let body = serde_json::json!({ "uploadId": upload_id }).to_string();
    let url = format!("{}/listParts", api(direct_server()));
    let (status, listed) = fetch_json(&url, "POST", Some(&body)).await;
    assert_eq!(status, 404, "{listed}");
    assert_eq!(listed["code"], "NoSuchUpload");
}

#[wasm_bindgen_test]
async fn a_new_page_resumes_a_direct_upload_and_sends_only_the_missing_parts() {
    resume_in_a_new_page(false).await;
}

#[wasm_bindgen_test]
async fn another_browser_finds_a_direct_upload_on_the_server_and_sends_only_the_missing_parts() {
    resume_in_a_new_page(true).await;
}

/// Stops an upload after two of its four parts, then uploads the same file from a new Uploader:
/// as a reloaded page (its localStorage entry), or as another browser (no entry, a new `File` of
/// the same bytes; the upload found by listUploads, its direct parts checked by their MD5s).
async fn resume_in_a_new_page(another_browser: bool) {
    rules(
        serde_json::json!({ "delayEvery": 1, "delayMs": 300 }),
        no_faults(),
    )
    .await;
    let (key, seed) = (unique_key("reload.bin"), fresh_seed());
    let len = 3 * PART + 17;
    let file = make_file(len, seed, "reload.bin");
    let first_seen = Shared::default();
    let first = start(
        &direct_uploader(direct_proxy(), 1),
        &file,
        &key,
        &first_seen,
    );
    wait_until("two parts stored", || {
        first_seen
            .borrow()
            .last
            .as_ref()
            .is_some_and(|p| num(p, "partsDone") >= 2.0)
    })
    .await;
    // The page goes away: its requests stop, nothing is aborted.
    first.pause();
    let first_id = first.upload_id().unwrap();
    drop(first);
    let body = serde_json::json!({ "uploadId": first_id }).to_string();
    let url = format!("{}/listParts", api(direct_server()));
    let (status, listed) = fetch_json(&url, "POST", Some(&body)).await;
    assert_eq!(status, 200, "{listed}");
    let stored = listed["parts"].as_array().unwrap().len() as u64;
    assert!((2..4).contains(&stored), "{listed}");

    rules(no_faults(), no_faults()).await;
    let seen = Shared::default();
    // A new Uploader, as a reloaded page makes, and the same file: the localStorage entry; or,
    // in another browser, none, and a file of the same name and bytes picked again.
    let file = if another_browser {
        let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
        storage.clear().unwrap();
        make_file(len, seed, "reload.bin")
    } else {
        file
    };
    let second = start(&direct_uploader(direct_proxy(), 2), &file, &key, &seen);
    let result = finish(&second).await.expect("resumed upload");
    assert_eq!(text(&result, "uploadId"), first_id);
    let found_in = if another_browser { "server" } else { "local" };
    assert_eq!(get(&result, "resumedFrom"), found_in);
    assert_eq!(get(&result, "direct"), JsValue::TRUE);
    assert_eq!(num(&result, "skippedParts") as u64, stored);
    let (partup, store) = (
        proxy_stats_at(direct_proxy()).await,
        proxy_stats_at(store_proxy()).await,
    );
    assert_eq!(stat(&partup, "initRequests"), 0, "{partup}");
    assert_eq!(stat(&partup, "signPartRequests"), 4 - stored, "{partup}");
    assert_eq!(stat(&store, "partRequests"), 4 - stored, "{store}");
    assert_object_equals(direct_server(), &key, len, seed).await;
}

#[wasm_bindgen_test]
async fn an_instance_killed_mid_upload_leaves_the_upload_to_the_other_one() {
    rules(
        serde_json::json!({ "delayEvery": 1, "delayMs": 300 }),
        no_faults(),
    )
    .await;
    set_proxy_rules(twins_proxy(), no_faults()).await;
    let (key, seed) = (unique_key("twins.bin"), fresh_seed());
    let len = 5 * PART + 3;
    let seen = Shared::default();
    let upload = start(
        &direct_uploader(twins_proxy(), 2),
        &make_file(len, seed, "twins.bin"),
        &key,
        &seen,
    );
    wait_until("two parts stored", || {
        seen.borrow()
            .last
            .as_ref()
            .is_some_and(|p| num(p, "partsDone") >= 2.0)
    })
    .await;
    let before = proxy_stats_at(twins_proxy()).await;
    let served = &before["servedBy"];
    assert!(
        stat(served, "0") >= 1 && stat(served, "1") >= 1,
        "both instances served the upload before the kill: {before}"
    );
    let kill = format!("{}/__proxy/kill-upstream", twins_proxy());
    let (status, killed) = fetch_json(&kill, "POST", None).await;
    assert_eq!(status, 200, "{killed}");

    let result = finish(&upload)
        .await
        .expect("finished by the other instance");
    assert_eq!(get(&result, "direct"), JsValue::TRUE);
    assert_eq!(num(&result, "parts"), 6.0);
    let after = proxy_stats_at(twins_proxy()).await;
    assert_eq!(after["upstreamsDown"], serde_json::json!([0]), "{after}");
    assert!(
        stat(&after["servedBy"], "1") > stat(served, "1"),
        "the second instance went on with the upload: {after}"
    );
    assert_object_equals(twin_b(), &key, len, seed).await;
}
