//! listUploads and the metadata of uploadInit (SPEC.md §5) against the real binary: pages newest
//! first without gaps or duplicates, the prefix filter, per-`sub` isolation and the write scope,
//! entries gone at complete, abort and expiry, metadata stored and refused, a restart.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use partup_tests::tokens::{auth_args, claims, token};
use partup_tests::{Api, TestServer, test_bytes};
use partup_wire::{ErrorCode, InitResponse, ListUploadsResponse};
use serde_json::{Value, json};

async fn list(api: &Api, body: Value) -> ListUploadsResponse {
    api.post_json("listUploads", &body).await.ok()
}

fn ids(page: &ListUploadsResponse) -> Vec<String> {
    page.uploads.iter().map(|u| u.upload_id.clone()).collect()
}

async fn auth_server() -> TestServer {
    let args = auth_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start(&args).await
}

fn as_user(server: &TestServer, sub: &str, write: &[&str]) -> Api {
    let scope = json!({"write": write, "read": [""], "replace": true});
    Api::with_token(&server.base_url(), &token(&claims(sub, scope)))
}

#[tokio::test]
async fn pages_list_every_upload_once_newest_first() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let mut started = BTreeSet::new();
    for i in 0..9 {
        started.insert(api.init(&format!("paged/{i}.bin")).await.upload_id);
    }
    let mut seen = Vec::new();
    let mut marker = None::<String>;
    for page_number in 0..3 {
        let mut request = json!({"maxUploads": 3});
        if let Some(marker) = &marker {
            request["marker"] = json!(marker);
        }
        let page = list(&api, request).await;
        assert_eq!(page.uploads.len(), 3, "page {page_number}");
        assert_eq!(page.is_truncated, page_number < 2, "page {page_number}");
        seen.extend(page.uploads);
        marker = page.next_marker;
    }
    assert_eq!(marker, None);
    let seen_ids: BTreeSet<String> = seen.iter().map(|u| u.upload_id.clone()).collect();
    assert_eq!(seen_ids, started, "no gap, no duplicate");
    assert_eq!(seen.len(), 9);
    assert!(seen.windows(2).all(|w| w[0].initiated >= w[1].initiated));
    // The same listing by GET, in one page.
    let url = format!("{}?maxUploads=20", api.url("listUploads"));
    let all: ListUploadsResponse = Api::answer(api.http.get(url).send().await.unwrap())
        .await
        .ok();
    assert_eq!(
        ids(&all),
        seen.iter().map(|u| u.upload_id.clone()).collect::<Vec<_>>()
    );
    for bad in [
        json!({"maxUploads": 0}),
        json!({"maxUploads": 1001}),
        json!({"marker": "x"}),
    ] {
        api.post_json("listUploads", &bad)
            .await
            .error(ErrorCode::InvalidArgument);
    }
}

#[tokio::test]
async fn the_prefix_filters_and_the_summary_counts_stored_parts() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let photo = api.init("photos/a.jpg").await.upload_id;
    api.upload_part(&photo, 1, &test_bytes(1, 1000)).await;
    api.upload_part(&photo, 2, &test_bytes(2, 500)).await;
    api.init("videos/b.mp4").await;
    let page = list(&api, json!({"prefix": "photos/"})).await;
    assert_eq!(ids(&page), vec![photo]);
    let upload = &page.uploads[0];
    assert_eq!((upload.parts_stored, upload.bytes_stored), (2, 1500));
    assert_eq!(upload.resource_key, "photos/a.jpg");
    assert!(upload.last_modified >= upload.initiated);
    assert!(upload.initiated.ends_with('Z') && upload.initiated.len() == 24);
    assert_eq!(
        list(&api, json!({"prefix": "music/"})).await.uploads.len(),
        0
    );
}

#[tokio::test]
async fn pages_of_a_prefix_skip_the_uploads_outside_it() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let mut docs = BTreeSet::new();
    for i in 0..4 {
        docs.insert(api.init(&format!("docs/{i}.txt")).await.upload_id);
        api.init(&format!("other/{i}.txt")).await;
    }
    let mut seen = Vec::new();
    let mut request = json!({"prefix": "docs/", "maxUploads": 1});
    loop {
        let page = list(&api, request.clone()).await;
        assert!(page.uploads.len() <= 1);
        seen.extend(ids(&page));
        match page.next_marker {
            Some(marker) => request["marker"] = json!(marker),
            None => break,
        }
        assert!(
            seen.len() <= 4,
            "pages go on past the last upload: {seen:?}"
        );
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), docs);
}

