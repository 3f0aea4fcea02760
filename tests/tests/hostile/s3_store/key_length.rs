//! A key too long for the store with its prefix is refused at uploadInit.

use super::*;

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
    let (status, code, message) = (
        refused.status,
        refused.body["code"].as_str().unwrap_or_default().to_owned(),
        refused.body["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    let written = server.data_files();
    let fitting = key_of(limit);
    let (_, done) = api
        .upload_whole(&fitting, &[b"fits exactly".to_vec()])
        .await;
    let finished = done.size == 12 && api.object_bytes(&fitting).await == b"fits exactly";
    outcomes::record(Outcome {
        attack: "uploadInit of a key 1 byte longer than the S3 store keeps with a 600-byte --s3-prefix",
        answer_seen: format!("{status} {code} ({message})"),
        legitimate_upload_finished: Some(finished),
        lost: if written == before {
            "nothing (nothing written)".into()
        } else {
            format!("objects written: {written:?}")
        },
    });
    refused.error(ErrorCode::InvalidObjectName);
    assert!(message.contains(&limit.to_string()), "{message}");
    assert_eq!(written, before);
    assert!(finished);
}
