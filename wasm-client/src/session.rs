//! One upload's conversation with the server: uploadInit, listParts and listUploads (resume), the
//! part requests, uploadComplete and uploadAbort as typed calls, all retried by one loop ([`Session::retrying`]).
//!
//! The JSON calls go over fetch (`fetch.rs`), parts over XHR (`transport.rs`); both wait for a
//! slot of the Uploader-wide request queue first, the JSON calls ahead of queued parts (they are
//! short and each moves a whole upload along).

use crate::error::{ClientCode, Reason, UploadError};
use crate::http::{Answer, RequestFailure, extra_headers, parse_ok};
use crate::options::HeaderSource;
use crate::options::UploaderOptions;
use crate::queue::Gate;
use crate::queue::Permit;
use crate::retry::{Next, RetryPolicy, RetryState};
use crate::retry_budget::RetryBudget;
use crate::timers::sleep_ms;
use crate::transport::{PartBody, PartRequest, UploadProgress};
use crate::{fetch, transport};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use partup_wire::{
    AbortResponse, CompletePart, CompleteRequest, CompleteResponse, Endpoint, ErrorCode,
    InitRequest, InitResponse, ListPartsResponse, ListUploadsRequest, ListUploadsResponse,
    MAX_UPLOADS_PER_PAGE, Metadata, PartInfo, SignPartRequest, SignPartResponse, UploadIdRequest,
    UploadSummary, md5_to_hex, multipart_etag,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use web_sys::{Blob, FormData};

/// A complete may legitimately take long (the server concatenates the parts); it gets this many
/// stall timeouts before it is retried (a retried complete waits for the running one).
const COMPLETE_STALL_FACTOR: f64 = 10.0;

/// uploadAbort is best effort (the server sweeps stale uploads anyway): a few quick retries.
const ABORT_POLICY: RetryPolicy = RetryPolicy {
    max_retries: 3,
    base_delay_ms: 250.0,
    max_delay_ms: 2_000.0,
};

/// listUploads pages one listing follows: a page looks at a bounded number of uploads and may hold
/// none while more follow (SPEC.md §5), so a listing stops somewhere even on a server with
/// uploads beyond counting.
pub const MOST_LISTING_PAGES: usize = 20;

/// What an instant upload declares at uploadInit: how its file is cut and the etag its parts
/// complete into, so the server can find the same content.
pub struct ContentId {
    pub part_size: u64,
    /// [`multipart_etag`] of the parts' MD5s.
    pub etag: String,
}

/// Fails unless the server's object has the file's size and etag.
fn check_assembled(
    done: &CompleteResponse,
    expected_etag: &str,
    file_size: u64,
) -> Result<(), UploadError> {
    if done.size == file_size && done.etag.eq_ignore_ascii_case(expected_etag) {
        return Ok(());
    }
    Err(UploadError::client(
        ClientCode::UnexpectedResponse,
        Reason::Mismatch,
        format!(
            "the server assembled {} bytes with etag {}, but the file has {file_size} bytes \
             and etag {expected_etag}",
            done.size, done.etag
        ),
    ))
}

/// One part to send.
pub struct PartToSend<'a> {
    pub number: u32,
    /// The part's slice of the file: the browser reads it from disk as it sends.
    pub content: &'a Blob,
    pub len: u64,
    pub digest: &'a [u8; 16],
    /// The resend after a 401: the `headers` function is asked for a fresh token.
    pub refresh_headers: bool,
}

/// The server side of one upload.
pub struct Session {
    options: Rc<UploaderOptions>,
    /// The Uploader-wide request queue.
    gate: Rc<Gate>,
    /// The Uploader-wide retry budget: every retry of every request is paid from it.
    budget: Rc<RefCell<RetryBudget>>,
    /// Told of every retry, before its wait.
    on_retry: Box<dyn Fn()>,
    upload_id: RefCell<Option<String>>,
    /// The upload's parts go straight to the store (init's `direct`, or listParts' on a resume).
    direct: Cell<bool>,
}

impl Session {
    pub fn new(
        options: Rc<UploaderOptions>,
        gate: Rc<Gate>,
        budget: Rc<RefCell<RetryBudget>>,
        on_retry: Box<dyn Fn()>,
    ) -> Session {
        Session {
            options,
            gate,
            budget,
            on_retry,
            upload_id: RefCell::new(None),
            direct: Cell::new(false),
        }
    }

    /// The server's uploadId, once init (or a resume) answered.
    pub fn upload_id(&self) -> Option<String> {
        self.upload_id.borrow().clone()
    }

    /// Whether the parts go straight to the store (SPEC.md §6, `direct.rs`).
    pub fn is_direct(&self) -> bool {
        self.direct.get()
    }

