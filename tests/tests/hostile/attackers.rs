//! The crowd of the 2,000-connection case: idle attackers that send nothing, trickling ones that
//! start a part and send a byte every 0.5 s until told to go silent, a sampler of the server's file
//! descriptors, and what is left once they are gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use partup_tests::raw_http::{connect, start_part, wait_closed_by_server};
use partup_tests::{TestServer, open_fds, test_bytes};
use tokio::io::AsyncWriteExt;

use crate::connections::eventually;
use crate::outcomes::{Outcome, record};

/// Longest the server may take past a 2 s timeout to cut a connection on a loaded 2-core machine.
pub const CUT_WITHIN: Duration = Duration::from_secs(10);

/// One idle attacker: connects and sends nothing. Returns how long the server kept the
/// connection, or `None` if it was never cut.
async fn idle_attacker(port: u16) -> Option<Duration> {
    let mut stream = connect(port).await;
    let opened = Instant::now();
    let closed = wait_closed_by_server(&mut stream, CUT_WITHIN).await?;
    Some(closed - opened)
}

/// One trickling attacker: starts a part, sends a byte every 0.5 s (well within the idle timeout)
/// until `stop`, then goes silent. Returns how long after its last byte the server cut it, or `None` if
/// it was cut while still sending (counted in `cut_early`) or never.
async fn trickling_attacker(
    port: u16,
    upload_id: String,
    part_number: u32,
    stop: Arc<AtomicBool>,
    cut_early: Arc<AtomicUsize>,
) -> Option<Duration> {
    let mut stream = connect(port).await;
    start_part(&mut stream, &upload_id, part_number, 1).await;
    let (mut reader, mut writer) = stream.into_split();
    let mut last_byte = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if writer.write_all(b"x").await.is_err() {
            cut_early.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        last_byte = Instant::now();
    }
    let closed = wait_closed_by_server(&mut reader, CUT_WITHIN).await?;
    Some(closed - last_byte)
}

/// 1,000 idle and 1,000 trickling attackers, and a sampler of the server's descriptors.
pub struct Attack {
    idle: Vec<tokio::task::JoinHandle<Option<Duration>>>,
    trickling: Vec<tokio::task::JoinHandle<Option<Duration>>>,
    stop: Arc<AtomicBool>,
    cut_early: Arc<AtomicUsize>,
    peak_fds: Arc<AtomicUsize>,
    sampler: tokio::task::JoinHandle<()>,
}

/// What the attackers saw.
pub struct AttackReport {
    pub idle_cut: usize,
    pub slowest_idle: Duration,
    pub trickles_cut: usize,
    pub slowest_trickle: Duration,
    pub cut_early: usize,
    pub peak_fds: usize,
}

impl Attack {
    pub fn launch(port: u16, pid: u32, target: &str) -> Attack {
        let stop = Arc::new(AtomicBool::new(false));
        let cut_early = Arc::new(AtomicUsize::new(0));
        let peak_fds = Arc::new(AtomicUsize::new(0));
        let sampler = {
            let (peak_fds, stop) = (peak_fds.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peak_fds.fetch_max(open_fds(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let idle = (0..1000)
            .map(|_| tokio::spawn(idle_attacker(port)))
            .collect();
        let trickling = (0..1000u32)
            .map(|i| {
                let (stop, cut_early) = (stop.clone(), cut_early.clone());
                tokio::spawn(trickling_attacker(
                    port,
                    target.to_owned(),
                    i + 1,
                    stop,
                    cut_early,
                ))
            })
            .collect();
        Attack {
            idle,
            trickling,
            stop,
            cut_early,
            peak_fds,
            sampler,
        }
    }

    /// Tells the tricklers to go silent and waits until the server has cut every attacker.
    pub async fn end(self) -> AttackReport {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.await.unwrap();
        let (mut idle_cut, mut slowest_idle) = (0, Duration::ZERO);
        for attacker in self.idle {
            if let Some(lasted) = attacker.await.unwrap() {
                idle_cut += 1;
                slowest_idle = slowest_idle.max(lasted);
            }
        }
        let (mut trickles_cut, mut slowest_trickle) = (0, Duration::ZERO);
        for attacker in self.trickling {
            if let Some(after) = attacker.await.unwrap() {
                trickles_cut += 1;
                slowest_trickle = slowest_trickle.max(after);
            }
        }
        AttackReport {
            idle_cut,
            slowest_idle,
            trickles_cut,
            slowest_trickle,
            cut_early: self.cut_early.load(Ordering::Relaxed),
            peak_fds: self.peak_fds.load(Ordering::Relaxed),
        }
    }
}

/// What is left once the attackers are gone.
pub struct Aftermath {
    pub staging_emptied: bool,
    pub fds_back: bool,
    pub trickled_parts: usize,
    pub target_usable: bool,
}

pub async fn aftermath(server: &TestServer, target: &str, fds_before: usize) -> Aftermath {
    let api = server.api();
    let staging_emptied =
        eventually(Duration::from_secs(10), || server.staged_files().is_empty()).await;
    let fds_back = eventually(Duration::from_secs(10), || {
        open_fds(server.pid()) <= fds_before + 10
    })
    .await;
    let trickled_parts = api.list_parts(target).await.body["parts"]
        .as_array()
        .map_or(usize::MAX, Vec::len);
    // The attacked upload itself is still usable.
    let kept = test_bytes(799, 1000);
    let one = api.upload_part(target, 1, &kept).await;
    api.complete(target, &[(1, one.md5)]).await;
    let target_usable = api.object_bytes("attack/trickled.bin").await == kept;
    Aftermath {
        staging_emptied,
        fds_back,
        trickled_parts,
        target_usable,
    }
}

/// The case's row of the table.
pub fn record_crowd(
    report: &AttackReport,
    after: &Aftermath,
    upload_time: Duration,
    legitimate_ok: bool,
) {
    let r = report;
    record(Outcome {
        attack: "2,000 connections with a 64 MiB upload: 1,000 idle, 1,000 trickling a part (a byte per 0.5 s during the upload, then silent)",
        answer_seen: format!(
            "{} idle cut within {:.1} s (header timeout 2 s); tricklers held while sending ({} cut early), {} cut {:.1} s at most after going silent (body-idle 2 s); server at {} fds at the peak; upload took {:.1} s",
            r.idle_cut,
            r.slowest_idle.as_secs_f64(),
            r.cut_early,
            r.trickles_cut,
            r.slowest_trickle.as_secs_f64(),
            r.peak_fds,
            upload_time.as_secs_f64()
        ),
        legitimate_upload_finished: Some(legitimate_ok),
        lost: format!(
            "nothing; staged bytes deleted: {}, trickled parts stored: {}, attacked upload still usable: {}, fds back to start: {}",
            after.staging_emptied, after.trickled_parts, after.target_usable, after.fds_back
        ),
    });
}
