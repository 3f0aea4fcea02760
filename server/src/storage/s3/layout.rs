//! Every key partup uses in the bucket, and the only code that turns input into keys:
//!
//! ```text
//! PREFIX/uploads/ID/upload.json                 the session, written once at init
//! PREFIX/uploads/ID/parts/NNNNN/TS-MD5          one object per verified version of part NNNNN;
//!                                               the newest TS (nanoseconds at its start) wins
//! PREFIX/uploads/ID/completed.json              the complete request and its answer (24 h)
//! PREFIX/uploads/ID/lease.json                  who is completing or aborting it, until when
//! PREFIX/uploads/ID/direct                      a direct upload's parts: the store's own
//!                                               multipart upload, then what completing it made
//! PREFIX/uploads/ID/direct-parts.json           the parts a complete of a direct upload chose
//! PREFIX/tmp/TS-NONCE                           a part whose fields came after its bytes, until placed
//! PREFIX/objects/KEY                            completed objects; user metadata `partup-etag`
//! PREFIX/events/ID-STEP.json                    a hook event not yet delivered (1: created, 2: its end)
//! PREFIX/index/FP/SHA256(KEY)                   content index: KEY held content of fingerprint FP
//! PREFIX/uploads-index/OWNER/REVTS-ID           upload index: ID in progress for OWNER (listUploads)
//! ```
//! (`PREFIX` is the operator's root, `--s3-prefix`.) Upload ids are strictly parsed hex; keys were
//! validated by SPEC.md's rules, so no key can reach outside `objects/`.
//!
//! A bucket may be shared with other applications, so nothing is deleted, listed as an upload or
//! aborted unless its key parses back into one of the shapes above ([`is_upload_key`],
//! [`is_staging_object`], [`owns_multipart_key`]): a foreign `uploads/notes.txt` or `tmp/cache` survives
//! every sweep.

use std::time::{SystemTime, UNIX_EPOCH};

use partup_wire::{parse_md5_hex, parse_part_number, validate_resource_key};

use crate::error::AppResult;
use crate::storage::content_index::{self, Fingerprint};
use crate::storage::event_queue::EventKey;
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;
use crate::storage::upload_index::{OwnerFolder, UploadEntry};

/// Under this, one folder per upload.
pub const UPLOADS: &str = "uploads/";
/// Under this, parts received before their form said where they belong.
pub const STAGING: &str = "tmp/";
/// Under this, one object per hook event not yet delivered.
pub const EVENTS: &str = "events/";
/// Under this, completed objects.
pub const OBJECTS: &str = "objects/";
/// Under this, the content index of instant upload.
pub const INDEX: &str = "index/";
/// Under this, the upload index of listUploads, one folder per owner.
pub const UPLOADS_INDEX: &str = "uploads-index/";
/// The lease of an upload being completed or aborted (`lease.rs`).
const LEASE: &str = "lease.json";
/// A direct upload's parts (SPEC.md §6), and the list a complete chose from them (`direct.rs`).
const DIRECT: &str = "direct";
const DIRECT_PARTS: &str = "direct-parts.json";

/// S3's limit on a key's length, in bytes (AWS, and what MinIO, Ceph and Garage accept).
pub const MAX_STORE_KEY_BYTES: usize = 1024;
/// Width of a part number in keys (`00001`), and of a time in nanoseconds (`TS`).
const PART_NUMBER_DIGITS: usize = 5;
const NANOS_DIGITS: usize = 20;
/// The longest key of an upload's own (its part versions: `uploads/ID/parts/NNNNN/TS-MD5`), and
/// of a staging object (`tmp/TS-ID`), without the prefix.
const LONGEST_UPLOAD_KEY: usize =
    UPLOADS.len() + 32 + "/parts/".len() + PART_NUMBER_DIGITS + 1 + NANOS_DIGITS + 1 + 32;
/// The key of a content index entry (`index/FP/SHA256(KEY)`, two SHA-256s in hex).
const INDEX_ENTRY_KEY: usize = INDEX.len() + 64 + 1 + 64;
/// The key of an upload index entry (`uploads-index/OWNER/REVTS-ID`: a SHA-256 in hex, 20 digits
/// and an upload id).
const UPLOAD_INDEX_ENTRY_KEY: usize = UPLOADS_INDEX.len() + 64 + 1 + NANOS_DIGITS + 1 + 32;
/// The longest key partup writes that does not depend on the resource key's length.
const LONGEST_OWN_KEY: usize = max(
    LONGEST_UPLOAD_KEY,
    max(INDEX_ENTRY_KEY, UPLOAD_INDEX_ENTRY_KEY),
);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// The operator's root for `--s3-prefix`: every key below lives under it.
pub fn root(prefix: &str) -> String {
    format!("/{}", prefix.trim_matches('/'))
}

