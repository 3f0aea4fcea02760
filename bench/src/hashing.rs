//! Row 14: MD5 hashing alone (no network, no disk writes), MB/s and CPU seconds per GB of
//!
//! - the server's MD5 engine (`partup_server::storage::Md5Engine`, default engine threads), fed
//!   the way the server feeds it: N tokio tasks, each streaming its part to its own
//!   `PartHasher` in `Bytes` chunks of 64 KiB (and, for the path `auto` picks, 16 KiB, about what
//!   hyper hands over), one engine; each available path forced in turn (`--md5-path`);
//! - md-5 single-stream, what the server did before the engine: each of the N tasks hashes its
//!   own part with `md5::Md5`, the same chunks;
//! - `md5sum` (coreutils), N files hashed by N processes in parallel, the files in the page cache.
//!
//! The paths are detected at run time (`md5lanes::Path::available`), never assumed. Every hasher
//! must give every stream the same digest. CPU time is getrusage's user + system: RUSAGE_SELF
//! for the in-process hashers (every thread of this process: the runtime's workers and the
//! engine's thread), RUSAGE_CHILDREN for the md5sum processes. Within each stream count, the
//! order of the hashers rotates per round.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use md5::{Digest, Md5};
use md5lanes::Path;
use partup_server::storage::Md5Engine;
use serde::Serialize;

use crate::rows::Row;
use crate::stats::{mb_per_s, median};

const MIB: usize = 1 << 20;
const LEVELS: [usize; 4] = [1, 4, 8, 16];
/// The chunk size of the main figures (the server's reads are of this order under load).
const CHUNK: usize = 64 << 10;
/// About what hyper hands over per body frame.
const SMALL_CHUNK: usize = 16 << 10;
/// The bytes the streams are cut from: stream `s` starts `s * STRIDE` bytes in and wraps
/// around, so concurrent streams read different memory. Both are multiples of both chunk sizes,
/// so no chunk straddles the wrap.
const POOL: usize = 64 * MIB;
const STRIDE: usize = 4 * MIB + CHUNK;

pub struct Settings {
    pub work: PathBuf,
    pub quick: bool,
}

/// One hasher's figures at one stream count, one value per round.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    pub streams: usize,
    pub mb_per_s: Vec<f64>,
    pub cpu_s_per_gb: Vec<f64>,
}

/// One line of the per-path table.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub label: String,
    pub cells: Vec<Cell>,
}

/// Everything hash-rows measured, for bench/report.mjs's table of every path.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HashMatrix {
    pub mib_per_stream: usize,
    pub chunk_kib: usize,
    pub available: Vec<String>,
    pub auto: String,
    pub engine_threads: usize,
    pub series: Vec<Series>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub hash_matrix: HashMatrix,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Hasher {
    /// md-5, one tokio task per stream.
    Md5Crate,
    /// The engine on this path, `chunk`-byte `Bytes`.
    Engine(Path, usize),
    /// coreutils' md5sum, one process per file.
    Md5sum,
}

impl Hasher {
    fn label(self, auto: Path) -> String {
        match self {
            Hasher::Md5Crate => {
                "md-5, one tokio task per stream (the server before the engine)".into()
            }
            Hasher::Md5sum => {
                "md5sum (coreutils), one process per file, files in the page cache".into()
            }
            Hasher::Engine(path, chunk) => format!(
                "MD5 engine, --md5-path {}{}, {} KiB chunks",
                path.name(),
                if path == auto { " (= auto)" } else { "" },
                chunk >> 10
            ),
        }
    }
}

/// The bytes of every stream, and each stream's digest once one hasher has computed it (every
/// other hasher must agree).
struct Streams {
    pool: Bytes,
    len: usize,
    digests: Mutex<HashMap<usize, [u8; 16]>>,
}

impl Streams {
    /// Stream `s`'s chunk at `at` (a multiple of `chunk`).
    fn chunk(&self, s: usize, at: usize, chunk: usize) -> Bytes {
        let start = (s * STRIDE + at) % POOL;
        let len = chunk.min(self.len - at);
        self.pool.slice(start..start + len)
    }

    fn check(&self, s: usize, digest: [u8; 16], who: &str) {
        let mut digests = self.digests.lock().unwrap();
        let expected = *digests.entry(s).or_insert(digest);
        assert_eq!(digest, expected, "{who} gave stream {s} another MD5");
    }
}

