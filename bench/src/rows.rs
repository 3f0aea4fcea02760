//! The server rows of BENCHMARKS.md, each pair run interleaved (the order alternates per round) so
//! that load from elsewhere on the machine hits both sides alike. Every timed step starts after a
//! global `sync`, so no step pays for the previous one's dirty pages.
//!
//! - 3: ingest MB/s of 8, 32 and 128 concurrent clients vs `dd conv=fsync` of the same bytes and
//!   vs the no-HTTP floor (floor.rs); p50/p99 part latency, server CPU s/GB. With
//!   `--baseline-server-bin`, also the previous build under the same load in the same rounds:
//!   ingest, CPU s/GB and p99 against it.
//! - 3-S3: the same ingest against one instance on the S3 store (Garage) vs one on the filesystem.
//! - 4: peak RSS of a fresh server while 8 clients upload 100 MiB parts.
//! - 5: uploadComplete of 1,000 parts vs `cat` of the same part files into one (+ `sync FILE`),
//!   both starting with the parts out of the page cache.
//! - 5b (with `--xfs-dir`): the browser's upload shape, 32 parts of 8 MiB completed right after they
//!   arrived, on an XFS filesystem (whose `copy_file_range` shares the parts' extents with the
//!   object instead of copying them) vs on the data disk's filesystem; the same parts, rounds
//!   interleaved.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use partup_testkit::{ServerProcess, TestStore};
use serde::Serialize;

use crate::baseline::{cat_into, dd_copy, evict_from_page_cache, sync_all};
use crate::floor;
use crate::load::{PartPool, abort_all, ingest, load_api};
use crate::stats::{mb_per_s, median, percentile};

const MIB: usize = 1 << 20;

pub struct Settings {
    pub server_bin: PathBuf,
    /// Row 3 also measures this server (the previous build) in the same rounds.
    pub baseline_server_bin: Option<PathBuf>,
    /// What the previous build is, for the table (e.g. its git revision).
    pub baseline_label: String,
    pub work: PathBuf,
    pub quick: bool,
    pub s3: bool,
    /// Run only these rows ("3", "s3", "4", "5", "5b"), for development; the report needs all of them.
    pub only: Option<Vec<String>>,
    /// An XFS mount (reflink on) for row 5b; without it, the row is left out.
    pub xfs_dir: Option<PathBuf>,
}

impl Settings {
    fn wants(&self, row: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|rows| rows.iter().any(|r| r == row))
    }
}

/// One row of the table, with every round's figure (bench/report.mjs formats it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub id: String,
    pub title: String,
    pub unit: String,
    pub subject_label: String,
    pub subject: Vec<f64>,
    pub baseline_label: Option<String>,
    pub baseline: Vec<f64>,
    /// subject / baseline per round (higher is better).
    pub ratios: Vec<f64>,
    pub target: String,
    pub holds: bool,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// A fresh `partup-server` on `store`, data in `data_dir`, its log in `data_dir`.log: started anew
/// for each row so its peak RSS (`VmHWM`) belongs to that row alone.
async fn start_server(binary: &Path, data_dir: &Path, store: &TestStore) -> ServerProcess {
    std::fs::create_dir_all(data_dir).expect("create the data dir");
    let log = std::fs::File::create(data_dir.with_extension("log")).expect("server log");
    let mut command = ServerProcess::command(binary, data_dir, &data_dir.join("www"), store);
    command.stderr(log);
    // One process plays up to 128 clients, all from 127.0.0.1: the per-client cap on uploads in
    // progress (default 100) would refuse it. The rows measure throughput, not admission.
    command.args([
        "--max-uploads-per-client",
        "1000000",
        "--max-uploads",
        "1000000",
    ]);
    ServerProcess::start(command).await
}

pub(crate) fn log(message: &str) {
    eprintln!("[bench] {message}");
}

/// Writes the pool's parts, repeated, into a file of `bytes` bytes: the source `dd` copies.
fn write_dd_source(pool: &PartPool, path: &Path, parts: usize) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("dd source"));
    for i in 0..parts {
        file.write_all(&pool.get(i).0).expect("write dd source");
    }
    file.flush().unwrap();
}

