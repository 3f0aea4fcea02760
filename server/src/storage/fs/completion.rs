//! A completed object published together with its completion record, and, at start, each
//! publication a crash cut short finished or undone. The protocol and why it is safe are in the
//! header of `fs/mod.rs`.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tempfile::NamedTempFile;

use super::durable_file::{blocking, sync_dir, write_atomic};
use super::layout::Layout;
use super::object_file::{key_of_object_file, object_target};
use crate::error::AppResult;
use crate::storage::backend::HeldObject;
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;

/// An assembled object in `tmp/`, fsynced, that no reader sees yet; deleted when dropped.
pub struct FsHeldObject {
    pub layout: Arc<Layout>,
    pub upload_id: UploadId,
    pub resource_key: String,
    pub staged: NamedTempFile,
}

#[async_trait]
impl HeldObject for FsHeldObject {
    async fn publish(self: Box<Self>, record: &[u8]) -> AppResult<()> {
        let record = record.to_vec();
        let FsHeldObject {
            layout,
            upload_id,
            resource_key,
            staged,
        } = *self;
        blocking(move || publish(&layout, &upload_id, &resource_key, staged, &record)).await
    }
}

/// Steps 2–4 of the protocol: the object beside the records, the record, the rename. A failure
/// before the rename undoes what was done, so nothing changed; its error (a full disk: 507) is
/// returned as the io error it was.
fn publish(
    layout: &Layout,
    id: &UploadId,
    resource_key: &str,
    staged: NamedTempFile,
    record: &[u8],
) -> AppResult<()> {
    // The shard exists before anything is decided, so the final rename has nothing left to create.
    let target = object_target(layout, resource_key)?;
    let pending = layout.pending_object(id);
    // 2. Beside the upload's records (outside tmp/, which is emptied at start).
    staged.persist(&pending).map_err(|e| e.error)?;
    // 3. The completion record decides: from here on the completion is done, even across a crash.
    let decided = sync_dir(&layout.upload_dir(id)).and_then(|()| {
        write_atomic(
            &layout.tmp_dir(),
            &layout.record(id, Record::Completed),
            record,
        )
    });
    if let Err(e) = decided {
        undo(layout, id)?;
        return Err(e.into());
    }
    // 4. The object appears.
    if let Err(e) = fs::rename(&pending, &target) {
        if let Err(undo_error) = undo(layout, id) {
            // Both stay; the next start renames the object in (`recover`).
            tracing::error!(upload_id = %id, "could not show a completed object ({e}) nor take its completion record back ({undo_error}); the next start finishes it");
        }
        return Err(e.into());
    }
    // The pair is whole now; should this fsync fail, a crash leaves the pending object beside its
    // record, which the next start renames in.
    if let Err(e) = sync_dir(
        target
            .parent()
            .expect("object files live in a shard directory"),
    ) {
        tracing::warn!(upload_id = %id, "could not fsync a completed object's directory: {e}");
    }
    Ok(())
}

