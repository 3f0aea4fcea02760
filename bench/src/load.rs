//! The load generator: many concurrent clients uploading parts from memory, each request timed.
//!
//! Part bytes are pseudo-random (a xorshift stream, so nothing compresses or dedupes) and come from
//! a small pool of distinct parts whose MD5s are computed once, so the generator spends its CPU on
//! sending, not on hashing: on a 2-core machine it shares the cores with the server it measures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use bytes::Bytes;
use partup_testkit::{Api, md5_hex, test_bytes};
use partup_wire::{AbortResponse, PartInfo};

/// Distinct parts to send, with their MD5s.
pub struct PartPool {
    parts: Vec<(Bytes, String)>,
}

/// The API of the server at `base`, with a client for many concurrent uploads: HTTP/1.1 (as
/// browsers upload) and an idle pool big enough that no connection is opened twice. Idle
/// connections are dropped after 5 s, before the server's `--header-timeout` (10 s) closes them:
/// a connection the client reuses just as the server closes it fails the request with a broken
/// pipe (it did, once, after a slow global `sync` between two rounds).
pub fn load_api(base: &str) -> Api {
    Api {
        base: base.to_owned(),
        http: reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("HTTP client"),
    }
}

impl PartPool {
    pub fn new(part_size: usize, distinct: usize) -> PartPool {
        let parts = (0..distinct)
            .map(|i| {
                let buffer = test_bytes(1 + i as u64, part_size);
                let md5 = md5_hex(&buffer);
                (Bytes::from(buffer), md5)
            })
            .collect();
        PartPool { parts }
    }

    pub fn part_size(&self) -> usize {
        self.parts[0].0.len()
    }

    pub fn get(&self, index: usize) -> &(Bytes, String) {
        &self.parts[index % self.parts.len()]
    }
}

/// What one ingest run measured.
pub struct IngestRun {
    pub bytes: u64,
    pub secs: f64,
    /// Each part request's duration, in milliseconds.
    pub latencies_ms: Vec<f64>,
    /// The uploads used and, for each, its parts (number, md5) in ascending order (for a complete).
    pub uploads: Vec<(String, Vec<(u32, String)>)>,
}

/// `clients` concurrent clients upload `parts_total` parts between them, as fast as they can.
/// With `shared_upload`, all parts go to one upload (numbers 1..=parts_total); otherwise each client
/// has its own upload. The clock starts after the inits and stops when the last part is answered.
pub async fn ingest(
    api: &Api,
    pool: Arc<PartPool>,
    clients: usize,
    parts_total: u32,
    shared_upload: bool,
    key_prefix: &str,
) -> IngestRun {
    let upload_count = if shared_upload { 1 } else { clients };
    let mut upload_ids = Vec::with_capacity(upload_count);
    for i in 0..upload_count {
        upload_ids.push(api.init(&format!("{key_prefix}/{i}.bin")).await.upload_id);
    }
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let api = api.clone();
        let pool = pool.clone();
        let next = next.clone();
        let upload_index = if shared_upload { 0 } else { client };
        let upload_id = upload_ids[upload_index].clone();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= parts_total {
                    break;
                }
                let (bytes, md5) = pool.get(index as usize);
                let part_number = index + 1;
                let started = Instant::now();
                let info: PartInfo = api
                    .upload_part_raw(&upload_id, &part_number.to_string(), md5, bytes.clone())
                    .await
                    .ok();
                let elapsed = started.elapsed();
                assert_eq!(&info.md5, md5, "the server stored other bytes");
                done.push((upload_index, part_number, info.md5, elapsed));
            }
            done
        }));
    }
    let mut uploads: Vec<(String, Vec<(u32, String)>)> =
        upload_ids.into_iter().map(|id| (id, Vec::new())).collect();
    let mut latencies_ms = Vec::with_capacity(parts_total as usize);
    let mut bytes = 0u64;
    for task in tasks {
        for (upload_index, part_number, md5, elapsed) in task.await.expect("client task") {
            latencies_ms.push(elapsed.as_secs_f64() * 1e3);
            bytes += pool.get(part_number as usize - 1).0.len() as u64;
            uploads[upload_index].1.push((part_number, md5));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    for (_, parts) in &mut uploads {
        parts.sort_by_key(|(part_number, _)| *part_number);
    }
    IngestRun {
        bytes,
        secs,
        latencies_ms,
        uploads,
    }
}

/// Aborts the uploads of a run (frees their parts; not timed).
pub async fn abort_all(api: &Api, run: &IngestRun) {
    for (id, _) in &run.uploads {
        api.abort(id).await.ok::<AbortResponse>();
    }
}
