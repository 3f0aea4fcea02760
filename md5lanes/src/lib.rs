//! MD5 of many independent streams at once, in SIMD lanes.
//!
//! # Why lanes
//!
//! MD5 is one long dependency chain: every step needs the previous step's result, so a single
//! stream cannot use more than a sliver of a modern core (~0.8 GB/s on this project's Zen 4
//! box, whatever the ALU width). But a server receiving many upload parts concurrently has many
//! *independent* chains. A SIMD register of 16 (AVX-512), 8 (AVX2) or 4 (wasm SIMD128) 32-bit
//! lanes runs the same step for that many streams in about the time of one, so the throughput
//! per core grows with the number of streams hashed together: on the same box ~4.8 GB/s for 8
//! streams (AVX2) and ~7.4 GB/s for 16 (AVX-512), see `examples/throughput.rs`.
//!
//! # How streams are fed
//!
//! Each stream is a [`LaneState`] (its MD5 state, a ≤ 63-byte tail of not yet hashed bytes and
//! its length). [`update_many`] takes any number of streams with any number of new bytes each:
//!
//! 1. A stream with a partial tail tops it up first; the streams whose tail became a whole
//!    block are compressed together (one block each).
//! 2. The whole blocks of the new bytes are scheduled in batches of at most
//!    [`Path::lanes`] streams. A batch runs the kernel over the number of blocks every one of
//!    its streams still has (the minimum); streams that run out leave and waiting streams take
//!    their lanes; the others go on from where they were.
//! 3. Bytes past the last whole block go to the stream's tail.
//!
//! A kernel call always gets the same number of whole blocks per stream; lanes without a stream
//! (fewer streams than lanes) read a shared zero block and their result is discarded, so the
//! kernels need no per-lane masks. A stream alone (one stream given, or the last one left with
//! blocks) never waits for company: it goes through the single-stream compressor. On the
//! AVX-512 path a batch of at most 8 streams uses the (cheaper) AVX2 kernel.
//!
//! # Why the path is chosen at run time
//!
//! See [`Path`]: one binary serves CPUs with and without AVX-512/AVX2, so the kernels are
//! compiled with `#[target_feature]` and chosen by CPU detection; every entry point checks that
//! the given path runs on this CPU (and panics otherwise) before any kernel is called.
//!
//! # The single-stream path
//!
//! On x86-64 a hand-scheduled compressor with one `asm!` sequence per step (~25 % faster than
//! md-5's portable code here, see `scalar.rs`); elsewhere md-5's `md5::block_api::compress`.
//! md-5 stays the oracle of every test.
//!
//! # Unsafe
//!
//! Only in the kernels: unaligned SIMD loads/stores from references of exactly the loaded width,
//! the register-only `asm!` steps of the x86-64 single-stream compressor, and the calls of
//! `#[target_feature]` functions after the CPU was checked. Each block says why.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod constants;
mod path;
mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

pub use path::{Path, UnavailablePath};

/// The most lanes any path has (AVX-512).
const MAX_LANES: usize = 16;

/// The MD5 state of one stream: the chaining value, the bytes after the last whole block, the
/// total length. Fed by [`LaneState::update_scalar`] or, together with other streams, by
/// [`update_many`]; both can be mixed on the same stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneState {
    abcd: [u32; 4],
    tail: [u8; 64],
    fill: usize,
    len: u64,
}

impl Default for LaneState {
    fn default() -> Self {
        LaneState::new()
    }
}

impl LaneState {
    /// The state of an empty stream.
    pub fn new() -> LaneState {
        LaneState {
            abcd: constants::INIT,
            tail: [0; 64],
            fill: 0,
            len: 0,
        }
    }

    /// How many bytes this stream was fed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether this stream was fed no byte yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feeds `data` to this stream alone, with the single-stream compressor.
    pub fn update_scalar(&mut self, data: &[u8]) {
        let rest = self.top_up(data);
        if self.fill == 64 {
            scalar::compress(&mut self.abcd, core::slice::from_ref(&self.tail));
            self.fill = 0;
        }
        let (blocks, rest) = rest.as_chunks::<64>();
        scalar::compress(&mut self.abcd, blocks);
        self.keep(rest);
    }

