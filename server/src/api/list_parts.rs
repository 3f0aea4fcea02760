//! `POST listParts` (JSON or form body) and `GET listParts?uploadId=…`: the parts stored so far.

use axum::Json;
use axum::extract::{Query, State};
use partup_wire::ListPartsResponse;
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::AppResult;
use crate::http::AppState;
use crate::http::body::{Fields, upload_id_field};
use crate::storage::UploadId;

pub async fn handle_post(
    State(state): State<AppState>,
    caller: Caller,
    Fields(fields): Fields,
) -> AppResult<Json<ListPartsResponse>> {
    list(&state, &caller, upload_id_field(&fields)?).await
}

pub async fn handle_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Map<String, Value>>,
) -> AppResult<Json<ListPartsResponse>> {
    list(&state, &caller, upload_id_field(&query)?).await
}

async fn list(
    state: &AppState,
    caller: &Caller,
    upload_id: UploadId,
) -> AppResult<Json<ListPartsResponse>> {
    let (resource_key, parts) = state.storage.list_parts(&upload_id, caller).await?;
    Ok(Json(ListPartsResponse {
        upload_id: upload_id.to_string(),
        resource_key,
        parts,
    }))
}
