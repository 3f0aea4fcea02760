//! One upload from start to end: init (or resume), the part pipeline, complete — with pause,
//! resume and cancel, and the resume entry kept or forgotten as the outcome says.

use crate::control::{Control, RunState};
use crate::error::{ClientCode, Reason, UploadError};
use crate::hash_pool::{HashPool, HashingMode};
use crate::js_glue::{Hooks, InitInfo, ProgressReporter, UploadFacts, result_object};
use crate::options::{ResumeFrom, UploadOptions, UploaderOptions};
use crate::pipeline::{PartPipeline, PipelineSetup};
use crate::progress::{Phase, ProgressTracker};
use crate::queue::Gate;
use crate::resume_store::{self, ResumeEntry};
use crate::retry_budget::RetryBudget;
use crate::server_match::{self, Candidate, LocalFile};
use crate::session::{ContentId, Session};
use crate::slicing::PartPlan;
use futures_util::future::{Either, select};
use partup_wire::{CompleteResponse, ErrorCode, Metadata, PartInfo, multipart_etag};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use web_sys::Blob;

fn tracker_for(plan: &PartPlan) -> ProgressTracker {
    ProgressTracker::new((1..=plan.part_count).map(|n| plan.part_len(n)).collect())
}

/// Everything one upload needs; shared by its driver and the JS `Upload` handle.
pub struct UploadTask {
    options: Rc<UploaderOptions>,
    file: Blob,
    resource_key: String,
    /// Where the upload is remembered for a resume after a reload.
    resume_key: String,
    hooks: Hooks,
    pub progress: Rc<ProgressReporter>,
    pub control: Rc<Control>,
    pub session: Rc<Session>,
    hashing: Rc<HashPool>,
    /// The plan for a fresh upload (a resumed one keeps the part size it began with).
    fresh_plan: PartPlan,
    existed: Cell<bool>,
    /// Where the upload that goes on was found: `"local"` or `"server"`.
    resumed_from: Cell<Option<&'static str>>,
    /// Uploads found on the server by metadata whose stored parts differ from this file.
    refused_matches: RefCell<Vec<String>>,
    resume: ResumeFrom,
    /// Stored with the upload at uploadInit: the app's entries and the file's description.
    metadata: Metadata,
    /// The `instant` option: hash the whole file before uploadInit.
    wants_instant: bool,
    /// The server completed the object at uploadInit (an instant upload's hit).
    instant: Cell<bool>,
}

impl UploadTask {
    pub fn new(
        options: Rc<UploaderOptions>,
        upload_options: UploadOptions,
        file: Blob,
        request_gate: Rc<Gate>,
        hashing: Rc<HashPool>,
        retry_budget: Rc<RefCell<RetryBudget>>,
    ) -> Result<UploadTask, UploadError> {
        let size = file.size() as u64;
        let (part_size, min, max) = (
            options.part_size,
            options.min_part_size,
            options.max_part_size,
        );
        let fresh_plan = PartPlan::new(size, part_size, min, max).map_err(|e| {
            UploadError::client(ClientCode::FileTooLarge, Reason::FileTooLarge, e.0)
        })?;
        let resource_key = upload_options.resource_key.clone();
        let metadata = server_match::file_metadata(
            &LocalFile::of(&file),
            fresh_plan.part_size,
            &upload_options.metadata,
        );
        partup_wire::validate_metadata(&metadata)
            .map_err(|why| UploadError::invalid_options(format!("option metadata: {why}")))?;
        let resume_key = resume_store::fingerprint(&file, &resource_key, &options.endpoint);
        let progress = Rc::new(ProgressReporter::new(
            tracker_for(&fresh_plan),
            upload_options.on_progress.clone(),
        ));
        let retried = progress.clone();
        let on_retry = Box::new(move || {
            retried.update(|t| t.retried());
            retried.emit(true);
        });
        Ok(UploadTask {
            session: Rc::new(Session::new(
                options.clone(),
                request_gate,
                retry_budget,
                on_retry,
            )),
            hooks: Hooks::new(&upload_options),
            options,
            file,
            resource_key,
            resume_key,
            progress,
            control: Rc::new(Control::default()),
            hashing,
            fresh_plan,
            existed: Cell::new(false),
            resumed_from: Cell::new(None),
            refused_matches: RefCell::default(),
            resume: upload_options.resume,
            metadata,
            wants_instant: upload_options.instant,
            instant: Cell::new(false),
        })
    }

