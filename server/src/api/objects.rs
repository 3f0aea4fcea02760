//! `GET`/`HEAD /v1/objects/{key}`: a completed object, whole or one byte range.
//!
//! The key is the rest of the path, percent-decoded. Range handling is done here rather than by
//! tower-http's `ServeFile` because objects are stored with a header and because an unsatisfiable
//! range must answer SPEC.md's JSON `InvalidRange`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use partup_wire::{ErrorCode, OBJECTS_PREFIX, validate_resource_key};
use percent_encoding::percent_decode_str;

use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::auth::Reader;
use crate::storage::{ByteRange, ObjectRead};

pub async fn handle(
    State(state): State<AppState>,
    reader: Result<Reader, AppError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    // Upload tokens: a bad token is 401, a key outside its read scope 403 (http/auth.rs).
    if let Err(refused) = reader.and_then(|reader| reader.check(&key_from_path(&uri)?)) {
        return refused.into_response();
    }
    match serve(&state, &method, &uri, &headers).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The requested key; errors only for keys no object can have.
fn key_from_path(uri: &Uri) -> AppResult<String> {
    let raw = uri
        .path()
        .strip_prefix(OBJECTS_PREFIX)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or("");
    let key = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| {
            AppError::new(
                ErrorCode::InvalidObjectName,
                "the object key is not valid UTF-8",
            )
        })?
        .into_owned();
    validate_resource_key(&key).map_err(|why| AppError::new(ErrorCode::InvalidObjectName, why))?;
    Ok(key)
}

async fn serve(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let key = key_from_path(uri)?;
    let requested = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let wanted = requested.and_then(parse_range_header);
    let read = state
        .storage
        .read_object(&key, wanted, method != Method::HEAD)
        .await?;
    let (size, etag, range, body) = match read {
        ObjectRead::Found {
            size,
            etag,
            range,
            body,
        } => (size, etag, range, body),
        ObjectRead::Unsatisfiable { size } => return Ok(unsatisfiable(requested, size)),
    };
    let served = range.clone().unwrap_or(0..size);
    let content_type = mime_guess::from_path(&key).first_or_octet_stream();
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content_type.as_ref())
        .header(header::ETAG, format!("\"{etag}\""))
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, served.end - served.start);
    if let Some(range) = &range {
        response = response.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", range.start, range.end - 1),
        );
    }
    let body = body.map(Body::from_stream).unwrap_or_else(Body::empty);
    response
        .body(body)
        .map_err(|e| AppError::internal(format!("building the response failed: {e}")))
}

/// 416 `InvalidRange`, with the size the client can ask within.
fn unsatisfiable(requested: Option<&str>, size: u64) -> Response {
    let mut response = AppError::new(
        ErrorCode::InvalidRange,
        format!(
            "the range '{}' lies outside the object's {size} bytes",
            requested.unwrap_or_default()
        ),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`; `None` for anything else, which is served as the
/// whole object (RFC 9110 allows ignoring Range): several ranges, other units, `a-b` with `a > b`.
fn parse_range_header(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => Some(ByteRange::Suffix(number(suffix)?)),
        (start, "") => Some(ByteRange::From(number(start)?)),
        (start, end) => match (number(start)?, number(end)?) {
            (start, end) if start > end => None,
            (start, end) => Some(ByteRange::FromTo(start, end)),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum RangeRequest {
        /// Not a single byte range we understand: serve the whole object (RFC 9110 allows ignoring Range).
        Ignored,
        Satisfiable(Range<u64>),
        Unsatisfiable,
    }

    /// What a `Range` header asks of an object of `size` bytes: parsing here, resolving in storage.
    fn parse_range(value: &str, size: u64) -> RangeRequest {
        match parse_range_header(value).map(|range| range.resolve(size)) {
            None => RangeRequest::Ignored,
            Some(Some(range)) => RangeRequest::Satisfiable(range),
            Some(None) => RangeRequest::Unsatisfiable,
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0..10));
        assert_eq!(parse_range("bytes=90-200", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=95-", 100), Satisfiable(95..100));
        assert_eq!(parse_range("bytes=-5", 100), Satisfiable(95..100));
        assert_eq!(parse_range("bytes=-500", 100), Satisfiable(0..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-101", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Ignored);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignored);
        assert_eq!(parse_range("items=0-1", 100), Ignored);
    }
}
