//! Kernel-level checks: each path's kernel against md-5's block function, lane by lane.

use super::*;
use proptest::prelude::*;

/// Every lane count, random chaining values, random blocks, and streams with more blocks than
/// the call compresses (those extra blocks must be left alone).
fn kernel_matches_md5_block_function(path: Path, seed: u64, nblocks: usize) {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let checked = Checked::new(path);
    for used in 1..=path.lanes() {
        let mut states: Vec<[u32; 4]> = (0..used)
            .map(|_| core::array::from_fn(|_| next() as u32))
            .collect();
        let data: Vec<Vec<[u8; 64]>> = (0..used)
            .map(|_| {
                let extra = (next() % 3) as usize;
                (0..nblocks + extra)
                    .map(|_| core::array::from_fn(|_| next() as u8))
                    .collect()
            })
            .collect();
        let mut expected = states.clone();
        for (state, blocks) in expected.iter_mut().zip(&data) {
            md5::block_api::compress(state, &blocks[..nblocks]);
        }
        let blocks: Vec<&[[u8; 64]]> = data.iter().map(Vec::as_slice).collect();
        checked.compress(&mut states, &blocks, nblocks);
        assert_eq!(
            states, expected,
            "{path} with {used} lanes, {nblocks} blocks"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_kernel_matches_md5s_block_function_in_every_lane_count(
        seed in any::<u64>(),
        nblocks in 0usize..5,
    ) {
        for path in Path::available() {
            kernel_matches_md5_block_function(path, seed, nblocks);
        }
    }
}

#[test]
#[should_panic(expected = "not supported by this CPU")]
#[cfg(not(target_arch = "x86_64"))]
fn an_x86_path_is_refused_elsewhere() {
    Checked::new(Path::Avx2);
}
