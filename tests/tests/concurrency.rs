//! Concurrency: many uploads at once, one part number raced by several requests, two completes of
//! one upload raced, two uploads of one key completing together while readers read. Each ends in a
//! consistent state that is checked here.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use partup_tests::{TestServer, md5_hex, test_bytes};
use partup_wire::{CompleteResponse, ListPartsResponse};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_uploads_at_once_all_read_back_exactly() {
    let server = TestServer::start(&["--min-part-size", "1024"]).await;
    let api = server.api();
    let mut tasks = Vec::new();
    for u in 0..24u64 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("many/{u}.bin");
            let id = api.init(&key).await.upload_id;
            let parts: Vec<Vec<u8>> = (0..5)
                .map(|p| test_bytes(u * 10 + p, 100_000 + (u as usize * 37)))
                .collect();
            // Parts of one upload in parallel too.
            let uploads = parts.iter().enumerate().map(|(i, bytes)| {
                let (api, id, bytes) = (api.clone(), id.clone(), bytes.clone());
                tokio::spawn(async move { api.upload_part(&id, i as u32 + 1, &bytes).await })
            });
            let mut list = Vec::new();
            for upload in uploads.collect::<Vec<_>>() {
                let info = upload.await.unwrap();
                list.push((info.part_number, info.md5));
            }
            api.complete(&id, &list).await;
            api.assert_object(&key, &parts.concat()).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_part_number_raced_keeps_exactly_one_whole_version() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("race/part.bin").await.upload_id;
    let versions: Vec<Vec<u8>> = (0..8)
        .map(|v| test_bytes(100 + v, 300_000 + v as usize))
        .collect();
    let racers: Vec<_> = versions
        .iter()
        .map(|bytes| {
            let (api, id, bytes) = (api.clone(), id.clone(), bytes.clone());
            tokio::spawn(async move { api.upload_part(&id, 1, &bytes).await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap();
    }
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 1);
    let winner = versions
        .iter()
        .find(|v| md5_hex(v) == listed.parts[0].md5)
        .expect("the stored part is one of the versions");
    assert_eq!(listed.parts[0].size, winner.len() as u64);
    api.complete(&id, &[(1, listed.parts[0].md5.clone())]).await;
    api.assert_object("race/part.bin", winner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_completes_of_one_upload_both_get_the_same_answer() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("race/complete.bin").await.upload_id;
    let parts: Vec<Vec<u8>> = (0..16).map(|i| test_bytes(200 + i, 1 << 20)).collect();
    let mut list = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        list.push((
            i as u32 + 1,
            api.upload_part(&id, i as u32 + 1, p).await.md5,
        ));
    }
    let completes: Vec<_> = (0..4)
        .map(|_| {
            let (api, id, list) = (api.clone(), id.clone(), list.clone());
            tokio::spawn(async move { api.complete(&id, &list).await })
        })
        .collect();
    let mut answers: Vec<CompleteResponse> = Vec::new();
    for c in completes {
        answers.push(c.await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    api.assert_object("race/complete.bin", &parts.concat())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_uploads_of_one_key_completing_together_leave_one_whole_object() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let key = "race/same-key.bin";
    let original = test_bytes(1, 4 << 20);
    api.upload_whole(key, std::slice::from_ref(&original)).await;
    let mut contents = vec![original.clone()];
    let mut prepared = Vec::new();
    for u in 0..2u64 {
        let id = api.init(key).await.upload_id;
        let parts: Vec<Vec<u8>> = (0..12)
            .map(|i| test_bytes(1000 * (u + 1) + i, 1 << 20))
            .collect();
        let mut list = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            list.push((
                i as u32 + 1,
                api.upload_part(&id, i as u32 + 1, p).await.md5,
            ));
        }
        contents.push(parts.concat());
        prepared.push((id, list));
    }
    let valid: Arc<HashSet<String>> = Arc::new(contents.iter().map(|c| md5_hex(c)).collect());
    // Readers check every read is one whole version while the completes race.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (api, stop, valid) = (api.clone(), stop.clone(), valid.clone());
            tokio::spawn(async move {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) || reads == 0 {
                    let bytes = api.object_bytes(key).await;
                    assert!(
                        valid.contains(&md5_hex(&bytes)),
                        "a reader saw a partial object of {} bytes",
                        bytes.len()
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let completes: Vec<_> = prepared
        .into_iter()
        .map(|(id, list)| {
            let api = api.clone();
            tokio::spawn(async move { api.complete(&id, &list).await })
        })
        .collect();
    for c in completes {
        c.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    let final_object = api.object_bytes(key).await;
    assert!(
        final_object == contents[1] || final_object == contents[2],
        "the last complete must win whole"
    );
}
