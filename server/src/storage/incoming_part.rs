//! A part's bytes on their way in: counted against the part-size limit and the upload's size cap
//! (its token's `maxSize` or `--max-object-size`), hashed (by the MD5 engine, `md5_engine.rs`,
//! together with the other parts arriving), and passed to the backend's [`PartWriter`], so no backend ever has to buffer
//! or re-read a part.

use bytes::Bytes;

use crate::error::{AppError, AppResult};
use crate::metrics;
use crate::storage::backend::{PartDigest, PartWriter};
use crate::storage::md5_engine::PartHasher;
use crate::storage::space_floor::PartRoomWatch;
use crate::storage::sweep::PartInFlight;

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
    hasher: PartHasher,
    size: u64,
    max_size: u64,
    budget: Option<UploadBudget>,
    /// `--min-free-space`, looked at while the bytes arrive.
    room: Option<PartRoomWatch>,
    /// Keeps the part's upload from the sweep while it arrives, when the form named it first.
    in_flight: Option<PartInFlight>,
}

impl IncomingPart {
    pub(super) fn new(
        writer: Box<dyn PartWriter>,
        hasher: PartHasher,
        max_size: u64,
        budget: Option<UploadBudget>,
    ) -> IncomingPart {
        IncomingPart {
            writer,
            hasher,
            size: 0,
            max_size,
            budget,
            room: None,
            in_flight: None,
        }
    }

    /// The same part, refused (`507`) as soon as the store goes below its `--min-free-space`.
    pub(super) fn watching_room(self, room: PartRoomWatch) -> IncomingPart {
        IncomingPart {
            room: Some(room),
            ..self
        }
    }

    /// Keeps the part's upload from the stale-upload sweep until the part is committed or
    /// dropped ([`Storage::part_in_flight`](super::Storage::part_in_flight)).
    pub fn keep_upload_alive(&mut self, in_flight: PartInFlight) {
        self.in_flight = Some(in_flight);
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
        if let Some(room) = &mut self.room {
            room.received(self.size).await?;
        }
        // The chunk goes to the writer at once; its hashing may lag a little (the engine's queue),
        // since the digest is needed only at the end.
        self.hasher.update(chunk.clone()).await;
        self.writer.write(chunk).await
    }

    /// The bytes received so far: their digest, the writer holding them, and what keeps their
    /// upload from the sweep until they are committed.
    pub(super) async fn finish(self) -> (Box<dyn PartWriter>, PartDigest, Option<PartInFlight>) {
        let digest = PartDigest {
            md5: self.hasher.finish().await,
            size: self.size,
        };
        (self.writer, digest, self.in_flight)
    }
}
