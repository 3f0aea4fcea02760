//! The part pipeline: hash → upload, until every part is stored on the server.
//!
//! Two stages. Parts are read and hashed in order (by the Uploader's hashing workers, several at
//! once, or on the page's thread, one at a time: `hash_pool.rs`), running ahead of the uploads by
//! at most `concurrency` parts, counting those being hashed (a hashed part waiting for a slot
//! holds only its digest, not its bytes). Up to `concurrency` part requests run at once, each
//! sending the Blob slice itself as the form's `content`, so the browser reads it from disk again
//! and no part is ever held in memory. Everything runs on one task; pause and cancel drop [`PartPipeline::run`], which aborts
//! whatever was in flight, and a later `run` goes on from what is done (digests are kept).

use crate::error::UploadError;
use crate::file_check::changed_on_disk;
use crate::hash_pool::HashPool;
use crate::http::RequestFailure;
use crate::js_glue::ProgressReporter;
use crate::progress::PartState;
use crate::retry::{FailureClass, RetryPolicy};
use crate::session::{PartToSend, Session};
use crate::slicing::PartPlan;
use crate::timers::{now_ms, sleep_ms};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use partup_wire::{Endpoint, ErrorCode, PartInfo, md5_to_hex};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use web_sys::Blob;

type Digest = [u8; 16];

/// Waits before reading a part again after a read failed. Chromium refuses reads of a Blob built
/// in memory while its blob store is full of slices the page has let go of but its garbage
/// collector has not freed yet (`ERR_BLOB_OUT_OF_MEMORY`, surfacing as "network error"); idle
/// moments let them go. A file changed or deleted on disk fails at once as `FileChanged` instead
/// (`file_check.rs` tells the two apart).
const READ_RETRY_DELAYS_MS: [f64; 5] = [250.0, 1_000.0, 2_000.0, 4_000.0, 8_000.0];

/// Everything the pipeline works with.
pub struct PipelineSetup {
    pub session: Rc<Session>,
    pub progress: Rc<ProgressReporter>,
    pub file: Blob,
    pub plan: PartPlan,
    /// Shared with the other uploads of the same Uploader.
    pub hashing: Rc<HashPool>,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// On resume: parts the server already holds (index 0 is part 1), as listParts reported.
    pub server_parts: Vec<Option<PartInfo>>,
}

/// The parts of one upload on their way to the server.
pub struct PartPipeline {
    setup: PipelineSetup,
    /// Each part's MD5 once hashed (index 0 is part 1); cleared to force a re-read.
    digests: RefCell<Vec<Option<Digest>>>,
    /// The Blob slice of each part between its hashing and its upload: one slice per part, made
    /// once and let go the moment the part is done. A slice of a Blob built in memory from many
    /// pieces makes Chromium copy its bytes into the blob store, which holds ~500 MiB: a second
    /// slice per part for the upload, or slices kept past their part, filled it
    /// (`ERR_BLOB_OUT_OF_MEMORY`). At most `concurrency` hashing or waiting, and `concurrency`
    /// uploading: a short list (a HashMap would add SipHash, 2 KB gzipped, to the package).
    slices: RefCell<Vec<(u32, Blob)>>,
}

enum Event {
    Hashed(u32, Result<Digest, UploadError>),
    Uploaded(u32, Result<(), UploadError>),
}

/// What one `run` still has to do.
#[derive(Default)]
struct Work {
    to_hash: VecDeque<u32>,
    /// Hashed, waiting for an upload slot.
    ready: VecDeque<u32>,
    /// Parts being hashed, and being uploaded, in `running`.
    hashing: usize,
    uploading: usize,
    /// Hashes and uploads in flight, polled together (one set: one copy of its code in the .wasm).
    running: FuturesUnordered<LocalBoxFuture<'static, Event>>,
}

impl Work {
    /// Starts uploads up to `concurrency`, and more hashes when the uploads need more parts.
    fn start_more(&mut self, pipeline: &Rc<PartPipeline>) {
        let concurrency = pipeline.setup.concurrency;
        while self.uploading < concurrency {
            let Some(n) = self.ready.pop_front() else {
                break;
            };
            let upload = pipeline.clone().upload_part(n);
            self.running.push(
                upload
                    .map(move |result| Event::Uploaded(n, result))
                    .boxed_local(),
            );
            self.uploading += 1;
        }
        let most_hashing = pipeline.setup.hashing.parallel_hashes();
        while self.hashing < most_hashing
            && self.ready.len() + self.hashing < concurrency
            && let Some(n) = self.to_hash.pop_front()
        {
            let hash = pipeline.clone().hash_part(n);
            self.running.push(
                hash.map(move |result| Event::Hashed(n, result))
                    .boxed_local(),
            );
            self.hashing += 1;
        }
    }

    fn is_finished(&self) -> bool {
        self.running.is_empty()
    }

    async fn next_event(&mut self) -> Event {
        let event = self
            .running
            .next()
            .await
            .expect("polled only while running");
        match event {
            Event::Hashed(..) => self.hashing -= 1,
            Event::Uploaded(..) => self.uploading -= 1,
        }
        event
    }
}

