//! `AppError`: every failure the API can answer, as SPEC.md's `{code, message, requestId}`.
//!
//! Handlers and storage backends return `AppError`; it turns into a response that carries an
//! [`ErrorReport`] extension, and the `finish_response` middleware (`http/request_id.rs`) writes the JSON body
//! with the request's id. Internal errors are logged there too, so the id in the body finds the log line.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use partup_wire::ErrorCode;

/// A failure with its SPEC.md code and a sentence a person can act on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedRequest, message)
    }
    pub fn no_such_upload(upload_id: &str) -> Self {
        Self::new(
            ErrorCode::NoSuchUpload,
            format!(
                "upload '{}' does not exist, was completed or was aborted; start a new one with uploadInit",
                truncate_for_message(upload_id)
            ),
        )
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::EntityTooLarge, message)
    }
    /// No valid upload token; answered with `WWW-Authenticate: Bearer error="invalid_token"`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    /// A valid token (or an anonymous request) that may not do this.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AccessDenied, message)
    }
    /// An unexpected failure; the cause goes to the log, the client gets a generic sentence.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InternalError, format!("internal error: {cause}"))
    }
}

impl From<std::io::Error> for AppError {
    fn from(err: std::io::Error) -> Self {
        AppError::internal(format!("storage I/O failed: {err}"))
    }
}

/// Keeps hostile input from bloating messages and logs.
pub fn truncate_for_message(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Carried by error responses until `finish_response` renders the body with the request id.
#[derive(Debug, Clone)]
pub struct ErrorReport(pub AppError);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        if self.code == ErrorCode::Unauthorized {
            // RFC 6750 §3: how to authenticate, and that the token given (if any) is no good.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        response.extensions_mut().insert(ErrorReport(self));
        response
    }
}
