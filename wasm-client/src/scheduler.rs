//! The upload itself: init (or resume), the part pipeline, complete — with retries, pause,
//! resume and cancel.
//!
//! The part pipeline has two stages. One hasher reads and hashes parts in order, running ahead
//! of the uploads by at most `concurrency` parts (a hashed part waiting for a slot holds only its
//! digest, not its bytes). Up to `concurrency` part requests run at once, each sending the Blob
//! slice itself as the form's `content`, so the browser reads it from disk again and no part is
//! ever held in memory. Everything runs on one task; pause and cancel drop the pipeline future,
//! which aborts whatever was in flight.

use crate::control::{Control, RunState};
use crate::error::{UploadError, codes};
use crate::hashing::md5_of_range;
use crate::options::{UploadOptions, UploaderOptions};
use crate::progress::{PartState, Phase, ProgressTracker};
use crate::queue::Gate;
use crate::resume_store::{self, ResumeEntry};
use crate::retry::{RequestKind, RetryPolicy, is_retryable};
use crate::slicing::PartPlan;
use crate::timers::{now_ms, sleep_ms};
use crate::transport::{Api, Body, RequestFailure, js_text, parse_success};
use futures_util::FutureExt;
use futures_util::future::{Either, LocalBoxFuture, select};
use futures_util::stream::{FuturesUnordered, StreamExt};
use md5::{Digest, Md5};
use partup_wire::{
    AbortResponse, CompletePart, CompleteRequest, CompleteResponse, InitRequest, InitResponse,
    ListPartsResponse, PartInfo, UploadIdRequest, md5_to_hex,
};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, FormData};

/// A complete may legitimately take long (the server concatenates the parts); it gets this many
/// stall timeouts before it is retried (a retried complete waits for the running one).
const COMPLETE_STALL_FACTOR: f64 = 10.0;

/// A part being read and hashed.
type HashFuture = LocalBoxFuture<'static, Result<[u8; 16], UploadError>>;

/// Mutable state of one upload.
pub struct UploadState {
    pub plan: PartPlan,
    pub upload_id: Option<String>,
    pub existed: bool,
    pub resumed: bool,
    /// Each part's MD5 once hashed (index 0 is part 1); cleared to force a re-read.
    pub md5s: Vec<Option<[u8; 16]>>,
    /// On resume: parts the server already holds (index 0 is part 1), as listParts reported.
    pub server_parts: Vec<Option<PartInfo>>,
    pub tracker: ProgressTracker,
}

/// Everything one upload needs; shared by the driver and the JS `Upload` handle.
pub struct UploadCtx {
    pub api: Api,
    pub options: Rc<UploaderOptions>,
    pub upload_options: UploadOptions,
    pub file: Blob,
    pub control: Rc<Control>,
    /// Shared with the other uploads of the same Uploader.
    pub hashing_gate: Rc<Gate>,
    pub state: RefCell<UploadState>,
    pub resume_key: String,
}

fn tracker_for(plan: &PartPlan) -> ProgressTracker {
    ProgressTracker::new((1..=plan.part_count).map(|n| plan.part_len(n)).collect())
}

impl UploadCtx {
    pub fn new(
        options: Rc<UploaderOptions>,
        upload_options: UploadOptions,
        file: Blob,
        request_gate: Rc<Gate>,
        hashing_gate: Rc<Gate>,
    ) -> Result<UploadCtx, UploadError> {
        let size = file.size() as u64;
        let plan = PartPlan::new(
            size,
            options.part_size,
            options.min_part_size,
            options.max_part_size,
        )
        .map_err(|e| UploadError::new(codes::FILE_TOO_LARGE, e.0))?;
        let resume_key =
            resume_store::fingerprint(&file, &upload_options.resource_key, &options.endpoint);
        Ok(UploadCtx {
            api: Api {
                options: options.clone(),
                gate: request_gate,
            },
            hashing_gate,
            options,
            upload_options,
            file,
            control: Rc::new(Control::default()),
            state: RefCell::new(UploadState {
                md5s: vec![None; plan.part_count as usize],
                tracker: tracker_for(&plan),
                plan,
                upload_id: None,
                existed: false,
                resumed: false,
                server_parts: Vec::new(),
            }),
            resume_key,
        })
    }

