//! Telling a file that changed on disk from a read that failed for a while.
//!
//! A part's read is retried (`pipeline.rs`, `READ_RETRY_DELAYS_MS`) because Chromium refuses reads
//! of a Blob built in memory while its blob store is full. A file modified, truncated or deleted
//! on disk after it was chosen fails every read instead, and the stream's error does not say which
//! it is: Chromium's `Blob.stream()` errors with `TypeError: network error` in both cases. So after
//! a failed read the file's last byte is read again through `FileReader` (`js/file_check.js`),
//! whose error names the cause:
//!
//! | engine | modified | truncated | deleted |
//! | --- | --- | --- | --- |
//! | Chromium | `NotReadableError` (the File is a snapshot of size and mtime) | `NotReadableError` | `NotFoundError` |
//! | Firefox | read with its new bytes: not detectable | reads short | `NotFoundError` |
//! | WebKit | an error (`NotReadableError` or `NotFoundError`) | reads short | an error (the same) |
//!
//! A Blob built in memory has no file behind it: its last byte reads, and the failed read is
//! retried.

use crate::error::{ClientCode, Reason, UploadError, js_text};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

#[wasm_bindgen(module = "/js/file_check.js")]
extern "C" {
    #[wasm_bindgen(js_name = readLastByte)]
    fn read_last_byte(blob: &Blob) -> js_sys::Promise;
}

/// `Some(FileChanged error)` when `file` is no longer what was chosen; `None` when its last byte
/// still reads (the failure was something else, worth a retry) or the engine cannot tell.
pub async fn changed_on_disk(file: &Blob) -> Option<UploadError> {
    if file.size() == 0.0 {
        return None;
    }
    let outcome = JsFuture::from(read_last_byte(file)).await.ok()?;
    if outcome.as_string().is_some() {
        return Some(changed("it is shorter now".into()));
    }
    let name = js_sys::Reflect::get(&outcome, &JsValue::from_str("name")).ok()?;
    matches!(
        name.as_string()?.as_str(),
        "NotReadableError" | "NotFoundError"
    )
    .then(|| changed(js_text(&outcome)))
}
fn changed(why: String) -> UploadError {
    UploadError::client(
        ClientCode::FileChanged,
        Reason::FileChanged,
        format!(
            "the file changed on disk after it was chosen, or was deleted ({why}); choose it \
             again to upload what it holds now"
        ),
    )
}