    /// The MD5 digest of everything fed (RFC 1321 padding: 0x80, zeros up to 56 mod 64, the
    /// bit length as a little-endian `u64`).
    pub fn finish(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut last = [[0u8; 64]; 2];
        last[0][..self.fill].copy_from_slice(&self.tail[..self.fill]);
        last[0][self.fill] = 0x80;
        let blocks = if self.fill < 56 { 1 } else { 2 };
        last[blocks - 1][56..].copy_from_slice(&bits.to_le_bytes());
        scalar::compress(&mut self.abcd, &last[..blocks]);
        let mut out = [0; 16];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.abcd) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Counts `data` and copies its head into a partial tail; returns the rest. If the tail was
    /// empty nothing is copied (the whole of `data` is returned).
    fn top_up<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.fill == 0 {
            return data;
        }
        let take = (64 - self.fill).min(data.len());
        let (head, rest) = data.split_at(take);
        self.tail[self.fill..self.fill + take].copy_from_slice(head);
        self.fill += take;
        rest
    }

    /// Keeps the bytes after the last whole block (fewer than 64; the tail is empty).
    fn keep(&mut self, rest: &[u8]) {
        debug_assert!(self.fill == 0 || rest.is_empty());
        self.tail[self.fill..self.fill + rest.len()].copy_from_slice(rest);
        self.fill += rest.len();
    }
}

/// A path checked to run on this CPU: the only way to reach a kernel.
#[derive(Clone, Copy)]
struct Checked(Path);

impl Checked {
    /// Panics if `path` does not run on this CPU.
    fn new(path: Path) -> Checked {
        assert!(
            path.is_available(),
            "MD5 path {path} is not supported by this CPU"
        );
        Checked(path)
    }

    fn lanes(self) -> usize {
        self.0.lanes()
    }

    /// The path whose kernel hashes `streams` streams at the least cost: AVX2 instead of
    /// AVX-512 for at most 8 streams, where this CPU has AVX2 (every AVX-512 CPU so far does).
    fn narrowest_for(self, streams: usize) -> Checked {
        match self.0 {
            Path::Avx512 if streams <= Path::Avx2.lanes() && Path::Avx2.is_available() => {
                Checked(Path::Avx2)
            }
            _ => self,
        }
    }

