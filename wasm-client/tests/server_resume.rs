//! Unfinished uploads found on the server (SPEC.md §5 listUploads, §1 metadata): what a browser
//! with none of the first one's localStorage sees and resumes. The first upload runs in this
//! page; "another browser" is an Uploader started after this page's localStorage was emptied, with
//! a new `File` of the same name and size (another modification time, as a copy on another device
//! has). Only the metadata nominates a match; the MD5s of the stored parts decide.
//!
//! Uploads go through the fault proxy, whose counters say which requests the server really got.
//! Run by `scripts/test-client.sh` in Chromium, Firefox and WebKitGTK; the page suites
//! (`tests/page/`) resume in a fresh browser profile and in another engine.

use partup::js_glue::js_object;
use partup::{Upload, Uploader};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::*;
mod worker_probe;
use worker_probe::wait_until;

wasm_bindgen_test_configure!(run_in_browser);

const PART: u64 = 64 * KIB;
/// Eight parts, the last one short.
const LEN: u64 = 7 * PART + 1234;
const PARTS: u64 = 8;

fn fresh_seed() -> u64 {
    (js_sys::Math::random() * 9e15) as u64
}

/// What another browser has: no localStorage entry of this page's uploads.
fn forget_local_entries() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage.clear().unwrap();
}

fn through_proxy() -> Uploader {
    uploader(&api(proxy()), PART, 1, &[])
}

fn start(up: &Uploader, file: &web_sys::File, key: &str, extra: &[(&str, JsValue)]) -> Upload {
    start_with(up, file, js_object(&[("resourceKey", key.into())]), extra)
}

/// Starts uploading `LEN` bytes of `seed` to `key` with every part slowed down, and pauses it once
/// at least `parts` are stored. Returns the paused upload and the parts the server holds.
async fn start_and_pause(
    key: &str,
    seed: u64,
    parts: u64,
    extra: &[(&str, JsValue)],
) -> (Upload, u64) {
    set_proxy_rules(
        proxy(),
        serde_json::json!({ "delayEvery": 1, "delayMs": 120 }),
    )
    .await;
    let first = start(
        &through_proxy(),
        &make_file(LEN, seed, "clip.bin"),
        key,
        extra,
    );
    wait_until("parts stored before the pause", || {
        num(&first.progress(), "partsDone") as u64 >= parts
    })
    .await;
    first.pause();
    let stored = stored_parts(&first.upload_id().unwrap()).await;
    assert!(stored >= parts && stored < PARTS, "{stored} parts stored");
    (first, stored)
}

/// listParts of `upload_id` straight to the server (not through the proxy): status and answer.
async fn list_parts(upload_id: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "uploadId": upload_id }).to_string();
    let url = format!("{}/listParts", api(server()));
    fetch_json(&url, "POST", Some(&body)).await
}

/// How many parts the server holds for `upload_id` (listParts, straight to the server).
async fn stored_parts(upload_id: &str) -> u64 {
    let (status, listed) = list_parts(upload_id).await;
    assert_eq!(status, 200, "{listed}");
    listed["parts"].as_array().unwrap().len() as u64
}

/// Starts uploading `LEN` bytes of `seed` to `key` as another browser would: no localStorage
/// entry, a new `File` of the same name (and another modification time), counters reset.
async fn start_elsewhere(key: &str, seed: u64, extra: &[(&str, JsValue)]) -> Upload {
    forget_local_entries();
    set_proxy_rules(proxy(), serde_json::json!({})).await;
    start(
        &through_proxy(),
        &make_file(LEN, seed, "clip.bin"),
        key,
        extra,
    )
}

async fn unfinished(up: &Uploader, prefix: &str) -> Vec<JsValue> {
    let options = js_object(&[("prefix", prefix.into())]);
    let listed = JsFuture::from(up.unfinished(Some(options.unchecked_into())))
        .await
        .expect("unfinished() lists");
    js_sys::Array::from(&listed).iter().collect()
}

async fn assert_object_equals(key: &str, seed: u64) {
    let url = format!("{}{}/{}", server(), partup_wire::OBJECTS_PREFIX, key);
    assert_download_equals(&url, LEN, seed).await;
}

#[wasm_bindgen_test]
async fn an_upload_started_elsewhere_resumes_from_the_server_sending_only_the_missing_parts() {
    let (key, seed) = (unique_key("elsewhere.bin"), fresh_seed());
    let (first, stored) = start_and_pause(&key, seed, 3, &[]).await;
    let again = start_elsewhere(&key, seed, &[]).await;
    let result = finish(&again).await.expect("the resumed upload");
    assert_eq!(get(&result, "resumedFrom"), "server");
    assert_eq!(get(&result, "resumed"), JsValue::TRUE);
    assert_eq!(text(&result, "uploadId"), first.upload_id().unwrap());
    assert_eq!(num(&result, "skippedParts") as u64, stored);
    assert_eq!(
        js_sys::Array::from(&get(&result, "refusedMatches")).length(),
        0
    );
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(stat(&stats, "partRequests"), PARTS - stored, "{stats}");
    assert_eq!(stat(&stats, "initRequests"), 0, "{stats}");
    assert_eq!(stat(&stats, "listUploadsRequests"), 1, "{stats}");
    assert_object_equals(&key, seed).await;
    assert!(unfinished(&through_proxy(), &key).await.is_empty());
}

