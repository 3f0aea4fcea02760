//! Parts stream to disk: a 100 MiB part never sits in the server's memory (its peak RSS stays far
//! below the part size), and a part declared over the limit is refused before its bytes are read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use md5::{Digest, Md5};
use partup_tests::{TestServer, peak_rss_bytes, test_bytes};
use partup_wire::PartInfo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_part_streams_through_without_filling_memory() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let id = api.init("stream/100mib.bin").await.upload_id;
    const PART: usize = 100 << 20;
    // The body is generated on the fly, 1 MiB at a time, so the test process doesn't hold it either.
    let mut hasher = Md5::new();
    let chunks: Vec<Vec<u8>> = (0..100).map(|i| test_bytes(i, 1 << 20)).collect();
    for c in &chunks {
        hasher.update(c);
    }
    let md5 = hex::encode(hasher.finalize());
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ));
    let form = reqwest::multipart::Form::new()
        .text("uploadId", id.clone())
        .text("partNumber", "1")
        .text("md5", md5.clone())
        .part(
            "content",
            reqwest::multipart::Part::stream_with_length(body, PART as u64).file_name("b"),
        );
    let info: PartInfo = api.post_form("upload", form).await.ok();
    assert_eq!(info.size, PART as u64);
    assert_eq!(info.md5, md5);
    let peak = peak_rss_bytes(server.pid());
    eprintln!("server peak RSS after a 100 MiB part: {} MiB", peak >> 20);
    // On disk the part goes through a 1 MiB buffer; towards S3, OpenDAL also holds one 5 MiB part
    // being filled and one being sent. Either way far below the part's 100 MiB.
    let limit: u64 = if server.store.is_s3() {
        64 << 20
    } else {
        48 << 20
    };
    assert!(
        peak < limit,
        "server peak RSS {} MiB: the part was buffered in memory",
        peak >> 20
    );
}

#[tokio::test]
async fn a_part_declared_over_the_limit_is_refused_before_it_is_sent() {
    let server = TestServer::start(&[]).await;
    let id = server.api().init("stream/huge.bin").await.upload_id;
    let port = server.port;
    let answer = tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Declares 1 GiB but sends only the headers and the start of the form: the answer must come
        // without the server waiting for (or reading) the rest.
        let head = format!(
            "POST /v1/multipart/parallel/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {}\r\n\r\n--XYZ\r\nContent-Disposition: form-data; name=\"uploadId\"\r\n\r\n{id}\r\n",
            1u64 << 30
        );
        socket.write_all(head.as_bytes()).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = vec![0u8; 4096];
        let n = socket.read(&mut answer).expect("an answer before the body was sent");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"EntityTooLarge\""), "{answer}");
}
