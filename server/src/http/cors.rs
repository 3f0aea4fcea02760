//! CORS for pages on other origins (`--cors-origin`); none configured means same origin only.

use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::http::request_id::REQUEST_ID_HEADER;

/// No CORS layer at all unless origins are configured: same origin only.
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
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
                header::WWW_AUTHENTICATE,
                REQUEST_ID_HEADER,
            ])
            .max_age(Duration::from_secs(3600)),
    )
}
