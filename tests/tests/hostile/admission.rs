//! Admission and quotas: floods of uploadInit past `--max-uploads` and `--max-uploads-per-client`
//! (429 with Retry-After, the cap named), slots freed by complete, abort and the sweep, the count
//! kept across a restart; `--max-object-size` at init, mid-part and at complete, as one rule with a
//! token's `maxSize`.

use std::time::{Duration, Instant};

use partup_tests::tokens::{auth_args, claims, token};
use partup_tests::{Answer, Api, TestServer, md5_hex, test_bytes};
use partup_wire::{ErrorCode, ListPartsResponse};
use serde_json::{Value, json};

use crate::outcomes::{Outcome, record};

async fn auth_server(extra: &[&str]) -> TestServer {
    let mut args = auth_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start(&args).await
}

/// The API as `sub`, allowed to write anything under `sub/`.
fn as_user(server: &TestServer, sub: &str) -> Api {
    let scope = json!({"write": [format!("{sub}/")], "read": [""]});
    Api::with_token(&server.base_url(), &token(&claims(sub, scope)))
}

/// An uploadInit's answer with its `Retry-After`.
struct Init {
    answer: Answer,
    retry_after: Option<String>,
}

impl Init {
    /// "200", or "429 TooManyUploads, Retry-After: 60" — what the table shows.
    fn seen(&self) -> String {
        let code = self.answer.body["code"].as_str().unwrap_or("");
        match &self.retry_after {
            Some(seconds) => format!("{} {code}, Retry-After: {seconds}", self.answer.status),
            None => format!("{} {code}", self.answer.status).trim().to_owned(),
        }
    }

    /// Asserts a 429 with a Retry-After of whole seconds; returns the message.
    fn refused(self) -> String {
        let seconds: u64 = self
            .retry_after
            .as_deref()
            .and_then(|s| s.parse().ok())
            .expect("a 429 says when to retry");
        assert!((1..=3600).contains(&seconds), "Retry-After: {seconds}");
        self.answer.error(ErrorCode::TooManyUploads)
    }

    fn upload_id(self) -> String {
        self.answer.ok::<partup_wire::InitResponse>().upload_id
    }
}

async fn init(api: &Api, body: Value) -> Init {
    let response = api
        .http
        .post(api.url("uploadInit"))
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    Init {
        answer: Api::answer(response).await,
        retry_after,
    }
}

async fn init_key(api: &Api, key: &str) -> Init {
    init(api, json!({"resourceKey": key})).await
}

/// Uploads `bytes` as one part of a new upload of `key` and completes it; whether the object reads
/// back byte-exact.
async fn legitimate_upload(api: &Api, key: &str, bytes: &[u8]) -> bool {
    let attempt = init_key(api, key).await;
    if attempt.answer.status != 200 {
        return false;
    }
    let id = attempt.upload_id();
    let part = api.upload_part(&id, 1, bytes).await;
    api.complete(&id, &[(1, part.md5)]).await;
    api.object_bytes(key).await == bytes
}

