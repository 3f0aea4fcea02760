//! The wire contract of partup (`SPEC.md`): every JSON body the server sends or accepts, the error
//! codes with their HTTP statuses, and the input rules (resource keys, part numbers, MD5 strings).
//!
//! Server and wasm client both depend on this crate, so the JSON field names, the endpoint names, the
//! error codes and the multipart etag cannot drift apart: each side matches on these types, never on
//! strings. It depends on serde and md-5 only (both already in the client), to keep the `.wasm` small.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

mod complete_request;
mod list_uploads;
mod sign_part;
pub use complete_request::{CompleteRequest, MAX_LISTED_PARTS};
pub use list_uploads::{
    DEFAULT_MAX_UPLOADS, ListUploadsRequest, ListUploadsResponse, MAX_METADATA_BYTES,
    MAX_METADATA_ENTRIES, MAX_METADATA_KEY_BYTES, MAX_METADATA_VALUE_BYTES, MAX_UPLOADS_PER_PAGE,
    Metadata, UploadSummary, validate_metadata,
};
pub use sign_part::{SignPartRequest, SignPartResponse};

/// Where the multipart API lives; every endpoint is `API_PREFIX/<name>`.
pub const API_PREFIX: &str = "/v1/multipart/parallel";
/// Where completed objects are read (`GET`/`HEAD OBJECTS_PREFIX/<key>`).
pub const OBJECTS_PREFIX: &str = "/v1/objects";
/// The endpoints under [`API_PREFIX`], named as SPEC.md names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    UploadInit,
    /// `POST upload`: one part.
    UploadPart,
    UploadComplete,
    ListParts,
    UploadAbort,
    /// The caller's uploads in progress (SPEC.md §5).
    ListUploads,
    /// A presigned request that sends one part straight to the store (SPEC.md §6).
    SignPart,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::UploadInit,
        Endpoint::UploadPart,
        Endpoint::UploadComplete,
        Endpoint::ListParts,
        Endpoint::UploadAbort,
        Endpoint::ListUploads,
        Endpoint::SignPart,
    ];

    /// The last path segment, e.g. `uploadInit`.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::UploadInit => "uploadInit",
            Endpoint::UploadPart => "upload",
            Endpoint::UploadComplete => "uploadComplete",
            Endpoint::ListParts => "listParts",
            Endpoint::UploadAbort => "uploadAbort",
            Endpoint::ListUploads => "listUploads",
            Endpoint::SignPart => "signPart",
        }
    }

    /// The path from the server's root, e.g. `/v1/multipart/parallel/uploadInit`.
    pub fn path(self) -> String {
        format!("{API_PREFIX}/{}", self.name())
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Highest part number the API accepts (the seed's range is 0–10000).
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Longest resource key in bytes.
pub const MAX_KEY_BYTES: usize = 1023;
/// Longest single `/`-separated key segment in bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;
/// Limit on uploadComplete's body (a list of every part number fits many times over).
pub const MAX_JSON_BODY_BYTES: usize = 4 << 20;
/// Limit on the bodies of uploadInit, listParts and uploadAbort (a key is at most 1023 bytes).
pub const MAX_FIELDS_BODY_BYTES: usize = 64 << 10;

/// `POST uploadInit` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRequest {
    pub resource_key: String,
    /// The object's size in bytes, when the client knows it: an upload that could never complete
    /// (over `--max-object-size` or the token's `maxSize`) is refused at once (SPEC.md §1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Instant upload (SPEC.md §1): the part size the client split the file into, sent with `size`
    /// and `etag` when it hashed the whole file before sending any part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
    /// Instant upload: the [`multipart_etag`] the file's parts of `part_size` bytes (the last one
    /// smaller) would complete into. The server may then create the object from content it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// What the client stores with the upload (file name, size, …), returned by listUploads so it
    /// can find the upload again from another browser ([`validate_metadata`] bounds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// `POST uploadInit` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitResponse {
    pub upload_id: String,
    /// True when a completed object with this key existed when the upload started.
    pub is_exist: bool,
    /// Instant upload hit: the server created the object from content it already held, and the
    /// upload is complete; this is what uploadComplete would have answered. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant: Option<CompleteResponse>,
    /// The upload's parts go straight to the store (SPEC.md §6): each is sent as `signPart`
    /// answers, never to `POST upload`. Absent (false) otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub direct: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// `POST upload` answer, and one entry of a `listParts` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartInfo {
    /// Lowercase hex MD5 of the bytes the server stored.
    pub md5: String,
    pub part_number: u32,
    pub size: u64,
}

/// One entry of `completeMultipartUpload`, after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletePart {
    pub part_number: u32,
    /// Lowercase hex (a request's is normalised while it is parsed).
    pub md5: String,
}

/// `POST uploadComplete` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteResponse {
    pub resource_key: String,
    pub size: u64,
    pub parts: u32,
    /// [`multipart_etag`] of the listed parts.
    pub etag: String,
}

/// `POST listParts` request (and `uploadAbort`'s): just the upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadIdRequest {
    pub upload_id: String,
}

/// `POST listParts` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPartsResponse {
    pub upload_id: String,
    pub resource_key: String,
    pub parts: Vec<PartInfo>,
    /// The upload's parts go straight to the store (SPEC.md §6), as uploadInit said: a client
    /// resuming it signs them. Absent (false) otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub direct: bool,
}

/// `POST uploadAbort` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortResponse {
    pub upload_id: String,
    pub aborted: bool,
}

/// Every failure's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub request_id: String,
}

