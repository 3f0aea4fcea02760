//! partup's browser uploader: the JS API.
//!
//! ```js
//! import init, { Uploader } from './pkg/partup.js';
//! await init();
//! const uploader = new Uploader({ endpoint: '/v1/multipart/parallel' });
//! const upload = uploader.upload(file, { resourceKey: 'videos/clip.mp4', onProgress: render });
//! const result = await upload.done;
//! ```
//!
//! Where each step lives:
//! - the upload: `upload` (init or resume → parts → complete, pause/cancel), `session` (the typed
//!   API calls and the one retry loop), `pipeline` (hash → upload of the parts), `js_glue` (the
//!   app's callbacks and the objects they receive), `error` (the `PartupError`);
//! - the wire: `fetch` (JSON calls over gloo-net), `transport` (parts over XHR), `http` (what both
//!   share: headers, answers → errors), `json` (JSON text → typed values), `direct` (parts
//!   straight to the store: signPart, the PUT, the store's answers);
//! - pure and unit-tested: `slicing` (the part plan), `retry` (which failures are retried, how
//!   often, and the backoff), `retry_budget` (the Uploader-wide retry quota), `progress` (what
//!   onProgress reports);
//! - the rest: `options`, `hashing` (stream → MD5), `hash_pool` (hashing in Web Workers, or on the
//!   page's thread), `resume_store` (localStorage), `server_match` (which upload on the server
//!   may be this file's: the metadata written and compared), `queue` (one
//!   request queue per Uploader), `control` (pause/resume/cancel states), `timers`.

pub mod control;
pub mod direct;
pub mod error;
pub mod fetch;
pub mod file_check;
pub mod hash_pool;
pub mod hashing;
pub mod http;
pub mod js_glue;
pub mod json;
pub mod lane_hashing;
pub mod options;
pub mod pipeline;
pub mod progress;
pub mod queue;
pub mod resume_store;
pub mod retry;
pub mod retry_budget;
pub mod server_match;
pub mod session;
pub mod slicing;
pub mod timers;
pub mod transport;
pub mod upload;

use crate::control::RunState;
use crate::options::{UploadOptions, UploaderOptions};
use crate::retry_budget::RetryBudget;
use crate::upload::UploadTask;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `new Uploader(...)`. Sizes in bytes, times in milliseconds. */
export interface UploaderOptions {
  /** API base, e.g. '/v1/multipart/parallel' or 'https://host/v1/multipart/parallel'. */
  endpoint: string;
  /** Part size; default 8 MiB. Raised to minPartSize and grown so no file needs > 10,000 parts. */
  partSize?: number;
  /** The server's minimum part size (default 100 KiB). */
  minPartSize?: number;
  /** The server's maximum part size (default 100 MiB). */
  maxPartSize?: number;
  /** Most part requests at once; default 4. */
  concurrency?: number;
  /** Retries per request after the first attempt; default 10 (a plain HTTP 500: at most 3). */
  retries?: number;
  /** Retries all uploads of this Uploader may make while requests keep failing; default 100. A
   * retry after a network error or stall counts 2, a request that succeeds gives some back; once
   * spent, failures fail at once. 0: never retry. */
  retryBudget?: number;
  /** First retry's delay cap (doubles per retry, full jitter); default 500. */
  retryDelay?: number;
  /** Largest delay cap; default 60000. A server's Retry-After is a floor (honoured up to 5 minutes). */
  maxRetryDelay?: number;
  /** A request during which no byte moved for this long is aborted and retried; default 30000. */
  stallTimeout?: number;
  /** Extra headers, or a function (may be async) returning them before every request; after a
   * 401 it is called again at once with `{ refresh: true }` (fetch a new token then). */
  headers?: Record<string, string> |
    ((info: { refresh: boolean }) => Record<string, string> | Promise<Record<string, string>>);
  /** Send cookies cross-origin (XHR withCredentials); default false. */
  withCredentials?: boolean;
  /** Resume unfinished uploads: remembered in localStorage (after a reload), else found on the
   * server (another browser or device); default true. false: each upload's resume defaults to
   * false. */
  resume?: boolean;
  /** Web Workers that hash the parts (0–16), shared by this Uploader's uploads; 0: hash on the
   * page's thread. Default: half of navigator.hardwareConcurrency, 1 to 4, at most concurrency.
   * Where workers cannot start (CSP without worker-src, no module workers) parts are hashed on
   * the page's thread and onInit says why. */
  hashWorkers?: number;
}

