//! partup-server as a library: `run` starts the whole service. The layers, each importing only
//! those below it: `router` (the one place that knows every endpoint and layer) over `api` (one file
//! per endpoint) over `http` (state, request ids and error bodies, body reading, CORS, static files,
//! health) over `storage` (SPEC.md's rules of stored uploads, over a local-disk or S3 backend);
//! `config`, `error` and `auth` (upload tokens: claims, scopes, verifying, minting) are shared by all; `sweep` runs storage's stale-upload sweep in the background; `metrics` (recorded from every layer) is served on its own listener.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod hooks;
pub mod http;
pub mod metrics;
pub mod router;
pub mod storage;
pub mod sweep;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::config::Config;
pub use crate::error::StartError;
use crate::http::AppState;
use crate::http::auth::AuthPolicy;
use crate::http::serve::ServeOptions;

/// Serves on `listener` (already bound, so a caller that asked for port 0 knows the port before
/// anything starts) until `shutdown` resolves: requests in flight finish, assembling completes run
/// to their end, all within `--shutdown-timeout`, then it returns. `config.listen` is not used: the
/// listener says where it listens.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // First: with `--store fs` this takes the data directory's lock, before anything touches it.
    let storage = storage::open(&config).await?;
    let _metrics = metrics::serve(&config, storage.clone()).await?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    announce(address, &config);
    http::serve::fd_limit::raise_open_file_limit(config.limits.max_connections);
    let background = TaskTracker::new();
    let _sweeper = sweep::spawn_sweeper(storage.clone(), &config);
    let sender = hooks::HookSender::from_config(&config)?;
    let _delivery = match (&sender, storage.events(), &config.hook_url) {
        (Some(sender), Some(queue), Some(url)) => Some(hooks::delivery::spawn_delivery(
            queue,
            sender.clone(),
            url.clone(),
        )),
        _ => None,
    };
    let pre_create = match (sender, &config.hook_pre_create) {
        (Some(sender), Some(url)) => {
            Some(hooks::pre_create::PreCreateHook::new(sender, url.clone()))
        }
        _ => None,
    };
    let auth = Arc::new(AuthPolicy::from_config(&config)?);
    let state = AppState {
        storage,
        config: Arc::new(config.clone()),
        auth,
        background: background.clone(),
        pre_create: pre_create.map(Arc::new),
    };
    tracing::info!(
        listen = %address, store = ?config.store, data = %config.data.display(), www = %config.www.display(),
        "partup-server ready on http://{address}/"
    );
    let options =
        ServeOptions::from_limits(&config.limits, api::upload_complete::is_upload_complete);
    http::serve::serve(
        listener,
        router::router(state),
        options,
        background,
        shutdown,
    )
    .await;
    tracing::info!("partup-server stopped");
    Ok(())
}

/// Says where the server listens, on stdout.
///
/// With port 0 the system picks the port: this line, whatever RUST_LOG says, is how tests and
/// scripts learn it (the bound address, never a port picked beforehand that another process could
/// take first). Called once the store is open: a server refused at start (its data directory is
/// another's) never says it listens.
fn announce(address: std::net::SocketAddr, config: &Config) {
    println!("partup-server listening on http://{address}/");
    if !config.auth_enabled() && !address.ip().is_loopback() {
        eprintln!(
            "partup-server: warning: --allow-anonymous: no upload tokens on {address}; anyone who can reach it may upload, replace and read every object"
        );
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
