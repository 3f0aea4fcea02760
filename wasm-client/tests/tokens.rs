//! The browser suite against a partup-server that needs upload tokens (`--auth-secret-file`):
//! short-lived tokens fetched by the `headers` function from the example token endpoint
//! (scripts/token-endpoint.py: 5 s tokens for `tokens/`), and what 401, 403 and 409 do.
//!
//! Run by `scripts/test-client.sh`, which starts that server, a fault proxy in front of it and
//! the token endpoint, and passes their URLs in at compile time (`PARTUP_TEST_AUTH_SERVER`,
//! `PARTUP_TEST_AUTH_PROXY`, `PARTUP_TEST_TOKEN_URL`).

use partup::js_glue::js_object;
use partup::timers::{now_ms, sleep_ms};
use partup::{Upload, Uploader};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

fn auth_server() -> &'static str {
    required(
        option_env!("PARTUP_TEST_AUTH_SERVER"),
        "PARTUP_TEST_AUTH_SERVER",
    )
}

fn auth_proxy() -> &'static str {
    required(
        option_env!("PARTUP_TEST_AUTH_PROXY"),
        "PARTUP_TEST_AUTH_PROXY",
    )
}

fn token_url() -> &'static str {
    required(
        option_env!("PARTUP_TEST_TOKEN_URL"),
        "PARTUP_TEST_TOKEN_URL",
    )
}

/// A key inside the tokens' scope (`tokens/`), unique per run.
fn token_key(name: &str) -> String {
    format!("tokens/{}", unique_key(name))
}

async fn get_text(url: &str) -> String {
    let (status, response) = fetch(url, "GET", None, "").await;
    assert_eq!(status, 200, "GET {url}");
    let text = JsFuture::from(response.text().unwrap()).await.unwrap();
    text.as_string().unwrap()
}

/// How many tokens the endpoint has handed out so far.
async fn tokens_issued() -> u64 {
    let count = get_text(&format!("{}/count", token_url())).await;
    count.trim().parse().expect("a count")
}

/// Sets the auth proxy's fault rules (and zeroes its counters).
async fn auth_proxy_config(rules: serde_json::Value) {
    set_proxy_rules(auth_proxy(), rules).await;
}

/// The `headers` function's state: its token and when it was fetched, its calls, and calls with
/// `{refresh: true}`. A test may overwrite the token (as if it expired).
fn headers_stats() -> JsValue {
    js_object(&[("calls", 0.into()), ("refreshes", 0.into())])
}

/// An app's `headers` function: keeps its token until it is 3 s old or the uploader asks for a
/// refresh (after a 401), then fetches a new one from the token endpoint. It starts with
/// `first_token` (as if from before the page loaded), so the first request can meet a 401.
fn token_headers(first_token: &str, state: &JsValue) -> JsValue {
    token_headers_kept_for(first_token, state, 3_000)
}

/// [`token_headers`] that keeps a token for `keep_ms` unless asked to refresh: kept longer than
/// the tokens live, only the 401s of really expired tokens make it fetch new ones.
fn token_headers_kept_for(first_token: &str, state: &JsValue, keep_ms: u32) -> JsValue {
    set(state, "token", first_token.into());
    set(state, "fetchedAt", now_ms().into());
    set(state, "keepMs", keep_ms.into());
    let make = js_sys::Function::new_with_args(
        "tokenUrl, state",
        "return async ({ refresh }) => {
           state.calls++;
           if (refresh) state.refreshes++;
           if (refresh || Date.now() - state.fetchedAt > state.keepMs) {
             state.token = await (await fetch(tokenUrl + '/token')).text();
             state.fetchedAt = Date.now();
           }
           return { Authorization: 'Bearer ' + state.token };
         };",
    );
    make.call2(&JsValue::UNDEFINED, &token_url().into(), state)
        .expect("the headers function is made")
}

fn set(object: &JsValue, key: &str, value: JsValue) {
    js_sys::Reflect::set(object, &JsValue::from_str(key), &value).unwrap();
}

fn uploader(endpoint: &str, part_size: u64, headers: JsValue) -> Uploader {
    let options = uploader_options(endpoint, part_size, headers);
    Uploader::new(options.unchecked_into()).expect("valid options")
}

/// Options for one request at a time, small parts, quick retries.
fn uploader_options(endpoint: &str, part_size: u64, headers: JsValue) -> JsValue {
    js_object(&[
        (
            "endpoint",
            format!("{endpoint}{}", partup_wire::API_PREFIX).into(),
        ),
        ("partSize", (part_size as f64).into()),
        ("minPartSize", 1024.into()),
        ("concurrency", 1.into()),
        ("retries", 3.into()),
        ("retryDelay", 20.into()),
        ("maxRetryDelay", 200.into()),
        ("headers", headers),
    ])
}

fn start(
    uploader: &Uploader,
    file: &web_sys::File,
    key: &str,
    extra: &[(&str, JsValue)],
) -> Upload {
    start_with(
        uploader,
        file,
        js_object(&[("resourceKey", key.into())]),
        extra,
    )
}

