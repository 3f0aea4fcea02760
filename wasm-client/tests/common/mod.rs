//! Helpers both browser suites share: generated files, fetch, and reading JS values.
#![allow(dead_code)]

use js_sys::{Array, Reflect, Uint8Array};
use partup::js_glue::js_object;
use partup::timers::now_ms;
use partup::{Upload, Uploader};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

/// A setting `scripts/test-client.sh` passes at build time (`option_env!` in the suite's crate). A
/// run-time failure, not `env!`: the suites must still build (clippy, docs) without it.
pub fn required(value: Option<&'static str>, name: &str) -> &'static str {
    value.unwrap_or_else(|| {
        panic!("{name} is not set: run the suite through scripts/test-client.sh")
    })
}

/// The test server (`--max-object-size 64MiB`).
pub fn server() -> &'static str {
    required(option_env!("PARTUP_TEST_SERVER"), "PARTUP_TEST_SERVER")
}

/// The fault proxy in front of [`server`].
pub fn proxy() -> &'static str {
    required(option_env!("PARTUP_TEST_PROXY"), "PARTUP_TEST_PROXY")
}

/// The API's base under a server or proxy URL.
pub fn api(base: &str) -> String {
    format!("{base}{}", partup_wire::API_PREFIX)
}

/// A unique key per test run, so reruns against the same server never see old objects.
pub fn unique_key(name: &str) -> String {
    format!(
        "tests/{}-{}/{name}",
        now_ms() as u64,
        (js_sys::Math::random() * 1e9) as u64
    )
}

/// Deterministic pseudo-random bytes (xorshift64*), chunk by chunk.
pub struct Bytes {
    state: u64,
    left: u64,
}

impl Bytes {
    pub fn new(seed: u64, len: u64) -> Bytes {
        Bytes {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            left: len,
        }
    }
    pub fn next_chunk(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.left == 0 {
            return None;
        }
        let n = (self.left as usize).min(max);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let word = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            let take = (n - out.len()).min(8);
            out.extend_from_slice(&word[..take]);
        }
        self.left -= n as u64;
        Some(out)
    }
}

/// A `File` of `len` deterministic bytes, built from 1 MiB chunks (never one big buffer).
pub fn make_file(len: u64, seed: u64, name: &str) -> web_sys::File {
    make_file_of_pieces(len, MIB as usize, seed, name)
}

/// The same bytes as [`make_file`]'s (for a `piece` that is a multiple of 8: whole xorshift words),
/// as a `File` built in memory from pieces of `piece` bytes.
pub fn make_file_of_pieces(len: u64, piece: usize, seed: u64, name: &str) -> web_sys::File {
    let parts = Array::new();
    let mut bytes = Bytes::new(seed, len);
    while let Some(chunk) = bytes.next_chunk(piece) {
        parts.push(&Uint8Array::from(&chunk[..]));
    }
    web_sys::File::new_with_u8_array_sequence(&parts, name).unwrap()
}

/// The lowercase hex MD5 of the `len` deterministic bytes of `seed` (what `make_file` holds).
pub fn md5_hex(len: u64, seed: u64) -> String {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    let mut bytes = Bytes::new(seed, len);
    while let Some(chunk) = bytes.next_chunk(MIB as usize) {
        hasher.update(&chunk);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub async fn fetch(
    url: &str,
    method: &str,
    body: Option<&str>,
    content_type: &str,
) -> (u16, web_sys::Response) {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
        let headers = js_object(&[("Content-Type", content_type.into())]);
        init.set_headers(&headers);
    }
    let window = web_sys::window().unwrap();
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .unwrap_or_else(|e| panic!("fetch {url} failed: {e:?}"))
        .unchecked_into();
    (response.status(), response)
}

pub async fn fetch_json(url: &str, method: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let (status, response) = fetch(url, method, body, "application/json").await;
    let text = JsFuture::from(response.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Downloads `url` and compares it byte for byte with the generated file.
pub async fn assert_download_equals(url: &str, len: u64, seed: u64) {
    let (status, response) = fetch(url, "GET", None, "").await;
    assert_eq!(status, 200, "GET {url}");
    let buffer = JsFuture::from(response.array_buffer().unwrap())
        .await
        .unwrap();
    let stored = Uint8Array::new(&buffer);
    assert_eq!(stored.length() as u64, len, "stored size of {url}");
    let mut expected = Bytes::new(seed, len);
    let mut offset = 0u32;
    let mut window = vec![0u8; MIB as usize];
    while let Some(chunk) = expected.next_chunk(MIB as usize) {
        let got = &mut window[..chunk.len()];
        stored
            .subarray(offset, offset + chunk.len() as u32)
            .copy_to(got);
        assert!(
            got == &chunk[..],
            "bytes of {url} differ in the MiB at offset {offset}"
        );
        offset += chunk.len() as u32;
    }
}

/// Sets the fault rules of the fault proxy at `base` (tests/src/bin/fault-proxy); this also
/// zeroes its counters and its request log.
pub async fn set_proxy_rules(base: &str, rules: serde_json::Value) {
    let url = format!("{base}/__proxy/config");
    // text/plain keeps it a simple (non-preflighted) request.
    let (status, _) = fetch(&url, "POST", Some(&rules.to_string()), "text/plain").await;
    assert_eq!(status, 200, "proxy config {rules}");
}

/// The counters and request log of the fault proxy at `base`.
pub async fn proxy_stats_at(base: &str) -> serde_json::Value {
    let (status, stats) = fetch_json(&format!("{base}/__proxy/stats"), "GET", None).await;
    assert_eq!(status, 200);
    stats
}

/// One counter of the proxy's stats.
pub fn stat(stats: &serde_json::Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("proxy stats lack {name}: {stats}"))
}

pub fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(key)).unwrap()
}

pub fn num(value: &JsValue, key: &str) -> f64 {
    get(value, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

pub fn text(value: &JsValue, key: &str) -> String {
    get(value, key)
        .as_string()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

pub fn error_reason(error: &JsValue) -> String {
    get(error, "reason")
        .as_string()
        .unwrap_or_else(|| format!("no reason: {error:?}"))
}

pub fn error_code(error: &JsValue) -> String {
    get(error, "code")
        .as_string()
        .unwrap_or_else(|| format!("not a PartupError: {error:?}"))
}

/// Starts uploading `file` with upload `options` plus `extra`.
pub fn start_with(
    uploader: &Uploader,
    file: &web_sys::File,
    options: JsValue,
    extra: &[(&str, JsValue)],
) -> Upload {
    for (name, value) in extra {
        Reflect::set(&options, &JsValue::from_str(name), value).unwrap();
    }
    uploader
        .upload(file, options.unchecked_into())
        .expect("upload starts")
}

pub async fn finish(upload: &Upload) -> Result<JsValue, JsValue> {
    JsFuture::from(upload.done()).await
}

/// Uploader options for tests: small parts allowed (the server runs with --min-part-size 1024),
/// quick retries.
pub fn uploader(
    endpoint: &str,
    part_size: u64,
    concurrency: u32,
    extra: &[(&str, JsValue)],
) -> Uploader {
    let options = js_object(&[
        ("endpoint", endpoint.into()),
        ("partSize", (part_size as f64).into()),
        ("minPartSize", 1024.into()),
        ("concurrency", concurrency.into()),
        ("retries", 8.into()),
        ("retryDelay", 20.into()),
        ("maxRetryDelay", 200.into()),
    ]);
    for (key, value) in extra {
        Reflect::set(&options, &JsValue::from_str(key), value).unwrap();
    }
    Uploader::new(options.unchecked_into()).expect("valid options")
}
