//! Where everything lives under `--data`, and the only code that turns input into paths.
//!
//! ```text
//! DATA/partup-server.lock       held (flock) by the one server using DATA, holds its pid
//! DATA/tmp/                      staging and assembly (same filesystem, so renames are atomic); emptied at start
//! DATA/uploads/ID/upload.json    the upload's key and start time, written once
//! DATA/uploads/ID/parts/NNNNN    one file per stored part: header (md5, size) + bytes
//! DATA/uploads/ID/completed.json the complete request and its answer, for retries (kept 24 h)
//! DATA/uploads/ID/object.pending an assembled object between its record and its rename (mod.rs)
//! DATA/objects/HH/SHA256(key)    completed objects: header (key, size, etag) + bytes
//! DATA/events/ID-STEP.json       a hook event not yet delivered (STEP 1: created, 2: its end)
//! DATA/index/HH/FP/SHA256(key)   content index: the key held content of fingerprint FP (instant upload)
//! DATA/uploads-index/OWNER/REVTS-ID  upload index: ID is in progress for OWNER (listUploads)
//! ```
//! Keys never become paths: an object's file name is the SHA-256 of its key, so `photos` and
//! `photos/1.jpg` coexist and no key can point outside `DATA`. Upload ids are strictly parsed hex.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::storage::content_index::{self, Fingerprint};
use crate::storage::event_queue::EventKey;
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;
use crate::storage::upload_index::{OwnerFolder, UploadEntry};

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Layout { root }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }
    pub fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }
    pub fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.uploads_dir().join(id.as_str())
    }
    pub fn record(&self, id: &UploadId, record: Record) -> PathBuf {
        self.upload_dir(id).join(record.file_name())
    }
    pub fn parts_dir(&self, id: &UploadId) -> PathBuf {
        self.upload_dir(id).join("parts")
    }
    pub fn part_file(&self, id: &UploadId, part_number: u32) -> PathBuf {
        self.parts_dir(id).join(format!("{part_number:05}"))
    }
    /// Where an assembled object waits, beside the upload's records, for its completion record:
    /// renamed to its object file once that record is stored (see the fs module's header).
    pub fn pending_object(&self, id: &UploadId) -> PathBuf {
        self.upload_dir(id).join("object.pending")
    }
    /// Part number of a file in `parts/`, if the name is one of ours.
    pub fn part_number_of(file_name: &str) -> Option<u32> {
        (file_name.len() == 5)
            .then(|| partup_wire::parse_part_number(file_name))
            .flatten()
    }
    /// Where an upload's directory goes to be deleted: out of `uploads/` in one rename.
    pub fn removed_upload_dir(&self, id: &UploadId) -> PathBuf {
        self.tmp_dir().join(format!("removed-{id}"))
    }
    /// Where a completed upload's parts go to be deleted after the answer.
    pub fn discarded_parts_dir(&self, id: &UploadId) -> PathBuf {
        self.tmp_dir().join(format!("completed-parts-{id}"))
    }
    pub fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }
    pub fn event_file(&self, key: &EventKey) -> PathBuf {
        self.events_dir().join(key.file_name())
    }
    /// The event a file in `events/` holds, if the name is one of ours.
    pub fn event_key_of(file_name: &str) -> Option<EventKey> {
        EventKey::from_file_name(file_name)
    }
    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }
    /// Where the entries of one fingerprint are (its name is fixed-length hex, whatever the client
    /// declared).
    pub fn index_entries_dir(&self, fingerprint: &Fingerprint) -> PathBuf {
        let name = fingerprint.index_name();
        self.index_dir().join(&name[..2]).join(name)
    }
    pub fn index_entry(&self, fingerprint: &Fingerprint, resource_key: &str) -> PathBuf {
        self.index_entries_dir(fingerprint)
            .join(content_index::entry_name(resource_key))
    }
    pub fn uploads_index_dir(&self) -> PathBuf {
        self.root.join("uploads-index")
    }
    /// One owner's folder of the upload index (SHA-256 hex of its `sub`, or `anonymous`).
    pub fn owner_index_dir(&self, owner: &OwnerFolder) -> PathBuf {
        self.uploads_index_dir().join(owner.as_str())
    }
    /// An upload index entry; its name was made by [`UploadEntry::new`] (digits, '-', hex).
    pub fn upload_index_entry(&self, entry: &UploadEntry) -> PathBuf {
        self.owner_index_dir(&entry.owner).join(&entry.name)
    }
    pub fn object_file(&self, resource_key: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(resource_key.as_bytes()));
        self.objects_dir().join(&hash[..2]).join(hash)
    }
}
