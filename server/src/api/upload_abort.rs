//! `POST uploadAbort`: ends an upload in progress and frees its parts.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use partup_wire::AbortResponse;

use crate::api::request_body::{read_fields, string_field};
use crate::app::{AppState, json_ok};
use crate::error::AppResult;
use crate::storage::UploadId;

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let fields = read_fields(&headers, body).await?;
    let upload_id = UploadId::parse(&string_field(&fields, "uploadId")?)?;
    state.store.abort(&upload_id).await?;
    tracing::info!(%upload_id, "upload aborted");
    Ok(json_ok(&AbortResponse {
        upload_id: upload_id.to_string(),
        aborted: true,
    }))
}
