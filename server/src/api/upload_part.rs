//! `POST upload`: one part as `multipart/form-data` (SPEC.md §2), streamed to storage.
//!
//! Fields may come in any order. `content` is hashed and counted on its way into the store's staging
//! ([`HashingStream`]), never held whole in memory; only after the form ends are the claimed md5 and
//! the upload checked and the part committed, so a bad or broken upload never replaces a stored part.
//! When `uploadId` comes first (as partup's client sends it), a dead upload is refused before its
//! bytes are received.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::TryStreamExt;
use partup_wire::{ErrorCode, md5_to_hex, parse_md5_hex, parse_part_number};

use crate::api::drain::{SharedBody, worth_draining};
use crate::api::request_body::declared_length;
use crate::app::{AppState, json_ok};
use crate::config::FORM_OVERHEAD_BYTES;
use crate::error::{AppError, AppResult};
use crate::storage::digest::HashingStream;
use crate::storage::{PartTarget, StagedPart, UploadId};

fn multer_error(err: multer::Error, max_part_size: u64) -> AppError {
    match err {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if field_name.as_deref() == Some("content") =>
        {
            AppError::too_large(format!(
                "the part is larger than the server's limit of {max_part_size} bytes"
            ))
        }
        multer::Error::FieldSizeExceeded { field_name, .. } => AppError::too_large(format!(
            "form field '{}' is longer than {FORM_OVERHEAD_BYTES} bytes",
            field_name.unwrap_or_default()
        )),
        multer::Error::StreamSizeExceeded { .. } => AppError::too_large(format!(
            "the request is larger than the part limit of {max_part_size} bytes plus {FORM_OVERHEAD_BYTES} bytes of form"
        )),
        multer::Error::StreamReadFailed(e) => AppError::malformed(format!(
            "the request body broke off before the form ended: {e}"
        )),
        other => AppError::malformed(format!("the multipart form is malformed: {other}")),
    }
}

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let body = SharedBody::new(body);
    let result = receive(&state, &headers, body.clone()).await;
    // Any refusal may come before the body was read (a dead upload, a bad field, a size over the
    // limit): read the rest so the client sees the answer rather than a reset connection.
    if result.is_err()
        && worth_draining(
            declared_length(&headers),
            state.config.max_part_size + FORM_OVERHEAD_BYTES,
        )
    {
        body.drain().await;
    }
    result
}

async fn receive(state: &AppState, headers: &HeaderMap, body: SharedBody) -> AppResult<Response> {
    let max_part_size = state.config.max_part_size;
    let max_request = max_part_size + FORM_OVERHEAD_BYTES;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        AppError::malformed("send the part as multipart/form-data with fields uploadId, partNumber, md5 and content")
    })?;
    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > max_request) {
        return Err(AppError::too_large(format!(
            "the request is {} bytes; a part may be at most {max_part_size} bytes",
            declared.unwrap_or_default()
        )));
    }
    let limits = multer::SizeLimit::new()
        .whole_stream(max_request)
        .per_field(FORM_OVERHEAD_BYTES)
        .for_field("content", max_part_size);
    let mut form = multer::Multipart::with_constraints(
        body,
        boundary,
        multer::Constraints::new().size_limit(limits),
    );

    let mut upload_id: Option<UploadId> = None;
    let mut part_number: Option<u32> = None;
    let mut claimed_md5: Option<[u8; 16]> = None;
    let mut staged: Option<StagedPart> = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| multer_error(e, max_part_size))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "content" => {
                if staged.is_some() {
                    return Err(AppError::invalid_argument(
                        "the form has more than one content field",
                    ));
                }
                let bytes = Box::pin(field.map_err(move |e| multer_error(e, max_part_size)));
                let (hashing, hash_state) = HashingStream::new(bytes, max_part_size);
                let target = PartTarget {
                    upload_id: upload_id.clone(),
                    part_number,
                    claimed_md5,
                };
                let handle = state.store.stage_part(&target, Box::pin(hashing)).await?;
                let mut hash_state = hash_state.lock().expect("hash state lock");
                staged = Some(StagedPart {
                    md5: hash_state.finish(),
                    size: hash_state.size(),
                    backend_handle: handle,
                });
            }
            "uploadId" | "partNumber" | "md5" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| multer_error(e, max_part_size))?;
                match name.as_str() {
                    "uploadId" => {
                        let id = UploadId::parse(&text)?;
                        state.store.ensure_upload_open(&id).await?;
                        upload_id = Some(id);
                    }
                    "partNumber" => {
                        part_number = Some(parse_part_number(&text).ok_or_else(|| {
                            AppError::invalid_argument(
                                "partNumber must be decimal digits from 0 to 10000",
                            )
                        })?);
                    }
                    _ => {
                        claimed_md5 = Some(parse_md5_hex(&text).ok_or_else(|| {
                            AppError::invalid_argument("md5 must be 32 hex digits")
                        })?);
                    }
                }
            }
            // Unknown fields are read and ignored, as form handlers usually do.
            _ => {
                let mut field = field;
                while field
                    .chunk()
                    .await
                    .map_err(|e| multer_error(e, max_part_size))?
                    .is_some()
                {}
            }
        }
    }

    let upload_id = upload_id.ok_or_else(|| AppError::invalid_argument("uploadId is missing"))?;
    let part_number =
        part_number.ok_or_else(|| AppError::invalid_argument("partNumber is missing"))?;
    let claimed_md5 = claimed_md5.ok_or_else(|| AppError::invalid_argument("md5 is missing"))?;
    let staged = staged.ok_or_else(|| {
        AppError::invalid_argument("content is missing (the part's bytes, as a file field)")
    })?;
    if staged.md5 != claimed_md5 {
        return Err(AppError::new(
            ErrorCode::BadDigest,
            format!(
                "part {part_number}: the {} bytes received have md5 {}, not {}; they were damaged on the way, send the part again",
                staged.size,
                md5_to_hex(&staged.md5),
                md5_to_hex(&claimed_md5)
            ),
        ));
    }
    let info = state
        .store
        .commit_part(&upload_id, part_number, staged)
        .await?;
    Ok(json_ok(&info))
}
