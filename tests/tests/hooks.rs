//! Event hooks (SPEC.md, Events) against a real receiver in the test process: every event type
//! arrives signed with the shared secret; none is lost while the receiver is down or when partup is
//! killed (`kill -9`) between its answer and the delivery; an upload's events arrive in order; the
//! pre-create hook can veto an upload and fails closed.

use std::process::Command;

use partup_tests::hook_receiver::{
    HookReceiver, Mode, Received, delivered_events, write_hook_secret,
};
use partup_tests::{TestServer, expected_etag, server_binary};
use partup_wire::ErrorCode;
use serde_json::{Value, json};

/// A server whose hooks are signed with the suites' secret; the secret file lives as long as it.
struct Hooked {
    server: TestServer,
    _secret: tempfile::TempDir,
}

/// Starts a server with `hook_flags` (e.g. `["--hook-url", URL]`) and the suites' secret.
async fn start_hooked(hook_flags: &[&str]) -> Hooked {
    let secret = tempfile::tempdir().unwrap();
    let secret_file = write_hook_secret(secret.path());
    let mut args = vec![
        "--min-part-size",
        "1",
        "--hook-secret-file",
        secret_file.to_str().unwrap(),
    ];
    args.extend_from_slice(hook_flags);
    Hooked {
        server: TestServer::start(&args).await,
        _secret: secret,
    }
}

fn of_type<'a>(events: &'a [Value], upload_id: &str, kind: &str) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["uploadId"] == upload_id && e["type"] == kind)
}

/// Waits until the receiver accepted `count` distinct events.
async fn wait_for_delivered(receiver: &HookReceiver, count: usize) -> Vec<Value> {
    let received = receiver
        .wait_until(&format!("{count} events delivered"), |r| {
            delivered_events(r).len() >= count
        })
        .await;
    delivered_events(&received)
}

/// Every attempt to send an upload's closing event came after its `upload.created` was accepted.
fn assert_per_upload_order(received: &[Received]) {
    for (at, request) in received.iter().enumerate() {
        let event = request.json();
        if event["type"] == "upload.created" {
            continue;
        }
        let created_before = received[..at].iter().any(|earlier| {
            let earlier_event = earlier.json();
            earlier.accepted
                && earlier_event["uploadId"] == event["uploadId"]
                && earlier_event["type"] == "upload.created"
        });
        assert!(
            created_before,
            "{} of {} was sent before its upload.created was delivered",
            event["type"], event["uploadId"]
        );
    }
}

/// A refused uploadInit left no upload and no event behind.
#[track_caller]
fn assert_nothing_stored(server: &TestServer) {
    let stored = server.data_files();
    assert!(
        stored
            .iter()
            .all(|p| !p.starts_with("uploads") && !p.starts_with("events")),
        "{stored:?}"
    );
}

