//! Stopping and starting under load: SIGTERM with stalled bodies exits within the shutdown timeout
//! and finishes the complete in flight; a second server on the same data directory is refused
//! before it touches anything, and a server killed with -9 leaves no stale lock behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use partup_tests::raw_http::{
    connect, json_request, read_response, served_and_kept, start_part, unread_by_server,
};
use partup_tests::{TestServer, server_binary, test_bytes};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connections::eventually;
use crate::outcomes::{Outcome, record};

/// A stopping server's timeouts: only the shutdown timeout may cut the stalled bodies.
const STOPPING_SERVER: [&str; 8] = [
    "--min-part-size",
    "1",
    "--shutdown-timeout",
    "3s",
    "--body-idle-timeout",
    "60s",
    "--header-timeout",
    "60s",
];

/// Uploads 96 MiB as parts of `key`; the upload's id, the parts, and its complete request.
async fn upload_for_complete(server: &TestServer, key: &str) -> (String, Vec<Vec<u8>>, Vec<u8>) {
    let api = server.api();
    let id = api.init(key).await.upload_id;
    let parts: Vec<Vec<u8>> = (0..96).map(|i| test_bytes(900 + i, 1 << 20)).collect();
    let mut listed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let info = api.upload_part(&id, i as u32 + 1, part).await;
        listed.push(json!({"partNumber": info.part_number, "md5": info.md5}));
    }
    let body = json!({"uploadId": id, "completeMultipartUpload": listed}).to_string();
    (id, parts, json_request("uploadComplete", &body))
}

