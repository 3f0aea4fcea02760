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
    /// Seconds after which a retry may succeed, sent as `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// The same error, answered with `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    /// A cap on uploads in progress was reached; a retry after `seconds` may find room.
    pub fn too_many_uploads(message: impl Into<String>, seconds: u64) -> Self {
        Self::new(ErrorCode::TooManyUploads, message).retry_after(seconds)
    }
    /// The store has no room for this request; nothing already stored was changed.
    pub fn insufficient_storage(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InsufficientStorage, message)
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
    /// An unexpected failure. `cause` (which may name paths, URLs, buckets or a backend's own
    /// text) goes to the log only: `finish_response` answers every `InternalError` with
    /// [`INTERNAL_ERROR_MESSAGE`] and the request id that finds this cause in the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InternalError, format!("internal error: {cause}"))
    }
}

/// The only sentence a client ever reads for a `500`.
pub const INTERNAL_ERROR_MESSAGE: &str =
    "the server failed unexpectedly; the request id finds the cause in its log";

impl From<std::io::Error> for AppError {
    fn from(err: std::io::Error) -> Self {
        // A full disk (or quota) is the client's to know about: it is not a bug, and retrying
        // before space is freed cannot succeed.
        if is_out_of_space(&err) {
            return AppError::insufficient_storage(
                "the server's disk is full; nothing acknowledged was lost, try again once space is freed",
            );
        }
        AppError::internal(format!("storage I/O failed: {err}"))
    }
}

/// Whether `err` is the filesystem running out of space or of the user's quota.
pub fn is_out_of_space(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Keeps hostile input from bloating messages and logs.
pub fn truncate_for_message(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A parser's message with every `"…"`-quoted piece of input cut to 64 characters (serde quotes
/// the strings it refuses), and the whole kept to a few lines.
pub fn truncate_quoted(text: &str) -> String {
    let mut out = String::new();
    let (mut quoted, mut run) = (false, 0usize);
    for c in text.chars().take(4096) {
        if c == '"' {
            quoted = !quoted;
            run = 0;
        } else if quoted {
            run += 1;
            if run > 64 {
                continue;
            }
        }
        out.push(c);
        if out.len() >= 256 {
            break;
        }
    }
    out
}

/// Carried by error responses until `finish_response` renders the body with the request id.
#[derive(Debug, Clone)]
pub struct ErrorReport(pub AppError);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
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

/// Why the server could not start or serve: the binary prints it as one line and exits with
/// [`StartError::exit_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Another partup-server holds the data directory (`--store fs`): a usage error, like a bad
    /// option, so exit code 2.
    #[error("{0}")]
    DataDirInUse(String),
    #[error("{0}")]
    Failed(String),
}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::DataDirInUse(_) => 2,
            StartError::Failed(_) => 1,
        }
    }
}

impl From<String> for StartError {
    fn from(problem: String) -> Self {
        StartError::Failed(problem)
    }
}

impl From<&str> for StartError {
    fn from(problem: &str) -> Self {
        StartError::Failed(problem.to_owned())
    }
}
