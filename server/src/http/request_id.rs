//! `finish_response`, the one place that renders error bodies: every response gets an
//! `x-request-id`, every [`AppError`] becomes SPEC.md's JSON body with that id, every log line
//! written while the request is served carries that id (the `request` span), and every answer is
//! counted in the metrics (by endpoint and code, with its latency).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use partup_wire::{ErrorBody, ErrorCode};
use tracing::Instrument;

use crate::error::{AppError, ErrorReport, INTERNAL_ERROR_MESSAGE, truncate_for_message};
use crate::metrics;
use std::time::Instant;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every response an `x-request-id`, renders `AppError`s as SPEC.md's JSON body with that id,
/// turns the router's own bare 404/405 into `NotFound`/`MethodNotAllowed`, and records the answer's
/// endpoint, code and latency in the metrics.
pub async fn finish_response(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The path only: a query may carry an upload token (`?token=`), which is never logged.
    // At ERROR level: a span is recorded only when its level passes the filter, and the request
    // id must reach every line logged inside it, also with `RUST_LOG=error`.
    let span = tracing::error_span!("request", request_id = %request_id, %method, path = %path);
    let response = finish(request, next, request_id, &method, &path, started)
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "finished processing request"
        )
    });
    response
}

async fn finish(
    request: Request,
    next: Next,
    request_id: String,
    method: &axum::http::Method,
    path: &str,
    started: Instant,
) -> Response {
    let mut response = next.run(request).await;
    let report = response
        .extensions_mut()
        .remove::<ErrorReport>()
        .map(|r| r.0)
        .or_else(|| match response.status() {
            StatusCode::NOT_FOUND => Some(AppError::new(
                ErrorCode::NotFound,
                format!("nothing is served at {}", truncate_for_message(path)),
            )),
            StatusCode::METHOD_NOT_ALLOWED => Some(AppError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} is not allowed on {}", truncate_for_message(path)),
            )),
            _ => None,
        });
    metrics::record_response(path, report.as_ref().map(|e| e.code), started.elapsed());
    if let Some(mut error) = report {
        // The span carries the request id, method and path.
        if error.code == ErrorCode::InternalError {
            tracing::error!("{}", error.message);
            error.message = INTERNAL_ERROR_MESSAGE.to_owned();
        } else {
            tracing::debug!(code = %error.code, "{}", error.message);
        }
        write_error_body(&mut response, error, &request_id);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// An error answered outside the router (by the serve loop: during shutdown, or when a detached
/// request's task failed), rendered as `finish_response` would, with a request id of its own.
pub fn render_error(error: AppError) -> Response {
    let request_id = new_request_id();
    let mut error = error;
    if error.code == ErrorCode::InternalError {
        tracing::error!(request_id, "{}", error.message);
        error.message = INTERNAL_ERROR_MESSAGE.to_owned();
    }
    let mut response = error.clone().into_response();
    response.extensions_mut().remove::<ErrorReport>();
    write_error_body(&mut response, error, &request_id);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn write_error_body(response: &mut Response, error: AppError, request_id: &str) {
    let body = ErrorBody {
        code: error.code,
        message: error.message,
        request_id: request_id.to_owned(),
    };
    let json = serde_json::to_vec(&body).expect("error bodies serialize");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(json);
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}
