//! `POST upload`: one part as `multipart/form-data` (SPEC.md §2), streamed to storage.
//!
//! Fields may come in any order. `content` goes chunk by chunk into storage's [`IncomingPart`],
//! which counts it against the part-size limit and hashes it; it is never held whole in memory. Only
//! after the form ends are the claimed md5 and the upload checked and the part committed, so a bad
//! or broken upload never replaces a stored part. When `uploadId` comes first (as partup's client
//! sends it), a dead upload is refused before its bytes are received.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use partup_wire::{PartInfo, parse_md5_hex, parse_part_number};

use crate::auth::Caller;
use crate::config::FORM_OVERHEAD_BYTES;
use crate::error::{AppError, AppResult, truncate_for_message};
use crate::http::AppState;
use crate::http::body::declared_length;
use crate::http::drain::{SharedBody, worth_draining};
use crate::storage::{IncomingPart, PartDestination, UploadId, UploadRecord};

fn multer_error(err: multer::Error, max_part_size: u64) -> AppError {
    match err {
        multer::Error::FieldSizeExceeded { field_name, .. } => AppError::too_large(format!(
            "form field '{}' is longer than {FORM_OVERHEAD_BYTES} bytes",
            truncate_for_message(&field_name.unwrap_or_default())
        )),
        multer::Error::StreamSizeExceeded { .. } => AppError::too_large(format!(
            "the request is larger than the part limit of {max_part_size} bytes plus {FORM_OVERHEAD_BYTES} bytes of form"
        )),
        multer::Error::StreamReadFailed(e) => AppError::malformed(format!(
            "the request body broke off before the form ended: {e}"
        )),
        // multer's messages may quote field names and headers the client sent.
        other => AppError::malformed(format!(
            "the multipart form is malformed: {}",
            truncate_for_message(&other.to_string())
        )),
    }
}

pub async fn handle(
    State(state): State<AppState>,
    caller: Result<Caller, AppError>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Json<PartInfo>> {
    let body = SharedBody::new(body);
    // The token is checked from the headers, before a byte of the form is read.
    let result = match caller {
        Ok(caller) => receive(&state, &caller, &headers, body.clone()).await,
        Err(refused) => Err(refused),
    };
    // Any refusal may come before the body was read (no token, a dead upload, a bad field, a size
    // over the limit). It is answered at once; the rest of the body is never parsed or staged, only
    // read and thrown away in the background (within the drain's bounds) so that a client still
    // sending hears the answer rather than a reset connection.
    if result.is_err()
        && worth_draining(
            declared_length(&headers),
            state.config.max_part_size + FORM_OVERHEAD_BYTES,
        )
    {
        tokio::spawn(body.drain());
    }
    result.map(Json)
}

/// The form's fields as they arrive.
#[derive(Default)]
struct PartForm {
    upload_id: Option<UploadId>,
    /// The upload's record, once `uploadId` was found in progress (and the caller's).
    record: Option<UploadRecord>,
    part_number: Option<u32>,
    claimed_md5: Option<[u8; 16]>,
    content: Option<IncomingPart>,
}

impl PartForm {
    /// The part with its upload, number and claimed md5, once the form has ended.
    fn complete(self) -> AppResult<(IncomingPart, UploadId, u32, [u8; 16])> {
        let upload_id = self
            .upload_id
            .ok_or_else(|| AppError::invalid_argument("uploadId is missing"))?;
        let part_number = self
            .part_number
            .ok_or_else(|| AppError::invalid_argument("partNumber is missing"))?;
        let claimed_md5 = self
            .claimed_md5
            .ok_or_else(|| AppError::invalid_argument("md5 is missing"))?;
        let content = self.content.ok_or_else(|| {
            AppError::invalid_argument("content is missing (the part's bytes, as a file field)")
        })?;
        Ok((content, upload_id, part_number, claimed_md5))
    }

    /// Where the part goes, if the fields before its bytes said so.
    fn destination(&self) -> Option<PartDestination> {
        Some(PartDestination {
            upload_id: self.upload_id.clone()?,
            part_number: self.part_number?,
            claimed_md5: self.claimed_md5?,
        })
    }

    /// The upload the fields before the part's bytes named, with its record and the part's number
    /// if named too.
    fn upload(&self) -> Option<(&UploadId, &UploadRecord, Option<u32>)> {
        let (id, record) = self.upload_id.as_ref().zip(self.record.as_ref())?;
        Some((id, record, self.part_number))
    }
}

fn open_form(
    headers: &HeaderMap,
    body: SharedBody,
    max_part_size: u64,
) -> AppResult<multer::Multipart<'static>> {
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
    // `content` has no limit of its own here: the part-size rule is storage's (`IncomingPart`), one
    // rule with one message; the whole request still bounds it.
    let limits = multer::SizeLimit::new()
        .whole_stream(max_request)
        .per_field(FORM_OVERHEAD_BYTES)
        .for_field("content", max_request);
    Ok(multer::Multipart::with_constraints(
        body,
        boundary,
        multer::Constraints::new().size_limit(limits),
    ))
}

