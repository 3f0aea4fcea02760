//! Hashing off the page's thread: a pool of module Workers running this same wasm module (the
//! page's compiled module: the same build, SIMD128 or scalar), to which the parts' Blob slices are
//! posted (a Blob crosses to a worker without copying its bytes); each worker reads its slices as
//! streams and hashes up to [`hash_lanes`] of them at once with its [`LaneHasher`] (4 in SIMD128
//! lanes, 1 in the scalar build). The page only schedules, in `js/hash_pool.js` (Worker and Promise
//! plumbing, smaller in JS than in the .wasm), which is also the workers' entry: parts wait in
//! order for a free lane, the worker with the fewest parts first (two workers are two cores, lanes
//! share one), so at most `hashWorkers × hashLanes` parts of the Uploader's uploads hash at once,
//! and a part told to stop (pause, cancel) keeps its lane until its worker answered, so no part
//! queues behind a read being stopped.
//!
//! [`LaneHasher`]: crate::lane_hashing::LaneHasher
//!
//! The workers start with the first upload of the Uploader that runs and are terminated as soon as
//! none runs any more (so also when the Uploader is freed); the next upload starts them again.
//! Where they cannot start (no `Worker` in this scope, a Content-Security-Policy without
//! `worker-src`, an engine without module workers, a bundle that left the worker file out, no
//! answer within 10 s from a worker nor from the one started in its place) or one stops answering,
//! all are terminated and parts are hashed on the
//! page's thread, one at a time, as with `hashWorkers: 0`, until the pool is idle again; `onInit`
//! says why.

use crate::error::{ClientCode, Reason, UploadError, js_text};
use crate::fetch::AbortOnDrop;
use crate::hashing::md5_of_blob;
use crate::lane_hashing::hash_lanes;
use crate::queue::Gate;
use js_sys::Promise;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Blob};

type Digest = [u8; 16];

#[wasm_bindgen(module = "/js/hash_pool.js")]
extern "C" {
    type WorkerPool;
    #[wasm_bindgen(constructor)]
    fn new(size: usize, lanes: usize, module: &JsValue, glue_url: &str) -> WorkerPool;
    /// Resolves with null once the workers run, or with why they cannot be used.
    #[wasm_bindgen(method)]
    fn start(this: &WorkerPool) -> Promise;
    /// Resolves with the MD5 (16 bytes), why the blob is unreadable (a string), or null: no worker
    /// can hash it (or `signal` aborted).
    #[wasm_bindgen(method)]
    fn hash(this: &WorkerPool, blob: &Blob, signal: &AbortSignal) -> Promise;
    #[wasm_bindgen(method)]
    fn stop(this: &WorkerPool);
}

#[wasm_bindgen]
extern "C" {
    /// This module's own URL: the workers import the glue from it when it is not the package's
    /// `partup.js` (`js/hash_pool.js`).
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static GLUE_URL: String;
}

/// How the parts of an upload are hashed (`onInit`'s `hashing`).
#[derive(Debug, Clone, PartialEq)]
pub enum HashingMode {
    /// By this many workers, each hashing up to `lanes` parts at once.
    Workers { workers: usize, lanes: usize },
    /// On the page's thread; with why, when workers were asked for and could not be used.
    MainThread(Option<String>),
}

/// The hashing of one Uploader's parts: its workers, or its page's thread.
pub struct HashPool {
    /// `None` with `hashWorkers: 0`.
    workers: Option<WorkerPool>,
    size: usize,
    /// Parts one worker hashes at once.
    lanes: usize,
    /// The page's thread hashes one part at a time (reading is disk-bound anyway).
    page_turn: Rc<Gate>,
    running_uploads: Cell<usize>,
}

/// Keeps the workers while an upload runs; the last one dropped terminates them.
pub struct PoolLease(Rc<HashPool>);

impl Drop for PoolLease {
    fn drop(&mut self) {
        let pool = &self.0;
        pool.running_uploads.set(pool.running_uploads.get() - 1);
        if pool.running_uploads.get() == 0 {
            pool.workers.iter().for_each(WorkerPool::stop);
        }
    }
}

impl HashPool {
    /// A pool of `size` workers (0: always the page's thread).
    pub fn new(size: usize) -> Rc<HashPool> {
        let lanes = hash_lanes();
        let workers = (size > 0).then(|| {
            WorkerPool::new(
                size,
                lanes,
                &wasm_bindgen::module(),
                &GLUE_URL.with(Clone::clone),
            )
        });
        Rc::new(HashPool {
            workers,
            size,
            lanes,
            page_turn: Gate::new(1),
            running_uploads: Cell::new(0),
        })
    }

    /// Parts one upload may hash at once: every lane of every worker (one on the page's thread,
    /// where the pool falls back to it, is still fine: those wait for their turn there).
    pub fn parallel_hashes(&self) -> usize {
        (self.size * self.lanes).max(1)
    }

    /// Held by each running upload; starts the workers unless they run.
    pub fn lease(self: &Rc<Self>) -> PoolLease {
        self.running_uploads.set(self.running_uploads.get() + 1);
        self.workers.iter().for_each(|w| drop(w.start()));
        PoolLease(self.clone())
    }

    /// How parts are hashed, once the workers started or failed to.
    pub async fn mode(&self) -> HashingMode {
        let Some(workers) = &self.workers else {
            return HashingMode::MainThread(None);
        };
        match JsFuture::from(workers.start())
            .await
            .map(|why| why.as_string())
        {
            Ok(None) => HashingMode::Workers {
                workers: self.size,
                lanes: self.lanes,
            },
            Ok(Some(why)) => HashingMode::MainThread(Some(why)),
            Err(error) => HashingMode::MainThread(Some(js_text(&error))),
        }
    }

    /// MD5 of `slice`, in a worker or else on the page's thread. `on_started` is called when it is
    /// handed to the workers, and when the page's turn came; `on_bytes` as in [`md5_of_blob`], on
    /// the page's thread only. Dropping the future stops the read.
    pub async fn hash(
        &self,
        slice: &Blob,
        on_started: impl Fn(),
        on_bytes: impl FnMut(u64),
    ) -> Result<Digest, UploadError> {
        if let Some(workers) = &self.workers {
            on_started();
            let stop = AbortOnDrop::default();
            let answer = JsFuture::from(workers.hash(slice, &stop.signal())).await;
            match answer.map_err(|e| js_text(&e)) {
                Ok(answer) if !answer.is_null() => return read_answer(answer),
                Ok(_) => {} // no worker could: the page's thread
                Err(error) => web_sys::console::warn_1(&error.into()),
            }
        }
        let _turn = self.page_turn.acquire(false).await;
        on_started();
        md5_of_blob(slice, None, on_bytes).await
    }
}

/// A worker's answer: the digest, or why the slice was unreadable.
fn read_answer(answer: JsValue) -> Result<Digest, UploadError> {
    if let Some(why) = answer.as_string() {
        return Err(UploadError::client(
            ClientCode::FileReadError,
            Reason::FileUnreadable,
            why,
        ));
    }
    let mut digest = [0u8; 16];
    js_sys::Uint8Array::new(&answer).copy_to(&mut digest);
    Ok(digest)
}
