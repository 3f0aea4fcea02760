//! The index of uploads in progress, for listUploads (SPEC.md §5): one empty entry per upload,
//! filed under its owner's folder with a name that sorts newest first, so a page costs a listing
//! of that page's entries (from its marker on) and a look at each upload, whatever else is stored.
//!
//! Like the content index, it is a hint, never the truth: an entry is written before its upload's
//! record (so every upload in progress has one) and removed when the upload completes, is aborted
//! or expires; each listed upload is checked against its records (in progress, whose) before it is
//! shown, and an entry that names nothing in progress is removed then. Entries live in the store
//! (files on disk, objects in the bucket), so they survive restarts and every instance shares them.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::AppResult;
use crate::storage::upload_id::UploadId;

/// The folder of uploads started without a token (anonymous servers).
const ANONYMOUS: &str = "anonymous";
/// Width of the reversed creation time in an entry's name.
const TIME_DIGITS: usize = 20;

/// Whose uploads a folder holds: the SHA-256 of a token's `sub` (fixed-length hex, whatever the
/// issuer put in it), or `anonymous`. One owner's listing never reads another's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerFolder(String);

impl OwnerFolder {
    pub fn of(sub: Option<&str>) -> OwnerFolder {
        match sub {
            Some(sub) => OwnerFolder(hex::encode(Sha256::digest(sub.as_bytes()))),
            None => OwnerFolder(ANONYMOUS.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One upload's entry: its owner's folder and its name, `REVTS-ID`, where `REVTS` is
/// `u64::MAX - created_unix_ms` in 20 digits, so names sort newest first, ties by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    pub owner: OwnerFolder,
    pub name: String,
}

impl UploadEntry {
    pub fn new(owner: OwnerFolder, created_unix_ms: u64, upload_id: &UploadId) -> UploadEntry {
        let reversed = u64::MAX - created_unix_ms;
        UploadEntry {
            owner,
            name: format!("{reversed:0TIME_DIGITS$}-{upload_id}"),
        }
    }

    /// The upload an entry name (a stored one, or a marker from a request) names, with its
    /// creation time; `None` for any other text, which no entry of ours can be.
    pub fn parse_name(name: &str) -> Option<(u64, UploadId)> {
        let (reversed, id) = name.split_once('-')?;
        if reversed.len() != TIME_DIGITS || !reversed.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let created = u64::MAX - reversed.parse::<u64>().ok()?;
        Some((created, UploadId::parse(id).ok()?))
    }
}

/// What a store supplies for listUploads: its index of uploads in progress.
#[async_trait]
pub trait UploadIndex: Send + Sync {
    /// Stores `entry` (empty; its name says everything), durably.
    async fn put_upload_entry(&self, entry: &UploadEntry) -> AppResult<()>;

    /// The names of at most `limit` entries in `owner`'s folder, ascending (newest upload first),
    /// each after `after` when given.
    async fn upload_entries(
        &self,
        owner: &OwnerFolder,
        after: Option<&str>,
        limit: usize,
    ) -> AppResult<Vec<String>>;

    /// Removes `entry` (removing what is gone is fine).
    async fn remove_upload_entry(&self, entry: &UploadEntry) -> AppResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_newest_first_and_parse_back() {
        let (a, b) = (UploadId::generate().unwrap(), UploadId::generate().unwrap());
        let owner = OwnerFolder::of(Some("alice"));
        let older = UploadEntry::new(owner.clone(), 1_000, &a);
        let newer = UploadEntry::new(owner, 2_000, &b);
        assert!(newer.name < older.name);
        assert_eq!(UploadEntry::parse_name(&older.name), Some((1_000, a)));
        for bad in ["", "x", "1-abc", &format!("{}x", newer.name), "../../etc"] {
            assert_eq!(UploadEntry::parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn owner_folders_are_fixed_length_hex_or_anonymous() {
        let folder = OwnerFolder::of(Some("../../etc/passwd"));
        assert_eq!(folder.as_str().len(), 64);
        assert!(folder.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(OwnerFolder::of(None).as_str(), "anonymous");
    }
}
