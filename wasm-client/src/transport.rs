//! HTTP: one request as a Rust future over `XMLHttpRequest`, and the mapping of every outcome to
//! an [`UploadError`] plus the facts the retry policy needs.
//!
//! Why XHR and not fetch: XHR reports upload progress, which gives byte-level progress within a
//! part and real stall detection (a request during which no byte moved for `stallTimeout` is
//! aborted and retried; a slow but moving upload is left alone). Dropping the future aborts the
//! request, which is how pause and cancel stop in-flight requests.

use crate::error::{UploadError, codes};
use crate::options::{HeaderSource, UploaderOptions, header_pairs};
use crate::queue::Gate;
use crate::retry::{FailureClass, RequestKind, parse_retry_after_seconds};
use crate::timers::now_ms;
use partup_wire::ErrorBody;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{FormData, XmlHttpRequest};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setInterval)]
    fn set_interval(handler: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearInterval)]
    fn clear_interval(id: &JsValue);
}

/// A request body.
pub enum Body {
    Json(String),
    Form(FormData),
}

/// An HTTP answer (any status).
pub struct RawResponse {
    pub status: u16,
    pub text: String,
    pub retry_after: Option<String>,
}

/// Why no HTTP answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    Network,
    Stalled,
}

/// Called with (bytes of the request body sent, body size).
pub type UploadProgress = Box<dyn Fn(f64, f64)>;

struct XhrShared {
    outcome: Option<Result<RawResponse, NoAnswer>>,
    waker: Option<Waker>,
    last_activity_ms: f64,
}

/// One XHR in flight. Resolves once; aborts the request when dropped before that.
struct XhrFuture {
    xhr: XmlHttpRequest,
    shared: Rc<RefCell<XhrShared>>,
    interval_id: JsValue,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    _stall_check: Closure<dyn FnMut()>,
}

fn settle(shared: &Rc<RefCell<XhrShared>>, outcome: Result<RawResponse, NoAnswer>) {
    let mut s = shared.borrow_mut();
    if s.outcome.is_none() {
        s.outcome = Some(outcome);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl XhrFuture {
    #[allow(clippy::too_many_arguments)]
    fn start(
        method: &str,
        url: &str,
        body: &Body,
        headers: &[(String, String)],
        with_credentials: bool,
        stall_timeout_ms: f64,
        on_upload_progress: Option<UploadProgress>,
    ) -> Result<XhrFuture, NoAnswer> {
        let xhr = XmlHttpRequest::new().map_err(|_| NoAnswer::Network)?;
        xhr.open(method, url).map_err(|_| NoAnswer::Network)?;
        xhr.set_with_credentials(with_credentials);
        if matches!(body, Body::Json(_)) {
            let _ = xhr.set_request_header("Content-Type", "application/json");
        }
        for (name, value) in headers {
            let _ = xhr.set_request_header(name, value);
        }
        let shared = Rc::new(RefCell::new(XhrShared {
            outcome: None,
            waker: None,
            last_activity_ms: now_ms(),
        }));
        let mut handlers: Vec<Closure<dyn FnMut(JsValue)>> = Vec::new();

        let (s, x) = (shared.clone(), xhr.clone());
        let onload = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let text = x.response_text().ok().flatten().unwrap_or_default();
            let retry_after = x.get_response_header("Retry-After").ok().flatten();
            settle(
                &s,
                Ok(RawResponse {
                    status: x.status().unwrap_or(0),
                    text,
                    retry_after,
                }),
            );
        });
        xhr.set_onload(Some(onload.as_ref().unchecked_ref()));
        handlers.push(onload);

        let s = shared.clone();
        let onfail =
            Closure::<dyn FnMut(JsValue)>::new(move |_| settle(&s, Err(NoAnswer::Network)));
        xhr.set_onerror(Some(onfail.as_ref().unchecked_ref()));
        xhr.set_onabort(Some(onfail.as_ref().unchecked_ref()));
        xhr.set_ontimeout(Some(onfail.as_ref().unchecked_ref()));
        handlers.push(onfail);

        let s = shared.clone();
        let on_download = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            s.borrow_mut().last_activity_ms = now_ms();
        });
        xhr.set_onprogress(Some(on_download.as_ref().unchecked_ref()));
        handlers.push(on_download);

        // Only part uploads listen to upload progress: a listener there makes even a simple
        // request CORS-preflighted, which JSON requests are anyway.
        if let Some(report) = on_upload_progress {
            let s = shared.clone();
            let on_upload = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                s.borrow_mut().last_activity_ms = now_ms();
                let loaded = js_sys::Reflect::get(&event, &"loaded".into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
                let total = js_sys::Reflect::get(&event, &"total".into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
                report(loaded, total);
            });
            if let Ok(upload) = xhr.upload() {
                upload.set_onprogress(Some(on_upload.as_ref().unchecked_ref()));
            }
            handlers.push(on_upload);
        }

        let (s, x) = (shared.clone(), xhr.clone());
        let stall_check = Closure::<dyn FnMut()>::new(move || {
            let stalled = {
                let state = s.borrow();
                state.outcome.is_none() && now_ms() - state.last_activity_ms >= stall_timeout_ms
            };
            if stalled {
                settle(&s, Err(NoAnswer::Stalled));
                x.abort().ok();
            }
        });
        let period = (stall_timeout_ms / 5.0).clamp(20.0, 5_000.0);
        let interval_id = set_interval(stall_check.as_ref().unchecked_ref(), period);

        let sent = match body {
            Body::Json(text) => xhr.send_with_opt_str(Some(text)),
            Body::Form(form) => xhr.send_with_opt_form_data(Some(form)),
        };
        let future = XhrFuture {
            xhr,
            shared,
            interval_id,
            _handlers: handlers,
            _stall_check: stall_check,
        };
        if sent.is_err() {
            settle(&future.shared, Err(NoAnswer::Network));
        }
        Ok(future)
    }
}

