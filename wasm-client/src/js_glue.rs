//! Where the upload meets the app's JavaScript: the `onProgress`, `onInit` and `onExists`
//! callbacks, and the plain objects they and `upload.done` receive.
//!
//! No borrow of upload state is held while JS runs, so a callback may call `pause()` or read
//! `upload.progress`; a callback that throws is reported on the console and never fails the
//! upload (except `onExists`, whose answer decides it).

use crate::error::{ClientCode, Reason, UploadError, js_text};
use crate::hash_pool::HashingMode;
use crate::options::UploadOptions;
use crate::progress::{PartState, Phase, ProgressSnapshot, ProgressTracker};
use crate::timers::now_ms;
use js_sys::Function;
use partup_wire::CompleteResponse;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A plain JS object from key/value pairs.
pub fn js_object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in pairs {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

fn number(n: impl Into<f64>) -> JsValue {
    JsValue::from_f64(n.into())
}

/// The object `onProgress` receives (and `upload.progress` returns).
pub fn progress_object(
    snapshot: &ProgressSnapshot,
    hashing: Option<&HashingMode>,
    direct: bool,
) -> JsValue {
    thread_local! {
        // One JS string per state, reused: no new string per part per report.
        static NAMES: [JsValue; 5] = [
            PartState::Waiting,
            PartState::Hashing,
            PartState::Uploading,
            PartState::Retrying,
            PartState::Done,
        ]
        .map(|state| JsValue::from_str(state.as_str()));
    }
    let parts = js_sys::Array::new_with_length(snapshot.parts.len() as u32);
    NAMES.with(|names| {
        for (i, state) in snapshot.parts.iter().enumerate() {
            parts.set(i as u32, names[*state as usize].clone());
        }
    });
    let eta = snapshot.eta_seconds.map(number).unwrap_or(JsValue::NULL);
    let object = js_object(&[
        ("phase", JsValue::from_str(snapshot.phase.as_str())),
        ("bytesDone", number(snapshot.bytes_done as f64)),
        ("bytesTotal", number(snapshot.bytes_total as f64)),
        ("partsDone", number(snapshot.parts_done)),
        ("partsTotal", number(snapshot.parts_total)),
        ("bytesPerSecond", number(snapshot.bytes_per_second.round())),
        ("etaSeconds", eta),
        ("parts", parts.into()),
        ("skippedParts", number(snapshot.skipped_parts)),
        ("retries", number(snapshot.retries)),
        ("bytesHashed", number(snapshot.bytes_hashed as f64)),
        ("direct", JsValue::from_bool(direct)),
    ]);
    set_hashing_fields(&object, hashing);
    object
}

/// `hashing`, `hashWorkers`, `hashLanes` and `hashingFallback` of onInit's and progress's
/// objects; all null while the workers are starting (the mode is not known before onInit).
fn set_hashing_fields(object: &JsValue, mode: Option<&HashingMode>) {
    let fields = match mode {
        Some(mode) => [
            JsValue::from_str(hashing_name(mode)),
            number(hashing_workers(mode) as f64),
            number(hashing_lanes(mode) as f64),
            hashing_fallback(mode),
        ],
        None => [JsValue::NULL; 4],
    };
    for (key, value) in ["hashing", "hashWorkers", "hashLanes", "hashingFallback"]
        .iter()
        .zip(fields)
    {
        let _ = js_sys::Reflect::set(object, &JsValue::from_str(key), &value);
    }
}

/// What is known about an upload once the server knows it.
pub struct UploadFacts {
    pub upload_id: String,
    /// init's `isExist`.
    pub existed: bool,
    /// Where the upload that went on was found: `"local"` (localStorage) or `"server"`
    /// (listUploads); `None` for a new upload.
    pub resumed_from: Option<&'static str>,
    /// Uploads found on the server by metadata whose stored parts held other bytes.
    pub refused_matches: Vec<String>,
    /// Instant upload hit: the server completed the object at uploadInit, no part was sent.
    pub instant: bool,
    /// The parts go straight to the store (init's `direct`).
    pub direct: bool,
}

/// The object `upload.done` resolves with.
pub fn result_object(
    done: &CompleteResponse,
    facts: &UploadFacts,
    tracker: &ProgressTracker,
) -> JsValue {
    let object = js_object(&[
        ("resourceKey", JsValue::from_str(&done.resource_key)),
        ("size", number(done.size as f64)),
        ("etag", JsValue::from_str(&done.etag)),
        ("parts", number(done.parts)),
        ("uploadId", JsValue::from_str(&facts.upload_id)),
        ("existed", JsValue::from_bool(facts.existed)),
        ("instant", JsValue::from_bool(facts.instant)),
        ("direct", JsValue::from_bool(facts.direct)),
        ("skippedParts", number(tracker.skipped_parts)),
        ("retries", number(tracker.retries)),
    ]);
    set_resume_fields(&object, facts);
    object
}

/// `resumed`, `resumedFrom` and `refusedMatches`, as onInit and the result say them.
fn set_resume_fields(object: &JsValue, facts: &UploadFacts) {
    let from = facts.resumed_from.map_or(JsValue::NULL, JsValue::from_str);
    let refused: js_sys::Array = facts
        .refused_matches
        .iter()
        .map(|id| JsValue::from_str(id))
        .collect();
    let fields = [
        ("resumed", JsValue::from_bool(facts.resumed_from.is_some())),
        ("resumedFrom", from),
        ("refusedMatches", refused.into()),
    ];
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(object, &JsValue::from_str(key), &value);
    }
}