impl PartPipeline {
    pub fn new(setup: PipelineSetup) -> PartPipeline {
        let count = setup.plan.part_count as usize;
        PartPipeline {
            setup,
            digests: RefCell::new(vec![None; count]),
            slices: RefCell::default(),
        }
    }

    /// Part `number`'s slice of the file, made on first use.
    fn slice(&self, number: u32) -> Blob {
        let (start, end) = self.setup.plan.range(number);
        let file = &self.setup.file;
        let mut slices = self.slices.borrow_mut();
        if let Some((_, slice)) = slices.iter().find(|(n, _)| *n == number) {
            return slice.clone();
        }
        let slice = file
            .slice_with_f64_and_f64(start as f64, end as f64)
            .unwrap_or_else(|_| wasm_bindgen::throw_str("Blob.slice threw for in-range numbers"));
        slices.push((number, slice.clone()));
        slice
    }

    /// Part `number` is done (stored, skipped or failed): its slice goes.
    fn let_go(&self, number: u32) {
        self.slices.borrow_mut().retain(|(n, _)| *n != number);
    }

    pub fn plan(&self) -> PartPlan {
        self.setup.plan
    }

    /// Every part's MD5, part 1 first; only after [`PartPipeline::run`] succeeded.
    pub fn digests(&self) -> Vec<Digest> {
        let digests = self.digests.borrow();
        digests
            .iter()
            .map(|d| d.expect("every part is hashed before complete"))
            .collect()
    }

    /// Parts the server held already when the upload was resumed.
    pub fn parts_on_server(&self) -> usize {
        self.setup.server_parts.iter().flatten().count()
    }

    /// Uploads every part not done yet (or skips it when the server has it already).
    pub async fn run(self: &Rc<Self>) -> Result<(), UploadError> {
        // Slices of a run that was paused or failed are not kept: the parts are read again.
        self.slices.borrow_mut().clear();
        let mut work = self.pending_work();
        loop {
            work.start_more(self);
            if work.is_finished() {
                debug_assert!(work.ready.is_empty() && work.to_hash.is_empty());
                return Ok(());
            }
            match work.next_event().await {
                Event::Hashed(n, result) => {
                    let digest = result.inspect_err(|_| self.let_go(n))?;
                    if self.already_stored(n, &digest) {
                        self.let_go(n);
                        self.setup.progress.part_done(n, true);
                    } else {
                        self.setup.progress.set_part_state(n, PartState::Waiting);
                        work.ready.push_back(n);
                    }
                }
                Event::Uploaded(n, result) => {
                    self.let_go(n);
                    result?;
                    self.setup.progress.part_done(n, false);
                }
            }
        }
    }

    /// Hashes every part whose MD5 is not known yet, as many at once as the hashing pool hashes,
    /// sending nothing: the pre-pass of an instant upload. The digests stay for [`Self::run`],
    /// which then only sends. Dropping the future stops the reads (pause, cancel); the parts
    /// hashed so far are kept.
    pub async fn hash_all(self: &Rc<Self>) -> Result<(), UploadError> {
        let all = (1..=self.setup.plan.part_count).collect();
        self.hash_parts(all, |_, _| true).await.map(|_| ())
    }

    /// Whether every part the server listed holds this file's bytes: those parts hashed (as many
    /// at once as the pool hashes) and compared, stopping at the first that differs. When all
    /// do, they count as done (skipped) and [`Self::run`] sends only the others. A resume found
    /// by metadata alone is checked this way before anything is sent or adopted.
    pub async fn verify_server_parts(self: &Rc<Self>) -> Result<bool, UploadError> {
        let listed: VecDeque<u32> = (1..=self.setup.plan.part_count)
            .filter(|n| self.setup.server_parts[*n as usize - 1].is_some())
            .collect();
        let same =
            (self.hash_parts(listed.clone(), |n, digest| self.already_stored(n, digest))).await?;
        if same {
            for n in listed {
                self.setup.progress.part_done(n, true);
            }
        }
        Ok(same)
    }

    /// Hashes `numbers` (those not hashed yet) without sending, until each was hashed and `keep`
    /// accepted its digest (true), or `keep` refused one (false; the reads still running stop).
    async fn hash_parts(
        self: &Rc<Self>,
        numbers: VecDeque<u32>,
        keep: impl Fn(u32, &Digest) -> bool,
    ) -> Result<bool, UploadError> {
        let mut to_hash = VecDeque::new();
        for n in numbers {
            let known = self.digests.borrow()[n as usize - 1];
            match known {
                Some(digest) if !keep(n, &digest) => return Ok(false),
                Some(_) => {}
                None => to_hash.push_back(n),
            }
        }
        let most_hashing = self.setup.hashing.parallel_hashes();
        let mut hashing = FuturesUnordered::new();
        loop {
            while hashing.len() < most_hashing
                && let Some(n) = to_hash.pop_front()
            {
                let hash = self.clone().hash_part(n).map(move |result| (n, result));
                hashing.push(hash.boxed_local());
            }
            let Some((n, result)) = hashing.next().await else {
                return Ok(true);
            };
            // Its slice goes: `run` makes it again when the part is sent.
            self.let_go(n);
            let digest = result?;
            self.setup.progress.update(|t| t.part_hashed(n));
            self.setup.progress.emit(false);
            if !keep(n, &digest) {
                return Ok(false);
            }
        }
    }

