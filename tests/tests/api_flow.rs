//! The four seed endpoints and SPEC.md's extras end to end: init → parts → listParts → complete →
//! GET/HEAD with Range, abort, healthz, the demo page, form bodies, CORS.

use partup_tests::{Api, TestServer, expected_etag, md5_hex, test_bytes};
use partup_wire::{AbortResponse, ErrorCode, InitResponse, ListPartsResponse, PartInfo};
use serde_json::json;

#[tokio::test]
async fn full_upload_with_string_part_numbers_reads_back_whole() {
    let server = TestServer::start(&["--min-part-size", "1024"]).await;
    let api = server.api();
    let init = api.init("videos/2026/clip.mp4").await;
    assert_eq!(init.upload_id.len(), 32);
    assert!(!init.is_exist);
    let parts = [test_bytes(1, 5000), test_bytes(2, 3000), test_bytes(3, 17)];
    // Upload out of order; numbers with gaps (1, 5, 9) are allowed.
    for (number, bytes) in [(9u32, &parts[2]), (1, &parts[0]), (5, &parts[1])] {
        let info: PartInfo = api
            .upload_part_raw(
                &init.upload_id,
                &number.to_string(),
                &md5_hex(bytes).to_uppercase(),
                bytes.clone(),
            )
            .await
            .ok();
        assert_eq!(
            info,
            PartInfo {
                md5: md5_hex(bytes),
                part_number: number,
                size: bytes.len() as u64
            }
        );
    }
    let listed: ListPartsResponse = api.list_parts(&init.upload_id).await.ok();
    assert_eq!(listed.resource_key, "videos/2026/clip.mp4");
    assert_eq!(
        listed
            .parts
            .iter()
            .map(|p| p.part_number)
            .collect::<Vec<_>>(),
        vec![1, 5, 9]
    );
    assert_eq!(listed.parts[1].size, 3000);

    // The seed's own example writes part numbers as strings.
    let body = json!({"uploadId": init.upload_id, "completeMultipartUpload": [
        {"partNumber": "1", "md5": md5_hex(&parts[0])},
        {"partNumber": "5", "md5": md5_hex(&parts[1]).to_uppercase()},
        {"partNumber": 9, "md5": md5_hex(&parts[2])},
    ]});
    let answer = api.post_json("uploadComplete", &body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["resourceKey"], "videos/2026/clip.mp4");
    assert_eq!(answer.body["size"], 8017);
    assert_eq!(answer.body["parts"], 3);
    assert_eq!(
        answer.body["etag"],
        expected_etag(&[&parts[0], &parts[1], &parts[2]])
    );

    let whole: Vec<u8> = parts.concat();
    api.assert_object("videos/2026/clip.mp4", &whole).await;
    // Finished: no more parts, no listing.
    api.list_parts(&init.upload_id)
        .await
        .error(ErrorCode::NoSuchUpload);
    api.upload_part_raw(&init.upload_id, "2", &md5_hex(b"x"), b"x".to_vec())
        .await
        .error(ErrorCode::NoSuchUpload);
    // A new upload of the key sees it exists.
    assert!(api.init("videos/2026/clip.mp4").await.is_exist);
}