/// The progress of one upload, and its `onProgress` callback.
pub struct ProgressReporter {
    tracker: RefCell<ProgressTracker>,
    on_progress: Option<Function>,
    /// How the parts are hashed, once known (reported with the progress too).
    hashing: RefCell<Option<HashingMode>>,
    /// The parts go straight to the store, once known.
    direct: std::cell::Cell<bool>,
}

impl ProgressReporter {
    pub fn new(tracker: ProgressTracker, on_progress: Option<Function>) -> ProgressReporter {
        ProgressReporter {
            tracker: RefCell::new(tracker),
            on_progress,
            hashing: RefCell::new(None),
            direct: std::cell::Cell::new(false),
        }
    }

    /// Changes the tracker (without reporting), e.g. `tracker.retried()`.
    pub fn update<T>(&self, change: impl FnOnce(&mut ProgressTracker) -> T) -> T {
        change(&mut self.tracker.borrow_mut())
    }

    /// Reads the tracker.
    pub fn read<T>(&self, look: impl FnOnce(&ProgressTracker) -> T) -> T {
        look(&self.tracker.borrow())
    }

    pub fn set_phase(&self, phase: Phase) {
        self.update(|t| t.phase = phase);
        self.emit(true);
    }

    pub fn set_part_state(&self, number: u32, state: PartState) {
        if self.update(|t| t.set_state(number, state)) {
            // Throttled: with thousands of parts, a report per state change would rebuild the
            // `parts` array thousands of times a second. Finished parts and phases always report.
            self.emit(state == PartState::Retrying);
        }
    }

    /// Part `number` is stored (`skipped`: it already was); always reported.
    pub fn part_done(&self, number: u32, skipped: bool) {
        self.update(|t| t.part_done(number, skipped, now_ms()));
        self.emit(true);
    }

    /// How the parts are hashed, from now on in every report.
    pub fn set_hashing(&self, mode: HashingMode) {
        *self.hashing.borrow_mut() = Some(mode);
    }

    /// Whether the parts go straight to the store, from now on in every report.
    pub fn set_direct(&self, direct: bool) {
        self.direct.set(direct);
    }

    /// The current progress as the JS object.
    pub fn current(&self) -> JsValue {
        progress_object(
            &self.read(|t| t.snapshot(now_ms())),
            self.hashing.borrow().as_ref(),
            self.direct.get(),
        )
    }

    /// Calls `onProgress` (throttled unless `force`).
    pub fn emit(&self, force: bool) {
        let Some(callback) = &self.on_progress else {
            return;
        };
        let now = now_ms();
        let snapshot = {
            let mut tracker = self.tracker.borrow_mut();
            if !tracker.emit_due(now, force) {
                return;
            }
            tracker.snapshot(now)
        };
        let object = progress_object(&snapshot, self.hashing.borrow().as_ref(), self.direct.get());
        if let Err(e) = callback.call1(&JsValue::NULL, &object) {
            // An app bug in a progress renderer must not fail the upload; say so once per call.
            web_sys::console::warn_2(&"partup: onProgress threw".into(), &e);
        }
    }
}

/// What `onInit` receives.
pub struct InitInfo<'a> {
    pub facts: &'a UploadFacts,
    pub part_size: u64,
    pub parts_total: u32,
    pub parts_on_server: usize,
    pub hashing: &'a HashingMode,
}

