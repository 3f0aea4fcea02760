//! `POST listParts` (JSON or form body) and `GET listParts?uploadId=…`: the parts stored so far.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use partup_wire::ListPartsResponse;
use serde_json::{Map, Value};

use crate::api::request_body::{read_fields, string_field};
use crate::app::{AppState, json_ok};
use crate::error::AppResult;
use crate::storage::UploadId;

pub async fn handle_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let fields = read_fields(&headers, body).await?;
    list(&state, &fields).await
}

pub async fn handle_get(
    State(state): State<AppState>,
    Query(query): Query<Map<String, Value>>,
) -> AppResult<Response> {
    list(&state, &query).await
}

async fn list(state: &AppState, fields: &Map<String, Value>) -> AppResult<Response> {
    let upload_id = UploadId::parse(&string_field(fields, "uploadId")?)?;
    let (resource_key, parts) = state.store.list_parts(&upload_id).await?;
    Ok(json_ok(&ListPartsResponse {
        upload_id: upload_id.to_string(),
        resource_key,
        parts,
    }))
}
