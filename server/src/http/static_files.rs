//! Everything outside the API: the demo page and its assets from `--www` (GET/HEAD, with Range, by
//! tower-http's `ServeDir`); any other method on an unknown path is `NotFound`, as SPEC.md asks.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use partup_wire::ErrorCode;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::error::{AppError, truncate_for_message};
use crate::http::AppState;

pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let path = truncate_for_message(request.uri().path()).to_owned();
        return AppError::new(ErrorCode::NotFound, format!("nothing is served at {path}"))
            .into_response();
    }
    let files = ServeDir::new(&state.config.www).append_index_html_on_directories(true);
    match files.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(infallible) => match infallible {},
    }
}