fn hashing_name(mode: &HashingMode) -> &'static str {
    match mode {
        HashingMode::Workers { .. } => "workers",
        HashingMode::MainThread(_) => "main-thread",
    }
}

fn hashing_workers(mode: &HashingMode) -> usize {
    match mode {
        HashingMode::Workers { workers, .. } => *workers,
        HashingMode::MainThread(_) => 0,
    }
}

/// Parts one worker hashes at once (0 on the page's thread).
fn hashing_lanes(mode: &HashingMode) -> usize {
    match mode {
        HashingMode::Workers { lanes, .. } => *lanes,
        HashingMode::MainThread(_) => 0,
    }
}

/// Why parts are hashed on the page's thread although workers were asked for; else null.
fn hashing_fallback(mode: &HashingMode) -> JsValue {
    match mode {
        HashingMode::MainThread(Some(why)) => JsValue::from_str(why),
        _ => JsValue::NULL,
    }
}

/// The `onInit` and `onExists` hooks of one upload.
pub struct Hooks {
    resource_key: String,
    on_init: Option<Function>,
    on_exists: Option<Function>,
}

impl Hooks {
    pub fn new(options: &UploadOptions) -> Hooks {
        Hooks {
            resource_key: options.resource_key.clone(),
            on_init: options.on_init.clone(),
            on_exists: options.on_exists.clone(),
        }
    }

    pub fn call_on_init(&self, info: &InitInfo<'_>) {
        let Some(hook) = &self.on_init else {
            return;
        };
        let object = js_object(&[
            ("uploadId", JsValue::from_str(&info.facts.upload_id)),
            ("existed", JsValue::from_bool(info.facts.existed)),
            ("instant", JsValue::from_bool(info.facts.instant)),
            ("direct", JsValue::from_bool(info.facts.direct)),
            ("partSize", number(info.part_size as f64)),
            ("partsTotal", number(info.parts_total)),
            ("partsOnServer", number(info.parts_on_server as f64)),
        ]);
        set_hashing_fields(&object, Some(info.hashing));
        set_resume_fields(&object, info.facts);
        if let Err(e) = hook.call1(&JsValue::NULL, &object) {
            web_sys::console::warn_2(&"partup: onInit threw".into(), &e);
        }
    }

    /// Asks `onExists` whether to replace the existing object (no hook: replace). A hook that
    /// throws or rejects declines.
    pub async fn replace_existing(&self, upload_id: &str) -> Result<bool, UploadError> {
        let Some(hook) = &self.on_exists else {
            return Ok(true);
        };
        let info = js_object(&[
            ("resourceKey", JsValue::from_str(&self.resource_key)),
            ("uploadId", JsValue::from_str(upload_id)),
            ("existed", JsValue::TRUE),
        ]);
        let declined =
            |why: String| UploadError::client(ClientCode::Cancelled, Reason::Declined, why);
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

    /// The error when `onExists` said no.
    pub fn declined_error(&self) -> UploadError {
        UploadError::client(
            ClientCode::Cancelled,
            Reason::Declined,
            format!(
                "an object named \"{}\" already exists and replacing it was declined",
                self.resource_key
            ),
        )
    }
}

/// One entry of `uploader.unfinished()`: the server's summary, and the file it was started for.
pub fn unfinished_object(upload: &partup_wire::UploadSummary) -> JsValue {
    let metadata = js_sys::Object::new();
    for (key, value) in &upload.metadata {
        let _ = js_sys::Reflect::set(
            &metadata,
            &JsValue::from_str(key),
            &JsValue::from_str(value),
        );
    }
    let file = match crate::server_match::described_file(&upload.metadata) {
        Some(f) => js_object(&[
            ("name", JsValue::from_str(&f.name)),
            ("size", number(f.size as f64)),
            ("lastModified", number(f.last_modified as f64)),
            ("partSize", number(f.part_size as f64)),
        ]),
        None => JsValue::NULL,
    };
    js_object(&[
        ("uploadId", JsValue::from_str(&upload.upload_id)),
        ("resourceKey", JsValue::from_str(&upload.resource_key)),
        ("initiated", JsValue::from_str(&upload.initiated)),
        ("lastModified", JsValue::from_str(&upload.last_modified)),
        ("partsStored", number(upload.parts_stored)),
        ("bytesStored", number(upload.bytes_stored as f64)),
        ("metadata", metadata.into()),
        ("file", file),
    ])
}
