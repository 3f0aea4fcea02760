//! `POST uploadAbort`: ends an upload in progress and frees its parts.

use axum::Json;
use axum::extract::State;
use partup_wire::AbortResponse;

use crate::api::UploadIdRequest;
use crate::auth::Caller;
use crate::error::AppResult;
use crate::http::AppState;
use crate::http::body::Fields;

pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    Fields(request): Fields<UploadIdRequest>,
) -> AppResult<Json<AbortResponse>> {
    let upload_id = request.upload_id()?;
    state.storage.abort(&upload_id, &caller).await?;
    tracing::info!(%upload_id, "upload aborted");
    Ok(Json(AbortResponse {
        upload_id: upload_id.to_string(),
        aborted: true,
    }))
}
