//! The load generator: many concurrent clients uploading parts from memory, each request timed.
//!
//! Part bytes are pseudo-random (a xorshift stream, so nothing compresses or dedupes) and come from
//! a small pool of distinct parts whose MD5s are computed once, so the generator spends its CPU on
//! sending, not on hashing: on a 2-core machine it shares the cores with the server it measures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use bytes::Bytes;
use md5::{Digest, Md5};
use partup_wire::CompletePart;

use crate::api::Api;

/// Distinct parts to send, with their MD5s.
pub struct PartPool {
    parts: Vec<(Bytes, String)>,
}

/// Fills `buffer` with a xorshift64* stream seeded by `seed`.
pub fn pseudo_random(buffer: &mut [u8], seed: u64) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buffer.chunks_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

impl PartPool {
    pub fn new(part_size: usize, distinct: usize) -> PartPool {
        let parts = (0..distinct)
            .map(|i| {
                let mut buffer = vec![0u8; part_size];
                pseudo_random(&mut buffer, 1 + i as u64);
                let md5 = hex::encode(Md5::digest(&buffer));
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
    /// The uploads used and, for each, its parts in ascending order (for a complete).
    pub uploads: Vec<(String, Vec<CompletePart>)>,
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
        upload_ids.push(api.init(&format!("{key_prefix}/{i}.bin")).await);
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
                let (info, elapsed) = api
                    .upload_part(&upload_id, part_number, md5, bytes.clone())
                    .await;
                assert_eq!(&info.md5, md5, "the server stored other bytes");
                done.push((upload_index, part_number, info.md5, elapsed));
            }
            done
        }));
    }
    let mut uploads: Vec<(String, Vec<CompletePart>)> =
        upload_ids.into_iter().map(|id| (id, Vec::new())).collect();
    let mut latencies_ms = Vec::with_capacity(parts_total as usize);
    let mut bytes = 0u64;
    for task in tasks {
        for (upload_index, part_number, md5, elapsed) in task.await.expect("client task") {
            latencies_ms.push(elapsed.as_secs_f64() * 1e3);
            bytes += pool.get(part_number as usize - 1).0.len() as u64;
            uploads[upload_index]
                .1
                .push(CompletePart { part_number, md5 });
        }
    }
    let secs = started.elapsed().as_secs_f64();
    for (_, parts) in &mut uploads {
        parts.sort_by_key(|p| p.part_number);
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
        api.abort(id).await;
    }
}
