//! The error an upload rejects with, and how it becomes a JS `Error`.
//!
//! Every failure carries the server's `code` (or a client-side one such as `Cancelled`,
//! `NetworkError`, `Timeout`, `FileReadError`, `InvalidOptions`, `FileTooLarge`), the HTTP
//! `status` when there was one, and a sentence a person can act on, so an app never shows
//! `[object Object]`.

use wasm_bindgen::JsValue;

/// Client-side codes (the server's codes come from `partup_wire::ErrorCode`).
pub mod codes {
    pub const CANCELLED: &str = "Cancelled";
    pub const NETWORK_ERROR: &str = "NetworkError";
    pub const TIMEOUT: &str = "Timeout";
    pub const FILE_READ_ERROR: &str = "FileReadError";
    pub const INVALID_OPTIONS: &str = "InvalidOptions";
    pub const FILE_TOO_LARGE: &str = "FileTooLarge";
    pub const UNEXPECTED_RESPONSE: &str = "UnexpectedResponse";
}

/// Why an upload failed.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadError {
    pub code: String,
    /// HTTP status of the failing answer; `None` when no answer came.
    pub status: Option<u16>,
    pub message: String,
    pub request_id: Option<String>,
    pub part_number: Option<u32>,
}

impl UploadError {
    pub fn new(code: &str, message: impl Into<String>) -> UploadError {
        UploadError {
            code: code.to_string(),
            status: None,
            message: message.into(),
            request_id: None,
            part_number: None,
        }
    }

    pub fn cancelled() -> UploadError {
        UploadError::new(codes::CANCELLED, "the upload was cancelled")
    }

    pub fn is_cancelled(&self) -> bool {
        self.code == codes::CANCELLED
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
        text.push_str(&self.code);
        if let Some(status) = self.status {
            text.push_str(&format!(", HTTP {status}"));
        }
        if let Some(id) = &self.request_id {
            text.push_str(&format!(", requestId {id}"));
        }
        text.push(')');
        text
    }

    /// A JS `Error` (name `PartupError`) with `code`, `status`, `requestId` and `partNumber`.
    pub fn to_js(&self) -> JsValue {
        let error = js_sys::Error::new(&self.full_message());
        error.set_name("PartupError");
        let set = |key: &str, value: JsValue| {
            let _ = js_sys::Reflect::set(&error, &JsValue::from_str(key), &value);
        };
        set("code", JsValue::from_str(&self.code));
        set(
            "status",
            self.status.map(JsValue::from).unwrap_or(JsValue::NULL),
        );
        set(
            "requestId",
            self.request_id
                .as_deref()
                .map(JsValue::from_str)
                .unwrap_or(JsValue::NULL),
        );
        set(
            "partNumber",
            self.part_number.map(JsValue::from).unwrap_or(JsValue::NULL),
        );
        error.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_code_status_and_request() {
        let mut e =
            UploadError::new("BadDigest", "the part's bytes do not match its md5").with_part(3);
        e.status = Some(400);
        e.request_id = Some("r1".into());
        assert_eq!(
            e.full_message(),
            "partup: part 3: the part's bytes do not match its md5 (BadDigest, HTTP 400, requestId r1)"
        );
        assert!(UploadError::cancelled().is_cancelled());
    }
}