#[wasm_bindgen_test]
async fn unfinished_lists_an_upload_with_its_file_and_the_apps_metadata() {
    let (key, seed) = (unique_key("listed.bin"), fresh_seed());
    let metadata = js_object(&[("album", "holidays".into())]);
    let (first, stored) = start_and_pause(&key, seed, 1, &[("metadata", metadata)]).await;
    let listed = unfinished(&uploader(&api(server()), PART, 1, &[]), &key).await;
    assert_eq!(listed.len(), 1);
    let upload = &listed[0];
    assert_eq!(text(upload, "uploadId"), first.upload_id().unwrap());
    assert_eq!(text(upload, "resourceKey"), key);
    assert_eq!(num(upload, "partsStored") as u64, stored);
    assert_eq!(num(upload, "bytesStored") as u64, stored * PART);
    assert!(text(upload, "initiated").ends_with('Z'));
    let file = get(upload, "file");
    assert_eq!(text(&file, "name"), "clip.bin");
    assert_eq!(num(&file, "size") as u64, LEN);
    assert_eq!(num(&file, "partSize") as u64, PART);
    assert!(num(&file, "lastModified") > 0.0);
    let metadata = get(upload, "metadata");
    assert_eq!(text(&metadata, "album"), "holidays");
    assert_eq!(text(&metadata, "partup.name"), "clip.bin");
    // Another prefix lists none of it.
    assert!(
        unfinished(&through_proxy(), &format!("{key}.other"))
            .await
            .is_empty()
    );
    let _ = JsFuture::from(first.cancel()).await;
}

#[wasm_bindgen_test]
async fn a_different_file_with_the_same_name_and_size_is_not_mistaken_for_the_upload() {
    let key = unique_key("same-name.bin");
    let (seed, other_seed) = (fresh_seed(), fresh_seed());
    let (first, stored) = start_and_pause(&key, seed, 2, &[]).await;
    let other = start_elsewhere(&key, other_seed, &[]).await;
    let result = finish(&other).await.expect("the other file's upload");
    let first_id = first.upload_id().unwrap();
    assert_eq!(get(&result, "resumedFrom"), JsValue::NULL);
    assert_eq!(get(&result, "resumed"), JsValue::FALSE);
    assert_ne!(text(&result, "uploadId"), first_id);
    let refused = js_sys::Array::from(&get(&result, "refusedMatches"));
    assert_eq!(refused.to_vec(), [JsValue::from_str(&first_id)]);
    assert_eq!(num(&result, "skippedParts"), 0.0);
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(stat(&stats, "partRequests"), PARTS, "{stats}");
    assert_eq!(stat(&stats, "initRequests"), 1, "{stats}");
    assert_object_equals(&key, other_seed).await;
    // The refused upload is left alone, as its own client may still resume it.
    assert_eq!(stored_parts(&first_id).await, stored);
    let _ = JsFuture::from(first.cancel()).await;
}

#[wasm_bindgen_test]
async fn resume_local_and_resume_false_never_ask_the_server() {
    for mode in [JsValue::from_str("local"), JsValue::FALSE] {
        let (key, seed) = (unique_key("not-asked.bin"), fresh_seed());
        let (first, _) = start_and_pause(&key, seed, 1, &[]).await;
        let again = start_elsewhere(&key, seed, &[("resume", mode.clone())]).await;
        let result = finish(&again).await.expect("a new upload");
        assert_eq!(get(&result, "resumedFrom"), JsValue::NULL, "{mode:?}");
        let stats = proxy_stats_at(proxy()).await;
        assert_eq!(stat(&stats, "listUploadsRequests"), 0, "{mode:?}: {stats}");
        assert_eq!(stat(&stats, "partRequests"), PARTS, "{mode:?}: {stats}");
        let _ = JsFuture::from(first.cancel()).await;
    }
}

#[wasm_bindgen_test]
async fn a_server_that_refuses_the_listing_gets_a_new_upload() {
    // An older partup without listUploads answers 404 NotFound; a refusal of the listing alone
    // (403) is no reason to fail the upload either. (A 401 fails it: tests/tokens.rs.)
    for (status, code) in [(404, "NotFound"), (403, "AccessDenied")] {
        let rule = serde_json::json!({ "endpoint": "listUploads", "status": status, "code": code });
        set_proxy_rules(proxy(), serde_json::json!({ "answers": [rule] })).await;
        let (key, seed) = (unique_key("old-server.bin"), fresh_seed());
        let upload = start(
            &through_proxy(),
            &make_file(LEN, seed, "clip.bin"),
            &key,
            &[],
        );
        let result = finish(&upload).await.expect("a new upload");
        assert_eq!(get(&result, "resumedFrom"), JsValue::NULL);
        let stats = proxy_stats_at(proxy()).await;
        assert_eq!(
            stat(&stats, "listUploadsRequests"),
            1,
            "{code}: not retried: {stats}"
        );
        assert_eq!(stat(&stats, "partRequests"), PARTS, "{stats}");
        assert_object_equals(&key, seed).await;
    }
}

