//! MD5's constants (RFC 1321 §3.4) and the 64-step schedule shared by every SIMD kernel.
//!
//! The schedule is a macro, not a loop, because the rotation amounts must be literals: the
//! SIMD rotate/shift intrinsics take them as const generics (`_mm512_rol_epi32::<7>`), and
//! AVX2/SIMD128 need `32 - s` as a second constant. Each kernel supplies its own `step!` macro
//! (how to compute one step with its vector type) and the schedule expands it 64 times.

/// The initial state (A, B, C, D) of every stream.
pub(crate) const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// `K[i] = floor(2^32 * |sin(i + 1)|)`, the additive constant of step `i` (RFC 1321's `T[i+1]`).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Expands `$step!(FUN, a, b, c, d, M[g], K, s)` for the 64 steps of one MD5 block, in order,
/// with the register roles rotated as RFC 1321 writes them (so no moves are needed).
///
/// `FUN` is one of the idents `F`, `G`, `H`, `I`; `M` is the kernel's array of 16 message-word
/// vectors; the constants are literals (the kernel broadcasts `K`). The `K` values repeat
/// [`K`] (a unit test checks that the table and the schedule agree).
// Unused in a build without SIMD kernels (wasm without simd128, non-x86 targets).
#[allow(unused_macros)]
macro_rules! md5_schedule {
    ($step:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident) => {
        // Round 1: F, M[i], rotations 7 12 17 22.
        $step!(F, $a, $b, $c, $d, $m[0], 0xd76a_a478, 7);
        $step!(F, $d, $a, $b, $c, $m[1], 0xe8c7_b756, 12);
        $step!(F, $c, $d, $a, $b, $m[2], 0x2420_70db, 17);
        $step!(F, $b, $c, $d, $a, $m[3], 0xc1bd_ceee, 22);
        $step!(F, $a, $b, $c, $d, $m[4], 0xf57c_0faf, 7);
        $step!(F, $d, $a, $b, $c, $m[5], 0x4787_c62a, 12);
        $step!(F, $c, $d, $a, $b, $m[6], 0xa830_4613, 17);
        $step!(F, $b, $c, $d, $a, $m[7], 0xfd46_9501, 22);
        $step!(F, $a, $b, $c, $d, $m[8], 0x6980_98d8, 7);
        $step!(F, $d, $a, $b, $c, $m[9], 0x8b44_f7af, 12);
        $step!(F, $c, $d, $a, $b, $m[10], 0xffff_5bb1, 17);
        $step!(F, $b, $c, $d, $a, $m[11], 0x895c_d7be, 22);
        $step!(F, $a, $b, $c, $d, $m[12], 0x6b90_1122, 7);
        $step!(F, $d, $a, $b, $c, $m[13], 0xfd98_7193, 12);
        $step!(F, $c, $d, $a, $b, $m[14], 0xa679_438e, 17);
        $step!(F, $b, $c, $d, $a, $m[15], 0x49b4_0821, 22);
        // Round 2: G, M[(5i + 1) mod 16], rotations 5 9 14 20.
        $step!(G, $a, $b, $c, $d, $m[1], 0xf61e_2562, 5);
        $step!(G, $d, $a, $b, $c, $m[6], 0xc040_b340, 9);
        $step!(G, $c, $d, $a, $b, $m[11], 0x265e_5a51, 14);
        $step!(G, $b, $c, $d, $a, $m[0], 0xe9b6_c7aa, 20);
        $step!(G, $a, $b, $c, $d, $m[5], 0xd62f_105d, 5);
        $step!(G, $d, $a, $b, $c, $m[10], 0x0244_1453, 9);
        $step!(G, $c, $d, $a, $b, $m[15], 0xd8a1_e681, 14);
        $step!(G, $b, $c, $d, $a, $m[4], 0xe7d3_fbc8, 20);
        $step!(G, $a, $b, $c, $d, $m[9], 0x21e1_cde6, 5);
        $step!(G, $d, $a, $b, $c, $m[14], 0xc337_07d6, 9);
        $step!(G, $c, $d, $a, $b, $m[3], 0xf4d5_0d87, 14);
        $step!(G, $b, $c, $d, $a, $m[8], 0x455a_14ed, 20);
        $step!(G, $a, $b, $c, $d, $m[13], 0xa9e3_e905, 5);
        $step!(G, $d, $a, $b, $c, $m[2], 0xfcef_a3f8, 9);
        $step!(G, $c, $d, $a, $b, $m[7], 0x676f_02d9, 14);
        $step!(G, $b, $c, $d, $a, $m[12], 0x8d2a_4c8a, 20);
        // Round 3: H, M[(3i + 5) mod 16], rotations 4 11 16 23.
        $step!(H, $a, $b, $c, $d, $m[5], 0xfffa_3942, 4);
        $step!(H, $d, $a, $b, $c, $m[8], 0x8771_f681, 11);
        $step!(H, $c, $d, $a, $b, $m[11], 0x6d9d_6122, 16);
        $step!(H, $b, $c, $d, $a, $m[14], 0xfde5_380c, 23);
        $step!(H, $a, $b, $c, $d, $m[1], 0xa4be_ea44, 4);
        $step!(H, $d, $a, $b, $c, $m[4], 0x4bde_cfa9, 11);
        $step!(H, $c, $d, $a, $b, $m[7], 0xf6bb_4b60, 16);
        $step!(H, $b, $c, $d, $a, $m[10], 0xbebf_bc70, 23);
        $step!(H, $a, $b, $c, $d, $m[13], 0x289b_7ec6, 4);
        $step!(H, $d, $a, $b, $c, $m[0], 0xeaa1_27fa, 11);
        $step!(H, $c, $d, $a, $b, $m[3], 0xd4ef_3085, 16);
        $step!(H, $b, $c, $d, $a, $m[6], 0x0488_1d05, 23);
        $step!(H, $a, $b, $c, $d, $m[9], 0xd9d4_d039, 4);
        $step!(H, $d, $a, $b, $c, $m[12], 0xe6db_99e5, 11);
        $step!(H, $c, $d, $a, $b, $m[15], 0x1fa2_7cf8, 16);
        $step!(H, $b, $c, $d, $a, $m[2], 0xc4ac_5665, 23);
        // Round 4: I, M[7i mod 16], rotations 6 10 15 21.
        $step!(I, $a, $b, $c, $d, $m[0], 0xf429_2244, 6);
        $step!(I, $d, $a, $b, $c, $m[7], 0x432a_ff97, 10);
        $step!(I, $c, $d, $a, $b, $m[14], 0xab94_23a7, 15);
        $step!(I, $b, $c, $d, $a, $m[5], 0xfc93_a039, 21);
        $step!(I, $a, $b, $c, $d, $m[12], 0x655b_59c3, 6);
        $step!(I, $d, $a, $b, $c, $m[3], 0x8f0c_cc92, 10);
        $step!(I, $c, $d, $a, $b, $m[10], 0xffef_f47d, 15);
        $step!(I, $b, $c, $d, $a, $m[1], 0x8584_5dd1, 21);
        $step!(I, $a, $b, $c, $d, $m[8], 0x6fa8_7e4f, 6);
        $step!(I, $d, $a, $b, $c, $m[15], 0xfe2c_e6e0, 10);
        $step!(I, $c, $d, $a, $b, $m[6], 0xa301_4314, 15);
        $step!(I, $b, $c, $d, $a, $m[13], 0x4e08_11a1, 21);
        $step!(I, $a, $b, $c, $d, $m[4], 0xf753_7e82, 6);
        $step!(I, $d, $a, $b, $c, $m[11], 0xbd3a_f235, 10);
        $step!(I, $c, $d, $a, $b, $m[2], 0x2ad7_d2bb, 15);
        $step!(I, $b, $c, $d, $a, $m[9], 0xeb86_d391, 21);
    };
}
#[allow(unused_imports)]
pub(crate) use md5_schedule;

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the schedule on plain `u32`s, recording (message index, constant, rotation).
    fn schedule() -> Vec<(usize, u32, u32)> {
        let mut out = Vec::new();
        let m: [usize; 16] = core::array::from_fn(|i| i);
        let (mut a, mut b, mut c, mut d) = (0u32, 0u32, 0u32, 0u32);
        macro_rules! record {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
                out.push(($m, $k, $s));
                let _ = (&mut $a, &mut $b, &mut $c, &mut $d);
            };
        }
        md5_schedule!(record, a, b, c, d, m);
        let _ = (a, b, c, d);
        out
    }

    #[test]
    fn the_schedule_uses_the_rfc_constants_message_order_and_rotations() {
        let steps = schedule();
        assert_eq!(steps.len(), 64);
        let shifts = [
            [7, 12, 17, 22],
            [5, 9, 14, 20],
            [4, 11, 16, 23],
            [6, 10, 15, 21],
        ];
        for (i, &(g, k, s)) in steps.iter().enumerate() {
            let expected_g = match i / 16 {
                0 => i,
                1 => (5 * i + 1) % 16,
                2 => (3 * i + 5) % 16,
                _ => (7 * i) % 16,
            };
            assert_eq!(g, expected_g, "message word of step {i}");
            assert_eq!(k, K[i], "constant of step {i}");
            assert_eq!(s, shifts[i / 16][i % 4], "rotation of step {i}");
            let sine = ((i + 1) as f64).sin().abs() * 4_294_967_296.0;
            assert_eq!(k, sine as u32, "K[{i}] is floor(2^32 |sin(i+1)|)");
        }
    }
}
