//! Storage: the rules of SPEC.md that do not depend on where bytes live, over a [`Backend`] that
//! keeps them.
//!
//! As in tusd's `DataStore`, the protocol handlers (`api/`) know nothing of where bytes live: they
//! call [`Storage`], whose flows (init, a part's begin and commit, list, complete, abort, reading an
//! object, the sweep) hold every shared rule once — what "in progress" means, the checks, answer and
//! replay of uploadComplete, the part-size limit and MD5 check, which uploads are stale. A backend
//! (`fs/`: the local disk; `s3/`: an S3-compatible bucket shared by stateless instances) supplies
//! only the primitive operations of [`backend::Backend`].

pub mod backend;
mod complete;
pub mod fs;
mod incoming_part;
mod objects;
mod records;
pub mod s3;
mod sweep;
pub mod upload_id;
mod uploads;

use std::sync::Arc;

use crate::config::{Config, StoreKind};
use backend::Backend;
pub use backend::PartDestination;
pub use incoming_part::IncomingPart;
pub use objects::{ByteRange, ObjectMeta, ObjectRead, ReadPlan};
pub use sweep::SweepReport;
pub use upload_id::UploadId;
pub use uploads::{PartLimits, Storage};

/// Opens the backend `config` names (the data directory or the bucket).
pub async fn open(config: &Config) -> Result<Arc<Storage>, String> {
    let backend: Arc<dyn Backend> = match config.store {
        StoreKind::S3 => {
            Arc::new(s3::S3Backend::connect(&s3::S3Settings::from_config(config)).await?)
        }
        StoreKind::Fs => Arc::new(
            fs::FsBackend::open(config.data.clone())
                .map_err(|e| format!("cannot use data directory {}: {e}", config.data.display()))?,
        ),
    };
    let limits = PartLimits {
        max_part_size: config.max_part_size,
        min_part_size: config.min_part_size,
    };
    Ok(Arc::new(Storage::new(backend, limits)))
}