async fn receive(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: SharedBody,
) -> AppResult<PartInfo> {
    let max_part_size = state.config.max_part_size;
    let mut form = open_form(headers, body, max_part_size)?;
    // Below --min-free-space nothing of the part is written (its size: at most the request's).
    state
        .storage
        .ensure_room_for_part(declared_length(headers))
        .await?;
    let mut fields = PartForm::default();
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| multer_error(e, max_part_size))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "content" {
            if fields.content.is_some() {
                return Err(AppError::invalid_argument(
                    "the form has more than one content field",
                ));
            }
            let part = receive_content(state, fields.upload(), fields.destination(), &mut field);
            fields.content = Some(part.await?);
            continue;
        }
        if matches!(name.as_str(), "uploadId" | "partNumber" | "md5") {
            let text = field
                .text()
                .await
                .map_err(|e| multer_error(e, max_part_size))?;
            take_field(state, caller, &mut fields, &name, &text).await?;
            continue;
        }
        // Unknown fields are read and ignored, as form handlers usually do.
        while field
            .chunk()
            .await
            .map_err(|e| multer_error(e, max_part_size))?
            .is_some()
        {}
    }
    let (part, upload_id, part_number, claimed_md5) = fields.complete()?;
    state
        .storage
        .commit_part(part, caller, (&upload_id, part_number), claimed_md5)
        .await
}

/// Receives `content` into storage, which counts it against the part-size limit and the upload's
/// size cap (its token's `maxSize` or `--max-object-size`; only the latter when the fields before it
/// did not name the upload).
async fn receive_content(
    state: &AppState,
    upload: Option<(&UploadId, &UploadRecord, Option<u32>)>,
    destination: Option<PartDestination>,
    field: &mut multer::Field<'static>,
) -> AppResult<IncomingPart> {
    let budget = match upload {
        Some((id, record, part_number)) => {
            state.storage.part_budget(id, record, part_number).await?
        }
        // Bytes before `uploadId` still count against the server's cap while they arrive.
        None => Some(state.storage.unknown_upload_budget()),
    };
    let mut part = state.storage.begin_part(destination, budget).await?;
    if let Some((upload_id, ..)) = upload {
        // However slowly the bytes come, the stale-upload sweep leaves their upload alone.
        part.keep_upload_alive(state.storage.part_in_flight(upload_id));
    }
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multer_error(e, state.config.max_part_size))?
    {
        part.write(chunk).await?;
    }
    Ok(part)
}

/// Takes one of the text fields.
async fn take_field(
    state: &AppState,
    caller: &Caller,
    fields: &mut PartForm,
    name: &str,
    text: &str,
) -> AppResult<()> {
    match name {
        "uploadId" => {
            let id = UploadId::parse(text)?;
            fields.record = Some(state.storage.upload_in_progress(&id, caller).await?);
            fields.upload_id = Some(id);
        }
        "partNumber" => {
            fields.part_number = Some(parse_part_number(text).ok_or_else(|| {
                AppError::invalid_argument("partNumber must be decimal digits from 0 to 10000")
            })?);
        }
        "md5" => {
            fields.claimed_md5 = Some(
                parse_md5_hex(text)
                    .ok_or_else(|| AppError::invalid_argument("md5 must be 32 hex digits"))?,
            );
        }
        _ => {}
    }
    Ok(())
}
