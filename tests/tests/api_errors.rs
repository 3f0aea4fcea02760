//! Every error code of SPEC.md's table, with its status and JSON body, and the order of
//! uploadComplete's checks; after each failure the stored state is unchanged.

use partup_tests::{Api, TestServer, md5_hex, test_bytes};
use partup_wire::{ErrorCode, ListPartsResponse};
use serde_json::json;

#[tokio::test]
async fn init_rejects_bad_keys_and_bodies() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let long_segment = "s".repeat(256);
    let long_key = vec!["k"; 600].join("/");
    for key in [
        "",
        "/abs",
        "a//b",
        "a/",
        ".",
        "..",
        "a/./b",
        "a/../b",
        "../../etc/passwd",
        "a\\b",
        "tab\there",
        "nul\u{0}",
        "del\u{7f}",
        "c1\u{85}",
        &long_segment,
        &long_key,
    ] {
        let message = api
            .post_json("uploadInit", &json!({"resourceKey": key}))
            .await
            .error(ErrorCode::InvalidObjectName);
        assert!(message.contains("resourceKey"), "{message}");
    }
    let message = api
        .post_json("uploadInit", &json!({}))
        .await
        .error(ErrorCode::InvalidArgument);
    assert!(message.contains("resourceKey"), "{message}");
    let message = api
        .post_json("uploadInit", &json!({"resourceKey": 5}))
        .await
        .error(ErrorCode::InvalidArgument);
    assert!(message.contains("resourceKey"), "{message}");
    let garbage = api
        .http
        .post(api.url("uploadInit"))
        .header("content-type", "application/json")
        .body("{\"resourceKey\":")
        .send()
        .await
        .unwrap();
    Api::answer(garbage)
        .await
        .error(ErrorCode::MalformedRequest);
    assert!(
        server
            .data_files()
            .iter()
            .all(|p| !p.starts_with("uploads"))
    );
}

#[tokio::test]
async fn upload_part_field_errors() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let id = api.init("part-errors.bin").await.upload_id;
    let bytes = b"0123456789".to_vec();
    let md5 = md5_hex(&bytes);
    for (number, why) in [
        ("10001", "too big"),
        ("-1", "negative"),
        ("1.5", "fraction"),
        ("x", "not digits"),
        ("", "empty"),
        (" 1", "space"),
    ] {
        let message = api
            .upload_part_raw(&id, number, &md5, bytes.clone())
            .await
            .error(ErrorCode::InvalidArgument);
        assert!(message.contains("partNumber"), "{why}: {message}");
    }
    for bad_md5 in ["", "abc", &"g".repeat(32), &format!("{md5}0")] {
        let message = api
            .upload_part_raw(&id, "1", bad_md5, bytes.clone())
            .await
            .error(ErrorCode::InvalidArgument);
        assert!(message.contains("md5"), "{message}");
    }
    api.upload_part_raw("0123456789abcdef0123456789abcdef", "1", &md5, bytes.clone())
        .await
        .error(ErrorCode::NoSuchUpload);
    api.upload_part_raw("../../etc", "1", &md5, bytes.clone())
        .await
        .error(ErrorCode::NoSuchUpload);
    // Missing fields, each named.
    for missing in ["uploadId", "partNumber", "md5", "content"] {
        let mut form = reqwest::multipart::Form::new();
        if missing != "uploadId" {
            form = form.text("uploadId", id.clone());
        }
        if missing != "partNumber" {
            form = form.text("partNumber", "1");
        }
        if missing != "md5" {
            form = form.text("md5", md5.clone());
        }
        if missing != "content" {
            form = form.part("content", reqwest::multipart::Part::bytes(bytes.clone()));
        }
        let answer = api.post_form("upload", form).await;
        let message = answer.error(ErrorCode::InvalidArgument);
        assert!(message.contains(missing), "{message}");
    }
    // Not a form at all.
    let json_body = api
        .http
        .post(api.url("upload"))
        .json(&json!({"uploadId": id}))
        .send()
        .await
        .unwrap();
    Api::answer(json_body)
        .await
        .error(ErrorCode::MalformedRequest);
    // Wrong digest: BadDigest, and nothing kept.
    api.upload_part_raw(&id, "1", &md5_hex(b"other"), bytes.clone())
        .await
        .error(ErrorCode::BadDigest);
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert!(listed.parts.is_empty());
}

