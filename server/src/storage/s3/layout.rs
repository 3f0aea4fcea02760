//! Every key partup uses in the bucket, and the only code that turns input into keys:
//!
//! ```text
//! PREFIX/uploads/ID/upload.json                 the session, written once at init
//! PREFIX/uploads/ID/parts/NNNNN/TS-MD5          one object per verified version of part NNNNN;
//!                                               the newest TS (nanoseconds at its start) wins
//! PREFIX/uploads/ID/completed.json              the complete request and its answer (24 h)
//! PREFIX/tmp/TS-NONCE                           a part whose fields came after its bytes, until placed
//! PREFIX/objects/KEY                            completed objects; user metadata `partup-etag`
//! PREFIX/events/ID-STEP.json                    a hook event not yet delivered (1: created, 2: its end)
//! ```
//! (`PREFIX` is the operator's root, `--s3-prefix`.) Upload ids are strictly parsed hex; keys were
//! validated by SPEC.md's rules, so no key can reach outside `objects/`.

use std::time::{SystemTime, UNIX_EPOCH};

use partup_wire::{parse_md5_hex, parse_part_number};

use crate::error::AppResult;
use crate::storage::event_queue::EventKey;
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;

/// Under this, one folder per upload.
pub const UPLOADS: &str = "uploads/";
/// Under this, parts received before their form said where they belong.
pub const STAGING: &str = "tmp/";
/// Under this, one object per hook event not yet delivered.
pub const EVENTS: &str = "events/";

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
/// A fresh staging object (time first, so the sweep can also tell its age by name).
pub fn new_staging_object() -> AppResult<String> {
    Ok(format!(
        "{STAGING}{:020}-{}",
        unix_nanos(),
        UploadId::generate()?
    ))
}
pub fn event(key: &EventKey) -> String {
    format!("{EVENTS}{}", key.file_name())
}
/// The event an object under [`EVENTS`] holds, if the key is one of ours.
pub fn event_key_of(path: &str) -> Option<EventKey> {
    EventKey::from_file_name(path.strip_prefix(EVENTS)?)
}
pub fn object(key: &str) -> String {
    format!("objects/{key}")
}

/// The upload a key under [`UPLOADS`] belongs to.
pub fn upload_id_of(path: &str) -> Option<UploadId> {
    let id = path.strip_prefix(UPLOADS)?.split('/').next()?;
    UploadId::parse(id).ok()
}

/// A stored part version, parsed from its key.
#[derive(Debug, Clone)]
pub struct PartVersion {
    pub path: String,
    pub part_number: u32,
    pub started_nanos: u128,
    pub md5: [u8; 16],
}

pub fn parse_part_version(path: &str) -> Option<PartVersion> {
    let rest = path.split("/parts/").nth(1)?;
    let (number, name) = rest.split_once('/')?;
    let (started, md5) = name.split_once('-')?;
    Some(PartVersion {
        path: path.to_owned(),
        part_number: (number.len() == 5)
            .then(|| parse_part_number(number))
            .flatten()?,
        started_nanos: started.parse().ok()?,
        md5: parse_md5_hex(md5)?,
    })
}
