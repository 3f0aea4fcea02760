//! Instant upload (SPEC.md §1) against the real binary, on the filesystem store and (with
//! `PARTUP_TEST_STORE=s3`) on S3: an uploadInit that declares content an object the caller may read
//! already holds is completed at once, byte-exact, without a part; a miss starts a normal upload;
//! the content index survives a restart, never hands out content an object no longer holds, never
//! crosses read scopes; and every malformed declaration is refused with nothing changed.

use partup_tests::tokens::{auth_args, claims, token};
use partup_tests::{Api, TestServer, expected_etag, test_bytes};
use partup_wire::{CompleteResponse, ErrorCode, InitResponse, ListPartsResponse};
use serde_json::{Value, json};

/// Bytes split into parts of `part_size` (the last one smaller), as a client splits a file.
fn split(bytes: &[u8], part_size: usize) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return vec![Vec::new()];
    }
    bytes.chunks(part_size).map(<[u8]>::to_vec).collect()
}

/// What an instant-upload client declares for `bytes` in parts of `part_size`.
fn declaration(key: &str, bytes: &[u8], part_size: usize) -> Value {
    let parts = split(bytes, part_size);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    json!({
        "resourceKey": key,
        "size": bytes.len(),
        "partSize": part_size,
        "etag": expected_etag(&refs),
    })
}

async fn declare(api: &Api, key: &str, bytes: &[u8], part_size: usize) -> InitResponse {
    api.post_json("uploadInit", &declaration(key, bytes, part_size))
        .await
        .ok()
}

/// Uploads `bytes` in parts of `part_size` the usual way.
async fn upload(api: &Api, key: &str, bytes: &[u8], part_size: usize) -> CompleteResponse {
    api.upload_whole(key, &split(bytes, part_size)).await.1
}

/// Asserts an instant hit for `key` holding `bytes`: the complete answer, the object, and an upload
/// that is already finished.
async fn assert_hit(api: &Api, init: &InitResponse, key: &str, bytes: &[u8], part_size: usize) {
    let parts = split(bytes, part_size);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let expected = CompleteResponse {
        resource_key: key.to_owned(),
        size: bytes.len() as u64,
        parts: parts.len() as u32,
        etag: expected_etag(&refs),
    };
    assert_eq!(init.instant.as_ref(), Some(&expected), "{key}");
    api.assert_object(key, bytes).await;
    api.list_parts(&init.upload_id)
        .await
        .error(ErrorCode::NoSuchUpload);
    api.upload_part_try(&init.upload_id, 1, &parts[0])
        .await
        .expect("answered")
        .error(ErrorCode::NoSuchUpload);
}

const PART: usize = 64 << 10;

#[tokio::test]
async fn the_same_content_under_a_new_key_completes_at_init_without_a_part() {
    let server =
        TestServer::start(&["--min-part-size", "1024", "--metrics-listen", "127.0.0.1:0"]).await;
    let api = server.api();
    let content = test_bytes(1, 3 * PART + 1000);
    let first = upload(&api, "instant/first.bin", &content, PART).await;
    let received = received_bytes(&server).await;
    let init = declare(&api, "instant/second.bin", &content, PART).await;
    assert!(!init.is_exist);
    assert_hit(&api, &init, "instant/second.bin", &content, PART).await;
    assert_eq!(init.instant.as_ref().map(|d| &d.etag), Some(&first.etag));
    assert_eq!(received_bytes(&server).await, received, "no byte was sent");
    // The copy is an object of its own: replacing the first leaves it as it was.
    upload(&api, "instant/first.bin", &test_bytes(2, 5000), PART).await;
    api.assert_object("instant/second.bin", &content).await;
    // The new object is itself a source, onto a key that exists (isExist says so).
    let again = declare(&api, "instant/second.bin", &content, PART).await;
    assert!(again.is_exist);
    assert_hit(&api, &again, "instant/second.bin", &content, PART).await;
    let exposition = reqwest::get(server.metrics_url().await).await.unwrap();
    let text = exposition.text().await.unwrap();
    assert!(
        text.contains(r#"partup_instant_uploads_total{outcome="hit"} 2"#),
        "{text}"
    );
}

async fn received_bytes(server: &TestServer) -> u64 {
    let text = reqwest::get(server.metrics_url().await)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("partup_received_bytes_total "))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test]