#[tokio::test]
async fn bad_digest_leaves_an_earlier_part_intact() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let id = api.init("keep.bin").await.upload_id;
    let good = test_bytes(11, 50_000);
    api.upload_part(&id, 1, &good).await;
    let damaged = test_bytes(12, 50_000);
    api.upload_part_raw(&id, "1", &md5_hex(&good), damaged)
        .await
        .error(ErrorCode::BadDigest);
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts[0].md5, md5_hex(&good));
    api.complete(&id, &[(1, md5_hex(&good))]).await;
    api.assert_object("keep.bin", &good).await;
}

#[tokio::test]
async fn complete_checks_come_in_the_documented_order_and_change_nothing() {
    let server = TestServer::start(&["--min-part-size", "1000"]).await;
    let api = server.api();
    let id = api.init("order/checks.bin").await.upload_id;
    let p1 = test_bytes(21, 1000);
    let p2 = test_bytes(22, 999);
    let p3 = test_bytes(23, 10);
    for (n, p) in [(1, &p1), (2, &p2), (3, &p3)] {
        api.upload_part(&id, n, p).await;
    }
    let (m1, m2, m3) = (md5_hex(&p1), md5_hex(&p2), md5_hex(&p3));
    let raw = |body: serde_json::Value| {
        let api = api.clone();
        async move { api.post_json("uploadComplete", &body).await }
    };

    // Syntax and shape first.
    let garbage = api
        .http
        .post(api.url("uploadComplete"))
        .body("not json")
        .send()
        .await
        .unwrap();
    Api::answer(garbage)
        .await
        .error(ErrorCode::MalformedRequest);
    let m = raw(json!({"completeMultipartUpload": []}))
        .await
        .error(ErrorCode::InvalidArgument);
    assert!(m.contains("uploadId"), "{m}");
    let m = raw(json!({"uploadId": id}))
        .await
        .error(ErrorCode::InvalidArgument);
    assert!(m.contains("completeMultipartUpload"), "{m}");
    let m = raw(json!({"uploadId": id, "completeMultipartUpload": [{"partNumber": 1, "md5": m1}, {"partNumber": "1e3", "md5": m2}]})).await.error(ErrorCode::InvalidArgument);
    assert!(m.contains("completeMultipartUpload[1].partNumber"), "{m}");
    for bad_number in [
        json!(1.5),
        json!(-1),
        json!(10001),
        json!("10001"),
        json!("123456"),
        json!(true),
        json!(1e2),
    ] {
        raw(json!({"uploadId": id, "completeMultipartUpload": [{"partNumber": bad_number, "md5": m1}]})).await.error(ErrorCode::InvalidArgument);
    }
    let m =
        raw(json!({"uploadId": id, "completeMultipartUpload": [{"partNumber": 1, "md5": "xyz"}]}))
            .await
            .error(ErrorCode::InvalidArgument);
    assert!(m.contains("[0].md5"), "{m}");
    // Then: upload exists (even before an empty list), list non-empty, order, parts, sizes.
    raw(json!({"uploadId": "ffffffffffffffffffffffffffffffff", "completeMultipartUpload": []}))
        .await
        .error(ErrorCode::NoSuchUpload);
    raw(json!({"uploadId": id, "completeMultipartUpload": []}))
        .await
        .error(ErrorCode::InvalidArgument);
    api.complete_raw(&id, &[(2, m2.clone()), (1, m1.clone())])
        .await
        .error(ErrorCode::InvalidPartOrder);
    api.complete_raw(&id, &[(1, m1.clone()), (1, m1.clone())])
        .await
        .error(ErrorCode::InvalidPartOrder);
    // InvalidPartOrder is checked before the parts exist.
    api.complete_raw(&id, &[(9, m1.clone()), (8, m1.clone())])
        .await
        .error(ErrorCode::InvalidPartOrder);
    let m = api
        .complete_raw(&id, &[(1, m1.clone()), (4, m1.clone())])
        .await
        .error(ErrorCode::InvalidPart);
    assert!(m.contains("part 4"), "{m}");
    let m = api
        .complete_raw(&id, &[(1, m1.clone()), (2, m3.clone())])
        .await
        .error(ErrorCode::InvalidPart);
    assert!(m.contains("part 2"), "{m}");
    // Part 2 is 999 bytes < 1000 and not last: too small. InvalidPart beats EntityTooSmall.
    let m = api
        .complete_raw(&id, &[(1, m1.clone()), (2, m2.clone()), (3, m3.clone())])
        .await
        .error(ErrorCode::EntityTooSmall);
    assert!(m.contains("part 2"), "{m}");
    api.complete_raw(&id, &[(2, m2.clone()), (3, m3.clone()), (4, m3.clone())])
        .await
        .error(ErrorCode::InvalidPart);

    // Nothing changed: all parts still listed, no object; a valid list then succeeds.
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 3);
    Api::answer(api.get_object("order/checks.bin").await)
        .await
        .error(ErrorCode::NoSuchKey);
    // Last part may be small; part 2 (999) last is fine too.
    let done = api.complete(&id, &[(1, m1.clone()), (3, m3.clone())]).await;
    assert_eq!(done.size, 1010);
    api.assert_object("order/checks.bin", &[p1, p3].concat())
        .await;
}

