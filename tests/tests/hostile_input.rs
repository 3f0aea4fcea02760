//! Hostile and broken input: path-escaping keys and ids, garbage multipart bodies, a client that
//! drops the connection mid-part, 10,001 part numbers, unknown fields. Each gets its SPEC.md answer,
//! the store stays consistent, and nothing is written outside `--data`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use partup_tests::{Api, TestServer, md5_hex, test_bytes};
use partup_wire::{ErrorCode, ListPartsResponse};
use serde_json::json;

/// Files in the parent of the data directory other than the data directory itself: anything written
/// outside `--data` would show up here.
fn siblings_of_data(server: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(server.data.path().parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn path_escaping_keys_and_ids_never_leave_the_data_directory() {
    // A private parent directory, so its listing is ours alone.
    let parent = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(parent.path(), &["--min-part-size", "1"]).await;
    let api = server.api();
    let before = siblings_of_data(&server);
    for key in [
        "../escape.txt",
        "../../escape.txt",
        "a/../../escape.txt",
        "/tmp/escape.txt",
        "..\\escape.txt",
        "./x",
    ] {
        api.post_json("uploadInit", &json!({"resourceKey": key}))
            .await
            .error(ErrorCode::InvalidObjectName);
    }
    for id in [
        "../uploads",
        "..",
        "../../../../etc/passwd",
        "0123456789abcdef0123456789abcde/",
        "0123456789ABCDEF0123456789ABCDEF",
    ] {
        api.list_parts(id).await.error(ErrorCode::NoSuchUpload);
        api.post_json("uploadAbort", &json!({"uploadId": id}))
            .await
            .error(ErrorCode::NoSuchUpload);
        api.upload_part_raw(id, "1", &md5_hex(b"x"), b"x".to_vec())
            .await
            .error(ErrorCode::NoSuchUpload);
    }
    // Keys that look like paths but are valid names stay inside.
    for key in ["..a/b..", "...", "a/.../b", "etc/passwd"] {
        api.upload_whole(key, &[key.as_bytes().to_vec()]).await;
        api.assert_object(&key.replace("...", "%2E%2E%2E"), key.as_bytes())
            .await;
    }
    // Object reads with escaping paths.
    for path in ["..%2Fescape.txt", "%2E%2E/%2E%2E/etc/passwd", "a/%2E%2E/b"] {
        let response = api
            .http
            .get(format!("{}/v1/objects/{path}", server.base_url()))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(response.status().as_u16(), 400 | 404),
            "{path}: {}",
            response.status()
        );
    }
    assert_eq!(siblings_of_data(&server), before);
    assert!(server.data_files().iter().all(|p| {
        ["objects", "uploads", "index", "uploads-index"]
            .iter()
            .any(|dir| p.starts_with(dir))
    }));
}

#[tokio::test]
async fn garbage_multipart_bodies_are_malformed_requests() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let id = api.init("garbage.bin").await.upload_id;
    api.upload_part(&id, 1, b"kept").await;
    let bodies: [(&str, &[u8]); 4] = [
        (
            "multipart/form-data; boundary=XYZ",
            b"this is not a multipart body at all",
        ),
        (
            "multipart/form-data; boundary=XYZ",
            b"--XYZ\r\nContent-Disposition: form-data; name=\"uploadId\"\r\n\r\nabc",
        ),
        ("multipart/form-data", b"--XYZ\r\n\r\n--XYZ--"),
        ("text/plain", b"uploadId=1&partNumber=1"),
    ];
    for (content_type, body) in bodies {
        let response = api
            .http
            .post(api.url("upload"))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let answer = Api::answer(response).await;
        assert!(
            matches!(
                answer.body["code"].as_str(),
                Some("MalformedRequest") | Some("InvalidArgument")
            ),
            "{content_type}: {answer:?}"
        );
        assert_eq!(answer.status, 400);
    }
    // A form whose content field is cut off before its closing boundary.
    let truncated = format!(
        "--XYZ\r\nContent-Disposition: form-data; name=\"uploadId\"\r\n\r\n{id}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"partNumber\"\r\n\r\n1\r\n--XYZ\r\nContent-Disposition: form-data; name=\"md5\"\r\n\r\n{}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"content\"; filename=\"b\"\r\n\r\nhalf of the by",
        md5_hex(b"half of the bytes")
    );
    let response = api
        .http
        .post(api.url("upload"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(truncated)
        .send()
        .await
        .unwrap();
    Api::answer(response)
        .await
        .error(ErrorCode::MalformedRequest);
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 1);
    assert_eq!(listed.parts[0].md5, md5_hex(b"kept"));
    // No staging debris left behind.
    assert!(
        server.data_files().iter().all(|p| !p.starts_with("tmp")),
        "{:?}",
        server.data_files()
    );
}

#[tokio::test]
async fn a_client_dropping_the_connection_mid_part_leaves_the_earlier_part_intact() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("dropped.bin").await.upload_id;
    let original = test_bytes(31, 300_000);
    api.upload_part(&id, 1, &original).await;

    let replacement = test_bytes(32, 4_000_000);
    let head = format!(
        "--XYZ\r\nContent-Disposition: form-data; name=\"uploadId\"\r\n\r\n{id}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"partNumber\"\r\n\r\n1\r\n--XYZ\r\nContent-Disposition: form-data; name=\"md5\"\r\n\r\n{}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"content\"; filename=\"b\"\r\n\r\n",
        md5_hex(&replacement)
    );
    let total = head.len() + replacement.len() + "\r\n--XYZ--\r\n".len();
    let port = server.port;
    let sent_half = tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = format!(
            "POST /v1/multipart/parallel/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {total}\r\n\r\n{head}"
        );
        socket.write_all(request.as_bytes()).unwrap();
        socket
            .write_all(&replacement[..replacement.len() / 2])
            .unwrap();
        socket.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        // Hang up mid-part.
        drop(socket);
    });
    sent_half.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 1);
    assert_eq!(listed.parts[0].md5, md5_hex(&original));
    assert_eq!(listed.parts[0].size, 300_000);
    assert!(
        server.data_files().iter().all(|p| !p.starts_with("tmp")),
        "staged bytes left behind: {:?}",
        server.data_files()
    );
    api.complete(&id, &[(1, md5_hex(&original))]).await;
    api.assert_object("dropped.bin", &original).await;
}

