//! Reading small request bodies (everything but parts): at most 4 MiB, as JSON or as a form
//! (`application/x-www-form-urlencoded` or `multipart/form-data`), into a JSON object whose fields the
//! handlers then pick with [`string_field`], so every error names its field.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use partup_wire::MAX_JSON_BODY_BYTES;
use serde_json::{Map, Value};

use crate::error::{AppError, AppResult};
use crate::http::drain::{SharedBody, worth_draining};
use crate::storage::UploadId;

fn too_large() -> AppError {
    AppError::too_large(format!(
        "the request body is over the limit of {MAX_JSON_BODY_BYTES} bytes"
    ))
}

/// The request's `Content-Length`, if it sent a valid one.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads the whole body, refusing more than `MAX_JSON_BODY_BYTES` without buffering the excess (the
/// excess is drained so the client reads the 413).
pub async fn read_limited(headers: &HeaderMap, body: Body) -> AppResult<Bytes> {
    let limit = MAX_JSON_BODY_BYTES as u64;
    let declared = declared_length(headers);
    let mut stream = SharedBody::new(body);
    if declared.is_some_and(|len| len > limit) {
        if worth_draining(declared, limit) {
            stream.drain().await;
        }
        return Err(too_large());
    }
    let mut collected = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::malformed(format!("the request body could not be read: {e}")))?;
        if collected.len() + chunk.len() > MAX_JSON_BODY_BYTES {
            stream.drain().await;
            return Err(too_large());
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
    Ok(collected.freeze())
}

/// The body's fields as a JSON object, whatever form it came in.
pub async fn read_fields(headers: &HeaderMap, body: Body) -> AppResult<Map<String, Value>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type).map_err(|e| {
            AppError::malformed(format!("the multipart form has no usable boundary: {e}"))
        })?;
        let bytes = read_limited(headers, body).await?;
        let mut form = multer::Multipart::new(
            futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes) }),
            boundary,
        );
        let mut fields = Map::new();
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| AppError::malformed(format!("the multipart form is malformed: {e}")))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            let text = field.text().await.map_err(|e| {
                AppError::malformed(format!("form field '{name}' could not be read: {e}"))
            })?;
            fields.insert(name, Value::String(text));
        }
        return Ok(fields);
    }
    let bytes = read_limited(headers, body).await?;
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok(form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect());
    }
    parse_json_object(&bytes)
}

/// Parses a JSON body that must be an object.
pub fn parse_json_object(bytes: &[u8]) -> AppResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(AppError::invalid_argument("the body must be a JSON object")),
        Err(e) => Err(AppError::malformed(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// A required string field; the error names it.
pub fn string_field(fields: &Map<String, Value>, name: &str) -> AppResult<String> {
    match fields.get(name) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(AppError::invalid_argument(format!(
            "{name} must be a string"
        ))),
        None => Err(AppError::invalid_argument(format!("{name} is missing"))),
    }
}

/// The `uploadId` field of a set of fields, as an id (`NoSuchUpload` when it cannot be one).
pub fn upload_id_field(fields: &Map<String, Value>) -> AppResult<UploadId> {
    UploadId::parse(&string_field(fields, "uploadId")?)
}

/// Extracts a body's fields as a JSON object, whatever form it came in (see [`read_fields`]).
pub struct Fields(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = AppError;

    async fn from_request(request: Request, _state: &S) -> AppResult<Fields> {
        let (parts, body) = request.into_parts();
        Ok(Fields(read_fields(&parts.headers, body).await?))
    }
}

/// Extracts a JSON body that must be an object (see [`read_limited`], [`parse_json_object`]).
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = AppError;

    async fn from_request(request: Request, _state: &S) -> AppResult<JsonObject> {
        let (parts, body) = request.into_parts();
        let bytes = read_limited(&parts.headers, body).await?;
        Ok(JsonObject(parse_json_object(&bytes)?))
    }
}