    fn facts(&self) -> UploadFacts {
        UploadFacts {
            upload_id: self.session.upload_id().unwrap_or_default(),
            existed: self.existed.get(),
            resumed_from: self.resumed_from.get(),
            refused_matches: self.refused_matches.borrow().clone(),
            instant: self.instant.get(),
            direct: self.session.is_direct(),
        }
    }

    fn pipeline(&self, plan: PartPlan, server_parts: Vec<Option<PartInfo>>) -> PartPipeline {
        PartPipeline::new(PipelineSetup {
            session: self.session.clone(),
            progress: self.progress.clone(),
            file: self.file.clone(),
            plan,
            hashing: self.hashing.clone(),
            concurrency: self.options.concurrency as usize,
            retry: self.options.retry,
            server_parts,
        })
    }

    /// A fresh upload: for an instant one, every part hashed first (pause holds it, cancel
    /// stops it), then uploadInit. `Some` answer: the server completed the object at once from
    /// content it already held; else the parts are to be sent, their MD5s already known.
    async fn start_fresh(
        &self,
    ) -> Result<(Rc<PartPipeline>, Option<CompleteResponse>), UploadError> {
        let pipeline = Rc::new(self.pipeline(self.fresh_plan, Vec::new()));
        let content = if self.wants_instant {
            self.pausable(Phase::Hashing, || pipeline.hash_all())
                .await?;
            self.progress.set_phase(Phase::Initializing);
            Some(ContentId {
                part_size: self.fresh_plan.part_size,
                etag: multipart_etag(&pipeline.digests()),
            })
        } else {
            None
        };
        // Init is short and not undone by a pause; only cancel stops it.
        let done = self.unless_cancelled(self.init(content)).await?;
        Ok((pipeline, done))
    }

    /// uploadInit; the upload's instant completion when the server had the content.
    async fn init(
        &self,
        content: Option<ContentId>,
    ) -> Result<Option<CompleteResponse>, UploadError> {
        let size = self.file.size() as u64;
        let init = (self.session)
            .init(
                &self.resource_key,
                size,
                content.as_ref(),
                self.metadata.clone(),
            )
            .await?;
        self.existed.set(init.is_exist);
        if init.instant.is_some() {
            // Complete already: the existing object was replaced, onExists has nothing to decide,
            // and nothing is left to resume.
            self.instant.set(true);
            return Ok(init.instant);
        }
        if init.is_exist && !self.hooks.replace_existing(&init.upload_id).await? {
            return Err(self.hooks.declined_error());
        }
        self.remember(&init.upload_id, self.fresh_plan.part_size);
        Ok(None)
    }

    /// Notes the upload in localStorage, so a reload in this browser resumes it without asking
    /// the server.
    fn remember(&self, upload_id: &str, part_size: u64) {
        if self.options.resume && self.resume != ResumeFrom::Nowhere {
            let entry = ResumeEntry {
                upload_id: upload_id.to_string(),
                part_size,
                resource_key: self.resource_key.clone(),
                existed: self.existed.get(),
            };
            resume_store::save(&self.resume_key, &entry);
        }
    }

    /// Picks up the upload remembered in localStorage. `None` (after forgetting it) when it is
    /// gone or unusable.
    async fn resume_local(&self) -> Result<Option<Rc<PartPipeline>>, UploadError> {
        let Some(entry) = resume_store::load(&self.resume_key) else {
            return Ok(None);
        };
        let usable_plan = PartPlan::resumed(self.file.size() as u64, entry.part_size)
            .filter(|p| p.part_size <= self.options.max_part_size)
            .filter(|p| p.part_count == 1 || p.part_size >= self.options.min_part_size)
            .filter(|_| entry.resource_key == self.resource_key);
        let pipeline = match usable_plan {
            Some(plan) => self.stored_pipeline(&entry.upload_id, plan).await?,
            None => None,
        };
        let Some((pipeline, direct)) = pipeline else {
            resume_store::remove(&self.resume_key);
            return Ok(None);
        };
        // Its parts are compared with the local bytes as they are hashed (`PartPipeline::run`):
        // a part that differs is sent again.
        self.session.adopt(&entry.upload_id, direct);
        self.existed.set(entry.existed);
        self.resumed_from.set(Some("local"));
        Ok(Some(pipeline))
    }

