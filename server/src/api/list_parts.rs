//! `POST listParts` (JSON or form body) and `GET listParts?uploadId=…`: the parts stored so far.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use partup_wire::ListPartsResponse;
use serde_json::{Map, Value};

use crate::error::AppResult;
use crate::http::AppState;
use crate::http::body::{read_upload_id, upload_id_field};
use crate::storage::UploadId;

pub async fn handle_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Json<ListPartsResponse>> {
    let upload_id = read_upload_id(&headers, body).await?;
    list(&state, upload_id).await
}

pub async fn handle_get(
    State(state): State<AppState>,
    Query(query): Query<Map<String, Value>>,
) -> AppResult<Json<ListPartsResponse>> {
    list(&state, upload_id_field(&query)?).await
}

async fn list(state: &AppState, upload_id: UploadId) -> AppResult<Json<ListPartsResponse>> {
    let (resource_key, parts) = state.storage.list_parts(&upload_id).await?;
    Ok(Json(ListPartsResponse {
        upload_id: upload_id.to_string(),
        resource_key,
        parts,
    }))
}
