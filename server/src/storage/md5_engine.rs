//! The MD5 engine: the parts arriving at the same time are hashed together, in one core's SIMD
//! lanes.
//!
//! Why: MD5 was 57 % of the server's CPU at full ingest (BENCHMARKS.md, row 3's profile). One
//! stream's MD5 cannot be parallelised, but a server receiving many parts hashes many independent
//! streams, and those can share the lanes of one core's vector unit: 16 with AVX-512, 8 with AVX2
//! (`md5lanes`, the path chosen at run time; MinIO's `md5-simd` and isa-l's `md5_mb` do the same).
//!
//! How: each part gets a [`PartHasher`]. Its chunks (the very `Bytes` the part's writer gets: no
//! copy) queue in the part's slot, and an engine thread hashes, in each round, what every slot has
//! queued (at most [`ROUND_QUANTUM`] per slot) with `md5lanes::update_many`. Nobody waits for
//! company: a round starts as soon as one chunk is queued, and a round with one stream runs the
//! single-stream compressor. While a round runs, more chunks queue up: under load, that is what
//! fills the next round's lanes.
//!
//! - **Back-pressure.** A slot holds at most [`QUEUE_LIMIT`] bytes not yet hashed;
//!   [`PartHasher::update`] waits for room, which slows the part's reading as hashing it inline
//!   did, so memory stays bounded however fast the network is.
//! - **Cancellation.** Dropping a [`PartHasher`] (the client went away, the part was refused)
//!   removes its slot at once; a round that was hashing it throws its state away.
//! - **Without SIMD** ([`Path::Scalar`]) there is no engine thread: each part hashes inline, on the
//!   task that receives it, as before. There are no lanes to share, and one thread would cap every
//!   part together at one core.
//! - **Shards.** Slots are spread over `threads` engine threads (one per 8 cores by default: one
//!   thread hashes several GB/s with AVX-512).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::Bytes;
use md5lanes::{LaneState, Path};
use tokio::sync::Notify;

use crate::metrics;

/// The most bytes of one part queued and not yet hashed.
pub const QUEUE_LIMIT: usize = 4 << 20;

/// The most bytes of one part hashed in one round, so that a part with much queued does not make
/// the others wait long.
pub const ROUND_QUANTUM: usize = 1 << 20;

/// Hashes the parts of one server; cheap to clone.
#[derive(Clone)]
pub struct Md5Engine {
    path: Path,
    threads: Arc<Threads>,
    next_slot: Arc<AtomicU64>,
}

impl std::fmt::Debug for Md5Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Md5Engine")
            .field("path", &self.path.name())
            .field("threads", &self.threads.shards.len())
            .finish()
    }
}

struct Shard {
    slots: Mutex<Slots>,
    /// Wakes the shard's thread: a chunk was queued, or the engine is going away.
    work: Condvar,
    path: Path,
}

#[derive(Default)]
struct Slots {
    by_id: BTreeMap<u64, Slot>,
    /// No more rounds: the engine was dropped.
    closing: bool,
}

struct Slot {
    /// `None` while a round is hashing it.
    state: Option<LaneState>,
    queue: VecDeque<Bytes>,
    queued: usize,
    /// Told when some of the slot's bytes were hashed (room, or the end of the queue).
    hashed: Arc<Notify>,
}

impl Slot {
    fn has_work(&self) -> bool {
        self.state.is_some() && !self.queue.is_empty()
    }
}

/// The engine's shards, one thread each (none for [`Path::Scalar`]). The threads stop when the
/// last [`Md5Engine`] clone and the last part hashed by them are gone.
struct Threads {
    shards: Vec<Arc<Shard>>,
}

