//! The S3 store under hostile conditions (needs `--features s3-tests` and the store of
//! `scripts/test-s3.sh`): a bucket shared with other applications, a `kill -9` mid-part that leaves
//! the store's own multipart upload behind, a key too long for the store, and instances racing on
//! one upload (a retried complete, an abort against a complete).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use partup_server::storage::s3::S3Settings;
use partup_server::storage::s3::multipart::{MultipartAdmin, PendingMultipart};
use partup_tests::{Answer, Api, TestServer, TestStore, md5_hex, test_bytes};
use partup_wire::{CompleteResponse, ErrorCode};

use crate::outcomes::{self, Outcome};

/// A fresh prefix in the test bucket, and the store under it.
fn store_under(prefix: &str) -> TestStore {
    TestStore::s3_from_env(prefix.to_owned())
}

fn nonce() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}

fn settings(store: &TestStore) -> S3Settings {
    let TestStore::S3 {
        endpoint,
        bucket,
        region,
        prefix,
    } = store.clone()
    else {
        panic!("these tests run against S3 (PARTUP_TEST_STORE=s3)")
    };
    S3Settings {
        endpoint: Some(endpoint),
        bucket,
        region,
        prefix,
        virtual_host_style: false,
    }
}

/// The bucket itself, at its root: what another application sharing it sees and writes.
fn bucket(store: &TestStore) -> opendal::Operator {
    let s = settings(store);
    opendal::install_default();
    let builder = opendal::services::S3::default()
        .endpoint(s.endpoint.as_deref().unwrap())
        .bucket(&s.bucket)
        .region(&s.region)
        .root("/");
    opendal::Operator::new(builder).unwrap()
}

/// The store's multipart uploads of partup keys under the store's prefix.
async fn multiparts(store: &TestStore) -> Vec<PendingMultipart> {
    MultipartAdmin::new(&settings(store))
        .list()
        .await
        .expect("ListMultipartUploads")
}

/// Waits (bounded) until `check` holds; false when it never did.
async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn foreign_objects_survive_a_sweep(prefix: &str) {
    let store = store_under(prefix);
    let server = TestServer::start_on(
        store.clone(),
        &["--upload-ttl", "1500ms", "--min-part-size", "1"],
    )
    .await;
    let api = server.api();
    let stale = api.init("sweep/stale.bin").await.upload_id;
    api.upload_part(&stale, 1, &test_bytes(1, 100_000)).await;
    let root = partup_server_root(prefix);
    let n = nonce();
    let foreign: Vec<String> = [
        format!("uploads/notes-{n}.txt"),
        format!("uploads/backup-{n}/upload.json"),
        format!("uploads/{stale}/notes-{n}.txt"),
        format!("uploads/{stale}/parts/00001/not-a-part-{n}"),
        format!("uploads/{}{}/completed.json", n, "0".repeat(32 - n.len())),
        format!("tmp/cache-{n}.bin"),
        format!("tmp/00000000000000000001-{n}"),
        format!("events/readme-{n}.txt"),
        format!("objects-archive/{n}.bin"),
    ]
    .into_iter()
    .map(|key| format!("{root}{key}"))
    .collect();
    let op = bucket(&store);
    for key in &foreign {
        op.write(key, format!("foreign {key}").into_bytes())
            .await
            .unwrap();
    }
    let (_, kept) = api
        .upload_whole("sweep/kept.bin", &[b"kept".to_vec()])
        .await;
    let own_files = || -> Vec<std::path::PathBuf> {
        server
            .upload_files(&stale)
            .into_iter()
            .filter(|p| !p.to_string_lossy().contains(&n))
            .collect()
    };
    let swept = eventually(Duration::from_secs(20), async || {
        api.list_parts(&stale).await.status == 404 && own_files().is_empty()
    })
    .await;
    let mut lost = Vec::new();
    for key in &foreign {
        match op.read(key).await {
            Ok(content) if content.to_vec() == format!("foreign {key}").into_bytes() => {}
            _ => lost.push(key.clone()),
        }
    }
    let own_left = own_files();
    let kept_ok = api.object_bytes("sweep/kept.bin").await == b"kept" && kept.size == 4;
    outcomes::record(Outcome {
        attack: &format!(
            "S3 bucket shared with another application (prefix '{prefix}'): its objects under uploads/, tmp/, events/ and inside a stale upload's folder, then a sweep"
        ),
        answer_seen: format!(
            "stale upload swept: {swept}; its own keys left: {}",
            own_left.len()
        ),
        legitimate_upload_finished: Some(kept_ok),
        lost: if lost.is_empty() {
            "nothing".into()
        } else {
            format!("foreign objects deleted: {lost:?}")
        },
    });
    assert!(swept, "the stale upload was not swept");
    assert!(own_left.is_empty(), "{own_left:?}");
    assert!(lost.is_empty(), "foreign objects deleted: {lost:?}");
    assert!(kept_ok);
    for key in &foreign {
        let _ = op.delete(key).await;
    }
}

