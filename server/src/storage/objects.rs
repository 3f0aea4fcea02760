//! Reading a completed object: `NoSuchKey`, the byte range asked for resolved against the size, and
//! opening again when a store reports the object replaced between opening and reading it.

use std::ops::Range;
use std::time::SystemTime;

use partup_wire::ErrorCode;

use crate::error::{AppError, AppResult, truncate_for_message};
use crate::storage::backend::{ByteStream, ReadFailure};
use crate::storage::uploads::Storage;

/// How often an object replaced while being opened is opened again.
const OPEN_ATTEMPTS: usize = 3;

/// One byte range as a reader asks for it, before the object's size is known (RFC 9110's forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last`, both inclusive, `last` may lie beyond the end.
    FromTo(u64, u64),
    /// `first-`: to the end.
    From(u64),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The bytes of an object of `size` bytes this range means; `None` when none of them exist.
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        match self {
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => (size > 0).then(|| size.saturating_sub(n)..size),
            ByteRange::From(start) => (start < size).then_some(start..size),
            ByteRange::FromTo(start, end) => (start < size).then(|| start..end.min(size - 1) + 1),
        }
    }
}

/// What is known of an object before its bytes are read: enough to answer conditional requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub etag: String,
    /// When this version was completed; `None` when the store does not say.
    pub last_modified: Option<SystemTime>,
}

/// What to read of an opened object, decided by the caller from its [`ObjectMeta`] (a conditional
/// request may turn into "no body" or "the whole object" only once the etag is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPlan {
    /// The range asked for; `None`: the whole object.
    pub range: Option<ByteRange>,
    /// Whether the bytes are wanted at all (not for HEAD or 304).
    pub with_body: bool,
}

/// What reading an object answers.
pub enum ObjectRead {
    /// The object or the range asked for.
    Found {
        meta: ObjectMeta,
        /// The range served when one was asked for; `None`: the whole object.
        range: Option<Range<u64>>,
        /// The bytes; `None` when the plan asked for none.
        body: Option<ByteStream<'static>>,
    },
    /// The range asked for lies outside the object's `size` bytes.
    Unsatisfiable { size: u64 },
}

impl Storage {
    /// Reads the completed object `resource_key` (`NoSuchKey` when absent) as `plan` decides from
    /// its metadata. `plan` may be called again when the object is replaced meanwhile.
    pub async fn read_object(
        &self,
        resource_key: &str,
        plan: impl Fn(&ObjectMeta) -> ReadPlan,
    ) -> AppResult<ObjectRead> {
        for _attempt in 0..OPEN_ATTEMPTS {
            let Some(object) = self.backend.open_object(resource_key).await? else {
                return Err(AppError::new(
                    ErrorCode::NoSuchKey,
                    format!(
                        "no object is stored under '{}'",
                        truncate_for_message(resource_key)
                    ),
                ));
            };
            let meta = ObjectMeta {
                size: object.size,
                etag: object.etag,
                last_modified: object.last_modified,
            };
            let ReadPlan { range, with_body } = plan(&meta);
            let size = meta.size;
            let served = match range.map(|r| r.resolve(size)) {
                None => None,
                Some(Some(served)) => Some(served),
                Some(None) => return Ok(ObjectRead::Unsatisfiable { size }),
            };
            let body = if with_body {
                match object.reader.read(served.clone().unwrap_or(0..size)).await {
                    Ok(stream) => Some(stream),
                    Err(ReadFailure::Replaced) => continue,
                    Err(ReadFailure::Failed(e)) => return Err(e),
                }
            } else {
                None
            };
            return Ok(ObjectRead::Found {
                meta,
                range: served,
                body,
            });
        }
        Err(AppError::internal(
            "the object kept changing while being read; try again",
        ))
    }
}