export type PartState = 'waiting' | 'hashing' | 'uploading' | 'retrying' | 'done';
export type UploadPhase = 'initializing' | 'hashing' | 'uploading' | 'paused' | 'completing' | 'done' | 'cancelled' | 'failed';

export interface UploadProgress {
  phase: UploadPhase;
  bytesDone: number;
  bytesTotal: number;
  partsDone: number;
  partsTotal: number;
  bytesPerSecond: number;
  /** null while the speed is unknown. */
  etaSeconds: number | null;
  /** State of each part; index 0 is part 1. */
  parts: PartState[];
  /** Parts found already on the server when resuming. */
  skippedParts: number;
  /** Requests retried so far. */
  retries: number;
  /** Bytes hashed before sending (phase 'hashing': an instant upload before uploadInit, or the
   * stored parts of an upload found on the server being checked); 0 otherwise. */
  bytesHashed: number;
  /** As in onInit (UploadInitInfo); null until then. */
  hashing: 'workers' | 'main-thread' | null;
  hashWorkers: number | null;
  hashLanes: number | null;
  hashingFallback: string | null;
  /** As in onInit (UploadInitInfo); false until then. */
  direct: boolean;
}

export interface UploadInitInfo {
  uploadId: string;
  existed: boolean;
  /** An earlier upload of this file goes on (resumedFrom says where it was found). */
  resumed: boolean;
  /** 'local': this browser's localStorage; 'server': listUploads, matched by the metadata stored
   * with it and checked by the MD5s of its stored parts; null: a new upload. */
  resumedFrom: 'local' | 'server' | null;
  /** Uploads on the server whose metadata matched this file (key, name, size) but whose stored
   * parts hold other bytes: left alone, and this upload started fresh. */
  refusedMatches: string[];
  /** Instant upload hit: the server completed the object at uploadInit; no part is sent. */
  instant: boolean;
  /** The parts go straight to the store, signed by the server (its --direct-parts; see the
   * README, "Direct to the store"); false: they go to the server's `upload`. */
  direct: boolean;
  partSize: number;
  partsTotal: number;
  partsOnServer: number;
  /** Where the parts are hashed. */
  hashing: 'workers' | 'main-thread';
  /** Workers hashing the parts (0 on the main thread). */
  hashWorkers: number;
  /** Parts each worker hashes at once: 4 where the engine runs wasm SIMD128 (the package's SIMD
   * build), else 1; 0 on the main thread. */
  hashLanes: number;
  /** Why parts are hashed on the main thread although hashWorkers > 0 (workers could not start
   * or stopped answering); null otherwise. */
  hashingFallback: string | null;
}

