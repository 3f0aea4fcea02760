//! Direct-to-store parts (SPEC.md §6): with `--direct-parts` on the S3 store, a part's bytes go
//! from the client straight into the bucket, in a request the server signed after checking the
//! caller's rights. The store verifies the signed `Content-MD5` itself (`BadDigest`), so the
//! integrity promise of `POST upload` holds without a byte passing through partup.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST signPart` request: the part the client is about to send, as it will send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignPartRequest {
    pub upload_id: String,
    pub part_number: u32,
    /// Lowercase hex MD5 of the part's bytes (signed in as `Content-MD5`).
    pub md5: String,
    /// The part's size in bytes (signed in as `Content-Length`).
    pub size: u64,
}

/// `POST signPart` answer: one request to send as it is, before `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignPartResponse {
    /// The store's URL of the part, its signature in the query.
    pub url: String,
    /// `PUT`.
    pub method: String,
    /// Headers to send with exactly these values (`Content-MD5`, and `Content-Length`, which a
    /// browser sets itself from the body).
    pub headers: BTreeMap<String, String>,
    /// When the store stops accepting the request (RFC 3339, UTC): sign again after that.
    pub expires_at: String,
}
