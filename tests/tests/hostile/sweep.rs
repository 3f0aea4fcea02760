//! The stale-upload sweep under pressure: a part trickling in for longer than `--upload-ttl` keeps
//! its upload; uploads the sweep cannot handle (a corrupt or unreadable record, a removal that
//! fails) do not stop it from sweeping the others; and it never waits behind a long complete.
//! These cases look into `--data` (records, `tmp/`), so they are about the fs store.

use std::time::{Duration, Instant};

use partup_tests::{Api, TestServer, md5_hex, test_bytes};

use crate::disk_kit::{
    MIB, answer_seen, etag_of_copies, link_parts, on_fs_store, upload_part_streamed,
};
use crate::outcomes::{self, Outcome};

/// Polls until `done` holds or `limit` passes; whether it held.
async fn eventually(limit: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_trickling_in_for_longer_than_the_ttl_keeps_its_upload() {
    if !on_fs_store() {
        return;
    }
    let server = TestServer::start(&["--upload-ttl", "2s", "--min-part-size", "1"]).await;
    let api = server.api();
    let slow = api.init("sweep/slow.bin").await.upload_id;
    let idle = api.init("sweep/idle.bin").await.upload_id;
    let part = test_bytes(50, 1_000_000);
    // 20 pieces, 250 ms apart: 5 s of a part, 2.5 times the TTL.
    let started = Instant::now();
    let answer =
        upload_part_streamed(&api, &slow, 1, &part, 50_000, Duration::from_millis(250)).await;
    let took = started.elapsed();
    // The sweep did run meanwhile: the idle upload is gone.
    let idle_answer = api.list_parts(&idle).await;
    let done = api.complete_raw(&slow, &[(1, md5_hex(&part))]).await;
    let finished = answer.status == 200
        && done.status == 200
        && api.object_bytes("sweep/slow.bin").await == part;
    outcomes::record(Outcome {
        attack: "a part trickled over 5 s with --upload-ttl 2s",
        answer_seen: format!(
            "part {} after {:.1} s; idle upload beside it: {}",
            answer_seen(&answer),
            took.as_secs_f64(),
            answer_seen(&idle_answer)
        ),
        legitimate_upload_finished: Some(finished),
        lost: if finished {
            "nothing"
        } else {
            "the slow upload"
        }
        .into(),
    });
    assert!(took > Duration::from_secs(4), "the part came in {took:?}");
    assert_eq!(
        idle_answer.status, 404,
        "the sweep did not run: {idle_answer:?}"
    );
    assert!(finished, "part: {answer:?}, complete: {done:?}");
}

/// Three uploads the sweep cannot handle as usual: one whose `upload.json` is corrupt, one whose
/// `upload.json` cannot be read (a directory), one whose removal fails on every pass (where the
/// sweep moves it to be deleted is taken). Their ids, in that order.
async fn broken_uploads(server: &TestServer) -> [String; 3] {
    let api = server.api();
    let uploads = server.data.path().join("uploads");
    let corrupt = api.init("sweep/corrupt.bin").await.upload_id;
    std::fs::write(
        uploads.join(&corrupt).join("upload.json"),
        b"{\"resourceKey\": ",
    )
    .unwrap();
    let unreadable = api.init("sweep/unreadable.bin").await.upload_id;
    let record = uploads.join(&unreadable).join("upload.json");
    std::fs::remove_file(&record).unwrap();
    std::fs::create_dir(&record).unwrap();
    let stuck = api.init("sweep/stuck.bin").await.upload_id;
    let blocker = server
        .data
        .path()
        .join("tmp")
        .join(format!("removed-{stuck}"));
    std::fs::create_dir_all(&blocker).unwrap();
    std::fs::write(blocker.join("taken"), b"x").unwrap();
    [corrupt, unreadable, stuck]
}

/// How many of `ids` the server no longer knows (`404 NoSuchUpload`).
async fn swept(api: &Api, ids: &[String]) -> usize {
    let mut gone = 0;
    for id in ids {
        gone += usize::from(api.list_parts(id).await.status == 404);
    }
    gone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_uploads_do_not_stop_the_sweep_of_the_others() {
    if !on_fs_store() {
        return;
    }
    let server = TestServer::start(&["--upload-ttl", "1s", "--min-part-size", "1"]).await;
    let api = server.api();
    let [corrupt, unreadable, stuck] = broken_uploads(&server).await;
    let mut good = Vec::new();
    for i in 0..6 {
        let id = api.init(&format!("sweep/good-{i}.bin")).await.upload_id;
        api.upload_part(&id, 1, &test_bytes(60 + i, 10_000)).await;
        good.push(id);
    }
    let all_swept = eventually(Duration::from_secs(8), async || {
        swept(&api, &good).await == 6
    })
    .await;
    let swept_good = swept(&api, &good).await;
    let stored = |id: &str| server.data.path().join("uploads").join(id).exists();
    let (corrupt_kept, unreadable_kept, stuck_kept) =
        (stored(&corrupt), stored(&unreadable), stored(&stuck));
    // The sweep goes on pass after pass: an upload that goes stale later goes too.
    let late = [api.init("sweep/late.bin").await.upload_id];
    let late_swept = eventually(Duration::from_secs(6), async || {
        swept(&api, &late).await == 1
    })
    .await;
    let fate = |kept: bool| if kept { "kept" } else { "removed" };
    outcomes::record(Outcome {
        attack: "stale uploads beside a corrupt upload.json, an unreadable one and one whose removal fails",
        answer_seen: format!(
            "{swept_good}/6 stale uploads swept (404 NoSuchUpload); corrupt {}, unreadable {}, failing removal {} (logged); a later stale upload {}",
            fate(corrupt_kept),
            fate(unreadable_kept),
            fate(stuck_kept),
            if late_swept { "swept" } else { "NOT swept" },
        ),
        legitimate_upload_finished: None,
        lost: "nothing (only stale uploads were removed)".into(),
    });
    assert!(all_swept, "only {swept_good}/6 stale uploads were swept");
    assert!(late_swept, "the sweep stopped after the broken uploads");
    assert!(
        !corrupt_kept && !unreadable_kept,
        "stale, they go without an event"
    );
    assert!(stuck_kept, "the failing removal was not exercised");
}

/// What one try of the long-complete case saw.
struct LongComplete {
    parts: u32,
    /// When the stale uploads were all gone, if that was before the complete answered.
    swept_after: Option<Duration>,
    took: Duration,
    done: partup_tests::Answer,
    finished: bool,
}

/// Completes an upload of `parts` copies of `part` (sent once, linked on disk) while uploads go
/// stale beside it, and watches whether the sweep removes them before the complete answers.
async fn sweep_beside_a_complete(
    server: &TestServer,
    part: &[u8],
    md5: &str,
    parts: u32,
) -> LongComplete {
    let api = server.api();
    let big = api.init("sweep/big.bin").await.upload_id;
    api.upload_part_raw(&big, "1", md5, part.to_vec())
        .await
        .ok::<serde_json::Value>();
    link_parts(server, &big, 1, 2..=parts);
    let list: Vec<(u32, String)> = (1..=parts).map(|n| (n, md5.to_owned())).collect();
    let started = Instant::now();
    let completing = {
        let (api, big) = (api.clone(), big.clone());
        tokio::spawn(async move { api.complete_raw(&big, &list).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Uploads that go stale while the complete runs (and the big one looks stale too).
    let mut stale = Vec::new();
    for i in 0..4 {
        stale.push(api.init(&format!("sweep/stale-{i}.bin")).await.upload_id);
    }
    let mut swept_after = None;
    while !completing.is_finished() {
        let mut all_gone = true;
        for id in &stale {
            all_gone &= api.list_parts(id).await.status == 404;
        }
        if all_gone && !completing.is_finished() {
            swept_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = completing.await.unwrap();
    let took = started.elapsed();
    let finished = done.status == 200
        && done.body["size"] == parts as u64 * part.len() as u64
        && done.body["etag"] == etag_of_copies(md5, parts as usize).as_str();
    LongComplete {
        parts,
        swept_after,
        took,
        done,
        finished,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_does_not_wait_behind_a_long_complete() {
    if !on_fs_store() {
        return;
    }
    let server = TestServer::start(&["--upload-ttl", "500ms", "--min-part-size", "1"]).await;
    // (The md5 is computed first: an upload must not sit idle for the TTL before its part.)
    let part = test_bytes(70, 16 * MIB);
    let md5 = md5_hex(&part);
    // The stale uploads go within about a second; a complete shorter than 2 s cannot tell whether
    // the sweep waited behind it: then the object grows (768 MiB, 1.5 GiB, 3 GiB).
    let mut tried = Vec::new();
    for parts in [48, 96, 192] {
        let seen = sweep_beside_a_complete(&server, &part, &md5, parts).await;
        let conclusive = seen.swept_after.is_some() || seen.took >= Duration::from_secs(2);
        tried.push(seen);
        if conclusive {
            break;
        }
    }
    let last = tried.last().expect("one try");
    let finished = tried.iter().all(|t| t.finished);
    outcomes::record(Outcome {
        attack: "stale uploads beside a long complete (--upload-ttl 500ms)",
        answer_seen: match last.swept_after {
            Some(after) => format!(
                "swept (404 NoSuchUpload) {:.1} s in, while the {} MiB complete ran; complete {} after {:.1} s",
                after.as_secs_f64(),
                last.parts * 16,
                answer_seen(&last.done),
                last.took.as_secs_f64()
            ),
            None => format!(
                "NOT swept before the {} MiB complete ended ({} after {:.1} s)",
                last.parts * 16,
                answer_seen(&last.done),
                last.took.as_secs_f64()
            ),
        },
        legitimate_upload_finished: Some(finished),
        lost: if finished {
            "nothing"
        } else {
            "the big upload"
        }
        .into(),
    });
    for t in &tried {
        assert!(t.finished, "{:?}", t.done);
    }
    assert!(
        last.swept_after.is_some(),
        "the stale uploads were still there when the {} MiB complete ended after {:?}: the sweep waited behind it (or no complete was long enough to tell)",
        last.parts * 16,
        last.took
    );
}
