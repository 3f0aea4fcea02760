//! The store's own limit on a resource key's length, on top of SPEC.md's: every key partup writes
//! for an upload (on S3 `PREFIX/objects/KEY`, the upload's part versions and records) must fit the
//! store's key length, so a key that could not be stored is refused at uploadInit, before any byte
//! is sent, rather than when its upload completes.

use partup_wire::ErrorCode;

use crate::error::{AppError, AppResult};
use crate::storage::uploads::Storage;

impl Storage {
    /// `InvalidObjectName` when `resource_key` (already valid by SPEC.md's rules) is longer than
    /// the store can keep.
    pub fn check_key_fits(&self, resource_key: &str) -> AppResult<()> {
        match self.backend.max_resource_key_bytes() {
            Some(limit) if resource_key.len() > limit => Err(AppError::new(
                ErrorCode::InvalidObjectName,
                format!(
                    "resourceKey is {} bytes long; this server's object store keeps keys of at most {limit} bytes",
                    resource_key.len()
                ),
            )),
            _ => Ok(()),
        }
    }
}
