//! A real `partup-server` process on port 0. It announces the address it bound on stdout
//! (`partup-server listening on http://127.0.0.1:PORT/`), which is read back here: nothing picks a
//! port beforehand, so no other process can take it between the pick and the server's bind. With
//! `--metrics-listen`, the metrics address is announced the same way
//! (`partup-server metrics on http://127.0.0.1:PORT/metrics`).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::TestStore;

/// How long a process may take to announce its address and then answer `/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `partup-server` binary next to the running test executable (`target/<profile>/`). The
/// README's test command builds it before running the suites.
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

/// The address in a line `NAME listening on http://ADDR/…`, the form partup-server, the fault
/// proxy and the bench sink announce themselves in.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once(" listening on http://")?;
    rest.split(|c: char| c == '/' || c.is_whitespace())
        .next()?
        .parse()
        .ok()
}

/// The address in partup-server's line `partup-server metrics on http://ADDR/metrics`.
fn metrics_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once(" metrics on http://")?;
    rest.split('/').next()?.parse().ok()
}

/// Waits until `child` (spawned with `stdout(Stdio::piped())`) announces the address it listens
/// on, and returns it. Its stdout is read on to the end on a thread of its own, so that a
/// process logging there never blocks on a full pipe.
pub async fn announced_address(child: &mut Child) -> SocketAddr {
    announced_address_and_output(child).await.0
}

/// Like [`announced_address`], also handing over every line the child writes on stdout (its log
/// lines), as they come.
pub async fn announced_address_and_output(
    child: &mut Child,
) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let announced = announcements(child).await;
    (announced.address, announced.lines)
}

/// What a child says on stdout: the address it listens on (waited for), every line as it comes,
/// and the metrics address once announced (`None` until then, and for ever without
/// `--metrics-listen`).
struct Announcements {
    address: SocketAddr,
    lines: std::sync::mpsc::Receiver<String>,
    metrics: watch::Receiver<Option<SocketAddr>>,
}

async fn announcements(child: &mut Child) -> Announcements {
    let stdout = child
        .stdout
        .take()
        .expect("the child's stdout is piped, to read its address from");
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (lines_sender, lines) = std::sync::mpsc::channel();
    let (metrics_sender, metrics) = watch::channel(None);
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(address) = listening_address(&line)
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(address);
            }
            if let Some(address) = metrics_address(&line) {
                metrics_sender.send_replace(Some(address));
            }
            // A server's errors reach the test run's output (not captured per test): what a
            // failing run in CI needs to be understood.
            if line.contains("ERROR") {
                eprintln!("[server log] {line}");
            }
            // Nobody may be listening: the lines are then dropped.
            let _ = lines_sender.send(line);
        }
    });
    match tokio::time::timeout(READY_TIMEOUT, receiver).await {
        Ok(Ok(address)) => Announcements {
            address,
            lines,
            metrics,
        },
        Ok(Err(_)) => panic!(
            "the process exited ({:?}) before saying where it listens",
            child.wait()
        ),
        Err(_) => panic!("the process did not say where it listens within {READY_TIMEOUT:?}"),
    }
}

/// A running `partup-server`; killed (`kill -9`) when dropped.
pub struct ServerProcess {
    child: Child,
    address: SocketAddr,
    /// The metrics address, once announced (`--metrics-listen`).
    metrics: watch::Receiver<Option<SocketAddr>>,
}

impl ServerProcess {
    /// `binary --listen 127.0.0.1:0 --data DATA --www WWW` with the flags of `store`, logging at
    /// `warn`: callers add their flags and, if they want, a file for stderr.
    pub fn command(binary: &Path, data: &Path, www: &Path, store: &TestStore) -> Command {
        let mut command = Command::new(binary);
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data)
            .arg("--www")
            .arg(www)
            .args(store.server_args())
            .env("RUST_LOG", "warn");
        command
    }

    /// Starts `command`, reads the address it announces and waits until it answers `/healthz`.
    pub async fn start(command: Command) -> ServerProcess {
        Self::start_keeping_output(command).await.0
    }

    /// Like [`ServerProcess::start`], also handing over the lines it writes on stdout (its logs).
    pub async fn start_keeping_output(
        mut command: Command,
    ) -> (ServerProcess, std::sync::mpsc::Receiver<String>) {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("start partup-server");
        let started = Instant::now();
        let Announcements {
            address,
            lines: output,
            metrics,
        } = announcements(&mut child).await;
        let mut server = ServerProcess {
            child,
            address,
            metrics,
        };
        let health = format!("{}/healthz", server.base_url());
        let client = reqwest::Client::new();
        loop {
            let answer = client.get(&health).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return (server, output);
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("partup-server exited early with {status}");
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "partup-server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `http://ADDR/metrics`, as a server started with `--metrics-listen` announces it (it does
    /// before serving the API, so a ready server has said it; its line may still be on its way).
    pub async fn metrics_url(&self) -> String {
        let mut metrics = self.metrics.clone();
        let announced = tokio::time::timeout(READY_TIMEOUT, metrics.wait_for(Option::is_some));
        match announced.await {
            Ok(Ok(address)) => format!("http://{}/metrics", address.expect("announced")),
            _ => panic!("partup-server announced no metrics address: was --metrics-listen given?"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the process to exit; returns its exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().unwrap()
    }

    /// Peak resident set size so far, in bytes (`VmHWM`).
    pub fn peak_rss_bytes(&self) -> u64 {
        peak_rss_bytes(self.pid())
    }

    /// Current resident set size, in bytes (`VmRSS`).
    pub fn rss_bytes(&self) -> u64 {
        status_kib(self.pid(), "VmRSS:") * 1024
    }
}

impl Drop for ServerProcess {
    /// `kill -9`: no chance to flush or clean up anything (a no-op once the process was waited for).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Open file descriptors of a process (`/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
        .count()
}

/// Peak resident set size of a process, in bytes (`VmHWM` of `/proc/PID/status`).
pub fn peak_rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}

/// A `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// TCP ports process `pid` listens on (its sockets in `/proc/PID/fd` that `/proc/net/tcp*` shows
/// in state LISTEN).
pub fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let mut inodes = BTreeSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (fields[1], fields[3], fields[9]);
            if state == "0A" && inodes.contains(inode) {
                let port = local.rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::{listening_address, metrics_address};

    #[test]
    fn the_address_is_read_from_a_listening_line() {
        assert_eq!(
            listening_address("partup-server listening on http://127.0.0.1:4321/"),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        assert_eq!(
            listening_address("fault-proxy listening on http://[::1]:80 → http://x/"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(listening_address("partup-server ready"), None);
        assert_eq!(
            listening_address("partup-server metrics on http://127.0.0.1:9100/metrics"),
            None
        );
    }

    #[test]
    fn the_metrics_address_is_read_from_its_own_line() {
        assert_eq!(
            metrics_address("partup-server metrics on http://127.0.0.1:9100/metrics"),
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(
            metrics_address("partup-server listening on http://127.0.0.1:4321/"),
            None
        );
    }
}
