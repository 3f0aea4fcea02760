//! The browser suite for the server's "no" and "not now": what the real `Uploader` does with a
//! 507, other permanent 5xx, 429/503 with `Retry-After`, and a server that fails everything —
//! against the real partup-server behind `fault-proxy` (tests/src/bin/fault-proxy), whose
//! `answers` rules answer chosen requests itself and whose log times every request.
//!
//! Run by `scripts/test-client.sh` (`PARTUP_TEST_SERVER`, `PARTUP_TEST_PROXY`, and
//! `PARTUP_TEST_BUSY_SERVER`: a server whose every uploadInit gets its own 503 + `Retry-After`),
//! after and never alongside `tests/browser.rs`, which shares the proxy.

use partup::js_glue::js_object;
use partup::timers::now_ms;
use partup::{Upload, Uploader};
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

fn busy_server() -> &'static str {
    required(
        option_env!("PARTUP_TEST_BUSY_SERVER"),
        "PARTUP_TEST_BUSY_SERVER",
    )
}

const PART: u64 = 16 * KIB;

/// An Uploader through the proxy: 16 KiB parts, 8 retries with quick backoff (20 ms doubling to
/// 200 ms: only a `Retry-After` explains a wait of seconds), plus `extra` options.
fn proxied_uploader(concurrency: u32, extra: &[(&str, JsValue)]) -> Uploader {
    let endpoint = format!("{}{}", proxy(), partup_wire::API_PREFIX);
    uploader(&endpoint, PART, concurrency, extra)
}

fn start(uploader: &Uploader, file: &web_sys::File, key: &str) -> Upload {
    start_with(
        uploader,
        file,
        js_object(&[("resourceKey", key.into())]),
        &[],
    )
}

/// The proxy's log entries for `endpoint`: (milliseconds since the rules were set, the status
/// the proxy answered itself, if it did).
fn logged(stats: &Value, endpoint: &str) -> Vec<(u64, Option<u64>)> {
    let log = stats["log"].as_array().expect("the proxy logs requests");
    log.iter()
        .filter(|entry| entry["endpoint"] == endpoint)
        .map(|entry| (entry["atMs"].as_u64().unwrap(), entry["injected"].as_u64()))
        .collect()
}

fn retries_of(upload: &Upload) -> u64 {
    num(&upload.progress(), "retries") as u64
}

/// The server's own sentence for a full disk (server/src/error.rs).
const DISK_FULL: &str =
    "the server's disk is full; nothing acknowledged was lost, try again once space is freed";

#[wasm_bindgen_test]
async fn a_full_server_fails_the_upload_after_one_part_request_with_insufficient_storage() {
    set_proxy_rules(
        proxy(),
        json!({ "answers": [{
            "endpoint": "upload", "status": 507, "code": "InsufficientStorage", "message": DISK_FULL
        }] }),
    )
    .await;
    let file = make_file(3 * PART, 60, "full.bin");
    let upload = start(&proxied_uploader(1, &[]), &file, &unique_key("full.bin"));
    let error = finish(&upload).await.expect_err("a full server must fail");
    assert_eq!(error_code(&error), "InsufficientStorage");
    assert_eq!(error_reason(&error), "server-full");
    assert_eq!(get(&error, "status").as_f64(), Some(507.0));
    assert_eq!(get(&error, "partNumber").as_f64(), Some(1.0));
    assert_eq!(text(&error, "description"), DISK_FULL);
    let message = text(&error, "message");
    assert_eq!(
        message,
        format!(
            "partup: part 1: {DISK_FULL} (InsufficientStorage, HTTP 507, requestId fault-proxy)"
        )
    );
    let stats = proxy_stats_at(proxy()).await;
    console_log!("507 for parts: {stats}");
    assert_eq!(stat(&stats, "partRequests"), 1, "no retry, no other part");
    assert_eq!(stat(&stats, "answered"), 1);
    assert_eq!(stat(&stats, "initRequests"), 1);
    assert_eq!(stat(&stats, "completeRequests"), 0);
    assert_eq!(stat(&stats, "abortRequests"), 0);
    assert_eq!(retries_of(&upload), 0);
    assert_eq!(text(&upload.progress(), "phase"), "failed");
}

