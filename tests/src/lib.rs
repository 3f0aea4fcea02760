//! Shared helpers for the end-to-end suites: a real `partup-server` process on a free port with its
//! own data directory ([`TestServer`]), typed calls of the API ([`Api`]), and deterministic test data.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use partup_wire::{API_PREFIX, CompleteResponse, ErrorBody, ErrorCode, InitResponse, PartInfo};
use serde_json::{Value, json};

/// The `partup-server` binary next to this test's own executable (`target/<profile>/`). The README's
/// test command builds it before running the suites.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("partup-server");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p partup-server` before the tests (scripts/test-all.sh does)",
        binary.display()
    );
    binary
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// The store the suites run against: the local filesystem (the default), or an S3-compatible store
/// when `PARTUP_TEST_STORE=s3` (set by `scripts/test-s3.sh`, with `PARTUP_TEST_S3_ENDPOINT`,
/// `PARTUP_TEST_S3_BUCKET`, `PARTUP_TEST_S3_REGION` and the `AWS_*` credentials). Each server gets its
/// own key prefix, so tests sharing a bucket never see each other's objects.
#[derive(Debug, Clone)]
pub enum TestStore {
    Fs,
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        prefix: String,
    },
}

impl TestStore {
    fn from_env() -> TestStore {
        if std::env::var("PARTUP_TEST_STORE").as_deref() != Ok("s3") {
            return TestStore::Fs;
        }
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| panic!("PARTUP_TEST_STORE=s3 needs {name}"))
        };
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).unwrap();
        TestStore::S3 {
            endpoint: var("PARTUP_TEST_S3_ENDPOINT"),
            bucket: var("PARTUP_TEST_S3_BUCKET"),
            region: std::env::var("PARTUP_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into()),
            prefix: format!("test-{}", hex::encode(nonce)),
        }
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, TestStore::S3 { .. })
    }

    fn server_args(&self) -> Vec<String> {
        match self {
            TestStore::Fs => Vec::new(),
            TestStore::S3 {
                endpoint,
                bucket,
                region,
                prefix,
            } => [
                "--store",
                "s3",
                "--s3-endpoint",
                endpoint,
                "--s3-bucket",
                bucket,
                "--s3-region",
                region,
                "--s3-prefix",
                prefix,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }

    /// Every object under this store's prefix (relative paths), listed with OpenDAL.
    fn list_objects(&self) -> Vec<PathBuf> {
        let TestStore::S3 {
            endpoint,
            bucket,
            region,
            prefix,
        } = self.clone()
        else {
            unreachable!("only for S3")
        };
        // A private runtime on its own thread: callers may be inside an async test.
        std::thread::spawn(move || {
            let builder = opendal::services::S3::default()
                .endpoint(&endpoint)
                .bucket(&bucket)
                .region(&region)
                .root(&format!("/{prefix}"));
            opendal::install_default();
            let op = opendal::Operator::new(builder).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let entries = runtime
                .block_on(async { op.list_with("/").recursive(true).await })
                .unwrap();
            entries
                .iter()
                .filter(|e| e.metadata().is_file())
                .map(|e| PathBuf::from(e.path()))
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap()
    }
}

/// A `partup-server` process; killed when dropped. Its data (directory or bucket prefix) outlives restarts.
pub struct TestServer {
    pub store: TestStore,
    pub data: tempfile::TempDir,
    pub www: tempfile::TempDir,
    pub port: u16,
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl TestServer {
    /// Starts a server with `extra_args` (e.g. `["--upload-ttl", "1s"]`) and waits until it is ready.
    pub async fn start(extra_args: &[&str]) -> TestServer {
        Self::start_in(&std::env::temp_dir(), extra_args).await
    }

    /// Like [`TestServer::start`], with the data directory created inside `parent`.
    pub async fn start_in(parent: &Path, extra_args: &[&str]) -> TestServer {
        let www = tempfile::tempdir().unwrap();
        std::fs::write(
            www.path().join("index.html"),
            "<!doctype html><title>partup test page</title>",
        )
        .unwrap();
        let mut server = TestServer {
            store: TestStore::from_env(),
            data: tempfile::tempdir_in(parent).unwrap(),
            www,
            port: free_port(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let child = Command::new(server_binary())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data")
            .arg(self.data.path())
            .arg("--www")
            .arg(self.www.path())
            .args(self.store.server_args())
            .args(&self.extra_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start partup-server");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::Client::new();
        loop {
            let health = client
                .get(format!("{}/healthz", self.base_url()))
                .send()
                .await;
            if health.is_ok_and(|r| r.status() == 200) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("partup-server exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "partup-server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn api(&self) -> Api {
        Api {
            base: self.base_url(),
            http: reqwest::Client::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9`: no chance to flush or clean up anything.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().unwrap()
    }

    /// SIGTERM and wait, returning the server (stopped, data kept) so it can be started again.
    pub fn terminate_and_keep_data(mut self) -> (std::process::ExitStatus, TestServer) {
        let status = self.terminate();
        (status, self)
    }

    /// Starts a stopped server again on the same port and data directory.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.spawn().await;
    }

    /// Starts the server again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.kill_hard();
        self.spawn().await;
    }

    /// Every file under the data directory, or object under the bucket prefix (relative paths), for
    /// checks that nothing leaked.
    pub fn data_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if self.store.is_s3() {
            files = self.store.list_objects();
        } else {
            walk(self.data.path(), self.data.path(), &mut files);
        }
        files.sort();
        files
    }

    /// The stored files of one upload (empty once it is gone).
    pub fn upload_files(&self, upload_id: &str) -> Vec<PathBuf> {
        let dir = Path::new("uploads").join(upload_id);
        self.data_files()
            .into_iter()
            .filter(|p| p.starts_with(&dir))
            .collect()
    }

    /// A second server process over the same store (S3 only: stateless instances share a bucket).
    pub async fn start_peer(&self, extra_args: &[&str]) -> TestServer {
        assert!(
            self.store.is_s3(),
            "only S3-backed servers can share their store"
        );
        let www = tempfile::tempdir().unwrap();
        let mut peer = TestServer {
            store: self.store.clone(),
            data: tempfile::tempdir().unwrap(),
            www,
            port: free_port(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        peer.spawn().await;
        peer
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// An API answer: status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok<T: serde::de::DeserializeOwned>(self) -> T {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        serde_json::from_value(self.body).expect("body has the documented shape")
    }

    /// Asserts a SPEC.md error with this code (and its status) and returns the message.
    pub fn error(self, code: ErrorCode) -> String {
        let body: ErrorBody = serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("not an error body ({e}): {self:?}"));
        assert_eq!(body.code, code, "{self:?}");
        assert_eq!(self.status, code.http_status(), "{self:?}");
        assert!(!body.request_id.is_empty(), "{self:?}");
        assert!(!body.message.is_empty(), "{self:?}");
        body.message
    }
}

/// The API over HTTP.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn url(&self, endpoint: &str) -> String {
        format!("{}{API_PREFIX}/{endpoint}", self.base)
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    pub async fn post_form(&self, endpoint: &str, form: reqwest::multipart::Form) -> Answer {
        Self::answer(
            self.http
                .post(self.url(endpoint))
                .multipart(form)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    pub async fn post_json(&self, endpoint: &str, body: &Value) -> Answer {
        Self::answer(
            self.http
                .post(self.url(endpoint))
                .json(body)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    pub async fn init(&self, key: &str) -> InitResponse {
        self.post_json("uploadInit", &json!({"resourceKey": key}))
            .await
            .ok()
    }

    pub async fn upload_part_raw(
        &self,
        upload_id: &str,
        part_number: &str,
        md5: &str,
        bytes: Vec<u8>,
    ) -> Answer {
        let form = reqwest::multipart::Form::new()
            .text("uploadId", upload_id.to_owned())
            .text("partNumber", part_number.to_owned())
            .text("md5", md5.to_owned())
            .part(
                "content",
                reqwest::multipart::Part::bytes(bytes).file_name("blob"),
            );
        Self::answer(
            self.http
                .post(self.url("upload"))
                .multipart(form)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// A part upload that may fail at the transport level (for crash tests).
    pub async fn upload_part_try(
        &self,
        upload_id: &str,
        part_number: u32,
        bytes: &[u8],
    ) -> Result<Answer, reqwest::Error> {
        let form = reqwest::multipart::Form::new()
            .text("uploadId", upload_id.to_owned())
            .text("partNumber", part_number.to_string())
            .text("md5", md5_hex(bytes))
            .part(
                "content",
                reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("blob"),
            );
        Ok(Self::answer(
            self.http
                .post(self.url("upload"))
                .multipart(form)
                .send()
                .await?,
        )
        .await)
    }

    pub async fn upload_part(&self, upload_id: &str, part_number: u32, bytes: &[u8]) -> PartInfo {
        self.upload_part_raw(
            upload_id,
            &part_number.to_string(),
            &md5_hex(bytes),
            bytes.to_vec(),
        )
        .await
        .ok()
    }

    pub async fn list_parts(&self, upload_id: &str) -> Answer {
        self.post_json("listParts", &json!({"uploadId": upload_id}))
            .await
    }

    pub async fn complete_raw(&self, upload_id: &str, parts: &[(u32, String)]) -> Answer {
        let list: Vec<Value> = parts
            .iter()
            .map(|(n, md5)| json!({"partNumber": n, "md5": md5}))
            .collect();
        self.post_json(
            "uploadComplete",
            &json!({"uploadId": upload_id, "completeMultipartUpload": list}),
        )
        .await
    }

    pub async fn complete(&self, upload_id: &str, parts: &[(u32, String)]) -> CompleteResponse {
        self.complete_raw(upload_id, parts).await.ok()
    }

    pub async fn get_object(&self, key: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/v1/objects/{key}", self.base))
            .send()
            .await
            .expect("request sent")
    }

    /// Asserts the object stored under `key` (percent-encoded as in a URL) is exactly `expected`.
    pub async fn assert_object(&self, key: &str, expected: &[u8]) {
        assert_same_bytes(
            &self.object_bytes(key).await,
            expected,
            &format!("object {key} read back"),
        );
    }

    pub async fn object_bytes(&self, key: &str) -> Vec<u8> {
        let response = self.get_object(key).await;
        assert_eq!(response.status(), 200, "GET {key}");
        response.bytes().await.unwrap().to_vec()
    }

    /// Init, upload the chunks as parts 1..=N, complete; returns the upload id and the answer.
    pub async fn upload_whole(&self, key: &str, parts: &[Vec<u8>]) -> (String, CompleteResponse) {
        let id = self.init(key).await.upload_id;
        let mut listed = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let info = self.upload_part(&id, i as u32 + 1, part).await;
            listed.push((info.part_number, info.md5));
        }
        let done = self.complete(&id, &listed).await;
        (id, done)
    }
}

/// Asserts two byte strings are equal, reporting lengths and the first difference instead of
/// printing megabytes.
#[track_caller]
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let first_difference = actual.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes read, {} expected; first difference at {:?}",
            actual.len(),
            expected.len(),
            first_difference
        );
    }
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// The S3 multipart etag of the given parts, computed independently of the server.
pub fn expected_etag(parts: &[&[u8]]) -> String {
    let mut outer = Md5::new();
    for part in parts {
        outer.update(Md5::digest(part));
    }
    format!("{}-{}", hex::encode(outer.finalize()), parts.len())
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
pub fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}
