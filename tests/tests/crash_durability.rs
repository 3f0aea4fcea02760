//! Durability: `kill -9` at arbitrary moments, under load, then a restart. Every acknowledged part is
//! still listed with its md5 (only requests still in flight may or may not have landed), every upload
//! can be completed, and objects read back exactly; a crash during assembly leaves the old object or
//! the new one, never a partial one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use partup_tests::{TestServer, md5_hex, test_bytes};
use partup_wire::{ErrorCode, ListPartsResponse};

#[derive(Default)]
struct Ledger {
    /// (upload, part number) → md5 of the last acknowledged upload of that part.
    acked: HashMap<(String, u32), String>,
    /// (upload, part number) → md5s sent but not acknowledged (in flight at the crash).
    unacked: HashMap<(String, u32), Vec<String>>,
    /// md5 → bytes, to check objects.
    bytes: HashMap<String, Vec<u8>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_keeps_exactly_the_acknowledged_parts() {
    let mut server = TestServer::start(&["--min-part-size", "1"]).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut uploads: Vec<(String, String)> = Vec::new();
    for round in 0..3u64 {
        let api = server.api();
        for i in 0..4 {
            let key = format!("crash/{round}-{i}.bin");
            uploads.push((api.init(&key).await.upload_id, key));
        }
        let mut writers = Vec::new();
        for (w, (id, _)) in uploads.iter().enumerate() {
            let api = api.clone();
            let id = id.clone();
            let ledger = ledger.clone();
            writers.push(tokio::spawn(async move {
                for step in 0u64.. {
                    // Part numbers 1..=6, some re-uploaded with different bytes.
                    let number = (step % 6) as u32 + 1;
                    let bytes = test_bytes(
                        round * 1_000_000 + w as u64 * 1000 + step,
                        64 * 1024 + (step as usize * 7919) % 400_000,
                    );
                    let md5 = md5_hex(&bytes);
                    {
                        let mut l = ledger.lock().unwrap();
                        l.bytes.insert(md5.clone(), bytes.clone());
                        l.unacked
                            .entry((id.clone(), number))
                            .or_default()
                            .push(md5.clone());
                    }
                    let answer = match tokio::time::timeout(
                        Duration::from_secs(5),
                        api.upload_part_try(&id, number, &bytes),
                    )
                    .await
                    {
                        Ok(Ok(answer)) => answer,
                        _ => return,
                    };
                    if answer.status != 200 {
                        return;
                    }
                    let mut l = ledger.lock().unwrap();
                    l.unacked
                        .get_mut(&(id.clone(), number))
                        .unwrap()
                        .retain(|m| *m != md5);
                    l.acked.insert((id.clone(), number), md5);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + round * 250)).await;
        server.kill_hard();
        for writer in writers {
            writer.await.unwrap();
        }
        server.restart().await;

        let api = server.api();
        // The writers are done: take the ledger out of its lock for the checks.
        let l = std::mem::take(&mut *ledger.lock().unwrap());
        let mut acked_parts = 0;
        for (id, _) in &uploads {
            let listed: ListPartsResponse = api.list_parts(id).await.ok();
            let stored: HashMap<u32, String> = listed
                .parts
                .iter()
                .map(|p| (p.part_number, p.md5.clone()))
                .collect();
            for ((upload, number), md5) in &l.acked {
                if upload != id {
                    continue;
                }
                acked_parts += 1;
                let found = stored
                    .get(number)
                    .unwrap_or_else(|| panic!("acknowledged part {number} of {id} lost"));
                let in_flight = l
                    .unacked
                    .get(&(id.clone(), *number))
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    found == md5 || in_flight.contains(found),
                    "part {number}: stored {found}, acked {md5}"
                );
            }
            for part in &listed.parts {
                let known = l
                    .bytes
                    .get(&part.md5)
                    .unwrap_or_else(|| panic!("part {} has bytes nobody sent", part.part_number));
                assert_eq!(part.size, known.len() as u64);
                let acked = l.acked.get(&(id.clone(), part.part_number)) == Some(&part.md5);
                let in_flight = l
                    .unacked
                    .get(&(id.clone(), part.part_number))
                    .is_some_and(|v| v.contains(&part.md5));
                assert!(
                    acked || in_flight,
                    "part {} is neither acknowledged nor in flight",
                    part.part_number
                );
            }
        }
        assert!(
            acked_parts > 0,
            "the load did not get any part acknowledged before the kill"
        );
        *ledger.lock().unwrap() = l;
        // No staging debris survives a restart.
        assert!(server.data_files().iter().all(|p| !p.starts_with("tmp")));
    }
    // Every upload can be completed with what it lists, and reads back exactly.
    let api = server.api();
    let l = std::mem::take(&mut *ledger.lock().unwrap());
    for (id, key) in &uploads {
        let listed: ListPartsResponse = api.list_parts(id).await.ok();
        if listed.parts.is_empty() {
            continue;
        }
        let list: Vec<(u32, String)> = listed
            .parts
            .iter()
            .map(|p| (p.part_number, p.md5.clone()))
            .collect();
        let done = api.complete(id, &list).await;
        let expected: Vec<u8> = listed
            .parts
            .iter()
            .flat_map(|p| l.bytes[&p.md5].clone())
            .collect();
        assert_eq!(done.size, expected.len() as u64);
        api.assert_object(key, &expected).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_assembly_shows_the_old_object_or_the_new_one() {
    let mut server = TestServer::start(&["--min-part-size", "1"]).await;
    let mut previous = test_bytes(1, 1000);
    server
        .api()
        .upload_whole("assembling.bin", &[previous.clone()])
        .await;
    let (mut crashed_before, mut crashed_after) = (0, 0);
    // Kill at growing delays so some crashes land mid-assembly, some before it, some after.
    for (round, delay_ms) in [0u64, 2, 5, 10, 20, 40, 80, 160].into_iter().enumerate() {
        let api = server.api();
        let id = api.init("assembling.bin").await.upload_id;
        let parts: Vec<Vec<u8>> = (0..24)
            .map(|i| test_bytes(round as u64 * 100 + i, 1 << 20))
            .collect();
        let mut list = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            list.push((
                i as u32 + 1,
                api.upload_part(&id, i as u32 + 1, part).await.md5,
            ));
        }
        let completing = {
            let (api, id, list) = (api.clone(), id.clone(), list.clone());
            let body = serde_json::json!({"uploadId": id, "completeMultipartUpload":
                list.iter().map(|(n, md5)| serde_json::json!({"partNumber": n, "md5": md5})).collect::<Vec<_>>()});
            // The server dies under this request, so its failure is expected and ignored.
            tokio::spawn(async move {
                api.http
                    .post(api.url("uploadComplete"))
                    .json(&body)
                    .send()
                    .await
                    .is_ok()
            })
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill_hard();
        let _ = completing.await;
        server.restart().await;
        let api = server.api();
        let new = parts.concat();
        let current = api.object_bytes("assembling.bin").await;
        if current == new {
            crashed_after += 1;
        } else {
            assert!(
                current == previous,
                "round {round}: a partial or foreign object ({} bytes) after the crash",
                current.len()
            );
            crashed_before += 1;
        }
        // Whatever happened, completing (again) succeeds and gives the new object.
        let done = api.complete(&id, &list).await;
        assert_eq!(done.size, new.len() as u64);
        api.assert_object("assembling.bin", &new).await;
        api.list_parts(&id).await.error(ErrorCode::NoSuchUpload);
        previous = new;
    }
    eprintln!("crashes before the object appeared: {crashed_before}, after: {crashed_after}");
}
