//! MD5 throughput of md5lanes per path and per number of concurrent streams, against md-5.
//!
//! Every stream is 64 MiB fed in 64 KiB chunks, all streams one chunk each per `update_many`
//! call (as a server feeding the chunks of concurrent parts as they arrive). Each row is the best
//! of three runs; CPU s/GB is user + system time of this process (getrusage) per 10^9 bytes.
//!
//! `cargo run --release -p md5lanes --example throughput -j 1 [MiB per stream]`

use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use md5lanes::{LaneState, Path, update_many};

const CHUNK: usize = 64 << 10;
const RUNS: usize = 3;

#[cfg(unix)]
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the `rusage` it is given; RUSAGE_SELF is a valid `who`.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// No getrusage here (this example is for the server's hosts): CPU s/GB reads 0.
#[cfg(not(unix))]
fn cpu_time() -> Duration {
    Duration::ZERO
}

/// Runs `hash` RUNS times; returns (MB/s, CPU s/GB) of the fastest run.
fn measure(bytes: usize, mut hash: impl FnMut()) -> (f64, f64) {
    let mut best: Option<(Duration, Duration)> = None;
    for _ in 0..RUNS {
        let (wall0, cpu0) = (Instant::now(), cpu_time());
        hash();
        let (wall, cpu) = (wall0.elapsed(), cpu_time() - cpu0);
        if best.is_none_or(|(w, _)| wall < w) {
            best = Some((wall, cpu));
        }
    }
    let (wall, cpu) = best.expect("RUNS > 0");
    let gb = bytes as f64 / 1e9;
    (gb * 1e3 / wall.as_secs_f64(), cpu.as_secs_f64() / gb)
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map_or(64, |a| a.parse().expect("MiB per stream"));
    let stream_len = mib << 20;
    // One pool; stream s starts 4 MiB + 64 B further than stream s-1, so concurrent streams
    // read different memory (and different alignments) at any moment.
    let pool_len = stream_len + 32 * ((4 << 20) + 64);
    let pool: Vec<u8> = (0..pool_len as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    let stream = |s: usize| {
        let start = s * ((4 << 20) + 64);
        &pool[start..start + stream_len]
    };

    println!(
        "md5lanes throughput: {mib} MiB per stream, {} KiB chunks, best of {RUNS}; detected path: {}",
        CHUNK >> 10,
        Path::detect()
    );
    println!(
        "{:<22} {:>8} {:>10} {:>10}",
        "path", "streams", "MB/s", "CPU s/GB"
    );
    for streams in [1, 2, 4, 8, 16, 32] {
        let (mbs, cpu) = measure(streams * stream_len, || {
            let mut hashers = vec![Md5::new(); streams];
            for at in (0..stream_len).step_by(CHUNK) {
                for (s, hasher) in hashers.iter_mut().enumerate() {
                    hasher.update(&stream(s)[at..(at + CHUNK).min(stream_len)]);
                }
            }
            for hasher in hashers {
                std::hint::black_box(hasher.finalize());
            }
        });
        println!(
            "{:<22} {streams:>8} {mbs:>10.0} {cpu:>10.2}",
            "md-5 (one by one)"
        );
    }
    for path in Path::available() {
        for streams in [1, 2, 4, 8, 16, 32] {
            let (mbs, cpu) = measure(streams * stream_len, || feed(path, streams, CHUNK, &stream));
            println!("{:<22} {streams:>8} {mbs:>10.0} {cpu:>10.2}", path.name());
        }
    }
    println!("\nragged chunks (1448 B, as TCP segments arrive), 16 streams:");
    for path in Path::available() {
        let (mbs, cpu) = measure(16 * stream_len, || feed(path, 16, 1448, &stream));
        println!("{:<22} {:>8} {mbs:>10.0} {cpu:>10.2}", path.name(), 16);
    }
}

/// Feeds `streams` streams `chunk` bytes at a time, all streams in each `update_many` call.
fn feed<'a>(path: Path, streams: usize, chunk: usize, stream: &impl Fn(usize) -> &'a [u8]) {
    let mut states = vec![LaneState::new(); streams];
    let len = stream(0).len();
    for at in (0..len).step_by(chunk) {
        let inputs: Vec<&[u8]> = (0..streams)
            .map(|s| &stream(s)[at..(at + chunk).min(len)])
            .collect();
        update_many(path, &mut states.iter_mut().collect::<Vec<_>>(), &inputs);
    }
    for state in states {
        std::hint::black_box(state.finish());
    }
}
