//! `POST uploadInit`: validates the resource key, the caller's write scope and the size it
//! declares, takes a slot under the caps on uploads in progress, asks the application's pre-create
//! hook when one is configured, and starts an upload (SPEC.md §1).

use std::fmt;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use partup_wire::{ErrorCode, InitResponse, validate_resource_key};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::body::Fields;
use crate::http::client_address::ClientAddress;
use crate::storage::access::ensure_may_write;

/// The body: the key, and optionally the size the object will have (other fields are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRequest {
    resource_key: String,
    #[serde(default, deserialize_with = "declared_size")]
    size: Option<u64>,
}

/// `size`: a whole number of bytes, as a JSON integer or (in a form) a string of digits.
fn declared_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct SizeVisitor;
    impl Visitor<'_> for SizeVisitor {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number of bytes")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u64>, E> {
            Ok(Some(n))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<u64>, E> {
            match text.bytes().all(|b| b.is_ascii_digit()) {
                true => text
                    .parse()
                    .map(Some)
                    .map_err(|_| E::custom("is too large")),
                false => Err(E::custom("must be a whole number of bytes")),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(SizeVisitor)
}

pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddress(address): ClientAddress,
    Fields(request): Fields<InitRequest>,
) -> Result<Json<InitResponse>, Response> {
    let resource_key = request.resource_key;
    validate_resource_key(&resource_key)
        .map_err(|why| AppError::new(ErrorCode::InvalidObjectName, why).into_response())?;
    state
        .storage
        .check_key_fits(&resource_key)
        .map_err(IntoResponse::into_response)?;
    // The application is only asked about uploads the token allows at all.
    ensure_may_write(&caller, &resource_key).map_err(IntoResponse::into_response)?;
    if let Some(size) = request.size {
        state
            .storage
            .check_declared_size(&caller, size)
            .map_err(IntoResponse::into_response)?;
    }
    // Before the application is asked: a flood past the caps never reaches it.
    let slot = state
        .storage
        .admit(&caller, address)
        .map_err(IntoResponse::into_response)?;
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
        .init_upload(&caller, &resource_key, slot)
        .await
        .map_err(IntoResponse::into_response)?;
    tracing::info!(%upload_id, resource_key, is_exist, "upload started");
    Ok(Json(InitResponse {
        upload_id: upload_id.to_string(),
        is_exist,
        instant: None,
    }))
}
