//! A `partup-server` child process on a free port: started fresh for each row so its peak RSS
//! (`VmHWM`) belongs to that row alone, killed when dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which store the server runs on.
#[derive(Debug, Clone)]
pub enum StoreArgs {
    Fs,
    /// Endpoint, bucket, region and key prefix; credentials come from `AWS_*` in the environment.
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        prefix: String,
    },
}

pub struct ServerProcess {
    child: Child,
    pub base_url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

impl ServerProcess {
    pub async fn start(binary: &Path, data_dir: &Path, store: &StoreArgs) -> ServerProcess {
        std::fs::create_dir_all(data_dir).expect("create the data dir");
        let port = free_port();
        let log = std::fs::File::create(data_dir.with_extension("log")).expect("server log");
        let mut command = Command::new(binary);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data")
            .arg(data_dir)
            .arg("--www")
            .arg(data_dir.join("www"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        if let StoreArgs::S3 {
            endpoint,
            bucket,
            region,
            prefix,
        } = store
        {
            command.args([
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
            ]);
        }
        let child = command.spawn().expect("start partup-server");
        let server = ServerProcess {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client
                .get(format!("{}/healthz", server.base_url))
                .send()
                .await
                && r.status().is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "partup-server did not answer /healthz"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Peak resident set size so far, in bytes (`VmHWM`).
    pub fn peak_rss_bytes(&self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    /// Current resident set size, in bytes (`VmRSS`).
    pub fn rss_bytes(&self) -> u64 {
        self.status_kib("VmRSS:") * 1024
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
