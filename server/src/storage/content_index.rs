//! The content index of instant upload (SPEC.md §1, "Instant upload"): which objects hold content
//! of a given size, part size and multipart etag, so a new upload of the same content can be made
//! from one of them without a byte sent.
//!
//! The index is a hint, never the truth: each entry names an object that held the content when it
//! was completed, and the object's own size and etag are checked again, on the version copied,
//! before any byte of it is used ([`ContentStore::copy_object`]). So an entry left behind by an
//! object replaced since (on this instance or another, or by a crash before its entry was removed)
//! costs a look and is removed; it can never make an upload end with content other than the
//! client's. Entries live in the store itself (files on disk, objects in the bucket), so they
//! survive restarts and every instance over one bucket shares them.

use async_trait::async_trait;
use partup_wire::{ErrorCode, MAX_PART_NUMBER, parse_md5_hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::storage::backend::{Assembled, StoredPart};
use crate::storage::upload_id::UploadId;

/// What instant upload matches on: an object's size, the size of its parts and its multipart etag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprint {
    pub size: u64,
    /// The size of every part but the last (which may be smaller); `0` for content in one part,
    /// which any part size at least as large as the content gives.
    pub part_size: u64,
    /// The multipart etag, lowercase: `<hex>-<parts>`.
    pub etag: String,
}

impl Fingerprint {
    /// The fingerprint a client declares at uploadInit (`size`, `partSize`, `etag`), checked:
    /// a well-formed etag whose part count is the one `size` split into `part_size` parts gives.
    pub fn declared(size: u64, part_size: u64, etag: &str) -> AppResult<Fingerprint> {
        if part_size == 0 {
            return Err(AppError::invalid_argument(
                "partSize must be a whole number of bytes, at least 1",
            ));
        }
        let parts = etag
            .split_once('-')
            .filter(|(digest, _)| parse_md5_hex(digest).is_some())
            .and_then(|(_, count)| {
                (count.bytes().all(|b| b.is_ascii_digit()) && !count.is_empty())
                    .then(|| count.parse::<u64>().ok())
                    .flatten()
            })
            .ok_or_else(|| {
                AppError::invalid_argument(
                    "etag must be the multipart etag of the file's parts: 32 hex digits, '-' and the number of parts",
                )
            })?;
        let expected = size.div_ceil(part_size).max(1);
        // Part numbers run 0–10000: no upload has more parts than that.
        if expected > u64::from(MAX_PART_NUMBER) + 1 {
            return Err(AppError::invalid_argument(format!(
                "{size} bytes in parts of {part_size} bytes are more parts than part numbers (0–{MAX_PART_NUMBER})"
            )));
        }
        if parts != expected {
            return Err(AppError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "etag says {parts} parts, but {size} bytes in parts of {part_size} bytes are {expected}"
                ),
            ));
        }
        Ok(Fingerprint {
            size,
            part_size: if parts == 1 { 0 } else { part_size },
            etag: etag.to_ascii_lowercase(),
        })
    }

    /// The fingerprint of an object completed from `parts` (in order) with `etag`; `None` when its
    /// parts are not all of one size but the last, which no client splitting a file evenly makes.
    pub fn of_parts(parts: &[StoredPart], etag: &str) -> Option<Fingerprint> {
        let size = parts.iter().map(|p| p.digest.size).sum();
        let (last, rest) = parts.split_last()?;
        let part_size = match rest.first() {
            None => 0,
            Some(first) => first.digest.size,
        };
        let even = rest.iter().all(|p| p.digest.size == part_size)
            && (rest.is_empty() || (last.digest.size > 0 && last.digest.size <= part_size));
        even.then(|| Fingerprint {
            size,
            part_size,
            etag: etag.to_ascii_lowercase(),
        })
    }

    /// The number of parts its etag names (`<hex>-N`), as the complete answer gives it.
    pub fn parts(&self) -> u32 {
        self.etag
            .rsplit_once('-')
            .and_then(|(_, parts)| parts.parse().ok())
            .unwrap_or(1)
    }

    /// The name the store files this fingerprint's entries under: hex, fixed length, whatever the
    /// client sent.
    pub fn index_name(&self) -> String {
        let canonical = format!("{}/{}/{}", self.size, self.part_size, self.etag);
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// The name of an object's entry under its fingerprint: one entry per key, however often the key
/// is completed with the same content.
pub fn entry_name(resource_key: &str) -> String {
    hex::encode(Sha256::digest(resource_key.as_bytes()))
}

/// One entry: the object `resource_key` held content with `fingerprint` when it was completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub resource_key: String,
    #[serde(flatten)]
    pub fingerprint: Fingerprint,
}