async fn edge_sizes_hit_with_whatever_part_size_gives_the_same_parts() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let cases: [(&str, usize, usize, usize); 5] = [
        // (name, size, part size uploaded with, part size declared)
        ("empty", 0, PART, 8 << 20),
        ("one byte", 1, PART, 8 << 20),
        ("one part exactly", PART, PART, PART),
        ("one part and one byte", PART + 1, PART, PART),
        ("one part, declared larger", 5000, PART, 8 << 20),
    ];
    for (i, (name, size, uploaded, declared)) in cases.into_iter().enumerate() {
        let content = test_bytes(10 + i as u64, size);
        upload(&api, &format!("edge/{i}/source"), &content, uploaded).await;
        let key = format!("edge/{i}/copy");
        let init = declare(&api, &key, &content, declared).await;
        assert!(init.instant.is_some(), "{name}: a hit");
        assert_hit(&api, &init, &key, &content, declared).await;
    }
}

#[tokio::test]
async fn a_miss_starts_a_normal_upload_and_other_splits_never_match() {
    let server = TestServer::start(&["--min-part-size", "1024"]).await;
    let api = server.api();
    let content = test_bytes(3, 4 * PART);
    upload(&api, "miss/source", &content, PART).await;
    let mut other = content.clone();
    other[5] ^= 1;
    for (name, bytes, part_size) in [
        ("one byte differs", other.as_slice(), PART),
        (
            "the same bytes in other parts",
            content.as_slice(),
            2 * PART,
        ),
        ("a prefix of them", &content[..3 * PART], PART),
    ] {
        let init = declare(&api, "miss/new", bytes, part_size).await;
        assert_eq!(init.instant, None, "{name}");
        // The upload goes on as usual.
        let listed: ListPartsResponse = api.list_parts(&init.upload_id).await.ok();
        assert!(listed.parts.is_empty(), "{name}");
        assert_eq!(api.abort(&init.upload_id).await.status, 200);
    }
    let init = declare(&api, "miss/new", &other, PART).await;
    api.send_and_complete(&init.upload_id, &split(&other, PART))
        .await;
    api.assert_object("miss/new", &other).await;
    api.assert_object("miss/source", &content).await;
}

#[tokio::test]
async fn an_object_replaced_since_it_was_indexed_never_hands_out_its_old_content() {
    let server = TestServer::start(&["--min-part-size", "1024"]).await;
    let api = server.api();
    let old = test_bytes(4, 2 * PART + 7);
    let new = test_bytes(5, 2 * PART + 7);
    upload(&api, "replaced/source", &old, PART).await;
    upload(&api, "replaced/source", &new, PART).await;
    // The old content is nowhere any more: a miss, however the index was left.
    let init = declare(&api, "replaced/old-copy", &old, PART).await;
    assert_eq!(init.instant, None);
    // The new content is a hit, with the new bytes.
    let init = declare(&api, "replaced/new-copy", &new, PART).await;
    assert_hit(&api, &init, "replaced/new-copy", &new, PART).await;
    // An aborted upload's content was never an object: a miss.
    let aborted = test_bytes(6, PART + 1);
    let id = api.init("replaced/aborted").await.upload_id;
    api.upload_part(&id, 1, &aborted[..PART]).await;
    api.upload_part(&id, 2, &aborted[PART..]).await;
    assert_eq!(api.abort(&id).await.status, 200);
    let init = declare(&api, "replaced/aborted-copy", &aborted, PART).await;
    assert_eq!(init.instant, None);
}

#[tokio::test]
async fn the_content_index_survives_a_restart() {
    let mut server = TestServer::start(&["--min-part-size", "1024"]).await;
    let content = test_bytes(7, 3 * PART);
    upload(&server.api(), "restart/source", &content, PART).await;
    server.restart().await;
    let api = server.api();
    let init = declare(&api, "restart/copy", &content, PART).await;
    assert_hit(&api, &init, "restart/copy", &content, PART).await;
}