    /// Compresses `nblocks` blocks of each stream (`states[i]` with `blocks[i]`), at most
    /// [`Path::lanes`] streams, all of them with at least `nblocks` blocks.
    fn compress(self, states: &mut [[u32; 4]], blocks: &[&[[u8; 64]]], nblocks: usize) {
        debug_assert!(states.len() == blocks.len() && states.len() <= self.lanes());
        match self.0 {
            Path::Scalar => {
                for (state, blocks) in states.iter_mut().zip(blocks) {
                    scalar::compress(state, &blocks[..nblocks]);
                }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Checked` path runs on this CPU (`Checked::new`): it has AVX2.
            Path::Avx2 => unsafe { avx2::compress(states, blocks, nblocks) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Checked` path runs on this CPU (`Checked::new`): it has AVX-512F.
            Path::Avx512 => unsafe { avx512::compress(states, blocks, nblocks) },
            #[cfg(not(target_arch = "x86_64"))]
            Path::Avx2 | Path::Avx512 => unreachable!("Checked::new refused it"),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Path::Simd128 => simd128::compress(states, blocks, nblocks),
        }
    }
}

/// Feeds `inputs[i]` to `states[i]` for every `i`, hashing up to [`Path::lanes`] streams side
/// by side with `path`'s kernel (see the crate docs for the scheduling). Any number of streams,
/// any lengths (also 0); the result is the same as feeding each stream alone.
///
/// Panics if the two slices differ in length or if `path` does not run on this CPU.
pub fn update_many(path: Path, states: &mut [&mut LaneState], inputs: &[&[u8]]) {
    assert_eq!(
        states.len(),
        inputs.len(),
        "one input per stream: {} states, {} inputs",
        states.len(),
        inputs.len()
    );
    let path = Checked::new(path);
    let lanes = path.lanes();

    // 1. Top up partial tails; compress those that became a whole block, together.
    let rests: Vec<&[u8]> = states
        .iter_mut()
        .zip(inputs)
        .map(|(state, input)| state.top_up(input))
        .collect();
    let full: Vec<usize> = (0..states.len())
        .filter(|&i| states[i].fill == 64)
        .collect();
    for group in full.chunks(lanes) {
        let mut abcd = [[0u32; 4]; MAX_LANES];
        for (k, &i) in group.iter().enumerate() {
            abcd[k] = states[i].abcd;
        }
        {
            let mut blocks: [&[[u8; 64]]; MAX_LANES] = [&[]; MAX_LANES];
            for (k, &i) in group.iter().enumerate() {
                blocks[k] = core::slice::from_ref(&states[i].tail);
            }
            compress_batch(path, &mut abcd[..group.len()], &blocks[..group.len()], 1);
        }
        for (k, &i) in group.iter().enumerate() {
            states[i].abcd = abcd[k];
            states[i].fill = 0;
        }
    }

    // 2. The whole blocks, in batches of up to `lanes` streams.
    let mut waiting = rests
        .iter()
        .enumerate()
        .map(|(i, rest)| (i, rest.as_chunks::<64>().0))
        .filter(|(_, blocks)| !blocks.is_empty());
    let mut batch: [(usize, &[[u8; 64]]); MAX_LANES] = [(0, &[]); MAX_LANES];
    let mut used = 0;
    loop {
        while used < lanes {
            let Some(next) = waiting.next() else { break };
            batch[used] = next;
            used += 1;
        }
        if used == 0 {
            break;
        }
        let nblocks = batch[..used]
            .iter()
            .map(|(_, blocks)| blocks.len())
            .min()
            .expect("a batch is not empty");
        let mut abcd = [[0u32; 4]; MAX_LANES];
        let mut blocks: [&[[u8; 64]]; MAX_LANES] = [&[]; MAX_LANES];
        for (k, &(i, b)) in batch[..used].iter().enumerate() {
            abcd[k] = states[i].abcd;
            blocks[k] = b;
        }
        compress_batch(path, &mut abcd[..used], &blocks[..used], nblocks);
        // Write back, advance, and let the streams that ran out leave the batch.
        let mut kept = 0;
        for k in 0..used {
            let (i, b) = batch[k];
            states[i].abcd = abcd[k];
            let b = &b[nblocks..];
            if !b.is_empty() {
                batch[kept] = (i, b);
                kept += 1;
            }
        }
        used = kept;
    }

    // 3. Keep what follows the last whole block.
    for (state, rest) in states.iter_mut().zip(rests) {
        state.keep(rest.as_chunks::<64>().1);
    }
}

/// Compresses a batch: a lone stream through the single-stream compressor, more with the
/// narrowest kernel of `path` that holds them all.
///
/// On the AVX-512 path a batch of at most 8 streams goes to the AVX2 kernel: one 16-lane round
/// costs more than one 8-lane round (measured on this project's Zen 4 box, see the
/// `throughput` example: ~133 vs ~102 CPU-ns per round of one block per lane), so half-empty
/// AVX-512 rounds would waste CPU. From 2 streams on, either kernel beats
/// hashing the streams one by one.
fn compress_batch(path: Checked, states: &mut [[u32; 4]], blocks: &[&[[u8; 64]]], nblocks: usize) {
    if states.len() == 1 {
        scalar::compress(&mut states[0], &blocks[0][..nblocks]);
    } else {
        path.narrowest_for(states.len())
            .compress(states, blocks, nblocks);
    }
}

/// The MD5 digest of each input, hashed side by side with `path` (see [`update_many`]).
///
/// Panics if `path` does not run on this CPU.
pub fn digest_many(path: Path, inputs: &[&[u8]]) -> Vec<[u8; 16]> {
    let mut states = vec![LaneState::new(); inputs.len()];
    let mut refs: Vec<&mut LaneState> = states.iter_mut().collect();
    update_many(path, &mut refs, inputs);
    states.into_iter().map(LaneState::finish).collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod kernel_tests;