#[tokio::test]
async fn object_get_head_and_ranges() {
    let server = TestServer::start(&["--min-part-size", "1024"]).await;
    let api = server.api();
    let parts = vec![test_bytes(7, 4096), test_bytes(8, 1000)];
    let (_, done) = api.upload_whole("docs/report 2026.pdf", &parts).await;
    let whole = parts.concat();
    let url = format!("{}/v1/objects/docs/report%202026.pdf", server.base_url());

    let full = api.http.get(&url).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "application/pdf");
    assert_eq!(full.headers()["content-length"], "5096");
    assert_eq!(full.headers()["etag"], format!("\"{}\"", done.etag));
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.bytes().await.unwrap(), whole);

    let head = api.http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "5096");
    assert!(head.bytes().await.unwrap().is_empty());

    for (range, start, end) in [
        ("bytes=0-99", 0usize, 100usize),
        ("bytes=4090-4200", 4090, 4201),
        ("bytes=5000-", 5000, 5096),
        ("bytes=-10", 5086, 5096),
    ] {
        let partial = api
            .http
            .get(&url)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(partial.status(), 206, "{range}");
        assert_eq!(
            partial.headers()["content-range"],
            format!("bytes {start}-{}/5096", end - 1)
        );
        assert_eq!(
            partial.bytes().await.unwrap(),
            &whole[start..end],
            "{range}"
        );
    }
    let outside = api
        .http
        .get(&url)
        .header("range", "bytes=5096-")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.headers()["content-range"], "bytes */5096");
    Api::answer(outside).await.error(ErrorCode::InvalidRange);

    Api::answer(api.get_object("docs/missing.pdf").await)
        .await
        .error(ErrorCode::NoSuchKey);
    let head_missing = api
        .http
        .head(format!("{}/v1/objects/docs/missing.pdf", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(head_missing.status(), 404);
    assert!(head_missing.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn keys_are_names_not_directories() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    api.upload_whole("photos", &[b"the album".to_vec()]).await;
    api.upload_whole("photos/1.jpg", &[b"a photo".to_vec()])
        .await;
    api.assert_object("photos", b"the album").await;
    api.assert_object("photos/1.jpg", b"a photo").await;
    // Percent-encoded per segment, non-ASCII included.
    api.upload_whole("名字/ファイル #1.txt", &[b"unicode".to_vec()])
        .await;
    assert_eq!(
        api.object_bytes("%E5%90%8D%E5%AD%97/%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB%20%231.txt")
            .await,
        b"unicode"
    );
}

#[tokio::test]
async fn zero_byte_part_and_empty_object() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let (_, done) = api.upload_whole("empty.bin", &[Vec::new()]).await;
    assert_eq!(done.size, 0);
    assert_eq!(done.etag, expected_etag(&[b""]));
    api.assert_object("empty.bin", b"").await;
}

#[tokio::test]
async fn replacing_a_completed_object_and_unlisted_parts_are_discarded() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    api.upload_whole("k.bin", &[b"old".to_vec()]).await;
    let init = api.init("k.bin").await;
    assert!(init.is_exist);
    // Starting an upload never touches the existing object.
    api.assert_object("k.bin", b"old").await;
    let a = api.upload_part(&init.upload_id, 1, b"new-").await;
    api.upload_part(&init.upload_id, 2, b"unlisted").await;
    let c = api.upload_part(&init.upload_id, 3, b"object").await;
    let done = api
        .complete(&init.upload_id, &[(1, a.md5), (3, c.md5)])
        .await;
    assert_eq!(done.parts, 2);
    api.assert_object("k.bin", b"new-object").await;
    // Completed uploads keep no parts on disk.
    assert!(
        !server
            .data_files()
            .iter()
            .any(|p| p.starts_with("uploads") && p.to_string_lossy().contains("parts"))
    );
}

#[tokio::test]
async fn abort_ends_the_upload_and_frees_its_parts() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let init = api.init("to-abort.bin").await;
    api.upload_part(&init.upload_id, 1, &test_bytes(3, 10_000))
        .await;
    let aborted: AbortResponse = api
        .post_json("uploadAbort", &json!({"uploadId": init.upload_id}))
        .await
        .ok();
    assert_eq!(
        aborted,
        AbortResponse {
            upload_id: init.upload_id.clone(),
            aborted: true
        }
    );
    api.post_json("uploadAbort", &json!({"uploadId": init.upload_id}))
        .await
        .error(ErrorCode::NoSuchUpload);
    api.list_parts(&init.upload_id)
        .await
        .error(ErrorCode::NoSuchUpload);
    api.complete_raw(&init.upload_id, &[(1, md5_hex(&test_bytes(3, 10_000)))])
        .await
        .error(ErrorCode::NoSuchUpload);
    assert!(
        server
            .data_files()
            .iter()
            .all(|p| !p.starts_with("uploads")),
        "{:?}",
        server.data_files()
    );
}

