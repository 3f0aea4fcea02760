//! Connections: thousands of idle or trickling clients, a full connection cap, file descriptors
//! given back, and running out of them. Hostile clients are raw sockets; the legitimate upload
//! beside them uses the ordinary client. (SIGTERM under load and the data directory's lock are in
//! `stopping.rs`.)

use std::process::Command;
use std::time::{Duration, Instant};

use partup_tests::raw_http::{HEALTHZ_REQUEST, connect, read_response, served_and_kept};
use partup_tests::{ServerProcess, TestServer, open_fds, server_binary, test_bytes};
use tokio::io::AsyncWriteExt;

use crate::attackers::{Attack, aftermath, record_crowd};
use crate::outcomes::{Outcome, record};

/// Raises this process's soft open-file limit to at least `needed`, or fails saying why.
fn raise_own_open_file_limit(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return;
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit {
        current: Some(hard.min(needed.max(1 << 16))),
        maximum: limit.maximum,
    };
    let _ = setrlimit(Resource::Nofile, raised);
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        soft >= needed,
        "this test holds {needed} sockets; the open-file limit is {soft} (hard {hard})"
    );
}

/// Polls `check` every 10 ms until it holds; false if it still does not after `within`.
pub(crate) async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !check() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// 64 MiB in 8 parts, deterministic.
fn legitimate_parts() -> Vec<Vec<u8>> {
    (0..8).map(|i| test_bytes(700 + i, 8 << 20)).collect()
}