/// Server CPU seconds (user + system) of process `pid` so far, from `/proc/PID/stat`.
fn process_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server's stat");
    // After the command name (in parentheses, which may hold spaces) come fields 3, 4, ...:
    // utime is field 14, stime field 15, both in clock ticks.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat's comm") + 1..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / per_second
}

/// One contender of row 3.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// The server under test.
    Partup,
    /// `--baseline-server-bin`: the previous build.
    Previous,
    Dd,
    /// The no-HTTP floor (floor.rs).
    Floor,
}

/// What one side measured at one client count, one value per round (`cpu_s_per_gb` and the
/// latencies for the servers and the floor only).
#[derive(Default)]
struct Figures {
    mb_per_s: Vec<f64>,
    cpu_s_per_gb: Vec<f64>,
    p99_ms: Vec<f64>,
    latencies_ms: Vec<f64>,
}

impl Figures {
    fn latency_text(&self) -> String {
        format!(
            "p50 {:.0} ms, p99 {:.0} ms",
            percentile(&self.latencies_ms, 50.0),
            percentile(&self.latencies_ms, 99.0)
        )
    }
}

/// One ingest run of `clients` clients against a server; its CPU time is read around it.
async fn server_run(
    server: &ServerProcess,
    api: &partup_testkit::Api,
    pool: &Arc<PartPool>,
    clients: usize,
    parts_total: u32,
    figures: &mut Figures,
) -> f64 {
    let cpu_before = process_cpu_secs(server.pid());
    let run = ingest(
        api,
        pool.clone(),
        clients,
        parts_total,
        false,
        "bench/ingest",
    )
    .await;
    let cpu = process_cpu_secs(server.pid()) - cpu_before;
    let speed = mb_per_s(run.bytes, run.secs);
    figures.mb_per_s.push(speed);
    figures.cpu_s_per_gb.push(cpu / (run.bytes as f64 / 1e9));
    figures.p99_ms.push(percentile(&run.latencies_ms, 99.0));
    figures.latencies_ms.extend_from_slice(&run.latencies_ms);
    abort_all(api, &run).await;
    speed
}

/// a ÷ b per round.
pub(crate) fn per_round(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a / b).collect()
}

