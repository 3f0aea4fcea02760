//! md5lanes against md-5 (the oracle), on every path this CPU runs: RFC 1321's vectors, lengths
//! around block boundaries, and random stream counts, lengths, chunkings and lane mixes.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::OnceLock;

use md5::{Digest, Md5};
use md5lanes::{LaneState, Path, digest_many, update_many};
use proptest::prelude::*;

fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// A small xorshift generator: the tests draw many numbers from one proptest seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const POOL_LEN: usize = 4 << 20;

/// 4 MiB of pseudo-random bytes; streams are slices of it at random offsets.
fn pool() -> &'static [u8] {
    static POOL: OnceLock<Vec<u8>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut rng = Rng::new(15);
        (0..POOL_LEN).map(|_| rng.next() as u8).collect()
    })
}

#[test]
fn rfc_1321_vectors_hash_right_on_every_available_path() {
    let vectors: [(&str, &str); 7] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            "abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];
    let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for path in Path::available() {
        let inputs: Vec<&[u8]> = vectors.iter().map(|(m, _)| m.as_bytes()).collect();
        let digests = digest_many(path, &inputs);
        for ((message, expected), digest) in vectors.iter().zip(digests) {
            assert_eq!(hex(digest), *expected, "{path}: MD5({message:?})");
        }
        // The same vectors each alone, and each in a batch of copies that fills all lanes.
        for (message, expected) in vectors {
            assert_eq!(hex(digest_many(path, &[message.as_bytes()])[0]), expected);
            let copies = vec![message.as_bytes(); path.lanes() + 1];
            for digest in digest_many(path, &copies) {
                assert_eq!(
                    hex(digest),
                    expected,
                    "{path}: MD5({message:?}) in a full batch"
                );
            }
        }
    }
    for (message, expected) in vectors {
        let mut state = LaneState::new();
        state.update_scalar(message.as_bytes());
        assert_eq!(
            hex(state.finish()),
            expected,
            "update_scalar: MD5({message:?})"
        );
    }
}

const BOUNDARY_LENGTHS: &[usize] = &[
    0, 1, 2, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 183, 184, 191, 192, 193, 255,
    256, 257, 1000, 4095, 4096, 4097, 65535, 65536, 65537,
];

#[test]
fn lengths_around_block_boundaries_hash_right_on_every_path_alone_and_together() {
    let pool = pool();
    let inputs: Vec<&[u8]> = BOUNDARY_LENGTHS
        .iter()
        .enumerate()
        .map(|(i, &len)| &pool[i * 977..i * 977 + len])
        .collect();
    let expected: Vec<[u8; 16]> = inputs.iter().map(|i| md5(i)).collect();
    for path in Path::available() {
        assert_eq!(digest_many(path, &inputs), expected, "{path}, all together");
        for (input, expected) in inputs.iter().zip(&expected) {
            assert_eq!(
                digest_many(path, &[input])[0],
                *expected,
                "{path}, {} alone",
                input.len()
            );
        }
        // Fed one byte short, then the last byte: the tail top-up goes through the kernel.
        let mut states = vec![LaneState::new(); inputs.len()];
        let heads: Vec<&[u8]> = inputs
            .iter()
            .map(|i| &i[..i.len().saturating_sub(1)])
            .collect();
        let lasts: Vec<&[u8]> = inputs
            .iter()
            .map(|i| &i[i.len().saturating_sub(1)..])
            .collect();
        update_many(path, &mut states.iter_mut().collect::<Vec<_>>(), &heads);
        update_many(path, &mut states.iter_mut().collect::<Vec<_>>(), &lasts);
        let digests: Vec<[u8; 16]> = states.into_iter().map(LaneState::finish).collect();
        assert_eq!(digests, expected, "{path}, fed in two calls");
    }
}

#[test]
fn forty_uneven_streams_share_the_lanes_and_each_hashes_right() {
    let pool = pool();
    // Equal lengths, lengths differing by one block, and one long straggler that ends alone.
    let inputs: Vec<&[u8]> = (0..40)
        .map(|i| match i {
            0..10 => &pool[i * 64..i * 64 + 100_000],
            10..30 => &pool[i..i + 64 * (i + 1) + i],
            30..39 => &pool[..0],
            _ => &pool[7..7 + 3_000_000],
        })
        .collect();
    let expected: Vec<[u8; 16]> = inputs.iter().map(|i| md5(i)).collect();
    for path in Path::available() {
        assert_eq!(digest_many(path, &inputs), expected, "{path}");
    }
}