/// A new object to make from an existing one that holds the same content.
#[derive(Debug, Clone)]
pub struct ObjectCopy {
    /// The upload the new object completes.
    pub upload_id: UploadId,
    pub resource_key: String,
    /// The size and etag the source must still have, on the very version copied.
    pub size: u64,
    pub etag: String,
}

/// What a store supplies for instant upload: its content index, and copies of objects.
#[async_trait]
pub trait ContentStore: Send + Sync {
    /// Stores `entry` (replacing the entry of the same key and fingerprint), atomically.
    async fn put_index_entry(&self, entry: &IndexEntry) -> AppResult<()>;

    /// At most `limit` entries filed under `fingerprint` (in no particular order), each as stored.
    async fn index_entries(
        &self,
        fingerprint: &Fingerprint,
        limit: usize,
    ) -> AppResult<Vec<Vec<u8>>>;

    /// Removes the entry of `resource_key` under `fingerprint` (removing what is gone is fine).
    async fn remove_index_entry(
        &self,
        fingerprint: &Fingerprint,
        resource_key: &str,
    ) -> AppResult<()>;

    /// Makes the object `copy` names from the object `source`, when that still has `copy`'s size
    /// and etag, where no reader sees it until it is published (as [`Assembled`] says); `None`
    /// when `source` is gone or holds other content now. Costs no extra space where the store can
    /// share what it holds (extents on a reflink-capable filesystem, a server-side copy on S3).
    async fn copy_object(&self, source: &str, copy: &ObjectCopy) -> AppResult<Option<Assembled>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::backend::PartDigest;

    fn parts(sizes: &[u64]) -> Vec<StoredPart> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| StoredPart {
                part_number: i as u32 + 1,
                digest: PartDigest { md5: [0; 16], size },
                source: String::new(),
            })
            .collect()
    }

    const ETAG: &str = "0123456789abcdef0123456789ABCDEF";

    #[test]
    fn a_declared_fingerprint_needs_the_part_count_its_sizes_give() {
        let fp = Fingerprint::declared(20, 8, &format!("{ETAG}-3")).expect("3 parts");
        assert_eq!(fp.part_size, 8);
        assert_eq!(fp.etag, format!("{}-3", ETAG.to_ascii_lowercase()));
        for (size, part_size, etag) in [
            (20, 8, format!("{ETAG}-2")),
            (20, 0, format!("{ETAG}-1")),
            (20, 8, format!("{ETAG}3")),
            (20, 8, format!("{ETAG}-")),
            (20, 8, format!("{ETAG}-+3")),
            (20, 8, "xyz-3".to_owned()),
            (20, 8, format!("{}-3", &ETAG[..31])),
            (10002, 1, format!("{ETAG}-10002")),
        ] {
            let refused = Fingerprint::declared(size, part_size, &etag).expect_err(&etag);
            assert_eq!(refused.code, ErrorCode::InvalidArgument, "{etag}");
        }
    }

    #[test]
    fn content_in_one_part_matches_whatever_part_size_was_declared() {
        let empty = Fingerprint::declared(0, 8 << 20, &format!("{ETAG}-1")).expect("0 bytes");
        let small = Fingerprint::declared(5, 8 << 20, &format!("{ETAG}-1")).expect("5 bytes");
        assert_eq!((empty.part_size, small.part_size), (0, 0));
        assert_eq!(Fingerprint::of_parts(&parts(&[0]), ETAG), Some(empty));
        assert_eq!(Fingerprint::of_parts(&parts(&[5]), ETAG), Some(small));
    }

    #[test]
    fn only_evenly_split_objects_have_a_fingerprint() {
        let etag = format!("{ETAG}-3");
        let even = Fingerprint::of_parts(&parts(&[8, 8, 4]), &etag).expect("even");
        assert_eq!((even.size, even.part_size), (20, 8));
        // What a client splitting the same 20 bytes into parts of 8 declares.
        assert_eq!(Fingerprint::declared(20, 8, &etag).ok(), Some(even));
        assert_eq!(Fingerprint::of_parts(&parts(&[8, 4, 8]), ETAG), None);
        assert_eq!(Fingerprint::of_parts(&parts(&[8, 8, 9]), ETAG), None);
        assert_eq!(Fingerprint::of_parts(&parts(&[8, 0]), ETAG), None);
        assert_eq!(Fingerprint::of_parts(&[], ETAG), None);
    }

    #[test]
    fn names_are_fixed_length_hex_whatever_the_input() {
        let fp = Fingerprint::declared(1, 1, &format!("{ETAG}-1")).expect("1 byte");
        for name in [fp.index_name(), entry_name("../../etc/passwd")] {
            assert_eq!(name.len(), 64);
            assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
}
