//! Stateless instances over one S3-compatible store (needs `--features s3-tests` and the store of
//! `scripts/test-s3.sh`): one upload's parts go alternately to two `partup-server` processes,
//! listParts asks one and complete the other; one instance dies mid-upload and the other finishes;
//! both complete the same upload at once; both sweep at once; a peer delivers the hook events a
//! killed instance stored; each counts the bucket's uploads in progress against its caps; each lists
//! the uploads in progress the other started, and not those the other ended.

use std::time::Duration;

use partup_tests::hook_receiver::{HookReceiver, Mode, delivered_events, write_hook_secret};
use partup_tests::{TestServer, md5_hex, test_bytes};
use partup_wire::{CompleteResponse, ErrorCode, ListPartsResponse, ListUploadsResponse};
use serde_json::json;

async fn two_instances(extra_args: &[&str]) -> (TestServer, TestServer) {
    let first = TestServer::start(extra_args).await;
    assert!(
        first.store.is_s3(),
        "multi-instance tests run against S3 (PARTUP_TEST_STORE=s3)"
    );
    let second = first.start_peer(extra_args).await;
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parts_alternate_between_instances_and_the_object_reads_back_from_both() {
    let (a, b) = two_instances(&["--min-part-size", "1024"]).await;
    let (api_a, api_b) = (a.api(), b.api());
    let init = api_a.init("multi/file.bin").await;
    // Sizes around S3's 5 MiB copy threshold, so assembly both copies server-side and streams.
    let sizes = [6 << 20, 100_000, 5 << 20, 3 << 20, 7 << 20, 12_345];
    let parts: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| test_bytes(i as u64, *n))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        api.upload_part(&init.upload_id, i as u32 + 1, part).await;
    }
    let listed: ListPartsResponse = api_b.list_parts(&init.upload_id).await.ok();
    assert_eq!(listed.parts.len(), parts.len());
    let list: Vec<(u32, String)> = listed
        .parts
        .iter()
        .map(|p| (p.part_number, p.md5.clone()))
        .collect();
    let done = api_a.complete(&init.upload_id, &list).await;
    assert_eq!(done.size, sizes.iter().sum::<usize>() as u64);
    assert_eq!(
        done.etag,
        partup_tests::expected_etag(&parts.iter().map(|p| p.as_slice()).collect::<Vec<_>>())
    );
    let whole = parts.concat();
    api_a.assert_object("multi/file.bin", &whole).await;
    api_b.assert_object("multi/file.bin", &whole).await;
    // The other instance answers the repeated complete the same way, and knows the upload is done.
    assert_eq!(api_b.complete(&init.upload_id, &list).await, done);
    api_b
        .list_parts(&init.upload_id)
        .await
        .error(ErrorCode::NoSuchUpload);
    // A new upload of the key, on the other instance, sees the object.
    assert!(api_b.init("multi/file.bin").await.is_exist);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_dies_mid_upload_and_the_other_finishes() {
    let (mut a, b) = two_instances(&["--min-part-size", "1024"]).await;
    let (api_a, api_b) = (a.api(), b.api());
    let id = api_a.init("multi/survivor.bin").await.upload_id;
    let parts: Vec<Vec<u8>> = (0..8).map(|i| test_bytes(100 + i, 1 << 20)).collect();
    for (i, part) in parts.iter().enumerate().take(4) {
        api_a.upload_part(&id, i as u32 + 1, part).await;
    }
    a.kill_hard();
    for (i, part) in parts.iter().enumerate().skip(4) {
        api_b.upload_part(&id, i as u32 + 1, part).await;
    }
    let list: Vec<(u32, String)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u32 + 1, md5_hex(p)))
        .collect();
    api_b.complete(&id, &list).await;
    api_b
        .assert_object("multi/survivor.bin", &parts.concat())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_instances_completing_one_upload_at_once_agree() {
    let (a, b) = two_instances(&["--min-part-size", "1024"]).await;
    let (api_a, api_b) = (a.api(), b.api());
    let id = api_a.init("multi/race.bin").await.upload_id;
    let parts: Vec<Vec<u8>> = (0..4).map(|i| test_bytes(200 + i, 6 << 20)).collect();
    let mut list = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        list.push((
            i as u32 + 1,
            api_b.upload_part(&id, i as u32 + 1, p).await.md5,
        ));
    }
    let racers: Vec<_> = [api_a.clone(), api_b.clone()]
        .into_iter()
        .map(|api| {
            let (id, list) = (id.clone(), list.clone());
            tokio::spawn(async move { api.complete(&id, &list).await })
        })
        .collect();
    let mut answers: Vec<CompleteResponse> = Vec::new();
    for racer in racers {
        answers.push(racer.await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    api_a.assert_object("multi/race.bin", &parts.concat()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sweeping_at_once_is_harmless() {
    // The TTL leaves a loaded machine seconds to finish the kept upload; the stale ones are then
    // awaited (both instances sweep every 750 ms), not given a fixed sleep.
    let (a, b) = two_instances(&["--min-part-size", "1", "--upload-ttl", "3s"]).await;
    let (api_a, api_b) = (a.api(), b.api());
    let (_, done) = api_b
        .upload_whole("multi/kept.bin", &[b"kept".to_vec()])
        .await;
    let stale: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..6 {
            let id = api_a.init(&format!("multi/stale-{i}.bin")).await.upload_id;
            api_b.upload_part(&id, 1, &test_bytes(i, 200_000)).await;
            ids.push(id);
        }
        ids
    };
    let started = std::time::Instant::now();
    while stale.iter().any(|id| !a.upload_files(id).is_empty()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the stale uploads were not swept within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in &stale {
        api_a.list_parts(id).await.error(ErrorCode::NoSuchUpload);
    }
    api_a.assert_object("multi/kept.bin", b"kept").await;
    assert_eq!(done.size, 4);
    for base in [a.base_url(), b.base_url()] {
        assert_eq!(
            reqwest::get(format!("{base}/healthz"))
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_delivers_the_hook_events_a_killed_instance_stored() {
    let receiver = HookReceiver::start(Mode::Reply(503, "later".into())).await;
    let secret = tempfile::tempdir().unwrap();
    let secret_file = write_hook_secret(secret.path());
    let url = receiver.url("/events");
    let args = [
        "--min-part-size",
        "1",
        "--hook-url",
        &url,
        "--hook-secret-file",
    ];
    let args: Vec<&str> = args.into_iter().chain(secret_file.to_str()).collect();
    let mut first = TestServer::start(&args).await;
    assert!(first.store.is_s3(), "multi-instance tests run against S3");
    let (id, _) = first
        .api()
        .upload_whole("multi/hooked.bin", &[b"x".to_vec()])
        .await;
    receiver
        .wait_until("a refused attempt", |r| !r.is_empty())
        .await;
    first.kill_hard();
    receiver.set_mode(Mode::Accept);
    let _peer = first.start_peer(&args).await;
    let received = receiver
        .wait_until("both events delivered", |r| delivered_events(r).len() >= 2)
        .await;
    let events = delivered_events(&received);
    assert_eq!(events[0]["type"], "upload.created");
    assert_eq!(events[1]["type"], "upload.completed");
    assert!(events.iter().all(|e| e["uploadId"] == id.as_str()));
    assert!(received.iter().all(|r| r.signed_validly()));
}

/// Whether `api`'s uploadInit of `key` is refused with 429 (the other answer must be a 200).
async fn init_refused(api: &partup_tests::Api, key: &str) -> bool {
    let answer = api
        .post_json("uploadInit", &serde_json::json!({"resourceKey": key}))
        .await;
    match answer.status {
        429 => true,
        _ => {
            answer.ok::<partup_wire::InitResponse>();
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_instance_counts_the_uploads_of_the_bucket_at_start_and_at_every_sweep() {
    // A sweep every 5 s (a quarter of the TTL); nothing goes stale during the test.
    let caps = [
        "--max-uploads",
        "2",
        "--upload-ttl",
        "20s",
        "--min-part-size",
        "1",
    ];
    let a = TestServer::start(&caps).await;
    let api_a = a.api();
    let first = api_a.init("caps/1").await.upload_id;
    api_a.init("caps/2").await;
    assert!(init_refused(&api_a, "caps/3").await);
    // An instance started now counts what the bucket holds.
    let b = a.start_peer(&caps).await;
    let api_b = b.api();
    assert!(init_refused(&api_b, "caps/4").await, "counted at start");
    // A complete on one instance frees the slot on the other by its next sweep.
    let part = api_a.upload_part(&first, 1, b"done").await;
    api_a.complete(&first, &[(1, part.md5)]).await;
    let started = std::time::Instant::now();
    while init_refused(&api_b, "caps/5").await {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the peer's sweep did not recount"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(api_b.list_parts(&first).await.status, 404, "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn content_completed_on_one_instance_is_an_instant_hit_on_the_other() {
    let (a, b) = two_instances(&["--min-part-size", "1024"]).await;
    let (api_a, api_b) = (a.api(), b.api());
    let parts: Vec<Vec<u8>> = vec![test_bytes(300, 6 << 20), test_bytes(301, 1 << 20)];
    api_a.upload_whole("multi/instant-source", &parts).await;
    let declare = |key: &str| {
        serde_json::json!({
            "resourceKey": key,
            "size": 7 << 20,
            "partSize": 6 << 20,
            "etag": partup_tests::expected_etag(&[&parts[0], &parts[1]]),
        })
    };
    let init: partup_wire::InitResponse = api_b
        .post_json("uploadInit", &declare("multi/instant-copy"))
        .await
        .ok();
    let done = init.instant.expect("a hit on the other instance");
    assert_eq!((done.size, done.parts), (7 << 20, 2));
    api_a
        .assert_object("multi/instant-copy", &parts.concat())
        .await;
    // Replaced through the second instance: the first no longer finds the old content anywhere.
    api_b
        .upload_whole("multi/instant-source", &[test_bytes(302, 2000)])
        .await;
    api_b
        .upload_whole("multi/instant-copy", &[test_bytes(303, 2000)])
        .await;
    let init: partup_wire::InitResponse = api_a
        .post_json("uploadInit", &declare("multi/instant-again"))
        .await
        .ok();
    assert_eq!(init.instant, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_instance_lists_the_uploads_in_progress_of_both() {
    let (a, b) = two_instances(&[]).await;
    let (api_a, api_b) = (a.api(), b.api());
    let on_a = api_a.init("listed/a.bin").await.upload_id;
    let on_b = api_b.init("listed/b.bin").await.upload_id;
    let ended = api_a.init("listed/ended.bin").await.upload_id;
    api_b.abort(&ended).await.ok::<serde_json::Value>();
    for api in [&api_a, &api_b] {
        let page: ListUploadsResponse = api
            .post_json("listUploads", &json!({"prefix": "listed/"}))
            .await
            .ok();
        let mut listed: Vec<String> = page.uploads.into_iter().map(|u| u.upload_id).collect();
        listed.sort();
        let mut expected = vec![on_a.clone(), on_b.clone()];
        expected.sort();
        assert_eq!(listed, expected);
    }
}
