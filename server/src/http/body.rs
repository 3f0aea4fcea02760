//! Reading small request bodies (everything but parts) straight into the endpoint's typed request.
//!
//! Each body has its cap (uploadComplete [`MAX_JSON_BODY_BYTES`], the others
//! [`MAX_FIELDS_BODY_BYTES`]), enforced while reading. A body is parsed into its type, never into a
//! generic JSON value first: unknown fields are skipped without being kept, and lists are bounded
//! while they are parsed, so what a body costs after parsing is no more than its typed result.
//! Bodies past [`FREE_BODY_BYTES`] share one memory budget ([`LARGE_BODIES_BUDGET`]): a body that
//! needs more waits for its turn (at most [`LARGE_BODY_WAIT`], then `503` with `Retry-After`)
//! instead of the server holding every large body at once.

use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use partup_wire::{ErrorCode, MAX_FIELDS_BODY_BYTES, MAX_JSON_BODY_BYTES};
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{AppError, AppResult, truncate_for_message, truncate_quoted};
use crate::http::drain::{SharedBody, worth_draining};

/// Bytes of any body read without taking from the budget: every legitimate body but a long part
/// list fits, so they never wait behind large ones.
pub const FREE_BODY_BYTES: usize = 64 << 10;
/// Bytes that bodies past [`FREE_BODY_BYTES`] may hold in memory together, in KiB permits.
pub const LARGE_BODIES_BUDGET: usize = 64 << 20;
/// Longest wait for a share: then `503` with `Retry-After`, before a client that is not read for
/// this long gives up on its own (reqwest's default TCP user timeout is 30 s).
pub const LARGE_BODY_WAIT: Duration = Duration::from_secs(20);
const LARGE_BODY_RETRY_SECONDS: u64 = 5;
static LARGE_BODIES: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(LARGE_BODIES_BUDGET >> 10));

fn too_large(limit: usize) -> AppError {
    AppError::too_large(format!(
        "the request body is over the limit of {limit} bytes"
    ))
}

/// The request's `Content-Length`, if it sent a valid one.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The budget a body of at most `most` bytes needs beyond the free part, taken at once (so no two
/// bodies hold part of what the other waits for).
async fn large_body_share(most: usize) -> AppResult<SemaphorePermit<'static>> {
    let kib = (most.saturating_sub(FREE_BODY_BYTES) >> 10) as u32 + 1;
    match tokio::time::timeout(LARGE_BODY_WAIT, LARGE_BODIES.acquire_many(kib)).await {
        Ok(share) => share.map_err(AppError::internal),
        Err(_) => Err(AppError::new(
            ErrorCode::ServiceUnavailable,
            "the server is reading too many large request bodies at once; retry shortly",
        )
        .retry_after(LARGE_BODY_RETRY_SECONDS)),
    }
}

/// A body read whole, with its share of the memory budget (returned when dropped).
pub struct LimitedBody {
    pub bytes: Bytes,
    _budget: Option<SemaphorePermit<'static>>,
}

/// Reads the whole body, refusing more than `limit` bytes without buffering the excess (the excess
/// is drained in the background so the client reads the 413). A body over [`FREE_BODY_BYTES`] first waits for its
/// share of [`LARGE_BODIES_BUDGET`].
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> AppResult<LimitedBody> {
    let declared = declared_length(headers);
    let mut stream = SharedBody::new(body);
    // A refusal is answered at once; the rest is discarded in the background (see `drain`).
    if declared.is_some_and(|len| len > limit as u64) {
        if worth_draining(declared, limit as u64) {
            tokio::spawn(stream.drain());
        }
        return Err(too_large(limit));
    }
    // A body that says it is large waits for its share before a byte of it is read; one that does
    // not say (chunked) once it turns out large.
    let most = declared.map_or(limit, |len| len as usize);
    let mut budget = None;
    if most > FREE_BODY_BYTES && declared.is_some() {
        budget = Some(large_body_share(most).await.inspect_err(|_| {
            tokio::spawn(stream.clone().drain());
        })?);
    }
    let mut collected = BytesMut::with_capacity(most.min(FREE_BODY_BYTES));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::malformed(format!("the request body could not be read: {e}")))?;
        let size = collected.len() + chunk.len();
        if size > limit {
            tokio::spawn(stream.drain());
            return Err(too_large(limit));
        }
        if size > FREE_BODY_BYTES && budget.is_none() {
            budget = Some(large_body_share(most).await.inspect_err(|_| {
                tokio::spawn(stream.clone().drain());
            })?);
        }
        collected.extend_from_slice(&chunk);
    }
    // A body whose connection was cut ends early without an error: never take it for whole.
    if let Some(declared) = declared.filter(|&len| len != collected.len() as u64) {
        return Err(AppError::malformed(format!(
            "the request body ended after {} of its {declared} bytes",
            collected.len()
        )));
    }
    Ok(LimitedBody {
        bytes: collected.freeze(),
        _budget: budget,
    })
}

