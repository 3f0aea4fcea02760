//! The router: every endpoint of `api/` at its path, with the layers of `http/` around them. The
//! only module that imports both, so neither imports the other's caller.

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use partup_wire::{Endpoint, OBJECTS_PREFIX};

use crate::api;
use crate::http::{AppState, auth, cors, health, request_id, static_files};

pub fn router(state: AppState) -> Router {
    let cors = cors::cors_layer(&state.config.cors_origins);
    let router = Router::new()
        .route(&Endpoint::UploadInit.path(), post(api::upload_init::handle))
        .route(&Endpoint::UploadPart.path(), post(api::upload_part::handle))
        .route(
            &Endpoint::UploadComplete.path(),
            post(api::upload_complete::handle),
        )
        .route(
            &Endpoint::ListParts.path(),
            post(api::list_parts::handle_post).get(api::list_parts::handle_get),
        )
        .route(
            &Endpoint::ListUploads.path(),
            post(api::list_uploads::handle_post).get(api::list_uploads::handle_get),
        )
        .route(
            &Endpoint::UploadAbort.path(),
            post(api::upload_abort::handle),
        )
        .route(&Endpoint::SignPart.path(), post(api::sign_part::handle))
        .route(
            &format!("{OBJECTS_PREFIX}/{{*key}}"),
            get(api::objects::handle),
        )
        .route("/healthz", get(health::handle))
        .fallback(static_files::handle)
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::loopback_hosts_only,
        ))
        .layer(middleware::from_fn(request_id::finish_response));
    // Every request's span and its closing log line are `request_id::finish_response`'s, so every
    // line carries the request id.
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}