#[tokio::test]
async fn part_numbers_stop_at_ten_thousand() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("limits/10000.bin").await.upload_id;
    let zero = api.upload_part(&id, 0, b"zero").await;
    let last = api.upload_part(&id, 10_000, b"last").await;
    let m = api
        .upload_part_raw(&id, "10001", &md5_hex(b"x"), b"x".to_vec())
        .await
        .error(ErrorCode::InvalidArgument);
    assert!(m.contains("partNumber"), "{m}");
    api.complete_raw(&id, &[(0, zero.md5.clone()), (10_001, last.md5.clone())])
        .await
        .error(ErrorCode::InvalidArgument);
    // A list of 10,001 entries (0..=10000 is 10,001 numbers, all valid) fits the 4 MiB body; every
    // part must exist, so it is InvalidPart, not a crash or a timeout.
    let list: Vec<(u32, String)> = (0..=10_000).map(|n| (n, md5_hex(b"x"))).collect();
    api.complete_raw(&id, &list)
        .await
        .error(ErrorCode::InvalidPart);
    let done = api
        .complete(&id, &[(0, zero.md5), (10_000, last.md5)])
        .await;
    assert_eq!(done.parts, 2);
    api.assert_object("limits/10000.bin", b"zerolast").await;
}

#[tokio::test]
async fn unknown_fields_are_ignored_everywhere() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let init: partup_wire::InitResponse = api
        .post_json(
            "uploadInit",
            &json!({"resourceKey": "u.bin", "contentType": "x", "nested": {"a": 1}}),
        )
        .await
        .ok();
    let form = reqwest::multipart::Form::new()
        .text("uploadId", init.upload_id.clone())
        .text("partNumber", "1")
        .text("comment", "ignored")
        .text("md5", md5_hex(b"data"))
        .part("content", reqwest::multipart::Part::bytes(b"data".to_vec()))
        .part(
            "thumbnail",
            reqwest::multipart::Part::bytes(vec![7u8; 5000]),
        );
    api.post_form("upload", form)
        .await
        .ok::<partup_wire::PartInfo>();
    let listed: ListPartsResponse = api
        .post_json(
            "listParts",
            &json!({"uploadId": init.upload_id, "marker": 3}),
        )
        .await
        .ok();
    assert_eq!(listed.parts.len(), 1);
    let body = json!({"uploadId": init.upload_id, "x": [1], "completeMultipartUpload": [{"partNumber": 1, "md5": md5_hex(b"data"), "etag": "ignored"}]});
    api.post_json("uploadComplete", &body)
        .await
        .ok::<partup_wire::CompleteResponse>();
    api.assert_object("u.bin", b"data").await;
}

#[tokio::test]
async fn a_raw_garbage_request_line_does_not_hurt_the_server() {
    let server = TestServer::start(&[]).await;
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket
            .write_all(b"\x00\x01GARBAGE \xff\xfe HTTP/9.9\r\n\r\n")
            .unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = Vec::new();
        let _ = socket.read_to_end(&mut buf);
    })
    .await
    .unwrap();
    let health = reqwest::get(format!("{}/healthz", server.base_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
