//! One connection: hyper's HTTP/1 with the header timeout, every request body under the idle
//! timeout, the client's address for the handlers, and the connection's end (its client, the idle
//! timeout, shutdown, or the shutdown timeout).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use partup_wire::ErrorCode;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::Shared;
use super::idle_body::IdleTimeoutBody;
use crate::error::AppError;
use crate::http::request_id::render_error;

/// Seconds a client is told to wait before retrying a request refused during shutdown.
const SHUTDOWN_RETRY_AFTER_SECONDS: u64 = 5;

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Serves one connection until it ends; `_permit` holds its place under `--max-connections`.
pub(super) async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    // Fired by the body-idle timeout of a request on this connection.
    let idle_cut = CancellationToken::new();
    let service = {
        let (shared, idle_cut) = (shared.clone(), idle_cut.clone());
        hyper::service::service_fn(move |request| answer(request, remote, &shared, &idle_cut))
    };
    let mut builder = http1::Builder::new();
    // The header timeout also bounds a kept-alive connection's wait for its next request.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.options.header_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    if e.is_timeout() {
                        crate::metrics::record_refusal(crate::metrics::Refusal::HeaderTimeout);
                    }
                    tracing::debug!(%remote, "connection ended: {e}");
                }
                return;
            }
            _ = shared.stopping.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            // Dropping the connection drops the handlers still reading from it.
            _ = idle_cut.cancelled() => return,
            _ = shared.cut_all.cancelled() => return,
        }
    }
}

/// Hands one request to the router, detached from the connection when its route says so; during
/// shutdown, answers 503 instead.
fn answer(
    request: Request<Incoming>,
    remote: SocketAddr,
    shared: &Arc<Shared>,
    idle_cut: &CancellationToken,
) -> Answer {
    if shared.stopping.is_cancelled() {
        return Box::pin(std::future::ready(Ok(shutting_down())));
    }
    let detached = (shared.options.detached)(request.method(), request.uri().path());
    let idle_timeout = shared.options.body_idle_timeout;
    let mut request =
        request.map(|body| Body::new(IdleTimeoutBody::new(body, idle_timeout, idle_cut.clone())));
    request.extensions_mut().insert(ConnectInfo(remote));
    let app = shared.app.clone();
    if !detached {
        return Box::pin(app.oneshot(request));
    }
    // Spawned now, while hyper hands the request over, not when the connection first polls the
    // answer: a client that closes right after its last byte makes hyper drop the answer before
    // that poll.
    let task = shared.background.spawn(app.oneshot(request));
    Box::pin(async move {
        Ok(match task.await {
            Ok(Ok(response)) => response,
            Err(failed) => render_error(AppError::internal(format!(
                "the request's task failed: {failed}"
            ))),
        })
    })
}

/// 503 ServiceUnavailable with Retry-After, closing the connection.
fn shutting_down() -> Response {
    let error = AppError::new(
        ErrorCode::ServiceUnavailable,
        "the server is shutting down; retry in a few seconds",
    )
    .retry_after(SHUTDOWN_RETRY_AFTER_SECONDS);
    let mut response = render_error(error).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