#[tokio::test]
async fn a_hit_needs_a_source_the_token_may_read() {
    let server = TestServer::start(
        &auth_args()
            .iter()
            .map(String::as_str)
            .chain(["--min-part-size", "1024"])
            .collect::<Vec<_>>(),
    )
    .await;
    let as_user =
        |sub: &str, scope: Value| Api::with_token(&server.base_url(), &token(&claims(sub, scope)));
    let alice = as_user("alice", json!({"write": ["alice/"], "read": ["alice/"]}));
    let content = test_bytes(8, 2 * PART + 3);
    upload(&alice, "alice/private.bin", &content, PART).await;
    // Bob knows the etag (anyone can compute it from the content, or collide with it), not the
    // object: his upload starts as usual and alice's object stays hers.
    let bob = as_user("bob", json!({"write": ["bob/"], "read": ["bob/"]}));
    let init = declare(&bob, "bob/copy.bin", &content, PART).await;
    assert_eq!(init.instant, None);
    let listed: ListPartsResponse = bob.list_parts(&init.upload_id).await.ok();
    assert!(listed.parts.is_empty());
    assert_eq!(bob.get_object("bob/copy.bin").await.status(), 404);
    // Carol may read alice's folder: a hit into her own.
    let carol = as_user(
        "carol",
        json!({"write": ["carol/"], "read": ["alice/", "carol/"]}),
    );
    let init = declare(&carol, "carol/copy.bin", &content, PART).await;
    assert_hit(&carol, &init, "carol/copy.bin", &content, PART).await;
    alice.assert_object("alice/private.bin", &content).await;
}

#[tokio::test]
async fn every_malformed_declaration_is_refused_and_nothing_changes() {
    let server = TestServer::start(&["--min-part-size", "1024"]).await;
    let api = server.api();
    let content = test_bytes(9, 2 * PART);
    upload(&api, "refused/source", &content, PART).await;
    let valid = declaration("refused/new", &content, PART);
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let etag = valid["etag"].as_str().unwrap().to_owned();
    let digest = etag.split_once('-').unwrap().0.to_owned();
    let cases: Vec<(&str, Value)> = vec![
        ("partSize without etag", without("etag")),
        ("etag without partSize", without("partSize")),
        ("partSize and etag without size", without("size")),
        ("partSize 0", with("partSize", json!(0))),
        ("partSize negative", with("partSize", json!(-1))),
        ("partSize not a number", with("partSize", json!("many"))),
        ("etag not a string", with("etag", json!(5))),
        ("etag without a part count", with("etag", json!(digest))),
        (
            "etag with a wrong part count",
            with("etag", json!(format!("{digest}-3"))),
        ),
        (
            "etag digest too short",
            with("etag", json!(format!("{}-2", &digest[1..]))),
        ),
        (
            "etag digest not hex",
            with("etag", json!(format!("{}g-2", &digest[1..]))),
        ),
        (
            "more parts than part numbers",
            with("partSize", json!(1))
                .as_object()
                .map(|body| {
                    let mut body = body.clone();
                    body.insert("etag".into(), json!(format!("{digest}-{}", content.len())));
                    Value::Object(body)
                })
                .unwrap(),
        ),
    ];
    for (name, body) in cases {
        let message = api
            .post_json("uploadInit", &body)
            .await
            .error(ErrorCode::InvalidArgument);
        assert!(!message.is_empty(), "{name}");
    }
    // What is still intact afterwards: no upload was started, no object made, the source as it was.
    let uploads = server
        .data_files()
        .iter()
        .filter(|p| p.ends_with("upload.json"))
        .count();
    assert_eq!(uploads, 1, "only the source's upload record");
    assert_eq!(api.get_object("refused/new").await.status(), 404);
    api.assert_object("refused/source", &content).await;
}

#[tokio::test]
async fn the_same_declaration_as_a_form_is_a_hit() {
    let server = TestServer::start(&["--min-part-size", "1024"]).await;
    let api = server.api();
    let content = test_bytes(11, 2 * PART + 5);
    upload(&api, "form/source", &content, PART).await;
    let valid = declaration("form/new", &content, PART);
    let form: Vec<(String, String)> = valid
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
        .collect();
    let answer = api
        .http
        .post(api.url("uploadInit"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let init: InitResponse = Api::answer(answer).await.ok();
    assert_hit(&api, &init, "form/new", &content, PART).await;
}
