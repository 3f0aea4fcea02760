//! Row 15: a link of known bandwidth with latency, where parallel parts pay off.
//!
//! `scripts/bench.sh` runs this command inside a network namespace whose only way out is a veth
//! pair with a token-bucket rate limit (`tc qdisc … tbf`) on the namespace's side; partup listens on
//! the host's side behind the fault proxy, which holds each part request's answer `--latency-ms`
//! (added in user space: `netem` is not available here). The same file then goes up as 8 MiB parts,
//! `--parallel` at once (as the browser client sends them) and one after another (a single
//! sequential stream, as a client without parallel parts), alternating per round. Payload MB/s is
//! compared with the link's rate: the bucket's rate counts every byte on the wire, headers too, so
//! a full link carries a few per cent less payload than its rate.

use std::sync::Arc;

use crate::load::{PartPool, abort_all, ingest, load_api};
use crate::rows::{Report, Row, log, per_round};
use crate::stats::{mb_per_s, median};

const MIB: usize = 1 << 20;

pub struct Settings {
    /// partup's base URL as seen from inside the namespace (the fault proxy's).
    pub endpoint: String,
    /// The token bucket's rate, in Mbit/s (10^6 bits).
    pub rate_mbit: f64,
    /// What the fault proxy adds to each part request.
    pub latency_ms: u64,
    /// Parts at once on the parallel side.
    pub parallel: usize,
    pub quick: bool,
}

pub async fn run(settings: &Settings) -> Report {
    let rounds = if settings.quick { 1 } else { 3 };
    let parts: u32 = if settings.quick { 8 } else { 32 };
    let part_size = 8 * MIB;
    let pool = Arc::new(PartPool::new(part_size, 8));
    let api = load_api(&settings.endpoint);
    let link_mb_per_s = settings.rate_mbit / 8.0;
    let (mut parallel, mut sequential) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // The pair's order alternates per round, so what else runs on the machine hits both alike.
        let order = if round % 2 == 0 {
            [settings.parallel, 1]
        } else {
            [1, settings.parallel]
        };
        for clients in order {
            let run = ingest(
                &api,
                pool.clone(),
                clients,
                parts,
                true,
                &format!("bench-shaped/{round}-{clients}"),
            )
            .await;
            abort_all(&api, &run).await;
            let rate = mb_per_s(run.bytes, run.secs);
            log(&format!(
                "row 15 round {round}: {clients} part(s) at once: {rate:.1} MB/s ({:.2}× the link)",
                rate / link_mb_per_s
            ));
            if clients == 1 {
                sequential.push(rate);
            } else {
                parallel.push(rate);
            }
        }
    }
    let fill = median(&parallel) / link_mb_per_s;
    let sequential_fill = median(&sequential) / link_mb_per_s;
    let ratios = per_round(&parallel, &sequential);
    let file_mib = parts as usize * part_size / MIB;
    Report {
        rows: vec![Row {
            id: "15".into(),
            title: format!(
                "Shaped link: a {file_mib} MiB upload as 8 MiB parts over a {} Mbit/s token bucket, {} ms added to each part request",
                settings.rate_mbit, settings.latency_ms
            ),
            unit: "MB/s".into(),
            subject_label: format!("{} parts at once", settings.parallel),
            subject: parallel,
            baseline_label: Some("one part after another".into()),
            baseline: sequential,
            ratios,
            target: format!("parallel parts ≥ 0.9× the link's {link_mb_per_s:.1} MB/s"),
            holds: fill >= 0.9,
            detail: format!(
                "parallel parts fill {fill:.2}× the link, one part after another {sequential_fill:.2}×"
            ),
        }],
        notes: Vec::new(),
    }
}
