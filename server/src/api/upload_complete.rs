//! `POST uploadComplete`: checks the part list and assembles the object (SPEC.md §3).
//!
//! The assembly runs as its own task, tracked for shutdown: a client hanging up mid-request does not
//! stop it, so a retry of the same request finds it finished (or waits for it) and gets the same 200.

use axum::Json;
use axum::extract::State;
use partup_wire::{CompleteRequest, CompleteResponse};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::body::JsonBody;
use crate::storage::UploadId;

pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<CompleteRequest>,
) -> AppResult<Json<CompleteResponse>> {
    let upload_id = UploadId::parse(&request.upload_id)?;
    let storage = state.storage.clone();
    let id = upload_id.clone();
    let assembling = state.background.spawn(async move {
        storage
            .complete(&id, &request.complete_multipart_upload, &caller)
            .await
    });
    let response = assembling
        .await
        .map_err(|e| AppError::internal(format!("assembling task failed: {e}")))??;
    tracing::info!(%upload_id, resource_key = response.resource_key, size = response.size, parts = response.parts, "upload completed");
    Ok(Json(response))
}
