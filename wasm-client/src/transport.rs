//! A part upload as a Rust future over `XMLHttpRequest`: a `multipart/form-data` POST to partup,
//! or the `PUT` of the Blob slice itself to the store (`direct.rs`).
//!
//! Why XHR for parts when the JSON calls use fetch (`fetch.rs`): XHR reports *upload* progress,
//! which gives byte-level progress within a part and real stall detection (a request during which
//! no byte moved for `stallTimeout` is aborted and retried; a slow but moving upload is left
//! alone). fetch reports neither for a request body. Dropping the future aborts the request,
//! which is how pause and cancel stop parts in flight.

use crate::http::{Answer, NoAnswer};
use crate::timers::{now_ms, timer_ms};
use gloo_timers::callback::Interval;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use web_sys::{Blob, FormData, XmlHttpRequest};

/// Called with (bytes of the request body sent, body size).
pub type UploadProgress = Box<dyn Fn(f64, f64)>;

struct XhrShared {
    outcome: Option<Result<Answer, NoAnswer>>,
    waker: Option<Waker>,
    last_activity_ms: f64,
}

type Shared = Rc<RefCell<XhrShared>>;
type Handler = Closure<dyn FnMut(JsValue)>;

/// One XHR in flight. Resolves once; aborts the request when dropped before that.
struct XhrFuture {
    xhr: XmlHttpRequest,
    shared: Shared,
    /// Dropping it clears the interval.
    _stall_check: Interval,
    _handlers: Vec<Handler>,
}

fn settle(shared: &Shared, outcome: Result<Answer, NoAnswer>) {
    let mut s = shared.borrow_mut();
    if s.outcome.is_none() {
        s.outcome = Some(outcome);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

fn number_field(event: &JsValue, key: &str) -> f64 {
    js_sys::Reflect::get(event, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}

/// Settles on load (any status), error, abort and timeout; notes download activity.
fn answer_handlers(xhr: &XmlHttpRequest, shared: &Shared) -> Vec<Handler> {
    let (s, x) = (shared.clone(), xhr.clone());
    let onload = Handler::new(move |_| {
        let answer = Answer {
            status: x.status().unwrap_or(0),
            text: x.response_text().ok().flatten().unwrap_or_default(),
            retry_after: x.get_response_header("Retry-After").ok().flatten(),
            // null unless the answer's CORS exposes it (a store's bucket rule: ExposeHeaders).
            etag: x.get_response_header("ETag").ok().flatten(),
        };
        settle(&s, Ok(answer));
    });
    xhr.set_onload(Some(onload.as_ref().unchecked_ref()));

    let s = shared.clone();
    let onfail = Handler::new(move |_| settle(&s, Err(NoAnswer::Network)));
    xhr.set_onerror(Some(onfail.as_ref().unchecked_ref()));
    xhr.set_onabort(Some(onfail.as_ref().unchecked_ref()));
    xhr.set_ontimeout(Some(onfail.as_ref().unchecked_ref()));

    let s = shared.clone();
    let on_download = Handler::new(move |_| s.borrow_mut().last_activity_ms = now_ms());
    xhr.set_onprogress(Some(on_download.as_ref().unchecked_ref()));
    vec![onload, onfail, on_download]
}

/// Reports upload progress and notes it as activity.
fn upload_progress_handler(
    xhr: &XmlHttpRequest,
    shared: &Shared,
    report: UploadProgress,
) -> Handler {
    let s = shared.clone();
    let on_upload = Handler::new(move |event: JsValue| {
        s.borrow_mut().last_activity_ms = now_ms();
        report(
            number_field(&event, "loaded"),
            number_field(&event, "total"),
        );
    });
    if let Ok(upload) = xhr.upload() {
        upload.set_onprogress(Some(on_upload.as_ref().unchecked_ref()));
    }
    on_upload
}

/// Aborts the request once nothing moved for `stall_timeout_ms`.
fn stall_check(xhr: &XmlHttpRequest, shared: &Shared, stall_timeout_ms: f64) -> Interval {
    let (s, x) = (shared.clone(), xhr.clone());
    let period = (stall_timeout_ms / 5.0).clamp(20.0, 5_000.0);
    Interval::new(timer_ms(period), move || {
        let stalled = {
            let state = s.borrow();
            state.outcome.is_none() && now_ms() - state.last_activity_ms >= stall_timeout_ms
        };
        if stalled {
            settle(&s, Err(NoAnswer::Stalled));
            x.abort().ok();
        }
    })
}

impl XhrFuture {
    fn start(
        request: &PartRequest<'_>,
        on_upload_progress: UploadProgress,
    ) -> Result<XhrFuture, NoAnswer> {
        let xhr = XmlHttpRequest::new().map_err(|_| NoAnswer::Network)?;
        xhr.open(request.method, request.url)
            .map_err(|_| NoAnswer::Network)?;
        xhr.set_with_credentials(request.with_credentials);
        for (name, value) in request.headers {
            let _ = xhr.set_request_header(name, value);
        }
        let shared = Rc::new(RefCell::new(XhrShared {
            outcome: None,
            waker: None,
            last_activity_ms: now_ms(),
        }));
        let mut handlers = answer_handlers(&xhr, &shared);
        handlers.push(upload_progress_handler(&xhr, &shared, on_upload_progress));
        let stall = stall_check(&xhr, &shared, request.stall_timeout_ms);
        let sent = match request.body {
            PartBody::Form(form) => xhr.send_with_opt_form_data(Some(form)),
            PartBody::Blob(blob) => xhr.send_with_opt_blob(Some(blob)),
        };
        if sent.is_err() {
            settle(&shared, Err(NoAnswer::Network));
        }
        Ok(XhrFuture {
            xhr,
            shared,
            _stall_check: stall,
            _handlers: handlers,
        })
    }
}

impl Future for XhrFuture {
    type Output = Result<Answer, NoAnswer>;
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

/// What a part request carries.
pub enum PartBody<'a> {
    /// partup's `POST upload` form.
    Form(&'a FormData),
    /// The part's bytes alone (a `PUT` to the store).
    Blob(&'a Blob),
}

/// One part request.
pub struct PartRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub body: PartBody<'a>,
    pub headers: &'a [(String, String)],
    pub with_credentials: bool,
    pub stall_timeout_ms: f64,
}

/// Sends `request` and returns the answer, whatever its status.
pub async fn send(
    request: PartRequest<'_>,
    on_upload_progress: UploadProgress,
) -> Result<Answer, NoAnswer> {
    XhrFuture::start(&request, on_upload_progress)?.await
}
