//! 16 streams at once with AVX-512F: one `__m512i` holds the same state word (or message word)
//! of 16 independent streams, so each MD5 step is a handful of instructions for all 16.
//!
//! Per step: one `vpternlogd` computes F/G/H/I of (b, c, d) with the truth-table immediates
//! 0xCA, 0xE4, 0x96, 0x39 (bit `b·4 + c·2 + d`), four `vpaddd` and one `vprold`. MD5's serial
//! dependency chain stays, but it is 16 streams wide instead of 1.
//!
//! The message arrives as each stream's own 64-byte block (array of structures); the rounds need
//! word `w` of all 16 blocks in one register (structure of arrays), hence the 16×16 dword
//! transpose in [`transpose`]: 64 shuffles per 16 blocks, against 16 gathers of 16 dwords that
//! are slow on AMD. Lanes without a stream are fed a zero block and their result is dropped.

use core::arch::x86_64::*;

use crate::constants::md5_schedule;

/// Streams per kernel call.
pub(crate) const LANES: usize = 16;

static ZERO_BLOCK: [u8; 64] = [0; 64];

/// One unaligned 512-bit load of a 64-byte block.
#[target_feature(enable = "avx512f")]
#[inline]
fn load_block(block: &[u8; 64]) -> __m512i {
    // SAFETY: `block` is 64 readable bytes, exactly one unaligned 512-bit load.
    unsafe { _mm512_loadu_si512(block.as_ptr().cast()) }
}

/// Loads 16 dwords.
#[target_feature(enable = "avx512f")]
#[inline]
fn load_words(words: &[u32; 16]) -> __m512i {
    // SAFETY: `words` is 64 readable bytes, exactly one unaligned 512-bit load.
    unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
}

/// Stores 16 dwords.
#[target_feature(enable = "avx512f")]
#[inline]
fn store_words(words: &mut [u32; 16], v: __m512i) {
    // SAFETY: `words` is 64 writable bytes, exactly one unaligned 512-bit store.
    unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v) }
}

/// 16×16 dword transpose: `rows[l]` is lane `l`'s block, the result's `[w]` is word `w` of
/// every lane (lane `l` in dword `l`).
///
/// Stages 1–2 (`unpack*_epi32`, `unpack*_epi64`) transpose 4×4 tiles inside each 128-bit
/// quarter: for rows `4g..4g+4`, `u[g][m]` has in quarter `q` word `4q + m` of those four rows.
/// Stages 3–4 (`shuffle_i32x4`, immediates 0x88 = quarters 0,2 / 0xDD = 1,3) move the quarters
/// so that word `4q + m` of rows 0–3, 4–7, 8–11, 12–15 end up side by side.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose(rows: [__m512i; 16]) -> [__m512i; 16] {
    let mut u = [[_mm512_setzero_si512(); 4]; 4];
    for g in 0..4 {
        let r = &rows[4 * g..4 * g + 4];
        let t0 = _mm512_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm512_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm512_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm512_unpackhi_epi32(r[2], r[3]);
        u[g][0] = _mm512_unpacklo_epi64(t0, t2);
        u[g][1] = _mm512_unpackhi_epi64(t0, t2);
        u[g][2] = _mm512_unpacklo_epi64(t1, t3);
        u[g][3] = _mm512_unpackhi_epi64(t1, t3);
    }
    let mut out = [_mm512_setzero_si512(); 16];
    for m in 0..4 {
        let x0 = _mm512_shuffle_i32x4::<0x88>(u[0][m], u[1][m]);
        let x1 = _mm512_shuffle_i32x4::<0xDD>(u[0][m], u[1][m]);
        let x2 = _mm512_shuffle_i32x4::<0x88>(u[2][m], u[3][m]);
        let x3 = _mm512_shuffle_i32x4::<0xDD>(u[2][m], u[3][m]);
        out[m] = _mm512_shuffle_i32x4::<0x88>(x0, x2);
        out[4 + m] = _mm512_shuffle_i32x4::<0x88>(x1, x3);
        out[8 + m] = _mm512_shuffle_i32x4::<0xDD>(x0, x2);
        out[12 + m] = _mm512_shuffle_i32x4::<0xDD>(x1, x3);
    }
    out
}

/// Compresses `nblocks` blocks of each of up to 16 streams: stream `l` has state `states[l]`
/// and its blocks are `blocks[l][..nblocks]`.
///
/// Panics if `states` and `blocks` differ in length, if there are more than 16 of them, or if a
/// stream has fewer than `nblocks` blocks. Only callable where AVX-512F is known to exist.
#[target_feature(enable = "avx512f")]
pub(crate) fn compress(states: &mut [[u32; 4]], blocks: &[&[[u8; 64]]], nblocks: usize) {
    let used = states.len();
    assert!(used == blocks.len() && used <= LANES);
    assert!(blocks.iter().all(|b| b.len() >= nblocks));

    let mut words = [[0u32; 16]; 4];
    for (l, s) in states.iter().enumerate() {
        for w in 0..4 {
            words[w][l] = s[w];
        }
    }
    let mut a = load_words(&words[0]);
    let mut b = load_words(&words[1]);
    let mut c = load_words(&words[2]);
    let mut d = load_words(&words[3]);

    // `j` indexes the blocks of every lane, not one slice.
    #[allow(clippy::needless_range_loop)]
    for j in 0..nblocks {
        let rows: [__m512i; 16] = core::array::from_fn(|l| {
            load_block(if l < used { &blocks[l][j] } else { &ZERO_BLOCK })
        });
        let m = transpose(rows);
        let (a0, b0, c0, d0) = (a, b, c, d);

        macro_rules! fun {
            (F, $b:expr, $c:expr, $d:expr) => {
                _mm512_ternarylogic_epi32::<0xCA>($b, $c, $d)
            };
            (G, $b:expr, $c:expr, $d:expr) => {
                _mm512_ternarylogic_epi32::<0xE4>($b, $c, $d)
            };
            (H, $b:expr, $c:expr, $d:expr) => {
                _mm512_ternarylogic_epi32::<0x96>($b, $c, $d)
            };
            (I, $b:expr, $c:expr, $d:expr) => {
                _mm512_ternarylogic_epi32::<0x39>($b, $c, $d)
            };
        }
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {{
                const K: u32 = $k;
                // M + K does not depend on the chain: the CPU can compute it early.
                let mk = _mm512_add_epi32($m, _mm512_set1_epi32(K as i32));
                $a = _mm512_add_epi32($a, mk);
                $a = _mm512_add_epi32($a, fun!($f, $b, $c, $d));
                $a = _mm512_rol_epi32::<$s>($a);
                $a = _mm512_add_epi32($a, $b);
            }};
        }
        md5_schedule!(step, a, b, c, d, m);

        a = _mm512_add_epi32(a, a0);
        b = _mm512_add_epi32(b, b0);
        c = _mm512_add_epi32(c, c0);
        d = _mm512_add_epi32(d, d0);
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
