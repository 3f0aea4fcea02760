//! The error an upload rejects with, and how it becomes a JS `Error` (`PartupError`).
//!
//! Every failure carries a typed [`Code`] (the server's [`ErrorCode`], or one of the client's own
//! [`ClientCode`]s), a stable [`Reason`] an app can branch on, the HTTP `status` when there was
//! one, and a sentence a person can act on — so an app never parses `Error.message`.

use crate::retry::{GiveUp, is_transient_status};
use partup_wire::ErrorCode;
use wasm_bindgen::{JsCast, JsValue};

/// Failures the client detects itself, where no server code applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCode {
    Cancelled,
    NetworkError,
    Timeout,
    FileReadError,
    FileChanged,
    InvalidOptions,
    FileTooLarge,
    UnexpectedResponse,
}

impl ClientCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientCode::Cancelled => "Cancelled",
            ClientCode::NetworkError => "NetworkError",
            ClientCode::Timeout => "Timeout",
            ClientCode::FileReadError => "FileReadError",
            ClientCode::FileChanged => "FileChanged",
            ClientCode::InvalidOptions => "InvalidOptions",
            ClientCode::FileTooLarge => "FileTooLarge",
            ClientCode::UnexpectedResponse => "UnexpectedResponse",
        }
    }
}

/// `PartupError.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A code of SPEC.md's table, from the server's error body.
    Server(ErrorCode),
    /// A well-formed error body whose code this client does not know (a newer server's): kept as
    /// sent, and handled by its HTTP status.
    UnknownServer(String),
    /// An HTTP error without a partup error body (a proxy's page): shown as `Http<status>`.
    Http(u16),
    Client(ClientCode),
}

impl Code {
    /// The code's name as `PartupError.code` shows it.
    pub fn name(&self) -> String {
        match self {
            Code::Server(code) => code.as_str().to_string(),
            Code::UnknownServer(name) => name.clone(),
            Code::Http(status) => format!("Http{status}"),
            Code::Client(code) => code.as_str().to_string(),
        }
    }
}

/// `PartupError.reason`: the kind of failure, one short stable string per kind (README, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `upload.cancel()` or the `signal` aborted it.
    Cancelled,
    /// `onExists` answered false (or threw): the existing object was kept.
    Declined,
    InvalidOptions,
    FileTooLarge,
    /// The file could not be read, again after every retry.
    FileUnreadable,
    /// The file was modified, truncated or deleted on disk after it was chosen (not retried).
    FileChanged,
    /// No answer after every retry: offline, server down, or CORS refused.
    Network,
    /// No byte moved for `stallTimeout`, after every retry.
    Stalled,
    /// The `headers` function kept throwing or rejecting.
    HeadersFailed,
    /// HTTP 5xx, 408 or 429, still after every retry (or with the Uploader's retry budget spent).
    ServerUnavailable,
    /// HTTP 507 (`InsufficientStorage`): the server's store is full. Not retried: nothing more
    /// fits until space is freed there.
    ServerFull,
    /// The server refused the request itself (a 4xx such as `InvalidObjectName`).
    Rejected,
    /// `401 Unauthorized`: the token is missing, invalid or expired, and the `headers` function
    /// (called again at once) did not give a better one, or `headers` is a fixed object.
    Unauthorized,
    /// `403 AccessDenied`: the token does not allow this key (scope, `maxSize`, another user's
    /// upload).
    AccessDenied,
    /// `409 ObjectExists`: the object appeared meanwhile and the token may not replace it.
    ObjectExists,
    /// `NoSuchUpload`: the upload expired, was aborted, or was completed elsewhere.
    UploadGone,
    /// An answer partup does not send (a proxy's page, a 200 without the expected JSON).
    BadResponse,
    /// The server stored or assembled other bytes than the file's (size, MD5 or etag differ).
    Mismatch,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Cancelled => "cancelled",
            Reason::Declined => "declined",
            Reason::InvalidOptions => "invalid-options",
            Reason::FileTooLarge => "file-too-large",
            Reason::FileUnreadable => "file-unreadable",
            Reason::FileChanged => "file-changed",
            Reason::Network => "network",
            Reason::Stalled => "stalled",
            Reason::HeadersFailed => "headers-failed",
            Reason::ServerUnavailable => "server-unavailable",
            Reason::ServerFull => "server-full",
            Reason::Rejected => "rejected",
            Reason::Unauthorized => "unauthorized",
            Reason::AccessDenied => "access-denied",
            Reason::ObjectExists => "object-exists",
            Reason::UploadGone => "upload-gone",
            Reason::BadResponse => "bad-response",
            Reason::Mismatch => "mismatch",
        }
    }
}

/// Why an upload failed.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadError {
    pub code: Code,
    pub reason: Reason,
    /// HTTP status of the failing answer; `None` when no answer came.
    pub status: Option<u16>,
    /// The sentence alone (`PartupError.description`).
    pub message: String,
    pub request_id: Option<String>,
    pub part_number: Option<u32>,
}

impl UploadError {
    /// A failure the client detected itself.
    pub fn client(code: ClientCode, reason: Reason, message: impl Into<String>) -> UploadError {
        UploadError {
            code: Code::Client(code),
            reason,
            status: None,
            message: message.into(),
            request_id: None,
            part_number: None,
        }
    }

