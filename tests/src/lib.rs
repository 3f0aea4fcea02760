//! Shared helpers for the end-to-end suites: a real `partup-server` process with its own data
//! directory ([`TestServer`]), on the store `PARTUP_TEST_STORE` names. The rest of the kit — the
//! process on port 0, typed API calls ([`Api`]), deterministic test data — is `partup-testkit`,
//! which the benchmarks use too; it is re-exported here.

pub mod exposition;
pub mod raw_http;
pub mod tokens;

use std::path::{Path, PathBuf};

pub use partup_testkit::*;

pub mod hook_receiver;

/// The store the suites run against: the local filesystem (the default), or an S3-compatible store
/// when `PARTUP_TEST_STORE=s3` (set by `scripts/test-s3.sh`, with `PARTUP_TEST_S3_ENDPOINT`,
/// `PARTUP_TEST_S3_BUCKET`, `PARTUP_TEST_S3_REGION` and the `AWS_*` credentials). Each server gets its
/// own random key prefix, so tests sharing a bucket never see each other's objects.
fn store_from_env() -> TestStore {
    if std::env::var("PARTUP_TEST_STORE").as_deref() != Ok("s3") {
        return TestStore::Fs;
    }
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).unwrap();
    TestStore::s3_from_env(format!("test-{}", hex::encode(nonce)))
}

/// An OpenDAL operator on `store`'s bucket, rooted at `root` (`"/"`: the whole bucket, as another
/// application sharing it sees it).
pub fn s3_operator(store: &TestStore, root: &str) -> opendal::Operator {
    let TestStore::S3 {
        endpoint,
        bucket,
        region,
        ..
    } = store
    else {
        panic!("an S3 operator needs an S3 store (PARTUP_TEST_STORE=s3)")
    };
    opendal::install_default();
    let builder = opendal::services::S3::default()
        .endpoint(endpoint)
        .bucket(bucket)
        .region(region)
        .root(root);
    opendal::Operator::new(builder).unwrap()
}

/// The server's settings for `store`'s bucket (path style, the endpoint the tests reach).
pub fn s3_settings(store: &TestStore) -> partup_server::storage::s3::S3Settings {
    let TestStore::S3 {
        endpoint,
        bucket,
        region,
        prefix,
    } = store.clone()
    else {
        panic!("S3 settings need an S3 store (PARTUP_TEST_STORE=s3)")
    };
    partup_server::storage::s3::S3Settings {
        endpoint: Some(endpoint),
        bucket,
        region,
        prefix,
        virtual_host_style: false,
        direct_endpoint: None,
    }
}

/// The keys (relative to the store's prefix) of the store's multipart uploads of partup keys.
pub async fn store_multipart_keys(store: &TestStore) -> Vec<String> {
    partup_server::storage::s3::multipart::MultipartAdmin::new(&s3_settings(store))
        .list()
        .await
        .expect("ListMultipartUploads")
        .into_iter()
        .map(|pending| pending.path)
        .collect()
}

/// Every object under an S3 store's prefix (relative paths), listed with OpenDAL.
fn list_objects(store: &TestStore) -> Vec<PathBuf> {
    let TestStore::S3 { prefix, .. } = store else {
        unreachable!("only for S3")
    };
    let op = s3_operator(store, &format!("/{prefix}"));
    // A private runtime on its own thread: callers may be inside an async test.
    std::thread::spawn(move || {
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

/// A `partup-server` process on port 0; killed when dropped. Its data (directory or bucket prefix)
/// outlives restarts; each start gets a new port.
pub struct TestServer {
    pub store: TestStore,
    pub data: tempfile::TempDir,
    pub www: tempfile::TempDir,
    /// The port the running process listens on (a restart changes it).
    pub port: u16,
    pub extra_args: Vec<String>,
    process: Option<ServerProcess>,
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
        Self::start_with(
            store_from_env(),
            tempfile::tempdir_in(parent).unwrap(),
            www,
            extra_args,
        )
        .await
    }

    /// Like [`TestServer::start`], on `store` (e.g. an S3 store with a prefix of the test's
    /// choosing) rather than the one `PARTUP_TEST_STORE` names.
    pub async fn start_on(store: TestStore, extra_args: &[&str]) -> TestServer {
        Self::start_with(
            store,
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            extra_args,
        )
        .await
    }

    async fn start_with(
        store: TestStore,
        data: tempfile::TempDir,
        www: tempfile::TempDir,
        extra_args: &[&str],
    ) -> TestServer {
        let mut server = TestServer {
            store,
            data,
            www,
            port: 0,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            process: None,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let mut command = ServerProcess::command(
            &server_binary(),
            self.data.path(),
            self.www.path(),
            &self.store,
        );
        command.args(&self.extra_args);
        let process = ServerProcess::start(command).await;
        self.port = process.address().port();
        self.process = Some(process);
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where a server started with `--metrics-listen` serves `/metrics` (`http://ADDR/metrics`).
    pub async fn metrics_url(&self) -> String {
        self.process.as_ref().expect("running").metrics_url().await
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base_url())
    }

    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("running").pid()
    }

    /// `kill -9`: no chance to flush or clean up anything.
    pub fn kill_hard(&mut self) {
        drop(self.process.take());
    }

    /// SIGTERM, then waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.take().expect("running").terminate()
    }

    /// SIGTERM and wait, returning the server (stopped, data kept) so it can be started again.
    pub fn terminate_and_keep_data(mut self) -> (std::process::ExitStatus, TestServer) {
        let status = self.terminate();
        (status, self)
    }

    /// Starts a stopped server again on the same data directory (on a new port).
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "already running");
        self.spawn().await;
    }

    /// `kill -9`, then starts the server again on the same data directory (on a new port).
    pub async fn restart(&mut self) {
        self.kill_hard();
        self.spawn().await;
    }

    /// Every file under the data directory but the server's lock, or object under the bucket prefix (relative paths), for
    /// checks that nothing leaked.
    pub fn data_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if self.store.is_s3() {
            files = list_objects(&self.store);
        } else {
            walk(self.data.path(), self.data.path(), &mut files);
            // The server's lock on its data directory (storage/fs/data_lock.rs): not data.
            files.retain(|file| file != Path::new(DATA_LOCK_FILE));
        }
        files.sort();
        files
    }

    /// Files in the staging area (`tmp/` of the data directory; none over S3): staged parts,
    /// objects being assembled, completed parts being deleted.
    pub fn staged_files(&self) -> Vec<PathBuf> {
        if self.store.is_s3() {
            return Vec::new();
        }
        let mut files = Vec::new();
        walk(self.data.path(), &self.data.path().join("tmp"), &mut files);
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
        Self::start_with(
            self.store.clone(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            extra_args,
        )
        .await
    }
}

/// Starts the server with `args` and asserts it refuses them as SPEC.md says: exit code 2 and one
/// line on stderr that mentions `mentions` (the option at fault).
#[track_caller]
pub fn assert_refused_at_start(args: &[&str], mentions: &str) {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .args(args)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines = stderr.trim_end().lines().count();
    assert_eq!(lines, 1, "{args:?}: not one line:\n{stderr}");
    assert!(stderr.contains(mentions), "{args:?}: {stderr}");
}

/// The file a server locks its data directory with (server/src/storage/fs/data_lock.rs).
pub const DATA_LOCK_FILE: &str = "partup-server.lock";

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