#[wasm_bindgen_test]
async fn permanent_5xx_answers_fail_at_once_with_or_without_a_partup_body() {
    // (endpoint, status, code in the body, expected code, expected reason, stats counter)
    let cases = [
        (
            "uploadInit",
            507,
            None,
            "Http507",
            "server-full",
            "initRequests",
        ),
        (
            "uploadInit",
            501,
            None,
            "Http501",
            "bad-response",
            "initRequests",
        ),
        (
            "upload",
            505,
            None,
            "Http505",
            "bad-response",
            "partRequests",
        ),
        (
            "uploadComplete",
            507,
            Some("InsufficientStorage"),
            "InsufficientStorage",
            "server-full",
            "completeRequests",
        ),
    ];
    for (endpoint, status, code, expected_code, expected_reason, counter) in cases {
        let rule = json!({ "endpoint": endpoint, "status": status, "code": code });
        set_proxy_rules(proxy(), json!({ "answers": [rule] })).await;
        let file = make_file(2 * PART, 61, "permanent.bin");
        // One request at a time: a second part in flight would be a second request.
        let upload = start(
            &proxied_uploader(1, &[]),
            &file,
            &unique_key("permanent.bin"),
        );
        let error = finish(&upload)
            .await
            .expect_err("a permanent answer must fail");
        let stats = proxy_stats_at(proxy()).await;
        let case = format!("{status} to {endpoint}: {}", text(&error, "message"));
        assert_eq!(error_code(&error), expected_code, "{case}");
        assert_eq!(error_reason(&error), expected_reason, "{case}");
        assert_eq!(
            get(&error, "status").as_f64(),
            Some(status as f64),
            "{case}"
        );
        assert_eq!(stat(&stats, counter), 1, "{case}: {stats}");
        assert_eq!(stat(&stats, "answered"), 1, "{case}");
        assert_eq!(retries_of(&upload), 0, "{case}");
    }
}