/// Room for 2,000 attackers, and short timeouts to cut them by.
const ATTACKED_SERVER: [&str; 6] = [
    "--max-connections",
    "3000",
    "--header-timeout",
    "2s",
    "--body-idle-timeout",
    "2s",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_and_trickling_connections_are_cut_and_a_legitimate_upload_finishes() {
    raise_own_open_file_limit(4096);
    let server = TestServer::start(&ATTACKED_SERVER).await;
    if server.store.is_s3() {
        eprintln!("the staged parts counted here are the data directory's: fs only");
        return;
    }
    let (api, pid, port) = (server.api(), server.pid(), server.port);
    let fds_before = open_fds(pid);
    let target = api.init("attack/trickled.bin").await.upload_id;
    let attack = Attack::launch(port, pid, &target);
    // The upload starts once every trickler holds a staged part on the server.
    let all_staged = eventually(Duration::from_secs(60), || {
        server.staged_files().len() >= 1000
    })
    .await;
    let parts = legitimate_parts();
    let upload_started = Instant::now();
    api.upload_whole("legit/alongside-2000.bin", &parts).await;
    let upload_time = upload_started.elapsed();
    let legitimate_ok = api.object_bytes("legit/alongside-2000.bin").await == parts.concat();
    let report = attack.end().await;
    let after = aftermath(&server, &target, fds_before).await;
    record_crowd(&report, &after, upload_time, legitimate_ok);
    assert!(all_staged, "the tricklers never all reached the disk");
    let (r, after) = (report, after);
    // 1,000 sockets and 2,000 staged-part descriptors held by the tricklers alone.
    assert!(
        r.peak_fds >= fds_before + 3000,
        "the attack was never held at once"
    );
    assert!(legitimate_ok, "the upload did not read back byte-exact");
    assert_eq!(r.idle_cut, 1000, "idle connections left open");
    assert_eq!(
        (r.cut_early, r.trickles_cut),
        (0, 1000),
        "tricklers cut early or never"
    );
    assert!(
        after.staging_emptied,
        "staged bytes left: {:?}",
        server.staged_files()
    );
    assert_eq!(after.trickled_parts, 0, "a trickled part was stored");
    assert!(
        after.target_usable,
        "the attacked upload could not be completed"
    );
    assert!(
        after.fds_back,
        "the server holds {} fds, {fds_before} at start",
        open_fds(pid)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_the_next_one_waits_until_a_slot_frees_and_uploads_resume() {
    let server = TestServer::start(&["--max-connections", "50", "--header-timeout", "60s"]).await;
    let (api, port) = (server.api(), server.port);
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(served_and_kept(port).await);
    }
    // The 51st: the kernel completes its handshake, the server does not serve it.
    let mut fifty_first = connect(port).await;
    fifty_first.write_all(HEALTHZ_REQUEST).await.unwrap();
    let unserved = tokio::time::timeout(Duration::from_secs(1), read_response(&mut fifty_first))
        .await
        .is_err();
    let parts = legitimate_parts();
    let upload = {
        let (api, parts) = (api.clone(), parts.clone());
        tokio::spawn(async move { api.upload_whole("legit/after-the-cap.bin", &parts).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let upload_waited = !upload.is_finished();
    // One slot frees: the 51st is served.
    let freed = Instant::now();
    drop(held.pop());
    let answered =
        tokio::time::timeout(Duration::from_secs(10), read_response(&mut fifty_first)).await;
    let answered_after = freed.elapsed();
    let fifty_first_status = answered.ok().and_then(Result::ok).map(|(status, _)| status);
    // Everyone leaves: the upload goes through.
    drop(fifty_first);
    held.clear();
    let finished = tokio::time::timeout(Duration::from_secs(60), upload).await;
    let legitimate_ok =
        finished.is_ok() && api.object_bytes("legit/after-the-cap.bin").await == parts.concat();
    let alive = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    record(Outcome {
        attack: "51 connections against --max-connections 50",
        answer_seen: format!(
            "51st unserved while 50 held: {unserved} (upload waiting too: {upload_waited}); answered {:?} {} ms after one closed; server alive: {alive}",
            fifty_first_status,
            answered_after.as_millis()
        ),
        legitimate_upload_finished: Some(legitimate_ok),
        lost: "nothing".into(),
    });
    assert!(unserved, "the 51st connection was served past the cap");
    assert!(upload_waited, "the upload was served past the cap");
    assert_eq!(fifty_first_status, Some(200));
    assert!(legitimate_ok && alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_their_file_descriptors_are_released_when_clients_leave() {
    let server = TestServer::start(&["--header-timeout", "60s"]).await;
    let (pid, port) = (server.pid(), server.port);
    let at_start = open_fds(pid);
    let mut clients = Vec::new();
    for _ in 0..500 {
        clients.push(served_and_kept(port).await);
    }
    let while_held = open_fds(pid);
    let left = Instant::now();
    drop(clients);
    let released = eventually(Duration::from_secs(10), || open_fds(pid) <= at_start + 2).await;
    let release_took = left.elapsed();
    let at_end = open_fds(pid);
    record(Outcome {
        attack: "500 kept-alive clients connect, then leave",
        answer_seen: format!(
            "server fds: {at_start} at start, {while_held} while held, {at_end} {} ms after they left",
            release_took.as_millis()
        ),
        legitimate_upload_finished: None,
        lost: "nothing".into(),
    });
    assert!(
        while_held >= at_start + 495,
        "{while_held} fds while 500 clients were connected"
    );
    assert!(
        released,
        "{at_end} fds after the clients left, {at_start} at start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_pauses_accepting_and_never_crashes() {
    let data = tempfile::tempdir().unwrap();
    let www = tempfile::tempdir().unwrap();
    // A hard limit of 100 open files, far below what --max-connections 1000 needs.
    let mut command = Command::new("prlimit");
    command
        .arg("--nofile=100:100")
        .arg("--")
        .arg(server_binary())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "1000",
            "--data",
        ])
        .arg(data.path())
        .arg("--www")
        .arg(www.path())
        .env("RUST_LOG", "warn");
    let (server, output) = ServerProcess::start_keeping_output(command).await;
    // The warning comes before the server is ready: among the lines read so far.
    let warned = output
        .try_iter()
        .any(|line| line.contains("open-file limit (100) is below"));
    let port = server.address().port();
    // More connections than descriptors: accepting fails with EMFILE past about 90.
    let mut clients = Vec::new();
    for _ in 0..150 {
        clients.push(connect(port).await);
    }
    let mut late = connect(port).await;
    late.write_all(HEALTHZ_REQUEST).await.unwrap();
    let unserved = tokio::time::timeout(Duration::from_secs(1), read_response(&mut late))
        .await
        .is_err();
    let fds_at_limit = open_fds(server.pid());
    drop(clients);
    let answered = tokio::time::timeout(Duration::from_secs(10), read_response(&mut late)).await;
    let status = answered.ok().and_then(Result::ok).map(|(status, _)| status);
    let api = partup_tests::Api::new(&server.base_url());
    let parts = vec![test_bytes(990, 200_000), test_bytes(991, 1000)];
    let (_, done) = api.upload_whole("legit/after-emfile.bin", &parts).await;
    let legitimate_ok =
        done.size == 201_000 && api.object_bytes("legit/after-emfile.bin").await == parts.concat();
    record(Outcome {
        attack: "151 connections against a hard limit of 100 open files",
        answer_seen: format!(
            "warned at start: {warned}; server at {fds_at_limit} fds, kept running; the 151st unserved while full: {unserved}, then answered {status:?}"
        ),
        legitimate_upload_finished: Some(legitimate_ok),
        lost: "nothing".into(),
    });
    assert!(warned, "no warning about the open-file limit at start");
    assert!(unserved, "served past the open-file limit?");
    assert_eq!(status, Some(200));
    assert!(legitimate_ok);
}