/// What `--s3-prefix` puts before every key (`layout::root_key_prefix`).
fn partup_server_root(prefix: &str) -> String {
    match prefix.trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn foreign_objects_under_the_prefix_survive_a_sweep_of_a_stale_upload() {
    foreign_objects_survive_a_sweep(&format!("shared-{}/partup", nonce())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn foreign_objects_at_the_bucket_root_survive_a_sweep_with_the_empty_prefix() {
    foreign_objects_survive_a_sweep("").await;
}

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
    let left_after_kill = of_upload(&multiparts(&store).await, &orphan).cloned();

    let second = first
        .start_peer(&["--upload-ttl", "4s", "--min-part-size", "1"])
        .await;
    let api = second.api();
    let orphan_aborted = eventually(Duration::from_secs(30), async || {
        of_upload(&multiparts(&store).await, &orphan).is_none()
    })
    .await;

    // A live part, streamed across several sweeps (every 1 s) while its upload stays active: its
    // small part 2 is uploaded again every half second.
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
    let part = stream_part(&api, &live, 1, &content);
    part.send(&content[..13 << 20]).await;
    let live_listed = eventually(Duration::from_secs(20), async || {
        of_upload(&multiparts(&store).await, &live).is_some()
    })
    .await;
    let listed_at = Instant::now();
    // Three sweeps run while the part is held open.
    let live_kept = eventually(Duration::from_secs(10), async || {
        listed_at.elapsed() > Duration::from_secs(3)
            && of_upload(&multiparts(&store).await, &live).is_some()
    })
    .await;
    part.send(&content[13 << 20..]).await;
    drop(part.sender);
    let part_answer = part.answer.await.unwrap();
    let part_ok = part_answer.as_ref().is_some_and(|a| a.status == 200);
    keep_active.abort();
    let keep_active_failed = keep_active.await.is_err_and(|e| e.is_panic());
    let finished = part_ok && {
        let list = [(1, md5_hex(&content)), (2, md5_hex(&tail))];
        api.complete_raw(&live, &list).await.status == 200
            && api.object_bytes("orphan/live.bin").await == [content.as_slice(), &tail].concat()
    };
    outcomes::record(Outcome {
        attack: "kill -9 mid-part on S3 (the store's multipart upload half written), then a restart with --upload-ttl 4s",
        answer_seen: format!(
            "orphaned multipart upload listed after the kill: {}; aborted by the sweep: {orphan_aborted}; a live part's multipart upload kept across sweeps: {live_kept}, its part answered {:?}",
            left_after_kill.is_some(),
            part_answer.map(|a| a.status)
        ),
        legitimate_upload_finished: Some(finished),
        lost: if finished {
            "nothing".into()
        } else {
            "the live upload".into()
        },
    });
    assert!(started, "the cut part never started a multipart upload");
    assert!(
        left_after_kill.is_some(),
        "kill -9 left no multipart upload"
    );
    assert!(
        orphan_aborted,
        "the orphaned multipart upload was not aborted"
    );
    assert!(
        live_listed && live_kept,
        "the live part's multipart upload went"
    );
    assert!(!keep_active_failed, "the live upload went stale");
    assert!(finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_too_long_for_the_store_with_its_prefix_is_refused_at_init_and_nothing_is_written() {
    // A prefix of 600 bytes leaves 1024 - 601 - "objects/".len() = 415 bytes for the key.
    let prefix = format!("long-{}/{}", nonce(), "p".repeat(600 - 18));
    assert_eq!(prefix.len(), 600);
    let limit = 1024 - 601 - "objects/".len();
    let server = TestServer::start_on(store_under(&prefix), &["--min-part-size", "1"]).await;
    let api = server.api();
    let key_of = |len: usize| {
        let mut key = String::new();
        while len - key.len() > 255 {
            key.push_str(&format!("{}/", "k".repeat(200)));
        }
        key.push_str(&"k".repeat(len - key.len()));
        key
    };
    let before = server.data_files();
    let refused = api
        .post_json(
            "uploadInit",
            &serde_json::json!({"resourceKey": key_of(limit + 1)}),
        )
        .await;
    let status = refused.status;
    let message = refused.error(ErrorCode::InvalidObjectName);
    let written = server.data_files();
    let fitting = key_of(limit);
    let (_, done) = api
        .upload_whole(&fitting, &[b"fits exactly".to_vec()])
        .await;
    let finished = done.size == 12 && api.object_bytes(&fitting).await == b"fits exactly";
    outcomes::record(Outcome {
        attack: "uploadInit of a key 1 byte longer than the S3 store keeps with a 600-byte --s3-prefix",
        answer_seen: format!("{status} InvalidObjectName ({message})"),
        legitimate_upload_finished: Some(finished),
        lost: if written == before {
            "nothing (nothing written)".into()
        } else {
            format!("objects written: {written:?}")
        },
    });
    assert!(message.contains(&limit.to_string()), "{message}");
    assert_eq!(written, before);
    assert!(finished);
}

/// A proxy in front of the store that counts `UploadPartCopy` requests (the copies an assembly
/// makes) and holds each for a while, so an assembly is surely in progress when the test acts.
struct CountingProxy {
    url: String,
    copies: Arc<AtomicUsize>,
    copying: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    async fn start(upstream: &str, hold_each_copy: Duration) -> CountingProxy {
        use hyper::service::service_fn;
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client: hyper_util::client::legacy::Client<_, hyper::body::Incoming> =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        let (copies, copying) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(tokio::sync::Notify::new()),
        );
        let upstream: hyper::Uri = upstream.parse().unwrap();
        let (count, notify) = (copies.clone(), copying.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (client, upstream, count, notify) = (
                    client.clone(),
                    upstream.clone(),
                    count.clone(),
                    notify.clone(),
                );
                tokio::spawn(async move {
                    let service =
                        service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                            let (client, upstream, count, notify) = (
                                client.clone(),
                                upstream.clone(),
                                count.clone(),
                                notify.clone(),
                            );
                            async move {
                                let is_copy = request.method() == hyper::Method::PUT
                                    && request.headers().contains_key("x-amz-copy-source")
                                    && request
                                        .uri()
                                        .query()
                                        .is_some_and(|q| q.contains("partNumber"));
                                if is_copy {
                                    count.fetch_add(1, Ordering::SeqCst);
                                    notify.notify_waiters();
                                    tokio::time::sleep(hold_each_copy).await;
                                }
                                // The Host header stays: the request was signed for it.
                                let path = request
                                    .uri()
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default();
                                *request.uri_mut() =
                                    format!("http://{}{path}", upstream.authority().unwrap())
                                        .parse()
                                        .unwrap();
                                client.request(request).await
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CountingProxy {
            url,
            copies,
            copying,
            task,
        }
    }
}

/// Two instances over the store through `proxy`, and an upload of 4 parts of 6 MiB (each assembled
/// with `UploadPartCopy`) of `key`, whose object already exists as `previous`.
async fn racing_instances(
    proxy: &CountingProxy,
    key: &str,
    previous: &[u8],
) -> (TestServer, TestServer, String, Vec<(u32, String)>, Vec<u8>) {
    let TestStore::S3 { bucket, region, .. } = TestStore::s3_from_env(String::new()) else {
        unreachable!()
    };
    let store = TestStore::S3 {
        endpoint: proxy.url.clone(),
        bucket,
        region,
        prefix: format!("race-{}", nonce()),
    };
    let args = ["--min-part-size", "1"];
    let first = TestServer::start_on(store, &args).await;
    let second = first.start_peer(&args).await;
    let api = first.api();
    api.upload_whole(key, &[previous.to_vec()]).await;
    let id = api.init(key).await.upload_id;
    let parts: Vec<Vec<u8>> = (0..4).map(|i| test_bytes(300 + i, 6 << 20)).collect();
    let mut list = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        list.push((
            i as u32 + 1,
            api.upload_part(&id, i as u32 + 1, part).await.md5,
        ));
    }
    (first, second, id, list, parts.concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_complete_on_another_instance_waits_for_the_assembly_in_progress() {
    let upstream = std::env::var("PARTUP_TEST_S3_ENDPOINT").expect("an S3 store");
    let proxy = CountingProxy::start(&upstream, Duration::from_millis(700)).await;
    let (first, second, id, list, whole) =
        racing_instances(&proxy, "race/retried.bin", b"previous").await;
    let copying = proxy.copying.notified();
    let assembling = tokio::spawn({
        let (api, id, list) = (first.api(), id.clone(), list.clone());
        async move { api.complete(&id, &list).await }
    });
    copying.await;
    let copies_when_retried = proxy.copies.load(Ordering::SeqCst);
    let retried = second.api().complete_raw(&id, &list).await;
    let first_answer: CompleteResponse = assembling.await.unwrap();
    let retried_status = retried.status;
    let retried_answer: Option<CompleteResponse> = (retried_status == 200).then(|| retried.ok());
    let copies = proxy.copies.load(Ordering::SeqCst);
    let object_ok = first.api().object_bytes("race/retried.bin").await == whole;
    outcomes::record(Outcome {
        attack: "S3: a complete retried on instance B while instance A assembles the same upload",
        answer_seen: format!(
            "B answered {retried_status} {}; UploadPartCopy requests in all: {copies} for 4 parts (the retry came after {copies_when_retried})",
            if retried_answer.as_ref() == Some(&first_answer) {
                "with A's answer"
            } else {
                "differently"
            }
        ),
        legitimate_upload_finished: Some(object_ok),
        lost: if object_ok {
            "nothing".into()
        } else {
            "the object differs".into()
        },
    });
    assert_eq!(retried_answer.as_ref(), Some(&first_answer));
    assert_eq!(copies, 4, "a second assembly was started");
    assert!(object_ok);
}

/// What an abort racing a complete left: the new object with its completion record, or the
/// upload aborted and the previous object intact.
async fn after_abort_raced_complete(
    api: &Api,
    id: &str,
    list: &[(u32, String)],
    new: &[u8],
    previous: &[u8],
    key: &str,
) -> Result<&'static str, String> {
    let object = api.object_bytes(key).await;
    let retried = api.complete_raw(id, list).await;
    match (object == new, object == previous, retried.status) {
        (true, _, 200) => Ok("new object with its completion record"),
        (_, true, 404) => Ok("upload aborted, previous object intact"),
        (true, _, status) => Err(format!(
            "new object but a retried complete answers {status}: its record is gone"
        )),
        (_, true, status) => Err(format!(
            "previous object but a retried complete answers {status}"
        )),
        _ => Err("the object is neither the previous nor the new one".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abort_racing_a_complete_never_leaves_an_object_without_its_completion_record() {
    let upstream = std::env::var("PARTUP_TEST_S3_ENDPOINT").expect("an S3 store");
    let proxy = CountingProxy::start(&upstream, Duration::from_millis(300)).await;
    let previous = b"previous object".to_vec();
    let mut seen = Vec::new();
    let mut outcomes_seen = Vec::new();
    // Round 0: the abort arrives mid-assembly; round 1: both at once; round 2: the abort first.
    for round in 0..3 {
        let key = format!("race/aborted-{round}.bin");
        let (first, second, id, list, new) = racing_instances(&proxy, &key, &previous).await;
        let copying = proxy.copying.notified();
        let complete = tokio::spawn({
            let (api, id, list) = (first.api(), id.clone(), list.clone());
            async move {
                if round == 2 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                api.complete_raw(&id, &list).await.status
            }
        });
        if round == 0 {
            copying.await;
        }
        let aborted = second.api().abort(&id).await.status;
        let completed = complete.await.unwrap();
        seen.push(format!("complete {completed} / abort {aborted}"));
        outcomes_seen.push(
            after_abort_raced_complete(&first.api(), &id, &list, &new, &previous, &key).await,
        );
    }
    let broken: Vec<_> = outcomes_seen
        .iter()
        .filter_map(|o| o.clone().err())
        .collect();
    outcomes::record(Outcome {
        attack: "S3: uploadAbort on instance B racing uploadComplete on instance A (mid-assembly, at once, abort first), an earlier object of the key existing",
        answer_seen: seen.join("; "),
        legitimate_upload_finished: None,
        lost: if broken.is_empty() {
            format!(
                "nothing: {:?}",
                outcomes_seen.iter().flatten().collect::<Vec<_>>()
            )
        } else {
            broken.join("; ")
        },
    });
    assert!(broken.is_empty(), "{broken:?}");
}
