//! The filesystem backend: uploads, parts and objects as files under `--data` (see `layout.rs`).
//!
//! Durability rules, each the reason for an fsync: a part is acknowledged only after its file is
//! fsynced, renamed into place and its directory fsynced (`part_file.rs`); an upload's records are
//! written with [`write_atomic`]. A crash therefore leaves only whole files in `uploads/` and
//! `objects/`, and debris in `tmp/`, which is emptied at start (and swept when old). State changes of
//! one upload are serialised by [`KeyedLocks`]; readers need no lock.
//!
//! **A complete publishes the object and its completion record together** (`completion.rs`): a
//! complete that fails, or a crash at any moment, leaves both or neither, never a new object whose
//! upload still looks in progress, nor a record that answers 200 for an object that is not there.
//!
//! 1. The object is assembled in `tmp/` and fsynced. (Fails, a full disk included: the temporary
//!    file is deleted; nothing changed. Crash: debris in `tmp/`, emptied at start.)
//! 2. It is renamed to `uploads/ID/object.pending`, beside the upload's records (out of `tmp/`, so
//!    a restart does not empty it away).
//! 3. `completed.json` is written durably ([`write_atomic`]): **this decides**. (Fails: the record
//!    and the pending object are deleted, the upload is still in progress with all its parts.)
//! 4. `object.pending` is renamed to its object file, replacing the previous object at once, and
//!    the shard directory fsynced. (Fails: the record is taken back, as in 3.)
//! 5. The parts are freed.
//!
//! Recovery at start ([`completion::recover`], before anything is served): an `object.pending`
//! with a `completed.json` beside it is renamed in (the crash came between 3 and 4: the completion
//! was decided); one without is deleted (between 2 and 3: the upload is still in progress, its parts
//! untouched, the complete can be repeated); a completed upload's parts left by a crash between 4
//! and 5 are freed. Within a running server, 2–4 happen under the upload's lock (and the object
//! key's), so no request sees the record without the object.
//!
//! **Full disks.** Every write here surfaces a full disk as the `io::Error` the kernel gave
//! (`StorageFull`), which becomes `507 InsufficientStorage`; nothing on the way (`blocking`, the
//! durable-file helpers, the assembly) turns it into text first. A write that fails deletes what
//! it staged (a part's temporary file, an assembled object, a record's temporary file), so a full
//! disk leaves no debris and every acknowledged part and completed object as it was. The floor
//! that keeps the disk from filling in the first place (`--min-free-space`) is storage's rule
//! (`space_floor.rs`); this backend only reports the room ([`free_space::probe`]).

mod activity;
mod completion;
mod content;
pub mod data_lock;
mod durable_file;
mod events;
pub mod free_space;
mod layout;
mod object_file;
mod part_file;
mod upload_index;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use self::completion::FsHeldObject;
use self::data_lock::{DataDirLock, LockError, lock_data_dir};
use self::durable_file::{blocking, read_if_exists, sync_dir, write_atomic};
use self::free_space::DiskSpace;
use self::layout::Layout;
use self::part_file::{FsPartWriter, read_stored_parts};
use crate::error::AppResult;
use crate::storage::backend::{
    AssembleFailure, Assembled, AssemblyPlan, Backend, OpenedObject, PartDestination, PartWriter,
    StoredPart, UploadActivity, UploadLock,
};
use crate::storage::keyed_locks::KeyedLocks;
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;

pub struct FsBackend {
    layout: Arc<Layout>,
    locks: KeyedLocks,
    /// This process's claim on the directory, held as long as the backend.
    _data_lock: DataDirLock,
}

impl FsBackend {
    /// Opens (creating if needed) a data directory: takes its lock, finishes or undoes the
    /// completes a crash interrupted, and empties its `tmp/`, where a crash may have left staged
    /// parts, half-assembled objects and aborted uploads being deleted.
    pub fn open(root: PathBuf) -> Result<FsBackend, LockError> {
        let data_lock = lock_data_dir(&root)?;
        let layout = Layout::new(root);
        for dir in [
            layout.uploads_dir(),
            layout.objects_dir(),
            layout.events_dir(),
        ] {
            fs::create_dir_all(&dir)?;
        }
        // Before serving: a complete a crash interrupted is finished or undone (see above).
        completion::recover(&layout)?;
        let tmp = layout.tmp_dir();
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        sync_dir(layout.root())?;
        Ok(FsBackend {
            layout: Arc::new(layout),
            locks: KeyedLocks::default(),
            _data_lock: data_lock,
        })
    }

    /// Runs blocking filesystem work on the layout off the async threads.
    async fn with_layout<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Layout) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let layout = self.layout.clone();
        blocking(move || work(&layout)).await
    }
}

/// Moves an upload's directory out of `uploads/` in one rename (so it is gone at once, even if the
/// deletion after it is interrupted), then deletes it.
fn remove_upload_dir(layout: &Layout, id: &UploadId) -> AppResult<()> {
    let doomed = layout.removed_upload_dir(id);
    fs::rename(layout.upload_dir(id), &doomed)?;
    sync_dir(&layout.uploads_dir())?;
    fs::remove_dir_all(&doomed)?;
    Ok(())
}

