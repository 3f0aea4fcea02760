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
pub mod backend;
mod complete;
mod event_queue;
pub mod fs;
mod incoming_part;
mod key_length;
mod keyed_locks;
mod objects;
mod records;
pub mod s3;
mod sweep;
mod taking_turns;
pub mod upload_id;
mod uploads;

use std::sync::Arc;

use crate::config::{Config, StoreKind};
use backend::Backend;
pub use backend::PartDestination;
pub use event_queue::{EventKey, EventQueue, EventStore};
pub use incoming_part::{IncomingPart, UploadBudget};
pub use objects::{ByteRange, ObjectMeta, ObjectRead, ReadPlan};
pub use records::UploadRecord;
pub use sweep::SweepReport;
pub use upload_id::UploadId;
pub use uploads::{PartLimits, Storage};

/// Opens the backend `config` names (the data directory or the bucket), with its event queue when
/// `--hook-url` is set.
pub async fn open(config: &Config) -> Result<Arc<Storage>, String> {
    let (backend, events): (Arc<dyn Backend>, Option<Arc<dyn EventStore>>) = match config.store {
        StoreKind::S3 => {
            let bucket =
                Arc::new(s3::S3Backend::connect(&s3::S3Settings::from_config(config)).await?);
            (
                bucket.clone() as Arc<dyn Backend>,
                Some(bucket as Arc<dyn EventStore>),
            )
        }
        StoreKind::Fs => {
            let disk = Arc::new(fs::FsBackend::open(config.data.clone()).map_err(|e| {
                format!("cannot use data directory {}: {e}", config.data.display())
            })?);
            (
                disk.clone() as Arc<dyn Backend>,
                Some(disk as Arc<dyn EventStore>),
            )
        }
    };
    let limits = PartLimits {
        max_part_size: config.max_part_size,
        min_part_size: config.min_part_size,
    };
    let storage = Storage::new(backend, limits);
    if config.hook_url.is_none() {
        return Ok(Arc::new(storage));
    }
    let events = events.ok_or("--hook-url needs a store that can queue events")?;
    Ok(Arc::new(
        storage.with_events(Arc::new(EventQueue::new(events))),
    ))
}
