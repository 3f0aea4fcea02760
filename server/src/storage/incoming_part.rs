//! A part's bytes on their way in: counted against the part-size limit, hashed, and passed to the
//! backend's [`PartWriter`], so no backend ever has to buffer or re-read a part.

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::error::{AppError, AppResult};
use crate::storage::backend::{PartDigest, PartWriter};

pub struct IncomingPart {
    writer: Box<dyn PartWriter>,
    hasher: Md5,
    size: u64,
    max_size: u64,
}

impl IncomingPart {
    pub(super) fn new(writer: Box<dyn PartWriter>, max_size: u64) -> IncomingPart {
        IncomingPart {
            writer,
            hasher: Md5::new(),
            size: 0,
            max_size,
        }
    }

    /// Takes the next bytes; fails as soon as the part is over the limit, the one place that
    /// enforces it (SPEC.md §2).
    pub async fn write(&mut self, chunk: Bytes) -> AppResult<()> {
        self.size += chunk.len() as u64;
        if self.size > self.max_size {
            return Err(AppError::too_large(format!(
                "the part is larger than the server's limit of {} bytes; use smaller parts",
                self.max_size
            )));
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
