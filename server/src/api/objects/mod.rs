//! `GET`/`HEAD /v1/objects/{key}`: a completed object, whole or one byte range, with the headers
//! that make it safe to open in a browser and cheap to revalidate. Every header rule of object
//! responses lives in this module: which types are inline (`disposition.rs`), conditional requests
//! (`conditional.rs`), the `Range` header (`range.rs`), `--public-url` (`public_url.rs`).
//!
//! The key is the rest of the path, percent-decoded. Range handling is done here rather than by
//! tower-http's `ServeFile` because objects are stored with a header and because an unsatisfiable
//! range must answer SPEC.md's JSON `InvalidRange`.

mod conditional;
mod disposition;
mod public_url;
mod range;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mime_guess::mime::Mime;
use partup_wire::{ErrorCode, OBJECTS_PREFIX, validate_resource_key};
use percent_encoding::percent_decode_str;

use self::conditional::{Conditions, Outcome};
use crate::error::{AppError, AppResult, truncate_for_message};
use crate::http::AppState;
use crate::http::auth::Reader;
use crate::storage::{ObjectMeta, ObjectRead};

/// Revalidate every time (a key can be replaced by a new upload; a 304 costs little), and keep it
/// out of shared caches (reads may be allowed to some clients only).
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, no-cache");
/// Whatever a browser makes of a response, it runs no script and gets an opaque origin, so an
/// uploaded page cannot reach this origin's storage or cookies even if it is rendered.
const SANDBOX: HeaderValue = HeaderValue::from_static("sandbox");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

pub async fn handle(
    State(state): State<AppState>,
    reader: Result<Reader, AppError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut response = match serve(&state, reader, &method, &uri, &headers).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    // On every answer of this endpoint, errors and redirects included: one rule, no exceptions.
    let answer = response.headers_mut();
    answer.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    answer.insert(header::CONTENT_SECURITY_POLICY, SANDBOX);
    response
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
    reader: AppResult<Reader>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> AppResult<Response> {
    if let Some(public_url) = &state.config.public_url
        && let Some(target) = public_url::redirect_target(public_url, uri, headers)
    {
        return Ok(redirect(&target));
    }
    let key = key_from_path(uri)?;
    // Upload tokens (after the redirect, which keeps `?token=`): a bad token is 401, a key outside
    // its read scope 403 (`http/auth.rs`).
    reader?.check(&key)?;
    let conditions = Conditions::from_headers(headers);
    let wants_body = method != Method::HEAD;
    let read = state
        .storage
        .read_object(&key, |meta| conditions.evaluate(meta).read_plan(wants_body))
        .await?;
    let (meta, range, body) = match read {
        ObjectRead::Found { meta, range, body } => (meta, range, body),
        ObjectRead::Unsatisfiable { size } => {
            let requested = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
            return Ok(unsatisfiable(requested, size));
        }
    };
    let content_type = mime_guess::from_path(&key).first_or_octet_stream();
    let response = object_headers(&key, &meta, &content_type, uri);
    // The plan is decided again from the same metadata: it said whether this is a 304.
    if conditions.evaluate(&meta) == Outcome::NotModified {
        // RFC 9110 §15.4.5: the validators and caching headers of the 200, no content metadata.
        return build(response.status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    let response = content_headers(response, &meta, range, content_type.as_ref());
    build(
        response,
        body.map(Body::from_stream).unwrap_or_else(Body::empty),
    )
}

/// What every answer carrying the object has, 304 included: validators, caching, disposition.
fn object_headers(
    key: &str,
    meta: &ObjectMeta,
    content_type: &Mime,
    uri: &Uri,
) -> axum::http::response::Builder {
    let disposition = disposition::content_disposition(
        key,
        content_type,
        disposition::download_forced(uri.query()),
    );
    let response = Response::builder()
        .header(header::ETAG, format!("\"{}\"", meta.etag))
        .header(header::CACHE_CONTROL, CACHE_CONTROL)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_DISPOSITION, disposition);
    match meta.last_modified {
        Some(modified) => response.header(header::LAST_MODIFIED, conditional::http_date(modified)),
        None => response,
    }
}

/// `Content-Type`, `Content-Length` and, for a range, `206` with its `Content-Range`.
fn content_headers(
    response: axum::http::response::Builder,
    meta: &ObjectMeta,
    range: Option<std::ops::Range<u64>>,
    content_type: &str,
) -> axum::http::response::Builder {
    let size = meta.size;
    let served = range.clone().unwrap_or(0..size);
    let response = response
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, served.end - served.start);
    match range {
        Some(range) => response.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", range.start, range.end - 1),
        ),
        None => response,
    }
}

fn build(response: axum::http::response::Builder, body: Body) -> AppResult<Response> {
    response
        .body(body)
        .map_err(|e| AppError::internal(format!("building the response failed: {e}")))
}

/// `307`: temporary, so clients ask here again if `--public-url` changes; the method is kept.
fn redirect(target: &str) -> Response {
    match HeaderValue::from_str(target) {
        Ok(location) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => {
            AppError::internal("the --public-url redirect is not a valid header").into_response()
        }
    }
}

/// 416 `InvalidRange`, with the size the client can ask within.
fn unsatisfiable(requested: Option<&str>, size: u64) -> Response {
    let mut response = AppError::new(
        ErrorCode::InvalidRange,
        format!(
            "the range '{}' lies outside the object's {size} bytes",
            truncate_for_message(requested.unwrap_or_default())
        ),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}
