//! `partup-bench`: the Rust half of `scripts/bench.sh`.
//!
//! ```text
//! partup-bench sink --listen 127.0.0.1:0
//!     An HTTP endpoint that reads and discards every request body (CORS open): the browser's raw
//!     upload ceiling is measured against it. Prints `partup-bench sink listening on http://ADDR/`
//!     once bound (port 0 picks a free port).
//! partup-bench server-rows --server-bin PATH --work DIR --out FILE [--quick] [--s3] [--only 3,4]
//!         [--baseline-server-bin PATH [--baseline-label TEXT]] [--xfs-dir DIR]
//!     Rows 3 (ingest vs dd and vs the no-HTTP floor), 4 (server peak RSS), 5 (uploadComplete vs
//!     cat) and, with --s3, the S3-store ingest beside the filesystem store (Garage's endpoint and
//!     keys from the environment, as scripts/s3-store.sh exports them). With
//!     --baseline-server-bin, row 3 also runs that server (the previous build, named by
//!     --baseline-label in the table) in the same rounds. With --xfs-dir (an XFS mount), row 5b:
//!     uploadComplete there vs on --work's filesystem. Writes the rows as JSON for
//!     bench/report.mjs.
//! partup-bench hash-rows --out FILE [--work DIR] [--quick]
//!     Row 14: MD5 alone, the server's MD5 engine on every path of this CPU vs md-5 per stream vs
//!     md5sum processes (its input files under --work, default a temp dir; deleted afterwards).
//! partup-bench shaped-row --endpoint URL --rate-mbit N --latency-ms N --parallel N --out FILE [--quick]
//!     Row 15: one file as parallel parts and as one part after another, through a link of N
//!     Mbit/s (scripts/bench.sh runs it in a network namespace behind a token bucket; URL is the
//!     fault proxy before partup, which adds the latency).
//! ```

mod baseline;
mod floor;
mod hashing;
mod load;
mod rows;
mod shaped;
mod sink;
mod stats;

use std::path::PathBuf;

fn usage() -> ! {
    eprintln!(
        "usage: partup-bench sink --listen ADDR\n       partup-bench server-rows --server-bin PATH --work DIR --out FILE [--quick] [--s3] [--only 3,4] [--baseline-server-bin PATH [--baseline-label TEXT]] [--xfs-dir DIR]\n       partup-bench hash-rows --out FILE [--work DIR] [--quick]\n       partup-bench shaped-row --endpoint URL --rate-mbit N --latency-ms N --parallel N --out FILE [--quick]"
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| usage());
    let mut listen = None;
    let mut server_bin = None;
    let mut baseline_server_bin = None;
    let mut baseline_label = None;
    let mut work = None;
    let mut out = None;
    let mut quick = false;
    let mut s3 = false;
    let mut only = None;
    let mut endpoint = None;
    let mut xfs_dir = None;
    let mut rate_mbit = None;
    let mut latency_ms = None;
    let mut parallel = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next(),
            "--server-bin" => server_bin = args.next().map(PathBuf::from),
            "--baseline-server-bin" => baseline_server_bin = args.next().map(PathBuf::from),
            "--baseline-label" => baseline_label = args.next(),
            "--work" => work = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--quick" => quick = true,
            "--s3" => s3 = true,
            "--only" => only = args.next(),
            "--endpoint" => endpoint = args.next(),
            "--xfs-dir" => xfs_dir = args.next().map(PathBuf::from),
            "--rate-mbit" => rate_mbit = args.next().and_then(|n| n.parse().ok()),
            "--latency-ms" => latency_ms = args.next().and_then(|n| n.parse().ok()),
            "--parallel" => parallel = args.next().and_then(|n| n.parse().ok()),
            _ => usage(),
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match command.as_str() {
        "sink" => runtime.block_on(sink::serve(&listen.unwrap_or_else(|| usage()))),
        "server-rows" => {
            let settings = rows::Settings {
                server_bin: server_bin.unwrap_or_else(|| usage()),
                baseline_server_bin,
                baseline_label: baseline_label.unwrap_or_else(|| "--baseline-server-bin".into()),
                work: work.unwrap_or_else(|| usage()),
                quick,
                s3,
                only: only.map(|list| list.split(',').map(str::to_owned).collect()),
                xfs_dir,
            };
            let out = out.unwrap_or_else(|| usage());
            let report = runtime.block_on(rows::run_all(&settings));
            std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap())
                .expect("write the results file");
        }
        "hash-rows" => {
            let settings = hashing::Settings {
                work: work.unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("partup-bench-hash.{}", std::process::id()))
                }),
                quick,
            };
            let out = out.unwrap_or_else(|| usage());
            let report = runtime.block_on(hashing::run(&settings));
            std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap())
                .expect("write the results file");
        }
        "shaped-row" => {
            let settings = shaped::Settings {
                endpoint: endpoint.unwrap_or_else(|| usage()),
                rate_mbit: rate_mbit.unwrap_or_else(|| usage()),
                latency_ms: latency_ms.unwrap_or_else(|| usage()),
                parallel: parallel.unwrap_or_else(|| usage()),
                quick,
            };
            let out = out.unwrap_or_else(|| usage());
            let report = runtime.block_on(shaped::run(&settings));
            std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap())
                .expect("write the results file");
        }
        _ => usage(),
    }
}
