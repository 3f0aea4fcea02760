//! Storage: the rules of SPEC.md that do not depend on where bytes live, over a [`Backend`] that
//! keeps them.
//!
//! As in tusd's `DataStore`, the protocol handlers (`api/`) know nothing of where bytes live: they
//! call [`Storage`], whose flows (init, a part's begin and commit, list, complete, abort, reading an
//! object, the sweep) hold every shared rule once — what "in progress" means, the checks, answer and
//! replay of uploadComplete, the part-size limit and MD5 check, which uploads are stale. A backend
//! (`fs/`: the local disk; `s3/`: an S3-compatible bucket shared by stateless instances) supplies
//! only the primitive operations of [`backend::Backend`].

pub mod access;
pub mod admission;
pub mod backend;
mod complete;
pub mod content_index;
pub mod direct;
mod event_queue;
pub mod fs;
mod incoming_part;
mod instant;
mod key_length;
mod keyed_locks;
mod list_uploads;
pub mod md5_engine;
mod objects;
mod records;
mod recount;
pub mod s3;
pub mod space_floor;
mod sweep;
mod taking_turns;
pub mod upload_id;
pub mod upload_index;
mod uploads;

use std::sync::Arc;

use crate::config::{Config, StoreKind};
use crate::error::StartError;
use backend::Backend;
pub use backend::PartDestination;
use content_index::ContentStore;
use direct::{DirectMode, DirectStore};
pub use event_queue::{EventKey, EventQueue, EventStore};
use fs::data_lock::LockError;
pub use incoming_part::{CapSource, IncomingPart, SizeCap, UploadBudget};
pub use list_uploads::{UploadsPage, UploadsQuery};
pub use md5_engine::Md5Engine;
pub use objects::{ByteRange, ObjectMeta, ObjectRead, ReadPlan};
pub use records::UploadRecord;
pub use sweep::{PartInFlight, SweepReport};
pub use upload_id::UploadId;
use upload_index::UploadIndex;
pub use uploads::{PartLimits, Storage};

/// Opens the backend `config` names (the data directory or the bucket), with its event queue when
/// `--hook-url` is set. A data directory another server holds is [`StartError::DataDirInUse`].
pub async fn open(config: &Config) -> Result<Arc<Storage>, StartError> {
    let mut direct_store: Option<Arc<dyn DirectStore>> = None;
    let (backend, events, content, index): (Arc<dyn Backend>, Option<Arc<dyn EventStore>>, _, _) =
        match config.store {
            StoreKind::S3 => {
                let bucket =
                    Arc::new(s3::S3Backend::connect(&s3::S3Settings::from_config(config)).await?);
                direct_store = Some(bucket.clone());
                (
                    bucket.clone() as Arc<dyn Backend>,
                    Some(bucket.clone() as Arc<dyn EventStore>),
                    bucket.clone() as Arc<dyn ContentStore>,
                    bucket as Arc<dyn UploadIndex>,
                )
            }
            StoreKind::Fs => {
                let disk = Arc::new(fs::FsBackend::open(config.data.clone()).map_err(|e| {
                    let dir = config.data.display();
                    match e {
                        LockError::InUse { pid } => StartError::DataDirInUse(format!(
                            "--data {dir} is in use by another partup-server{}",
                            pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
                        )),
                        LockError::Io(e) => {
                            StartError::Failed(format!("cannot use data directory {dir}: {e}"))
                        }
                    }
                })?);
                (
                    disk.clone() as Arc<dyn Backend>,
                    Some(disk.clone() as Arc<dyn EventStore>),
                    disk.clone() as Arc<dyn ContentStore>,
                    disk as Arc<dyn UploadIndex>,
                )
            }
        };
    let limits = PartLimits {
        max_part_size: config.max_part_size,
        min_part_size: config.min_part_size,
        max_object_size: config.limits.max_object_size,
    };
    let caps = admission::AdmissionLimits {
        max_uploads: config.limits.max_uploads,
        max_uploads_per_client: config.limits.max_uploads_per_client,
    };
    // Built once, here: its threads start with it.
    let md5 = Md5Engine::from_setting(&config.md5_path, config.md5_threads)
        .map_err(StartError::Failed)?;
    let mut storage = Storage::new(backend, limits, caps, md5)
        .with_min_free_space(config.limits.min_free_space)
        .with_content_store(content)
        .with_upload_index(index);
    if let Some(store) = direct_store {
        // Direct uploads in progress go on even once `--direct-parts` is off.
        let mode = config.direct_parts.then_some(DirectMode {
            part_expiry: config.direct_part_expiry,
        });
        storage = storage.with_direct_store(store, mode);
    }
    if config.hook_url.is_some() {
        let events = events.ok_or(StartError::Failed(
            "--hook-url needs a store that can queue events".into(),
        ))?;
        storage = storage.with_events(Arc::new(EventQueue::new(events)));
    }
    // The caps count what the store holds, so a restart does not reset them. A store that cannot
    // be listed now is recounted by the next sweep.
    match storage.recount_uploads().await {
        Ok(in_progress) => tracing::info!(in_progress, "uploads in progress counted"),
        Err(e) => tracing::warn!("cannot count the uploads in progress yet: {}", e.message),
    }
    Ok(Arc::new(storage))
}