#[tokio::test]
async fn repeated_complete_answers_the_same_and_a_different_list_is_no_such_upload() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("retry.bin").await.upload_id;
    let a = api.upload_part(&id, 1, b"first").await;
    let b = api.upload_part(&id, 2, b"second").await;
    let first = api
        .complete(&id, &[(1, a.md5.clone()), (2, b.md5.clone())])
        .await;
    // Same list with string numbers and uppercase md5s is the same request.
    let again = api
        .post_json(
            "uploadComplete",
            &json!({"uploadId": id, "completeMultipartUpload": [
            {"partNumber": "1", "md5": a.md5.to_uppercase()}, {"partNumber": "2", "md5": b.md5}]}),
        )
        .await
        .ok::<partup_wire::CompleteResponse>();
    assert_eq!(first, again);
    api.complete_raw(&id, &[(1, a.md5.clone())])
        .await
        .error(ErrorCode::NoSuchUpload);
    // Survives a restart (the record is on disk).
    let mut server = server;
    server.restart().await;
    let api = server.api();
    assert_eq!(
        api.complete(&id, &[(1, a.md5.clone()), (2, b.md5.clone())])
            .await,
        first
    );
}

#[tokio::test]
async fn body_limits() {
    let server = TestServer::start(&["--max-part-size", "200000", "--min-part-size", "1000"]).await;
    let api = server.api();
    // A JSON body over 4 MiB.
    let huge = json!({"resourceKey": "a", "padding": "x".repeat(5 << 20)});
    api.post_json("uploadInit", &huge)
        .await
        .error(ErrorCode::EntityTooLarge);
    let huge_complete = json!({"uploadId": "0".repeat(32), "completeMultipartUpload": [], "padding": "x".repeat(5 << 20)});
    api.post_json("uploadComplete", &huge_complete)
        .await
        .error(ErrorCode::EntityTooLarge);
    // A part one byte over the limit; exactly at the limit is fine.
    let id = api.init("limits.bin").await.upload_id;
    let over = test_bytes(1, 200_001);
    let m = api
        .upload_part_raw(&id, "1", &md5_hex(&over), over.clone())
        .await
        .error(ErrorCode::EntityTooLarge);
    assert!(m.contains("200000"), "{m}");
    let at = test_bytes(1, 200_000);
    api.upload_part(&id, 1, &at).await;
    // Streamed (chunked, no Content-Length) over the limit is caught while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|i| Ok(test_bytes(i, 10_000))).collect();
    let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(
        futures_util::stream::iter(chunks),
    ))
    .file_name("blob");
    let form = reqwest::multipart::Form::new()
        .text("uploadId", id.clone())
        .text("partNumber", "2")
        .text("md5", md5_hex(b""))
        .part("content", part);
    match api
        .http
        .post(api.url("upload"))
        .multipart(form)
        .send()
        .await
    {
        Ok(response) => {
            Api::answer(response).await.error(ErrorCode::EntityTooLarge);
        }
        // The server may close the connection before the client finished sending; that is a refusal too.
        Err(e) => assert!(e.is_request() || e.is_body() || e.is_connect(), "{e}"),
    }
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 1);
    assert_eq!(listed.parts[0].size, 200_000);
}
