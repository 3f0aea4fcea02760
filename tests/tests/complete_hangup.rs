//! A request that arrived is finished however its connection ends (SPEC.md, "A complete that
//! arrived is finished"): an uploadComplete whose client closes the socket right after the last
//! byte, or half-closes it and goes, still completes the upload, and a retry gets the same 200; a
//! part whose client does the same is either stored whole or not at all.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use partup_tests::raw_http::{json_request, part_request};
use partup_tests::{Api, TestServer, expected_etag, md5_hex, test_bytes};
use partup_wire::{ErrorCode, ListPartsResponse};
use serde_json::json;

/// How the client leaves once its request is written.
#[derive(Clone, Copy, Debug)]
enum HangUp {
    /// `close()` right after the last byte.
    Close,
    /// `shutdown(Write)` (the server reads end-of-file after the request), then `close()`.
    HalfCloseThenDrop,
}

/// Writes `request` on a new connection and leaves at once as `hang_up` says, reading nothing.
async fn send_and_leave(port: u16, request: Vec<u8>, hang_up: HangUp) {
    tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket.write_all(&request).unwrap();
        if let HangUp::HalfCloseThenDrop = hang_up {
            socket.shutdown(Shutdown::Write).unwrap();
        }
        drop(socket);
    })
    .await
    .unwrap();
}

/// Waits until listParts says the upload is no longer in progress (it was completed), and panics
/// after 30 s: an abandoned complete that was dropped leaves it in progress for ever.
async fn wait_until_no_longer_in_progress(api: &Api, upload_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = api.list_parts(upload_id).await;
        if answer.status == 404 {
            answer.error(ErrorCode::NoSuchUpload);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned complete never finished: listParts still answers {} with {} parts",
            answer.status,
            answer.body["parts"].as_array().map_or(0, Vec::len)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn complete_survives(hang_up: HangUp) {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let key = format!("hangup/{hang_up:?}.bin");
    let id = api.init(&key).await.upload_id;
    // Big enough that assembling and fsyncing it outlasts the client by far.
    let parts: Vec<Vec<u8>> = (0..48).map(|i| test_bytes(i, 1 << 20)).collect();
    let mut listed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let info = api.upload_part(&id, i as u32 + 1, part).await;
        listed.push((info.part_number, info.md5));
    }
    let list: Vec<_> = listed
        .iter()
        .map(|(n, md5)| json!({"partNumber": n, "md5": md5}))
        .collect();
    let body = json!({"uploadId": id, "completeMultipartUpload": list}).to_string();
    send_and_leave(server.port, json_request("uploadComplete", &body), hang_up).await;

    // No retry yet: the upload must end on its own.
    wait_until_no_longer_in_progress(&api, &id).await;
    api.assert_object(&key, &parts.concat()).await;
    let retry = api.complete(&id, &listed).await;
    assert_eq!(retry.size, 48 << 20);
    assert_eq!(retry.parts, 48);
    let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    assert_eq!(retry.etag, expected_etag(&slices));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_whose_client_closes_right_after_the_last_byte_finishes() {
    complete_survives(HangUp::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_whose_client_half_closes_then_drops_finishes() {
    complete_survives(HangUp::HalfCloseThenDrop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_whose_client_hangs_up_after_the_last_byte_is_stored_whole_or_not_at_all() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("hangup/parts.bin").await.upload_id;
    let parts: Vec<Vec<u8>> = (0..12).map(|i| test_bytes(100 + i, 4 << 20)).collect();
    for (i, part) in parts.iter().enumerate() {
        let hang_up = if i % 2 == 0 {
            HangUp::Close
        } else {
            HangUp::HalfCloseThenDrop
        };
        send_and_leave(server.port, part_request(&id, i as u32 + 1, part), hang_up).await;
    }
    // Whatever was stored is whole; what was not left nothing staged. Staged files are deleted
    // when their handler is dropped, which may come a moment after the client left.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.staged_files().is_empty() {
        assert!(
            Instant::now() < deadline,
            "staged bytes left behind: {:?}",
            server.staged_files()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    for stored in &listed.parts {
        let sent = &parts[stored.part_number as usize - 1];
        assert_eq!(
            stored.size,
            sent.len() as u64,
            "part {}",
            stored.part_number
        );
        assert_eq!(stored.md5, md5_hex(sent), "part {}", stored.part_number);
    }
    // Send what is missing again, and the upload completes byte-exact.
    let mut all = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = i as u32 + 1;
        if !listed.parts.iter().any(|p| p.part_number == number) {
            api.upload_part(&id, number, part).await;
        }
        all.push((number, md5_hex(part)));
    }
    api.complete(&id, &all).await;
    api.assert_object("hangup/parts.bin", &parts.concat()).await;
    eprintln!(
        "{} of {} parts whose client hung up after the last byte were stored",
        listed.parts.len(),
        parts.len()
    );
}