#[tokio::test]
async fn form_bodies_and_get_list_parts() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let urlencoded = api
        .http
        .post(api.url("uploadInit"))
        .form(&[("resourceKey", "forms/a b.txt")])
        .send()
        .await
        .unwrap();
    let init: InitResponse = Api::answer(urlencoded).await.ok();
    let multipart = reqwest::multipart::Form::new().text("resourceKey", "forms/c.txt");
    let init2: InitResponse = api.post_form("uploadInit", multipart).await.ok();
    assert_ne!(init.upload_id, init2.upload_id);
    api.upload_part(&init.upload_id, 1, b"abc").await;
    let got = api
        .http
        .get(api.url("listParts"))
        .query(&[("uploadId", &init.upload_id)])
        .send()
        .await
        .unwrap();
    let listed: ListPartsResponse = Api::answer(got).await.ok();
    assert_eq!(listed.resource_key, "forms/a b.txt");
    assert_eq!(
        listed.parts,
        vec![PartInfo {
            md5: md5_hex(b"abc"),
            part_number: 1,
            size: 3
        }]
    );
    let form_list = api
        .http
        .post(api.url("listParts"))
        .form(&[("uploadId", &init2.upload_id)])
        .send()
        .await
        .unwrap();
    let listed2: ListPartsResponse = Api::answer(form_list).await.ok();
    assert!(listed2.parts.is_empty());
}

#[tokio::test]
async fn fields_may_arrive_in_any_order() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let init = api.init("order.bin").await;
    let bytes = test_bytes(5, 70_000);
    let form = reqwest::multipart::Form::new()
        .part(
            "content",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name("blob"),
        )
        .text("md5", md5_hex(&bytes))
        .text("partNumber", "4")
        .text("uploadId", init.upload_id.clone());
    let info: PartInfo = api.post_form("upload", form).await.ok();
    assert_eq!(info.part_number, 4);
    assert_eq!(info.size, 70_000);
}

#[tokio::test]
async fn health_demo_page_unknown_paths_and_methods() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let health = api
        .http
        .get(format!("{}/healthz", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let page = api
        .http
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("partup test page"));
    Api::answer(
        api.http
            .get(format!("{}/no/such/path", server.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await
    .error(ErrorCode::NotFound);
    Api::answer(api.http.get(api.url("uploadInit")).send().await.unwrap())
        .await
        .error(ErrorCode::MethodNotAllowed);
    Api::answer(
        api.http
            .delete(format!("{}/healthz", server.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await
    .error(ErrorCode::MethodNotAllowed);
    Api::answer(
        api.http
            .post(format!(
                "{}/v1/multipart/parallel/nothing",
                server.base_url()
            ))
            .send()
            .await
            .unwrap(),
    )
    .await
    .error(ErrorCode::NotFound);
}

#[tokio::test]
async fn cors_is_off_by_default_and_configurable() {
    let closed = TestServer::start(&[]).await;
    let preflight = |base: String| async move {
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{base}/v1/multipart/parallel/upload"),
            )
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap()
    };
    let answer = preflight(closed.base_url()).await;
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let open = TestServer::start(&["--cors-origin", "https://app.example.com"]).await;
    let answer = preflight(open.base_url()).await;
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = reqwest::Client::new()
        .get(format!("{}/healthz", open.base_url()))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Errors carry CORS headers too, or a page could not read them; ETag is exposed.
    let error = reqwest::Client::new()
        .post(format!(
            "{}/v1/multipart/parallel/listParts",
            open.base_url()
        ))
        .header("origin", "https://app.example.com")
        .json(&json!({"uploadId": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = error.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");

    let any = TestServer::start(&["--cors-origin", "*"]).await;
    assert_eq!(
        preflight(any.base_url()).await.headers()["access-control-allow-origin"],
        "*"
    );
}
