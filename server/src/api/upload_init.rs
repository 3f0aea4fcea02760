//! `POST uploadInit`: validates the resource key and starts an upload (SPEC.md §1).

use axum::Json;
use axum::extract::State;
use partup_wire::{ErrorCode, InitResponse, validate_resource_key};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::body::{Fields, string_field};

pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    Fields(fields): Fields,
) -> AppResult<Json<InitResponse>> {
    let resource_key = string_field(&fields, "resourceKey")?;
    validate_resource_key(&resource_key)
        .map_err(|why| AppError::new(ErrorCode::InvalidObjectName, why))?;
    let (upload_id, is_exist) = state.storage.init_upload(&caller, &resource_key).await?;
    tracing::info!(%upload_id, resource_key, is_exist, "upload started");
    Ok(Json(InitResponse {
        upload_id: upload_id.to_string(),
        is_exist,
    }))
}
