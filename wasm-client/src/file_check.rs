//! Telling a file that changed on disk from a read that failed for a while.
//!
//! A part's read is retried (`pipeline.rs`, `READ_RETRY_DELAYS_MS`) because Chromium refuses reads
//! of a Blob built in memory while its blob store is full. A file modified, truncated or deleted
//! on disk after it was chosen fails every read instead, and the stream's error does not say which
//! it is: Chromium's `Blob.stream()` errors with `TypeError: network error` in both cases. So after
//! a failed read the file's last byte is read with `Blob.arrayBuffer()`, which names the cause:
//!
//! | engine | changed | deleted |
//! | --- | --- | --- |
//! | Chromium | `NotReadableError` (any change: the File is a snapshot of size and mtime) | `NotFoundError` |
//! | Firefox, WebKit | a truncated file reads short (no byte here); a same-size rewrite reads the new bytes | `NotReadableError` / `NotFoundError` |
//!
//! A Blob built in memory has no file behind it, so neither name can come from its blob store.

use crate::error::{ClientCode, Reason, UploadError};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

/// `Some(FileChanged error)` when `file` is no longer what was chosen; `None` when its last byte
/// still reads (the failure was something else, worth a retry) or the engine cannot tell.
pub async fn changed_on_disk(file: &Blob) -> Option<UploadError> {
    let size = file.size();
    let has_array_buffer = js_sys::Reflect::get(file, &JsValue::from_str("arrayBuffer"))
        .is_ok_and(|f| f.is_function());
    if size == 0.0 || !has_array_buffer {
        return None;
    }
    let last_byte = file.slice_with_f64_and_f64(size - 1.0, size).ok()?;
    match JsFuture::from(last_byte.array_buffer()).await {
        Ok(bytes) if bytes.unchecked_ref::<js_sys::ArrayBuffer>().byte_length() == 1 => None,
        Ok(_) => Some(changed("it is shorter now".into())),
        Err(error) => {
            let name = js_sys::Reflect::get(&error, &JsValue::from_str("name")).ok()?;
            let name = name.as_string()?;
            matches!(name.as_str(), "NotReadableError" | "NotFoundError")
                .then(|| changed(crate::error::js_text(&error)))
        }
    }
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
