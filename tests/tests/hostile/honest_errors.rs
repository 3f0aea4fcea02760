//! Honest errors: a real internal failure of the disk store answers the fixed sentence and the
//! request id only (the cause is in the log under that id), and every message that quotes input
//! quotes at most 64 characters of it.

use partup_tests::tokens::{auth_args, claims, token};
use partup_tests::{Answer, Api, ServerProcess, TestStore, md5_hex, server_binary};
use partup_wire::{ErrorBody, ErrorCode, ListPartsResponse};
use serde_json::json;

use crate::outcomes::{Outcome, record};

#[tokio::test]
async fn a_500_carries_no_cause_and_the_log_line_under_its_request_id_does() {
    let data = tempfile::tempdir().unwrap();
    let www = tempfile::tempdir().unwrap();
    let log_path = data.path().with_extension("log");
    // The server logs to stdout; to a file here, from which its address is read too.
    let mut command =
        ServerProcess::command(&server_binary(), data.path(), www.path(), &TestStore::Fs);
    command
        .args(["--min-part-size", "1"])
        .stdout(std::fs::File::create(&log_path).unwrap());
    let mut child = command.spawn().unwrap();
    let base = logged_address(&log_path).await;
    let api = Api::new(&base);
    let id = api.init("broken.bin").await.upload_id;
    api.upload_part(&id, 1, b"first").await;
    let kept = api.init("kept.bin").await.upload_id;
    api.upload_part(&kept, 1, b"kept").await;
    // A directory where part 2's file is expected: reading the upload's parts fails in the store.
    let parts = data.path().join("uploads").join(&id).join("parts");
    std::fs::create_dir(parts.join("00002")).unwrap();
    let answer = api.list_parts(&id).await;
    let status = answer.status;
    let body: ErrorBody = serde_json::from_value(answer.body.clone()).unwrap();
    let fields: Vec<&String> = answer.body.as_object().unwrap().keys().collect();
    let still: ListPartsResponse = api.list_parts(&kept).await.ok();
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let logged = log
        .lines()
        .find(|line| line.contains(&body.request_id))
        .unwrap_or("")
        .to_owned();
    record(Outcome {
        attack: "a stored part that cannot be read (a directory in its place)",
        answer_seen: format!("{status} {}", body.code),
        legitimate_upload_finished: None,
        lost: if still.parts.len() == 1 {
            "nothing else".into()
        } else {
            "the other upload".into()
        },
    });
    assert_eq!(status, 500);
    assert_eq!(body.code, ErrorCode::InternalError);
    assert_eq!(
        body.message,
        "the server failed unexpectedly; the request id finds the cause in its log"
    );
    assert_eq!(fields, ["code", "message", "requestId"]);
    let path = data.path().to_string_lossy().into_owned();
    assert!(!answer.body.to_string().contains(&path));
    assert!(
        logged.contains("Is a directory"),
        "the cause is logged with the id: {log}"
    );
    assert_eq!(still.parts.len(), 1);
}

/// The `http://ADDR` a server logging to `log` says it listens on.
async fn logged_address(log: &std::path::Path) -> String {
    for _ in 0..600 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some((_, rest)) = text.split_once(" listening on http://") {
            let address = rest.split('/').next().unwrap();
            let base = format!("http://{address}");
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                return base;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the server did not say where it listens:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Whether `message` quotes more than 64 characters of `input` (a run of its first 65).
fn quotes_too_much(message: &str, input: &str) -> bool {
    let long: String = input.chars().take(65).collect();
    message.contains(&long)
}

/// One long input sent where an error message quotes it: what, the answer, the input, the code
/// expected.
type Echo = (&'static str, Answer, String, ErrorCode);

/// A 10-byte object read with a 3000-character Range that starts past its end: the header, the
/// answer.
async fn long_range(api: &Api) -> (String, Answer) {
    api.upload_whole("mine/range.bin", &[b"0123456789".to_vec()])
        .await;
    // Spaces are allowed before the range, so the header's first 65 characters are its own.
    let range = format!("bytes={}100-", " ".repeat(3000));
    let response = api
        .http
        .get(format!("{}/v1/objects/mine/range.bin", api.base))
        .header("range", &range)
        .send()
        .await
        .unwrap();
    (range, Api::answer(response).await)
}

/// Sends every long input, as `api` (whose token writes and reads `mine/`).
async fn long_inputs(api: &Api) -> Vec<Echo> {
    let segment = "k".repeat(250);
    let key = format!("{segment}/{segment}/{segment}/{segment}");
    let long_id = "f".repeat(5000);
    let id = api.init("mine/a.bin").await.upload_id;
    let complete_with = |entry: serde_json::Value| {
        let body = json!({"uploadId": id, "completeMultipartUpload": [entry]});
        async move { api.post_json("uploadComplete", &body).await }
    };
    let number = "9".repeat(3000);
    let md5 = "f".repeat(3000);
    let (range, ranged) = long_range(api).await;
    vec![
        (
            "a key outside the token's scope",
            api.post_json("uploadInit", &json!({"resourceKey": key}))
                .await,
            key.clone(),
            ErrorCode::AccessDenied,
        ),
        (
            "a 5000-character uploadId",
            api.list_parts(&long_id).await,
            long_id,
            ErrorCode::NoSuchUpload,
        ),
        (
            "a long key that names no object",
            Api::answer(api.get_object(&format!("mine/{key}")).await).await,
            format!("mine/{key}"),
            ErrorCode::NoSuchKey,
        ),
        (
            "a 3000-digit partNumber",
            complete_with(json!({"partNumber": number, "md5": md5_hex(b"x")})).await,
            number.clone(),
            ErrorCode::InvalidArgument,
        ),
        (
            "a 3000-character md5",
            complete_with(json!({"partNumber": 1, "md5": md5})).await,
            md5.clone(),
            ErrorCode::InvalidArgument,
        ),
        (
            "a 3000-character Range",
            ranged,
            range,
            ErrorCode::InvalidRange,
        ),
    ]
}

#[tokio::test]
async fn every_message_that_quotes_input_quotes_at_most_64_characters() {
    let mut args = auth_args();
    args.extend(["--min-part-size", "1"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = partup_tests::TestServer::start(&args).await;
    let scope = json!({"write": ["mine/"], "read": ["mine/"]});
    let api = Api::with_token(&server.base_url(), &token(&claims("alice", scope)));
    let echoes = long_inputs(&api).await;
    let message = |answer: &Answer| answer.body["message"].as_str().unwrap_or("").to_owned();
    let longest = echoes
        .iter()
        .map(|(_, a, _, _)| message(a).len())
        .max()
        .unwrap();
    let too_long: Vec<&str> = echoes
        .iter()
        .filter(|(_, a, input, _)| quotes_too_much(&message(a), input))
        .map(|(what, ..)| *what)
        .collect();
    let intact = api.object_bytes("mine/range.bin").await == b"0123456789";
    record(Outcome {
        attack: "keys, ids, part numbers, md5s and a Range header thousands of characters long",
        answer_seen: format!("their codes, messages of at most {longest} characters"),
        legitimate_upload_finished: Some(intact),
        lost: if intact {
            "nothing".into()
        } else {
            "the object read back differs".into()
        },
    });
    assert!(too_long.is_empty(), "{too_long:?}");
    assert!(longest < 300, "{longest}");
    for (what, answer, _, code) in echoes {
        let text = answer.error(code);
        assert!(!text.is_empty(), "{what}");
    }
    assert!(intact);
}
