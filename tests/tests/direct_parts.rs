//! Direct-to-store parts (SPEC.md §6; needs `--features s3-tests` and the store of
//! `scripts/test-s3.sh`): parts sent straight to the bucket in the requests signPart signs, as a
//! browser would send them; listParts and uploadComplete from the store's part list with every
//! rule of §3; rights checked before anything is signed; the store itself refusing damaged bytes;
//! abort and the sweep aborting the store's multipart upload.

use std::time::Duration;

use md5::{Digest, Md5};
use partup_tests::tokens::{auth_args, claims, token};
use partup_tests::{Api, TestServer, md5_hex, test_bytes};
use partup_wire::{ErrorCode, InitResponse, ListPartsResponse, SignPartResponse};
use serde_json::{Value, json};

const MIB: usize = 1 << 20;

async fn direct_server(extra_args: &[&str]) -> TestServer {
    let mut args = vec!["--direct-parts"];
    args.extend_from_slice(extra_args);
    let server = TestServer::start(&args).await;
    assert!(
        server.store.is_s3(),
        "direct parts need the S3 store (PARTUP_TEST_STORE=s3)"
    );
    server
}

fn sign_request(upload_id: &str, part_number: u32, bytes: &[u8]) -> Value {
    json!({
        "uploadId": upload_id,
        "partNumber": part_number,
        "md5": md5_hex(bytes),
        "size": bytes.len(),
    })
}

