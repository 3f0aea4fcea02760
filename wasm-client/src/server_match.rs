//! Finding this file's unfinished upload on the server, without `localStorage`: what the client
//! stores with an upload at uploadInit (`metadata`, SPEC.md §1), and which uploads `listUploads`
//! answered (SPEC.md §5) may be this file's.
//!
//! Metadata only *nominates* candidates. It is what any client with the same rights wrote, and
//! two different files often share a name and size (`IMG_0001.JPG`, an edited export), so a
//! candidate is used only after the MD5s of the parts it holds matched the local file's bytes
//! (`upload.rs`). Pure, unit-tested natively.

use crate::slicing::PartPlan;
use partup_wire::{Metadata, UploadSummary};
use wasm_bindgen::JsCast;
use web_sys::{Blob, File};

/// Metadata keys the client writes; the app's own keys (the `metadata` upload option) may not
/// start with [`RESERVED_PREFIX`].
pub const NAME: &str = "partup.name";
pub const SIZE: &str = "partup.size";
pub const LAST_MODIFIED: &str = "partup.lastModified";
pub const PART_SIZE: &str = "partup.partSize";
pub const RESERVED_PREFIX: &str = "partup.";

/// Candidates verified at most per upload: each costs a listParts and hashing until the first
/// part that differs (usually the first part).
pub const MOST_CANDIDATES: usize = 3;

/// What identifies a local file, as far as the browser tells (a plain Blob has no name and no
/// time: empty and 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub name: String,
    pub size: u64,
    pub last_modified: u64,
}

impl LocalFile {
    /// What the browser tells of `file`: a `File`'s name and time, a plain Blob's size alone.
    pub fn of(file: &Blob) -> LocalFile {
        let (name, last_modified) = match file.dyn_ref::<File>() {
            Some(f) => (f.name(), f.last_modified() as u64),
            None => (String::new(), 0),
        };
        LocalFile {
            name,
            size: file.size() as u64,
            last_modified,
        }
    }
}

/// The file an upload on the server was started for, read back from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedFile {
    pub name: String,
    pub size: u64,
    pub last_modified: u64,
    pub part_size: u64,
}

/// A server upload that may hold this file's parts, with the plan it was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub upload_id: String,
    pub plan: PartPlan,
}

