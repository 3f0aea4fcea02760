//! What the two transports share (`fetch` for the JSON calls, XHR for parts): the app's extra
//! headers, an HTTP answer, and the mapping of every outcome to an [`UploadError`] plus the facts
//! the retry policy needs.

use crate::error::{ClientCode, Reason, UploadError, js_text};
use crate::js_glue::js_object;
use crate::json::from_json_text;
use crate::options::{HeaderSource, header_pairs};
use crate::retry::{FailureClass, parse_retry_after_seconds};
use crate::timers::now_ms;
use partup_wire::Endpoint;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An HTTP answer (any status).
pub struct Answer {
    pub status: u16,
    pub text: String,
    pub retry_after: Option<String>,
    /// The `ETag` header, when the answer carries one the page may read (parts only).
    pub etag: Option<String>,
}

/// Why no HTTP answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    Network,
    Stalled,
}

/// A failed attempt: the error to show, and what the retry policy needs to know.
#[derive(Debug, Clone)]
pub struct RequestFailure {
    pub error: UploadError,
    pub class: FailureClass,
    pub retry_after_ms: Option<f64>,
}

/// The server's error body, with the code as sent: one this client does not know (a newer
/// server's) is still an error body, not garbage.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerErrorBody {
    code: String,
    message: String,
    request_id: Option<String>,
}

impl RequestFailure {
    /// A failure no retry can fix, found before any answer.
    pub fn local(error: UploadError) -> RequestFailure {
        RequestFailure {
            error,
            class: FailureClass::Local,
            retry_after_ms: None,
        }
    }

    /// A 200 that is not what partup sends: retried like a lost answer (a proxy may have
    /// answered for the server).
    pub fn unexpected(reason: Reason, message: String) -> RequestFailure {
        RequestFailure {
            error: UploadError::client(ClientCode::UnexpectedResponse, reason, message),
            class: FailureClass::Network,
            retry_after_ms: None,
        }
    }

    /// No answer came to a request to `url`; `endpoint`: what it was, as the message names it
    /// (an endpoint's name, or the store's part `PUT`).
    pub fn no_answer(endpoint: &str, url: &str, why: NoAnswer, stall_ms: f64) -> Self {
        let error = match why {
            NoAnswer::Network => UploadError::client(
                ClientCode::NetworkError,
                Reason::Network,
                format!(
                    "{endpoint} could not reach {url}: the network failed, the server is down, or \
                     it does not allow this page's origin (CORS)"
                ),
            ),
            NoAnswer::Stalled => UploadError::client(
                ClientCode::Timeout,
                Reason::Stalled,
                format!(
                    "{endpoint} to {url} stalled: no data moved for {} ms, so it was aborted",
                    stall_ms as u64
                ),
            ),
        };
        let class = match why {
            NoAnswer::Network => FailureClass::Network,
            NoAnswer::Stalled => FailureClass::Stalled,
        };
        RequestFailure {
            error,
            class,
            retry_after_ms: None,
        }
    }

    /// A non-200 answer: the server's `{code, message, requestId}` when it sent one, else a
    /// description of what came back (a proxy's HTML page, say).
    pub fn from_answer(endpoint: Endpoint, url: &str, answer: &Answer) -> RequestFailure {
        let error = match from_json_text::<ServerErrorBody>(&answer.text) {
            Ok(body) => {
                UploadError::from_server(answer.status, body.code, body.message, body.request_id)
            }
            Err(_) => {
                let snippet: String = answer.text.chars().take(200).collect();
                let snippet = snippet.trim();
                UploadError::from_http_status(
                    answer.status,
                    format!(
                        "{endpoint} to {url} answered HTTP {} without a partup error body{}{snippet}",
                        answer.status,
                        if snippet.is_empty() { "" } else { ": " },
                    ),
                )
            }
        };
        let retry_after_ms = retry_after_ms(answer.retry_after.as_deref());
        RequestFailure {
            class: FailureClass::Http {
                status: answer.status,
                code: error.server_code(),
            },
            error,
            retry_after_ms,
        }
    }
}

/// A `Retry-After` header's wait: seconds, or an HTTP-date read by the browser.
pub fn retry_after_ms(header: Option<&str>) -> Option<f64> {
    header.and_then(|value| {
        parse_retry_after_seconds(value).or_else(|| {
            let date = js_sys::Date::parse(value);
            date.is_finite().then(|| (date - now_ms()).max(0.0))
        })
    })
}

/// The 200 body of `endpoint` as `T`, or the failure.
pub fn parse_ok<T: DeserializeOwned>(
    endpoint: Endpoint,
    url: &str,
    answer: Answer,
) -> Result<T, RequestFailure> {
    if answer.status != 200 {
        return Err(RequestFailure::from_answer(endpoint, url, &answer));
    }
    from_json_text(&answer.text).map_err(|e| {
        RequestFailure::unexpected(
            Reason::BadResponse,
            format!("{endpoint} answered 200 with a body that is not the expected JSON ({e})"),
        )
    })
}

/// The app's extra headers for one request (the `headers` option, called anew each time so a
/// short-lived token can be refreshed between retries), given `{refresh}`: true right after a 401.
pub async fn extra_headers(
    source: &HeaderSource,
    refresh: bool,
) -> Result<Vec<(String, String)>, RequestFailure> {
    let function = match source {
        HeaderSource::Fixed(pairs) => return Ok(pairs.clone()),
        HeaderSource::Dynamic(function) => function,
    };
    // Retried like a network error: a token endpoint hiccup must not end the upload.
    let failure = |what: String| RequestFailure {
        error: UploadError::client(ClientCode::NetworkError, Reason::HeadersFailed, what),
        class: FailureClass::Network,
        retry_after_ms: None,
    };
    let mut value = function
        .call1(
            &JsValue::UNDEFINED,
            &js_object(&[("refresh", JsValue::from_bool(refresh))]),
        )
        .map_err(|e| failure(format!("the headers function threw: {}", js_text(&e))))?;
    if let Some(promise) = value.dyn_ref::<js_sys::Promise>() {
        value = JsFuture::from(promise.clone()).await.map_err(|e| {
            failure(format!(
                "the headers function's promise rejected: {}",
                js_text(&e)
            ))
        })?;
    }
    header_pairs(&value, "the headers function's result").map_err(RequestFailure::local)
}
