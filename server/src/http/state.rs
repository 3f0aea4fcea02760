//! The state every handler may use: storage, the configuration, how requests authenticate, and
//! the tracker of work that outlives its request.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::hooks::pre_create::PreCreateHook;
use crate::http::auth::AuthPolicy;
use crate::storage::Storage;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<Storage>,
    pub config: Arc<Config>,
    /// Upload tokens: the keys, who may read, whether only loopback hosts are served.
    pub auth: Arc<AuthPolicy>,
    /// Work that must finish even if its request is dropped (uploadComplete); waited for at shutdown.
    pub background: TaskTracker,
    /// The application's say on new uploads (`--hook-pre-create`), when configured.
    pub pre_create: Option<Arc<PreCreateHook>>,
}