export interface UploadOptions {
  /** The object's name on the server, e.g. 'videos/clip.mp4'. */
  resourceKey: string;
  onProgress?: (progress: UploadProgress) => void;
  onInit?: (info: UploadInitInfo) => void;
  /** Called when an object with this key exists; resolve false to cancel (code 'Cancelled'). */
  onExists?: (info: { resourceKey: string; uploadId: string; existed: true }) => boolean | Promise<boolean>;
  /** Aborting it cancels the upload, like upload.cancel(). */
  signal?: AbortSignal;
  /** Instant upload; default false. Reads and hashes the whole file before sending anything
   * (phase 'hashing'), so that a server already holding the same content (that this client may
   * read) completes the object at once, without a part sent. A miss sends the parts without
   * hashing them again. A remembered upload (resume) goes on without it. */
  instant?: boolean;
  /** Where an unfinished upload of this file is looked for before a new one starts. 'auto' (the
   * default; true too): this browser's localStorage, else the server (listUploads: same key,
   * file name and size, then the MD5s of the parts it holds must match this file's — metadata
   * alone is never trusted). 'local', 'server': only there. false: always a new upload. The
   * Uploader's resume: false makes false the default. */
  resume?: 'auto' | 'local' | 'server' | boolean;
  /** The app's own entries stored with the upload and listed by unfinished() (keys 1–64 of
   * A–Z a–z 0–9 _ . -, not starting with 'partup.'; values strings; with the client's own
   * entries at most 16 and 4 KiB in all). */
  metadata?: Record<string, string>;
}

/** One upload in progress on the server, as `uploader.unfinished()` lists it. */
export interface UnfinishedUpload {
  uploadId: string;
  resourceKey: string;
  /** RFC 3339, UTC. */
  initiated: string;
  /** Its last activity (init or the last part stored), RFC 3339, UTC. */
  lastModified: string;
  partsStored: number;
  bytesStored: number;
  /** Everything stored with it: the app's entries and the client's own ('partup.…'). */
  metadata: Record<string, string>;
  /** The file it was started for, when a partup client started it; else null. */
  file: { name: string; size: number; lastModified: number; partSize: number } | null;
}

export interface UploadResult {
  resourceKey: string;
  size: number;
  etag: string;
  parts: number;
  uploadId: string;
  /** init's isExist: an object with this key existed before and was replaced. */
  existed: boolean;
  resumed: boolean;
  resumedFrom: 'local' | 'server' | null;
  refusedMatches: string[];
  /** Instant upload hit: completed from content the server already held, no part sent. */
  instant: boolean;
  /** The parts went straight to the store (as onInit's direct). */
  direct: boolean;
  skippedParts: number;
  retries: number;
}

/** The kind of failure: stable, for apps to branch on (see the README, "Errors"). */
export type PartupErrorReason = 'cancelled' | 'declined' | 'invalid-options' | 'file-too-large' |
  'file-unreadable' | 'file-changed' | 'network' | 'stalled' | 'headers-failed' | 'server-unavailable' | 'server-full' | 'rejected' |
  'unauthorized' | 'access-denied' | 'object-exists' | 'upload-gone' | 'bad-response' | 'mismatch';

/** What `upload.done` rejects with (and what the constructor throws for bad options). */
export interface PartupError extends Error {
  name: 'PartupError';
  /** The server's code (e.g. 'InvalidObjectName', 'NoSuchUpload'; a code this client does not know
   * is passed on as sent), 'Http<status>' for an error answer that is not partup's, or 'Cancelled',
   * 'NetworkError', 'Timeout', 'FileReadError', 'FileChanged', 'InvalidOptions', 'FileTooLarge', 'UnexpectedResponse'. */
  code: string;
  reason: PartupErrorReason;
  /** HTTP status of the failing answer, null when none came. */
  status: number | null;
  requestId: string | null;
  partNumber: number | null;
  /** The sentence alone: `message` without the 'partup: part N:' prefix and the code/status suffix. */
  description: string;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "UploaderOptions")]
    pub type UploaderOptionsArg;
    #[wasm_bindgen(typescript_type = "UploadOptions")]
    pub type UploadOptionsArg;
}

/// Holds the options shared by many uploads; `upload()` starts one.
#[wasm_bindgen]
pub struct Uploader {
    options: Rc<UploaderOptions>,
    /// `concurrency` request slots shared by every upload of this Uploader.
    requests: Rc<queue::Gate>,
    /// Hashes the parts of every upload of this Uploader: `hashWorkers` workers, or the page's
    /// thread one part at a time.
    hashing: Rc<hash_pool::HashPool>,
    /// The retries every upload of this Uploader pays from (`retryBudget`).
    retry_budget: Rc<RefCell<RetryBudget>>,
}

