//! `POST uploadComplete`: checks the part list and assembles the object (SPEC.md §3).
//!
//! A complete whose request arrived is finished, however its connection ends (SPEC.md, "A complete
//! that arrived is finished"): the serve loop runs this route detached from the connection
//! ([`is_upload_complete`]), so a client closing right after its last byte cannot drop the request
//! before it is read, and the assembly runs as its own task, tracked for shutdown. A retry of the
//! same request finds it finished (or waits for it) and gets the same 200.

use axum::Json;
use axum::extract::State;
use http::Method;
use partup_wire::{CompleteRequest, CompleteResponse, Endpoint};
use tracing::Instrument;

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
    let assembling = state.background.spawn(
        async move {
            storage
                .complete(&id, &request.complete_multipart_upload, &caller)
                .await
        }
        // Its log lines carry the request's id too.
        .instrument(tracing::Span::current()),
    );
    let response = assembling
        .await
        .map_err(|e| AppError::internal(format!("assembling task failed: {e}")))??;
    tracing::info!(%upload_id, resource_key = response.resource_key, size = response.size, parts = response.parts, "upload completed");
    Ok(Json(response))
}

/// Whether a request is an uploadComplete, which the serve loop runs detached from its connection.
pub fn is_upload_complete(method: &Method, path: &str) -> bool {
    method == Method::POST && path == Endpoint::UploadComplete.path()
}
