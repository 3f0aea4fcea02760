//! The command line: `--help`, environment variables, one-line errors with exit code 2 for bad
//! values, and a graceful stop on SIGTERM that lets requests in flight finish.

use std::process::{Command, Stdio};
use std::time::Duration;

use partup_tests::{
    Api, TestServer, announced_address, announced_address_and_output, assert_refused_at_start,
    md5_hex, server_binary, test_bytes,
};
use partup_wire::{ErrorCode, ListPartsResponse, PartInfo};

#[test]
fn help_explains_every_option() {
    let output = Command::new(server_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--listen",
        "--data",
        "--www",
        "--cors-origin",
        "--max-part-size",
        "--min-part-size",
        "--upload-ttl",
        "PARTUP_LISTEN",
        "PARTUP_UPLOAD_TTL",
    ] {
        assert!(
            help.contains(option),
            "--help does not mention {option}:\n{help}"
        );
    }
}

#[test]
fn bad_values_are_one_line_errors_with_exit_code_2() {
    let cases: [(&[&str], &str); 9] = [
        (&["--listen", "not-an-address"], "--listen"),
        (&["--max-part-size", "lots"], "--max-part-size"),
        (&["--min-part-size", "-5"], "--min-part-size"),
        (&["--upload-ttl", "5 fortnights and a bit"], "--upload-ttl"),
        (&["--upload-ttl", "0s"], "--upload-ttl"),
        (
            &["--min-part-size", "10", "--max-part-size", "5"],
            "--min-part-size",
        ),
        (
            &["--cors-origin", "ftp://files.example.com/"],
            "--cors-origin",
        ),
        (&["--no-such-flag"], "--no-such-flag"),
        (&["--md5-path", "sse9"], "--md5-path sse9"),
    ];
    for (args, mentions) in cases {
        assert_refused_at_start(args, mentions);
    }
}

#[tokio::test]
async fn environment_variables_configure_the_server() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(server_binary())
        .env("PARTUP_LISTEN", "127.0.0.1:0")
        .env("PARTUP_DATA", data.path())
        .env("PARTUP_MAX_PART_SIZE", "200000")
        .env("PARTUP_MIN_PART_SIZE", "1000")
        .env("PARTUP_CORS_ORIGIN", "https://a.example,https://b.example")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let address = announced_address(&mut child).await;
    let api = Api {
        base: format!("http://{address}"),
        http: reqwest::Client::new(),
    };
    let mut ready = false;
    for _ in 0..200 {
        if api
            .http
            .get(format!("{}/healthz", api.base))
            .send()
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready);
    let id = api.init("env.bin").await.upload_id;
    assert!(
        data.path().join("uploads").join(&id).exists(),
        "PARTUP_DATA not used"
    );
    let big = test_bytes(1, 200_001);
    api.upload_part_raw(&id, "1", &md5_hex(&big), big)
        .await
        .error(ErrorCode::EntityTooLarge);
    let preflight = api
        .http
        .request(reqwest::Method::OPTIONS, api.url("upload"))
        .header("origin", "https://b.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://b.example"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_part_in_flight_finish() {
    let server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let id = api.init("graceful.bin").await.upload_id;
    let bytes = test_bytes(5, 2_000_000);
    let md5 = md5_hex(&bytes);
    // Send the part slowly, in 20 chunks over about a second.
    let chunks: Vec<Vec<u8>> = bytes.chunks(100_000).map(|c| c.to_vec()).collect();
    let slow = futures_util::stream::unfold(chunks.into_iter(), |mut rest| async move {
        let next = rest.next()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok::<_, std::io::Error>(next), rest))
    });
    let form = reqwest::multipart::Form::new()
        .text("uploadId", id.clone())
        .text("partNumber", "1")
        .text("md5", md5.clone())
        .part(
            "content",
            reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(slow)).file_name("b"),
        );
    let request = api.http.post(api.url("upload")).multipart(form).send();
    let in_flight = tokio::spawn(async move { Api::answer(request.await.unwrap()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || server.terminate_and_keep_data())
        .await
        .unwrap();
    let (status, mut server) = status;
    assert!(status.success(), "exit status {status}");
    let info: PartInfo = in_flight.await.unwrap().ok();
    assert_eq!(info.md5, md5);
    // After a restart the part is there.
    server.start_again().await;
    let listed: ListPartsResponse = server.api().list_parts(&id).await.ok();
    assert_eq!(listed.parts[0].md5, md5);
}

#[tokio::test]
async fn json_logs_carry_the_request_id_of_every_request_and_never_its_query() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--log-format", "json", "--data"])
        .arg(data.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (address, lines) = announced_address_and_output(&mut child).await;
    let api = Api::new(&format!("http://{address}"));
    // A failing request, with a token-like secret in its query.
    let response = api
        .http
        .post(format!("{}?token=secret-in-query", api.url("listParts")))
        .json(&serde_json::json!({"uploadId": "no-such-upload"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    Api::answer(response).await.error(ErrorCode::NoSuchUpload);
    let found = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
            // The one line that is not a log line: where the server listens.
            if line.starts_with("partup-server listening on ") {
                continue;
            }
            assert!(
                !line.contains("secret-in-query"),
                "a query was logged: {line}"
            );
            let json: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if json["span"]["request_id"] == request_id.as_str() {
                return Some(json);
            }
            seen.push(line);
        }
        panic!("no log line carries request id {request_id}: {seen:#?}");
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found["span"]["method"], "POST");
    assert_eq!(found["span"]["path"], "/v1/multipart/parallel/listParts");
    child.kill().unwrap();
    child.wait().unwrap();
}
