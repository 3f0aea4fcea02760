//! The JSON calls (uploadInit, listParts, uploadComplete, uploadAbort) over the global `fetch`
//! (web-sys directly: gloo-net, used here before, linked the `http` crate and cost 3 KB of the
//! gzipped package). Parts go over XHR instead (`transport.rs` says why).
//!
//! fetch has no progress events for what it sends, so the stall timeout of a JSON call is a
//! timeout for the answer's headers and again for its body: these bodies are small, and a server
//! that says nothing for `stallTimeout` is as stuck as one that stops mid-part. Every request
//! carries an `AbortSignal`; a stall aborts it, and so does dropping the future (pause, cancel).

use crate::http::{Answer, NoAnswer};
use crate::timers::timer_ms;
use futures_util::future::{Either, select};
use gloo_timers::future::TimeoutFuture;
use std::future::Future;
use std::pin::pin;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestCredentials, RequestInit, Response};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`: `window.fetch` on a page, `self.fetch` in a worker.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> js_sys::Promise;
}

/// Aborts the request (or a worker's read) when the call is dropped, or has ended: aborting a
/// finished fetch does nothing.
pub struct AbortOnDrop(AbortController);

impl Default for AbortOnDrop {
    fn default() -> AbortOnDrop {
        AbortOnDrop(
            AbortController::new()
                .unwrap_or_else(|_| wasm_bindgen::throw_str("no AbortController")),
        )
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
    let request = json_request(url, body, headers, with_credentials, &controller)
        .map_err(|_| NoAnswer::Network)?;
    let response: Response = within(stall_timeout_ms, JsFuture::from(global_fetch(&request)))
        .await
        .ok_or(NoAnswer::Stalled)?
        .map_err(|_| NoAnswer::Network)?
        .unchecked_into();
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let body = response.text().map_err(|_| NoAnswer::Network)?;
    let text = within(stall_timeout_ms, JsFuture::from(body))
        .await
        .ok_or(NoAnswer::Stalled)?
        .map_err(|_| NoAnswer::Network)?
        .as_string()
        .unwrap_or_default();
    Ok(Answer {
        status: response.status(),
        text,
        retry_after,
        etag: None,
    })
}

/// The POST of `body` as JSON, with the caller's `headers`, aborted by `controller`.
fn json_request(
    url: &str,
    body: &str,
    headers: &[(String, String)],
    with_credentials: bool,
    controller: &AbortOnDrop,
) -> Result<Request, JsValue> {
    let all = Headers::new()?;
    all.append("Content-Type", "application/json")?;
    for (name, value) in headers {
        all.append(name, value)?;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    // As XHR's withCredentials: cookies go along cross-origin only when asked for.
    init.set_credentials(if with_credentials {
        RequestCredentials::Include
    } else {
        RequestCredentials::SameOrigin
    });
    init.set_signal(Some(&controller.signal()));
    init.set_headers(&all);
    init.set_body(&JsValue::from_str(body));
    Request::new_with_str_and_init(url, &init)
}
