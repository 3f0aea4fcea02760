//! Upload ids: 128 bits from the operating system's CSPRNG, written as 32 lowercase hex digits.
//!
//! Parsing is strict so an id taken from a request can be used as a file or object name safely.

use partup_wire::md5_to_hex;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh id; never reused, never derivable from another.
    pub fn generate() -> AppResult<UploadId> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
        Ok(UploadId(md5_to_hex(&bytes)))
    }

    /// An id from a request; anything not shaped like ours cannot name an upload.
    pub fn parse(text: &str) -> AppResult<UploadId> {
        if text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(UploadId(text.to_owned()))
        } else {
            Err(AppError::no_such_upload(text))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
