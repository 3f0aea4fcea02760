//! `kill -9` mid-part leaves the store's own multipart upload; the next sweep aborts it, not a live one.

use super::*;

/// A part upload whose bytes the test feeds: `sender` sends chunks, dropping it ends the body.
struct StreamingPart {
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    answer: tokio::task::JoinHandle<Option<Answer>>,
}

fn stream_part(api: &Api, upload_id: &str, part_number: u32, content: &[u8]) -> StreamingPart {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx)
    }));
    let form = reqwest::multipart::Form::new()
        .text("uploadId", upload_id.to_owned())
        .text("partNumber", part_number.to_string())
        .text("md5", md5_hex(content))
        .part(
            "content",
            reqwest::multipart::Part::stream_with_length(body, content.len() as u64)
                .file_name("part"),
        );
    let request = api.http.post(api.url("upload")).multipart(form);
    let answer = tokio::spawn(async move {
        match request.send().await {
            Ok(response) => Some(Api::answer(response).await),
            Err(_) => None,
        }
    });
    StreamingPart { sender, answer }
}

impl StreamingPart {
    async fn send(&self, bytes: &[u8]) {
        for chunk in bytes.chunks(256 << 10) {
            let _ = self.sender.send(Ok(Bytes::copy_from_slice(chunk))).await;
        }
    }
}

/// The listed multipart upload writing a part of `upload_id`, if any.
fn of_upload<'a>(listed: &'a [PendingMultipart], upload_id: &str) -> Option<&'a PendingMultipart> {
    listed.iter().find(|m| m.path.contains(upload_id))
}

/// What a live part showed while sweeps ran.
struct LivePart {
    /// Its multipart upload was listed, and still was more than 3 s (three sweeps) later.
    listed: bool,
    kept: bool,
    /// The part's answer, its upload's complete's, and whether the object then read back exact.
    status: Option<u16>,
    completed: u16,
    finished: bool,
}

/// Streams a 16 MiB part 1 of a new upload on `sweeping`'s server, holding it open (its multipart upload
/// started) across three sweeps while part 2 is uploaded again every half second so the upload
/// stays active; then finishes it and completes the upload.
/// Then stops `sweeping` and completes the upload on `finisher` (moto dates every multipart
/// upload 2010, so a sweep there would take an assembly's for a crash's).
async fn live_part_across_sweeps(
    mut sweeping: TestServer,
    finisher: &Api,
    store: &TestStore,
) -> LivePart {
    let api = &sweeping.api();
    let live = api.init("orphan/live.bin").await.upload_id;
    let tail = b"tail".to_vec();
    let keep_active = tokio::spawn({
        let (api, live, tail) = (api.clone(), live.clone(), tail.clone());
        async move {
            loop {
                api.upload_part(&live, 2, &tail).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    let content = test_bytes(8, 16 << 20);
    let part = stream_part(api, &live, 1, &content);
    part.send(&content[..13 << 20]).await;
    let listed = eventually(Duration::from_secs(20), async || {
        of_upload(&multiparts(store).await, &live).is_some()
    })
    .await;
    let listed_at = Instant::now();
    let kept = eventually(Duration::from_secs(10), async || {
        listed_at.elapsed() > Duration::from_secs(3)
            && of_upload(&multiparts(store).await, &live).is_some()
    })
    .await;
    part.send(&content[13 << 20..]).await;
    drop(part.sender);
    let status = part.answer.await.unwrap().map(|a| a.status);
    keep_active.abort();
    // Its task panics when a re-upload of part 2 was refused: the upload went stale.
    let stayed_active = !keep_active.await.is_err_and(|e| e.is_panic());
    sweeping.kill_hard();
    let list = [(1, md5_hex(&content)), (2, md5_hex(&tail))];
    let completed = finisher.complete_raw(&live, &list).await;
    let finished = status == Some(200)
        && stayed_active
        && completed.status == 200
        && finisher.object_bytes("orphan/live.bin").await == [content.as_slice(), &tail].concat();
    LivePart {
        listed,
        kept,
        status,
        completed: completed.status,
        finished,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multipart_upload_orphaned_by_kill_9_is_aborted_by_the_next_sweep_and_a_live_one_is_not()
{
    let mut first = TestServer::start(&["--min-part-size", "1"]).await;
    let store = first.store.clone();
    let api = first.api();
    let orphan = api.init("orphan/big.bin").await.upload_id;
    // OpenDAL starts the store's multipart upload once two 5 MiB chunks are in: 13 MiB are sent.
    let big = test_bytes(7, 16 << 20);
    let cut = stream_part(&api, &orphan, 1, &big);
    cut.send(&big[..13 << 20]).await;
    let started = eventually(Duration::from_secs(20), async || {
        of_upload(&multiparts(&store).await, &orphan).is_some()
    })
    .await;
    first.kill_hard();
    drop(cut);
    let left_after_kill = of_upload(&multiparts(&store).await, &orphan).is_some();
    // A peer with the default TTL (it sweeps once, now), and the killed one restarted with a
    // short TTL: a sweep every second.
    let finisher = first.start_peer(&["--min-part-size", "1"]).await;
    let second = first
        .start_peer(&["--upload-ttl", "4s", "--min-part-size", "1"])
        .await;
    let orphan_aborted = eventually(Duration::from_secs(30), async || {
        of_upload(&multiparts(&store).await, &orphan).is_none()
    })
    .await;
    let live = live_part_across_sweeps(second, &finisher.api(), &store).await;
    outcomes::record(Outcome {
        attack: "kill -9 mid-part on S3 (the store's multipart upload half written), then a restart with --upload-ttl 4s",
        answer_seen: format!(
            "orphaned multipart upload listed after the kill: {left_after_kill}; aborted by the sweep: {orphan_aborted}; a live part's multipart upload kept across sweeps: {}, its part answered {:?}, its complete {}",
            live.listed && live.kept,
            live.status,
            live.completed
        ),
        legitimate_upload_finished: Some(live.finished),
        lost: if live.finished {
            "nothing".into()
        } else {
            "the live upload".into()
        },
    });
    assert!(started, "the cut part never started a multipart upload");
    assert!(left_after_kill, "kill -9 left no multipart upload");
    assert!(
        orphan_aborted,
        "the orphaned multipart upload was not aborted"
    );
    assert!(
        live.listed && live.kept,
        "the live part's multipart upload went"
    );
    assert!(live.finished);
}
