//! `POST signPart` (JSON or form body): a presigned request that sends one part of a direct upload
//! straight to the store (SPEC.md §6). The rights are checked as for a part upload, by `storage`.

use axum::Json;
use axum::extract::State;
use partup_wire::SignPartResponse;
use serde::Deserialize;

use crate::api::upload_init::{declared_size, present_text};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::http::AppState;
use crate::http::body::Fields;
use crate::storage::direct::PartFields;

/// The body (other fields are ignored); numbers may come as text (a form).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignPartRequest {
    upload_id: String,
    #[serde(default, deserialize_with = "declared_size")]
    part_number: Option<u64>,
    #[serde(default, deserialize_with = "present_text")]
    md5: Option<String>,
    #[serde(default, deserialize_with = "declared_size")]
    size: Option<u64>,
}

pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    Fields(request): Fields<SignPartRequest>,
) -> AppResult<Json<SignPartResponse>> {
    let fields = PartFields {
        part_number: request.part_number,
        md5: request.md5,
        size: request.size,
    };
    let signed = state
        .storage
        .sign_part(&caller, &request.upload_id, &fields)
        .await?;
    Ok(Json(signed))
}
