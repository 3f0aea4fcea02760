//! The command line of upload tokens: where a server without them may listen, the key files it
//! refuses to start with, and `partup-server token`, whose tokens the server accepts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output};

use partup_tests::tokens::{auth_args, fixture};
use partup_tests::{Api, TestServer, md5_hex, server_binary, test_bytes};
use partup_wire::ErrorCode;
use serde_json::json;

/// Runs the binary with `args` and a fresh data directory, to its end.
fn run(args: &[&str]) -> Output {
    let data = tempfile::tempdir().unwrap();
    Command::new(server_binary())
        .arg("--data")
        .arg(data.path())
        .args(args)
        .output()
        .unwrap()
}

/// Asserts the run failed with exit code 2 and one line on stderr mentioning `mentions`.
fn assert_refused(output: &Output, mentions: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line:\n{stderr}"
    );
    assert!(stderr.contains(mentions), "{stderr}");
}

#[test]
fn a_server_without_auth_refuses_to_listen_beyond_loopback() {
    let output = run(&["--listen", "0.0.0.0:0"]);
    assert_refused(&output, "--allow-anonymous");
}

#[tokio::test]
async fn allow_anonymous_listens_beyond_loopback_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--listen", "0.0.0.0:0", "--allow-anonymous"].map(String::from);
    let (mut child, address) = start_logging(dir.path(), &args, "warn").await;
    assert!(address.ip().is_unspecified(), "{address}");
    let api = Api::new(&format!("http://127.0.0.1:{}", address.port()));
    api.init("anyone.bin").await;
    child.kill().unwrap();
    child.wait().unwrap();
    let warning = logs(dir.path());
    assert!(
        warning.contains("warning") && warning.contains("anyone"),
        "{warning}"
    );
}

#[test]
fn auth_files_that_cannot_be_used_stop_the_server_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short-secret");
    std::fs::write(&short, "too short\n").unwrap();
    let short = short.to_str().unwrap();
    let private = fixture("ed25519-private.pem");
    let cases: [(&[&str], &str); 4] = [
        (&["--auth-secret-file", short], "at least 32"),
        (
            &["--auth-secret-file", "/no/such/secret"],
            "/no/such/secret",
        ),
        (&["--auth-public-key", &private], "private key"),
        (&["--auth-public-key", short], "not a PEM public key"),
    ];
    for (args, mentions) in cases {
        let output = run(&[&["--listen", "127.0.0.1:0"][..], args].concat());
        assert_refused(&output, mentions);
    }
    assert_refused(&run(&["--read", "token"]), "--read token");
}

/// `partup-server token ARGS` (the secret from `PARTUP_AUTH_SECRET_FILE`), its one line.
fn mint(args: &[&str]) -> String {
    let output = Command::new(server_binary())
        .arg("token")
        .args(args)
        .env("PARTUP_AUTH_SECRET_FILE", fixture("secret.txt"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn the_token_command_mints_tokens_the_server_accepts() {
    let args = auth_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start(&args).await;
    let scope = ["--sub", "erin", "--write", "inbox/", "--read", "inbox/"];
    let limited = mint(&[&scope[..], &["--max-size", "1KiB", "--ttl", "10m"][..]].concat());
    let api = Api::with_token(&server.base_url(), &limited);
    let id = api.init("inbox/a.bin").await.upload_id;
    let big = test_bytes(1, 2000);
    api.upload_part_raw(&id, "1", &md5_hex(&big), big)
        .await
        .error(ErrorCode::EntityTooLarge);
    api.post_json("uploadInit", &json!({"resourceKey": "elsewhere/a.bin"}))
        .await
        .error(ErrorCode::AccessDenied);
    // Signed with private keys whose public halves the server holds: EdDSA, ES256, RS256.
    for key in [
        "ed25519-private.pem",
        "ec-p256-private.pem",
        "rsa-private.pem",
    ] {
        let private = fixture(key);
        let signed = mint(
            &[
                &scope[..],
                &["--replace", "--auth-private-key", &private][..],
            ]
            .concat(),
        );
        let api = Api::with_token(&server.base_url(), &signed);
        let part = test_bytes(2, 500);
        let done = api
            .upload_whole("inbox/b.bin", std::slice::from_ref(&part))
            .await;
        assert_eq!(done.1.size, 500, "{key}");
        api.assert_object("inbox/b.bin", &part).await;
    }
}

#[test]
fn the_token_command_needs_a_key() {
    let output = Command::new(server_binary())
        .args(["token", "--sub", "erin"])
        .env_remove("PARTUP_AUTH_SECRET_FILE")
        .output()
        .unwrap();
    assert_refused(&output, "--auth-secret-file");
}

#[tokio::test]
async fn tokens_and_secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = auth_args();
    args.extend(["--listen", "127.0.0.1:0"].map(String::from));
    let (mut child, address) = start_logging(dir.path(), &args, "debug").await;
    let base = format!("http://{address}");
    let scope = [
        "--sub",
        "erin",
        "--write",
        "inbox/",
        "--read",
        "inbox/",
        "--replace",
    ];
    let valid = mint(&scope);
    let api = Api::with_token(&base, &valid);
    api.upload_whole("inbox/a.bin", &[test_bytes(1, 100)]).await;
    let object = format!("{base}/v1/objects/inbox/a.bin");
    let by_query = reqwest::get(format!("{object}?token={valid}"))
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
    let forged = format!("{valid}x");
    let refused = reqwest::get(format!("{object}?token={forged}"))
        .await
        .unwrap();
    Api::answer(refused).await.unauthorized();
    let outside = json!({"resourceKey": "elsewhere/a.bin"});
    api.post_json("uploadInit", &outside)
        .await
        .error(ErrorCode::AccessDenied);
    child.kill().unwrap();
    child.wait().unwrap();
    let text = logs(dir.path());
    assert!(
        text.contains("/v1/objects/inbox/a.bin"),
        "no request logged:\n{text}"
    );
    let signature = valid.rsplit('.').next().unwrap();
    let secret = std::fs::read_to_string(fixture("secret.txt")).unwrap();
    for (what, needle) in [("token", signature), ("secret", secret.trim())] {
        assert!(!text.contains(needle), "the {what} is in the log:\n{text}");
    }
}

/// Starts the server with `args` at `RUST_LOG=rust_log`, its data and its stdout and stderr in
/// `dir`; returns it and the address it says it listens on.
async fn start_logging(dir: &Path, args: &[String], rust_log: &str) -> (Child, SocketAddr) {
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let mut child = Command::new(server_binary())
        .arg("--data")
        .arg(dir.join("data"))
        .args(args)
        .env("RUST_LOG", rust_log)
        .stdout(log("stdout.log"))
        .stderr(log("stderr.log"))
        .spawn()
        .unwrap();
    for _ in 0..400 {
        let text = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
        let announced = text
            .lines()
            .find_map(|line| line.split_once("listening on http://"));
        if let Some((_, rest)) = announced {
            return (child, rest.trim_end_matches('/').parse().unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not say where it listens:\n{}", logs(dir));
}

/// What a server of [`start_logging`] wrote, stdout then stderr.
fn logs(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    read("stdout.log") + &read("stderr.log")
}