#[tokio::test]
async fn an_init_flood_past_the_per_client_cap_leaves_room_for_other_clients() {
    let server = auth_server(&["--max-uploads", "10", "--max-uploads-per-client", "3"]).await;
    let (mallory, alice) = (as_user(&server, "mallory"), as_user(&server, "alice"));
    let mut held = Vec::new();
    for n in 0..3 {
        held.push(
            init_key(&mallory, &format!("mallory/{n}"))
                .await
                .upload_id(),
        );
    }
    let mut refusals = Vec::new();
    for n in 3..20 {
        refusals.push(init_key(&mallory, &format!("mallory/{n}")).await);
    }
    let seen = refusals[0].seen();
    let bytes = test_bytes(1, 5000);
    let finished = legitimate_upload(&alice, "alice/report.bin", &bytes).await;
    // Aborting one of its uploads gives mallory exactly one slot back.
    mallory.abort(&held.pop().unwrap()).await.ok::<Value>();
    let after_abort = init_key(&mallory, "mallory/again").await;
    let after_abort_status = after_abort.answer.status;
    let full_again = init_key(&mallory, "mallory/one-more").await;
    let mut lost = Vec::new();
    for id in &held {
        let listed: ListPartsResponse = mallory.list_parts(id).await.ok();
        if !listed.parts.is_empty() {
            lost.push("a held upload changed");
        }
    }
    record(Outcome {
        attack: "17 uploadInits past --max-uploads-per-client 3 (one sub)",
        answer_seen: seen,
        legitimate_upload_finished: Some(finished),
        lost: if lost.is_empty() {
            "nothing".into()
        } else {
            lost.join(", ")
        },
    });
    for refusal in refusals {
        let message = refusal.refused();
        assert!(message.contains("--max-uploads-per-client"), "{message}");
    }
    assert!(finished, "another sub's upload completes");
    assert_eq!(after_abort_status, 200, "an abort frees a slot");
    full_again.refused();
    assert!(lost.is_empty(), "{lost:?}");
}

#[tokio::test]
async fn an_init_flood_past_the_total_cap_is_refused_until_uploads_end_and_a_restart_counts_the_same()
 {
    let mut server = auth_server(&["--max-uploads", "4", "--max-uploads-per-client", "3"]).await;
    let base = server.base_url();
    let (mallory, eve) = (as_user(&server, "mallory"), as_user(&server, "eve"));
    let mut ids = Vec::new();
    for n in 0..2 {
        ids.push(
            init_key(&mallory, &format!("mallory/{n}"))
                .await
                .upload_id(),
        );
        ids.push(init_key(&eve, &format!("eve/{n}")).await.upload_id());
    }
    let alice = as_user(&server, "alice");
    let flood = init_key(&alice, "alice/first.bin").await;
    let seen = flood.seen();
    let message = flood.answer.body["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    // Completing one of the four frees a slot: the legitimate client gets it.
    let kept = test_bytes(2, 3000);
    let part = mallory.upload_part(&ids[0], 1, &kept).await;
    mallory.complete(&ids[0], &[(1, part.md5)]).await;
    let bytes = test_bytes(3, 4000);
    let finished = legitimate_upload(&alice, "alice/report.bin", &bytes).await;
    // Four in progress again (alice's completed): a restart counts them from the store.
    let refill = init_key(&eve, "eve/refill").await.upload_id();
    let before_restart = init_key(&alice, "alice/before-restart").await;
    server.restart().await;
    assert_ne!(server.base_url(), base);
    let (mallory, alice) = (as_user(&server, "mallory"), as_user(&server, "alice"));
    let after_restart = init_key(&alice, "alice/after-restart").await;
    mallory.abort(&ids[2]).await.ok::<Value>();
    let after_abort = init_key(&alice, "alice/after-abort").await.answer.status;
    let object_intact = mallory.object_bytes("mallory/0").await == kept;
    record(Outcome {
        attack: "uploadInits past --max-uploads 4 (two subs), then a restart",
        answer_seen: format!("{seen}; after restart: {}", after_restart.seen()),
        legitimate_upload_finished: Some(finished),
        lost: if object_intact {
            "nothing".into()
        } else {
            "the completed object".into()
        },
    });
    assert_eq!(flood.answer.status, 429);
    assert!(message.contains("--max-uploads"), "{message}");
    assert!(!message.contains("per-client"), "{message}");
    assert!(finished, "a complete frees a slot");
    assert!(!refill.is_empty());
    before_restart.refused();
    let message = after_restart.refused();
    assert!(message.contains("--max-uploads"), "{message}");
    assert_eq!(after_abort, 200, "an abort after the restart frees a slot");
    assert!(object_intact);
}

#[tokio::test]
async fn anonymous_clients_are_counted_by_address_and_the_sweep_frees_their_slots() {
    let server = TestServer::start(&["--max-uploads-per-client", "2", "--upload-ttl", "2s"]).await;
    let api = server.api();
    let first = init_key(&api, "anon/1").await.upload_id();
    init_key(&api, "anon/2").await.upload_id();
    let refused = init_key(&api, "anon/3").await;
    let seen = refused.seen();
    let records = server
        .data_files()
        .iter()
        .filter(|p| p.ends_with("upload.json"))
        .count();
    // On disk the anonymous upload records who it counts against (S3 keeps the same record).
    let record_path = server
        .data
        .path()
        .join("uploads")
        .join(&first)
        .join("upload.json");
    let recorded: Value = std::fs::read(record_path)
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .unwrap_or(Value::Null);
    // Both uploads go stale; the sweep aborts them and frees their slots.
    let started = Instant::now();
    let mut freed = init_key(&api, "anon/after-sweep").await;
    while freed.answer.status == 429 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        freed = init_key(&api, "anon/after-sweep").await;
    }
    let freed_after = started.elapsed();
    let finished = match freed.answer.status {
        200 => legitimate_part_and_complete(&api, freed.upload_id(), "anon/after-sweep").await,
        _ => false,
    };
    record(Outcome {
        attack: "anonymous uploadInits past --max-uploads-per-client 2 (one address), then the sweep",
        answer_seen: format!(
            "{seen}; a slot again {:.1} s later",
            freed_after.as_secs_f64()
        ),
        legitimate_upload_finished: Some(finished),
        lost: match records {
            2 => "nothing (the refused init stored nothing)".into(),
            n => format!("{n} upload records for 2 uploads"),
        },
    });
    let message = refused.refused();
    assert!(message.contains("your address"), "{message}");
    assert_eq!(records, 2);
    if !server.store.is_s3() {
        assert_eq!(recorded["client"], "127.0.0.1", "{recorded}");
    }
    assert!(finished, "the sweep freed the slots");
}

