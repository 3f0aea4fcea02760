//! The blocking pre-create hook (`--hook-pre-create`), as tusd's: before an upload starts, the
//! application is asked with `{resourceKey, sub, claims, isExist}` (signed like every hook request).
//! A 2xx lets the upload start; a 4xx refuses it with `403 AccessDenied` and the application's
//! message; anything else — no answer within `--hook-timeout`, a 5xx, a redirect, no connection —
//! refuses it with `503 ServiceUnavailable` and `Retry-After` (fail closed: no answer is no yes).

use axum::response::{IntoResponse, Response};
use partup_wire::ErrorCode;
use serde::Serialize;
use serde_json::Value;

use super::HookSender;
use crate::error::AppError;

/// What a refused client is told to wait before trying again.
pub const RETRY_AFTER_SECONDS: u64 = 5;
/// How much of the application's answer is read for its message, and kept of it.
const MESSAGE_READ_LIMIT: usize = 4096;
const MESSAGE_KEEP_CHARS: usize = 200;

/// The question asked.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PreCreateRequest<'a> {
    resource_key: &'a str,
    sub: Option<&'a str>,
    claims: Option<&'a Value>,
    is_exist: bool,
}

/// Why an upload may not start.
#[derive(Debug)]
pub enum Refusal {
    /// The application said no (4xx), with its message.
    Denied(String),
    /// The application could not be asked (why, for the log).
    Unavailable(String),
}

/// The pre-create hook of a running server.
#[derive(Debug, Clone)]
pub struct PreCreateHook {
    sender: HookSender,
    url: String,
}

impl PreCreateHook {
    pub fn new(sender: HookSender, url: String) -> PreCreateHook {
        PreCreateHook { sender, url }
    }

    /// Asks the application whether `sub` (with its token's `claims`; both `None` when anonymous)
    /// may start an upload of `resource_key`.
    pub async fn ask(
        &self,
        resource_key: &str,
        sub: Option<&str>,
        claims: Option<&Value>,
        is_exist: bool,
    ) -> Result<(), Refusal> {
        let question = PreCreateRequest {
            resource_key,
            sub,
            claims,
            is_exist,
        };
        let body = serde_json::to_vec(&question).expect("the question serializes");
        let response = self
            .sender
            .post(&self.url, body)
            .await
            .map_err(|e| Refusal::Unavailable(format!("the pre-create hook failed: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_client_error() {
            Err(Refusal::Denied(message_of(response).await))
        } else {
            Err(Refusal::Unavailable(format!(
                "the pre-create hook answered {status}"
            )))
        }
    }
}

/// The application's reason: the `message` of a JSON body, or the text body, cleaned of control
/// characters and cut short.
async fn message_of(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MESSAGE_READ_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MESSAGE_READ_LIMIT);
    clean_message(&body)
}

fn clean_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(fields)) => match fields.get("message") {
            Some(Value::String(message)) => message.clone(),
            _ => String::new(),
        },
        _ => text.into_owned(),
    };
    let cleaned: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MESSAGE_KEEP_CHARS)
        .collect();
    match cleaned.split_whitespace().collect::<Vec<_>>().join(" ") {
        empty if empty.is_empty() => "the application refused this upload".to_owned(),
        message => message,
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Denied(message) => {
                AppError::new(ErrorCode::AccessDenied, message).into_response()
            }
            Refusal::Unavailable(cause) => {
                tracing::warn!("uploadInit refused, fail closed: {cause}");
                AppError::new(
                    ErrorCode::ServiceUnavailable,
                    format!("the application could not be asked whether this upload may start; try again in {RETRY_AFTER_SECONDS} seconds"),
                )
                .retry_after(RETRY_AFTER_SECONDS)
                .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clean_message;

    #[test]
    fn the_applications_message_is_taken_from_json_or_text_and_cleaned() {
        assert_eq!(
            clean_message(br#"{"message":"quota exceeded"}"#),
            "quota exceeded"
        );
        assert_eq!(clean_message(b"no\r\nway\x1b[31m"), "no way [31m");
        assert_eq!(
            clean_message(br#"{"error":"x"}"#),
            "the application refused this upload"
        );
        assert_eq!(clean_message(b""), "the application refused this upload");
        assert_eq!(
            clean_message("é".repeat(500).as_bytes()).chars().count(),
            200
        );
    }
}