    /// Finds this file's unfinished upload on the server (listUploads, matched by the metadata
    /// stored with it) and goes on with the first whose stored parts all hold this file's bytes.
    /// One that holds other bytes is left alone (it may be another file's, which its own
    /// client resumes) and noted in `refused_matches`. A listing the server refuses otherwise
    /// (an older server without listUploads, a failure of its own) just means a new upload.
    async fn resume_from_server(&self) -> Result<Option<Rc<PartPipeline>>, UploadError> {
        // Retried like uploadInit (the upload's first request): a flaky start must not cost the
        // resume of gigabytes already stored.
        let lookup = self
            .session
            .unfinished(&self.resource_key, self.options.retry);
        let listed = match lookup.await {
            Ok(listed) => listed,
            // Credentials refused even after a refresh, or no answer at all after the retries:
            // uploadInit would fare no better.
            Err(e) if e.reason == Reason::Unauthorized || e.status.is_none() => return Err(e),
            Err(_) => return Ok(None),
        };
        let limits = (self.options.min_part_size, self.options.max_part_size);
        let file = LocalFile::of(&self.file);
        for Candidate { upload_id, plan } in
            server_match::candidates(&listed, &self.resource_key, &file, limits)
        {
            let Some((pipeline, direct)) = self.stored_pipeline(&upload_id, plan).await? else {
                continue;
            };
            let verify = || pipeline.verify_server_parts();
            if self.pausable_until(Phase::Hashing, verify).await? {
                self.session.adopt(&upload_id, direct);
                self.resumed_from.set(Some("server"));
                self.remember(&upload_id, plan.part_size);
                return Ok(Some(pipeline));
            }
            self.refused_matches.borrow_mut().push(upload_id);
        }
        self.restart_progress(&self.fresh_plan);
        Ok(None)
    }

    /// A pipeline for `upload_id` cut by `plan`, knowing the parts the server lists for it, and
    /// whether they go straight to the store (listParts says); `None` when the server no longer
    /// has it for this key.
    async fn stored_pipeline(
        &self,
        upload_id: &str,
        plan: PartPlan,
    ) -> Result<Option<(Rc<PartPipeline>, bool)>, UploadError> {
        let Some((listed, direct)) = self
            .session
            .stored_parts(upload_id, &self.resource_key)
            .await?
        else {
            return Ok(None);
        };
        // Only parts of exactly the planned size can be reused; their MD5 is compared with the
        // local bytes' before any is counted, so a changed file is never stitched from stale
        // parts.
        let mut server_parts = vec![None; plan.part_count as usize];
        for part in listed {
            let n = part.part_number;
            if n >= 1 && n <= plan.part_count && part.size == plan.part_len(n) {
                server_parts[n as usize - 1] = Some(part);
            }
        }
        self.restart_progress(&plan);
        Ok(Some((Rc::new(self.pipeline(plan, server_parts)), direct)))
    }

    /// Progress starts over for `plan`'s parts (the retries made so far still count).
    fn restart_progress(&self, plan: &PartPlan) {
        self.progress.update(|tracker| {
            let retries = tracker.retries;
            *tracker = tracker_for(plan);
            tracker.retries = retries;
        });
    }

    /// An earlier upload of this file, where the `resume` option says to look.
    async fn resume_earlier(&self) -> Result<Option<Rc<PartPipeline>>, UploadError> {
        if self.resume.local()
            && let Some(pipeline) = self.resume_local().await?
        {
            return Ok(Some(pipeline));
        }
        if self.resume.server() {
            return self.resume_from_server().await;
        }
        Ok(None)
    }