/// User + system CPU seconds of `who` (RUSAGE_SELF or RUSAGE_CHILDREN) so far.
fn cpu_secs(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the `rusage` it is given; `who` is one of the two constants.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(who, &mut usage), 0);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Hashes streams `0..n` in this process; returns (wall seconds, CPU seconds).
async fn hash_in_process(hasher: Hasher, n: usize, streams: &Arc<Streams>) -> (f64, f64) {
    // Built before the clock starts (the engine's thread starts here).
    let engine = match hasher {
        Hasher::Engine(path, _) => Some(
            Md5Engine::from_setting(path.name(), 0).expect("the path was detected on this CPU"),
        ),
        _ => None,
    };
    let chunk = match hasher {
        Hasher::Engine(_, chunk) => chunk,
        _ => CHUNK,
    };
    let (cpu0, started) = (cpu_secs(libc::RUSAGE_SELF), Instant::now());
    let tasks: Vec<_> = (0..n)
        .map(|s| {
            let streams = streams.clone();
            let engine = engine.clone();
            tokio::spawn(async move {
                let len = streams.len;
                let digest: [u8; 16] = match engine {
                    Some(engine) => {
                        let mut part = engine.part();
                        for at in (0..len).step_by(chunk) {
                            part.update(streams.chunk(s, at, chunk)).await;
                        }
                        part.finish().await
                    }
                    None => {
                        let mut md5 = Md5::new();
                        for at in (0..len).step_by(chunk) {
                            md5.update(streams.chunk(s, at, chunk));
                        }
                        md5.finalize().into()
                    }
                };
                (s, digest)
            })
        })
        .collect();
    let mut digests = Vec::with_capacity(n);
    for task in tasks {
        digests.push(task.await.expect("hashing task"));
    }
    let (secs, cpu) = (
        started.elapsed().as_secs_f64(),
        cpu_secs(libc::RUSAGE_SELF) - cpu0,
    );
    for (s, digest) in digests {
        streams.check(s, digest, &format!("{hasher:?}"));
    }
    (secs, cpu)
}

/// `md5sum FILE` for files `0..n`, all at once; returns (wall seconds, the children's CPU seconds).
fn hash_with_md5sum(files: &[PathBuf], n: usize, streams: &Streams) -> (f64, f64) {
    use std::process::{Command, Stdio};
    let (cpu0, started) = (cpu_secs(libc::RUSAGE_CHILDREN), Instant::now());
    let children: Vec<_> = files[..n]
        .iter()
        .map(|file| {
            Command::new("md5sum")
                .arg(file)
                .stdout(Stdio::piped())
                .spawn()
                .expect("run md5sum")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("md5sum's output"))
        .collect();
    let (secs, cpu) = (
        started.elapsed().as_secs_f64(),
        cpu_secs(libc::RUSAGE_CHILDREN) - cpu0,
    );
    for (s, output) in outputs.iter().enumerate() {
        assert!(output.status.success(), "md5sum failed");
        let text = String::from_utf8_lossy(&output.stdout);
        let hex = text.split_whitespace().next().unwrap_or_default();
        let mut digest = [0u8; 16];
        for (i, byte) in digest.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("md5sum prints hex");
        }
        streams.check(s, digest, "md5sum");
    }
    (secs, cpu)
}

/// Writes stream `s` into `dir/stream-S.bin` for md5sum; the files stay in the page cache
/// (written just now, flushed by one `sync` so no writeback runs during the timed steps).
fn write_md5sum_files(dir: &FsPath, streams: &Streams, n: usize) -> Vec<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir).expect("hash-rows work dir");
    let files: Vec<PathBuf> = (0..n)
        .map(|s| dir.join(format!("stream-{s:02}.bin")))
        .collect();
    for (s, path) in files.iter().enumerate() {
        let mut file = std::fs::File::create(path).expect("md5sum input file");
        for at in (0..streams.len).step_by(CHUNK) {
            file.write_all(&streams.chunk(s, at, CHUNK))
                .expect("write md5sum input");
        }
    }
    crate::baseline::sync_all();
    files
}

fn log(message: &str) {
    eprintln!("[bench] {message}");
}

