//! `POST uploadInit`: validates the resource key and the caller's write scope, asks the
//! application's pre-create hook when one is configured, and starts an upload (SPEC.md §1).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use partup_wire::{ErrorCode, InitResponse, validate_resource_key};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::body::{Fields, string_field};
use crate::storage::access::ensure_may_write;

pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    Fields(fields): Fields,
) -> Result<Json<InitResponse>, Response> {
    let resource_key = string_field(&fields, "resourceKey").map_err(IntoResponse::into_response)?;
    validate_resource_key(&resource_key)
        .map_err(|why| AppError::new(ErrorCode::InvalidObjectName, why).into_response())?;
    state
        .storage
        .check_key_fits(&resource_key)
        .map_err(IntoResponse::into_response)?;
    // The application is only asked about uploads the token allows at all.
    ensure_may_write(&caller, &resource_key).map_err(IntoResponse::into_response)?;
    if let Some(hook) = &state.pre_create {
        let is_exist = state
            .storage
            .object_exists(&resource_key)
            .await
            .map_err(IntoResponse::into_response)?;
        let grant = caller.grant();
        let claims: Option<Value> = grant.map(|g| json!({"sub": g.sub, "partup": g.scope}));
        hook.ask(
            &resource_key,
            grant.map(|g| g.sub.as_str()),
            claims.as_ref(),
            is_exist,
        )
        .await
        .map_err(IntoResponse::into_response)?;
    }
    let (upload_id, is_exist) = state
        .storage
        .init_upload(&caller, &resource_key)
        .await
        .map_err(IntoResponse::into_response)?;
    tracing::info!(%upload_id, resource_key, is_exist, "upload started");
    Ok(Json(InitResponse {
        upload_id: upload_id.to_string(),
        is_exist,
    }))
}
