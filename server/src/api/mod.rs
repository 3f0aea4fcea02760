//! The endpoints, one file each. A handler reads its request with `http::body` into its typed
//! request, validates it, calls [`Storage`](crate::storage::Storage), and returns its wire type from
//! `partup_wire` (the object reader streams, so it returns a response). Handlers know nothing of
//! where bytes are kept: every rule of SPEC.md about stored uploads lives in `storage`.

pub mod list_parts;
pub mod list_uploads;
pub mod objects;
pub mod sign_part;
pub mod upload_abort;
pub mod upload_complete;
pub mod upload_init;
pub mod upload_part;

use serde::Deserialize;

use crate::error::AppResult;
use crate::storage::UploadId;

/// The body of listParts and uploadAbort: just the upload (other fields are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadIdRequest {
    upload_id: String,
}

impl UploadIdRequest {
    /// The id (`NoSuchUpload` when it cannot be one).
    pub fn upload_id(&self) -> AppResult<UploadId> {
        UploadId::parse(&self.upload_id)
    }
}