/// 200 part bodies stalled after their first KiB (each staged on the server), and 200 idle
/// kept-alive connections.
async fn stall_and_idle(server: &TestServer) -> Vec<TcpStream> {
    let target = server.api().init("shutdown/stalled.bin").await.upload_id;
    let mut held = Vec::new();
    for i in 0..200 {
        let mut stream = connect(server.port).await;
        start_part(&mut stream, &target, i + 1, 1024).await;
        held.push(stream);
    }
    for _ in 0..200 {
        held.push(served_and_kept(server.port).await);
    }
    let staged = eventually(Duration::from_secs(30), || {
        server.staged_files().len() >= 200
    });
    assert!(staged.await, "the stalled parts never reached the disk");
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_stalled_bodies_exits_within_the_shutdown_timeout_and_the_complete_in_flight_finishes()
 {
    let server = TestServer::start(&STOPPING_SERVER).await;
    if server.store.is_s3() {
        eprintln!("staging is the data directory's: fs only");
        return;
    }
    let (_, parts, request) = upload_for_complete(&server, "shutdown/complete.bin").await;
    let held = stall_and_idle(&server).await;
    let staged_before: HashSet<PathBuf> = server.staged_files().into_iter().collect();
    // The complete; SIGTERM once its assembly is on the disk.
    let mut complete = connect(server.port).await;
    complete.write_all(&request).await.unwrap();
    let assembling = eventually(Duration::from_secs(30), || {
        server
            .staged_files()
            .iter()
            .any(|f| !staged_before.contains(f))
    });
    assert!(assembling.await, "the complete never started assembling");
    let sent = Instant::now();
    let (status, mut server) =
        tokio::task::spawn_blocking(move || server.terminate_and_keep_data())
            .await
            .unwrap();
    let shutdown_took = sent.elapsed();
    let complete_answer = read_response(&mut complete)
        .await
        .map(|(status, _)| status)
        .ok();
    server.start_again().await;
    let object_ok = server.api().object_bytes("shutdown/complete.bin").await == parts.concat();
    let staging_empty = server.staged_files().is_empty();
    record(Outcome {
        attack: "SIGTERM with 200 stalled part bodies, 200 idle connections and a complete in flight",
        answer_seen: format!(
            "exited ({status}) {:.2} s after SIGTERM (--shutdown-timeout 3 s); the complete answered {complete_answer:?}",
            shutdown_took.as_secs_f64()
        ),
        legitimate_upload_finished: Some(object_ok),
        lost: format!("nothing; staging empty after restart: {staging_empty}"),
    });
    assert!(status.success(), "exit status {status}");
    assert!(
        shutdown_took < Duration::from_secs(5),
        "shutdown took {shutdown_took:?}"
    );
    assert_eq!(complete_answer, Some(200));
    assert!(
        object_ok,
        "the complete in flight at SIGTERM did not finish byte-exact"
    );
    assert!(staging_empty);
    drop(held);
}

/// Starts a server on `data` and waits (10 s at most) for it to exit: whether it did, its exit
/// code and its stderr.
/// (exited by itself, exit code, stderr, stdout) of a second server on `data`.
async fn start_a_second_server(data: &Path, www: &Path) -> (bool, Option<i32>, String, String) {
    let mut second = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--www")
        .arg(www)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = eventually(Duration::from_secs(10), || {
        second.try_wait().unwrap().is_some()
    })
    .await;
    if !exited {
        second.kill().unwrap();
    }
    let output = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (exited, output.status.code(), stderr, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_directory_exits_2_and_touches_nothing() {
    let mut first = TestServer::start(&["--min-part-size", "1"]).await;
    if first.store.is_s3() {
        eprintln!("the data directory lock is --store fs's");
        return;
    }
    let first_pid = first.pid();
    let api = first.api();
    let parts: Vec<Vec<u8>> = (0..2).map(|i| test_bytes(950 + i, 1 << 20)).collect();
    let id = api.init("lock/kept.bin").await.upload_id;
    let one = api.upload_part(&id, 1, &parts[0]).await;
    // A part in flight on the first server: its staged bytes are what a second start would wipe.
    let mut in_flight = connect(first.port).await;
    start_part(&mut in_flight, &id, 7, 4096).await;
    let data = first.data.path().to_owned();
    assert!(eventually(Duration::from_secs(30), || !first.staged_files().is_empty()).await);
    let staged = first.staged_files();

    let (exited, code, stderr, stdout) = start_a_second_server(&data, first.www.path()).await;
    let untouched = first.staged_files() == staged;
    drop(in_flight);
    let two = api.upload_part(&id, 2, &parts[1]).await;
    api.complete(&id, &[(1, one.md5), (2, two.md5)]).await;
    let legitimate_ok = api.object_bytes("lock/kept.bin").await == parts.concat();
    // kill -9: the kernel drops the lock with the process, and a new server starts.
    first.restart().await;
    let after_crash_ok = first.api().object_bytes("lock/kept.bin").await == parts.concat();
    record(Outcome {
        attack: "a second server started on the same --data",
        answer_seen: format!("exit {code:?}: {}", stderr.trim()),
        legitimate_upload_finished: Some(legitimate_ok),
        lost: format!(
            "nothing; the first's staged part untouched: {untouched}; restart after kill -9 serves: {after_crash_ok}"
        ),
    });
    assert!(exited, "the second server kept running");
    assert_eq!(code, Some(2));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    // It never said it listens: a script waiting for that line is not fooled.
    assert!(!stdout.contains("listening on"), "{stdout}");
    let expected = format!("is in use by another partup-server (pid {first_pid})");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        untouched,
        "the second server touched the first's staging area"
    );
    assert!(legitimate_ok && after_crash_ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_arrives_during_shutdown_is_answered_503_with_retry_after() {
    let mut server = TestServer::start(&["--shutdown-timeout", "3s"]).await;
    let port = server.port;
    // Half a request head before SIGTERM, the rest after it.
    let body = r#"{"uploadId":"0123456789abcdef0123456789abcdef"}"#;
    let request = json_request("listParts", body);
    let split = request.len() / 3;
    let mut late = connect(port).await;
    late.write_all(&request[..split]).await.unwrap();
    // SIGTERM only once the server has read that half: a connection whose bytes it never read is
    // one it never began to serve (closed like any idle one).
    let read_by_server = eventually(Duration::from_secs(10), || {
        unread_by_server(&late) == Some(0)
    })
    .await;
    assert!(
        read_by_server,
        "the server never read the request's first half"
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status();
    // The listener is closed once the server is stopping.
    let stopping = eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    })
    .await;
    late.write_all(&request[split..]).await.unwrap();
    // The answer closes the connection: read to its end.
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), late.read_to_end(&mut received)).await;
    let answer = String::from_utf8_lossy(&received).to_ascii_lowercase();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    record(Outcome {
        attack: "a request completed on an open connection after SIGTERM",
        answer_seen: answer.lines().next().unwrap_or("no answer").to_owned(),
        legitimate_upload_finished: None,
        lost: "nothing".into(),
    });
    assert!(stopping, "the listener stayed open after SIGTERM");
    assert!(read.is_ok(), "the connection stayed open");
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 5\r\n"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(
        answer.contains("\"code\":\"serviceunavailable\""),
        "{answer}"
    );
    assert!(answer.contains("x-request-id: "), "{answer}");
    assert!(status.success(), "exit status {status}");
}
