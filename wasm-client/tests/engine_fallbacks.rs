//! The fallbacks the client picks by itself where an engine lacks something, proven in every engine
//! by taking the feature away on the page: `Blob.prototype.stream` (Safari before 14.1) is the one
//! the client needs for hashing; without it parts are read as ≤ 1 MiB sub-slices. And a stream
//! that fails mid-read (a file gone, a network drive dropped): the read is refused, with nothing
//! left unhandled on the page.
//!
//! Run by `scripts/test-client.sh` (`PARTUP_TEST_SERVER`) in Chromium, Firefox and WebKitGTK.

use js_sys::{Object, Reflect};
use partup::js_glue::js_object;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
export function blobWhoseStreamFails() {
  const blob = new Blob([new Uint8Array(3 * 1024 * 1024)]);
  // One chunk, then the error an engine gives when the file behind a Blob cannot be read.
  Object.defineProperty(blob, 'stream', { value: () => new ReadableStream({
    start(controller) { controller.enqueue(new Uint8Array(1024)); },
    pull(controller) { controller.error(new TypeError('network error (from the test)')); },
  }) });
  return blob;
}
export function watchUnhandledRejections() {
  const seen = [];
  const listener = event => seen.push(String(event.reason));
  addEventListener('unhandledrejection', listener);
  return { seen, stop: () => removeEventListener('unhandledrejection', listener) };
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = blobWhoseStreamFails)]
    fn blob_whose_stream_fails() -> web_sys::Blob;
    #[wasm_bindgen(js_name = watchUnhandledRejections)]
    fn watch_unhandled_rejections() -> JsValue;
}

/// `Blob.prototype.stream` removed while it lives, put back when dropped (also when a test panics).
struct WithoutBlobStream {
    prototype: Object,
    stream: JsValue,
}

impl WithoutBlobStream {
    fn new() -> WithoutBlobStream {
        let blob = Reflect::get(&js_sys::global(), &"Blob".into()).unwrap();
        let prototype: Object = Reflect::get(&blob, &"prototype".into()).unwrap().into();
        let stream = Reflect::get(&prototype, &"stream".into()).unwrap();
        assert!(
            stream.is_function(),
            "this engine has Blob.prototype.stream to take away"
        );
        assert!(Reflect::delete_property(&prototype, &"stream".into()).unwrap());
        let probe = web_sys::Blob::new().unwrap();
        assert!(
            Reflect::get(&probe, &"stream".into())
                .unwrap()
                .is_undefined()
        );
        WithoutBlobStream { prototype, stream }
    }
}

impl Drop for WithoutBlobStream {
    fn drop(&mut self) {
        Reflect::set(&self.prototype, &"stream".into(), &self.stream).unwrap();
    }
}

#[wasm_bindgen_test]
async fn without_blob_stream_md5_of_blob_reads_slices_and_matches() {
    let _gone = WithoutBlobStream::new();
    for (i, len) in [0, 1, MIB, 3 * MIB + 5].into_iter().enumerate() {
        let seed = 900 + i as u64;
        let file = make_file(len, seed, "hash.bin");
        let got = JsFuture::from(partup::md5_of_blob(&file, None))
            .await
            .unwrap();
        assert_eq!(got.as_string().unwrap(), md5_hex(len, seed), "{len} bytes");
    }
}

#[wasm_bindgen_test]
async fn without_blob_stream_an_upload_of_ragged_parts_arrives_byte_exact() {
    let _gone = WithoutBlobStream::new();
    // Parts of 1.5 MiB: each is read as one whole and one partial 1 MiB sub-slice.
    let (len, part_size, seed) = (7 * MIB + 333, 3 * MIB / 2, 931);
    let key = unique_key("no-blob-stream.bin");
    let file = make_file(len, seed, "f.bin");
    let endpoint = format!("{}/v1/multipart/parallel", server());
    // On the page's thread: the stream is taken away on the page only, not in hashing workers.
    let upload = start_with(
        &uploader(&endpoint, part_size, 3, &[("hashWorkers", 0.into())]),
        &file,
        js_object(&[("resourceKey", key.as_str().into())]),
        &[],
    );
    let result = finish(&upload).await.expect("the upload finishes");
    assert_eq!(num(&result, "size") as u64, len);
    assert_eq!(num(&result, "parts") as u64, len.div_ceil(part_size));
    let url = format!("{}/v1/objects/{key}", server());
    assert_download_equals(&url, len, seed).await;
}

#[wasm_bindgen_test]
async fn a_stream_failing_mid_read_is_a_file_read_error_and_leaves_no_unhandled_rejection() {
    let watch = watch_unhandled_rejections();
    let error = JsFuture::from(partup::md5_of_blob(&blob_whose_stream_fails(), None))
        .await
        .expect_err("the read failed");
    assert_eq!(error_code(&error), "FileReadError");
    // An unhandled rejection is reported once the microtasks ran: a few timer turns later.
    for _ in 0..5 {
        partup::timers::sleep_ms(10.0).await;
    }
    let seen: js_sys::Array = Reflect::get(&watch, &"seen".into()).unwrap().into();
    let stop: js_sys::Function = Reflect::get(&watch, &"stop".into()).unwrap().into();
    stop.call0(&watch).unwrap();
    assert_eq!(seen.length(), 0, "unhandled: {:?}", seen.to_vec());
}
