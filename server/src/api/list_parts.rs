//! `POST listParts` (JSON or form body) and `GET listParts?uploadId=…`: the parts stored so far.

use axum::Json;
use axum::extract::State;
use partup_wire::ListPartsResponse;

use crate::api::UploadIdRequest;
use crate::auth::Caller;
use crate::error::AppResult;
use crate::http::AppState;
use crate::http::body::{Fields, QueryFields};
use crate::storage::UploadId;

pub async fn handle_post(
    State(state): State<AppState>,
    caller: Caller,
    Fields(request): Fields<UploadIdRequest>,
) -> AppResult<Json<ListPartsResponse>> {
    list(&state, &caller, request.upload_id()?).await
}

pub async fn handle_get(
    State(state): State<AppState>,
    caller: Caller,
    QueryFields(request): QueryFields<UploadIdRequest>,
) -> AppResult<Json<ListPartsResponse>> {
    list(&state, &caller, request.upload_id()?).await
}

async fn list(
    state: &AppState,
    caller: &Caller,
    upload_id: UploadId,
) -> AppResult<Json<ListPartsResponse>> {
    let listed = state.storage.list_parts(&upload_id, caller).await?;
    Ok(Json(ListPartsResponse {
        upload_id: upload_id.to_string(),
        resource_key: listed.resource_key,
        parts: listed.parts,
        direct: listed.direct,
    }))
}