#[wasm_bindgen]
impl Uploader {
    /// Throws a `PartupError` with code `InvalidOptions` when an option is missing or wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(options: UploaderOptionsArg) -> Result<Uploader, JsValue> {
        let options = UploaderOptions::from_js(&options).map_err(|e| e.to_js())?;
        Ok(Uploader {
            requests: queue::Gate::new(options.concurrency as usize),
            hashing: hash_pool::HashPool::new(options.hash_workers as usize),
            retry_budget: Rc::new(RefCell::new(RetryBudget::new(options.retry_budget))),
            options: Rc::new(options),
        })
    }

    /// Starts uploading `file` (a File or Blob); the upload runs until done, cancelled or failed.
    pub fn upload(
        &self,
        file: &web_sys::Blob,
        options: UploadOptionsArg,
    ) -> Result<Upload, JsValue> {
        let upload_options =
            UploadOptions::from_js(&options, self.options.resume).map_err(|e| e.to_js())?;
        let signal = upload_options.signal.clone();
        let task = Rc::new(
            UploadTask::new(
                self.options.clone(),
                upload_options,
                file.clone(),
                self.requests.clone(),
                self.hashing.clone(),
                self.retry_budget.clone(),
            )
            .map_err(|e| e.to_js())?,
        );
        let abort_listener = signal.map(|signal| {
            let control = task.control.clone();
            let listener = Closure::<dyn FnMut()>::new(move || control.cancel());
            if signal.aborted() {
                task.control.cancel();
            } else {
                let _ = signal
                    .add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
            }
            (signal, listener)
        });
        let driver = task.clone();
        let done = future_to_promise(async move {
            let result = driver.run().await;
            if let Some((signal, listener)) = abort_listener {
                let _ = signal.remove_event_listener_with_callback(
                    "abort",
                    listener.as_ref().unchecked_ref(),
                );
            }
            result
        });
        Ok(Upload { task, done })
    }

    /// A session for calls about uploads this page is not running (listing, discarding): the
    /// Uploader's options, request slots and retry budget, no upload of its own.
    fn session_without_upload(&self) -> session::Session {
        session::Session::new(
            self.options.clone(),
            self.requests.clone(),
            self.retry_budget.clone(),
            Box::new(|| {}),
        )
    }

    /// The uploads in progress on the server that this client may go on with (another browser's,
    /// another device's, or this one's before its site data was cleared), newest first, every
    /// page of listUploads followed. Rejects with a `PartupError` like an upload would.
    #[wasm_bindgen(unchecked_return_type = "Promise<UnfinishedUpload[]>")]
    pub fn unfinished(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ prefix?: string }")] options: Option<
            js_sys::Object,
        >,
    ) -> js_sys::Promise {
        let prefix = options
            .and_then(|o| js_sys::Reflect::get(&o, &JsValue::from_str("prefix")).ok())
            .and_then(|p| p.as_string())
            .unwrap_or_default();
        let session_policy = self.options.retry;
        let session = self.session_without_upload();
        future_to_promise(async move {
            let listed = session.unfinished(&prefix, session_policy).await;
            let listed = listed.map_err(|e| e.to_js())?;
            let uploads: js_sys::Array = listed.iter().map(js_glue::unfinished_object).collect();
            Ok(uploads.into())
        })
    }

    /// Aborts an upload in progress that `unfinished()` listed: the server deletes its parts and
    /// lists it no more, whichever browser or device started it. Resolves with `true` when the
    /// server aborted it, `false` when the server does not know it (completed, aborted or expired
    /// meanwhile; another token `sub`'s, which SPEC.md answers as unknown); rejects with a
    /// `PartupError` otherwise (e.g. `AccessDenied`: the token may not write its key). Retried like
    /// the other calls. An upload this page is running is stopped with its own `cancel()` instead.
    #[wasm_bindgen(js_name = discardUnfinished, unchecked_return_type = "Promise<boolean>")]
    pub fn discard_unfinished(&self, upload_id: String) -> js_sys::Promise {
        let policy = self.options.retry;
        let session = self.session_without_upload();
        future_to_promise(async move {
            let discarded = session.discard(&upload_id, policy).await;
            Ok(discarded.map_err(|e| e.to_js())?.into())
        })
    }
}

