//! A part's bytes on their way in: counted against the part-size limit and the upload's size cap
//! (its token's `maxSize` or `--max-object-size`), hashed, and passed to the backend's [`PartWriter`], so no backend ever has to buffer
//! or re-read a part.

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::error::{AppError, AppResult};
use crate::storage::backend::{PartDigest, PartWriter};

/// Where the most bytes an upload may hold comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSource {
    /// The `maxSize` of the token that started the upload.
    TokenMaxSize,
    /// The server's `--max-object-size`.
    MaxObjectSize,
}

/// The most bytes one upload may hold: the smaller of its token's `maxSize` and the server's
/// `--max-object-size` (SPEC.md "Authorization" and "Limits"), and which of the two it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeCap {
    pub bytes: u64,
    pub source: CapSource,
}

impl SizeCap {
    /// The cap of an upload whose token has `max_size` (if any), on a server with
    /// `max_object_size`: the smaller one.
    pub fn of(max_size: Option<u64>, max_object_size: u64) -> SizeCap {
        match max_size {
            Some(bytes) if bytes <= max_object_size => SizeCap {
                bytes,
                source: CapSource::TokenMaxSize,
            },
            _ => SizeCap {
                bytes: max_object_size,
                source: CapSource::MaxObjectSize,
            },
        }
    }

    /// Whether parts of at most `max_part_size` can take an upload over the cap at all (it holds
    /// at most one part per part number, 0 to 10000): when not, nothing needs counting.
    pub fn reachable_with(self, max_part_size: u64) -> bool {
        let most = max_part_size.saturating_mul(u64::from(partup_wire::MAX_PART_NUMBER) + 1);
        most > self.bytes
    }
}

/// The room an upload has: the bytes its other stored parts hold already, against its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadBudget {
    pub cap: SizeCap,
    pub stored: u64,
}

impl UploadBudget {
    /// Refuses `more` bytes when they would take the upload over its cap: the one place that rule
    /// is written, for a size declared at uploadInit, a part in flight, a part's commit and
    /// uploadComplete alike.
    pub fn check(self, more: u64) -> AppResult<()> {
        let total = self.stored.saturating_add(more);
        if total <= self.cap.bytes {
            return Ok(());
        }
        let cap = self.cap.bytes;
        Err(AppError::too_large(match self.cap.source {
            CapSource::TokenMaxSize => format!(
                "the upload would hold {total} bytes, over the maxSize of {cap} bytes of the token that started it"
            ),
            CapSource::MaxObjectSize => format!(
                "the upload would hold {total} bytes, over this server's largest object size of {cap} bytes (--max-object-size)"
            ),
        }))
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