async fn ingest_row(settings: &Settings, pool: Arc<PartPool>, rounds: usize) -> Vec<Row> {
    let levels = [8usize, 32, 128];
    let parts_total = 128u32;
    let part_mib = pool.part_size() / MIB;
    let bytes = parts_total as usize * pool.part_size();
    let dd_source = settings.work.join("dd-source.bin");
    write_dd_source(&pool, &dd_source, parts_total as usize);
    let dd_target = settings.work.join("dd-target.bin");
    let floor_dir = settings.work.join("floor-data");
    let server = start_server(
        &settings.server_bin,
        &settings.work.join("row3-data"),
        &TestStore::Fs,
    )
    .await;
    let api = load_api(&server.base_url());
    let previous = match &settings.baseline_server_bin {
        Some(bin) => {
            let process = start_server(
                bin,
                &settings.work.join("row3-previous-data"),
                &TestStore::Fs,
            )
            .await;
            let api = load_api(&process.base_url());
            Some((process, api))
        }
        None => None,
    };
    let previous_label = format!(
        "partup-server, previous build ({})",
        settings.baseline_label
    );
    let mut sides = vec![Side::Partup, Side::Dd, Side::Floor];
    if previous.is_some() {
        sides.insert(1, Side::Previous);
    }
    let mut rows = Vec::new();
    for clients in levels {
        let mut figures: Vec<Figures> = sides.iter().map(|_| Figures::default()).collect();
        for round in 0..rounds {
            let mut said = Vec::new();
            for step in 0..sides.len() {
                sync_all();
                let index = (step + round) % sides.len();
                let f = &mut figures[index];
                match sides[index] {
                    Side::Partup => {
                        let speed = server_run(&server, &api, &pool, clients, parts_total, f).await;
                        said.push(format!("partup {speed:.0}"));
                    }
                    Side::Previous => {
                        let (process, api) = previous.as_ref().expect("a previous build");
                        let speed = server_run(process, api, &pool, clients, parts_total, f).await;
                        said.push(format!("previous build {speed:.0}"));
                    }
                    Side::Dd => {
                        let speed = mb_per_s(bytes as u64, dd_copy(&dd_source, &dd_target));
                        let _ = std::fs::remove_file(&dd_target);
                        f.mb_per_s.push(speed);
                        said.push(format!("dd {speed:.0}"));
                    }
                    Side::Floor => {
                        let (pool, dir) = (pool.clone(), floor_dir.clone());
                        let run = tokio::task::spawn_blocking(move || {
                            floor::ingest(pool, clients, parts_total, &dir)
                        })
                        .await
                        .expect("floor run");
                        let speed = mb_per_s(run.bytes, run.secs);
                        f.mb_per_s.push(speed);
                        f.p99_ms.push(percentile(&run.latencies_ms, 99.0));
                        f.latencies_ms.extend_from_slice(&run.latencies_ms);
                        said.push(format!("no-HTTP floor {speed:.0}"));
                    }
                }
            }
            log(&format!(
                "row 3, {clients} clients, round {}: {} MB/s",
                round + 1,
                said.join(", ")
            ));
        }
        let side = |s: Side| &figures[sides.iter().position(|x| *x == s).unwrap()];
        let (partup, dd, floor) = (side(Side::Partup), side(Side::Dd), side(Side::Floor));
        let ratios = per_round(&partup.mb_per_s, &dd.mb_per_s);
        rows.push(Row {
            id: format!("3 ({clients} clients)"),
            title: format!(
                "Server ingest, {clients} concurrent clients, {parts_total} parts of {part_mib} MiB per round"
            ),
            unit: "MB/s".into(),
            subject_label: "partup-server (fs store)".into(),
            subject: partup.mb_per_s.clone(),
            baseline_label: Some("dd bs=1M conv=fsync, same bytes, same disk".into()),
            baseline: dd.mb_per_s.clone(),
            holds: median(&ratios) >= 0.6,
            ratios,
            target: "≥ 0.6× the copy".into(),
            detail: format!(
                "part latency {}; server CPU {:.2} s/GB",
                partup.latency_text(),
                median(&partup.cpu_s_per_gb)
            ),
        });
        if previous.is_some() {
            let old = side(Side::Previous);
            let ratios = per_round(&partup.mb_per_s, &old.mb_per_s);
            let (target, holds) = if clients == 32 {
                (
                    "≥ 1.5× the previous build".to_owned(),
                    median(&ratios) >= 1.5,
                )
            } else {
                ("reported (goal ≥ 1.5× at 32 clients)".to_owned(), true)
            };
            rows.push(Row {
                id: format!("3 ({clients} clients, vs previous build)"),
                title: format!(
                    "Server ingest against the previous build, same load ({clients} clients, {parts_total} parts of {part_mib} MiB), the two servers in interleaved rounds"
                ),
                unit: "MB/s".into(),
                subject_label: "partup-server (this build)".into(),
                subject: partup.mb_per_s.clone(),
                baseline_label: Some(previous_label.clone()),
                baseline: old.mb_per_s.clone(),
                ratios,
                target,
                holds,
                detail: format!(
                    "part latency: this build {}, previous {}",
                    partup.latency_text(),
                    old.latency_text()
                ),
            });
            let ratios = per_round(&partup.cpu_s_per_gb, &old.cpu_s_per_gb);
            rows.push(Row {
                id: format!("3 ({clients} clients, server CPU)"),
                title: format!(
                    "Server CPU seconds (user + system, /proc/PID/stat) per GB ingested, {clients} clients, against the previous build"
                ),
                unit: "CPU s/GB".into(),
                subject_label: "partup-server (this build)".into(),
                subject: partup.cpu_s_per_gb.clone(),
                baseline_label: Some(previous_label.clone()),
                baseline: old.cpu_s_per_gb.clone(),
                holds: median(&ratios) <= 0.6,
                ratios,
                target: "≤ 0.6× the previous build (≥ 40 % less CPU per GB)".into(),
                detail: String::new(),
            });
            let ratios = per_round(&partup.p99_ms, &old.p99_ms);
            rows.push(Row {
                id: format!("3 ({clients} clients, p99 latency)"),
                title: format!(
                    "p99 part latency of each round, {clients} clients, against the previous build"
                ),
                unit: "ms".into(),
                subject_label: "partup-server (this build)".into(),
                subject: partup.p99_ms.clone(),
                baseline_label: Some(previous_label.clone()),
                baseline: old.p99_ms.clone(),
                holds: median(&ratios) <= 1.0,
                ratios,
                target: "≤ 1.0× the previous build (not worse)".into(),
                detail: String::new(),
            });
        }
        let ratios = per_round(&partup.mb_per_s, &floor.mb_per_s);
        let previous_vs_floor = if previous.is_some() {
            let old = side(Side::Previous);
            format!(
                "; previous build ÷ floor {:.2}×",
                median(&per_round(&old.mb_per_s, &floor.mb_per_s))
            )
        } else {
            String::new()
        };
        rows.push(Row {
            id: format!("3 ({clients} clients, vs no-HTTP floor)"),
            title: format!(
                "Server ingest against the no-HTTP floor: {clients} loopback TCP streams, {parts_total} parts of {part_mib} MiB, each part MD5-hashed (md-5's md5::Md5, one stream at a time as md5sum does), written to its own file and fsynced"
            ),
            unit: "MB/s".into(),
            subject_label: "partup-server (fs store)".into(),
            subject: partup.mb_per_s.clone(),
            baseline_label: Some("no-HTTP floor (partup-bench, blocking threads)".into()),
            baseline: floor.mb_per_s.clone(),
            ratios,
            target: "reported".into(),
            holds: true,
            detail: format!(
                "floor part latency {}{previous_vs_floor}",
                floor.latency_text()
            ),
        });
    }
    let _ = std::fs::remove_file(&dd_source);
    drop(server);
    drop(previous);
    let _ = std::fs::remove_dir_all(settings.work.join("row3-data"));
    let _ = std::fs::remove_dir_all(settings.work.join("row3-previous-data"));
    rows
}