    fn pending_work(&self) -> Work {
        let mut work = Work::default();
        let digests = self.digests.borrow();
        for n in 1..=self.setup.plan.part_count {
            if self.setup.progress.read(|t| t.state(n)) == PartState::Done {
                continue;
            }
            match digests[n as usize - 1] {
                Some(_) => work.ready.push_back(n), // hashed before a pause
                None => work.to_hash.push_back(n),
            }
        }
        work
    }

    /// Reads and hashes part `number`.
    async fn hash_part(self: Rc<Self>, number: u32) -> Result<Digest, UploadError> {
        let progress = &self.setup.progress;
        let mut waits = READ_RETRY_DELAYS_MS.iter();
        let digest = loop {
            let mut reported = 0u64;
            let slice = self.slice(number);
            let started = || progress.set_part_state(number, PartState::Hashing);
            let read = self.setup.hashing.hash(&slice, started, |hashed| {
                // Progress at least every hashed MiB (throttled inside emit).
                if hashed - reported >= 1 << 20 {
                    reported = hashed;
                    progress.emit(false);
                }
            });
            let read = read.await;
            match (read, waits.next()) {
                (Ok(digest), _) => break digest,
                (Err(_), _) if let Some(changed) = changed_on_disk(&self.setup.file).await => {
                    return Err(changed.with_part(number));
                }
                (Err(_), Some(&wait_ms)) => {
                    // A fresh slice after the wait: the failed one may be what the store lost.
                    self.let_go(number);
                    sleep_ms(wait_ms).await;
                }
                (Err(error), None) => return Err(error.with_part(number)),
            }
        };
        self.digests.borrow_mut()[number as usize - 1] = Some(digest);
        Ok(digest)
    }

    /// Whether the server already holds part `number` with these bytes (resume).
    fn already_stored(&self, number: u32, digest: &Digest) -> bool {
        self.setup
            .server_parts
            .get(number as usize - 1)
            .and_then(Option::as_ref)
            .is_some_and(|p| p.md5.eq_ignore_ascii_case(&md5_to_hex(digest)))
    }

    /// Sends part `number` until it is stored, re-reading and re-hashing it after a BadDigest.
    async fn upload_part(self: Rc<Self>, number: u32) -> Result<(), UploadError> {
        let before_retry = |failure: &RequestFailure| {
            if failure.error.server_code() == Some(ErrorCode::BadDigest) {
                // The bytes changed on the way (or on disk): read and hash them again.
                self.digests.borrow_mut()[number as usize - 1] = None;
            }
            let progress = &self.setup.progress;
            progress.update(|t| t.set_state(number, PartState::Retrying));
        };
        let attempt = |refresh| self.clone().attempt_part(number, refresh);
        let session = &self.setup.session;
        session
            .retrying(
                Endpoint::UploadPart,
                self.setup.retry,
                before_retry,
                attempt,
            )
            .await
            .map_err(|e| e.with_part(number))
    }

    /// One attempt at part `number`, hashing it first if its digest is not known (any more);
    /// `refresh`: a resend after a 401.
    async fn attempt_part(
        self: Rc<Self>,
        number: u32,
        refresh: bool,
    ) -> Result<(), RequestFailure> {
        let known = self.digests.borrow()[number as usize - 1];
        let digest = match known {
            Some(digest) => digest,
            // Boxed: the hashing future is already in `Work`; no second copy of it here.
            None => (self.clone().hash_part(number).boxed_local().await)
                .map_err(RequestFailure::local)?,
        };
        let progress = self.setup.progress.clone();
        progress.set_part_state(number, PartState::Uploading);
        let (start, end) = self.setup.plan.range(number);
        let content = self.slice(number);
        let len = end - start;
        let on_progress = Box::new(move |loaded: f64, total: f64| {
            // `loaded` counts the form's own few hundred bytes too; scale to the part.
            let fraction = if total > 0.0 { loaded / total } else { 0.0 };
            let sent = (fraction * len as f64) as u64;
            progress.update(|t| t.part_sent(number, sent, now_ms()));
            progress.emit(false);
        });
        let part = PartToSend {
            number,
            content: &content,
            len,
            digest: &digest,
            refresh_headers: refresh,
        };
        let sent = self.setup.session.send_part(part, on_progress).await;
        match sent {
            // The browser could not read the part to send it: no retry brings back a changed file.
            Err(failure) if failure.class == FailureClass::Network => {
                match changed_on_disk(&self.setup.file).await {
                    Some(changed) => Err(RequestFailure::local(changed)),
                    None => Err(failure),
                }
            }
            sent => sent,
        }
    }
}