/// Sends `body` as the signed request says, as a client would; the store's status and body.
async fn send_signed(signed: &SignPartResponse, body: Vec<u8>) -> (u16, String) {
    assert_eq!(signed.method, "PUT");
    let mut request = reqwest::Client::new().put(&signed.url).body(body);
    for (name, value) in &signed.headers {
        // The HTTP client sets Content-Length from the body, as a browser does; but leaves it
        // out for an empty one, which a browser's PUT sends as `Content-Length: 0`.
        if !name.eq_ignore_ascii_case("content-length") || value == "0" {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Signs and sends part `part_number`; the ETag the store answered.
async fn send_part(server: &TestServer, upload_id: &str, part_number: u32, bytes: &[u8]) -> String {
    let signed: SignPartResponse = server
        .api()
        .post_json("signPart", &sign_request(upload_id, part_number, bytes))
        .await
        .ok();
    let (status, body) = send_signed(&signed, bytes.to_vec()).await;
    assert_eq!(status, 200, "the store refused part {part_number}: {body}");
    md5_hex(bytes)
}

async fn init_direct(server: &TestServer, key: &str) -> String {
    let init: InitResponse = server
        .api()
        .post_json("uploadInit", &json!({ "resourceKey": key }))
        .await
        .ok();
    assert!(init.direct, "--direct-parts makes every new upload direct");
    init.upload_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parts_sent_to_the_store_complete_into_a_byte_exact_object() {
    let server = direct_server(&[]).await;
    for (i, sizes) in [
        vec![1],
        vec![5 * MIB - 1],
        vec![5 * MIB, 5 * MIB, 1],
        vec![6 * MIB, 5 * MIB + 3],
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("direct/edge-{i}.bin");
        let id = init_direct(&server, &key).await;
        let parts: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(n, len)| test_bytes(100 * i as u64 + n as u64, *len))
            .collect();
        let mut list = Vec::new();
        // Sent out of order, as parallel parts arrive.
        for (n, bytes) in parts.iter().enumerate().rev() {
            let md5 = send_part(&server, &id, n as u32 + 1, bytes).await;
            list.insert(0, (n as u32 + 1, md5));
        }
        let listed: ListPartsResponse = server.api().list_parts(&id).await.ok();
        assert!(listed.direct, "listParts says the upload is direct");
        let sizes_listed: Vec<u64> = listed.parts.iter().map(|p| p.size).collect();
        assert_eq!(
            sizes_listed,
            sizes.iter().map(|s| *s as u64).collect::<Vec<_>>()
        );
        assert!(
            listed
                .parts
                .iter()
                .zip(&list)
                .all(|(p, (_, md5))| &p.md5 == md5)
        );
        let done = server.api().complete(&id, &list).await;
        let digests: Vec<[u8; 16]> = parts.iter().map(|p| Md5::digest(p).into()).collect();
        assert_eq!(done.etag, partup_wire::multipart_etag(&digests));
        assert_eq!(done.size as usize, sizes.iter().sum::<usize>());
        server.api().assert_object(&key, &parts.concat()).await;
        // A retried complete gets the same answer (from the completion record).
        assert_eq!(server.api().complete(&id, &list).await, done);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_empty_file_declared_at_init_goes_through_partup() {
    let server = direct_server(&[]).await;
    let api = server.api();
    let init: InitResponse = api
        .post_json(
            "uploadInit",
            &json!({ "resourceKey": "direct/empty.bin", "size": 0 }),
        )
        .await
        .ok();
    assert!(!init.direct, "stores refuse an empty part body");
    let part = api.upload_part(&init.upload_id, 1, b"").await;
    api.complete(&init.upload_id, &[(1, part.md5)]).await;
    api.assert_object("direct/empty.bin", b"").await;
    // Any other declared size goes direct.
    let init: InitResponse = api
        .post_json(
            "uploadInit",
            &json!({ "resourceKey": "direct/one.bin", "size": 1 }),
        )
        .await
        .ok();
    assert!(init.direct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_refuses_damaged_bytes_and_a_resend_replaces_them() {
    let server = direct_server(&[]).await;
    let id = init_direct(&server, "direct/damaged.bin").await;
    let bytes = test_bytes(7, 5 * MIB);
    let signed: SignPartResponse = server
        .api()
        .post_json("signPart", &sign_request(&id, 1, &bytes))
        .await
        .ok();
    let mut damaged = bytes.clone();
    damaged[12345] ^= 0x40;
    let (status, body) = send_signed(&signed, damaged).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("BadDigest") || body.contains("InvalidDigest"),
        "{body}"
    );
    let listed: ListPartsResponse = server.api().list_parts(&id).await.ok();
    assert!(listed.parts.is_empty(), "nothing kept of damaged bytes");
    // Other bytes of the same length under the same signature: refused too.
    let (status, _) = send_signed(&signed, test_bytes(8, 5 * MIB)).await;
    assert_eq!(status, 400);
    let (status, body) = send_signed(&signed, bytes.clone()).await;
    assert_eq!(status, 200, "{body}");
    let tail = b"tail".to_vec();
    let md5_tail = send_part(&server, &id, 2, &tail).await;
    server
        .api()
        .complete(&id, &[(1, md5_hex(&bytes)), (2, md5_tail)])
        .await;
    server
        .api()
        .assert_object("direct/damaged.bin", &[bytes, tail].concat())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signature_past_its_expiry_is_refused_by_the_store() {
    let server = direct_server(&["--direct-part-expiry", "1s"]).await;
    let id = init_direct(&server, "direct/expired.bin").await;
    let bytes = b"late bytes".to_vec();
    let signed: SignPartResponse = server
        .api()
        .post_json("signPart", &sign_request(&id, 1, &bytes))
        .await
        .ok();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = send_signed(&signed, bytes.clone()).await;
    // AWS answers 403 AccessDenied ("Request has expired"), Garage 400 ("Date is too old").
    assert!(matches!(status, 400 | 403), "{status} {body}");
    assert!(
        body.contains("xpired") || body.contains("too old"),
        "{body}"
    );
    let listed: ListPartsResponse = server.api().list_parts(&id).await.ok();
    assert!(listed.parts.is_empty());
    // Signed again, the same bytes go in: signed by a second instance with the default expiry,
    // since with 1 s the store's whole-second clock leaves a new signature anywhere from 0 to 1 s.
    let other = server.start_peer(&["--direct-parts"]).await;
    send_part(&other, &id, 1, &bytes).await;
}

/// The store counts a signature's expiry from its X-Amz-Date, in whole seconds; the `expiresAt`
/// signPart answers must never be later, or a client trusting it would send a refused request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_answered_is_never_later_than_the_stores() {
    let server = direct_server(&["--direct-part-expiry", "90s"]).await;
    let id = init_direct(&server, "direct/expires-at.bin").await;
    for part_number in 1..=5 {
        let signed: SignPartResponse = server
            .api()
            .post_json("signPart", &sign_request(&id, part_number, b"x"))
            .await
            .ok();
        let url = reqwest::Url::parse(&signed.url).unwrap();
        let query = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
                .unwrap_or_else(|| panic!("{name} is not in {url}"))
        };
        let date = query("X-Amz-Date");
        assert_eq!(query("X-Amz-Expires"), "90");
        // 20261126T172604Z, as RFC 3339.
        let signed_at = humantime::parse_rfc3339(&format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[0..4],
            &date[4..6],
            &date[6..8],
            &date[9..11],
            &date[11..13],
            &date[13..15]
        ))
        .unwrap();
        let answered = humantime::parse_rfc3339(&signed.expires_at).unwrap();
        let store_expiry = signed_at + Duration::from_secs(90);
        assert!(
            answered <= store_expiry,
            "expiresAt {} is later than the store's {}",
            signed.expires_at,
            humantime::format_rfc3339_seconds(store_expiry)
        );
        assert!(store_expiry.duration_since(answered).unwrap() <= Duration::from_secs(1));
    }
}

/// signPart's refusals, in SPEC order, and what stays intact after each: nothing is signed, the
/// upload and its stored part are as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_part_refusals_sign_nothing_and_change_nothing() {
    let server = direct_server(&["--max-part-size", "6291456"]).await;
    let api = server.api();
    let id = init_direct(&server, "direct/refusals.bin").await;
    let first = test_bytes(3, 5 * MIB);
    let md5_first = send_part(&server, &id, 1, &first).await;
    let plain = server.start_peer(&[]).await;
    let not_direct = plain.api().init("direct/plain.bin").await.upload_id;
    let md5 = md5_hex(b"x");
    let cases: Vec<(&str, Value, ErrorCode)> = vec![
        (
            "an unknown upload",
            json!({"uploadId": "0".repeat(32), "partNumber": 1, "md5": md5, "size": 1}),
            ErrorCode::NoSuchUpload,
        ),
        (
            "an upload that is not direct",
            json!({"uploadId": not_direct, "partNumber": 1, "md5": md5, "size": 1}),
            ErrorCode::InvalidArgument,
        ),
        (
            "part number 0",
            json!({"uploadId": id, "partNumber": 0, "md5": md5, "size": 1}),
            ErrorCode::InvalidArgument,
        ),
        (
            "part number 10001",
            json!({"uploadId": id, "partNumber": 10001, "md5": md5, "size": 1}),
            ErrorCode::InvalidArgument,
        ),
        (
            "no md5",
            json!({"uploadId": id, "partNumber": 2, "size": 1}),
            ErrorCode::InvalidArgument,
        ),
        (
            "an md5 of 31 digits",
            json!({"uploadId": id, "partNumber": 2, "md5": &md5[1..], "size": 1}),
            ErrorCode::InvalidArgument,
        ),
        (
            "no size",
            json!({"uploadId": id, "partNumber": 2, "md5": md5}),
            ErrorCode::InvalidArgument,
        ),
        (
            "a negative size",
            json!({"uploadId": id, "partNumber": 2, "md5": md5, "size": -1}),
            ErrorCode::InvalidArgument,
        ),
        (
            "a part over --max-part-size",
            json!({"uploadId": id, "partNumber": 2, "md5": md5, "size": 6 * MIB + 1}),
            ErrorCode::EntityTooLarge,
        ),
    ];
    for (what, body, code) in cases {
        let answer = api.post_json("signPart", &body).await;
        let message = answer.error(code);
        assert!(!message.contains("X-Amz-Signature"), "{what}: {message}");
    }
    // A part of a direct upload cannot go through partup either.
    api.upload_part_try(&id, 2, b"through partup")
        .await
        .expect("an answer")
        .error(ErrorCode::InvalidArgument);
    // Intact: the stored part, and the upload, which still completes.
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 1);
    assert_eq!(listed.parts[0].md5, md5_first);
    api.complete(&id, &[(1, md5_first)]).await;
    api.assert_object("direct/refusals.bin", &first).await;
}

/// With upload tokens, signPart checks what a part upload checks, before signing: the upload's
/// `sub`, the write scope of its key, the token's `maxSize`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_part_checks_the_tokens_rights_before_signing() {
    let args: Vec<String> = auth_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = direct_server(&args).await;
    let as_user =
        |sub: &str, scope: Value| Api::with_token(&server.base_url(), &token(&claims(sub, scope)));
    let alice = as_user(
        "alice",
        json!({"write": ["videos/alice/"], "maxSize": 6 * MIB}),
    );
    let init: InitResponse = alice
        .post_json(
            "uploadInit",
            &json!({ "resourceKey": "videos/alice/clip.bin" }),
        )
        .await
        .ok();
    assert!(init.direct);
    let id = init.upload_id;
    let first = test_bytes(1, 5 * MIB);
    let signed: SignPartResponse = alice
        .post_json("signPart", &sign_request(&id, 1, &first))
        .await
        .ok();
    assert_eq!(send_signed(&signed, first.clone()).await.0, 200);
    let second = sign_request(&id, 2, &test_bytes(2, MIB));
    let refusals = [
        // Another sub: as if the upload did not exist.
        (
            as_user("mallory", json!({"write": [""]})),
            second.clone(),
            ErrorCode::NoSuchUpload,
        ),
        // Alice, but a token whose write scope no longer covers the key.
        (
            as_user("alice", json!({"write": ["videos/other/"]})),
            second.clone(),
            ErrorCode::AccessDenied,
        ),
        // Over the upload's maxSize (5 MiB stored + 1 MiB + 1 byte > 6 MiB).
        (
            alice.clone(),
            json!({"uploadId": id, "partNumber": 2, "md5": md5_hex(b"x"), "size": MIB + 1}),
            ErrorCode::EntityTooLarge,
        ),
    ];
    for (api, body, code) in refusals {
        let message = api.post_json("signPart", &body).await.error(code);
        assert!(!message.contains("X-Amz"), "{message}");
    }
    // Re-signing part 1 counts it with its new size only: 6 MiB in all is within maxSize.
    let resent = json!({"uploadId": id, "partNumber": 1, "md5": md5_hex(b"x"), "size": 6 * MIB});
    alice
        .post_json("signPart", &resent)
        .await
        .ok::<SignPartResponse>();
    let listed: ListPartsResponse = alice.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 1, "nothing else reached the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_mid_upload_leaves_the_other_to_sign_the_rest_and_complete() {
    let mut first = direct_server(&[]).await;
    let second = first.start_peer(&["--direct-parts"]).await;
    let id = init_direct(&first, "direct/two-instances.bin").await;
    let parts: Vec<Vec<u8>> = [5 * MIB, 5 * MIB, 777]
        .iter()
        .enumerate()
        .map(|(n, len)| test_bytes(40 + n as u64, *len))
        .collect();
    let mut list = vec![
        (1, send_part(&first, &id, 1, &parts[0]).await),
        (2, send_part(&second, &id, 2, &parts[1]).await),
    ];
    first.kill_hard();
    list.push((3, send_part(&second, &id, 3, &parts[2]).await));
    let listed: ListPartsResponse = second.api().list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 3);
    second.api().complete(&id, &list).await;
    second
        .api()
        .assert_object("direct/two-instances.bin", &parts.concat())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_applies_every_rule_to_the_stores_part_list() {
    let server = direct_server(&[]).await;
    let api = server.api();
    let id = init_direct(&server, "direct/rules.bin").await;
    let (big, small, last) = (
        test_bytes(1, 5 * MIB),
        test_bytes(2, MIB),
        test_bytes(3, 10),
    );
    let md5_big = send_part(&server, &id, 1, &big).await;
    let md5_small = send_part(&server, &id, 3, &small).await;
    let md5_last = send_part(&server, &id, 5, &last).await;
    let refused = [
        (
            vec![(3, md5_small.clone()), (1, md5_big.clone())],
            ErrorCode::InvalidPartOrder,
        ),
        (
            vec![(1, md5_big.clone()), (2, md5_small.clone())],
            ErrorCode::InvalidPart,
        ),
        (vec![(1, md5_small.clone())], ErrorCode::InvalidPart),
        (
            vec![(3, md5_small.clone()), (5, md5_last.clone())],
            ErrorCode::EntityTooSmall,
        ),
    ];
    for (list, code) in refused {
        api.complete_raw(&id, &list).await.error(code);
    }
    // A gap (no part 2, 4) is fine; part 3 is the last listed, so it may be small.
    let done = api
        .complete(&id, &[(1, md5_big.clone()), (3, md5_small.clone())])
        .await;
    assert_eq!(done.parts, 2);
    api.assert_object("direct/rules.bin", &[big, small].concat())
        .await;
    // Another list for the completed upload: NoSuchUpload, the object as it was.
    api.complete_raw(&id, &[(1, md5_big)])
        .await
        .error(ErrorCode::NoSuchUpload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abort_and_the_sweep_abort_the_stores_multipart_upload() {
    let server = direct_server(&["--upload-ttl", "2s"]).await;
    let api = server.api();
    let aborted = init_direct(&server, "direct/aborted.bin").await;
    send_part(&server, &aborted, 1, b"aborted bytes").await;
    let stale = init_direct(&server, "direct/stale.bin").await;
    send_part(&server, &stale, 1, b"stale bytes").await;
    api.abort(&aborted).await.ok::<Value>();
    api.list_parts(&aborted)
        .await
        .error(ErrorCode::NoSuchUpload);
    let started = std::time::Instant::now();
    while partup_tests::store_multipart_keys(&server.store)
        .await
        .iter()
        .any(|key| key.contains(&stale) || key.contains(&aborted))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the store's uploads were not aborted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    api.list_parts(&stale).await.error(ErrorCode::NoSuchUpload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_direct_upload_receiving_parts_is_not_swept_however_old() {
    let server = direct_server(&["--upload-ttl", "2s"]).await;
    let id = init_direct(&server, "direct/alive.bin").await;
    let mut list = Vec::new();
    // Parts keep arriving at the store for longer than the TTL; partup sees none of them.
    for n in 1..=4u32 {
        let bytes = test_bytes(u64::from(n), if n < 4 { 5 * MIB } else { 10 });
        list.push((n, send_part(&server, &id, n, &bytes).await));
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    server.api().complete(&id, &list).await;
}

#[test]
fn direct_parts_need_the_s3_store_and_s3s_minimum_part_size() {
    partup_tests::assert_refused_at_start(&["--direct-parts"], "--store s3");
    partup_tests::assert_refused_at_start(
        &[
            "--store",
            "s3",
            "--s3-bucket",
            "b",
            "--direct-parts",
            "--min-part-size",
            "1024",
        ],
        "--min-part-size",
    );
    partup_tests::assert_refused_at_start(
        &[
            "--store",
            "s3",
            "--s3-bucket",
            "b",
            "--direct-parts",
            "--direct-part-expiry",
            "8d",
        ],
        "--direct-part-expiry",
    );
    partup_tests::assert_refused_at_start(&["--direct-endpoint", "ftp://x"], "--direct-endpoint");
}
