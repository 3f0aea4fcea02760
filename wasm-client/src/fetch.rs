//! The JSON calls (uploadInit, listParts, uploadComplete, uploadAbort) over `fetch`, through
//! gloo-net. Parts go over XHR instead (`transport.rs` says why).
//!
//! fetch has no progress events for what it sends, so the stall timeout of a JSON call is a
//! timeout for the answer's headers and again for its body: these bodies are small, and a server
//! that says nothing for `stallTimeout` is as stuck as one that stops mid-part. Every request
//! carries an `AbortSignal`; a stall aborts it, and so does dropping the future (pause, cancel).

use crate::http::{Answer, NoAnswer};
use crate::timers::timer_ms;
use futures_util::future::{Either, select};
use gloo_net::http::{Method, RequestBuilder};
use gloo_timers::future::TimeoutFuture;
use std::future::Future;
use std::pin::pin;
use web_sys::{AbortController, RequestCredentials};

/// Aborts the request (or a worker's read) when the call is dropped, or has ended: aborting a
/// finished fetch does nothing.
pub struct AbortOnDrop(AbortController);

impl Default for AbortOnDrop {
    fn default() -> AbortOnDrop {
        AbortOnDrop(AbortController::new().expect("AbortController is there"))
    }
}

impl AbortOnDrop {
    pub fn signal(&self) -> web_sys::AbortSignal {
        self.0.signal()
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `work`, unless `ms` pass first.
async fn within<T>(ms: f64, work: impl Future<Output = T>) -> Option<T> {
    match select(pin!(work), TimeoutFuture::new(timer_ms(ms))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// POSTs `body` (JSON) to `url` and returns the answer, whatever its status.
pub async fn post_json(
    url: &str,
    body: &str,
    headers: &[(String, String)],
    with_credentials: bool,
    stall_timeout_ms: f64,
) -> Result<Answer, NoAnswer> {
    let controller = AbortOnDrop(AbortController::new().map_err(|_| NoAnswer::Network)?);
    // As XHR's withCredentials: cookies go along cross-origin only when asked for.
    let credentials = if with_credentials {
        RequestCredentials::Include
    } else {
        RequestCredentials::SameOrigin
    };
    let mut builder = RequestBuilder::new(url)
        .method(Method::POST)
        .credentials(credentials)
        .abort_signal(Some(&controller.0.signal()))
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let request = builder.body(body).map_err(|_| NoAnswer::Network)?;
    let response = within(stall_timeout_ms, request.send())
        .await
        .ok_or(NoAnswer::Stalled)?
        .map_err(|_| NoAnswer::Network)?;
    let retry_after = response.headers().get("Retry-After");
    let text = within(stall_timeout_ms, response.text())
        .await
        .ok_or(NoAnswer::Stalled)?
        .map_err(|_| NoAnswer::Network)?;
    Ok(Answer {
        status: response.status(),
        text,
        retry_after,
    })
}
