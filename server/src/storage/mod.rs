//! The storage interface: everything the HTTP layer needs from a backend, and nothing about HTTP.
//!
//! As in tusd's `DataStore`, the protocol handlers (`api/`) know nothing of where bytes live. A backend
//! implements [`Store`]: `fs/` keeps everything on the local disk, `s3/` in an S3-compatible bucket shared
//! by stateless instances. Rules every backend must share (the checks of uploadComplete, the etag, MD5
//! verification of incoming bytes) live here and in `digest.rs`, so the backends cannot get them
//! subtly different.

pub mod digest;
pub mod fs;
pub mod s3;
pub mod upload_id;

use std::any::Any;
use std::ops::Range;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use partup_wire::{CompletePart, CompleteResponse, ErrorCode, PartInfo};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
pub use upload_id::UploadId;

/// A stream of body bytes; an error means the sender broke off or sent too much.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = Result<Bytes, AppError>> + Send + 'a>>;

/// Bytes of a part received and hashed but not yet part of any upload. Backend-specific contents;
/// dropping it discards the bytes.
pub struct StagedPart {
    pub md5: [u8; 16],
    pub size: u64,
    pub backend_handle: Box<dyn Any + Send>,
}

/// What is known of a part when its bytes start arriving (fields may come in any order).
#[derive(Debug, Clone, Default)]
pub struct PartTarget {
    pub upload_id: Option<UploadId>,
    pub part_number: Option<u32>,
    pub claimed_md5: Option<[u8; 16]>,
}

/// A completed object ready to be read.
pub struct ObjectReader {
    pub size: u64,
    pub etag: String,
    /// Starts reading the given byte range (already checked against `size`). Resolves once the first
    /// bytes are on their way, so a failure can still become a clean error response.
    pub open_range: OpenRange,
}

/// Starts reading a byte range of an opened object.
pub type OpenRange = Box<
    dyn FnOnce(Range<u64>) -> BoxFuture<'static, Result<ByteStream<'static>, OpenRangeError>>
        + Send,
>;

/// Why a range of an opened object could not be read.
pub enum OpenRangeError {
    /// The object was replaced by a newer one since it was opened: open it again.
    Replaced,
    Failed(AppError),
}

/// Result of one stale-upload sweep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub stale_uploads_aborted: usize,
    pub finished_records_removed: usize,
}

/// `upload.json` of every backend: the upload's key and start, written once at init.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadRecord {
    pub resource_key: String,
    pub created_unix_ms: u64,
}

/// `completed.json` of every backend: what a repeated complete is compared with and answered from.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletedRecord {
    pub parts: Vec<CompletePart>,
    pub response: CompleteResponse,
}

/// How long a completed upload still answers a repeated uploadComplete (SPEC.md: at least 24 hours).
pub const COMPLETED_RECORD_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(24 * 3600);

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts an upload of `resource_key` (already validated); answers the new id and whether a
    /// completed object with this key exists now.
    async fn init_upload(&self, resource_key: &str) -> AppResult<(UploadId, bool)>;

    /// Fails with `NoSuchUpload` unless the upload is in progress. Lets the HTTP layer refuse a part for
    /// a dead upload before receiving its bytes.
    async fn ensure_upload_open(&self, upload_id: &UploadId) -> AppResult<()>;

    /// Receives a part's bytes into backend staging. The stream is already hashed and size-limited by
    /// [`digest::HashingStream`]; the backend only stores. `target` holds the form fields that came
    /// before the bytes, which lets a backend write straight to the part's final place.
    async fn stage_part(
        &self,
        target: &PartTarget,
        bytes: ByteStream<'_>,
    ) -> AppResult<Box<dyn Any + Send>>;

    /// Makes a verified staged part the upload's part `part_number`, durably, replacing an earlier one.
    async fn commit_part(
        &self,
        upload_id: &UploadId,
        part_number: u32,
        staged: StagedPart,
    ) -> AppResult<PartInfo>;

    /// The upload's key and its stored parts, ascending.
    async fn list_parts(&self, upload_id: &UploadId) -> AppResult<(String, Vec<PartInfo>)>;

    /// Assembles the object from the listed parts (see [`check_complete_list`]) or, for an upload that
    /// already completed with the same list, answers the recorded result again.
    async fn complete(
        &self,
        upload_id: &UploadId,
        parts: &[CompletePart],
        min_part_size: u64,
    ) -> AppResult<CompleteResponse>;

    /// Ends an upload in progress and frees its parts.
    async fn abort(&self, upload_id: &UploadId) -> AppResult<()>;

    /// Opens a completed object (`NoSuchKey` when absent).
    async fn open_object(&self, resource_key: &str) -> AppResult<ObjectReader>;

    /// Aborts uploads untouched for longer than `ttl` and drops completion records past retention.
    async fn sweep(&self, ttl: std::time::Duration) -> AppResult<SweepReport>;
}

/// SPEC.md §3's checks after "the upload exists", in order, against the parts stored: a non-empty list,
/// strictly ascending numbers, every part stored with the listed md5, every part but the last at
/// least `min_part_size`. Returns the stored parts in list order.
pub fn check_complete_list<'a>(
    listed: &[CompletePart],
    stored: &'a [PartInfo],
    min_part_size: u64,
) -> AppResult<Vec<&'a PartInfo>> {
    if listed.is_empty() {
        return Err(AppError::invalid_argument(
            "completeMultipartUpload is empty; list the parts to assemble",
        ));
    }
    if let Some(pair) = listed
        .windows(2)
        .find(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(AppError::new(
            ErrorCode::InvalidPartOrder,
            format!(
                "part numbers must be strictly ascending, but {} is followed by {}",
                pair[0].part_number, pair[1].part_number
            ),
        ));
    }
    let mut chosen = Vec::with_capacity(listed.len());
    for want in listed {
        let found = stored
            .binary_search_by_key(&want.part_number, |p| p.part_number)
            .ok()
            .map(|at| &stored[at]);
        match found {
            None => {
                return Err(AppError::new(
                    ErrorCode::InvalidPart,
                    format!(
                        "part {} was never uploaded (or its upload did not finish)",
                        want.part_number
                    ),
                ));
            }
            Some(part) if !part.md5.eq_ignore_ascii_case(&want.md5) => {
                return Err(AppError::new(
                    ErrorCode::InvalidPart,
                    format!(
                        "part {} is stored with md5 {}, not {}; upload it again or list the right md5",
                        want.part_number, part.md5, want.md5
                    ),
                ));
            }
            Some(part) => chosen.push(part),
        }
    }
    if let Some((part, _)) = chosen
        .iter()
        .zip(0..chosen.len() - 1)
        .find(|(part, _)| part.size < min_part_size)
    {
        return Err(AppError::new(
            ErrorCode::EntityTooSmall,
            format!(
                "part {} is {} bytes; every part but the last must be at least {min_part_size} bytes",
                part.part_number, part.size
            ),
        ));
    }
    Ok(chosen)
}

/// Whether a repeated uploadComplete asks for the same list as the one that completed the upload
/// (numbers as numbers, md5s ignoring case).
pub fn same_part_list(a: &[CompletePart], b: &[CompletePart]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.part_number == y.part_number && x.md5.eq_ignore_ascii_case(&y.md5))
}
