//! Upload tokens (SPEC.md "Authorization") against the real binary: a refusal table. Each bad
//! token, foreign `sub`, key outside the scope, `maxSize` crossed, `replace: false` and
//! non-loopback `Host` gets its code and status, and what was stored before is read back
//! byte-for-byte unchanged afterwards.

use partup_tests::tokens::{auth_args, claims, fixture, sign_hs256, token, unix_now, unsigned};
use partup_tests::{Answer, Api, TestServer, md5_hex, test_bytes};
use partup_wire::{ErrorCode, InitResponse, ListPartsResponse, PartInfo};
use serde_json::{Value, json};

async fn auth_server(extra: &[&str]) -> TestServer {
    let mut args = auth_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start(&args).await
}

/// The API as `sub`, with partup's `scope`.
fn as_user(server: &TestServer, sub: &str, scope: Value) -> Api {
    Api::with_token(&server.base_url(), &token(&claims(sub, scope)))
}

/// Upload records stored (one per upload started).
fn upload_records(server: &TestServer) -> usize {
    let files = server.data_files();
    files.iter().filter(|p| p.ends_with("upload.json")).count()
}

/// What every refusal must leave intact: a stored object, and an upload with one stored part.
struct Kept {
    key: &'static str,
    object: Vec<u8>,
    upload_id: String,
    part: Vec<u8>,
}

impl Kept {
    async fn store(owner: &Api) -> Kept {
        let object = test_bytes(1, 3000);
        owner
            .upload_whole("videos/alice/kept.bin", std::slice::from_ref(&object))
            .await;
        let upload_id = owner.init("videos/alice/open.bin").await.upload_id;
        let part = test_bytes(2, 2000);
        owner.upload_part(&upload_id, 1, &part).await;
        Kept {
            key: "videos/alice/kept.bin",
            object,
            upload_id,
            part,
        }
    }

    /// Reads the object and the upload's parts back as their owner.
    async fn assert_intact(&self, owner: &Api) {
        owner.assert_object(self.key, &self.object).await;
        let listed: ListPartsResponse = owner.list_parts(&self.upload_id).await.ok();
        let expected = PartInfo {
            md5: md5_hex(&self.part),
            part_number: 1,
            size: self.part.len() as u64,
        };
        assert_eq!(listed.parts, [expected]);
    }

    /// The four calls on the kept upload: a part, listParts, complete, abort.
    async fn upload_calls(&self, api: &Api) -> Vec<(&'static str, Answer)> {
        let other = test_bytes(3, 1000);
        let id = &self.upload_id;
        vec![
            (
                "upload",
                api.upload_part_raw(id, "1", &md5_hex(&other), other.clone())
                    .await,
            ),
            ("listParts", api.list_parts(id).await),
            (
                "uploadComplete",
                api.complete_raw(id, &[(1, md5_hex(&self.part))]).await,
            ),
            ("uploadAbort", api.abort(id).await),
        ]
    }

    /// Every call: uploadInit, the four on the upload, and reading the object.
    async fn every_call(&self, api: &Api) -> Vec<(&'static str, Answer)> {
        let init = json!({"resourceKey": "videos/alice/new.bin"});
        let mut calls = vec![("uploadInit", api.post_json("uploadInit", &init).await)];
        calls.extend(self.upload_calls(api).await);
        calls.push((
            "GET object",
            Api::answer(api.get_object(self.key).await).await,
        ));
        calls
    }
}

fn alice_scope() -> Value {
    json!({"write": ["videos/alice/"], "read": ["videos/"], "replace": true})
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401_before_anything_changes() {
    let server = auth_server(&["--min-part-size", "1"]).await;
    let alice = as_user(&server, "alice", alice_scope());
    let kept = Kept::store(&alice).await;
    let valid = claims("alice", alice_scope());
    let later = unix_now() + 3600;
    let rsa_public = std::fs::read(fixture("rsa-public.pem")).unwrap();
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("another scheme", Some("Basic YWxpY2U6c2VjcmV0".into())),
        ("an empty bearer", Some("Bearer ".into())),
        ("not a JWT", bearer("not.a.jwt".into())),
        (
            "signed with another secret",
            bearer(sign_hs256(b"another secret that is 32 bytes!", &valid)),
        ),
        (
            "expired beyond the leeway",
            bearer(token(
                &json!({"sub": "alice", "exp": unix_now() - 120, "partup": alice_scope()}),
            )),
        ),
        (
            "without sub",
            bearer(token(&json!({"exp": later, "partup": alice_scope()}))),
        ),
        (
            "without exp",
            bearer(token(&json!({"sub": "alice", "partup": alice_scope()}))),
        ),
        ("alg none", bearer(unsigned(&valid))),
        (
            "HS256 signed with the RSA public key (algorithm confusion)",
            bearer(sign_hs256(&rsa_public, &valid)),
        ),
    ];
    for (case, authorization) in &cases {
        let api = match authorization {
            Some(value) => Api::with_authorization(&server.base_url(), value),
            None => Api::new(&server.base_url()),
        };
        for (call, answer) in kept.every_call(&api).await {
            assert_eq!(answer.status, 401, "{case}: {call}: {answer:?}");
            let message = answer.unauthorized();
            assert!(
                !message.contains("eyJ"),
                "{case}: the token echoed: {message}"
            );
        }
    }
    kept.assert_intact(&alice).await;
    assert_eq!(
        upload_records(&server),
        2,
        "a refused init started an upload"
    );
}

