//! The wasm paths against md-5, in node (`wasm-bindgen-test-runner`). Run both builds:
//!
//! ```sh
//! export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
//! cargo test -p md5lanes --target wasm32-unknown-unknown --test wasm
//! RUSTFLAGS="-C target-feature=+simd128" cargo test -p md5lanes --target wasm32-unknown-unknown --test wasm
//! ```
#![cfg(target_arch = "wasm32")]

use md5::{Digest, Md5};
use md5lanes::{LaneState, Path, digest_many, update_many};
use wasm_bindgen_test::wasm_bindgen_test;

/// Deterministic bytes; stream `s` is a different slice of them.
fn pool(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[wasm_bindgen_test]
fn the_simd128_build_detects_simd128_and_the_plain_build_scalar() {
    let expected = if cfg!(target_feature = "simd128") {
        "simd128"
    } else {
        "scalar"
    };
    assert_eq!(Path::detect().name(), expected);
    assert_eq!(Path::from_name(expected).map(Path::name), Ok(expected));
    assert!(Path::from_name("avx2").is_err());
}

#[wasm_bindgen_test]
fn every_wasm_path_matches_md5_on_boundary_lengths_and_uneven_streams() {
    let pool = pool(300_000);
    let lengths = [
        0usize, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4095, 4096, 4097, 65_537,
        200_000,
    ];
    let inputs: Vec<&[u8]> = lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| &pool[i * 101..i * 101 + len])
        .collect();
    let expected: Vec<[u8; 16]> = inputs.iter().map(|i| Md5::digest(i).into()).collect();
    for path in Path::available() {
        assert_eq!(digest_many(path, &inputs), expected, "{path}, all together");
        for (count, _) in inputs.iter().enumerate().skip(1) {
            assert_eq!(
                digest_many(path, &inputs[..count]),
                expected[..count],
                "{path}, {count}"
            );
        }
        // In uneven pieces over several calls, a different subset of streams each time.
        let mut states = vec![LaneState::new(); inputs.len()];
        let mut fed = vec![0usize; inputs.len()];
        for round in 0usize.. {
            let mut picked = Vec::new();
            let mut pieces = Vec::new();
            for (i, (state, input)) in states.iter_mut().zip(&inputs).enumerate() {
                if (i + round) % 3 == 0 || fed[i] == input.len() {
                    continue;
                }
                let piece = (37 * (i + 1) * (round + 1) % 9000).min(input.len() - fed[i]);
                pieces.push(&input[fed[i]..fed[i] + piece]);
                fed[i] += piece;
                picked.push(state);
            }
            if picked.is_empty() && fed.iter().zip(&inputs).all(|(f, i)| *f == i.len()) {
                break;
            }
            update_many(path, &mut picked, &pieces);
        }
        let digests: Vec<[u8; 16]> = states.into_iter().map(LaneState::finish).collect();
        assert_eq!(digests, expected, "{path}, in pieces");
    }
}