async fn s3_row(settings: &Settings, pool: Arc<PartPool>, rounds: usize, parts: u32) -> Row {
    let s3 = TestStore::s3_from_env("bench".into());
    let clients = 32;
    let fs_server = start_server(
        &settings.server_bin,
        &settings.work.join("s3row-fs"),
        &TestStore::Fs,
    )
    .await;
    let s3_server = start_server(&settings.server_bin, &settings.work.join("s3row-s3"), &s3).await;
    let (fs_api, s3_api) = (
        load_api(&fs_server.base_url()),
        load_api(&s3_server.base_url()),
    );
    let (mut subject, mut baseline, mut ratios, mut latencies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut on_s3 = 0.0;
        let mut on_fs = 0.0;
        for step in 0..2 {
            sync_all();
            let use_s3 = (step + round) % 2 == 0;
            let api = if use_s3 { &s3_api } else { &fs_api };
            let run = ingest(api, pool.clone(), clients, parts, false, "bench/s3").await;
            let speed = mb_per_s(run.bytes, run.secs);
            if use_s3 {
                on_s3 = speed;
                latencies.extend_from_slice(&run.latencies_ms);
            } else {
                on_fs = speed;
            }
            abort_all(api, &run).await;
        }
        log(&format!(
            "S3 row, round {}: S3 store {on_s3:.0} MB/s, fs store {on_fs:.0} MB/s",
            round + 1
        ));
        subject.push(on_s3);
        baseline.push(on_fs);
        ratios.push(on_s3 / on_fs);
    }
    drop((fs_server, s3_server));
    let _ = std::fs::remove_dir_all(settings.work.join("s3row-fs"));
    let _ = std::fs::remove_dir_all(settings.work.join("s3row-s3"));
    Row {
        id: "3-S3 (32 clients)".into(),
        title: format!(
            "Server ingest on the S3 store (one instance, Garage 2.5.0 on the same machine), {clients} clients, {parts} parts of {} MiB",
            pool.part_size() / MIB
        ),
        unit: "MB/s".into(),
        subject_label: "partup-server (S3 store → Garage)".into(),
        subject,
        baseline_label: Some("partup-server (fs store)".into()),
        baseline,
        ratios,
        target: "reported (issue 6)".into(),
        holds: true,
        detail: format!(
            "S3-store part latency p50 {:.0} ms, p99 {:.0} ms",
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0)
        ),
    }
}