#[tokio::test]
async fn an_upload_belongs_to_its_sub_and_other_subs_are_told_it_does_not_exist() {
    let server = auth_server(&["--min-part-size", "1"]).await;
    let alice = as_user(&server, "alice", alice_scope());
    let kept = Kept::store(&alice).await;
    let bob = json!({"write": ["videos/"], "read": ["videos/"]});
    // Alice herself, with a token whose write scope no longer covers the upload's key: 403.
    let narrowed = json!({"write": ["photos/"], "read": ["videos/"]});
    let rows = [
        ("bob", bob, ErrorCode::NoSuchUpload),
        ("alice", narrowed, ErrorCode::AccessDenied),
    ];
    for (sub, scope, code) in rows {
        let api = as_user(&server, sub, scope);
        for (call, answer) in kept.upload_calls(&api).await {
            assert_eq!(answer.status, code.http_status(), "{sub}: {call}");
            answer.error(code);
        }
    }
    // Any fresh token of alice's goes on with her upload (tokens expire during long uploads).
    let fresh = json!({"sub": "alice", "exp": unix_now() + 60, "partup": alice_scope()});
    kept.assert_intact(&Api::with_token(&server.base_url(), &token(&fresh)))
        .await;
}

#[tokio::test]
async fn keys_outside_the_write_scope_are_denied_even_at_the_prefix_boundary() {
    let server = auth_server(&[]).await;
    let api = as_user(
        &server,
        "alice",
        json!({"write": ["videos/alice", "photos/alice/"]}),
    );
    let cases = [
        ("videos/alice", true),
        ("videos/alice/a.mp4", true),
        ("videos/alice2/a.mp4", false),
        ("videos/alic", false),
        ("videos/bob/a.mp4", false),
        ("photos/alice/a.jpg", true),
        ("photos/alice", false),
        ("photos/alice2/a.jpg", false),
    ];
    for (key, allowed) in cases {
        let answer = api
            .post_json("uploadInit", &json!({"resourceKey": key}))
            .await;
        if allowed {
            answer.ok::<InitResponse>();
        } else {
            let message = answer.error(ErrorCode::AccessDenied);
            assert!(message.contains(key), "{message}");
        }
    }
    assert_eq!(upload_records(&server), 3);
}

#[tokio::test]
async fn max_size_is_enforced_while_a_part_arrives_and_when_it_is_committed() {
    let server = auth_server(&["--min-part-size", "1"]).await;
    let scope = json!({"write": ["big/"], "read": ["big/"], "maxSize": 250_000});
    let api = as_user(&server, "alice", scope);
    let id = api.init("big/file.bin").await.upload_id;
    let first = test_bytes(1, 200_000);
    api.upload_part(&id, 1, &first).await;
    // Part 2 would take the upload to 300 000 bytes: refused in the middle of its bytes (its md5
    // is wrong too, which a check at its end would have answered with BadDigest), and discarded.
    let before = server.data_files();
    let over = test_bytes(2, 100_000);
    let message = api
        .upload_part_raw(&id, "2", &md5_hex(b"not these bytes"), over)
        .await
        .error(ErrorCode::EntityTooLarge);
    assert!(message.contains("250000"), "{message}");
    assert_eq!(
        server.data_files(),
        before,
        "the refused part left bytes behind"
    );
    // Sent before its uploadId, a part is measured against the budget when it is committed.
    let late = test_bytes(3, 60_000);
    let content = reqwest::multipart::Part::bytes(late.clone()).file_name("blob");
    let form = reqwest::multipart::Form::new()
        .part("content", content)
        .text("uploadId", id.clone())
        .text("partNumber", "3")
        .text("md5", md5_hex(&late));
    api.post_form("upload", form)
        .await
        .error(ErrorCode::EntityTooLarge);
    let listed: ListPartsResponse = api.list_parts(&id).await.ok();
    assert_eq!(listed.parts.len(), 1);
    assert_eq!(listed.parts[0].md5, md5_hex(&first));
    // A part uploaded again counts with its new size only; exactly maxSize completes.
    let replacement = test_bytes(4, 240_000);
    let last = test_bytes(5, 10_000);
    api.upload_part(&id, 1, &replacement).await;
    api.upload_part(&id, 2, &last).await;
    let listed = [(1, md5_hex(&replacement)), (2, md5_hex(&last))];
    assert_eq!(api.complete(&id, &listed).await.size, 250_000);
    api.assert_object("big/file.bin", &[replacement, last].concat())
        .await;
}