pub async fn run(settings: &Settings) -> Report {
    let mib = if settings.quick { 32 } else { 256 };
    let rounds = if settings.quick { 2 } else { 3 };
    let streams = Arc::new(Streams {
        pool: Bytes::from(partup_testkit::test_bytes(15, POOL)),
        len: mib * MIB,
        digests: Mutex::new(HashMap::new()),
    });
    let md5sum_dir = settings.work.join("md5sum-input");
    let files = write_md5sum_files(&md5sum_dir, &streams, *LEVELS.iter().max().unwrap());

    let available = Path::available();
    let auto = Path::detect();
    let threads = engine_threads();
    let mut hashers = vec![Hasher::Md5Crate, Hasher::Md5sum];
    hashers.extend(available.iter().map(|&path| Hasher::Engine(path, CHUNK)));
    hashers.push(Hasher::Engine(auto, SMALL_CHUNK));
    let mut series: Vec<Series> = hashers
        .iter()
        .map(|h| Series {
            label: h.label(auto),
            cells: Vec::new(),
        })
        .collect();

    for n in LEVELS {
        let mut cells: Vec<Cell> = hashers
            .iter()
            .map(|_| Cell {
                streams: n,
                ..Cell::default()
            })
            .collect();
        let gb = (n * streams.len) as f64 / 1e9;
        for round in 0..rounds {
            let mut said = Vec::new();
            for step in 0..hashers.len() {
                let index = (step + round) % hashers.len();
                let hasher = hashers[index];
                let (secs, cpu) = match hasher {
                    Hasher::Md5sum => {
                        let (files, streams) = (files.clone(), streams.clone());
                        tokio::task::spawn_blocking(move || hash_with_md5sum(&files, n, &streams))
                            .await
                            .expect("md5sum run")
                    }
                    _ => hash_in_process(hasher, n, &streams).await,
                };
                let speed = mb_per_s((n * streams.len) as u64, secs);
                cells[index].mb_per_s.push(speed);
                cells[index].cpu_s_per_gb.push(cpu / gb);
                said.push(format!(
                    "{} {speed:.0} MB/s {:.2} CPU s/GB",
                    short_name(hasher),
                    cpu / gb
                ));
            }
            log(&format!(
                "row 14, {n} stream(s) of {mib} MiB, round {}: {}",
                round + 1,
                said.join(", ")
            ));
        }
        for (series, cell) in series.iter_mut().zip(cells) {
            series.cells.push(cell);
        }
    }
    let _ = std::fs::remove_dir_all(&md5sum_dir);

    let find = |h: Hasher| &series[hashers.iter().position(|x| *x == h).unwrap()];
    let (engine, md5_crate, md5sum, small) = (
        find(Hasher::Engine(auto, CHUNK)),
        find(Hasher::Md5Crate),
        find(Hasher::Md5sum),
        find(Hasher::Engine(auto, SMALL_CHUNK)),
    );
    let rows = LEVELS
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let (e, m, s, k) = (
                &engine.cells[i],
                &md5_crate.cells[i],
                &md5sum.cells[i],
                &small.cells[i],
            );
            let ratios: Vec<f64> = e.mb_per_s.iter().zip(&m.mb_per_s).map(|(a, b)| a / b).collect();
            let vs_md5sum: Vec<f64> = e.mb_per_s.iter().zip(&s.mb_per_s).map(|(a, b)| a / b).collect();
            Row {
                id: format!("14 ({n} stream{})", if n == 1 { "" } else { "s" }),
                title: format!(
                    "MD5 alone, {n} concurrent stream{} of {mib} MiB from memory, {} KiB Bytes chunks",
                    if n == 1 { "" } else { "s" },
                    CHUNK >> 10
                ),
                unit: "MB/s".into(),
                subject_label: format!(
                    "MD5 engine (auto = {}, {} engine thread{})",
                    auto.name(),
                    threads,
                    if threads == 1 { "" } else { "s" }
                ),
                subject: e.mb_per_s.clone(),
                baseline_label: Some("md-5, one tokio task per stream".into()),
                baseline: m.mb_per_s.clone(),
                ratios,
                target: "reported".into(),
                holds: true,
                detail: format!(
                    "md5sum × {n}: {:.0} MB/s (engine ÷ md5sum {:.2}×); CPU s/GB: engine {:.2}, md-5 {:.2}, md5sum {:.2}; engine with {} KiB chunks {:.0} MB/s",
                    median(&s.mb_per_s),
                    median(&vs_md5sum),
                    median(&e.cpu_s_per_gb),
                    median(&m.cpu_s_per_gb),
                    median(&s.cpu_s_per_gb),
                    SMALL_CHUNK >> 10,
                    median(&k.mb_per_s),
                ),
            }
        })
        .collect();
    let notes = vec![format!(
        "Row 14: MD5 paths available on this CPU: {}; `--md5-path auto` picks {}.",
        available
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        auto.name()
    )];
    Report {
        rows,
        notes,
        hash_matrix: HashMatrix {
            mib_per_stream: mib,
            chunk_kib: CHUNK >> 10,
            available: available.iter().map(|p| p.name().to_owned()).collect(),
            auto: auto.name().to_owned(),
            engine_threads: threads,
            series,
        },
    }
}

/// The engine threads `--md5-threads 0` (the default) gives on this machine.
fn engine_threads() -> usize {
    Md5Engine::from_setting("auto", 0)
        .expect("auto always works")
        .threads()
}

fn short_name(hasher: Hasher) -> String {
    match hasher {
        Hasher::Md5Crate => "md-5".into(),
        Hasher::Md5sum => "md5sum".into(),
        Hasher::Engine(path, CHUNK) => path.name().into(),
        Hasher::Engine(path, chunk) => format!("{} ({} KiB)", path.name(), chunk >> 10),
    }
}
