//! 8 streams at once with AVX2: one `__m256i` holds the same state word (or message word) of 8
//! independent streams.
//!
//! AVX2 has neither a rotate nor a three-input logic instruction, so a rotate is
//! `slli | srli` and the round functions are spelled out:
//! F = `d ^ (b & (c ^ d))`, G = `(c & !d) + (d & b)` (the two halves do not overlap, so `+`
//! equals `|`, and the `c & !d` half does not wait for `b`), H = `b ^ c ^ d`,
//! I = `c ^ (b | !d)`.
//!
//! Each stream's 64-byte block is two 8-dword rows; [`transpose`] turns 8 such rows (one per
//! lane) into 8 vectors of one word each — done twice per block, for words 0–7 and 8–15.
//! Lanes without a stream are fed a zero block and their result is dropped.

use core::arch::x86_64::*;

use crate::constants::md5_schedule;

/// Streams per kernel call.
pub(crate) const LANES: usize = 8;

static ZERO_BLOCK: [u8; 64] = [0; 64];

/// One unaligned 256-bit load of 32 bytes.
#[target_feature(enable = "avx2")]
#[inline]
fn load_half(half: &[u8; 32]) -> __m256i {
    // SAFETY: `half` is 32 readable bytes, exactly one unaligned 256-bit load.
    unsafe { _mm256_loadu_si256(half.as_ptr().cast()) }
}

/// Loads 8 dwords.
#[target_feature(enable = "avx2")]
#[inline]
fn load_words(words: &[u32; 8]) -> __m256i {
    // SAFETY: `words` is 32 readable bytes, exactly one unaligned 256-bit load.
    unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
}

/// Stores 8 dwords.
#[target_feature(enable = "avx2")]
#[inline]
fn store_words(words: &mut [u32; 8], v: __m256i) {
    // SAFETY: `words` is 32 writable bytes, exactly one unaligned 256-bit store.
    unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), v) }
}

/// 8×8 dword transpose: `rows[l]` holds 8 consecutive words of lane `l`; the result's `[w]`
/// holds word `w` of every lane.
///
/// `unpack*_epi32` then `unpack*_epi64` transpose 4×4 tiles inside each 128-bit half (rows
/// 0–3 and 4–7 separately); `permute2x128` (0x20 = low halves, 0x31 = high halves) then joins
/// rows 0–3 and 4–7 of the same word. 24 shuffles per 8 rows.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose(rows: [__m256i; 8]) -> [__m256i; 8] {
    let mut u = [[_mm256_setzero_si256(); 4]; 2];
    for g in 0..2 {
        let r = &rows[4 * g..4 * g + 4];
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        u[g][0] = _mm256_unpacklo_epi64(t0, t2);
        u[g][1] = _mm256_unpackhi_epi64(t0, t2);
        u[g][2] = _mm256_unpacklo_epi64(t1, t3);
        u[g][3] = _mm256_unpackhi_epi64(t1, t3);
    }
    let mut out = [_mm256_setzero_si256(); 8];
    for m in 0..4 {
        out[m] = _mm256_permute2x128_si256::<0x20>(u[0][m], u[1][m]);
        out[4 + m] = _mm256_permute2x128_si256::<0x31>(u[0][m], u[1][m]);
    }
    out
}

/// Compresses `nblocks` blocks of each of up to 8 streams: stream `l` has state `states[l]`
/// and its blocks are `blocks[l][..nblocks]`.
///
/// Panics if `states` and `blocks` differ in length, if there are more than 8 of them, or if a
/// stream has fewer than `nblocks` blocks. Only callable where AVX2 is known to exist.
#[target_feature(enable = "avx2")]
pub(crate) fn compress(states: &mut [[u32; 4]], blocks: &[&[[u8; 64]]], nblocks: usize) {
    let used = states.len();
    assert!(used == blocks.len() && used <= LANES);
    assert!(blocks.iter().all(|b| b.len() >= nblocks));

    let mut words = [[0u32; 8]; 4];
    for (l, s) in states.iter().enumerate() {
        for w in 0..4 {
            words[w][l] = s[w];
        }
    }
    let mut a = load_words(&words[0]);
    let mut b = load_words(&words[1]);
    let mut c = load_words(&words[2]);
    let mut d = load_words(&words[3]);
    let ones = _mm256_set1_epi32(-1);

    // `j` indexes the blocks of every lane, not one slice.
    #[allow(clippy::needless_range_loop)]
    for j in 0..nblocks {
        let block = |l: usize| if l < used { &blocks[l][j] } else { &ZERO_BLOCK };
        let (lo, hi): ([__m256i; 8], [__m256i; 8]) = (
            core::array::from_fn(|l| {
                let (half, _) = block(l).split_first_chunk::<32>().expect("64 > 32");
                load_half(half)
            }),
            core::array::from_fn(|l| {
                let (_, half) = block(l).split_last_chunk::<32>().expect("64 > 32");
                load_half(half)
            }),
        );
        let lo = transpose(lo);
        let hi = transpose(hi);
        let m: [__m256i; 16] = core::array::from_fn(|w| if w < 8 { lo[w] } else { hi[w - 8] });
        let (a0, b0, c0, d0) = (a, b, c, d);

        macro_rules! fun {
            (F, $b:expr, $c:expr, $d:expr) => {
                _mm256_xor_si256($d, _mm256_and_si256($b, _mm256_xor_si256($c, $d)))
            };
            (G, $b:expr, $c:expr, $d:expr) => {
                _mm256_add_epi32(_mm256_andnot_si256($d, $c), _mm256_and_si256($d, $b))
            };
            (H, $b:expr, $c:expr, $d:expr) => {
                _mm256_xor_si256(_mm256_xor_si256($b, $c), $d)
            };
            (I, $b:expr, $c:expr, $d:expr) => {
                _mm256_xor_si256($c, _mm256_or_si256($b, _mm256_xor_si256($d, ones)))
            };
        }
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {{
                const K: u32 = $k;
                let mk = _mm256_add_epi32($m, _mm256_set1_epi32(K as i32));
                $a = _mm256_add_epi32($a, mk);
                $a = _mm256_add_epi32($a, fun!($f, $b, $c, $d));
                $a = _mm256_or_si256(
                    _mm256_slli_epi32::<$s>($a),
                    _mm256_srli_epi32::<{ 32 - $s }>($a),
                );
                $a = _mm256_add_epi32($a, $b);
            }};
        }
        md5_schedule!(step, a, b, c, d, m);

        a = _mm256_add_epi32(a, a0);
        b = _mm256_add_epi32(b, b0);
        c = _mm256_add_epi32(c, c0);
        d = _mm256_add_epi32(d, d0);
    }

    store_words(&mut words[0], a);
    store_words(&mut words[1], b);
    store_words(&mut words[2], c);
    store_words(&mut words[3], d);
    for (l, s) in states.iter_mut().enumerate() {
        for w in 0..4 {
            s[w] = words[w][l];
        }
    }
}