#[tokio::test]
async fn replace_false_refuses_an_existing_key_at_init_and_one_that_appeared_at_complete() {
    let server = auth_server(&["--min-part-size", "1"]).await;
    let may_replace = json!({"write": ["docs/"], "read": ["docs/"], "replace": true});
    let dave = as_user(&server, "dave", may_replace);
    let carol = as_user(
        &server,
        "carol",
        json!({"write": ["docs/"], "read": ["docs/"]}),
    );
    let existing = test_bytes(1, 1000);
    dave.upload_whole("docs/a.txt", std::slice::from_ref(&existing))
        .await;
    carol
        .post_json("uploadInit", &json!({"resourceKey": "docs/a.txt"}))
        .await
        .error(ErrorCode::AccessDenied);
    let started = carol.init("docs/b.txt").await;
    assert!(!started.is_exist);
    let part = test_bytes(2, 1000);
    carol.upload_part(&started.upload_id, 1, &part).await;
    // Meanwhile someone else completes the same key: carol's complete must not replace it.
    let theirs = test_bytes(3, 1000);
    dave.upload_whole("docs/b.txt", std::slice::from_ref(&theirs))
        .await;
    carol
        .complete_raw(&started.upload_id, &[(1, md5_hex(&part))])
        .await
        .error(ErrorCode::ObjectExists);
    carol.assert_object("docs/a.txt", &existing).await;
    carol.assert_object("docs/b.txt", &theirs).await;
    let listed: ListPartsResponse = carol.list_parts(&started.upload_id).await.ok();
    assert_eq!(listed.parts.len(), 1);
    assert_eq!(listed.parts[0].md5, md5_hex(&part));
}

#[tokio::test]
async fn reads_need_a_token_with_read_scope_in_the_header_or_the_query() {
    let server = auth_server(&[]).await;
    let alice = as_user(&server, "alice", alice_scope());
    let key = "videos/alice/clip.bin";
    let bytes = test_bytes(1, 5000);
    alice.upload_whole(key, std::slice::from_ref(&bytes)).await;
    let url = format!("{}/v1/objects/{key}", server.base_url());
    let viewer = token(&claims("viewer", json!({"read": ["videos/"]})));
    let by_query = reqwest::get(format!("{url}?token={viewer}")).await.unwrap();
    assert_eq!(by_query.status(), 200);
    assert_eq!(by_query.bytes().await.unwrap(), bytes);
    let outsider = as_user(
        &server,
        "mallory",
        json!({"read": ["photos/"], "write": ["videos/"]}),
    );
    Api::answer(outsider.get_object(key).await)
        .await
        .error(ErrorCode::AccessDenied);
    let outsider_query = token(&claims("mallory", json!({"read": ["videos/alice2/"]})));
    let answer = reqwest::get(format!("{url}?token={outsider_query}"))
        .await
        .unwrap();
    Api::answer(answer).await.error(ErrorCode::AccessDenied);
    Api::answer(Api::new(&server.base_url()).get_object(key).await)
        .await
        .unauthorized();
    let bad_query = reqwest::get(format!("{url}?token=not.a.token"))
        .await
        .unwrap();
    Api::answer(bad_query).await.unauthorized();
    alice.assert_object(key, &bytes).await;
}

#[tokio::test]
async fn read_public_serves_objects_without_a_token_but_uploads_still_need_one() {
    let server = auth_server(&["--read", "public"]).await;
    let alice = as_user(&server, "alice", alice_scope());
    let bytes = test_bytes(1, 5000);
    alice
        .upload_whole("videos/alice/open.bin", std::slice::from_ref(&bytes))
        .await;
    let anyone = Api::new(&server.base_url());
    anyone.assert_object("videos/alice/open.bin", &bytes).await;
    let init = json!({"resourceKey": "videos/alice/x.bin"});
    anyone.post_json("uploadInit", &init).await.unauthorized();
}

#[tokio::test]
async fn an_anonymous_server_refuses_requests_to_hosts_that_are_not_loopback() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let bytes = test_bytes(1, 1000);
    api.upload_whole("kept.bin", std::slice::from_ref(&bytes))
        .await;
    let object = format!("{}/v1/objects/kept.bin", server.base_url());
    let init = api.url("uploadInit");
    let body = json!({"resourceKey": "kept.bin"});
    let refused = [
        "evil.example",
        "evil.example:80",
        "10.0.0.1:8080",
        "[::2]",
        "localhost.evil.example",
    ];
    let served = [
        "localhost",
        "LOCALHOST:8080",
        "127.0.0.1",
        "127.1.2.3:80",
        "[::1]:1",
    ];
    for host in refused.into_iter().chain(served) {
        let read = api.http.get(&object).header("host", host).send();
        let read = Api::answer(read.await.unwrap()).await;
        if served.contains(&host) {
            assert_eq!(read.status, 200, "{host}");
            continue;
        }
        read.error(ErrorCode::AccessDenied);
        let started = api.http.post(&init).header("host", host).json(&body).send();
        Api::answer(started.await.unwrap())
            .await
            .error(ErrorCode::AccessDenied);
    }
    api.assert_object("kept.bin", &bytes).await;
    assert_eq!(
        upload_records(&server),
        1,
        "a refused init started an upload"
    );
}