/// Waits until the store holds no undelivered event.
async fn wait_for_empty_queue(server: &TestServer) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let queued: Vec<_> = server
            .data_files()
            .into_iter()
            .filter(|p| p.starts_with("events"))
            .collect();
        if queued.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered events are still stored: {queued:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_event_type_arrives_once_signed_with_the_shared_secret() {
    let receiver = HookReceiver::start(Mode::Accept).await;
    let hooked = start_hooked(&["--hook-url", &receiver.url("/events")]).await;
    let api = hooked.server.api();
    let (done, answer) = api
        .upload_whole("hooks/done.bin", &[b"hello".to_vec()])
        .await;
    let dropped = api.init("hooks/dropped.bin").await.upload_id;
    api.abort(&dropped).await.ok::<Value>();

    let events = wait_for_delivered(&receiver, 4).await;
    let received = receiver.received();
    assert!(
        received.iter().all(Received::signed_validly),
        "{received:?}"
    );
    assert_per_upload_order(&received);
    for event in &events {
        assert_eq!(event["id"].as_str().unwrap().len(), 32, "{event}");
        assert!(event["time"].as_str().unwrap().ends_with('Z'), "{event}");
        assert_eq!(event["sub"], Value::Null, "anonymous uploads have no sub");
    }
    let created = of_type(&events, &done, "upload.created").expect("created");
    assert_eq!(created["resourceKey"], "hooks/done.bin");
    let completed = of_type(&events, &done, "upload.completed").expect("completed");
    assert_eq!(completed["resourceKey"], "hooks/done.bin");
    assert_eq!(completed["size"], 5);
    assert_eq!(completed["parts"], 1);
    assert_eq!(completed["etag"], expected_etag(&[b"hello"]));
    assert_eq!(completed["etag"], answer.etag);
    assert!(of_type(&events, &dropped, "upload.created").is_some());
    let aborted = of_type(&events, &dropped, "upload.aborted").expect("aborted");
    assert_eq!(aborted["resourceKey"], "hooks/dropped.bin");
    assert_eq!(events.len(), 4, "one event each: {events:#?}");
    assert_eq!(
        received.iter().filter(|r| r.accepted).count(),
        4,
        "each delivered once"
    );
    wait_for_empty_queue(&hooked.server).await;
}

#[tokio::test]
async fn a_stale_upload_is_reported_expired_by_the_sweep() {
    let receiver = HookReceiver::start(Mode::Accept).await;
    let hooked = start_hooked(&["--hook-url", &receiver.url("/"), "--upload-ttl", "1s"]).await;
    let api = hooked.server.api();
    let stale = api.init("hooks/stale.bin").await.upload_id;
    let received = receiver
        .wait_until("upload.expired", |r| {
            of_type(&delivered_events(r), &stale, "upload.expired").is_some()
        })
        .await;
    assert_per_upload_order(&received);
    let events = delivered_events(&received);
    let expired = of_type(&events, &stale, "upload.expired").unwrap();
    assert_eq!(expired["resourceKey"], "hooks/stale.bin");
    assert!(received.iter().all(Received::signed_validly));
    api.list_parts(&stale).await.error(ErrorCode::NoSuchUpload);
}

#[tokio::test]
async fn events_wait_out_a_receiver_that_is_down_and_none_is_lost() {
    let receiver = HookReceiver::start(Mode::Reply(503, "down".into())).await;
    let hooked = start_hooked(&["--hook-url", &receiver.url("/events")]).await;
    let api = hooked.server.api();
    let mut uploads = Vec::new();
    for i in 0..3 {
        let part = format!("part {i}").into_bytes();
        uploads.push(
            api.upload_whole(&format!("hooks/down-{i}.bin"), &[part])
                .await
                .0,
        );
    }
    let dropped = api.init("hooks/down-dropped.bin").await.upload_id;
    api.abort(&dropped).await.ok::<Value>();
    uploads.push(dropped);

    // Refused with 503, then connections closed without an answer, then no one listening, then
    // accepted.
    receiver
        .wait_until("refused attempts", |r| r.len() >= 8)
        .await;
    receiver.set_mode(Mode::Close);
    receiver
        .wait_until("attempts on closed connections", |r| r.len() >= 12)
        .await;
    // Not listening at all: connections refused. Nothing to wait for but time (the test passes
    // without it; it only gives the outage some length).
    receiver.stop_listening();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    receiver.set_mode(Mode::Accept);
    receiver.listen_again().await;
    let events = wait_for_delivered(&receiver, 8).await;
    assert_eq!(events.len(), 8, "{events:#?}");
    for id in &uploads {
        assert!(of_type(&events, id, "upload.created").is_some(), "{id}");
    }
    let received = receiver.received();
    assert_per_upload_order(&received);
    assert!(received.iter().all(Received::signed_validly));
    wait_for_empty_queue(&hooked.server).await;
}

#[tokio::test]
async fn an_event_stored_before_the_answer_is_delivered_after_kill_9() {
    let receiver = HookReceiver::start(Mode::Reply(500, "not yet".into())).await;
    let mut hooked = start_hooked(&["--hook-url", &receiver.url("/events")]).await;
    let api = hooked.server.api();
    let (id, _) = api
        .upload_whole("hooks/crash.bin", &[b"bytes".to_vec()])
        .await;
    // The answers came; the receiver has refused the first event at least once, so nothing is
    // delivered yet: the events exist only in the store.
    receiver
        .wait_until("a refused attempt", |r| !r.is_empty())
        .await;
    hooked.server.kill_hard();
    receiver.set_mode(Mode::Accept);
    hooked.server.start_again().await;

    let events = wait_for_delivered(&receiver, 2).await;
    assert_eq!(events[0]["type"], "upload.created");
    assert_eq!(events[1]["type"], "upload.completed");
    assert!(events.iter().all(|e| e["uploadId"] == id.as_str()));
    assert_per_upload_order(&receiver.received());
    wait_for_empty_queue(&hooked.server).await;
}

#[tokio::test]
async fn the_pre_create_hook_vetoes_an_upload_with_its_message() {
    let refusal = json!({"message": "quota exceeded\nfor this key"}).to_string();
    let hook = HookReceiver::start(Mode::Reply(403, refusal)).await;
    let hooked = start_hooked(&["--hook-pre-create", &hook.url("/pre-create")]).await;
    let api = hooked.server.api();
    let message = api
        .post_json("uploadInit", &json!({"resourceKey": "hooks/veto.bin"}))
        .await
        .error(ErrorCode::AccessDenied);
    assert_eq!(message, "quota exceeded for this key");
    assert_nothing_stored(&hooked.server);
    let asked = hook.received();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].signed_validly());
    assert_eq!(
        asked[0].json(),
        json!({"resourceKey": "hooks/veto.bin", "sub": null, "claims": null, "isExist": false})
    );

    hook.set_mode(Mode::Reply(204, String::new()));
    api.upload_whole("hooks/veto.bin", &[b"allowed".to_vec()])
        .await;
    api.init("hooks/veto.bin").await;
    assert_eq!(hook.received().last().unwrap().json()["isExist"], true);
}

