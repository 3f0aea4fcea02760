//! `POST uploadAbort`: ends an upload in progress and frees its parts.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use partup_wire::AbortResponse;

use crate::error::AppResult;
use crate::http::AppState;
use crate::http::body::read_upload_id;

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Json<AbortResponse>> {
    let upload_id = read_upload_id(&headers, body).await?;
    state.storage.abort(&upload_id).await?;
    tracing::info!(%upload_id, "upload aborted");
    Ok(Json(AbortResponse {
        upload_id: upload_id.to_string(),
        aborted: true,
    }))
}