/// Uploads a small file to `key` on the token server, which must refuse it: the error.
async fn refused(headers: JsValue, key: &str, seed: u64) -> JsValue {
    let upload = start(
        &uploader(auth_server(), 16 * KIB, headers),
        &make_file(KIB, seed, "f.bin"),
        key,
        &[],
    );
    finish(&upload).await.expect_err("the server refuses it")
}

/// Downloads `key` with a fresh token (`?token=`, as an `<a href>` would) and compares the bytes.
async fn assert_stored(key: &str, len: u64, seed: u64) {
    let token = get_text(&format!("{}/token", token_url())).await;
    let objects = partup_wire::OBJECTS_PREFIX;
    let url = format!("{}{objects}/{key}?token={token}", auth_server());
    assert_download_equals(&url, len, seed).await;
}

#[wasm_bindgen_test]
async fn short_lived_tokens_carry_a_long_upload() {
    // Every request waits 1 s in the proxy: 16 parts one at a time take over 16 s, while each
    // token lives 5 s (the test server has no leeway, scripts/test-client.sh). The app keeps a
    // token for a minute, so every token it uses really expires during the upload.
    auth_proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 1000 })).await;
    let (len, seed, key) = (16 * 16 * KIB, 71, token_key("long.bin"));
    let issued_before = tokens_issued().await;
    let stats = headers_stats();
    let headers = token_headers_kept_for("expired.before.loading", &stats, 60_000);
    let started = now_ms();
    let upload = start(
        &uploader(auth_proxy(), 16 * KIB, headers),
        &make_file(len, seed, "long.bin"),
        &key,
        &[],
    );
    let result = finish(&upload).await.expect("the upload completes");
    let took_ms = now_ms() - started;
    assert!(took_ms >= 15_000.0, "the upload took only {took_ms} ms");
    assert_eq!(num(&result, "size") as u64, len);
    // Each 401 (the stale first token, then each token that expired mid-upload) was resent at
    // once with a fresh token, never counted as a retry. Over 15 s with 5-second tokens
    // (expired by 6 s at the latest): the first refresh, then at least two expiries.
    assert_eq!(num(&result, "retries"), 0.0, "{result:?}");
    let refreshes = num(&stats, "refreshes");
    assert!(
        refreshes >= 3.0,
        "only {refreshes} refreshes after 401s in {took_ms} ms"
    );
    let issued = tokens_issued().await - issued_before;
    assert!(
        issued >= 3,
        "only {issued} tokens were used in {took_ms} ms"
    );
    console_log!("{issued} tokens for an upload of {took_ms} ms");
    assert_stored(&key, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_token_that_expires_mid_upload_is_renewed_by_each_parallel_part() {
    auth_proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 200 })).await;
    let (len, seed, key) = (24 * 16 * KIB, 72, token_key("parallel.bin"));
    let state = headers_stats();
    let parts_done = Rc::new(Cell::new(0.0));
    let seen = parts_done.clone();
    let on_progress = Closure::<dyn Fn(JsValue)>::new(move |p: JsValue| {
        seen.set(num(&p, "partsDone"));
    })
    .into_js_value();
    let options = uploader_options(auth_proxy(), 16 * KIB, token_headers("", &state));
    set(&options, "concurrency", 4.into());
    let uploader = Uploader::new(options.unchecked_into()).expect("valid options");
    let file = make_file(len, seed, "parallel.bin");
    let upload = start(&uploader, &file, &key, &[("onProgress", on_progress)]);
    let deadline = now_ms() + 30_000.0;
    while parts_done.get() < 2.0 {
        assert!(now_ms() < deadline, "no part was stored");
        sleep_ms(10.0).await;
    }
    // The token "expires": the parts in flight and the next ones all meet a 401.
    let refreshes_before = num(&state, "refreshes");
    set(&state, "token", "expired.mid.upload".into());
    set(&state, "fetchedAt", now_ms().into());
    let result = finish(&upload).await.expect("the upload completes");
    assert!(
        num(&state, "refreshes") > refreshes_before,
        "no 401 was met"
    );
    assert_eq!(num(&result, "retries"), 0.0, "{result:?}");
    assert_stored(&key, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_fixed_token_refused_fails_as_unauthorized_without_retries() {
    let headers = js_object(&[("Authorization", "Bearer not.a.token".into())]);
    let error = refused(headers, &token_key("fixed.bin"), 1).await;
    assert_eq!(error_reason(&error), "unauthorized");
    assert_eq!(error_code(&error), "Unauthorized");
}

#[wasm_bindgen_test]
async fn a_token_refused_again_after_a_refresh_fails_as_unauthorized() {
    let calls = Rc::new(Cell::new(0u32));
    let counter = calls.clone();
    let headers = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |_info: JsValue| {
        counter.set(counter.get() + 1);
        js_object(&[("Authorization", "Bearer still.not.valid".into())])
    })
    .into_js_value();
    let error = refused(headers, &token_key("again.bin"), 2).await;
    assert_eq!(error_reason(&error), "unauthorized");
    assert_eq!(calls.get(), 2, "one request, one refreshed resend");
}

