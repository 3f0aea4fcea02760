//! Bodies built to cost the server: a part for an upload that does not exist (answered before its
//! bytes are sent), parts whose bytes come before their upload is named, a part list longer than any
//! upload, and a hundred 4 MiB JSON bodies at once, with the server's peak memory measured.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use partup_tests::tokens::{auth_args, claims, token};
use partup_tests::{Api, TestServer, md5_hex, test_bytes};
use partup_wire::{ErrorCode, ListPartsResponse};
use serde_json::json;

use crate::outcomes::{Outcome, record};

/// Files staged under `tmp/` (a part's bytes on their way in).
fn staged(server: &TestServer) -> Vec<std::path::PathBuf> {
    let files = server.data_files();
    files.into_iter().filter(|p| p.starts_with("tmp")).collect()
}

/// Sends a part's headers and its fields (`uploadId` first), then 1000 of the `declared` content
/// bytes, and waits for an answer without sending the rest: the answer (status line to the end of
/// its JSON body) if one arrives within 5 seconds.
fn part_without_its_bytes(port: u16, upload_id: &str, authorization: Option<&str>) -> String {
    let mut head = String::new();
    for (name, value) in [
        ("uploadId", upload_id),
        ("partNumber", "1"),
        ("md5", &md5_hex(b"x")),
    ] {
        head +=
            &format!("--XYZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    }
    head += "--XYZ\r\nContent-Disposition: form-data; name=\"content\"; filename=\"b\"\r\n\r\n";
    let declared = 50 << 20;
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!(
        "POST /v1/multipart/parallel/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {}\r\n\r\n{head}",
        head.len() + declared
    );
    socket.write_all(request.as_bytes()).unwrap();
    socket.write_all(&[7u8; 1000]).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(5)
        && !String::from_utf8_lossy(&answer).contains("\"}")
    {
        match socket.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => continue,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_part_for_an_unknown_or_foreign_upload_is_answered_before_its_bytes_are_sent() {
    let server =
        TestServer::start(&auth_args().iter().map(String::as_str).collect::<Vec<_>>()).await;
    let scope = json!({"write": [""], "read": [""]});
    let alice_token = token(&claims("alice", scope.clone()));
    let alice = Api::with_token(&server.base_url(), &alice_token);
    let id = alice.init("alice.bin").await.upload_id;
    let kept = test_bytes(1, 2000);
    alice.upload_part(&id, 1, &kept).await;
    let port = server.port;
    let mallory = format!("Bearer {}", token(&claims("mallory", scope)));
    let (unknown, foreign) = tokio::task::spawn_blocking(move || {
        let unknown = part_without_its_bytes(port, &"0".repeat(32), Some(&mallory));
        let foreign = part_without_its_bytes(port, &id, Some(&mallory));
        (unknown, foreign)
    })
    .await
    .unwrap();
    let id = alice.init("alice-2.bin").await.upload_id;
    let staged_after = staged(&server);
    let bytes = test_bytes(2, 3000);
    alice.upload_part(&id, 1, &bytes).await;
    let finished = alice.complete(&id, &[(1, md5_hex(&bytes))]).await.size == 3000;
    let status = |answer: &str| {
        answer
            .lines()
            .next()
            .unwrap_or("no answer within 5 s")
            .to_owned()
    };
    record(Outcome {
        attack: "part (fields first) for an unknown / another sub's upload, 50 MiB declared, bytes withheld",
        answer_seen: format!("{} / {}", status(&unknown), status(&foreign)),
        legitimate_upload_finished: Some(finished),
        lost: if staged_after.is_empty() {
            "nothing; nothing staged".into()
        } else {
            format!("staged: {staged_after:?}")
        },
    });
    for answer in [&unknown, &foreign] {
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        assert!(answer.contains("\"code\":\"NoSuchUpload\""), "{answer}");
    }
    assert!(staged_after.is_empty(), "{staged_after:?}");
    assert!(finished);
}

#[tokio::test]
async fn bytes_before_the_upload_is_named_count_against_the_part_and_object_limits() {
    let server = TestServer::start(&[
        "--max-part-size",
        "8000",
        "--max-object-size",
        "12000",
        "--min-part-size",
        "1",
    ])
    .await;
    let api = server.api();
    let id = api.init("content-first.bin").await.upload_id;
    // Each refusal below crosses one limit only, so its message is the one to expect.
    let kept = test_bytes(3, 5000);
    api.upload_part(&id, 1, &kept).await;
    let content_first = |bytes: Vec<u8>| {
        let md5 = md5_hex(&bytes);
        reqwest::multipart::Form::new()
            .part(
                "content",
                reqwest::multipart::Part::bytes(bytes).file_name("b"),
            )
            .text("uploadId", id.clone())
            .text("partNumber", "2")
            .text("md5", md5)
    };
    let over_part = api
        .post_form("upload", content_first(test_bytes(4, 8001)))
        .await;
    let over_object = api
        .post_form("upload", content_first(test_bytes(5, 7500)))
        .await;
    let seen = format!("{} / {}", over_part.status, over_object.status);
    let staged_after = staged(&server);
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    let intact = listed.parts.len() == 1 && listed.parts[0].md5 == md5_hex(&kept);
    let fits = test_bytes(6, 3000);
    let accepted = api
        .post_form("upload", content_first(fits.clone()))
        .await
        .status;
    let done = api
        .complete(&id, &[(1, md5_hex(&kept)), (2, md5_hex(&fits))])
        .await;
    record(Outcome {
        attack: "part with content before uploadId: over --max-part-size, over --max-object-size",
        answer_seen: seen,
        legitimate_upload_finished: Some(accepted == 200 && done.size == 8000),
        lost: if intact && staged_after.is_empty() {
            "nothing; nothing staged".into()
        } else {
            format!("intact: {intact}, staged: {staged_after:?}")
        },
    });
    let m = over_part.error(ErrorCode::EntityTooLarge);
    assert!(m.contains("8000"), "{m}");
    let m = over_object.error(ErrorCode::EntityTooLarge);
    assert!(m.contains("--max-object-size"), "{m}");
    assert!(staged_after.is_empty(), "{staged_after:?}");
    assert!(intact);
    assert_eq!(accepted, 200);
}

#[tokio::test]
async fn a_part_list_longer_than_any_upload_is_refused_while_it_is_parsed() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("long-list.bin").await.upload_id;
    let kept = test_bytes(7, 100);
    api.upload_part(&id, 1, &kept).await;
    let entry = format!(r#"{{"partNumber":1,"md5":"{}"}}"#, md5_hex(&kept));
    let list = vec![entry.as_str(); 10_002].join(",");
    // Bytes that are not JSON after the extra entry: a parser that read on would call it malformed.
    let body =
        format!(r#"{{"uploadId":"{id}","completeMultipartUpload":[{list}, this is not json"#);
    let response = api
        .http
        .post(api.url("uploadComplete"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let answer = Api::answer(response).await;
    let seen = format!(
        "{} {}",
        answer.status,
        answer.body["code"].as_str().unwrap_or("")
    );
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    let done = api.complete(&id, &[(1, md5_hex(&kept))]).await;
    record(Outcome {
        attack: "uploadComplete listing 10,002 parts (one more than part numbers 0-10000)",
        answer_seen: seen,
        legitimate_upload_finished: Some(done.size == 100),
        lost: if listed.parts.len() == 1 {
            "nothing".into()
        } else {
            "the stored part".into()
        },
    });
    let m = answer.error(ErrorCode::InvalidArgument);
    assert!(m.contains("more than 10001 parts"), "{m}");
    assert_eq!(listed.parts.len(), 1);
}

/// Five bodies of just under 4 MiB, each built to make a careless parser hold far more.
fn hostile_bodies() -> Vec<Bytes> {
    let size = (4 << 20) - 1024;
    let id = "0".repeat(32);
    let fill = |prefix: String, unit: &str, suffix: &str| {
        let mut body = prefix;
        while body.len() + unit.len() + suffix.len() <= size {
            body.push_str(unit);
        }
        body.push_str(suffix);
        Bytes::from(body)
    };
    let entry = format!(r#"{{"partNumber":1,"md5":"{}"}},"#, "0".repeat(32));
    vec![
        fill(format!(r#"{{"uploadId":"{id}","x":"#), "[", ""),
        fill(r#"{"uploadId":""#.into(), "a", r#""}"#),
        fill(format!(r#"{{"uploadId":"{id}","x":["#), "{},", "{}]}"),
        fill(
            r#"{"a":""#.into(),
            "x",
            r#"","completeMultipartUpload":[]}"#,
        ),
        fill(
            format!(r#"{{"uploadId":"{id}","completeMultipartUpload":["#),
            &entry,
            "{}]}",
        ),
    ]
}

/// A hundred of the hostile bodies, sent to uploadComplete at once.
fn send_hostile_bodies(api: &Api) -> Vec<tokio::task::JoinHandle<partup_tests::Answer>> {
    let bodies = hostile_bodies();
    // Attackers wait as long as the server keeps them waiting (reqwest's default gives up after
    // 30 s of a full window): what they get is the server's answer, not their own timeout.
    let http = reqwest::Client::builder()
        .tcp_user_timeout(None)
        .build()
        .unwrap();
    let api = Api {
        base: api.base.clone(),
        http,
    };
    (0..100)
        .map(|n| {
            let (api, body) = (api.clone(), bodies[n % bodies.len()].clone());
            tokio::spawn(async move {
                let request = api
                    .http
                    .post(api.url("uploadComplete"))
                    .header("content-type", "application/json");
                let response = request.body(body).send().await.expect("answered");
                let retry_after = response.headers().contains_key("retry-after");
                let answer = Api::answer(response).await;
                assert!(
                    answer.status != 503 || retry_after,
                    "a 503 says when to retry"
                );
                answer
            })
        })
        .collect()
}

/// A 1 MiB upload completed alongside the attack; whether it reads back byte-exact.
async fn upload_alongside(api: Api) -> bool {
    let bytes = test_bytes(8, 1 << 20);
    let (_, done) = api
        .upload_whole("alongside.bin", std::slice::from_ref(&bytes))
        .await;
    done.size == bytes.len() as u64 && api.object_bytes("alongside.bin").await == bytes
}

/// The distinct "status code" pairs of `answers`.
fn distinct_answers(answers: &[partup_tests::Answer]) -> String {
    let mut seen: Vec<String> = answers
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a.status,
                a.body["code"].as_str().unwrap_or("not JSON")
            )
        })
        .collect();
    seen.sort();
    seen.dedup();
    seen.join(", ")
}

#[tokio::test]
async fn a_hundred_hostile_4_mib_json_bodies_at_once_keep_memory_bounded() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let before = partup_tests::peak_rss_bytes(server.pid());
    let attackers = send_hostile_bodies(&api);
    let legitimate = tokio::spawn(upload_alongside(api.clone()));
    let mut answers = Vec::new();
    for attacker in attackers {
        answers.push(attacker.await.unwrap());
    }
    let finished = legitimate.await.unwrap();
    // Only the legitimate upload's files: its record, its completion record, its object and its
    // content index entry.
    let leftovers: Vec<_> = server
        .data_files()
        .into_iter()
        .filter(|p| {
            ["objects", "uploads", "index"]
                .iter()
                .all(|dir| !p.starts_with(dir))
        })
        .collect();
    let peak = partup_tests::peak_rss_bytes(server.pid());
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    println!(
        "peak RSS: {:.1} MiB before, {:.1} MiB after 100 hostile 4 MiB bodies",
        mib(before),
        mib(peak)
    );
    record(Outcome {
        attack: "100 concurrent 4 MiB JSON bodies (deep arrays, huge string, 1M objects, huge unknown field, long list)",
        answer_seen: format!(
            "{}; peak RSS {:.0} MiB",
            distinct_answers(&answers),
            mib(peak)
        ),
        legitimate_upload_finished: Some(finished),
        lost: if leftovers.is_empty() {
            "nothing; no debris".into()
        } else {
            format!("debris: {leftovers:?}")
        },
    });
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for answer in answers {
        // 503 (with Retry-After) when one waited over 20 s for its share of the budget.
        assert!(matches!(answer.status, 400 | 413 | 503), "{answer:?}");
        assert!(answer.body["requestId"].is_string(), "{answer:?}");
        let message = answer.body["message"].as_str().unwrap();
        assert!(message.len() < 400, "{message}");
    }
    assert!(finished);
    // Buffering every body at once would be 400 MiB. Bodies over 64 KiB share a 64 MiB budget and
    // wait for their share before a byte is read; parsing keeps nothing of what it skips. So: the
    // start (about 20 MiB) + the budget + per connection its read buffer (at most 400 KiB for the
    // 16 being read, a few KiB for the others) + allocator slack, well under 200 MiB.
    assert!(peak < 200 << 20, "peak RSS {:.1} MiB", mib(peak));
}