/// What the root adds before every key in the bucket: `PREFIX/`, or nothing.
pub fn root_key_prefix(prefix: &str) -> String {
    match prefix.trim_matches('/') {
        "" => String::new(),
        trimmed => format!("{trimmed}/"),
    }
}

/// The longest resource key whose every key (the object's `PREFIX/objects/KEY`, and the upload's
/// own, which do not depend on it) fits the store's limit; `None` when even the upload's own keys
/// do not fit under `prefix`.
pub fn max_resource_key_bytes(prefix: &str) -> Option<usize> {
    let room = MAX_STORE_KEY_BYTES.checked_sub(root_key_prefix(prefix).len())?;
    room.checked_sub(LONGEST_OWN_KEY)?;
    Some(room - OBJECTS.len())
}
pub fn upload_prefix(id: &UploadId) -> String {
    format!("{UPLOADS}{id}/")
}
pub fn record(id: &UploadId, record: Record) -> String {
    format!("{}{}", upload_prefix(id), record.file_name())
}
pub fn parts_prefix(id: &UploadId) -> String {
    format!("{}parts/", upload_prefix(id))
}
/// Where the versions of one part are.
pub fn part_versions_prefix(id: &UploadId, part_number: u32) -> String {
    format!("{}{part_number:05}/", parts_prefix(id))
}
/// A new version of a part, named by the time it starts, so the newest can win.
pub fn new_part_version(id: &UploadId, part_number: u32, md5_hex: &str) -> String {
    format!(
        "{}{:020}-{md5_hex}",
        part_versions_prefix(id, part_number),
        unix_nanos()
    )
}
pub fn lease(id: &UploadId) -> String {
    format!("{}{LEASE}", upload_prefix(id))
}

/// Where a direct upload's parts are: the key of the store's multipart upload holding them.
pub fn direct_object(id: &UploadId) -> String {
    format!("{}{DIRECT}", upload_prefix(id))
}

/// The parts a complete of a direct upload chose, written before it completes the store's upload.
pub fn direct_parts_record(id: &UploadId) -> String {
    format!("{}{DIRECT_PARTS}", upload_prefix(id))
}

/// Whether `path` is where a direct upload's parts are.
pub fn is_direct_object(path: &str) -> bool {
    upload_id_of(path).is_some_and(|id| path == direct_object(&id))
}
/// A fresh staging object (time first, so the sweep can also tell its age by name).
pub fn new_staging_object() -> AppResult<String> {
    Ok(format!(
        "{STAGING}{:020}-{}",
        unix_nanos(),
        UploadId::generate()?
    ))
}
/// Whether `path` is a staging object partup made (`tmp/TS-ID`), not another application's.
pub fn is_staging_object(path: &str) -> bool {
    let Some((started, id)) = path
        .strip_prefix(STAGING)
        .and_then(|name| name.split_once('-'))
    else {
        return false;
    };
    started.len() == NANOS_DIGITS
        && started.bytes().all(|b| b.is_ascii_digit())
        && UploadId::parse(id).is_ok()
}
pub fn event(key: &EventKey) -> String {
    format!("{EVENTS}{}", key.file_name())
}
/// The event an object under [`EVENTS`] holds, if the key is one of ours.
pub fn event_key_of(path: &str) -> Option<EventKey> {
    EventKey::from_file_name(path.strip_prefix(EVENTS)?)
}
/// Where the entries of one fingerprint are (its name is fixed-length hex, whatever the client
/// declared).
pub fn index_entries_prefix(fingerprint: &Fingerprint) -> String {
    format!("{INDEX}{}/", fingerprint.index_name())
}
pub fn index_entry(fingerprint: &Fingerprint, resource_key: &str) -> String {
    format!(
        "{}{}",
        index_entries_prefix(fingerprint),
        content_index::entry_name(resource_key)
    )
}
/// Where one owner's entries of the upload index are.
pub fn owner_index_prefix(owner: &OwnerFolder) -> String {
    format!("{UPLOADS_INDEX}{}/", owner.as_str())
}
/// An upload index entry (its name was made by [`UploadEntry::new`]).
pub fn upload_index_entry(entry: &UploadEntry) -> String {
    format!("{}{}", owner_index_prefix(&entry.owner), entry.name)
}
pub fn object(key: &str) -> String {
    format!("{OBJECTS}{key}")
}

/// The upload a key under [`UPLOADS`] belongs to, when it is one of the upload's own keys (a
/// record, the lease, a part version, a direct upload's parts); another application's key there
/// belongs to none.
pub fn upload_id_of(path: &str) -> Option<UploadId> {
    let (id, rest) = path.strip_prefix(UPLOADS)?.split_once('/')?;
    let id = UploadId::parse(id).ok()?;
    let own = [
        Record::Upload.file_name(),
        Record::Completed.file_name(),
        LEASE,
        DIRECT,
        DIRECT_PARTS,
    ]
    .contains(&rest)
        || parse_part_version(path).is_some();
    own.then_some(id)
}