    pub fn cancelled() -> UploadError {
        UploadError::client(
            ClientCode::Cancelled,
            Reason::Cancelled,
            "the upload was cancelled",
        )
    }

    pub fn invalid_options(message: impl Into<String>) -> UploadError {
        UploadError::client(ClientCode::InvalidOptions, Reason::InvalidOptions, message)
    }

    /// The server's error body: `code_name` as sent, typed when this client knows it.
    pub fn from_server(
        status: u16,
        code_name: String,
        message: String,
        request_id: Option<String>,
    ) -> UploadError {
        let code = match ErrorCode::from_name(&code_name) {
            Some(known) => Code::Server(known),
            None => Code::UnknownServer(code_name),
        };
        let reason = match code {
            Code::Server(ErrorCode::NoSuchUpload) => Reason::UploadGone,
            Code::Server(ErrorCode::Unauthorized) => Reason::Unauthorized,
            Code::Server(ErrorCode::AccessDenied) => Reason::AccessDenied,
            Code::Server(ErrorCode::ObjectExists) => Reason::ObjectExists,
            Code::Server(ErrorCode::InsufficientStorage) => Reason::ServerFull,
            // Over --max-object-size or the token's maxSize (at uploadInit, which is told the
            // file's size, or while parts arrive): the file, not a request, is too large.
            Code::Server(ErrorCode::EntityTooLarge) => Reason::FileTooLarge,
            _ => reason_for_status(status, Reason::Rejected),
        };
        UploadError {
            code,
            reason,
            status: Some(status),
            message,
            request_id,
            part_number: None,
        }
    }

    /// An HTTP error answer that is not a partup error body.
    pub fn from_http_status(status: u16, message: String) -> UploadError {
        UploadError {
            code: Code::Http(status),
            reason: reason_for_status(status, Reason::BadResponse),
            status: Some(status),
            message,
            request_id: None,
            part_number: None,
        }
    }

    /// Says why the request was not tried again, when that is more than "no retry can help".
    /// `budget_retries`: the size of the Uploader's retry budget.
    pub fn gave_up(mut self, why: GiveUp, budget_retries: u32) -> UploadError {
        match why {
            GiveUp::Permanent | GiveUp::RetriesUsed(0) => {}
            GiveUp::RetriesUsed(n) => {
                let retries = if n == 1 { "retry" } else { "retries" };
                self.message
                    .push_str(&format!("; gave up after {n} {retries}"));
            }
            GiveUp::BudgetSpent => self.message.push_str(&format!(
                "; not retried: this Uploader's retry budget ({budget_retries} retries, option \
                 retryBudget) is used up, as its requests have failed too often"
            )),
        }
        self
    }

    /// The server's code, when the server sent one this client knows.
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self.code {
            Code::Server(code) => Some(code),
            _ => None,
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.code == Code::Client(ClientCode::Cancelled)
    }

    pub fn with_part(mut self, part_number: u32) -> UploadError {
        self.part_number = Some(part_number);
        self
    }

    /// The one-line text of `Error.message`: the sentence, then the code, status and request id
    /// that support staff will ask for.
    pub fn full_message(&self) -> String {
        let mut text = String::from("partup: ");
        if let Some(n) = self.part_number {
            text.push_str(&format!("part {n}: "));
        }
        text.push_str(&self.message);
        text.push_str(" (");
        text.push_str(&self.code.name());
        if let Some(status) = self.status {
            text.push_str(&format!(", HTTP {status}"));
        }
        if let Some(id) = &self.request_id {
            text.push_str(&format!(", requestId {id}"));
        }
        text.push(')');
        text
    }

    /// A JS `Error` (name `PartupError`) with `code`, `reason`, `status`, `requestId`,
    /// `partNumber` and `description`.
    pub fn to_js(&self) -> JsValue {
        let error = js_sys::Error::new(&self.full_message());
        error.set_name("PartupError");
        let set = |key: &str, value: JsValue| {
            let _ = js_sys::Reflect::set(&error, &JsValue::from_str(key), &value);
        };
        let or_null = |text: Option<&str>| text.map(JsValue::from_str).unwrap_or(JsValue::NULL);
        set("code", JsValue::from_str(&self.code.name()));
        set("reason", JsValue::from_str(self.reason.as_str()));
        set(
            "status",
            self.status.map(JsValue::from).unwrap_or(JsValue::NULL),
        );
        set("requestId", or_null(self.request_id.as_deref()));
        set(
            "partNumber",
            self.part_number.map(JsValue::from).unwrap_or(JsValue::NULL),
        );
        set("description", JsValue::from_str(&self.message));
        error.into()
    }
}

/// The reason of an HTTP error answer whose code says nothing more; `otherwise` for a
/// permanent refusal.
fn reason_for_status(status: u16, otherwise: Reason) -> Reason {
    if status == 507 {
        Reason::ServerFull
    } else if is_transient_status(status) {
        Reason::ServerUnavailable
    } else {
        otherwise
    }
}

/// A thrown JS value as text.
pub fn js_text(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

#[cfg(test)]
mod tests;
