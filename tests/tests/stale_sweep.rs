//! The background sweep: uploads untouched longer than `--upload-ttl` are aborted and their space
//! freed; uploads that keep receiving parts are left alone; completed objects are never touched.

use std::time::Duration;

use partup_tests::{TestServer, test_bytes};
use partup_wire::{ErrorCode, ListPartsResponse};

#[tokio::test]
async fn stale_uploads_are_aborted_and_their_space_freed() {
    let server = TestServer::start(&["--upload-ttl", "1500ms", "--min-part-size", "1"]).await;
    let api = server.api();
    let stale = api.init("sweep/stale.bin").await.upload_id;
    api.upload_part(&stale, 1, &test_bytes(1, 500_000)).await;
    let active = api.init("sweep/active.bin").await.upload_id;
    let (done_id, _) = api
        .upload_whole("sweep/done.bin", &[b"finished".to_vec()])
        .await;
    assert!(!server.upload_files(&stale).is_empty());

    // Keep one upload busy for longer than the TTL.
    for i in 0..10 {
        api.upload_part(&active, 1 + i % 2, &test_bytes(10 + i as u64, 1000))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    api.list_parts(&stale).await.error(ErrorCode::NoSuchUpload);
    assert!(
        server.upload_files(&stale).is_empty(),
        "the stale upload's files are still stored"
    );
    let listed: ListPartsResponse = api.list_parts(&active).await.ok();
    assert_eq!(listed.parts.len(), 2);
    api.assert_object("sweep/done.bin", b"finished").await;
    // The active upload, once idle, goes too.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    api.list_parts(&active).await.error(ErrorCode::NoSuchUpload);
    // Only the completed upload's record (kept 24 h for retries) remains under uploads/.
    let leftover: Vec<_> = server
        .data_files()
        .into_iter()
        .filter(|p| p.starts_with("uploads"))
        .collect();
    assert!(
        leftover
            .iter()
            .all(|p| p.starts_with(format!("uploads/{done_id}"))),
        "{leftover:?}"
    );
}
