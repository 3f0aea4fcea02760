//! The HTTP layer under the endpoints: shared state, request ids and error bodies, reading and
//! draining request bodies within SPEC.md's limits, CORS, the demo page and health. It knows no
//! endpoint; `api/` uses it, and `router.rs` puts both together.

pub mod body;
pub mod cors;
pub mod drain;
pub mod health;
pub mod request_id;
pub mod static_files;

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::storage::Storage;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<Storage>,
    pub config: Arc<Config>,
    /// Work that must finish even if its request is dropped (uploadComplete); waited for at shutdown.
    pub background: TaskTracker,
}