    /// `stallTimeout`.
    pub fn stall_timeout_ms(&self) -> f64 {
        self.options.stall_timeout_ms
    }

    /// A slot of the Uploader's request queue for one part (behind the JSON calls).
    pub async fn part_slot(&self) -> Permit {
        self.gate.acquire(false).await
    }

    pub fn url(&self, endpoint: Endpoint) -> String {
        format!("{}/{}", self.options.endpoint, endpoint.name())
    }

    /// Runs `attempt` until it succeeds, fails in a way no retry fixes, or `policy` or the
    /// Uploader's retry budget runs out. `before_retry` sees each failure that is retried;
    /// `attempt` is told whether it resends after a 401 (its `headers` call then asks for a fresh
    /// token).
    pub async fn retrying<'a, Fut>(
        &self,
        endpoint: Endpoint,
        policy: RetryPolicy,
        mut before_retry: impl FnMut(&RequestFailure),
        mut attempt: impl FnMut(bool) -> Fut,
    ) -> Result<(), UploadError>
    where
        Fut: Future<Output = Result<(), RequestFailure>> + 'a,
    {
        // Boxed and not generic: the loop is in the .wasm once, not once per caller.
        let mut attempt = |refresh| attempt(refresh).boxed_local();
        (self.retry_loop(endpoint, policy, &mut before_retry, &mut attempt))
            .boxed_local()
            .await
    }

    async fn retry_loop<'a>(
        &self,
        endpoint: Endpoint,
        policy: RetryPolicy,
        before_retry: &mut dyn FnMut(&RequestFailure),
        attempt: &mut dyn FnMut(bool) -> LocalBoxFuture<'a, Result<(), RequestFailure>>,
    ) -> Result<(), UploadError> {
        let dynamic = matches!(self.options.headers, HeaderSource::Dynamic(_));
        let mut state = RetryState::default();
        loop {
            let failure = match attempt(state.refreshing()).await {
                Ok(value) => {
                    state.succeeded(&mut self.budget.borrow_mut());
                    return Ok(value);
                }
                Err(failure) => failure,
            };
            let (next, budget_retries) = {
                let mut budget = self.budget.borrow_mut();
                let max = policy.max_retries;
                let next = state.next_step(failure.class, endpoint, max, dynamic, &mut budget);
                (next, budget.retries())
            };
            let retry = match next {
                Next::Fail(why) => return Err(failure.error.gave_up(why, budget_retries)),
                // The token (or a direct part's signature) expired between requests: a new one,
                // and at once.
                Next::RefreshNow | Next::ResignNow => continue,
                Next::Backoff(retry) => retry,
            };
            before_retry(&failure);
            (self.on_retry)();
            let random = js_sys::Math::random();
            sleep_ms(policy.delay_ms(retry, random, failure.retry_after_ms)).await;
        }
    }

    /// One JSON request to `endpoint`, one attempt. Not generic, so the code that sends is
    /// there once, not once per answer type.
    async fn post(
        &self,
        endpoint: Endpoint,
        body: &str,
        stall_timeout_ms: f64,
        refresh_headers: bool,
    ) -> Result<Answer, RequestFailure> {
        let _slot = self.gate.acquire(true).await;
        (self.post_in_slot(endpoint, body, stall_timeout_ms, refresh_headers)).await
    }

    /// [`Session::post`] for a caller that holds a slot of the request queue already.
    async fn post_in_slot(
        &self,
        endpoint: Endpoint,
        body: &str,
        stall_timeout_ms: f64,
        refresh_headers: bool,
    ) -> Result<Answer, RequestFailure> {
        let url = self.url(endpoint);
        let headers = extra_headers(&self.options.headers, refresh_headers).await?;
        let with_credentials = self.options.with_credentials;
        fetch::post_json(&url, body, &headers, with_credentials, stall_timeout_ms)
            .await
            .map_err(|why| RequestFailure::no_answer(endpoint.name(), &url, why, stall_timeout_ms))
    }

    /// `POST signPart` for a part about to go to the store, one attempt (the part's retry loop
    /// retries it with the part), in the part's slot of the request queue: its request follows at
    /// once, so the signature is as fresh as can be when it is sent.
    pub async fn sign_part(
        &self,
        _slot: &Permit,
        part: &PartToSend<'_>,
        md5_hex: &str,
    ) -> Result<SignPartResponse, RequestFailure> {
        let request = SignPartRequest {
            upload_id: self.upload_id().unwrap_or_default(),
            part_number: part.number,
            md5: md5_hex.to_string(),
            size: part.len,
        };
        let body = crate::json::to_json_text(&request);
        let (endpoint, stall) = (Endpoint::SignPart, self.options.stall_timeout_ms);
        let answer = (self.post_in_slot(endpoint, &body, stall, part.refresh_headers))
            .boxed_local()
            .await?;
        parse_ok(endpoint, &self.url(endpoint), answer)
    }

    /// A JSON request to `endpoint`, retried by `policy`; the answer parsed as `Resp`.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        request: &Req,
        policy: RetryPolicy,
        stall_timeout_ms: f64,
    ) -> Result<Resp, UploadError> {
        let body = crate::json::to_json_text(request);
        let parsed = Cell::new(None);
        let url = self.url(endpoint);
        let parse = |answer| parse_ok(endpoint, &url, answer).map(|value| parsed.set(Some(value)));
        // Boxed and not generic: the retried request is in the .wasm once, not once per type.
        (self.call_parsing(endpoint, &body, policy, stall_timeout_ms, &parse))
            .boxed_local()
            .await?;
        // Never `None`: call_parsing succeeds only once parse kept the answer. An error rather
        // than `expect`, whose panic message and location cost 0.3 KB of the gzipped package.
        parsed.take().ok_or_else(|| {
            UploadError::client(
                ClientCode::UnexpectedResponse,
                Reason::BadResponse,
                "no answer",
            )
        })
    }

    /// [`Session::call`]'s requests: `parse` keeps a 200's answer, or says it is not one.
    async fn call_parsing(
        &self,
        endpoint: Endpoint,
        body: &str,
        policy: RetryPolicy,
        stall_timeout_ms: f64,
        parse: &dyn Fn(Answer) -> Result<(), RequestFailure>,
    ) -> Result<(), UploadError> {
        let attempt = |refresh| async move {
            parse(self.post(endpoint, body, stall_timeout_ms, refresh).await?)
        };
        self.retrying(endpoint, policy, |_| {}, attempt).await
    }

    /// uploadInit, declaring the file's size so an upload that could never complete is refused
    /// before a byte is sent; with `content` (instant upload), also its part size and etag. The
    /// answer's `instant`, when present, is checked like a complete's answer.
    pub async fn init(
        &self,
        resource_key: &str,
        size: u64,
        content: Option<&ContentId>,
        metadata: Metadata,
    ) -> Result<InitResponse, UploadError> {
        let request = InitRequest {
            resource_key: resource_key.to_string(),
            size: Some(size),
            part_size: content.map(|c| c.part_size),
            etag: content.map(|c| c.etag.clone()),
            metadata: Some(metadata),
        };
        let (policy, stall) = (self.options.retry, self.options.stall_timeout_ms);
        let mut init: InitResponse = self
            .call(Endpoint::UploadInit, &request, policy, stall)
            .await?;
        *self.upload_id.borrow_mut() = Some(init.upload_id.clone());
        self.direct.set(init.direct);
        match (&init.instant, content) {
            (Some(done), Some(content)) => check_assembled(done, &content.etag, size)?,
            // Never the answer to a plain init (SPEC.md §1): the upload goes on as asked.
            (Some(_), None) => init.instant = None,
            (None, _) => {}
        }
        Ok(init)
    }

    /// The parts of `upload_id` (remembered from an earlier page, or found by listUploads):
    /// `None` when the server no longer knows it (expired, aborted or completed meanwhile) or it
    /// is another key's. The session takes it up only by [`Session::adopt`].
    pub async fn stored_parts(
        &self,
        upload_id: &str,
        resource_key: &str,
    ) -> Result<Option<(Vec<PartInfo>, bool)>, UploadError> {
        let request = UploadIdRequest {
            upload_id: upload_id.to_string(),
        };
        let (policy, stall) = (self.options.retry, self.options.stall_timeout_ms);
        let listed = self
            .call::<_, ListPartsResponse>(Endpoint::ListParts, &request, policy, stall)
            .await;
        match listed {
            Ok(list) if list.resource_key == resource_key => Ok(Some((list.parts, list.direct))),
            Ok(_) => Ok(None),
            Err(e) if e.server_code() == Some(ErrorCode::NoSuchUpload) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Goes on with `upload_id` (a resume), whose parts go straight to the store when `direct`
    /// (listParts says so): its parts are sent, it is completed, or a cancel aborts it. Not before
    /// it is known to be this file's: a cancel must never abort an upload found on the server
    /// that turned out to hold other content.
    pub fn adopt(&self, upload_id: &str, direct: bool) {
        *self.upload_id.borrow_mut() = Some(upload_id.to_string());
        self.direct.set(direct);
    }

    /// Every upload in progress the caller may write under `prefix`, newest first: listUploads
    /// page after page (at most [`MOST_LISTING_PAGES`]), each retried by `policy`.
    pub async fn unfinished(
        &self,
        prefix: &str,
        policy: RetryPolicy,
    ) -> Result<Vec<UploadSummary>, UploadError> {
        let stall = self.options.stall_timeout_ms;
        let mut request = ListUploadsRequest {
            prefix: Some(prefix.to_string()).filter(|p| !p.is_empty()),
            marker: None,
            max_uploads: Some(MAX_UPLOADS_PER_PAGE),
        };
        let mut found = Vec::new();
        for _ in 0..MOST_LISTING_PAGES {
            let page: ListUploadsResponse = self
                .call(Endpoint::ListUploads, &request, policy, stall)
                .await?;
            found.extend(page.uploads);
            match page.next_marker {
                Some(marker) if page.is_truncated => request.marker = Some(marker),
                _ => break,
            }
        }
        Ok(found)
    }

    /// uploadAbort of `upload_id` (this session's, or one `unfinished` listed), retried by
    /// `policy`: true when the server aborted it, false when it did not know it (`NoSuchUpload`:
    /// completed, aborted or expired meanwhile, another `sub`'s, or a first attempt aborted it and
    /// its answer was lost). Any other refusal is the caller's error.
    pub async fn discard(&self, upload_id: &str, policy: RetryPolicy) -> Result<bool, UploadError> {
        let request = UploadIdRequest {
            upload_id: upload_id.to_string(),
        };
        let stall = self.options.stall_timeout_ms;
        match (self.call::<_, AbortResponse>(Endpoint::UploadAbort, &request, policy, stall)).await
        {
            Ok(_) => Ok(true),
            Err(e) if e.server_code() == Some(ErrorCode::NoSuchUpload) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One attempt at one part (the pipeline retries it through [`Session::retrying`], since a
    /// retry may need the part read and hashed again first). A 200 for other bytes than ours is
    /// never counted as stored.
    pub async fn send_part(
        &self,
        part: PartToSend<'_>,
        on_progress: UploadProgress,
    ) -> Result<(), RequestFailure> {
        let endpoint = Endpoint::UploadPart;
        let url = self.url(endpoint);
        let md5_hex = md5_to_hex(part.digest);
        let form =
            FormData::new().unwrap_or_else(|_| wasm_bindgen::throw_str("no FormData where XHR is"));
        let _ = form.append_with_str("uploadId", &self.upload_id().unwrap_or_default());
        let _ = form.append_with_str("partNumber", &part.number.to_string());
        let _ = form.append_with_str("md5", &md5_hex);
        let _ = form.append_with_blob_and_filename("content", part.content, "part");
        let _slot = self.gate.acquire(false).await;
        let headers = extra_headers(&self.options.headers, part.refresh_headers).await?;
        let stall_timeout_ms = self.options.stall_timeout_ms;
        let request = PartRequest {
            method: "POST",
            url: &url,
            body: PartBody::Form(&form),
            headers: &headers,
            with_credentials: self.options.with_credentials,
            stall_timeout_ms,
        };
        let answer = transport::send(request, on_progress).await.map_err(|why| {
            RequestFailure::no_answer(endpoint.name(), &url, why, stall_timeout_ms)
        })?;
        let stored: PartInfo = parse_ok(endpoint, &url, answer)?;
        if !stored.md5.eq_ignore_ascii_case(&md5_hex) || stored.size != part.len {
            return Err(RequestFailure::unexpected(
                Reason::Mismatch,
                format!(
                    "the server stored {} bytes with md5 {} for part {}, expected {} bytes with md5 {md5_hex}",
                    stored.size, stored.md5, part.number, part.len
                ),
            ));
        }
        Ok(())
    }

    /// uploadComplete with every part's MD5 (`digests[0]` is part 1); checks the answer's size
    /// and etag against the file's own.
    pub async fn complete(
        &self,
        digests: &[[u8; 16]],
        file_size: u64,
    ) -> Result<CompleteResponse, UploadError> {
        let parts = (1..)
            .zip(digests)
            .map(|(part_number, digest)| CompletePart {
                part_number,
                md5: md5_to_hex(digest),
            });
        let request = CompleteRequest {
            upload_id: self.upload_id().unwrap_or_default(),
            complete_multipart_upload: parts.collect(),
        };
        let stall = self.options.stall_timeout_ms * COMPLETE_STALL_FACTOR;
        let done: CompleteResponse = self
            .call(
                Endpoint::UploadComplete,
                &request,
                self.options.retry,
                stall,
            )
            .await?;
        check_assembled(&done, &multipart_etag(digests), file_size)?;
        Ok(done)
    }

    /// uploadAbort of this session's upload, best effort: a failure is only logged (an upload the
    /// server no longer knows is no failure).
    pub async fn abort(&self) {
        let Some(upload_id) = self.upload_id() else {
            return;
        };
        if let Err(e) = self.discard(&upload_id, ABORT_POLICY).await {
            web_sys::console::warn_1(&e.full_message().into());
        }
    }
}
