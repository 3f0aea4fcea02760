//! Several parts hashed at once by one hashing worker, in the lanes of wasm SIMD128.
//!
//! MD5 is one dependency chain per stream, so hashing one part uses only a sliver of a core's
//! arithmetic; the parts of an upload are independent chains, though, and a `v128` holds four
//! 32-bit lanes: `md5lanes` runs the same MD5 step for 4 streams in about the time of one. So a
//! worker of the hashing pool (`js/hash_pool.js`) takes up to [`hash_lanes`] parts at once and
//! hands each to its [`LaneHasher`]: the parts' Blob streams are read concurrently and, in rounds,
//! what every part has buffered (at most [`MAX_UPDATE_BYTES`] of each per round) is hashed
//! together with `md5lanes::update_many`, as the server's MD5 engine does
//! (`server/src/storage/md5_engine.rs`). A round never waits for company: a part alone goes
//! through the single-stream compressor. Each part's digest is finished on its own, and
//! cancelling one part stops only its read.
//!
//! SIMD128 exists only in a module built with `-C target-feature=+simd128` (a module with SIMD
//! instructions does not even validate on an engine without them), so the package carries two
//! builds and its glue loads the SIMD one where `WebAssembly.validate` accepts a SIMD instruction
//! (`scripts/build-client-pkg.sh`); in the scalar build [`hash_lanes`] is 1 and a worker hashes
//! one part at a time, as before.
//!
//! Memory stays bounded as in [`crate::hashing`]: a chunk the stream handed over stays in JS, and
//! at most [`MAX_UPDATE_BYTES`] of each part is copied into wasm memory per round.

use crate::error::UploadError;
use crate::hashing::{Chunks, MAX_UPDATE_BYTES, read_error};
use crate::timers::now_ms;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Promise, Uint8Array};
use md5lanes::{LaneState, Path};
use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

#[cfg(target_feature = "simd128")]
const LANE_PATH: Path = Path::Simd128;
#[cfg(not(target_feature = "simd128"))]
const LANE_PATH: Path = Path::Scalar;

/// After this long of rounds back to back (every part had bytes buffered), the hasher lets the
/// worker's event loop run once, so a `cancel` message is seen within about this long even when a
/// stream hands over a whole part as one chunk (Firefox does, for a Blob built in memory).
const RUN_BEFORE_YIELD_MS: f64 = 16.0;

#[wasm_bindgen(module = "/js/hash_pool.js")]
extern "C" {
    /// Resolves in a new task of the event loop (a `MessageChannel` message: no timer clamping).
    #[wasm_bindgen(js_name = nextTask)]
    fn next_task() -> Promise;
}

// How many parts one worker of this build hashes at once: 4 in the SIMD128 build, 1 in the scalar
// one. (Not `///`: wasm-bindgen copies those into the shipped glue.)
#[wasm_bindgen(js_name = hashLanes)]
pub fn hash_lanes() -> usize {
    LANE_PATH.lanes()
}

/// A read under way; it holds the part's chunks and hands them back with the read's result.
type Read = LocalBoxFuture<'static, (Chunks, Result<Option<Uint8Array>, UploadError>)>;

/// One part being hashed.
struct Part {
    id: u32,
    size: u64,
    state: LaneState,
    /// The part's chunks, while no read runs.
    chunks: Option<Chunks>,
    reading: Option<Read>,
    /// The chunk being hashed and how much of it was hashed.
    chunk: Option<(Uint8Array, u32)>,
    /// The stream ended, or failed.
    ended: Option<Result<(), UploadError>>,
    /// This round's bytes, copied out of the chunk (at most [`MAX_UPDATE_BYTES`]).
    buffer: Vec<u8>,
    hashed: u64,
    resolve: Function,
    reject: Function,
}

