//! `listUploads` (SPEC.md §5) and the metadata a client stores with an upload at uploadInit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a client stores with an upload: flat text, bounded by [`validate_metadata`].
pub type Metadata = BTreeMap<String, String>;

/// Most entries in an upload's metadata.
pub const MAX_METADATA_ENTRIES: usize = 16;
/// Longest metadata key in bytes (keys are 1–64 bytes of `A–Z a–z 0–9 _ . -`).
pub const MAX_METADATA_KEY_BYTES: usize = 64;
/// Longest metadata value in bytes.
pub const MAX_METADATA_VALUE_BYTES: usize = 1024;
/// Most bytes of all keys and values together.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Page size of listUploads when the request names none.
pub const DEFAULT_MAX_UPLOADS: u32 = 100;
/// Largest page size of listUploads.
pub const MAX_UPLOADS_PER_PAGE: u32 = 1000;

/// Checks an upload's metadata against SPEC.md §1's bounds; the error names the rule broken.
pub fn validate_metadata(metadata: &Metadata) -> Result<(), String> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(format!(
            "metadata has {} entries, at most {MAX_METADATA_ENTRIES} are allowed",
            metadata.len()
        ));
    }
    for (key, value) in metadata {
        let key_ok = (1..=MAX_METADATA_KEY_BYTES).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !key_ok {
            return Err(format!(
                "metadata keys must be 1–{MAX_METADATA_KEY_BYTES} bytes of A–Z, a–z, 0–9, '_', '.' or '-'"
            ));
        }
        if value.len() > MAX_METADATA_VALUE_BYTES {
            return Err(format!(
                "metadata value of '{key}' has {} bytes, at most {MAX_METADATA_VALUE_BYTES} are allowed",
                value.len()
            ));
        }
    }
    let total: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_METADATA_BYTES {
        return Err(format!(
            "metadata keys and values have {total} bytes together, at most {MAX_METADATA_BYTES} are allowed"
        ));
    }
    Ok(())
}

/// `POST listUploads` request (and `GET listUploads`'s query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListUploadsRequest {
    /// Only uploads whose resource key starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The `nextMarker` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// Most uploads on the page ([`DEFAULT_MAX_UPLOADS`], at most [`MAX_UPLOADS_PER_PAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uploads: Option<u32>,
}

/// One upload in progress, as listUploads shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadSummary {
    pub upload_id: String,
    pub resource_key: String,
    /// When uploadInit started it (RFC 3339, UTC, milliseconds).
    pub initiated: String,
    /// Its last activity: the init or the last part stored (same format).
    pub last_modified: String,
    pub parts_stored: u32,
    pub bytes_stored: u64,
    /// What uploadInit stored with it (empty when nothing).
    #[serde(default)]
    pub metadata: Metadata,
}

/// `POST listUploads` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListUploadsResponse {
    /// Newest first.
    pub uploads: Vec<UploadSummary>,
    /// More may follow: ask again with `marker: nextMarker`.
    pub is_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}