    fn set_phase(&self, phase: Phase) {
        self.state.borrow_mut().tracker.phase = phase;
        self.emit(true);
    }

    fn set_part_state(&self, number: u32, state: PartState) {
        let changed = self.state.borrow_mut().tracker.set_state(number, state);
        if changed {
            // Throttled: with thousands of parts, a report per state change would rebuild the
            // `parts` array thousands of times a second. Finished parts and phases always report.
            self.emit(state == PartState::Retrying);
        }
    }

    /// Calls `onProgress` (throttled unless `force`). The state borrow ends before JS runs, so
    /// the callback may call `pause()` or read `upload.progress`.
    pub fn emit(&self, force: bool) {
        let Some(callback) = &self.upload_options.on_progress else {
            return;
        };
        let now = now_ms();
        let snapshot = {
            let mut state = self.state.borrow_mut();
            if !state.tracker.emit_due(now, force) {
                return;
            }
            state.tracker.snapshot(now)
        };
        if let Err(e) = callback.call1(&JsValue::NULL, &snapshot.to_js()) {
            // An app bug in a progress renderer must not fail the upload; say so once per call.
            web_sys::console::warn_2(&"partup: onProgress threw".into(), &e);
        }
    }

    fn upload_id(&self) -> String {
        self.state.borrow().upload_id.clone().unwrap_or_default()
    }

