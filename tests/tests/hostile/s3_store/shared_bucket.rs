//! A bucket shared with other applications: their objects under partup's prefixes survive sweeps.

use super::*;

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