/// Whether `path` is one of an upload's own keys (see [`upload_id_of`]).
pub fn is_upload_key(path: &str) -> bool {
    upload_id_of(path).is_some()
}

/// When partup started writing `path`, for a part version or a staging object (whose keys begin
/// with their time): the age a store's own clock cannot get wrong.
pub fn started_at(path: &str) -> Option<SystemTime> {
    let nanos = match parse_part_version(path) {
        Some(version) => version.started_nanos,
        None if is_staging_object(path) => path
            .strip_prefix(STAGING)?
            .split('-')
            .next()?
            .parse()
            .ok()?,
        None => return None,
    };
    let nanos = u64::try_from(nanos).ok()?;
    Some(UNIX_EPOCH + std::time::Duration::from_nanos(nanos))
}

/// Whether a multipart upload of `path` (a key relative to the root) is one partup starts: a part
/// version, a staging object, or a completed object being assembled.
pub fn owns_multipart_key(path: &str) -> bool {
    is_upload_key(path)
        || is_staging_object(path)
        || path
            .strip_prefix(OBJECTS)
            .is_some_and(|key| validate_resource_key(key).is_ok())
}

/// A stored part version, parsed from its key.
#[derive(Debug, Clone)]
pub struct PartVersion {
    pub path: String,
    pub part_number: u32,
    pub started_nanos: u128,
    pub md5: [u8; 16],
}

/// A part version's key `uploads/ID/parts/NNNNN/TS-MD5`, parsed; `None` for any other key.
pub fn parse_part_version(path: &str) -> Option<PartVersion> {
    let (id, rest) = path.strip_prefix(UPLOADS)?.split_once("/parts/")?;
    UploadId::parse(id).ok()?;
    let (number, name) = rest.split_once('/')?;
    let (started, md5) = name.split_once('-')?;
    Some(PartVersion {
        path: path.to_owned(),
        part_number: (number.len() == PART_NUMBER_DIGITS)
            .then(|| parse_part_number(number))
            .flatten()?,
        started_nanos: (started.len() == NANOS_DIGITS
            && started.bytes().all(|b| b.is_ascii_digit()))
        .then(|| started.parse().ok())
        .flatten()?,
        md5: parse_md5_hex(md5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> UploadId {
        UploadId::generate().expect("random id")
    }

    #[test]
    fn only_partup_shaped_keys_belong_to_it() {
        let id = id();
        let part = new_part_version(&id, 7, &"ab".repeat(16));
        assert!(is_upload_key(&part) && owns_multipart_key(&part));
        assert!(is_upload_key(&record(&id, Record::Completed)));
        assert!(is_upload_key(&lease(&id)));
        assert!(is_direct_object(&direct_object(&id)) && owns_multipart_key(&direct_object(&id)));
        assert!(
            is_upload_key(&direct_parts_record(&id))
                && !is_direct_object(&direct_parts_record(&id))
        );
        let staged = new_staging_object().expect("staging key");
        assert!(is_staging_object(&staged) && owns_multipart_key(&staged));
        let now = SystemTime::now();
        for started in [started_at(&staged), started_at(&part)] {
            let age = now
                .duration_since(started.expect("a time"))
                .expect("in the past");
            assert!(age < std::time::Duration::from_secs(5));
        }
        assert!(owns_multipart_key(&object("videos/clip.mp4")));
        for foreign in [
            "uploads/notes.txt",
            "uploads/backup/upload.json",
            &format!("uploads/{id}/notes.txt"),
            &format!("uploads/{id}/parts/00001/not-a-version"),
            &format!("uploads/{id}/parts/00001/{:020}-{}x", 1, "ab".repeat(16)),
            "tmp/cache.bin",
            "tmp/00000000000000000001-zz",
            "objects/",
            "objects/a//b",
            "other/thing",
        ] {
            assert!(!is_upload_key(foreign), "{foreign}");
            assert!(!is_staging_object(foreign), "{foreign}");
            assert!(!owns_multipart_key(foreign), "{foreign}");
        }
    }

    #[test]
    fn the_longest_resource_key_leaves_room_for_the_prefix_and_the_layout() {
        assert_eq!(max_resource_key_bytes(""), Some(1024 - "objects/".len()));
        assert_eq!(max_resource_key_bytes("/team/a/"), Some(1024 - 7 - 8));
        let id = id();
        let longest = new_part_version(&id, 10_000, &"ab".repeat(16));
        assert_eq!(longest.len(), LONGEST_UPLOAD_KEY);
        let fingerprint = Fingerprint {
            size: 1,
            part_size: 0,
            etag: format!("{}-1", "ab".repeat(16)),
        };
        assert_eq!(index_entry(&fingerprint, "k").len(), INDEX_ENTRY_KEY);
        let tight = "p".repeat(1024 - LONGEST_OWN_KEY - 1);
        assert!(max_resource_key_bytes(&tight).is_some());
        assert_eq!(max_resource_key_bytes(&format!("{tight}p")), None);
    }
}