async fn memory_row(settings: &Settings, parts: u32) -> Row {
    let pool = Arc::new(PartPool::new(100 * MIB, 2));
    let data = settings.work.join("row4-data");
    let server = start_server(&settings.server_bin, &data, &TestStore::Fs).await;
    let idle = server.rss_bytes();
    let api = load_api(&server.base_url());
    let run = ingest(&api, pool, 8, parts, false, "bench/memory").await;
    let peak = server.peak_rss_bytes();
    abort_all(&api, &run).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    let peak_mib = peak as f64 / MIB as f64;
    log(&format!("row 4: peak RSS {peak_mib:.1} MiB"));
    Row {
        id: "4".into(),
        title: format!("Server memory: 8 concurrent clients, {parts} parts of 100 MiB"),
        unit: "MiB".into(),
        subject_label: "partup-server peak RSS (VmHWM)".into(),
        subject: vec![peak_mib],
        baseline_label: None,
        baseline: vec![],
        ratios: vec![],
        target: "≤ 64 MiB".into(),
        holds: peak_mib <= 64.0,
        detail: format!(
            "RSS at start {:.1} MiB; ingest {:.0} MB/s",
            idle as f64 / MIB as f64,
            mb_per_s(run.bytes, run.secs)
        ),
    }
}

async fn complete_row(settings: &Settings, part_size: usize, rounds: usize) -> Row {
    let parts = 1000u32;
    let pool = Arc::new(PartPool::new(part_size, 16));
    let data = settings.work.join("row5-data");
    let server = start_server(&settings.server_bin, &data, &TestStore::Fs).await;
    let api = load_api(&server.base_url());
    let cat_target = settings.work.join("cat-target.bin");
    let (mut subject, mut baseline, mut ratios, mut setup) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let run = ingest(&api, pool.clone(), 8, parts, true, "bench/complete").await;
        setup.push(mb_per_s(run.bytes, run.secs));
        let (upload_id, listed) = &run.uploads[0];
        let files: Vec<PathBuf> = listed
            .iter()
            .map(|p| {
                data.join("uploads")
                    .join(upload_id)
                    .join("parts")
                    .join(format!("{:05}", p.0))
            })
            .collect();
        // cat first (complete consumes the parts); both read the parts from disk.
        sync_all();
        evict_from_page_cache(&files);
        let cat_secs = cat_into(&files, &cat_target);
        let _ = std::fs::remove_file(&cat_target);
        sync_all();
        std::thread::sleep(std::time::Duration::from_secs(1)); // let the freed blocks' discards settle
        evict_from_page_cache(&files);
        let started = std::time::Instant::now();
        let answer = api.complete(upload_id, listed).await;
        let complete_secs = started.elapsed().as_secs_f64();
        assert_eq!(answer.size, run.bytes);
        // Neither side may pay for freeing the other's output: the object goes now, untimed
        // (a later complete would otherwise replace it, unlinking GiBs inside its timing).
        let _ = std::fs::remove_dir_all(data.join("objects"));
        std::fs::create_dir_all(data.join("objects")).expect("objects dir");
        sync_all();
        std::thread::sleep(std::time::Duration::from_secs(1));
        let (partup, cat) = (
            mb_per_s(run.bytes, complete_secs),
            mb_per_s(run.bytes, cat_secs),
        );
        log(&format!(
            "row 5, round {}: complete {complete_secs:.2} s ({partup:.0} MB/s), cat {cat_secs:.2} s ({cat:.0} MB/s)",
            round + 1
        ));
        subject.push(partup);
        baseline.push(cat);
        ratios.push(partup / cat);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    let total_mib = parts as usize * part_size / MIB;
    Row {
        id: "5".into(),
        title: format!(
            "uploadComplete of {parts} parts of {} KiB ({total_mib} MiB), until the answer",
            part_size / 1024
        ),
        unit: "MB/s".into(),
        subject_label: "uploadComplete (fs store)".into(),
        subject,
        baseline_label: Some("cat of the same part files into one + sync FILE".into()),
        baseline,
        ratios: ratios.clone(),
        target: "≥ 1.0× cat".into(),
        holds: median(&ratios) >= 1.0,
        detail: format!(
            "setup: the parts uploaded by 8 clients at {:.0} MB/s (median)",
            median(&setup)
        ),
    }
}