/// Uploads one part to upload `id` of `key`, completes it; whether the object reads back.
async fn legitimate_part_and_complete(api: &Api, id: String, key: &str) -> bool {
    let bytes = test_bytes(4, 1000);
    let part = api.upload_part(&id, 1, &bytes).await;
    api.complete(&id, &[(1, part.md5)]).await;
    api.object_bytes(key).await == bytes
}

/// The flags of a server whose objects are at most `max_object_size` bytes, parts 8000.
fn object_limits(max_object_size: &str) -> Vec<String> {
    [
        "--max-object-size",
        max_object_size,
        "--max-part-size",
        "8000",
        "--min-part-size",
        "1",
    ]
    .map(String::from)
    .to_vec()
}

/// The md5s of the parts `api` sees stored in upload `id`, and whether nothing is staged.
async fn stored(server: &TestServer, api: &Api, id: &str) -> (Vec<String>, bool) {
    let listed: ListPartsResponse = api.list_parts(id).await.ok();
    let staged = server.data_files().iter().any(|p| p.starts_with("tmp"));
    (listed.parts.into_iter().map(|p| p.md5).collect(), !staged)
}

#[tokio::test]
async fn max_object_size_is_enforced_at_init_mid_part_and_at_complete() {
    let flags = object_limits("10000");
    let mut server = TestServer::start(&flags.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let api = server.api();
    let declared = init(&api, json!({"resourceKey": "big.bin", "size": 10001})).await;
    let at_limit = init(&api, json!({"resourceKey": "ok.bin", "size": "10000"})).await;
    let id = api.init("big.bin").await.upload_id;
    let first = test_bytes(5, 6000);
    api.upload_part(&id, 1, &first).await;
    // 6000 stored + 5000 in flight > 10000: refused while it arrives, the partial part discarded.
    let second = test_bytes(6, 5000);
    let mid_part = api
        .upload_part_raw(&id, "2", &md5_hex(&second), second)
        .await;
    let (after_mid_part, clean) = stored(&server, &api, &id).await;
    // What is left of the cap (4000 bytes) still takes a part.
    let third = test_bytes(7, 4000);
    api.upload_part(&id, 2, &third).await;
    // A smaller limit after a restart: the object the parts would make is refused at complete.
    server.extra_args = object_limits("9999");
    server.restart().await;
    let api = server.api();
    let listed_parts = [(1, md5_hex(&first)), (2, md5_hex(&third))];
    let at_complete = api.complete_raw(&id, &listed_parts).await;
    let (after_complete, _) = stored(&server, &api, &id).await;
    let intact =
        after_mid_part == [md5_hex(&first)] && after_complete == [md5_hex(&first), md5_hex(&third)];
    let finished = legitimate_upload(&api, "fits.bin", &test_bytes(8, 7000)).await;
    let refusals = [declared.answer, mid_part, at_complete];
    let seen: Vec<String> = refusals
        .iter()
        .map(|a| format!("{} {}", a.status, a.body["code"].as_str().unwrap_or("")))
        .collect();
    record(Outcome {
        attack: "--max-object-size 10000: size 10001 declared at init, crossed mid-part, crossed at complete",
        answer_seen: seen.join(" / "),
        legitimate_upload_finished: Some(finished),
        lost: if intact && clean {
            "nothing; nothing staged".into()
        } else {
            format!("parts intact: {intact}, nothing staged: {clean}")
        },
    });
    for refusal in refusals {
        let message = refusal.error(ErrorCode::EntityTooLarge);
        assert!(message.contains("--max-object-size"), "{message}");
    }
    assert_eq!(at_limit.answer.status, 200, "a size at the limit is fine");
    assert!(intact, "{after_mid_part:?} {after_complete:?}");
    assert!(clean, "the refused part left staged bytes");
    assert!(finished);
}

#[tokio::test]
async fn the_smaller_of_a_tokens_max_size_and_max_object_size_is_the_one_cap() {
    let server = auth_server(&["--max-object-size", "3000", "--min-part-size", "1"]).await;
    let scope = |max: u64| json!({"write": ["u/"], "read": [""], "maxSize": max});
    let roomy = Api::with_token(&server.base_url(), &token(&claims("roomy", scope(1 << 30))));
    let tight = Api::with_token(&server.base_url(), &token(&claims("tight", scope(2000))));
    let server_cap = init(&roomy, json!({"resourceKey": "u/a", "size": 3001})).await;
    let token_cap = init(&tight, json!({"resourceKey": "u/b", "size": 2001})).await;
    let id = init_key(&roomy, "u/c").await.upload_id();
    let over = test_bytes(9, 3001);
    let part = roomy.upload_part_raw(&id, "1", &md5_hex(&over), over).await;
    let (kept, clean) = stored(&server, &roomy, &id).await;
    let bytes = test_bytes(10, 2000);
    let finished = legitimate_upload(&tight, "u/d", &bytes).await;
    record(Outcome {
        attack: "token maxSize 1 GiB on a server with --max-object-size 3000 (and the reverse)",
        answer_seen: format!(
            "{} / {} / {}",
            server_cap.seen(),
            token_cap.seen(),
            part.status
        ),
        legitimate_upload_finished: Some(finished),
        lost: if kept.is_empty() && clean {
            "nothing; nothing staged".into()
        } else {
            format!("stored: {kept:?}, nothing staged: {clean}")
        },
    });
    assert!(kept.is_empty() && clean, "the refused part is not kept");
    let m = server_cap.answer.error(ErrorCode::EntityTooLarge);
    assert!(m.contains("--max-object-size"), "{m}");
    let m = token_cap.answer.error(ErrorCode::EntityTooLarge);
    assert!(m.contains("maxSize of 2000"), "{m}");
    let m = part.error(ErrorCode::EntityTooLarge);
    assert!(m.contains("3000"), "{m}");
    assert!(finished);
}
