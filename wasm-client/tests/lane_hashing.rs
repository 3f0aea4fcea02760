//! The lane hasher (`src/lane_hashing.rs`, what each hashing worker runs) against md-5: parts at
//! edge sizes alone and all at once, parts of different lengths and stream chunkings at once, and
//! one part cancelled mid-way while the others finish.
//!
//! Runs on the test page's own thread (the hasher is the same there as in a worker), in both builds:
//! `scripts/test-client.sh` runs this suite again built with `-C target-feature=+simd128`, where
//! up to 4 parts share the SIMD lanes; in the scalar build they take turns.

use futures_util::future::join_all;
use partup::lane_hashing::{LaneHasher, hash_lanes};
use partup::timers::{now_ms, sleep_ms};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

const EDGE_SIZES: [u64; 10] = [
    0,
    1,
    63,
    64,
    65,
    MIB - 1,
    MIB,
    MIB + 1,
    3 * MIB + 64,
    5 * MIB + 3,
];

async fn digest(hasher: &LaneHasher, id: u32, blob: &web_sys::Blob) -> Result<String, JsValue> {
    let hex = JsFuture::from(hasher.hash(id, blob)).await?;
    Ok(hex.as_string().expect("a hex string"))
}

/// Every file hashed at once by `hasher`, file `i` as part `i`; the digests in the files' order.
async fn digest_each(hasher: &LaneHasher, files: &[web_sys::File]) -> Vec<Result<String, JsValue>> {
    join_all(
        files
            .iter()
            .enumerate()
            .map(|(i, file)| digest(hasher, i as u32, file)),
    )
    .await
}

#[wasm_bindgen_test]
fn the_simd128_build_hashes_4_parts_at_once_and_the_scalar_build_1() {
    let expected = if cfg!(target_feature = "simd128") {
        4
    } else {
        1
    };
    assert_eq!(hash_lanes(), expected);
}

#[wasm_bindgen_test]
async fn each_edge_size_alone_matches_md5() {
    let hasher = LaneHasher::new();
    for (i, len) in EDGE_SIZES.into_iter().enumerate() {
        let seed = 1500 + i as u64;
        let file = make_file(len, seed, "f.bin");
        let hex = digest(&hasher, i as u32, &file).await.expect("hashed");
        assert_eq!(hex, md5_hex(len, seed), "{len} bytes");
    }
}

#[wasm_bindgen_test]
async fn every_edge_size_at_once_matches_md5() {
    let hasher = LaneHasher::new();
    let files: Vec<_> = EDGE_SIZES
        .iter()
        .enumerate()
        .map(|(i, &len)| make_file(len, 1520 + i as u64, "f.bin"))
        .collect();
    let digests = digest_each(&hasher, &files).await;
    for (i, (len, hex)) in EDGE_SIZES.iter().zip(digests).enumerate() {
        assert_eq!(
            hex.expect("hashed"),
            md5_hex(*len, 1520 + i as u64),
            "{len} bytes"
        );
    }
}

#[wasm_bindgen_test]
async fn four_parts_of_different_lengths_and_chunkings_at_once_match_md5() {
    let hasher = LaneHasher::new();
    // Blobs built from pieces of different sizes: the streams hand over chunks of different sizes,
    // so the parts run out of buffered bytes at different times and rounds mix them.
    let parts: [(u64, usize); 4] = [
        (3 * MIB + 1, 4096),
        (2 * MIB, 65_536),
        (MIB + 63, MIB as usize),
        (7 * MIB + 5, 200_000),
    ];
    let files: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, &(len, piece))| make_file_of_pieces(len, piece, 1540 + i as u64, "f.bin"))
        .collect();
    // A fifth part joins while the four are being hashed.
    let late = make_file(MIB + 17, 1549, "late.bin");
    let four = digest_each(&hasher, &files);
    let fifth = async {
        sleep_ms(5.0).await;
        digest(&hasher, 9, &late).await
    };
    let (digests, late_hex) = futures_util::join!(four, fifth);
    for (i, ((len, _), hex)) in parts.iter().zip(digests).enumerate() {
        assert_eq!(
            hex.expect("hashed"),
            md5_hex(*len, 1540 + i as u64),
            "{len} bytes"
        );
    }
    assert_eq!(late_hex.expect("hashed"), md5_hex(MIB + 17, 1549));
}

#[wasm_bindgen_test]
async fn a_part_cancelled_mid_way_stops_alone_and_the_others_finish() {
    let hasher = LaneHasher::new();
    let lengths = [16 * MIB + 3, 16 * MIB, 16 * MIB + 64, 16 * MIB - 1];
    let files: Vec<_> = lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| make_file(len, 1560 + i as u64, "f.bin"))
        .collect();
    let victim = 2u32;
    let digests = digest_each(&hasher, &files);
    let cancel = async {
        // The hasher gives the event loop a turn at least every 16 ms of rounds.
        let deadline = now_ms() + 30_000.0;
        let at_cancel = loop {
            let hashed = hasher
                .hashed_bytes(victim)
                .expect("the victim is still hashing");
            if hashed > 0.0 {
                break hashed;
            }
            assert!(now_ms() < deadline, "the victim was never hashed");
            sleep_ms(1.0).await;
        };
        hasher.cancel(victim);
        assert_eq!(
            hasher.hashed_bytes(victim),
            None,
            "forgotten once cancelled"
        );
        at_cancel
    };
    let (digests, at_cancel) = futures_util::join!(digests, cancel);
    assert!(
        at_cancel < lengths[victim as usize] as f64,
        "cancelled after {at_cancel} bytes"
    );
    console_log!(
        "cancelled after {at_cancel} of {} bytes",
        lengths[victim as usize]
    );
    for (i, (len, hex)) in lengths.iter().zip(digests).enumerate() {
        if i == victim as usize {
            let error = hex.expect_err("cancelled");
            assert_eq!(error_code(&error), "Cancelled");
        } else {
            assert_eq!(
                hex.expect("hashed"),
                md5_hex(*len, 1560 + i as u64),
                "{len} bytes"
            );
        }
    }
    // The hasher goes on with new parts afterwards.
    let file = make_file(65, 1569, "f.bin");
    assert_eq!(digest(&hasher, 7, &file).await.unwrap(), md5_hex(65, 1569));
}