/// Takes back a publication that did not reach its rename: the record first (it decides), then the
/// pending object.
fn undo(layout: &Layout, id: &UploadId) -> io::Result<()> {
    remove_if_exists(&layout.record(id, Record::Completed))?;
    sync_dir(&layout.upload_dir(id))?;
    remove_if_exists(&layout.pending_object(id))
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// At start, before anything is served: every upload's publication that a crash cut short is
/// finished (record stored: the pending object is renamed in) or undone (no record: the pending
/// object is deleted); the parts of completed uploads that a crash kept are freed. Fails only when
/// an upload can be neither finished nor undone.
pub fn recover(layout: &Layout) -> io::Result<()> {
    for entry in fs::read_dir(layout.uploads_dir())? {
        let Some(id) = entry?
            .file_name()
            .to_str()
            .and_then(|name| UploadId::parse(name).ok())
        else {
            continue;
        };
        recover_upload(layout, &id)
            .map_err(|e| io::Error::new(e.kind(), format!("upload {id}: {e}")))?;
    }
    Ok(())
}

fn recover_upload(layout: &Layout, id: &UploadId) -> io::Result<()> {
    let pending = layout.pending_object(id);
    let completed = layout.record(id, Record::Completed).exists();
    if pending.exists() {
        if !completed {
            remove_if_exists(&pending)?;
            sync_dir(&layout.upload_dir(id))?;
        } else if let Err(e) = show_pending(layout, &pending) {
            // The parts are still there (they are freed only after the rename): undone, the
            // upload is in progress again and its complete can be repeated.
            tracing::warn!(upload_id = %id, "could not finish the completion a crash interrupted ({e}); undoing it");
            undo(layout, id)?;
            return Ok(());
        } else {
            tracing::info!(upload_id = %id, "finished the completion a crash interrupted");
        }
    }
    if completed {
        match fs::remove_dir_all(layout.parts_dir(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::warn!(upload_id = %id, "could not free the parts of a completed upload: {e}");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Renames a pending object (its key is in its header) to its object file, durably.
fn show_pending(layout: &Layout, pending: &Path) -> io::Result<()> {
    let key = key_of_object_file(pending)?;
    let target = object_target(layout, &key)?;
    fs::rename(pending, &target)?;
    sync_dir(
        target
            .parent()
            .expect("object files live in a shard directory"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::backend::{AssemblyPlan, PartDigest, StoredPart};
    use crate::storage::fs::object_file::{assemble_staged, open_object};
    use crate::storage::fs::part_file::read_stored_parts;

    /// A data directory with one upload of two stored parts (`b"hello "`, `b"world"`).
    fn data_with_upload() -> (tempfile::TempDir, Layout, UploadId, AssemblyPlan) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        for d in [layout.uploads_dir(), layout.objects_dir(), layout.tmp_dir()] {
            fs::create_dir_all(d).unwrap();
        }
        let id = UploadId::generate().unwrap();
        fs::create_dir_all(layout.parts_dir(&id)).unwrap();
        fs::write(layout.record(&id, Record::Upload), b"{}").unwrap();
        let mut parts = Vec::new();
        for (number, bytes) in [(1u32, &b"hello "[..]), (2, &b"world"[..])] {
            let file = fs::File::create(layout.part_file(&id, number)).unwrap();
            let md5 = [number as u8; 16];
            let header = serde_json::json!({"md5": hex::encode(md5), "size": bytes.len()});
            super::super::durable_file::write_header(&file, &header).unwrap();
            use std::os::unix::fs::FileExt;
            file.write_all_at(bytes, super::super::durable_file::HEADER_LEN)
                .unwrap();
            let digest = PartDigest {
                md5,
                size: bytes.len() as u64,
            };
            parts.push(StoredPart {
                part_number: number,
                digest,
                source: String::new(),
            });
        }
        let plan = AssemblyPlan {
            upload_id: id.clone(),
            resource_key: "greeting.txt".into(),
            size: 11,
            etag: "etag-2".into(),
            parts,
        };
        (dir, layout, id, plan)
    }

    fn object_size(layout: &Layout, key: &str) -> Option<u64> {
        open_object(layout, key).unwrap().map(|object| object.size)
    }

    fn tmp_is_empty(layout: &Layout) -> bool {
        fs::read_dir(layout.tmp_dir()).unwrap().next().is_none()
    }

    #[test]
    fn a_publication_shows_the_object_and_its_record_together() {
        let (_dir, layout, id, plan) = data_with_upload();
        let staged = assemble_staged(&layout, &plan).unwrap();
        assert_eq!(object_size(&layout, "greeting.txt"), None);
        publish(&layout, &id, "greeting.txt", staged, b"{\"done\":1}").unwrap();
        assert_eq!(object_size(&layout, "greeting.txt"), Some(11));
        assert_eq!(
            fs::read(layout.record(&id, Record::Completed)).unwrap(),
            b"{\"done\":1}"
        );
        assert!(!layout.pending_object(&id).exists());
        assert!(tmp_is_empty(&layout));
    }

    #[test]
    fn a_dropped_held_object_leaves_nothing() {
        let (_dir, layout, id, plan) = data_with_upload();
        drop(assemble_staged(&layout, &plan).unwrap());
        assert!(tmp_is_empty(&layout));
        assert!(!layout.record(&id, Record::Completed).exists());
        assert_eq!(object_size(&layout, "greeting.txt"), None);
    }

    #[test]
    fn a_crash_after_the_record_is_finished_at_start() {
        let (_dir, layout, id, plan) = data_with_upload();
        // The state a crash between steps 3 and 4 leaves.
        let staged = assemble_staged(&layout, &plan).unwrap();
        staged.persist(layout.pending_object(&id)).unwrap();
        fs::write(layout.record(&id, Record::Completed), b"{}").unwrap();
        recover(&layout).unwrap();
        assert_eq!(object_size(&layout, "greeting.txt"), Some(11));
        assert!(!layout.pending_object(&id).exists());
        assert!(layout.record(&id, Record::Completed).exists());
        // The parts of the completed upload were freed.
        assert!(!layout.parts_dir(&id).exists());
    }

    #[test]
    fn a_crash_before_the_record_is_undone_at_start() {
        let (_dir, layout, id, plan) = data_with_upload();
        // The state a crash between steps 2 and 3 leaves.
        let staged = assemble_staged(&layout, &plan).unwrap();
        staged.persist(layout.pending_object(&id)).unwrap();
        recover(&layout).unwrap();
        assert_eq!(object_size(&layout, "greeting.txt"), None);
        assert!(!layout.pending_object(&id).exists());
        assert!(!layout.record(&id, Record::Completed).exists());
        // Still in progress, with its parts: the complete can be repeated.
        assert_eq!(read_stored_parts(&layout, &id).unwrap().len(), 2);
    }

    #[test]
    fn a_pending_object_that_cannot_be_read_is_undone_not_shown() {
        let (_dir, layout, id, _plan) = data_with_upload();
        fs::write(layout.pending_object(&id), b"not an object").unwrap();
        fs::write(layout.record(&id, Record::Completed), b"{}").unwrap();
        recover(&layout).unwrap();
        assert!(!layout.pending_object(&id).exists());
        assert!(!layout.record(&id, Record::Completed).exists());
        assert_eq!(read_stored_parts(&layout, &id).unwrap().len(), 2);
    }
}
