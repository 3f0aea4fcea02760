//! `POST listUploads` (JSON or form body) and `GET listUploads?prefix=…&marker=…&maxUploads=…`: the
//! caller's uploads in progress, newest first, a page at a time (SPEC.md §5).

use axum::Json;
use axum::extract::State;
use partup_wire::{DEFAULT_MAX_UPLOADS, ListUploadsResponse, MAX_UPLOADS_PER_PAGE};
use serde::Deserialize;

use crate::api::upload_init::{declared_size, present_text};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::body::{Fields, QueryFields};
use crate::storage::UploadsQuery;

/// The body or query (other fields are ignored); numbers may come as text (a form, a query).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListUploadsRequest {
    #[serde(default, deserialize_with = "present_text")]
    prefix: Option<String>,
    #[serde(default, deserialize_with = "present_text")]
    marker: Option<String>,
    #[serde(default, deserialize_with = "declared_size")]
    max_uploads: Option<u64>,
}

impl ListUploadsRequest {
    fn query(&self) -> AppResult<UploadsQuery<'_>> {
        let max_uploads = self.max_uploads.unwrap_or(u64::from(DEFAULT_MAX_UPLOADS));
        if !(1..=u64::from(MAX_UPLOADS_PER_PAGE)).contains(&max_uploads) {
            return Err(AppError::invalid_argument(format!(
                "maxUploads must be 1–{MAX_UPLOADS_PER_PAGE}"
            )));
        }
        Ok(UploadsQuery {
            prefix: self.prefix.as_deref().unwrap_or(""),
            marker: self.marker.as_deref().filter(|m| !m.is_empty()),
            max_uploads: max_uploads as usize,
        })
    }
}

pub async fn handle_post(
    State(state): State<AppState>,
    caller: Caller,
    Fields(request): Fields<ListUploadsRequest>,
) -> AppResult<Json<ListUploadsResponse>> {
    list(&state, &caller, &request).await
}

pub async fn handle_get(
    State(state): State<AppState>,
    caller: Caller,
    QueryFields(request): QueryFields<ListUploadsRequest>,
) -> AppResult<Json<ListUploadsResponse>> {
    list(&state, &caller, &request).await
}

async fn list(
    state: &AppState,
    caller: &Caller,
    request: &ListUploadsRequest,
) -> AppResult<Json<ListUploadsResponse>> {
    let page = state
        .storage
        .list_uploads(caller, &request.query()?)
        .await?;
    Ok(Json(ListUploadsResponse {
        uploads: page.uploads,
        is_truncated: page.next_marker.is_some(),
        next_marker: page.next_marker,
    }))
}