#[wasm_bindgen_test]
async fn a_key_outside_the_token_scope_fails_as_access_denied() {
    let headers = token_headers("expired.before.loading", &headers_stats());
    let error = refused(headers, &unique_key("outside.bin"), 3).await;
    assert_eq!(error_reason(&error), "access-denied");
    assert_eq!(error_code(&error), "AccessDenied");
}

#[wasm_bindgen_test]
async fn an_object_that_appeared_meanwhile_fails_as_object_exists() {
    // The slow upload's parts wait 300 ms each in the proxy; the fast one goes direct.
    auth_proxy_config(serde_json::json!({ "delayEvery": 1, "delayMs": 300 })).await;
    let key = token_key("raced.bin");
    let parts_done = Rc::new(Cell::new(0.0));
    let seen = parts_done.clone();
    let on_progress = Closure::<dyn Fn(JsValue)>::new(move |p: JsValue| {
        seen.set(num(&p, "partsDone"));
    })
    .into_js_value();
    let slow_headers = token_headers("expired.before.loading", &headers_stats());
    let slow = start(
        &uploader(auth_proxy(), 16 * KIB, slow_headers),
        &make_file(4 * 16 * KIB, 4, "slow.bin"),
        &key,
        &[("onProgress", on_progress)],
    );
    // Once the slow upload has begun (its init passed the existence check), the fast one
    // creates the object.
    let deadline = now_ms() + 30_000.0;
    while parts_done.get() < 1.0 {
        assert!(now_ms() < deadline, "the slow upload never stored a part");
        sleep_ms(10.0).await;
    }
    let fast_headers = token_headers("expired.before.loading", &headers_stats());
    let fast = start(
        &uploader(auth_server(), 16 * KIB, fast_headers),
        &make_file(KIB, 5, "fast.bin"),
        &key,
        &[],
    );
    finish(&fast).await.expect("the fast upload completes");
    let error = finish(&slow)
        .await
        .expect_err("the object appeared meanwhile");
    assert_eq!(error_reason(&error), "object-exists");
    assert_eq!(error_code(&error), "ObjectExists");
    assert_stored(&key, KIB, 5).await;
}

/// A `headers` function that fetches a fresh token for every request, with `query` added to the
/// token endpoint's URL (e.g. `?read=PREFIX`: a token that may read only there).
fn fresh_token_headers(query: &str) -> JsValue {
    let make = js_sys::Function::new_with_args(
        "url",
        "return async () => ({ Authorization: 'Bearer ' + await (await fetch(url)).text() });",
    );
    let url = format!("{}/token{query}", token_url());
    make.call1(&JsValue::UNDEFINED, &url.into())
        .expect("the headers function is made")
}

/// An instant upload of `len` bytes of `seed` to `key` through the auth proxy: the result and the
/// part requests the proxy saw.
async fn instant_upload(key: &str, len: u64, seed: u64, headers: JsValue) -> (JsValue, u64) {
    auth_proxy_config(serde_json::json!({})).await;
    let up = uploader(auth_proxy(), 16 * KIB, headers);
    let file = make_file(len, seed, "copy.bin");
    let upload = start(&up, &file, key, &[("instant", JsValue::TRUE)]);
    let result = finish(&upload).await.expect("the instant upload");
    let stats = proxy_stats_at(auth_proxy()).await;
    (result, stat(&stats, "partRequests"))
}

#[wasm_bindgen_test]
async fn instant_upload_hits_only_content_the_token_may_read() {
    // Random content: the suite's server is shared by every engine's run.
    let (len, seed) = (4 * 16 * KIB + 5, (js_sys::Math::random() * 9e15) as u64);
    let area = token_key("instant");
    let source = format!("{area}/a/source.bin");
    let stored = start(
        &uploader(auth_server(), 16 * KIB, fresh_token_headers("")),
        &make_file(len, seed, "source.bin"),
        &source,
        &[],
    );
    finish(&stored).await.expect("the source upload");
    // This token may write the whole `tokens/` scope but read only `{area}/b/`: the source,
    // outside it, must not be found by its hash, so every part is sent.
    let narrow = fresh_token_headers(&format!("?read={area}/b/"));
    let copy = format!("{area}/b/copy.bin");
    let (result, parts_sent) = instant_upload(&copy, len, seed, narrow).await;
    assert_eq!(get(&result, "instant"), JsValue::FALSE);
    assert_eq!(parts_sent, 5);
    assert_stored(&copy, len, seed).await;
    // A token that may read the source gets the hit.
    let again = format!("{area}/c/again.bin");
    let (result, parts_sent) = instant_upload(&again, len, seed, fresh_token_headers("")).await;
    assert_eq!(get(&result, "instant"), JsValue::TRUE);
    assert_eq!(parts_sent, 0);
    assert_stored(&again, len, seed).await;
}