#[wasm_bindgen_test]
async fn metadata_the_server_would_refuse_is_refused_before_any_request() {
    set_proxy_rules(proxy(), serde_json::json!({})).await;
    let up = through_proxy();
    let file = make_file(10, 1, "tiny.bin");
    let long = "x".repeat(1025);
    let cases: [(&str, JsValue); 4] = [
        ("own key", js_object(&[("partup.name", "forged".into())])),
        ("bad key", js_object(&[("white space", "v".into())])),
        ("long value", js_object(&[("k", long.as_str().into())])),
        ("not a string", js_object(&[("k", 5.into())])),
    ];
    for (what, metadata) in cases {
        let options = js_object(&[
            ("resourceKey", "tests/never.bin".into()),
            ("metadata", metadata),
        ]);
        let refused = up.upload(&file, options.unchecked_into()).err();
        let error = refused.unwrap_or_else(|| panic!("{what}: accepted"));
        assert_eq!(error_code(&error), "InvalidOptions", "{what}");
    }
    let bad_resume = js_object(&[
        ("resourceKey", "tests/never.bin".into()),
        ("resume", "cloud".into()),
    ]);
    let refused = up
        .upload(&file, bad_resume.unchecked_into())
        .err()
        .expect("resume 'cloud'");
    assert_eq!(error_code(&refused), "InvalidOptions");
    assert_eq!(stat(&proxy_stats_at(proxy()).await, "apiRequests"), 0);
}

/// `uploader.discardUnfinished(id)` with `rules` at the proxy: what it resolved with, or the
/// error it rejected with.
async fn discard(rules: serde_json::Value, upload_id: &str) -> Result<JsValue, JsValue> {
    set_proxy_rules(proxy(), rules).await;
    JsFuture::from(through_proxy().discard_unfinished(upload_id.to_string())).await
}

#[wasm_bindgen_test]
async fn an_unfinished_upload_discarded_from_another_browser_is_gone_from_the_server() {
    let (key, seed) = (unique_key("discarded.bin"), fresh_seed());
    let (first, stored) = start_and_pause(&key, seed, 2, &[]).await;
    let upload_id = first.upload_id().unwrap();
    forget_local_entries();
    let listed = unfinished(&through_proxy(), &key).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(text(&listed[0], "uploadId"), upload_id);

    // Refused: the page is told why, and the upload is intact on the server.
    let denied = serde_json::json!({ "answers": [
        { "endpoint": "uploadAbort", "status": 403, "code": "AccessDenied" }
    ] });
    let refused = discard(denied, &upload_id).await.expect_err("refused");
    assert_eq!(error_code(&refused), "AccessDenied");
    assert_eq!(stored_parts(&upload_id).await, stored);
    // An id the server does not know (as another `sub`'s upload is unknown to this caller).
    let unknown = discard(serde_json::json!({}), &"0".repeat(32)).await;
    assert_eq!(unknown.expect("resolves"), JsValue::FALSE);
    let not_an_id = discard(serde_json::json!({}), "not-an-upload-id").await;
    assert_eq!(not_an_id.expect("resolves"), JsValue::FALSE);
    assert_eq!(stored_parts(&upload_id).await, stored);
    assert_eq!(unfinished(&through_proxy(), &key).await.len(), 1);

    // A 503 on the way is retried, and the upload is aborted.
    let busy = serde_json::json!({ "answers": [
        { "endpoint": "uploadAbort", "status": 503, "code": "ServiceUnavailable", "first": 1 }
    ] });
    let discarded = discard(busy, &upload_id).await.expect("discarded");
    assert_eq!(discarded, JsValue::TRUE);
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(stat(&stats, "abortRequests"), 2, "{stats}");
    let (status, answer) = list_parts(&upload_id).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("NoSuchUpload"))
    );
    assert!(unfinished(&through_proxy(), &key).await.is_empty());

    // Discarded again: the server no longer knows it.
    let again = discard(serde_json::json!({}), &upload_id).await;
    assert_eq!(again.expect("resolves"), JsValue::FALSE);
    // The same file picked again starts a new upload and sends every part.
    let fresh = start_elsewhere(&key, seed, &[]).await;
    let result = finish(&fresh).await.expect("a new upload");
    assert_eq!(get(&result, "resumedFrom"), JsValue::NULL);
    assert_ne!(text(&result, "uploadId"), upload_id);
    let stats = proxy_stats_at(proxy()).await;
    assert_eq!(stat(&stats, "partRequests"), PARTS, "{stats}");
    assert_object_equals(&key, seed).await;
}