impl Drop for Threads {
    fn drop(&mut self) {
        for shard in &self.shards {
            shard.lock().closing = true;
            shard.work.notify_all();
        }
    }
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic in a round must not stop every later part: the slots stay usable.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Md5Engine {
    /// An engine on `path` with `threads` engine threads (at least one; none for
    /// [`Path::Scalar`]). `path` must run on this CPU ([`Path::from_name`] checks it).
    pub fn new(path: Path, threads: usize) -> Md5Engine {
        let threads = if path == Path::Scalar {
            0
        } else {
            threads.max(1)
        };
        let shards: Vec<Arc<Shard>> = (0..threads)
            .map(|_| {
                Arc::new(Shard {
                    slots: Mutex::new(Slots::default()),
                    work: Condvar::new(),
                    path,
                })
            })
            .collect();
        for (index, shard) in shards.iter().enumerate() {
            let shard = shard.clone();
            std::thread::Builder::new()
                .name(format!("partup-md5-{index}"))
                .spawn(move || run_rounds(&shard))
                .expect("an MD5 engine thread starts");
        }
        Md5Engine {
            path,
            threads: Arc::new(Threads { shards }),
            next_slot: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The engine `--md5-path PATH --md5-threads N` ask for (`auto`: the fastest path this CPU
    /// has; 0 threads: one per 8 cores).
    pub fn from_setting(path: &str, threads: usize) -> Result<Md5Engine, String> {
        let path = Md5Engine::check_setting(path)?.unwrap_or_else(Path::detect);
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        Ok(Md5Engine::new(path, threads))
    }

    /// The path `--md5-path` names (`None` for `auto`), or why it cannot be used here.
    pub fn check_setting(path: &str) -> Result<Option<Path>, String> {
        if path == "auto" {
            return Ok(None);
        }
        Path::from_name(path)
            .map(Some)
            .map_err(|e| format!("--md5-path {path}: {e}"))
    }

    pub fn path(&self) -> Path {
        self.path
    }

    /// Its engine threads (0 for [`Path::Scalar`]).
    pub fn threads(&self) -> usize {
        self.threads.shards.len()
    }

    /// A hasher for one part.
    pub fn part(&self) -> PartHasher {
        let shards = &self.threads.shards;
        if shards.is_empty() {
            return PartHasher::Inline(LaneState::new());
        }
        let id = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let shard = shards[(id % shards.len() as u64) as usize].clone();
        let hashed = Arc::new(Notify::new());
        shard.lock().by_id.insert(
            id,
            Slot {
                state: Some(LaneState::new()),
                queue: VecDeque::new(),
                queued: 0,
                hashed: hashed.clone(),
            },
        );
        PartHasher::Queued(QueuedPart {
            shard,
            id,
            hashed,
            _threads: self.threads.clone(),
        })
    }

    /// Parts with a slot now (tests: a dropped part leaves none behind).
    pub fn parts_in_flight(&self) -> usize {
        self.threads
            .shards
            .iter()
            .map(|s| s.lock().by_id.len())
            .sum()
    }
}

/// One engine thread per 8 cores: one thread hashes several GB/s with AVX-512 or AVX2.
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .div_ceil(8)
}

/// One part's MD5, fed chunk by chunk.
pub enum PartHasher {
    /// [`Path::Scalar`]: hashed on the caller's task.
    Inline(LaneState),
    /// Hashed by an engine thread, together with the other parts of its shard.
    Queued(QueuedPart),
}

pub struct QueuedPart {
    shard: Arc<Shard>,
    id: u64,
    hashed: Arc<Notify>,
    /// Keeps the engine's threads while the part is hashed.
    _threads: Arc<Threads>,
}

impl PartHasher {
    /// Takes the next bytes of the part; waits while [`QUEUE_LIMIT`] bytes of it are not hashed
    /// yet.
    pub async fn update(&mut self, chunk: Bytes) {
        match self {
            PartHasher::Inline(state) => state.update_scalar(&chunk),
            PartHasher::Queued(part) => part.update(chunk).await,
        }
    }

    /// The part's digest, once every byte given to [`PartHasher::update`] is hashed.
    pub async fn finish(self) -> [u8; 16] {
        match self {
            PartHasher::Inline(state) => state.finish(),
            PartHasher::Queued(part) => part.finish().await,
        }
    }
}

impl QueuedPart {
    /// This part's slot, under its shard's lock.
    fn slot<'a>(&self, slots: &'a mut Slots) -> &'a mut Slot {
        slots
            .by_id
            .get_mut(&self.id)
            .expect("a part's slot lives as long as its hasher")
    }

    async fn update(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        loop {
            {
                let mut slots = self.shard.lock();
                let slot = self.slot(&mut slots);
                // An empty queue takes any chunk, so a chunk over the limit cannot wait forever.
                if slot.queued == 0 || slot.queued + chunk.len() <= QUEUE_LIMIT {
                    slot.queued += chunk.len();
                    slot.queue.push_back(chunk);
                    drop(slots);
                    self.shard.work.notify_one();
                    return;
                }
            }
            // `notify_one` keeps a permit when nobody waits yet: a round that ended between the
            // check above and this wait is not missed.
            self.hashed.notified().await;
        }
    }

    async fn finish(self) -> [u8; 16] {
        loop {
            {
                let mut slots = self.shard.lock();
                let slot = self.slot(&mut slots);
                if slot.queue.is_empty()
                    && let Some(state) = slot.state.take()
                {
                    // The padding is at most two blocks: not worth a round.
                    return state.finish();
                }
            }
            self.hashed.notified().await;
        }
    }
}

impl Drop for QueuedPart {
    fn drop(&mut self) {
        self.shard.lock().by_id.remove(&self.id);
    }
}

/// One shard's thread: rounds until the engine is dropped.
fn run_rounds(shard: &Shard) {
    let mut slots = shard.lock();
    loop {
        while !slots.closing && !slots.by_id.values().any(Slot::has_work) {
            slots = shard.work.wait(slots).unwrap_or_else(|p| p.into_inner());
        }
        if slots.closing {
            return;
        }
        // Take every waiting slot's state and up to a quantum of its chunks.
        let mut round: Vec<(u64, LaneState, Vec<Bytes>, usize)> = Vec::new();
        for (&id, slot) in slots.by_id.iter_mut().filter(|(_, s)| s.has_work()) {
            let mut chunks = Vec::new();
            let mut bytes = 0;
            while bytes < ROUND_QUANTUM
                && let Some(chunk) = slot.queue.pop_front()
            {
                bytes += chunk.len();
                chunks.push(chunk);
            }
            let state = slot.state.take().expect("has_work: the state is there");
            round.push((id, state, chunks, bytes));
        }
        drop(slots);
        hash_round(shard.path, &mut round);
        slots = shard.lock();
        for (id, state, _, bytes) in round {
            // A slot dropped meanwhile (the part was cancelled) is gone: its state goes too.
            if let Some(slot) = slots.by_id.get_mut(&id) {
                slot.state = Some(state);
                slot.queued -= bytes;
                slot.hashed.notify_one();
            }
        }
    }
}

/// Hashes each slot's chunks into its state: the `i`-th chunks of all slots together, so that
/// every call fills as many lanes as there are slots with an `i`-th chunk.
fn hash_round(path: Path, round: &mut [(u64, LaneState, Vec<Bytes>, usize)]) {
    let columns = round.iter().map(|(_, _, c, _)| c.len()).max().unwrap_or(0);
    let streams = round.len();
    for column in 0..columns {
        let mut states: Vec<&mut LaneState> = Vec::with_capacity(streams);
        let mut inputs: Vec<&[u8]> = Vec::with_capacity(streams);
        for (_, state, chunks, _) in round.iter_mut() {
            if let Some(chunk) = chunks.get(column) {
                states.push(state);
                inputs.push(chunk);
            }
        }
        metrics::record_md5_round(
            path.name(),
            inputs.len(),
            inputs.iter().map(|i| i.len()).sum(),
        );
        md5lanes::update_many(path, &mut states, &inputs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn reference(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    /// Deterministic bytes and chunk sizes, without a dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    async fn hash_in_chunks(engine: Md5Engine, data: Vec<u8>, seed: u64) -> [u8; 16] {
        let mut lcg = Lcg(seed);
        let mut part = engine.part();
        let data = Bytes::from(data);
        let mut at = 0;
        while at < data.len() {
            let len = (1 + lcg.next() as usize % 70_000).min(data.len() - at);
            part.update(data.slice(at..at + len)).await;
            at += len;
            if lcg.next().is_multiple_of(4) {
                tokio::task::yield_now().await;
            }
        }
        part.finish().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_parts_at_once_get_md5s_equal_to_md_5s_on_every_path_of_this_cpu() {
        for path in Path::available() {
            let engine = Md5Engine::new(path, 2);
            let mut lcg = Lcg(path.lanes() as u64);
            let mut tasks = Vec::new();
            for index in 0..40u64 {
                let len = match index % 5 {
                    0 => 0,
                    1 => lcg.next() as usize % 130,
                    _ => lcg.next() as usize % (3 << 20),
                };
                let data = lcg.bytes(len);
                let expected = reference(&data);
                let engine = engine.clone();
                tasks.push(tokio::spawn(async move {
                    (hash_in_chunks(engine, data, index).await, expected)
                }));
            }
            for task in tasks {
                let (got, expected) = task.await.unwrap();
                assert_eq!(got, expected, "path {path}");
            }
            assert_eq!(engine.parts_in_flight(), 0, "path {path}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_part_dropped_midway_leaves_no_slot_and_the_others_still_hash_right() {
        for path in Path::available() {
            let engine = Md5Engine::new(path, 1);
            let mut dropped = engine.part();
            dropped.update(Bytes::from(vec![7u8; 5 << 20])).await;
            let kept = Lcg(3).bytes(2 << 20);
            let expected = reference(&kept);
            let other = tokio::spawn(hash_in_chunks(engine.clone(), kept, 9));
            drop(dropped);
            assert_eq!(other.await.unwrap(), expected, "path {path}");
            assert_eq!(engine.parts_in_flight(), 0, "path {path}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_part_never_has_more_than_the_queue_limit_waiting_beyond_one_chunk() {
        let Some(path) = Path::available().into_iter().find(|p| *p != Path::Scalar) else {
            return; // no SIMD here: every part hashes inline, nothing queues
        };
        let engine = Md5Engine::new(path, 1);
        let mut part = engine.part();
        let chunk = Bytes::from(vec![1u8; 256 << 10]);
        let PartHasher::Queued(queued) = &part else {
            panic!("a SIMD path queues")
        };
        let (shard, id) = (queued.shard.clone(), queued.id);
        let mut most = 0;
        for _ in 0..200 {
            part.update(chunk.clone()).await;
            most = most.max(shard.lock().by_id[&id].queued);
        }
        assert!(most <= QUEUE_LIMIT, "{most} bytes queued");
        let expected = reference(&vec![1u8; 200 * (256 << 10)]);
        assert_eq!(part.finish().await, expected);
    }

    #[tokio::test]
    async fn the_scalar_path_hashes_inline_without_a_thread() {
        let engine = Md5Engine::new(Path::Scalar, 4);
        let mut part = engine.part();
        assert!(matches!(part, PartHasher::Inline(_)));
        part.update(Bytes::from_static(b"abc")).await;
        assert_eq!(part.finish().await, reference(b"abc"));
        assert_eq!(engine.parts_in_flight(), 0);
    }
}
