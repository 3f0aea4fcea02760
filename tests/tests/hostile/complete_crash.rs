//! A complete is all or nothing, also when the server is killed (`kill -9`) in the middle of it:
//! after the restart the object and its completion record are both there (a retry answers the same
//! 200) or neither (the upload is still in progress with all its parts, and completes).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use partup_tests::{Api, TestServer, md5_hex, test_bytes};

use crate::disk_kit::{MIB, etag_of_copies, listed, object, on_fs_store, random_below, verdict};
use crate::outcomes::{self, Outcome};

/// Parts of each complete: copies of one 8 MiB part, sent once and linked on disk (128 MiB).
const PARTS: u32 = 16;
const KEY: &str = "disk/crash.bin";

/// When, in a complete, the server is killed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once the object being assembled in `tmp/` holds this share of its bytes.
    Copying(f64),
    /// Once the completion record is stored.
    Decided,
    /// Once the complete answered.
    Answered,
    /// This long after the request was sent.
    After(Duration),
}

/// One upload ready to complete.
struct Prepared {
    id: String,
    list: Vec<(u32, String)>,
    object: Vec<u8>,
    etag: String,
}

/// An upload of [`PARTS`] copies of one part made from `seed`, the part sent once.
async fn prepare(api: &Api, data: &Path, seed: u64) -> Prepared {
    let part = test_bytes(seed, 8 * MIB);
    let id = api.init(KEY).await.upload_id;
    api.upload_part(&id, 1, &part).await;
    let parts = data.join("uploads").join(&id).join("parts");
    for n in 2..=PARTS {
        std::fs::hard_link(parts.join("00001"), parts.join(format!("{n:05}"))).unwrap();
    }
    let md5 = md5_hex(&part);
    Prepared {
        id,
        etag: etag_of_copies(&md5, PARTS as usize),
        list: (1..=PARTS).map(|n| (n, md5.clone())).collect(),
        object: part.repeat(PARTS as usize),
    }
}

/// Sends the complete of `upload` without waiting for it (the server dies under it).
fn send_complete(api: Api, upload: &Prepared) -> tokio::task::JoinHandle<()> {
    let list: Vec<serde_json::Value> = upload
        .list
        .iter()
        .map(|(n, md5)| serde_json::json!({"partNumber": n, "md5": md5}))
        .collect();
    let body = serde_json::json!({"uploadId": upload.id, "completeMultipartUpload": list});
    tokio::spawn(async move {
        let _ = api
            .http
            .post(api.url("uploadComplete"))
            .json(&body)
            .send()
            .await;
    })
}

/// The largest file in `tmp/`: the object being assembled.
fn assembled_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join("tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .max()
        .unwrap_or(0)
}

/// Waits (polling `--data` every millisecond) until the complete of `upload` is at `moment`, or
/// `completing` ended; at most 60 s.
async fn reach(
    data: &Path,
    upload: &Prepared,
    moment: KillAt,
    completing: &tokio::task::JoinHandle<()>,
) {
    let record = data.join("uploads").join(&upload.id).join("completed.json");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) && !completing.is_finished() {
        let there = match moment {
            KillAt::Copying(share) => {
                assembled_bytes(data) as f64 >= share * upload.object.len() as f64
            }
            KillAt::Decided => record.exists(),
            KillAt::Answered => false,
            KillAt::After(delay) => started.elapsed() >= delay,
        };
        if there {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// What the restarted server shows of `upload` after a kill at `moment`, and whether its complete,
/// repeated, answers as the first would have: the problems found, and whether the record was there.
async fn check_after_restart(
    server: &TestServer,
    upload: &Prepared,
    previous: &[u8],
    moment: KillAt,
) -> (Vec<String>, bool) {
    let api = server.api();
    let data = server.data.path();
    let mut problems = Vec::new();
    let record = data
        .join("uploads")
        .join(&upload.id)
        .join("completed.json")
        .exists();
    let current = object(&api, KEY).await;
    let object_is_new = current.as_deref() == Some(&upload.object[..]);
    if record != object_is_new {
        problems.push(format!(
            "{moment:?}: completion record present: {record}, object new: {object_is_new}"
        ));
    }
    if !object_is_new && current.as_deref() != Some(previous) {
        problems.push(format!("{moment:?}: a partial or foreign object"));
    }
    let leftover: Vec<PathBuf> = server
        .data_files()
        .into_iter()
        .filter(|p| p.starts_with("tmp") || p.ends_with("object.pending"))
        .collect();
    if !leftover.is_empty() {
        problems.push(format!("{moment:?}: left after the restart: {leftover:?}"));
    }
    if !record && listed(&api, &upload.id).await != upload.list {
        problems.push(format!("{moment:?}: no record, but not all parts listed"));
    }
    let retry = api.complete_raw(&upload.id, &upload.list).await;
    let same = retry.status == 200
        && retry.body["etag"] == upload.etag.as_str()
        && retry.body["size"] == upload.object.len() as u64
        && retry.body["resourceKey"] == KEY;
    if !same {
        problems.push(format!("{moment:?}: the retry answered {retry:?}"));
    }
    if object(&api, KEY).await.as_deref() != Some(&upload.object[..]) {
        problems.push(format!(
            "{moment:?}: the object is not byte-exact after the retry"
        ));
    }
    (problems, record)
}

/// `kill -9` at chosen moments of a big complete (mid-copy, once its record is stored, after its
/// answer, at random): after the restart, object and record together or neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_complete_leaves_object_and_record_together_or_neither() {
    if !on_fs_store() {
        return;
    }
    let mut server = TestServer::start(&["--min-part-size", "1"]).await;
    let data = server.data.path().to_path_buf();
    // A first complete, whole: the previous object, and how long a complete takes here.
    let first = prepare(&server.api(), &data, 40).await;
    let started = Instant::now();
    server.api().complete(&first.id, &first.list).await;
    let duration = started.elapsed();
    let mut previous = first.object;
    let mut moments = vec![
        KillAt::Copying(0.0),
        KillAt::Copying(0.3),
        KillAt::Copying(0.7),
        KillAt::Copying(1.0),
        KillAt::Decided,
        KillAt::Decided,
        KillAt::Answered,
    ];
    moments.extend((0..3).map(|_| KillAt::After(random_below(duration * 5 / 4))));
    let (mut both, mut neither, mut problems) = (0, 0, Vec::new());
    for (round, moment) in moments.into_iter().enumerate() {
        let upload = prepare(&server.api(), &data, 41 + round as u64).await;
        let completing = send_complete(server.api(), &upload);
        reach(&data, &upload, moment, &completing).await;
        server.kill_hard();
        completing.abort();
        let _ = completing.await;
        server.restart().await;
        let (found, record) = check_after_restart(&server, &upload, &previous, moment).await;
        problems.extend(found);
        if record {
            both += 1;
        } else {
            neither += 1;
        }
        previous = upload.object;
    }
    outcomes::record(Outcome {
        attack: "kill -9 during a 128 MiB complete: mid-copy, at its record, after its answer, at random (10 times)",
        answer_seen: format!(
            "after restart: object and record {both}×, neither {neither}×; each retry 200, same answer"
        ),
        legitimate_upload_finished: Some(problems.is_empty()),
        lost: verdict(&problems),
    });
    assert!(problems.is_empty(), "{problems:?}");
    assert!(
        both > 0 && neither > 0,
        "the kills did not land on both sides of the record: {both} after, {neither} before"
    );
}