#[tokio::test]
async fn each_sub_lists_only_its_own_uploads_within_its_write_scope() {
    let server = auth_server().await;
    let alice = as_user(&server, "alice", &["alice/"]);
    let bob = as_user(&server, "bob", &["alice/", "bob/"]);
    let alice_narrow = as_user(&server, "alice", &["alice/docs/"]);
    let docs = alice.init("alice/docs/a.txt").await.upload_id;
    let video = alice.init("alice/video.mp4").await.upload_id;
    let bobs = bob.init("alice/not-alices.bin").await.upload_id;
    let mut alices = ids(&list(&alice, json!({})).await);
    alices.sort();
    let mut expected = vec![docs.clone(), video];
    expected.sort();
    assert_eq!(alices, expected);
    assert_eq!(ids(&list(&bob, json!({})).await), vec![bobs]);
    assert_eq!(ids(&list(&alice_narrow, json!({})).await), vec![docs]);
}

#[tokio::test]
async fn completed_and_aborted_uploads_are_no_longer_listed() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let (completed, _) = api.upload_whole("done.bin", &[b"done".to_vec()]).await;
    let aborted = api.init("aborted.bin").await.upload_id;
    api.abort(&aborted).await.ok::<Value>();
    let kept = api.init("kept.bin").await.upload_id;
    let listed = ids(&list(&api, json!({})).await);
    assert_eq!(listed, vec![kept]);
    assert!(!listed.contains(&completed));
    // Their entries were removed, not merely hidden.
    let entries = index_entries(&server);
    assert_eq!(entries.len(), 1, "{entries:?}");
}

fn index_entries(server: &TestServer) -> Vec<std::path::PathBuf> {
    let files = server.data_files();
    files
        .into_iter()
        .filter(|p| p.starts_with("uploads-index"))
        .collect()
}

#[tokio::test]
async fn expired_uploads_leave_the_listing() {
    let server = TestServer::start(&["--upload-ttl", "1s"]).await;
    let api = server.api();
    api.init("expiring.bin").await;
    assert_eq!(list(&api, json!({})).await.uploads.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !list(&api, json!({})).await.uploads.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the expired upload is still listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(index_entries(&server).is_empty());
}

#[tokio::test]
async fn metadata_is_stored_with_the_upload_and_survives_a_restart() {
    let mut server = TestServer::start(&[]).await;
    let api = server.api();
    let metadata = json!({"name": "holiday.mp4", "size": "20000000000", "lastModified": "1700000000000", "partSize": "8388608"});
    let init: InitResponse = api
        .post_json(
            "uploadInit",
            &json!({"resourceKey": "m/holiday.mp4", "metadata": metadata}),
        )
        .await
        .ok();
    let form = reqwest::multipart::Form::new()
        .text("resourceKey", "m/form.bin")
        .text("metadata", r#"{"name":"form.bin"}"#);
    let by_form: InitResponse = api.post_form("uploadInit", form).await.ok();
    server.restart().await;
    let api = server.api();
    let page = list(&api, json!({"prefix": "m/"})).await;
    let listed: BTreeSet<(String, String)> = page
        .uploads
        .iter()
        .map(|u| (u.upload_id.clone(), json!(u.metadata).to_string()))
        .collect();
    // Two uploads started within one millisecond may come in either order: compared as a set.
    let expected = BTreeSet::from([
        (by_form.upload_id, json!({"name": "form.bin"}).to_string()),
        (init.upload_id, metadata.to_string()),
    ]);
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn metadata_out_of_bounds_is_refused_and_nothing_is_stored() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let big: serde_json::Map<String, Value> = (0..5)
        .map(|i| (format!("k{i}"), json!("v".repeat(1000))))
        .collect();
    let refusals = [
        (json!(many), "entries"),
        (json!({"": "v"}), "keys"),
        (json!({"k".repeat(65): "v"}), "keys"),
        (json!({"a/b": "v"}), "keys"),
        (json!({"k": "v".repeat(1025)}), "value"),
        (json!(big), "together"),
        (json!({"k": 1}), "JSON object of strings"),
        (json!(["k"]), "JSON object of strings"),
    ];
    for (metadata, rule) in refusals {
        let body = json!({"resourceKey": "refused.bin", "metadata": metadata});
        let message = api
            .post_json("uploadInit", &body)
            .await
            .error(ErrorCode::InvalidArgument);
        assert!(message.contains(rule), "{metadata}: {message}");
    }
    assert!(list(&api, json!({})).await.uploads.is_empty());
    assert!(
        !server
            .data_files()
            .iter()
            .any(|p| p.ends_with("upload.json"))
    );
    assert!(index_entries(&server).is_empty());
}
