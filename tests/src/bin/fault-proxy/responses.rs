//! The answers the proxy gives itself (control endpoints, injected errors), all CORS-open.

use crate::Body;
use crate::rules::AnswerRule;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;
use std::time::{Duration, SystemTime};

pub fn cors(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers
        .entry("access-control-allow-origin")
        .or_insert(HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Retry-After, ETag, Content-Length"),
    );
    response
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let mut response = Response::new(full(serde_json::to_vec(value).unwrap()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    cors(response)
}

pub fn service_unavailable(retry_after_seconds: Option<u64>) -> Response<Body> {
    let mut response = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"code": "ServiceUnavailable", "message": "fault-proxy injected a 503", "requestId": "fault-proxy"}),
    );
    if let Some(seconds) = retry_after_seconds {
        response.headers_mut().insert(
            HeaderName::from_static("retry-after"),
            HeaderValue::from(seconds),
        );
    }
    response
}

/// An S3 error answer, as a store sends it.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
    );
    let mut response = cors(Response::new(full(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    response
}

/// The store's `503 SlowDown` (`--store`).
pub fn slow_down(retry_after_seconds: Option<u64>) -> Response<Body> {
    let mut response = s3_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "SlowDown",
        "Please reduce your request rate.",
    );
    if let Some(seconds) = retry_after_seconds {
        response.headers_mut().insert(
            HeaderName::from_static("retry-after"),
            HeaderValue::from(seconds),
        );
    }
    response
}

/// The answer of an `answers` rule: partup's JSON error body, or the store's XML one (`store`).
pub fn injected_answer(rule: &AnswerRule, store: bool) -> Response<Body> {
    let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = rule
        .message
        .clone()
        .unwrap_or_else(|| format!("fault-proxy answered {status}"));
    let mut response = match &rule.code {
        Some(code) if store => s3_error(status, code, &message),
        Some(code) => json_response(
            status,
            &serde_json::json!({"code": code, "message": message, "requestId": "fault-proxy"}),
        ),
        None => {
            let mut response = cors(Response::new(full(message)));
            *response.status_mut() = status;
            response
        }
    };
    let date = rule
        .retry_after_date_in
        .map(|s| httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s)));
    if let Some(value) = rule.retry_after.clone().or(date)
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        response.headers_mut().insert("retry-after", value);
    }
    response
}