#[test]
fn update_scalar_and_update_many_can_take_turns_on_one_stream() {
    let data = &pool()[..10_000];
    for path in Path::available() {
        let mut alone = LaneState::new();
        let mut other = LaneState::new();
        let mut at = 0;
        for (i, piece) in [1usize, 63, 64, 65, 130, 7, 4000, 0, 5670]
            .into_iter()
            .enumerate()
        {
            let chunk = &data[at..at + piece];
            if i % 2 == 0 {
                alone.update_scalar(chunk);
            } else {
                update_many(path, &mut [&mut alone, &mut other], &[chunk, chunk]);
            }
            at += piece;
        }
        assert_eq!(at, data.len());
        assert_eq!(alone.len(), data.len() as u64);
        assert_eq!(alone.finish(), md5(data), "{path}");
    }
}

#[test]
fn a_call_without_streams_does_nothing() {
    for path in Path::available() {
        update_many(path, &mut [], &[]);
        assert!(digest_many(path, &[]).is_empty());
    }
}

#[test]
#[should_panic(expected = "one input per stream")]
fn states_and_inputs_of_different_counts_are_refused() {
    update_many(Path::Scalar, &mut [&mut LaneState::new()], &[]);
}

#[test]
fn detection_picks_the_widest_available_path_and_names_round_trip() {
    let available = Path::available();
    assert_eq!(available[0], Path::Scalar);
    assert_eq!(Path::detect(), *available.last().unwrap());
    for window in available.windows(2) {
        assert!(window[0].lanes() < window[1].lanes());
    }
    for path in available {
        assert_eq!(Path::from_name(path.name()), Ok(path));
    }
    let err = Path::from_name("sse9").unwrap_err();
    assert!(
        err.to_string().contains("unknown MD5 path \"sse9\""),
        "{err}"
    );
    eprintln!("paths on this CPU: {:?}", Path::available());
}

#[test]
fn a_path_this_cpu_lacks_is_refused_by_name_and_never_run() {
    for path in [Path::Avx2, Path::Avx512] {
        if path.is_available() {
            continue;
        }
        let err = Path::from_name(path.name()).unwrap_err();
        assert!(
            err.to_string().contains("not supported by this CPU"),
            "{err}"
        );
        let run = std::panic::catch_unwind(|| digest_many(path, &[b"abc", b"def"]));
        assert!(run.is_err(), "{path} must not run here");
    }
}

/// Feeds `lengths.len()` streams (random slices of the pool) with `path`, in random pieces over
/// several `update_many` calls, each call with a random subset of the streams (so batches mix
/// streams at different offsets, with and without partial tails), now and then a stream alone
/// through `update_scalar`; checks every digest against md-5.
fn feed_randomly_and_compare(path: Path, seed: u64, lengths: &[usize]) {
    let pool = pool();
    let mut rng = Rng::new(seed);
    let inputs: Vec<&[u8]> = lengths
        .iter()
        .map(|&len| {
            let start = rng.below(POOL_LEN - len + 1);
            &pool[start..start + len]
        })
        .collect();
    let mut states = vec![LaneState::new(); inputs.len()];
    let mut fed = vec![0usize; inputs.len()];
    while fed.iter().zip(&inputs).any(|(&f, i)| f < i.len()) {
        let mut picked_states = Vec::new();
        let mut pieces = Vec::new();
        for ((state, input), fed) in states.iter_mut().zip(&inputs).zip(&mut fed) {
            if rng.below(3) == 0 {
                continue; // not in this call
            }
            let left = input.len() - *fed;
            let piece = match rng.below(5) {
                0 => rng.below(130).min(left),
                1 => rng.below(5_000).min(left),
                2 => rng.below(300_000).min(left),
                3 => (64 * rng.below(1_000)).min(left),
                _ => left,
            };
            let chunk = &input[*fed..*fed + piece];
            *fed += piece;
            if rng.below(20) == 0 {
                state.update_scalar(chunk);
            } else {
                picked_states.push(state);
                pieces.push(chunk);
            }
        }
        update_many(path, &mut picked_states, &pieces);
    }
    for (i, (state, input)) in states.into_iter().zip(&inputs).enumerate() {
        assert_eq!(state.len(), input.len() as u64);
        assert_eq!(
            state.finish(),
            md5(input),
            "{path}: stream {i} of {}, {} bytes, seed {seed}",
            inputs.len(),
            input.len()
        );
    }
}

fn stream_length() -> impl Strategy<Value = usize> {
    // Mostly short streams (many tails, many block boundaries), some up to 3 MiB.
    prop_oneof![
        6 => 0usize..5_000,
        2 => (0usize..80).prop_map(|blocks| blocks * 64),
        1 => 0usize..(3 << 20),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_path_matches_md5_on_random_lengths_and_chunkings(
        seed in any::<u64>(),
        lengths in prop::collection::vec(stream_length(), 1..=40),
    ) {
        for path in Path::available() {
            feed_randomly_and_compare(path, seed, &lengths);
        }
    }

    #[test]
    fn every_path_matches_md5_for_each_count_of_streams_of_one_length(
        seed in any::<u64>(),
        count in 1usize..=40,
        len in 0usize..20_000,
    ) {
        for path in Path::available() {
            feed_randomly_and_compare(path, seed, &vec![len; count]);
        }
    }
}