/// Takes a completed upload's parts out of `uploads/` in one rename and deletes them in the
/// background: 1,000 unlinks cost as much as the assembly, so they come after the answer. If that is
/// interrupted, tmp/ is emptied at the next start.
fn discard_parts_dir(layout: &Layout, id: &UploadId) -> AppResult<()> {
    let discarded = layout.discarded_parts_dir(id);
    fs::rename(layout.parts_dir(id), &discarded)?;
    let id = id.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = fs::remove_dir_all(&discarded) {
            tracing::warn!(upload_id = %id, "could not delete parts after completing: {e}");
        }
    });
    Ok(())
}

#[async_trait]
impl Backend for FsBackend {
    async fn create_upload(&self, upload_id: &UploadId, record: &[u8]) -> AppResult<()> {
        let (id, record) = (upload_id.clone(), record.to_vec());
        self.with_layout(move |layout| {
            fs::create_dir(layout.upload_dir(&id))?;
            fs::create_dir(layout.parts_dir(&id))?;
            let path = layout.record(&id, Record::Upload);
            write_atomic(&layout.tmp_dir(), &path, &record)?;
            sync_dir(&layout.uploads_dir())?;
            Ok(())
        })
        .await
    }

    async fn read_record(&self, id: &UploadId, record: Record) -> AppResult<Option<Vec<u8>>> {
        let id = id.clone();
        self.with_layout(move |layout| Ok(read_if_exists(&layout.record(&id, record))?))
            .await
    }

    async fn record_exists(&self, upload_id: &UploadId, record: Record) -> AppResult<bool> {
        let id = upload_id.clone();
        self.with_layout(move |layout| Ok(layout.record(&id, record).exists()))
            .await
    }

    async fn write_record(&self, id: &UploadId, record: Record, content: &[u8]) -> AppResult<()> {
        let (id, content) = (id.clone(), content.to_vec());
        self.with_layout(move |layout| {
            let path = layout.record(&id, record);
            Ok(write_atomic(&layout.tmp_dir(), &path, &content)?)
        })
        .await
    }

    async fn lock_upload(&self, upload_id: &UploadId) -> UploadLock {
        Some(self.locks.lock(upload_id.as_str()).await)
    }

    async fn try_lock_upload(&self, upload_id: &UploadId) -> Option<UploadLock> {
        self.locks.try_lock(upload_id.as_str()).map(Some)
    }

    async fn disk_space(&self) -> AppResult<Option<DiskSpace>> {
        self.with_layout(|layout| Ok(Some(free_space::probe(layout.root())?)))
            .await
    }

    async fn begin_part(
        &self,
        _destination: Option<&PartDestination>,
    ) -> AppResult<Box<dyn PartWriter>> {
        Ok(Box::new(FsPartWriter::create(self.layout.clone()).await?))
    }

    async fn stored_parts(&self, upload_id: &UploadId) -> AppResult<BTreeMap<u32, StoredPart>> {
        let id = upload_id.clone();
        self.with_layout(move |layout| read_stored_parts(layout, &id))
            .await
    }

    async fn assemble(&self, plan: &AssemblyPlan) -> Result<(), AssembleFailure> {
        let plan = plan.clone();
        self.with_layout(move |layout| object_file::assemble_object(layout, &plan))
            .await
            .map_err(|error| AssembleFailure {
                error,
                assemble_again: false,
            })
    }

    async fn assemble_held(&self, plan: &AssemblyPlan) -> Result<Assembled, AssembleFailure> {
        let staging = plan.clone();
        let staged = self
            .with_layout(move |layout| object_file::assemble_staged(layout, &staging))
            .await
            .map_err(|error| AssembleFailure {
                error,
                assemble_again: false,
            })?;
        Ok(Assembled::Held(Box::new(FsHeldObject {
            layout: self.layout.clone(),
            upload_id: plan.upload_id.clone(),
            resource_key: plan.resource_key.clone(),
            staged,
        })))
    }

    async fn discard_parts(&self, upload_id: &UploadId) -> AppResult<()> {
        let id = upload_id.clone();
        self.with_layout(move |layout| discard_parts_dir(layout, &id))
            .await
    }

    async fn remove_upload(&self, upload_id: &UploadId) -> AppResult<()> {
        let id = upload_id.clone();
        self.with_layout(move |layout| remove_upload_dir(layout, &id))
            .await
    }

    async fn object_exists(&self, resource_key: &str) -> AppResult<bool> {
        let key = resource_key.to_owned();
        self.with_layout(move |layout| Ok(layout.object_file(&key).exists()))
            .await
    }

    async fn open_object(&self, resource_key: &str) -> AppResult<Option<OpenedObject>> {
        let key = resource_key.to_owned();
        self.with_layout(move |layout| object_file::open_object(layout, &key))
            .await
    }

    async fn list_uploads(&self) -> AppResult<Vec<UploadActivity>> {
        self.with_layout(activity::list_uploads).await
    }

    async fn upload_activity(&self, upload_id: &UploadId) -> AppResult<Option<UploadActivity>> {
        let id = upload_id.clone();
        self.with_layout(move |layout| Ok(activity::upload_activity(layout, &id)))
            .await
    }

    async fn remove_stale_staging(&self, age: Duration) -> AppResult<()> {
        self.with_layout(move |layout| activity::remove_stale_staging(layout, age))
            .await
    }
}