#[tokio::test]
async fn a_pre_create_hook_that_fails_or_does_not_answer_refuses_with_503() {
    let hook = HookReceiver::start(Mode::Hang).await;
    let hooked = start_hooked(&[
        "--hook-pre-create",
        &hook.url("/pre-create"),
        "--hook-timeout",
        "300ms",
    ])
    .await;
    let api = hooked.server.api();
    for mode in [
        Mode::Hang,
        Mode::Reply(502, "bad gateway".into()),
        Mode::Close,
    ] {
        hook.set_mode(mode.clone());
        let response = api
            .http
            .post(api.url("uploadInit"))
            .json(&json!({"resourceKey": "hooks/closed.bin"}))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        let answer = partup_tests::Api::answer(response).await;
        answer.error(ErrorCode::ServiceUnavailable);
        assert_eq!(
            retry_after.as_ref().map(|v| v.to_str().unwrap()),
            Some("5"),
            "{mode:?}"
        );
    }
    assert_eq!(hook.received().len(), 3);
    assert_nothing_stored(&hooked.server);
}

#[test]
fn help_explains_the_hook_options() {
    let output = Command::new(server_binary())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let options = [
        ("--hook-url", "PARTUP_HOOK_URL"),
        ("--hook-secret-file", "PARTUP_HOOK_SECRET_FILE"),
        ("--hook-pre-create", "PARTUP_HOOK_PRE_CREATE"),
        ("--hook-timeout", "PARTUP_HOOK_TIMEOUT"),
    ];
    let missing: Vec<_> = options
        .iter()
        .filter(|(flag, env)| !help.contains(flag) || !help.contains(env))
        .collect();
    assert!(missing.is_empty(), "--help does not explain {missing:?}");
}

#[test]
fn a_hook_without_a_secret_or_with_a_bad_url_is_a_one_line_error() {
    let data = tempfile::tempdir().unwrap();
    let secret_file = write_hook_secret(data.path());
    let secret_file = secret_file.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--hook-url", "http://127.0.0.1:9/events"],
            "--hook-secret-file",
        ),
        (
            &["--hook-pre-create", "http://127.0.0.1:9/"],
            "--hook-secret-file",
        ),
        (
            &["--hook-secret-file", secret_file, "--hook-url", "ftp://x/"],
            "--hook-url",
        ),
        (
            &["--hook-secret-file", secret_file, "--hook-timeout", "0s"],
            "--hook-timeout",
        ),
    ];
    for (args, mentions) in cases {
        let output = Command::new(server_binary())
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(mentions), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn an_instant_upload_is_created_and_completed_like_any_other() {
    let receiver = HookReceiver::start(Mode::Accept).await;
    let hooked = start_hooked(&["--hook-url", &receiver.url("/events")]).await;
    let api = hooked.server.api();
    let (source, answer) = api
        .upload_whole("hooks/source.bin", &[b"hello".to_vec()])
        .await;
    let declared =
        json!({"resourceKey": "hooks/instant.bin", "size": 5, "partSize": 5, "etag": answer.etag});
    let init: partup_wire::InitResponse = api.post_json("uploadInit", &declared).await.ok();
    assert!(init.instant.is_some(), "a hit");
    let events = wait_for_delivered(&receiver, 4).await;
    assert_per_upload_order(&receiver.received());
    let created = of_type(&events, &init.upload_id, "upload.created").expect("created");
    assert_eq!(created["resourceKey"], "hooks/instant.bin");
    let completed = of_type(&events, &init.upload_id, "upload.completed").expect("completed");
    assert_eq!(completed["resourceKey"], "hooks/instant.bin");
    assert_eq!(
        (&completed["size"], &completed["parts"]),
        (&json!(5), &json!(1))
    );
    assert_eq!(completed["etag"], answer.etag);
    assert!(of_type(&events, &source, "upload.completed").is_some());
    assert_eq!(events.len(), 4, "{events:#?}");
}