impl Future for XhrFuture {
    type Output = Result<RawResponse, NoAnswer>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.shared.borrow_mut();
        match s.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for XhrFuture {
    fn drop(&mut self) {
        clear_interval(&self.interval_id);
        // Detach the handlers first: abort() fires events synchronously, and the closures are
        // about to be freed.
        self.xhr.set_onload(None);
        self.xhr.set_onerror(None);
        self.xhr.set_onabort(None);
        self.xhr.set_ontimeout(None);
        self.xhr.set_onprogress(None);
        if let Ok(upload) = self.xhr.upload() {
            upload.set_onprogress(None);
        }
        if self.xhr.ready_state() != XmlHttpRequest::DONE {
            self.xhr.abort().ok();
        }
    }
}

/// A failed request: the error to show, and what the retry policy needs to know.
#[derive(Debug, Clone)]
pub struct RequestFailure {
    pub error: UploadError,
    pub no_answer: Option<NoAnswer>,
    pub retry_after_ms: Option<f64>,
}

impl RequestFailure {
    pub fn class(&self) -> FailureClass<'_> {
        match self.no_answer {
            Some(NoAnswer::Network) => FailureClass::Network,
            Some(NoAnswer::Stalled) => FailureClass::Stalled,
            None => FailureClass::Http {
                status: self.error.status.unwrap_or(0),
                code: &self.error.code,
            },
        }
    }
}

/// The partup API at one endpoint.
pub struct Api {
    pub options: Rc<UploaderOptions>,
    /// The Uploader-wide request queue.
    pub gate: Rc<Gate>,
}

