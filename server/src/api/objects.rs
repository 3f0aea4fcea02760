//! `GET`/`HEAD /v1/objects/{key}`: a completed object, whole or one byte range.
//!
//! The key is the rest of the path, percent-decoded. Range handling is done here rather than by
//! tower-http's `ServeFile` because objects are stored with a header and because an unsatisfiable
//! range must answer SPEC.md's JSON `InvalidRange`.

use std::ops::Range;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use partup_wire::{ErrorCode, OBJECTS_PREFIX, validate_resource_key};
use percent_encoding::percent_decode_str;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::OpenRangeError;

pub async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match serve(&state, &method, &uri, &headers).await {
        Ok(response) => response,
        Err((error, size)) => {
            let mut response = error.into_response();
            if let Some(value) =
                size.and_then(|size| HeaderValue::from_str(&format!("bytes */{size}")).ok())
            {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
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
) -> Result<Response, (AppError, Option<u64>)> {
    let key = key_from_path(uri).map_err(|e| (e, None))?;
    // A store may replace the object between opening and reading it; then read the new one.
    for _attempt in 0..3 {
        let object = state.store.open_object(&key).await.map_err(|e| (e, None))?;
        let size = object.size;
        let requested = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        let range = match requested.map(|r| parse_range(r, size)) {
            None | Some(RangeRequest::Ignored) => None,
            Some(RangeRequest::Satisfiable(range)) => Some(range),
            Some(RangeRequest::Unsatisfiable) => {
                let error = AppError::new(
                    ErrorCode::InvalidRange,
                    format!(
                        "the range '{}' lies outside the object's {size} bytes",
                        requested.unwrap_or_default()
                    ),
                );
                return Err((error, Some(size)));
            }
        };
        let body_range = range.clone().unwrap_or(0..size);
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            match (object.open_range)(body_range.clone()).await {
                Ok(stream) => Body::from_stream(stream),
                Err(OpenRangeError::Replaced) => continue,
                Err(OpenRangeError::Failed(e)) => return Err((e, None)),
            }
        };
        let content_type = mime_guess::from_path(&key).first_or_octet_stream();
        let mut response = Response::builder()
            .header(header::CONTENT_TYPE, content_type.as_ref())
            .header(header::ETAG, format!("\"{}\"", object.etag))
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CONTENT_LENGTH, body_range.end - body_range.start);
        if let Some(range) = &range {
            response = response.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", range.start, range.end - 1),
            );
        }
        return response.body(body).map_err(|e| {
            (
                AppError::internal(format!("building the response failed: {e}")),
                None,
            )
        });
    }
    Err((
        AppError::internal("the object kept changing while being read; try again"),
        None,
    ))
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// Not a single byte range we understand: serve the whole object (RFC 9110 allows ignoring Range).
    Ignored,
    Satisfiable(Range<u64>),
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` against an object of `size` bytes.
fn parse_range(value: &str, size: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignored;
    };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignored;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) if size > 0 => RangeRequest::Satisfiable(size.saturating_sub(n)..size),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Ignored,
        },
        (start, "") => match number(start) {
            Some(start) if start < size => RangeRequest::Satisfiable(start..size),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Ignored,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start > end => RangeRequest::Ignored,
            (Some(start), Some(_)) if start >= size => RangeRequest::Unsatisfiable,
            (Some(start), Some(end)) => RangeRequest::Satisfiable(start..end.min(size - 1) + 1),
            _ => RangeRequest::Ignored,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