/// The error codes of SPEC.md's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    InvalidArgument,
    MalformedRequest,
    InvalidObjectName,
    BadDigest,
    InvalidPart,
    InvalidPartOrder,
    EntityTooSmall,
    EntityTooLarge,
    NoSuchUpload,
    NoSuchKey,
    InvalidRange,
    NotFound,
    MethodNotAllowed,
    InternalError,
    /// Not in SPEC.md's table: the server is shutting down or overloaded; retry elsewhere/later.
    ServiceUnavailable,
    /// No valid upload token (missing, malformed, badly signed, expired).
    Unauthorized,
    /// A valid token that does not allow this (key outside its scope, `replace: false`, a
    /// non-loopback `Host` on an anonymous server).
    AccessDenied,
    /// uploadComplete of a token with `replace: false`, but the object exists by now.
    ObjectExists,
    /// Too many uploads in progress, on the server or for this client (`sub`, or address when
    /// anonymous); answered with `Retry-After`.
    TooManyUploads,
    /// The store is (nearly) full: below `--min-free-space`, or the disk ran out mid-write.
    /// Nothing acknowledged was lost; retrying before space is freed cannot succeed.
    InsufficientStorage,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidArgument,
        ErrorCode::MalformedRequest,
        ErrorCode::InvalidObjectName,
        ErrorCode::BadDigest,
        ErrorCode::InvalidPart,
        ErrorCode::InvalidPartOrder,
        ErrorCode::EntityTooSmall,
        ErrorCode::EntityTooLarge,
        ErrorCode::NoSuchUpload,
        ErrorCode::NoSuchKey,
        ErrorCode::InvalidRange,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InternalError,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Unauthorized,
        ErrorCode::AccessDenied,
        ErrorCode::ObjectExists,
        ErrorCode::TooManyUploads,
        ErrorCode::InsufficientStorage,
    ];

    /// The code named `name` in a JSON error body; `None` for a code this version does not know
    /// (a newer server's, or a proxy's), which a client must still handle by its HTTP status.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
    }

    /// The HTTP status SPEC.md gives this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument
            | ErrorCode::MalformedRequest
            | ErrorCode::InvalidObjectName
            | ErrorCode::BadDigest
            | ErrorCode::InvalidPart
            | ErrorCode::InvalidPartOrder
            | ErrorCode::EntityTooSmall => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::AccessDenied => 403,
            ErrorCode::ObjectExists => 409,
            ErrorCode::EntityTooLarge => 413,
            ErrorCode::TooManyUploads => 429,
            ErrorCode::InsufficientStorage => 507,
            ErrorCode::NoSuchUpload | ErrorCode::NoSuchKey | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::InvalidRange => 416,
            ErrorCode::InternalError => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }

    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "InvalidArgument",
            ErrorCode::MalformedRequest => "MalformedRequest",
            ErrorCode::InvalidObjectName => "InvalidObjectName",
            ErrorCode::BadDigest => "BadDigest",
            ErrorCode::InvalidPart => "InvalidPart",
            ErrorCode::InvalidPartOrder => "InvalidPartOrder",
            ErrorCode::EntityTooSmall => "EntityTooSmall",
            ErrorCode::EntityTooLarge => "EntityTooLarge",
            ErrorCode::NoSuchUpload => "NoSuchUpload",
            ErrorCode::NoSuchKey => "NoSuchKey",
            ErrorCode::InvalidRange => "InvalidRange",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::ObjectExists => "ObjectExists",
            ErrorCode::TooManyUploads => "TooManyUploads",
            ErrorCode::InsufficientStorage => "InsufficientStorage",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a resource key against SPEC.md §1; the error is a sentence saying what is wrong.
pub fn validate_resource_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(
            "resourceKey is empty; give the object's name, e.g. \"videos/clip.mp4\"".into(),
        );
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "resourceKey is {} bytes long; the limit is {MAX_KEY_BYTES} bytes",
            key.len()
        ));
    }
    if key.starts_with('/') {
        return Err("resourceKey must not start with '/'".into());
    }
    if key.contains('\\') {
        return Err("resourceKey must not contain a backslash".into());
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(format!(
            "resourceKey must not contain control characters (found U+{:04X})",
            c as u32
        ));
    }
    for segment in key.split('/') {
        match segment {
            "" => {
                return Err(
                    "resourceKey must not contain an empty segment ('//' or a trailing '/')".into(),
                );
            }
            "." | ".." => {
                return Err(format!(
                    "resourceKey must not contain a '{segment}' segment"
                ));
            }
            s if s.len() > MAX_SEGMENT_BYTES => {
                return Err(format!(
                    "a resourceKey segment is {} bytes long; the limit is {MAX_SEGMENT_BYTES} bytes",
                    s.len()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses 32 hex digits (either case) into the 16-byte digest.
pub fn parse_md5_hex(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut digest = [0u8; 16];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        digest[i] = (hi * 16 + lo) as u8;
    }
    Some(digest)
}

/// Lowercase hex of a digest.
pub fn md5_to_hex(digest: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in digest {
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 15) as usize] as char);
    }
    out
}

/// The S3/OSS multipart etag (SPEC.md §3): lowercase hex MD5 of the concatenated binary part
/// digests, `-`, the part count. The server answers it from uploadComplete and serves it as the
/// object's ETag; the client derives it from its own part digests to check that answer.
pub fn multipart_etag<'a>(part_digests: impl IntoIterator<Item = &'a [u8; 16]>) -> String {
    let mut hasher = Md5::new();
    let mut count = 0usize;
    for digest in part_digests {
        hasher.update(digest);
        count += 1;
    }
    let digest: [u8; 16] = hasher.finalize().into();
    format!("{}-{count}", md5_to_hex(&digest))
}

/// Parses a part number written as decimal digits only (no sign, no spaces), 0–10000.
pub fn parse_part_number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|n| *n <= MAX_PART_NUMBER)
}

#[cfg(test)]
mod tests;
