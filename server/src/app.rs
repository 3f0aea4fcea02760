//! The HTTP application: the router (one function, so tests can drive it), shared state, CORS,
//! static files, and `finish_response`, the one place that renders error bodies with a request id.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use partup_wire::{API_PREFIX, ErrorBody, ErrorCode, OBJECTS_PREFIX};
use tokio_util::task::TaskTracker;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api;
use crate::config::Config;
use crate::error::{AppError, ErrorReport};
use crate::storage::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    /// Work that must finish even if its request is dropped (uploadComplete); waited for at shutdown.
    pub background: TaskTracker,
}

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config.cors_origins);
    let router = Router::new()
        .route(
            &format!("{API_PREFIX}/uploadInit"),
            post(api::upload_init::handle),
        )
        .route(
            &format!("{API_PREFIX}/upload"),
            post(api::upload_part::handle),
        )
        .route(
            &format!("{API_PREFIX}/uploadComplete"),
            post(api::upload_complete::handle),
        )
        .route(
            &format!("{API_PREFIX}/listParts"),
            post(api::list_parts::handle_post).get(api::list_parts::handle_get),
        )
        .route(
            &format!("{API_PREFIX}/uploadAbort"),
            post(api::upload_abort::handle),
        )
        .route(
            &format!("{OBJECTS_PREFIX}/{{*key}}"),
            get(api::objects::handle),
        )
        .route("/healthz", get(api::health::handle))
        .fallback(api::demo_page::handle)
        .with_state(state)
        .layer(middleware::from_fn(finish_response));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
}

/// No CORS layer at all unless origins are configured: same origin only.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::CONTENT_TYPE,
                header::RANGE,
                header::AUTHORIZATION,
                header::IF_NONE_MATCH,
            ])
            // A browser script can read a response header only when CORS exposes it.
            .expose_headers([
                header::ETAG,
                header::CONTENT_LENGTH,
                header::CONTENT_RANGE,
                header::ACCEPT_RANGES,
                header::RETRY_AFTER,
                REQUEST_ID_HEADER,
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Gives every response an `x-request-id`, renders `AppError`s as SPEC.md's JSON body with that id,
/// and turns the router's own bare 404/405 into `NotFound`/`MethodNotAllowed`.
async fn finish_response(request: Request, next: Next) -> Response {
    let request_id = new_request_id();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let report = response
        .extensions_mut()
        .remove::<ErrorReport>()
        .map(|r| r.0)
        .or_else(|| match response.status() {
            StatusCode::NOT_FOUND => Some(AppError::new(
                ErrorCode::NotFound,
                format!(
                    "nothing is served at {}",
                    crate::error::truncate_for_message(&path)
                ),
            )),
            StatusCode::METHOD_NOT_ALLOWED => Some(AppError::new(
                ErrorCode::MethodNotAllowed,
                format!(
                    "{method} is not allowed on {}",
                    crate::error::truncate_for_message(&path)
                ),
            )),
            _ => None,
        });
    if let Some(error) = report {
        if error.code == ErrorCode::InternalError {
            tracing::error!(request_id, %method, path, "{}", error.message);
        } else {
            tracing::debug!(request_id, %method, path, code = %error.code, "{}", error.message);
        }
        let body = ErrorBody {
            code: error.code,
            message: error.message,
            request_id: request_id.clone(),
        };
        let json = serde_json::to_vec(&body).expect("error bodies serialize");
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(json);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

/// A JSON success answer (SPEC.md: 200 with `application/json`).
pub fn json_ok<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}