/// A name as stored: at most the server's 1024 bytes per value, cut at a character boundary.
/// Matching compares names cut the same way.
fn stored_name(name: &str) -> &str {
    let mut end = name.len().min(partup_wire::MAX_METADATA_VALUE_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    // `get`, not `[..end]`: a slice that can panic links the panic's message formatting (4 KB of
    // the .wasm) for a cut that is at a boundary anyway.
    name.get(..end).unwrap_or_default()
}

/// The metadata sent with uploadInit: the app's own entries and the file's description.
pub fn file_metadata(file: &LocalFile, part_size: u64, app: &Metadata) -> Metadata {
    let mut metadata = app.clone();
    metadata.insert(NAME.into(), stored_name(&file.name).into());
    metadata.insert(SIZE.into(), file.size.to_string());
    metadata.insert(LAST_MODIFIED.into(), file.last_modified.to_string());
    metadata.insert(PART_SIZE.into(), part_size.to_string());
    metadata
}

/// The file described by `metadata`; `None` when the upload was not started by this client.
pub fn described_file(metadata: &Metadata) -> Option<DescribedFile> {
    let number = |key: &str| metadata.get(key)?.parse::<u64>().ok();
    Some(DescribedFile {
        name: metadata.get(NAME)?.clone(),
        size: number(SIZE)?,
        last_modified: number(LAST_MODIFIED)?,
        part_size: number(PART_SIZE)?,
    })
}

/// The uploads among `listed` that may be `file`'s under `resource_key`, best first: same key,
/// name and size, a part size this client can still use (`min_part_size..=max_part_size`, or one
/// part); those with the same modification time before the others (a copy on another device
/// often has another), newest first within each (`listed` is newest first).
pub fn candidates(
    listed: &[UploadSummary],
    resource_key: &str,
    file: &LocalFile,
    (min_part_size, max_part_size): (u64, u64),
) -> Vec<Candidate> {
    let found: Vec<(bool, Candidate)> = listed
        .iter()
        .filter(|upload| upload.resource_key == resource_key)
        .filter_map(|upload| {
            let described = described_file(&upload.metadata)?;
            let same_file =
                described.name == stored_name(&file.name) && described.size == file.size;
            let plan = PartPlan::resumed(file.size, described.part_size)?;
            let usable = plan.part_size <= max_part_size
                && (plan.part_count == 1 || plan.part_size >= min_part_size);
            (same_file && usable).then(|| {
                let candidate = Candidate {
                    upload_id: upload.upload_id.clone(),
                    plan,
                };
                (described.last_modified == file.last_modified, candidate)
            })
        })
        .collect();
    // A partition, which keeps the listing's newest-first order within each group, rather than a
    // stable sort (3.5 KB of the .wasm for a list of a few).
    let (same_time, other): (Vec<_>, Vec<_>) = found.into_iter().partition(|(same, _)| *same);
    (same_time.into_iter().chain(other))
        .map(|(_, candidate)| candidate)
        .take(MOST_CANDIDATES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: (u64, u64) = (100 << 10, 100 << 20);

    fn file(name: &str, size: u64, last_modified: u64) -> LocalFile {
        LocalFile {
            name: name.into(),
            size,
            last_modified,
        }
    }

    fn listed(id: &str, key: &str, metadata: Metadata) -> UploadSummary {
        UploadSummary {
            upload_id: id.into(),
            resource_key: key.into(),
            initiated: "2026-11-26T08:00:00.000Z".into(),
            last_modified: "2026-11-26T08:00:00.000Z".into(),
            parts_stored: 1,
            bytes_stored: 1,
            metadata,
        }
    }

    #[test]
    fn metadata_written_for_a_file_reads_back_as_that_file() {
        let clip = file("clip.mp4", 20 << 20, 1_700_000_000_123);
        let mut app = Metadata::new();
        app.insert("album".into(), "holidays".into());
        let metadata = file_metadata(&clip, 8 << 20, &app);
        assert_eq!(metadata["album"], "holidays");
        assert_eq!(metadata[SIZE], "20971520");
        assert_eq!(
            described_file(&metadata),
            Some(DescribedFile {
                name: "clip.mp4".into(),
                size: 20 << 20,
                last_modified: 1_700_000_000_123,
                part_size: 8 << 20,
            })
        );
        assert!(partup_wire::validate_metadata(&metadata).is_ok());
    }

    #[test]
    fn a_name_longer_than_a_metadata_value_is_cut_at_a_character_and_still_matches() {
        let long = "é".repeat(700); // 1400 bytes
        let local = file(&long, 1 << 20, 5);
        let metadata = file_metadata(&local, 1 << 20, &Metadata::new());
        assert!(metadata[NAME].len() <= 1024 && metadata[NAME].len() >= 1023);
        assert!(partup_wire::validate_metadata(&metadata).is_ok());
        let found = candidates(&[listed("u1", "k", metadata)], "k", &local, LIMITS);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn metadata_not_written_by_this_client_describes_no_file() {
        let mut metadata = Metadata::new();
        metadata.insert(NAME.into(), "clip.mp4".into());
        metadata.insert(SIZE.into(), "not a number".into());
        metadata.insert(LAST_MODIFIED.into(), "1".into());
        metadata.insert(PART_SIZE.into(), "1".into());
        assert_eq!(described_file(&metadata), None);
        assert_eq!(described_file(&Metadata::new()), None);
    }

    #[test]
    fn only_uploads_of_the_same_key_name_and_size_are_candidates() {
        let local = file("clip.mp4", 20 << 20, 7);
        let same = |f: &LocalFile| file_metadata(f, 8 << 20, &Metadata::new());
        let uploads = [
            listed("other-key", "other/clip.mp4", same(&local)),
            listed("other-name", "k", same(&file("clap.mp4", 20 << 20, 7))),
            listed("other-size", "k", same(&file("clip.mp4", 21 << 20, 7))),
            listed("no-metadata", "k", Metadata::new()),
            listed("match", "k", same(&local)),
        ];
        let found = candidates(&uploads, "k", &local, LIMITS);
        let ids: Vec<&str> = found.iter().map(|c| c.upload_id.as_str()).collect();
        assert_eq!(ids, ["match"]);
        assert_eq!(found[0].plan, PartPlan::resumed(20 << 20, 8 << 20).unwrap());
    }

    #[test]
    fn the_same_modification_time_comes_first_then_the_newest_and_at_most_three() {
        let local = file("clip.mp4", 20 << 20, 7);
        let with_time =
            |t| file_metadata(&file("clip.mp4", 20 << 20, t), 8 << 20, &Metadata::new());
        let uploads = [
            listed("newest-other-time", "k", with_time(9)),
            listed("newer-same-time", "k", with_time(7)),
            listed("older-other-time", "k", with_time(8)),
            listed("older-same-time", "k", with_time(7)),
            listed("oldest-other-time", "k", with_time(1)),
        ];
        let found = candidates(&uploads, "k", &local, LIMITS);
        let ids: Vec<&str> = found.iter().map(|c| c.upload_id.as_str()).collect();
        assert_eq!(
            ids,
            ["newer-same-time", "older-same-time", "newest-other-time"]
        );
    }

    #[test]
    fn a_part_size_this_client_cannot_use_is_no_candidate() {
        let local = file("clip.mp4", 20 << 20, 7);
        let with_part = |p| file_metadata(&local, p, &Metadata::new());
        let uploads = [
            listed("too-small", "k", with_part(1 << 10)),
            listed("too-big", "k", with_part(200 << 20)),
            listed("zero", "k", with_part(0)),
            listed("too-many-parts", "k", with_part(1)),
            listed("fine", "k", with_part(5 << 20)),
        ];
        let found = candidates(&uploads, "k", &local, LIMITS);
        let ids: Vec<&str> = found.iter().map(|c| c.upload_id.as_str()).collect();
        assert_eq!(ids, ["fine"]);
        // One part may be smaller than the minimum.
        let small = file("a.txt", 10, 1);
        let one_part = [listed(
            "one",
            "k",
            file_metadata(&small, 1 << 10, &Metadata::new()),
        )];
        assert_eq!(candidates(&one_part, "k", &small, LIMITS).len(), 1);
    }
}