/// How a body failed to parse as `T`: not JSON at all is `MalformedRequest`; JSON of the wrong
/// shape is `InvalidArgument`, naming where (`completeMultipartUpload[3].md5: …`).
fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let text = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let text = text.strip_suffix(&position).unwrap_or(&text);
    if !inner.is_data() {
        return AppError::malformed(format!("the body is not valid JSON: {text}"));
    }
    let text = truncate_quoted(text);
    if path == "." {
        AppError::invalid_argument(text)
    } else {
        AppError::invalid_argument(format!("{}: {text}", truncate_for_message(&path)))
    }
}

/// Parses a JSON body into `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut json).map_err(json_error)?;
    json.end()
        .map_err(|e| AppError::malformed(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Parses form fields (name, text) into `T`, as if they were a JSON object of strings.
pub fn parse_form<T: DeserializeOwned>(fields: Vec<(String, String)>) -> AppResult<T> {
    let form = MapDeserializer::<_, serde::de::value::Error>::new(fields.into_iter());
    serde_path_to_error::deserialize(form).map_err(|e| {
        let path = e.path().to_string();
        let text = truncate_quoted(&e.into_inner().to_string());
        AppError::invalid_argument(match path.as_str() {
            "." => text,
            path => format!("{}: {text}", truncate_for_message(path)),
        })
    })
}

/// The body as `T`, whatever form it came in: JSON, `application/x-www-form-urlencoded` or
/// `multipart/form-data`.
pub async fn read_fields<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> AppResult<T> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = read_limited(headers, body, MAX_FIELDS_BODY_BYTES).await?;
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type).map_err(|e| {
            AppError::malformed(format!("the multipart form has no usable boundary: {e}"))
        })?;
        let bytes = body.bytes;
        let mut form = multer::Multipart::new(
            futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes) }),
            boundary,
        );
        let mut fields = Vec::new();
        while let Some(field) = form.next_field().await.map_err(|e| {
            AppError::malformed(format!(
                "the multipart form is malformed: {}",
                truncate_for_message(&e.to_string())
            ))
        })? {
            let name = field.name().unwrap_or_default().to_owned();
            let text = field.text().await.map_err(|e| {
                AppError::malformed(format!(
                    "form field '{}' could not be read: {}",
                    truncate_for_message(&name),
                    truncate_for_message(&e.to_string())
                ))
            })?;
            fields.push((name, text));
        }
        return parse_form(fields);
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return parse_form(query_pairs(&body.bytes));
    }
    parse_json(&body.bytes)
}

/// The pairs of a urlencoded form or query string.
pub fn query_pairs(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A request of the small endpoints, in whatever form it came (see [`read_fields`]).
pub struct Fields<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Fields<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, _state: &S) -> AppResult<Fields<T>> {
        let (parts, body) = request.into_parts();
        Ok(Fields(read_fields(&parts.headers, body).await?))
    }
}

/// A request from the query string (`GET listParts?uploadId=…`), with SPEC.md's errors.
pub struct QueryFields<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryFields<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> AppResult<QueryFields<T>> {
        let query = parts.uri.query().unwrap_or("");
        Ok(QueryFields(parse_form(query_pairs(query.as_bytes()))?))
    }
}

/// A JSON body of at most [`MAX_JSON_BODY_BYTES`], as `T` (uploadComplete's).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, _state: &S) -> AppResult<JsonBody<T>> {
        let (parts, body) = request.into_parts();
        let body = read_limited(&parts.headers, body, MAX_JSON_BODY_BYTES).await?;
        Ok(JsonBody(parse_json(&body.bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use partup_wire::{CompleteRequest, ErrorCode};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Init {
        resource_key: String,
    }

    #[test]
    fn not_json_is_malformed_and_the_wrong_shape_names_its_place() {
        let garbage = parse_json::<Init>(b"{\"resourceKey\":").unwrap_err();
        assert_eq!(garbage.code, ErrorCode::MalformedRequest);
        let trailing = parse_json::<Init>(b"{\"resourceKey\":\"a\"} {}").unwrap_err();
        assert_eq!(trailing.code, ErrorCode::MalformedRequest);
        let wrong = parse_json::<Init>(b"{\"resourceKey\": 5}").unwrap_err();
        assert_eq!(wrong.code, ErrorCode::InvalidArgument);
        assert!(
            wrong.message.starts_with("resourceKey: "),
            "{}",
            wrong.message
        );
        let deep = parse_json::<CompleteRequest>(
            br#"{"uploadId":"u","completeMultipartUpload":[{"partNumber":1,"md5":"x"}]}"#,
        )
        .unwrap_err();
        assert!(
            deep.message.starts_with("completeMultipartUpload[0].md5: "),
            "{}",
            deep.message
        );
        let ok = parse_json::<Init>(b"{\"resourceKey\":\"a\",\"x\":[[[[{}]]]]}").unwrap();
        assert_eq!(ok.resource_key, "a");
    }

    #[test]
    fn form_fields_parse_like_json_strings() {
        let init: Init = parse_form(vec![
            ("other".into(), "x".into()),
            ("resourceKey".into(), "k".into()),
        ])
        .unwrap();
        assert_eq!(init.resource_key, "k");
        let missing = parse_form::<Init>(vec![]).unwrap_err();
        assert!(
            missing.message.contains("resourceKey"),
            "{}",
            missing.message
        );
    }
}