/// Row 5b: the same upload completed on an XFS data dir and on the work dir's filesystem.
async fn complete_on_xfs_row(settings: &Settings, xfs_dir: &Path, rounds: usize) -> Row {
    let parts = 32u32;
    let pool = Arc::new(PartPool::new(8 * MIB, 16));
    let here = settings.work.join("row5b-data");
    let on_xfs = xfs_dir.join("row5b-data");
    let servers = [
        start_server(&settings.server_bin, &here, &TestStore::Fs).await,
        start_server(&settings.server_bin, &on_xfs, &TestStore::Fs).await,
    ];
    let (mut xfs, mut local, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut secs = [0.0f64; 2];
        // The order alternates per round; each side's object goes before the next round.
        let order = if round % 2 == 0 { [1, 0] } else { [0, 1] };
        for side in order {
            let api = load_api(&servers[side].base_url());
            let run = ingest(&api, pool.clone(), 4, parts, true, "bench/complete-fs").await;
            let (upload_id, listed) = &run.uploads[0];
            sync_all();
            let started = std::time::Instant::now();
            let answer = api.complete(upload_id, listed).await;
            secs[side] = started.elapsed().as_secs_f64();
            assert_eq!(answer.size, run.bytes);
            let data = if side == 0 { &here } else { &on_xfs };
            let _ = std::fs::remove_dir_all(data.join("objects"));
            std::fs::create_dir_all(data.join("objects")).expect("objects dir");
            sync_all();
        }
        log(&format!(
            "row 5b, round {}: complete on XFS {:.0} ms, on the data disk {:.0} ms",
            round + 1,
            secs[1] * 1e3,
            secs[0] * 1e3
        ));
        xfs.push(secs[1] * 1e3);
        local.push(secs[0] * 1e3);
        ratios.push(secs[0] / secs[1]);
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&here);
    let _ = std::fs::remove_dir_all(&on_xfs);
    Row {
        id: "5b".into(),
        title: format!(
            "uploadComplete of {parts} parts of 8 MiB ({} MiB) right after they arrived, until the answer",
            parts as usize * 8
        ),
        unit: "ms".into(),
        subject_label: "on XFS (a loop-mounted image, reflink on)".into(),
        subject: xfs,
        baseline_label: Some("on the data disk's filesystem".into()),
        baseline: local,
        ratios,
        target:
            "reported (how much sharing extents saves; lower ms is better, ratio = data disk ÷ XFS)"
                .into(),
        holds: true,
        detail: String::new(),
    }
}

pub async fn run_all(settings: &Settings) -> Report {
    std::fs::create_dir_all(&settings.work).expect("work dir");
    let rounds = if settings.quick { 2 } else { 3 };
    let mut notes = Vec::new();
    let pool = Arc::new(PartPool::new(8 * MIB, 16));
    let mut rows = Vec::new();
    if settings.wants("3") {
        rows.extend(ingest_row(settings, pool.clone(), rounds).await);
    }
    if settings.s3 && settings.wants("s3") {
        let parts = if settings.quick { 32 } else { 64 };
        rows.push(s3_row(settings, pool.clone(), rounds, parts).await);
    } else if !settings.s3 {
        notes.push("The S3-store ingest row was skipped (quick mode).".into());
    }
    if settings.wants("4") {
        rows.push(memory_row(settings, if settings.quick { 8 } else { 16 }).await);
    }
    if settings.wants("5") {
        let complete_part = if settings.quick { 256 << 10 } else { 8 * MIB };
        rows.push(complete_row(settings, complete_part, rounds).await);
    }
    match &settings.xfs_dir {
        Some(xfs_dir) if settings.wants("5b") => {
            rows.push(complete_on_xfs_row(settings, xfs_dir, rounds).await)
        }
        Some(_) => {}
        None => notes.push(
            "Row 5b (uploadComplete on XFS) was left out: it needs an XFS mount (root, xfsprogs)."
                .into(),
        ),
    }
    Report { rows, notes }
}
