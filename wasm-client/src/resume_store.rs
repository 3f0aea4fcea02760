//! Remembering unfinished uploads in `localStorage`, so the same file picked again after a reload
//! resumes its upload instead of starting over.
//!
//! An entry is keyed by a fingerprint of the file (name, size, lastModified), the resourceKey and
//! the endpoint, and holds `{uploadId, partSize, resourceKey, existed}`. The store is a
//! convenience, never a requirement: no `localStorage` (workers, some embedded views), one that
//! throws (Safari private mode, blocked cookies) or a full one just means no resume.

use crate::server_match::LocalFile;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, Storage};

const KEY_PREFIX: &str = "partup:v1:";

/// What is remembered about one unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeEntry {
    pub upload_id: String,
    pub part_size: u64,
    pub resource_key: String,
    /// init's `isExist`, so the resumed upload still reports it.
    pub existed: bool,
}

/// The storage key for this file, resourceKey and endpoint.
pub fn fingerprint(file: &Blob, resource_key: &str, endpoint: &str) -> String {
    // A plain Blob has no name nor time; size and key still tell uploads apart.
    let file = LocalFile::of(file);
    // JSON-quoted strings keep the fields apart whatever characters they hold.
    let quote = |s: &str| crate::json::to_json_text(s);
    format!(
        "{KEY_PREFIX}[{},{},{},{},{}]",
        quote(endpoint),
        quote(resource_key),
        quote(&file.name),
        file.size,
        file.last_modified
    )
}

/// `localStorage`, when this context has a usable one.
fn storage() -> Option<Storage> {
    // Read through the global object so workers (no `window`) just get `None`.
    let global = js_sys::global();
    let value = js_sys::Reflect::get(&global, &JsValue::from_str("localStorage")).ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    value.dyn_into::<Storage>().ok()
}

pub fn load(key: &str) -> Option<ResumeEntry> {
    let text = storage()?.get_item(key).ok()??;
    crate::json::from_json_text(&text).ok()
}

pub fn save(key: &str, entry: &ResumeEntry) {
    if let Some(storage) = storage() {
        let text = crate::json::to_json_text(entry);
        // Quota exceeded or private mode: resume is lost, the upload is not.
        let _ = storage.set_item(key, &text);
    }
}

pub fn remove(key: &str) {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(key);
    }
}
