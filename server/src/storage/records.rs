//! The two records of an upload, the same in every backend: `upload.json` (written once at init) and
//! `completed.json` (what a repeated uploadComplete is compared with and answered from).

use partup_wire::{CompletePart, CompleteResponse, Metadata};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// Which record of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Upload,
    Completed,
}

impl Record {
    /// The record's name beside the upload's parts, in every backend.
    pub fn file_name(self) -> &'static str {
        match self {
            Record::Upload => "upload.json",
            Record::Completed => "completed.json",
        }
    }
}

/// `upload.json`: the upload's key and start; with upload tokens, also who started it and the
/// limits of that token, which hold for the whole upload (records without them, of anonymous
/// servers and of earlier versions, still load).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadRecord {
    pub resource_key: String,
    pub created_unix_ms: u64,
    /// The `sub` of the token that started the upload: the only one that may go on with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// That token's `maxSize`: most bytes the upload's parts may hold together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// That token's `replace`; `None` (anonymous) replaces as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
    /// Without tokens, the client the upload counts against for `--max-uploads-per-client` (its
    /// address, see `admission::client_key`), so a restart counts it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// What the client stored with the upload at init (SPEC.md §1), shown by listUploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Its parts go straight to the store (SPEC.md §6): the store's multipart upload holding them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<DirectUpload>,
}

/// The store's own multipart upload that holds a direct upload's parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectUpload {
    /// The store's id of it (S3's `UploadId`, not partup's).
    pub store_upload_id: String,
}

impl UploadRecord {
    /// Whether completing the upload may replace an existing object.
    pub fn may_replace(&self) -> bool {
        self.replace != Some(false)
    }
}

/// `completed.json`: the complete request and its answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletedRecord {
    pub parts: Vec<CompletePart>,
    pub response: CompleteResponse,
    /// The upload's `upload.json` as it was, so retries are answered (to its owner only) even when
    /// an abort that raced this complete on another instance removed it (`remove_upload`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadRecord>,
}

/// How long a completed upload still answers a repeated uploadComplete (SPEC.md: at least 24 hours).
pub const COMPLETED_RECORD_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(24 * 3600);

pub fn encode<T: Serialize>(record: &T) -> AppResult<Vec<u8>> {
    serde_json::to_vec(record).map_err(AppError::internal)
}

pub fn decode<T: DeserializeOwned>(record: Record, content: &[u8]) -> AppResult<T> {
    serde_json::from_slice(content)
        .map_err(|e| AppError::internal(format!("corrupt {}: {e}", record.file_name())))
}