    /// Runs `attempt` until it succeeds, fails with a non-retryable error, or retries run out.
    async fn retrying<T, Fut>(
        &self,
        kind: RequestKind,
        policy: RetryPolicy,
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<T, UploadError>
    where
        Fut: Future<Output = Result<T, RequestFailure>>,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) => {
                    if retry >= policy.max_retries || !is_retryable(&failure.class(), kind) {
                        return Err(failure.error);
                    }
                    retry += 1;
                    self.state.borrow_mut().tracker.retried();
                    self.emit(true);
                    let delay =
                        policy.delay_ms(retry, js_sys::Math::random(), failure.retry_after_ms);
                    sleep_ms(delay).await;
                }
            }
        }
    }

    /// uploadInit, or — for a file remembered from an earlier page — listParts of that upload.
    async fn prepare(&self) -> Result<(), UploadError> {
        let key = self.upload_options.resource_key.clone();
        if self.options.resume && self.try_resume(&key).await? {
            return Ok(());
        }
        let body = serde_json::to_string(&InitRequest {
            resource_key: key.clone(),
        })
        .expect("serializing a struct of strings cannot fail");
        let stall = self.options.stall_timeout_ms;
        let init: InitResponse = self
            .retrying(RequestKind::Init, self.options.retry, || {
                self.api
                    .call_json(RequestKind::Init, "uploadInit", body.clone(), stall)
            })
            .await?;
        {
            let mut state = self.state.borrow_mut();
            state.upload_id = Some(init.upload_id.clone());
            state.existed = init.is_exist;
        }
        if init.is_exist && !self.ask_on_exists(&init.upload_id).await? {
            return Err(UploadError::new(
                codes::CANCELLED,
                format!("an object named \"{key}\" already exists and replacing it was declined"),
            ));
        }
        if self.options.resume {
            let part_size = self.state.borrow().plan.part_size;
            resume_store::save(
                &self.resume_key,
                &ResumeEntry {
                    upload_id: init.upload_id,
                    part_size,
                    resource_key: key,
                    existed: init.is_exist,
                },
            );
        }
        Ok(())
    }

    /// Picks up a remembered upload. Returns false (after forgetting it) when it is gone.
    async fn try_resume(&self, key: &str) -> Result<bool, UploadError> {
        let Some(entry) = resume_store::load(&self.resume_key) else {
            return Ok(false);
        };
        let file_size = self.file.size() as u64;
        let usable_plan = PartPlan::resumed(file_size, entry.part_size)
            .filter(|p| p.part_size <= self.options.max_part_size)
            .filter(|p| p.part_count == 1 || p.part_size >= self.options.min_part_size);
        let Some(plan) = usable_plan.filter(|_| entry.resource_key == key) else {
            resume_store::remove(&self.resume_key);
            return Ok(false);
        };
        let body = serde_json::to_string(&UploadIdRequest {
            upload_id: entry.upload_id.clone(),
        })
        .expect("serializing a struct of strings cannot fail");
        let stall = self.options.stall_timeout_ms;
        let listed = self
            .retrying(RequestKind::ListParts, self.options.retry, || {
                self.api.call_json::<ListPartsResponse>(
                    RequestKind::ListParts,
                    "listParts",
                    body.clone(),
                    stall,
                )
            })
            .await;
        let list = match listed {
            Ok(list) if list.resource_key == key => list,
            Ok(_) => {
                resume_store::remove(&self.resume_key);
                return Ok(false);
            }
            Err(e) if e.code == "NoSuchUpload" => {
                // Expired, aborted or completed meanwhile: start fresh.
                resume_store::remove(&self.resume_key);
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let mut state = self.state.borrow_mut();
        // Only parts of exactly the planned size can be reused; their MD5 is compared after
        // hashing the local bytes, so a changed file is never stitched from stale parts.
        state.server_parts = vec![None; plan.part_count as usize];
        for part in list.parts {
            let n = part.part_number;
            if n >= 1 && n <= plan.part_count && part.size == plan.part_len(n) {
                state.server_parts[n as usize - 1] = Some(part);
            }
        }
        state.md5s = vec![None; plan.part_count as usize];
        state.tracker = tracker_for(&plan);
        state.plan = plan;
        state.upload_id = Some(entry.upload_id);
        state.existed = entry.existed;
        state.resumed = true;
        Ok(true)
    }

    /// Asks the app's `onExists` whether to replace the existing object (no hook: replace).
    async fn ask_on_exists(&self, upload_id: &str) -> Result<bool, UploadError> {
        let Some(hook) = &self.upload_options.on_exists else {
            return Ok(true);
        };
        let info = js_object(&[
            (
                "resourceKey",
                JsValue::from_str(&self.upload_options.resource_key),
            ),
            ("uploadId", JsValue::from_str(upload_id)),
            ("existed", JsValue::TRUE),
        ]);
        let declined = |why: String| UploadError::new(codes::CANCELLED, why);
        let mut answer = hook
            .call1(&JsValue::NULL, &info)
            .map_err(|e| declined(format!("onExists threw: {}", js_text(&e))))?;
        if let Some(promise) = answer.dyn_ref::<js_sys::Promise>() {
            answer = JsFuture::from(promise.clone())
                .await
                .map_err(|e| declined(format!("onExists rejected: {}", js_text(&e))))?;
        }
        Ok(answer.is_truthy())
    }

    fn call_on_init(&self) {
        let Some(hook) = &self.upload_options.on_init else {
            return;
        };
        let info = {
            let state = self.state.borrow();
            js_object(&[
                (
                    "uploadId",
                    JsValue::from_str(state.upload_id.as_deref().unwrap_or("")),
                ),
                ("existed", JsValue::from_bool(state.existed)),
                ("resumed", JsValue::from_bool(state.resumed)),
                ("partSize", JsValue::from_f64(state.plan.part_size as f64)),
                (
                    "partsTotal",
                    JsValue::from_f64(state.plan.part_count as f64),
                ),
                (
                    "partsOnServer",
                    JsValue::from_f64(state.server_parts.len() as f64),
                ),
            ])
        };
        if let Err(e) = hook.call1(&JsValue::NULL, &info) {
            web_sys::console::warn_2(&"partup: onInit threw".into(), &e);
        }
    }

    /// Reads and hashes part `number`.
    async fn hash_part(self: Rc<Self>, number: u32) -> Result<[u8; 16], UploadError> {
        let (start, end) = self.state.borrow().plan.range(number);
        let _slot = self.hashing_gate.acquire(false).await;
        self.set_part_state(number, PartState::Hashing);
        let mut reported = 0u64;
        let digest = md5_of_range(&self.file, start, end, |hashed| {
            // Progress at least every hashed MiB (throttled inside emit).
            if hashed - reported >= 1 << 20 {
                reported = hashed;
                self.emit(false);
            }
        })
        .await
        .map_err(|e| e.with_part(number))?;
        self.state.borrow_mut().md5s[number as usize - 1] = Some(digest);
        Ok(digest)
    }

    /// Whether the server already holds part `number` with these bytes (resume).
    fn already_stored(&self, number: u32, digest: &[u8; 16]) -> bool {
        let state = self.state.borrow();
        state
            .server_parts
            .get(number as usize - 1)
            .and_then(Option::as_ref)
            .is_some_and(|p| p.md5.eq_ignore_ascii_case(&md5_to_hex(digest)))
    }

    /// Sends part `number` until it is stored, re-reading and re-hashing it after a BadDigest.
    async fn upload_part(self: Rc<Self>, number: u32) -> Result<(), UploadError> {
        let policy = self.options.retry;
        let mut retry = 0;
        loop {
            let known = self.state.borrow().md5s[number as usize - 1];
            let digest = match known {
                Some(d) => d,
                None => self.clone().hash_part(number).await?,
            };
            self.set_part_state(number, PartState::Uploading);
            let failure = match self.send_part(number, &digest).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            if retry >= policy.max_retries || !is_retryable(&failure.class(), RequestKind::Part) {
                return Err(failure.error.with_part(number));
            }
            retry += 1;
            if failure.error.code == "BadDigest" {
                // The bytes changed on the way (or on disk): read and hash them again.
                self.state.borrow_mut().md5s[number as usize - 1] = None;
            }
            {
                let mut state = self.state.borrow_mut();
                state.tracker.retried();
                state.tracker.set_state(number, PartState::Retrying);
            }
            self.emit(true);
            sleep_ms(policy.delay_ms(retry, js_sys::Math::random(), failure.retry_after_ms)).await;
        }
    }

    /// One attempt at part `number`: the Blob slice goes into the form as `content`.
    async fn send_part(
        self: &Rc<Self>,
        number: u32,
        digest: &[u8; 16],
    ) -> Result<(), RequestFailure> {
        let (start, end) = self.state.borrow().plan.range(number);
        let md5_hex = md5_to_hex(digest);
        let slice = self
            .file
            .slice_with_f64_and_f64(start as f64, end as f64)
            .expect("Blob.slice does not throw for in-range numbers");
        let form = FormData::new().expect("FormData exists wherever XHR does");
        let _ = form.append_with_str("uploadId", &self.upload_id());
        let _ = form.append_with_str("partNumber", &number.to_string());
        let _ = form.append_with_str("md5", &md5_hex);
        let _ = form.append_with_blob_and_filename("content", &slice, "part");
        let part_len = end - start;
        let progress_ctx = self.clone();
        let on_progress = Box::new(move |loaded: f64, total: f64| {
            // `loaded` counts the form's own few hundred bytes too; scale to the part.
            let fraction = if total > 0.0 { loaded / total } else { 0.0 };
            let sent = (fraction * part_len as f64) as u64;
            progress_ctx
                .state
                .borrow_mut()
                .tracker
                .part_sent(number, sent, now_ms());
            progress_ctx.emit(false);
        });
        let text = self
            .api
            .send(
                RequestKind::Part,
                "upload",
                Body::Form(form),
                self.options.stall_timeout_ms,
                Some(on_progress),
            )
            .await?;
        let stored: PartInfo = parse_success(RequestKind::Part, &text)?;
        if !stored.md5.eq_ignore_ascii_case(&md5_hex) || stored.size != part_len {
            // A 200 for other bytes than ours: never count it as stored.
            return Err(RequestFailure {
                error: UploadError::new(
                    codes::UNEXPECTED_RESPONSE,
                    format!(
                        "the server stored {} bytes with md5 {} for part {number}, expected {part_len} bytes with md5 {md5_hex}",
                        stored.size, stored.md5
                    ),
                ),
                no_answer: Some(crate::transport::NoAnswer::Network),
                retry_after_ms: None,
            });
        }
        Ok(())
    }

    /// The part pipeline: hash ahead, upload up to `concurrency` at once, until every part is
    /// stored (or skipped because the server has it already).
    async fn upload_parts(self: &Rc<Self>) -> Result<(), UploadError> {
        let concurrency = self.options.concurrency as usize;
        let mut to_hash: VecDeque<u32> = VecDeque::new();
        let mut ready: VecDeque<u32> = VecDeque::new();
        {
            let state = self.state.borrow();
            for n in 1..=state.plan.part_count {
                if state.tracker.state(n) == PartState::Done {
                    continue;
                }
                match state.md5s[n as usize - 1] {
                    Some(_) => ready.push_back(n), // hashed before a pause
                    None => to_hash.push_back(n),
                }
            }
        }
        let mut hashing: Option<(u32, HashFuture)> = None;
        let mut uploads =
            FuturesUnordered::<LocalBoxFuture<'static, (u32, Result<(), UploadError>)>>::new();
        enum Event {
            Hashed(u32, Result<[u8; 16], UploadError>),
            Uploaded(u32, Result<(), UploadError>),
        }
        loop {
            while uploads.len() < concurrency {
                let Some(n) = ready.pop_front() else { break };
                let ctx = self.clone();
                uploads.push(async move { (n, ctx.upload_part(n).await) }.boxed_local());
            }
            if hashing.is_none()
                && ready.len() < concurrency
                && let Some(n) = to_hash.pop_front()
            {
                hashing = Some((n, self.clone().hash_part(n).boxed_local()));
            }
            if hashing.is_none() && uploads.is_empty() {
                debug_assert!(ready.is_empty() && to_hash.is_empty());
                return Ok(());
            }
            let event = poll_fn(|cx| {
                if let Some((n, future)) = hashing.as_mut()
                    && let Poll::Ready(result) = future.poll_unpin(cx)
                {
                    return Poll::Ready(Event::Hashed(*n, result));
                }
                if let Poll::Ready(Some((n, result))) = uploads.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Uploaded(n, result));
                }
                Poll::Pending
            })
            .await;
            match event {
                Event::Hashed(n, result) => {
                    hashing = None;
                    let digest = result?;
                    if self.already_stored(n, &digest) {
                        self.state.borrow_mut().tracker.part_done(n, true, now_ms());
                        self.emit(true);
                    } else {
                        self.set_part_state(n, PartState::Waiting);
                        ready.push_back(n);
                    }
                }
                Event::Uploaded(n, result) => {
                    result?;
                    self.state
                        .borrow_mut()
                        .tracker
                        .part_done(n, false, now_ms());
                    self.emit(true);
                }
            }
        }
    }

    /// uploadComplete with every part's MD5; checks the answer against the local file.
    async fn complete(&self) -> Result<CompleteResponse, UploadError> {
        let (request, expected_etag, file_size) = {
            let state = self.state.borrow();
            let mut etag_hasher = Md5::new();
            let mut parts = Vec::with_capacity(state.md5s.len());
            for (i, digest) in state.md5s.iter().enumerate() {
                let digest = digest.expect("every part is hashed before complete");
                etag_hasher.update(digest);
                parts.push(CompletePart {
                    part_number: i as u32 + 1,
                    md5: md5_to_hex(&digest),
                });
            }
            let etag_digest: [u8; 16] = etag_hasher.finalize().into();
            let etag = format!("{}-{}", md5_to_hex(&etag_digest), parts.len());
            let request = CompleteRequest {
                upload_id: state.upload_id.clone().unwrap_or_default(),
                complete_multipart_upload: parts,
            };
            (request, etag, state.plan.file_size)
        };
        let body =
            serde_json::to_string(&request).expect("serializing a struct of strings cannot fail");
        let stall = self.options.stall_timeout_ms * COMPLETE_STALL_FACTOR;
        let done: CompleteResponse = self
            .retrying(RequestKind::Complete, self.options.retry, || {
                self.api
                    .call_json(RequestKind::Complete, "uploadComplete", body.clone(), stall)
            })
            .await?;
        if done.size != file_size || !done.etag.eq_ignore_ascii_case(&expected_etag) {
            return Err(UploadError::new(
                codes::UNEXPECTED_RESPONSE,
                format!(
                    "the server assembled {} bytes with etag {}, but the file has {file_size} bytes \
                     and etag {expected_etag}",
                    done.size, done.etag
                ),
            ));
        }
        Ok(done)
    }

    /// Ends the upload on the server (best effort, a few quick retries).
    async fn abort_on_server(&self) {
        let Some(upload_id) = self.state.borrow().upload_id.clone() else {
            return;
        };
        let body = serde_json::to_string(&UploadIdRequest { upload_id })
            .expect("serializing a struct of strings cannot fail");
        let policy = RetryPolicy {
            max_retries: 3,
            base_delay_ms: 250.0,
            max_delay_ms: 2_000.0,
        };
        let stall = self.options.stall_timeout_ms;
        let result = self
            .retrying(RequestKind::Abort, policy, || {
                self.api.call_json::<AbortResponse>(
                    RequestKind::Abort,
                    "uploadAbort",
                    body.clone(),
                    stall,
                )
            })
            .await;
        if let Err(e) = result
            && e.code != "NoSuchUpload"
        {
            web_sys::console::warn_1(&e.full_message().into());
        }
    }

    /// Runs `work` unless cancel comes first.
    async fn unless_cancelled<T>(
        &self,
        work: impl Future<Output = Result<T, UploadError>>,
    ) -> Result<T, UploadError> {
        let cancelled = self.control.wait_until(|s| s == RunState::Cancelled);
        match select(pin!(work), pin!(cancelled)).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(UploadError::cancelled()),
        }
    }

    /// The whole upload, start to end.
    async fn drive(self: &Rc<Self>) -> Result<CompleteResponse, UploadError> {
        self.set_phase(Phase::Initializing);
        // Init and complete are short and not undone by a pause; only cancel stops them.
        self.unless_cancelled(self.prepare()).await?;
        self.call_on_init();
        loop {
            if self.control.state() == RunState::Paused {
                self.set_phase(Phase::Paused);
            }
            let state = self.control.wait_until(|s| s != RunState::Paused).await;
            if state == RunState::Cancelled {
                return Err(UploadError::cancelled());
            }
            self.set_phase(Phase::Uploading);
            let interrupted = self.control.wait_until(|s| s != RunState::Running);
            match select(pin!(self.upload_parts()), pin!(interrupted)).await {
                Either::Left((result, _)) => {
                    result?;
                    break;
                }
                Either::Right((RunState::Cancelled, _)) => return Err(UploadError::cancelled()),
                Either::Right(_) => {
                    // Paused: the in-flight requests were just aborted by the drop.
                    self.state.borrow_mut().tracker.reset_unfinished();
                }
            }
        }
        self.set_phase(Phase::Completing);
        self.unless_cancelled(self.complete()).await
    }

    /// Runs the upload and settles `done`: the result object, or a `PartupError`.
    pub async fn run(self: Rc<Self>) -> Result<JsValue, JsValue> {
        let outcome = self.drive().await;
        match outcome {
            Ok(done) => {
                resume_store::remove(&self.resume_key);
                self.set_phase(Phase::Done);
                let state = self.state.borrow();
                Ok(js_object(&[
                    ("resourceKey", JsValue::from_str(&done.resource_key)),
                    ("size", JsValue::from_f64(done.size as f64)),
                    ("etag", JsValue::from_str(&done.etag)),
                    ("parts", JsValue::from_f64(done.parts as f64)),
                    (
                        "uploadId",
                        JsValue::from_str(state.upload_id.as_deref().unwrap_or("")),
                    ),
                    ("existed", JsValue::from_bool(state.existed)),
                    ("resumed", JsValue::from_bool(state.resumed)),
                    (
                        "skippedParts",
                        JsValue::from_f64(state.tracker.skipped_parts as f64),
                    ),
                    ("retries", JsValue::from_f64(state.tracker.retries as f64)),
                ]))
            }
            Err(error) if error.is_cancelled() => {
                self.control.cancel();
                self.abort_on_server().await;
                resume_store::remove(&self.resume_key);
                self.set_phase(Phase::Cancelled);
                Err(error.to_js())
            }
            Err(error) => {
                if error.code == "NoSuchUpload" {
                    // The server no longer knows it; a later try must start fresh.
                    resume_store::remove(&self.resume_key);
                }
                // Otherwise the entry stays: picking the same file again resumes.
                self.set_phase(Phase::Failed);
                Err(error.to_js())
            }
        }
    }
}

/// A plain JS object from key/value pairs.
pub fn js_object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in pairs {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}