impl Part {
    /// Polls its read (starting the next one when the chunk is used up) until it has a chunk to
    /// hash, ended, or waits for the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>) {
        while self.chunk.is_none() && self.ended.is_none() {
            let reading = self.reading.get_or_insert_with(|| {
                let mut chunks = self
                    .chunks
                    .take()
                    .expect("a part's chunks while not reading");
                async move {
                    let chunk = chunks.next().await;
                    (chunks, chunk)
                }
                .boxed_local()
            });
            let Poll::Ready((chunks, chunk)) = reading.poll_unpin(cx) else {
                return;
            };
            self.reading = None;
            self.chunks = Some(chunks);
            match chunk {
                Ok(Some(chunk)) if chunk.length() > 0 => self.chunk = Some((chunk, 0)),
                Ok(Some(_)) => {} // an empty chunk: read on
                Ok(None) => self.ended = Some(Ok(())),
                Err(error) => self.ended = Some(Err(error)),
            }
        }
    }

    /// Waiting for its stream.
    fn starving(&self) -> bool {
        self.reading.is_some()
    }

    fn settle(self) {
        let ended = self.ended.expect("a settled part ended");
        let answer = ended.and_then(|()| {
            if self.hashed == self.size {
                Ok(self.state.finish())
            } else {
                Err(read_error(format!(
                    "expected {} bytes of the part, read {}",
                    self.size, self.hashed
                )))
            }
        });
        // Resolving a promise runs no JS at once (its reactions are queued).
        let _ = match answer {
            Ok(digest) => self.resolve.call1(
                &JsValue::NULL,
                &JsValue::from_str(&partup_wire::md5_to_hex(&digest)),
            ),
            Err(error) => self.reject.call1(&JsValue::NULL, &error.to_js()),
        };
    }
}

/// Why the driver gave the event loop a turn after its last round.
enum Turn {
    /// No turn pending.
    None,
    /// Some part was waiting for its stream: its read may land in this turn (the round after it
    /// goes on with what is there, waiting no longer).
    ForReads(JsFuture),
    /// The rounds ran for [`RUN_BEFORE_YIELD_MS`]: messages (`cancel`) get their turn.
    ForEvents(JsFuture),
}

#[derive(Default)]
struct Lanes {
    parts: Vec<Part>,
    /// A driver runs (while there are parts).
    driving: bool,
    /// Wakes the driver when a part is added or cancelled.
    waker: Option<Waker>,
}

impl Lanes {
    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Whether a round can start: lands the reads, settles the parts that ended. `Ready(false)`:
    /// no part is left and the driver ends.
    fn poll_round(&mut self, cx: &mut Context<'_>, turn: &mut Turn) -> Poll<bool> {
        self.waker = Some(cx.waker().clone());
        for part in &mut self.parts {
            part.poll_read(cx);
        }
        let (ended, parts): (Vec<Part>, Vec<Part>) = std::mem::take(&mut self.parts)
            .into_iter()
            .partition(|part| part.chunk.is_none() && part.ended.is_some());
        self.parts = parts;
        ended.into_iter().for_each(Part::settle);
        if self.parts.is_empty() {
            self.driving = false;
            return Poll::Ready(false);
        }
        let landed = match turn {
            Turn::ForEvents(next) | Turn::ForReads(next) => next.poll_unpin(cx).is_ready(),
            Turn::None => true,
        };
        match turn {
            _ if landed => *turn = Turn::None,
            Turn::ForEvents(_) => return Poll::Pending,
            Turn::ForReads(_) if self.parts.iter().any(Part::starving) => return Poll::Pending,
            Turn::ForReads(_) | Turn::None => {}
        }
        if self.parts.iter().any(|part| part.chunk.is_some()) {
            Poll::Ready(true)
        } else {
            Poll::Pending // woken by a read that lands, or a part added or cancelled
        }
    }

    /// Hashes up to [`MAX_UPDATE_BYTES`] of every part that has a chunk, together. Returns whether
    /// some part is left without a chunk (its next read has to land).
    fn round(&mut self) -> bool {
        let mut states = Vec::with_capacity(self.parts.len());
        let mut inputs = Vec::with_capacity(self.parts.len());
        for part in &mut self.parts {
            let Part {
                chunk,
                buffer,
                state,
                hashed,
                ..
            } = part;
            let Some((bytes, offset)) = chunk else {
                continue;
            };
            let take = (bytes.length() - *offset).min(MAX_UPDATE_BYTES as u32);
            let end = *offset + take;
            if buffer.len() < take as usize {
                buffer.resize(take as usize, 0);
            }
            bytes
                .subarray(*offset, end)
                .copy_to(&mut buffer[..take as usize]);
            *hashed += u64::from(take);
            if end == bytes.length() {
                *chunk = None;
            } else {
                *offset = end;
            }
            states.push(state);
            inputs.push(&buffer[..take as usize]);
        }
        md5lanes::update_many(LANE_PATH, &mut states, &inputs);
        self.parts.iter().any(|part| part.chunk.is_none())
    }
}