    fn call_on_init(&self, pipeline: &PartPipeline, hashing: &HashingMode) {
        let plan = pipeline.plan();
        self.progress.set_hashing(hashing.clone());
        self.progress.set_direct(self.session.is_direct());
        self.hooks.call_on_init(&InitInfo {
            facts: &self.facts(),
            part_size: plan.part_size,
            parts_total: plan.part_count,
            parts_on_server: pipeline.parts_on_server(),
            hashing,
        });
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

    /// Runs `work` in `phase` until it is finished, pausing and resuming as asked: a pause drops
    /// it (which aborts its requests and reads), a resume starts it again from what is done.
    async fn pausable<F>(&self, phase: Phase, work: impl Fn() -> F) -> Result<(), UploadError>
    where
        F: Future<Output = Result<(), UploadError>>,
    {
        self.pausable_until(phase, work).await
    }

    /// [`Self::pausable`] for work that answers something.
    async fn pausable_until<T, F>(
        &self,
        phase: Phase,
        work: impl Fn() -> F,
    ) -> Result<T, UploadError>
    where
        F: Future<Output = Result<T, UploadError>>,
    {
        loop {
            if self.control.state() == RunState::Paused {
                self.progress.set_phase(Phase::Paused);
            }
            let state = self.control.wait_until(|s| s != RunState::Paused).await;
            if state == RunState::Cancelled {
                return Err(UploadError::cancelled());
            }
            self.progress.set_phase(phase);
            let interrupted = self.control.wait_until(|s| s != RunState::Running);
            match select(pin!(work()), pin!(interrupted)).await {
                Either::Left((result, _)) => return result,
                Either::Right((RunState::Cancelled, _)) => return Err(UploadError::cancelled()),
                Either::Right(_) => {
                    // Paused: the in-flight requests and reads were just stopped by the drop.
                    self.progress.update(|t| t.reset_unfinished());
                }
            }
        }
    }

    /// The whole upload, start to end.
    async fn drive(&self) -> Result<CompleteResponse, UploadError> {
        self.progress.set_phase(Phase::Initializing);
        // The hashing workers start while init runs, so that onInit can say how parts are hashed.
        let _workers = self.hashing.lease();
        // An earlier upload goes on where it was: it never hashes ahead for an instant one.
        let resumed = self.unless_cancelled(self.resume_earlier()).await?;
        let (pipeline, instant) = match resumed {
            Some(pipeline) => (pipeline, None),
            None => self.start_fresh().await?,
        };
        let hashing = self.unless_cancelled(async { Ok(self.hashing.mode().await) });
        self.call_on_init(&pipeline, &hashing.await?);
        if let Some(done) = instant {
            self.progress.update(|t| t.all_done_instantly());
            return Ok(done);
        }
        self.pausable(Phase::Uploading, || pipeline.run()).await?;
        self.progress.set_phase(Phase::Completing);
        let file_size = pipeline.plan().file_size;
        let digests = pipeline.digests();
        self.unless_cancelled(self.session.complete(&digests, file_size))
            .await
    }

    /// Runs the upload and settles `done`: the result object, or a `PartupError`.
    pub async fn run(self: Rc<Self>) -> Result<JsValue, JsValue> {
        match self.drive().await {
            Ok(done) => {
                resume_store::remove(&self.resume_key);
                self.progress.set_phase(Phase::Done);
                let facts = self.facts();
                Ok(self.progress.read(|t| result_object(&done, &facts, t)))
            }
            Err(error) if error.is_cancelled() => {
                self.control.cancel();
                self.session.abort().await;
                resume_store::remove(&self.resume_key);
                self.progress.set_phase(Phase::Cancelled);
                Err(error.to_js())
            }
            Err(error) => {
                if error.server_code() == Some(ErrorCode::NoSuchUpload) {
                    // The server no longer knows it; a later try must start fresh.
                    resume_store::remove(&self.resume_key);
                }
                // Otherwise the entry stays: picking the same file again resumes.
                self.progress.set_phase(Phase::Failed);
                Err(error.to_js())
            }
        }
    }
}