/// One running upload. (Clone: a second handle to the same upload, for Rust callers.)
#[wasm_bindgen]
#[derive(Clone)]
pub struct Upload {
    task: Rc<UploadTask>,
    done: js_sys::Promise,
}

#[wasm_bindgen]
impl Upload {
    /// Resolves with the result when the object is complete on the server; rejects with a
    /// `PartupError`.
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<UploadResult>")]
    pub fn done(&self) -> js_sys::Promise {
        self.done.clone()
    }

    /// Stops starting requests and aborts those in flight; finished parts stay on the server.
    pub fn pause(&self) {
        self.task.control.pause();
    }

    /// Continues after `pause()`, without re-sending finished parts.
    pub fn resume(&self) {
        self.task.control.resume();
    }

    /// Stops the upload and aborts it on the server (uploadAbort); `done` rejects with code
    /// `Cancelled`. Resolves once that is finished.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn cancel(&self) -> js_sys::Promise {
        let already_over = self.task.control.state() == RunState::Cancelled;
        self.task.control.cancel();
        let done = self.done.clone();
        if !already_over {
            // The app asked for it: the rejection of `done` is expected, not "unhandled".
            let ignore = Closure::<dyn FnMut(JsValue)>::new(|_| {});
            let _ = done.catch(&ignore);
            ignore.forget();
        }
        future_to_promise(async move {
            let _ = JsFuture::from(done).await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The server's uploadId, once init answered.
    #[wasm_bindgen(getter, js_name = uploadId)]
    pub fn upload_id(&self) -> Option<String> {
        self.task.session.upload_id()
    }

    /// The current progress (same shape as `onProgress`'s argument).
    #[wasm_bindgen(getter, unchecked_return_type = "UploadProgress")]
    pub fn progress(&self) -> JsValue {
        self.task.progress.current()
    }
}

/// MD5 of a whole `Blob` or `File`, as 32 lowercase hex digits, hashed as the uploader hashes a
/// part (never more than 1 MiB held). Rejects with a `PartupError`: `FileReadError` when the blob
/// cannot be read, `Cancelled` when `options.signal` aborts (README, "md5OfBlob").
// Not `///`: wasm-bindgen copies those into the shipped glue. The page's thread hashes parts this
// way (the workers use `LaneHasher`), and `scripts/bench.sh` times it against hash-wasm and
// spark-md5 (Blob.stream() → md-5's compressor in wasm, at most 1 MiB per update).
#[wasm_bindgen(js_name = md5OfBlob, unchecked_return_type = "Promise<string>")]
pub fn md5_of_blob(
    blob: &web_sys::Blob,
    #[wasm_bindgen(unchecked_param_type = "{ signal?: AbortSignal }")] options: Option<
        js_sys::Object,
    >,
) -> js_sys::Promise {
    let blob = blob.clone();
    let signal = options
        .and_then(|o| js_sys::Reflect::get(&o, &"signal".into()).ok())
        .and_then(|s| s.dyn_into::<web_sys::AbortSignal>().ok());
    future_to_promise(async move {
        let digest = hashing::md5_of_blob(&blob, signal.as_ref(), |_| {}).await;
        let digest = digest.map_err(|e| e.to_js())?;
        Ok(JsValue::from_str(&partup_wire::md5_to_hex(&digest)))
    })
}
