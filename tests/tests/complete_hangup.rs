//! uploadComplete keeps going when the client hangs up mid-request: the object appears without any
//! further request, and a retry of the same request gets the same 200.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use partup_tests::{TestServer, test_bytes};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_finishes_after_the_client_hangs_up_and_a_retry_gets_the_same_answer() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("hangup/big.bin").await.upload_id;
    let parts: Vec<Vec<u8>> = (0..96).map(|i| test_bytes(i, 1 << 20)).collect();
    let mut list = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        list.push(
            json!({"partNumber": i + 1, "md5": api.upload_part(&id, i as u32 + 1, p).await.md5}),
        );
    }
    let body = json!({"uploadId": id, "completeMultipartUpload": list}).to_string();
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = format!(
            "POST /v1/multipart/parallel/uploadComplete HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).unwrap();
        // Hang up without reading the answer, once the server has the request (hyper drops a request
        // whose connection closes before its body arrived) but long before 96 MiB are assembled and
        // fsynced.
        std::thread::sleep(Duration::from_millis(20));
        drop(socket);
    })
    .await
    .unwrap();
    // No retry yet: the object must appear on its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = api.get_object("hangup/big.bin").await;
        if response.status() == 200 {
            assert_eq!(response.bytes().await.unwrap(), parts.concat());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned complete never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list: Vec<(u32, String)> = (0..96)
        .map(|i| (i as u32 + 1, partup_tests::md5_hex(&parts[i])))
        .collect();
    let retry = api.complete(&id, &list).await;
    assert_eq!(retry.size, 96 << 20);
    assert_eq!(retry.parts, 96);
    assert_eq!(
        retry.etag,
        partup_tests::expected_etag(&parts.iter().map(|p| p.as_slice()).collect::<Vec<_>>())
    );
}