// Hashes the parts given to one worker, up to `hash_lanes()` at once in SIMD lanes (more are hashed
// too, in turns of that many). The worker's side of `js/hash_pool.js` drives it. (Not `///`:
// wasm-bindgen copies those into the shipped glue.)
#[wasm_bindgen]
pub struct LaneHasher {
    lanes: Rc<RefCell<Lanes>>,
}

impl Default for LaneHasher {
    fn default() -> Self {
        LaneHasher::new()
    }
}

#[wasm_bindgen]
impl LaneHasher {
    #[wasm_bindgen(constructor)]
    pub fn new() -> LaneHasher {
        LaneHasher {
            lanes: Rc::default(),
        }
    }

    // The MD5 of `blob` as 32 lowercase hex digits; rejects with a `PartupError`: `FileReadError`
    // when the blob cannot be read, `Cancelled` after `cancel(id)`.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn hash(&self, id: u32, blob: &Blob) -> Promise {
        let mut settle = None;
        let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
        let (resolve, reject) = settle.expect("the executor runs at once");
        let mut lanes = self.lanes.borrow_mut();
        lanes.parts.push(Part {
            id,
            size: blob.size() as u64,
            state: LaneState::new(),
            chunks: Some(Chunks::open(blob.clone())),
            reading: None,
            chunk: None,
            ended: None,
            buffer: Vec::new(),
            hashed: 0,
            resolve,
            reject,
        });
        if lanes.driving {
            lanes.wake();
        } else {
            lanes.driving = true;
            wasm_bindgen_futures::spawn_local(drive(self.lanes.clone()));
        }
        promise
    }

    // Stops hashing part `id` (its read is cancelled; its promise rejects with `Cancelled`); the
    // other parts go on. Nothing happens for a part that already settled.
    pub fn cancel(&self, id: u32) {
        let mut lanes = self.lanes.borrow_mut();
        let Some(index) = lanes.parts.iter().position(|part| part.id == id) else {
            return;
        };
        let part = lanes.parts.remove(index);
        lanes.wake();
        drop(lanes);
        let _ = part
            .reject
            .call1(&JsValue::NULL, &UploadError::cancelled().to_js());
    }

    // Bytes of part `id` hashed so far; `undefined` once it settled (or for an unknown id).
    #[wasm_bindgen(js_name = hashedBytes)]
    pub fn hashed_bytes(&self, id: u32) -> Option<f64> {
        let lanes = self.lanes.borrow();
        let part = lanes.parts.iter().find(|part| part.id == id)?;
        Some(part.hashed as f64)
    }
}

/// Runs rounds while there are parts.
async fn drive(lanes: Rc<RefCell<Lanes>>) {
    let mut turn = Turn::None;
    let mut since_yield = now_ms();
    loop {
        let gave_turn = !matches!(turn, Turn::None);
        if !poll_fn(|cx| lanes.borrow_mut().poll_round(cx, &mut turn)).await {
            return;
        }
        if gave_turn && matches!(turn, Turn::None) {
            // The turn came: the worker's event loop ran (a read landing alone may not mean that:
            // a stream with chunks queued answers in a microtask).
            since_yield = now_ms();
        }
        let starving = lanes.borrow_mut().round();
        turn = if now_ms() - since_yield >= RUN_BEFORE_YIELD_MS {
            since_yield = now_ms();
            Turn::ForEvents(JsFuture::from(next_task()))
        } else if starving {
            Turn::ForReads(JsFuture::from(next_task()))
        } else {
            Turn::None
        };
    }
}
