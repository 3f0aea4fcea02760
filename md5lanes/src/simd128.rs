//! 4 streams at once with wasm SIMD128: one `v128` holds the same state word (or message word)
//! of 4 independent streams. Compiled only into a `+simd128` build (see [`crate::Path`]).
//!
//! F and G are one `v128.bitselect` each (F = `b ? c : d`, G = `d ? b : c`), H is two xors,
//! I = `c ^ (b | !d)`, a rotate is `shl | shr_u`. Each stream's 64-byte block is four 4-dword
//! rows; [`transpose`] turns 4 rows (one per lane) into 4 vectors of one word each, four times
//! per block. Lanes without a stream are fed a zero block and their result is dropped.

use core::arch::wasm32::*;

use crate::constants::md5_schedule;

/// Streams per kernel call.
pub(crate) const LANES: usize = 4;

static ZERO_BLOCK: [u8; 64] = [0; 64];

/// One (unaligned) 128-bit load of 16 bytes.
#[inline]
fn load(bytes: &[u8; 16]) -> v128 {
    // SAFETY: `bytes` is 16 readable bytes, exactly one 128-bit load (wasm loads need no
    // alignment).
    unsafe { v128_load(bytes.as_ptr().cast()) }
}

/// 4×4 dword transpose: `rows[l]` holds 4 consecutive words of lane `l`; the result's `[w]`
/// holds word `w` of every lane.
#[inline]
fn transpose(r: [v128; 4]) -> [v128; 4] {
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0], r[1]);
    let t1 = i32x4_shuffle::<2, 6, 3, 7>(r[0], r[1]);
    let t2 = i32x4_shuffle::<0, 4, 1, 5>(r[2], r[3]);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2], r[3]);
    [
        i32x4_shuffle::<0, 1, 4, 5>(t0, t2),
        i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
        i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
        i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
    ]
}

/// Compresses `nblocks` blocks of each of up to 4 streams: stream `l` has state `states[l]`
/// and its blocks are `blocks[l][..nblocks]`.
///
/// Panics if `states` and `blocks` differ in length, if there are more than 4 of them, or if a
/// stream has fewer than `nblocks` blocks.
pub(crate) fn compress(states: &mut [[u32; 4]], blocks: &[&[[u8; 64]]], nblocks: usize) {
    let used = states.len();
    assert!(used == blocks.len() && used <= LANES);
    assert!(blocks.iter().all(|b| b.len() >= nblocks));

    let word = |w: usize| {
        let get = |l: usize| states.get(l).map_or(0, |s| s[w]);
        u32x4(get(0), get(1), get(2), get(3))
    };
    let (mut a, mut b, mut c, mut d) = (word(0), word(1), word(2), word(3));

    // `j` indexes the blocks of every lane, not one slice.
    #[allow(clippy::needless_range_loop)]
    for j in 0..nblocks {
        let block = |l: usize| if l < used { &blocks[l][j] } else { &ZERO_BLOCK };
        let mut m = [u32x4_splat(0); 16];
        for q in 0..4 {
            let rows: [v128; 4] = core::array::from_fn(|l| {
                let bytes: &[u8; 16] = block(l)[16 * q..16 * q + 16].try_into().expect("16 bytes");
                load(bytes)
            });
            m[4 * q..4 * q + 4].copy_from_slice(&transpose(rows));
        }
        let (a0, b0, c0, d0) = (a, b, c, d);

        macro_rules! fun {
            (F, $b:expr, $c:expr, $d:expr) => {
                v128_bitselect($c, $d, $b)
            };
            (G, $b:expr, $c:expr, $d:expr) => {
                v128_bitselect($b, $c, $d)
            };
            (H, $b:expr, $c:expr, $d:expr) => {
                v128_xor(v128_xor($b, $c), $d)
            };
            (I, $b:expr, $c:expr, $d:expr) => {
                v128_xor($c, v128_or($b, v128_not($d)))
            };
        }
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {{
                const K: u32 = $k;
                let mk = u32x4_add($m, u32x4_splat(K));
                $a = u32x4_add($a, mk);
                $a = u32x4_add($a, fun!($f, $b, $c, $d));
                $a = v128_or(u32x4_shl($a, $s), u32x4_shr($a, 32 - $s));
                $a = u32x4_add($a, $b);
            }};
        }
        md5_schedule!(step, a, b, c, d, m);

        a = u32x4_add(a, a0);
        b = u32x4_add(b, b0);
        c = u32x4_add(c, c0);
        d = u32x4_add(d, d0);
    }

    for (l, s) in states.iter_mut().enumerate() {
        let lane = |v: v128| match l {
            0 => u32x4_extract_lane::<0>(v),
            1 => u32x4_extract_lane::<1>(v),
            2 => u32x4_extract_lane::<2>(v),
            _ => u32x4_extract_lane::<3>(v),
        };
        *s = [lane(a), lane(b), lane(c), lane(d)];
    }
}
