//! Telling a file that changed on disk from a read that failed for a while.
//!
//! A part's read is retried (`pipeline.rs`, `READ_RETRY_DELAYS_MS`) because Chromium refuses reads
//! of a Blob built in memory while its blob store is full. A file modified, truncated or deleted
//! on disk after it was chosen fails every read instead, and the stream's error does not say which
//! it is: Chromium's `Blob.stream()` errors with `TypeError: network error` in both cases, and its
//! `FileReader` and `Blob.arrayBuffer()` name both `NotReadableError`. What differs is the File
//! itself: a file changed on disk no longer reads at all, while a Blob built in memory does (only
//! new slices of it are refused). So after a failed read the whole file is checked again
//! (`js/file_check.js`): its first bytes, and its last byte (a truncated file reads short in
//! Firefox and WebKit). Firefox reads a file rewritten in place with the same size with its new
//! bytes, without any error: that change goes unnoticed there.

use crate::error::{ClientCode, Reason, UploadError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

#[wasm_bindgen(module = "/js/file_check.js")]
extern "C" {
    #[wasm_bindgen(js_name = fileChangedSinceChosen)]
    fn file_changed_since_chosen(file: &Blob) -> js_sys::Promise;
}

/// `Some(FileChanged error)` when `file` is no longer what was chosen; `None` when it still reads
/// (the failure was something else, worth a retry) or the engine cannot tell.
pub async fn changed_on_disk(file: &Blob) -> Option<UploadError> {
    let why = JsFuture::from(file_changed_since_chosen(file)).await.ok()?;
    why.as_string().map(changed)
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