impl Api {
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.options.endpoint)
    }

    async fn headers(&self) -> Result<Vec<(String, String)>, RequestFailure> {
        match &self.options.headers {
            HeaderSource::Fixed(pairs) => Ok(pairs.clone()),
            HeaderSource::Dynamic(function) => {
                let failure = |what: String| RequestFailure {
                    // Retried like a network error: a token endpoint hiccup must not end the upload.
                    error: UploadError::new(codes::NETWORK_ERROR, what),
                    no_answer: Some(NoAnswer::Network),
                    retry_after_ms: None,
                };
                let mut value = function
                    .call0(&JsValue::UNDEFINED)
                    .map_err(|e| failure(format!("the headers function threw: {}", js_text(&e))))?;
                if let Some(promise) = value.dyn_ref::<js_sys::Promise>() {
                    value = JsFuture::from(promise.clone()).await.map_err(|e| {
                        failure(format!(
                            "the headers function's promise rejected: {}",
                            js_text(&e)
                        ))
                    })?;
                }
                header_pairs(&value, "the headers function's result").map_err(|error| {
                    RequestFailure {
                        error,
                        no_answer: None,
                        retry_after_ms: None,
                    }
                })
            }
        }
    }

    /// Sends one request and returns the 200 body, or the failure.
    pub async fn send(
        &self,
        kind: RequestKind,
        name: &str,
        body: Body,
        stall_timeout_ms: f64,
        on_upload_progress: Option<UploadProgress>,
    ) -> Result<String, RequestFailure> {
        let url = self.url(name);
        // Everything but parts is short and moves a whole upload along: it queues first.
        let _slot = self.gate.acquire(kind != RequestKind::Part).await;
        let headers = self.headers().await?;
        let started = XhrFuture::start(
            "POST",
            &url,
            &body,
            &headers,
            self.options.with_credentials,
            stall_timeout_ms,
            on_upload_progress,
        );
        let outcome = match started {
            Ok(xhr) => xhr.await,
            Err(no_answer) => Err(no_answer),
        };
        match outcome {
            Ok(response) if response.status == 200 => Ok(response.text),
            Ok(response) => Err(http_failure(kind, &url, response)),
            Err(NoAnswer::Network) => Err(RequestFailure {
                error: UploadError::new(
                    codes::NETWORK_ERROR,
                    format!(
                        "{} could not reach {url}: the network failed, the server is down, or it \
                         does not allow this page's origin (CORS)",
                        kind.describe()
                    ),
                ),
                no_answer: Some(NoAnswer::Network),
                retry_after_ms: None,
            }),
            Err(NoAnswer::Stalled) => Err(RequestFailure {
                error: UploadError::new(
                    codes::TIMEOUT,
                    format!(
                        "{} to {url} stalled: no data moved for {} ms, so it was aborted",
                        kind.describe(),
                        stall_timeout_ms as u64
                    ),
                ),
                no_answer: Some(NoAnswer::Stalled),
                retry_after_ms: None,
            }),
        }
    }

    /// Sends a JSON request and parses the JSON answer into `T` (a `partup_wire` type).
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        kind: RequestKind,
        name: &str,
        body: String,
        stall_timeout_ms: f64,
    ) -> Result<T, RequestFailure> {
        let text = self
            .send(kind, name, Body::Json(body), stall_timeout_ms, None)
            .await?;
        parse_success(kind, &text)
    }
}

/// Parses a 200 body; a body that is not the expected JSON is an error worth retrying (a proxy
/// may have answered for the server).
pub fn parse_success<T: DeserializeOwned>(
    kind: RequestKind,
    text: &str,
) -> Result<T, RequestFailure> {
    crate::json::from_json_text(text).map_err(|e| RequestFailure {
        error: UploadError::new(
            codes::UNEXPECTED_RESPONSE,
            format!(
                "{} answered 200 with a body that is not the expected JSON ({e})",
                kind.describe()
            ),
        ),
        no_answer: Some(NoAnswer::Network),
        retry_after_ms: None,
    })
}

/// Maps a non-200 answer: the server's `{code, message, requestId}` when it sent one, else a
/// description of what came back (a proxy's HTML page, say).
fn http_failure(kind: RequestKind, url: &str, response: RawResponse) -> RequestFailure {
    let mut error = match crate::json::from_json_text::<ErrorBody>(&response.text) {
        Ok(body) => {
            let mut e = UploadError::new(body.code.as_str(), body.message);
            e.request_id = Some(body.request_id);
            e
        }
        Err(_) => {
            // Not a partup error body (a proxy's page, or a code this client does not know):
            // show what came back.
            let snippet: String = response.text.chars().take(200).collect();
            UploadError::new(
                &format!("Http{}", response.status),
                format!(
                    "{} to {url} answered HTTP {} without a partup error body{}{}",
                    kind.describe(),
                    response.status,
                    if snippet.is_empty() { "" } else { ": " },
                    snippet.trim()
                ),
            )
        }
    };
    error.status = Some(response.status);
    let retry_after_ms = response.retry_after.as_deref().and_then(|value| {
        parse_retry_after_seconds(value).or_else(|| {
            let date = js_sys::Date::parse(value);
            date.is_finite().then(|| (date - now_ms()).max(0.0))
        })
    });
    RequestFailure {
        error,
        no_answer: None,
        retry_after_ms,
    }
}

/// A thrown JS value as text.
pub fn js_text(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