#[wasm_bindgen_test]
async fn a_503_with_retry_after_is_waited_out_and_the_object_arrives_byte_exact() {
    set_proxy_rules(
        proxy(),
        json!({ "answers": [{
            "endpoint": "upload", "status": 503, "code": "ServiceUnavailable",
            "retryAfter": "2", "first": 2
        }] }),
    )
    .await;
    let len = 2 * PART + 5;
    let key = unique_key("retry-after-503.bin");
    let file = make_file(len, 62, "ra.bin");
    let upload = start(&proxied_uploader(1, &[]), &file, &key);
    let result = finish(&upload)
        .await
        .expect("the upload waits and succeeds");
    let stats = proxy_stats_at(proxy()).await;
    let parts = logged(&stats, "upload");
    console_log!("503 + Retry-After: 2 twice: part requests at {parts:?}");
    assert_eq!(num(&result, "retries"), 2.0);
    assert_eq!(stat(&stats, "partRequests"), 3 + 2);
    assert_eq!(parts[0].1, Some(503));
    assert_eq!(parts[1].1, Some(503));
    assert_eq!(parts[2].1, None);
    // retryDelay is 20 ms (at most 200): only Retry-After explains these gaps.
    for pair in parts[..3].windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= 2000, "retried after {gap} ms despite Retry-After: 2");
    }
    assert_download_equals(
        &format!("{}{}/{key}", server(), partup_wire::OBJECTS_PREFIX),
        len,
        62,
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_429_to_upload_init_is_waited_out_in_seconds_and_as_an_http_date() {
    // The first uploadInit gets Retry-After: 1, the second an HTTP-date 3 s ahead (in whole
    // seconds: more than 2 s ahead when the client reads it), the third goes through.
    let too_many = |first: u32, after: (&str, Value)| {
        let mut rule = json!({
            "endpoint": "uploadInit", "status": 429, "code": "TooManyUploads", "first": first,
            "message": "too many uploads in progress; try again shortly"
        });
        rule[after.0] = after.1;
        rule
    };
    let rules = [
        too_many(1, ("retryAfter", json!("1"))),
        too_many(2, ("retryAfterDateIn", json!(3))),
    ];
    set_proxy_rules(proxy(), json!({ "answers": rules })).await;
    let len = PART + 1;
    let key = unique_key("retry-after-429.bin");
    let upload = start(
        &proxied_uploader(2, &[]),
        &make_file(len, 63, "ra.bin"),
        &key,
    );
    let result = finish(&upload).await.expect("init waits and succeeds");
    let stats = proxy_stats_at(proxy()).await;
    let inits = logged(&stats, "uploadInit");
    console_log!("429 twice for uploadInit: requests at {inits:?}");
    assert_eq!(num(&result, "retries"), 2.0);
    assert_eq!(stat(&stats, "initRequests"), 3);
    assert_eq!(
        (inits[0].1, inits[1].1, inits[2].1),
        (Some(429), Some(429), None)
    );
    let (first_gap, second_gap) = (inits[1].0 - inits[0].0, inits[2].0 - inits[1].0);
    assert!(first_gap >= 1000, "{first_gap} ms after Retry-After: 1");
    // Less a few ms: the date is compared with the browser's clock, and timers take whole ms.
    assert!(
        second_gap >= 1990,
        "{second_gap} ms after an HTTP-date 3 s ahead"
    );
    assert_download_equals(
        &format!("{}{}/{key}", server(), partup_wire::OBJECTS_PREFIX),
        len,
        63,
    )
    .await;
}

const FILES: u64 = 6;
const BUDGET: u64 = 10;

/// Starts `FILES` uploads at once on one Uploader with a retry budget of `BUDGET` against a proxy
/// answering every request with `rule`; waits until all have failed. Returns the proxy's stats,
/// each upload's error and retries.
async fn many_files_against(rule: Value) -> (Value, Vec<(JsValue, u64)>) {
    set_proxy_rules(proxy(), json!({ "answers": [rule] })).await;
    // No resume: each upload's first request is its uploadInit (no listUploads look-up first),
    // so the counts below are uploadInit's alone.
    let options = [
        ("retryBudget", (BUDGET as u32).into()),
        ("resume", JsValue::FALSE),
    ];
    let up = proxied_uploader(2, &options);
    let uploads: Vec<Upload> = (0..FILES)
        .map(|i| {
            let file = make_file(PART + i, 70 + i, "many.bin");
            start(&up, &file, &unique_key(&format!("budget-{i}.bin")))
        })
        .collect();
    let mut outcomes = Vec::new();
    for upload in &uploads {
        let error = finish(upload).await.expect_err("nothing can succeed");
        outcomes.push((error, retries_of(upload)));
    }
    (proxy_stats_at(proxy()).await, outcomes)
}

/// Whether the error says the retry budget stopped the retries.
fn budget_spent(error: &JsValue) -> bool {
    text(error, "description").contains("retry budget (10 retries, option retryBudget) is used up")
}

#[wasm_bindgen_test]
async fn a_server_failing_every_request_with_500_gets_no_more_retries_than_the_budget() {
    let message = "the server failed unexpectedly; the request id finds the cause in its log";
    let rule =
        json!({ "endpoint": "*", "status": 500, "code": "InternalError", "message": message });
    let (stats, outcomes) = many_files_against(rule).await;
    console_log!("500 for everything, {FILES} files, budget {BUDGET}: {stats:#}");
    // Each file wants 3 retries (a 500's most), 18 in all; the budget has 10 (one each).
    assert_eq!(stat(&stats, "initRequests"), FILES + BUDGET);
    assert_eq!(stat(&stats, "apiRequests"), FILES + BUDGET);
    let retries: u64 = outcomes.iter().map(|(_, retries)| retries).sum();
    assert_eq!(retries, BUDGET);
    let mut stopped_by_budget = 0;
    for (error, retries) in &outcomes {
        let description = text(error, "description");
        assert_eq!(error_code(error), "InternalError", "{description}");
        assert_eq!(error_reason(error), "server-unavailable");
        assert_eq!(get(error, "status").as_f64(), Some(500.0));
        assert!(description.starts_with(message), "{description}");
        if budget_spent(error) {
            stopped_by_budget += 1;
            assert!(
                *retries < 3,
                "{retries} retries, then the budget: {description}"
            );
        } else {
            assert_eq!(*retries, 3, "{description}");
            assert!(
                description.ends_with("; gave up after 3 retries"),
                "{description}"
            );
        }
    }
    // At most 3 files can have had their 3 retries (9 of the 10): the others met the budget.
    assert!(
        stopped_by_budget >= 3,
        "{stopped_by_budget} stopped by the budget"
    );
}

#[wasm_bindgen_test]
async fn many_files_against_a_503_without_retry_after_stay_within_the_budget() {
    let rule = json!({ "endpoint": "*", "status": 503, "code": "ServiceUnavailable" });
    let (stats, outcomes) = many_files_against(rule).await;
    console_log!("503 for everything, {FILES} files, budget {BUDGET}: {stats}");
    // 6 files × 8 retries wanted; 10 given.
    assert_eq!(stat(&stats, "initRequests"), FILES + BUDGET);
    assert_eq!(stat(&stats, "apiRequests"), FILES + BUDGET);
    let retries: u64 = outcomes.iter().map(|(_, retries)| retries).sum();
    assert_eq!(retries, BUDGET);
    for (error, _) in &outcomes {
        assert_eq!(error_code(error), "ServiceUnavailable");
        assert_eq!(error_reason(error), "server-unavailable");
    }
    // 8 retries need 8 of the 10: at most one file had them all.
    let stopped_by_budget = outcomes.iter().filter(|(e, _)| budget_spent(e)).count();
    assert!(
        stopped_by_budget >= 5,
        "{stopped_by_budget} stopped by the budget"
    );
}

#[wasm_bindgen_test]
async fn network_errors_cost_two_retries_of_the_budget() {
    // Port 9 (discard) is closed on the test machine: connection refused at once.
    let options = js_object(&[
        (
            "endpoint",
            "http://127.0.0.1:9/v1/multipart/parallel".into(),
        ),
        ("retries", 10.into()),
        ("retryDelay", 20.into()),
        ("maxRetryDelay", 100.into()),
        ("retryBudget", 5.into()),
    ]);
    let up = Uploader::new(options.unchecked_into()).unwrap();
    let upload = start(&up, &make_file(10, 64, "x.bin"), &unique_key("x.bin"));
    let error = finish(&upload).await.expect_err("no server");
    assert_eq!(error_code(&error), "NetworkError");
    assert_eq!(error_reason(&error), "network");
    // 5 retries' worth buys 2 network retries (2 each), not 5 or 10.
    assert_eq!(retries_of(&upload), 2);
    assert!(
        text(&error, "description")
            .contains("retry budget (5 retries, option retryBudget) is used up"),
        "{}",
        text(&error, "description")
    );
}

#[wasm_bindgen_test]
async fn the_servers_own_retry_after_crosses_cors_and_is_honoured() {
    // partup-server itself (no proxy), on another origin than this page: its uploadInit fails
    // closed with 503 + Retry-After, and a script here can read that header only if CORS
    // exposes it.
    let api = format!("{}{}", busy_server(), partup_wire::API_PREFIX);
    let body = json!({ "resourceKey": "busy.bin" }).to_string();
    let init_url = format!("{api}/uploadInit");
    let (status, response) = fetch(&init_url, "POST", Some(&body), "application/json").await;
    assert_eq!(status, 503);
    let header = response.headers().get("Retry-After").unwrap();
    let seconds: u64 = header
        .expect("Retry-After is exposed to other origins")
        .parse()
        .expect("whole seconds");
    assert!(seconds >= 1);
    let options = js_object(&[
        ("endpoint", api.into()),
        ("retries", 1.into()),
        ("retryDelay", 20.into()),
        ("maxRetryDelay", 200.into()),
    ]);
    let up = Uploader::new(options.unchecked_into()).unwrap();
    let started = now_ms();
    let upload = start(&up, &make_file(10, 65, "busy.bin"), &unique_key("busy.bin"));
    let error = finish(&upload).await.expect_err("the server stays busy");
    let elapsed = now_ms() - started;
    assert_eq!(error_code(&error), "ServiceUnavailable");
    assert_eq!(error_reason(&error), "server-unavailable");
    assert_eq!(retries_of(&upload), 1);
    let description = text(&error, "description");
    assert!(
        description.ends_with("; gave up after 1 retry"),
        "{description}"
    );
    // retryDelay is 20 ms: only the server's Retry-After explains the wait.
    let waited = seconds as f64 * 1000.0;
    assert!(
        elapsed >= waited,
        "failed after {elapsed} ms despite Retry-After: {seconds}"
    );
}

/// The main test server's `--max-object-size` (scripts/test-client.sh).
const SERVER_MAX_OBJECT_SIZE: u64 = 64 * MIB;

#[wasm_bindgen_test]
async fn a_file_over_the_servers_object_size_is_refused_at_init_before_any_part_is_sent() {
    set_proxy_rules(proxy(), json!({})).await;
    let file = make_file(SERVER_MAX_OBJECT_SIZE + 1, 62, "huge.bin");
    let upload = start(&proxied_uploader(4, &[]), &file, &unique_key("huge.bin"));
    let error = finish(&upload)
        .await
        .expect_err("a file over --max-object-size must be refused");
    let stats = proxy_stats_at(proxy()).await;
    console_log!(
        "file over --max-object-size: {} / {stats}",
        text(&error, "message")
    );
    assert_eq!(error_code(&error), "EntityTooLarge");
    assert_eq!(error_reason(&error), "file-too-large");
    assert_eq!(get(&error, "status").as_f64(), Some(413.0));
    assert_eq!(stat(&stats, "initRequests"), 1, "refused once, not retried");
    assert_eq!(
        stat(&stats, "partRequests"),
        0,
        "no byte of the file was sent"
    );
    assert_eq!(retries_of(&upload), 0);
}
