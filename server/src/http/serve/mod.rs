//! The serve loop: accepts connections up to `--max-connections`, serves each with hyper's HTTP/1
//! (header timeout, body-idle timeout), and stops within `--shutdown-timeout`.
//!
//! Why not `axum::serve`: it accepts without bound, has no header or body timeout, and its graceful
//! shutdown waits for every connection however long a client takes, so one client trickling a body
//! could hold a stopping server forever.
//!
//! - A connection holds a semaphore permit: past the cap the loop stops accepting, and new
//!   connections wait in the kernel's accept queue until one closes, instead of taking a file
//!   descriptor each. An accept error (EMFILE with the open-file limit reached) is logged and the
//!   loop backs off; it never ends the server.
//! - On shutdown the listener is closed, every connection finishes the request it is serving and
//!   closes (`graceful_shutdown`), a request that arrives meanwhile is answered 503, and the work of
//!   [`AppState::background`](crate::http::AppState) (completes) is waited for, all within
//!   `--shutdown-timeout`; whatever is still running then is cut.

mod connection;
pub mod fd_limit;
mod idle_body;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http::Method;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Limits;

/// Decides, from its method and path, whether a request is served detached from its connection
/// (see [`ServeOptions::detached`]).
pub type DetachedRoute = fn(&Method, &str) -> bool;

/// What the loop needs from the configuration.
#[derive(Clone)]
pub struct ServeOptions {
    pub header_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
    /// Requests served in a task of the background tracker from the moment hyper hands them over,
    /// so a client closing its connection cannot drop them (uploadComplete: a complete whose
    /// request arrived is finished; SPEC.md, "A complete that arrived is finished").
    pub detached: DetachedRoute,
}

impl ServeOptions {
    pub fn from_limits(limits: &Limits, detached: DetachedRoute) -> ServeOptions {
        ServeOptions {
            header_timeout: limits.header_timeout,
            body_idle_timeout: limits.body_idle_timeout,
            max_connections: limits.max_connections,
            shutdown_timeout: limits.shutdown_timeout,
            detached,
        }
    }
}

/// What every connection task shares.
struct Shared {
    app: Router,
    options: ServeOptions,
    /// Work that outlives its request; detached requests run in it.
    background: TaskTracker,
    /// Fired at shutdown: connections close once their request is answered.
    stopping: CancellationToken,
    /// Fired when the shutdown timeout has passed: connections close at once.
    cut_all: CancellationToken,
}

/// Connections the kernel completes and queues for us while we accept no more (past
/// `--max-connections`, or during a burst); Linux caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` for [`serve`], with an accept queue of [`LISTEN_BACKLOG`] connections (a
/// plain bind queues 1024; past the queue, the kernel drops handshakes and clients stall).
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As a plain bind does: a restarted server can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Longest pause after a failed accept (EMFILE, ENFILE, ENOMEM), doubled from the shortest.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(20);

/// Serves `app` on `listener` until `shutdown` resolves, then stops within the shutdown timeout:
/// waits for the connections' requests in flight and for `background`, and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    background: TaskTracker,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let stopping = CancellationToken::new();
    let signal = stopping.clone();
    tokio::spawn(async move {
        shutdown.await;
        signal.cancel();
    });
    let shared = Arc::new(Shared {
        app,
        options,
        background,
        stopping,
        cut_all: CancellationToken::new(),
    });
    let connections = TaskTracker::new();
    accept_until_stopped(&listener, &shared, &connections).await;
    // Closing the listener refuses what waits in the accept queue (the client sees a reset and
    // retries elsewhere or later), rather than leaving it to time out.
    drop(listener);
    finish_within_timeout(&shared, &connections).await;
}

/// Accepts until shutdown, one permit per connection.
async fn accept_until_stopped(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    connections: &TaskTracker,
) {
    let permits = Arc::new(Semaphore::new(shared.options.max_connections));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        // Past the cap, wait for a connection to close before accepting: the excess waits in the
        // kernel's queue and costs no file descriptor.
        let permit = tokio::select! {
            _ = shared.stopping.cancelled() => return,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            _ = shared.stopping.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                connections.spawn(connection::serve_connection(
                    stream,
                    remote,
                    permit,
                    shared.clone(),
                ));
            }
            // The client gave up before it was accepted: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::error!(
                    "cannot accept a connection: {e}; retrying in {} ms (raise the open-file limit or lower --max-connections)",
                    backoff.as_millis()
                );
                tokio::select! {
                    _ = shared.stopping.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Lets connections finish their requests and the background work (completes) end, for at most
/// the shutdown timeout; then cuts whatever is left.
async fn finish_within_timeout(shared: &Shared, connections: &TaskTracker) {
    connections.close();
    shared.background.close();
    let everything = async {
        connections.wait().await;
        shared.background.wait().await;
    };
    let timeout = shared.options.shutdown_timeout;
    if tokio::time::timeout(timeout, everything).await.is_err() {
        tracing::warn!(
            connections = connections.len(),
            background_tasks = shared.background.len(),
            "the shutdown timeout ({}) has passed: closing the connections still open",
            humantime::format_duration(timeout)
        );
        shared.cut_all.cancel();
    }
}
