//! Instances racing on one upload: a retried complete, an abort against a complete.

use super::counting_proxy::CountingProxy;
use super::*;

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
        async move { api.complete_raw(&id, &list).await }
    });
    copying.await;
    let copies_when_retried = proxy.copies.load(Ordering::SeqCst);
    let retried = second.api().complete_raw(&id, &list).await;
    let answer_of = |answer: Answer| -> Option<CompleteResponse> {
        (answer.status == 200)
            .then(|| serde_json::from_value(answer.body).ok())
            .flatten()
    };
    let first_answer = answer_of(assembling.await.unwrap());
    let retried_status = retried.status;
    let retried_answer = answer_of(retried);
    let copies = proxy.copies.load(Ordering::SeqCst);
    let object_ok = first.api().object_bytes("race/retried.bin").await == whole;
    outcomes::record(Outcome {
        attack: "S3: a complete retried on instance B while instance A assembles the same upload",
        answer_seen: format!(
            "B answered {retried_status} {}; UploadPartCopy requests in all: {copies} for 4 parts (the retry came after {copies_when_retried})",
            if first_answer.is_some() && retried_answer == first_answer {
                "with A's answer"
            } else {
                "differently"
            }
        ),
        legitimate_upload_finished: Some(object_ok && first_answer.is_some()),
        lost: if object_ok {
            "nothing".into()
        } else {
            "the object differs".into()
        },
    });
    assert!(first_answer.is_some(), "A's complete failed");
    assert_eq!(retried_answer, first_answer);
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
