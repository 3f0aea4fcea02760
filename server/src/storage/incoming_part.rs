//! A part's bytes on their way in: counted against the part-size limit and the upload's
//! `maxSize`, hashed, and passed to the backend's [`PartWriter`], so no backend ever has to buffer
//! or re-read a part.

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::error::{AppError, AppResult};
use crate::metrics;
use crate::storage::backend::{PartDigest, PartWriter};

/// The room an upload with a `maxSize` (from the token that started it) has: the bytes its other
/// stored parts hold already, against that maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadBudget {
    pub max_size: u64,
    pub stored: u64,
}

impl UploadBudget {
    /// Refuses `more` bytes when they would take the upload over its `maxSize`: the one place
    /// that rule is written, for a part in flight, a part's commit and uploadComplete alike.
    pub fn check(self, more: u64) -> AppResult<()> {
        let total = self.stored.saturating_add(more);
        if total <= self.max_size {
            return Ok(());
        }
        Err(AppError::too_large(format!(
            "the upload would hold {total} bytes, over the maxSize of {} bytes of the token that started it",
            self.max_size
        )))
    }
}

pub struct IncomingPart {
    writer: Box<dyn PartWriter>,
    hasher: Md5,
    size: u64,
    max_size: u64,
    budget: Option<UploadBudget>,
}

impl IncomingPart {
    pub(super) fn new(
        writer: Box<dyn PartWriter>,
        max_size: u64,
        budget: Option<UploadBudget>,
    ) -> IncomingPart {
        IncomingPart {
            writer,
            hasher: Md5::new(),
            size: 0,
            max_size,
            budget,
        }
    }

    /// Takes the next bytes; fails as soon as the part is over the limit or the upload over its
    /// budget, the one place that enforces them (SPEC.md §2, Authorization).
    pub async fn write(&mut self, chunk: Bytes) -> AppResult<()> {
        metrics::record_received(chunk.len());
        self.size += chunk.len() as u64;
        if self.size > self.max_size {
            return Err(AppError::too_large(format!(
                "the part is larger than the server's limit of {} bytes; use smaller parts",
                self.max_size
            )));
        }
        if let Some(budget) = self.budget {
            budget.check(self.size)?;
        }
        // md-5 is fastest fed in pieces; chunks from hyper are small already.
        self.hasher.update(&chunk);
        self.writer.write(chunk).await
    }

    /// The bytes received so far: their digest, and the writer holding them.
    pub(super) fn finish(self) -> (Box<dyn PartWriter>, PartDigest) {
        let digest = PartDigest {
            md5: self.hasher.finalize().into(),
            size: self.size,
        };
        (self.writer, digest)
    }
}
