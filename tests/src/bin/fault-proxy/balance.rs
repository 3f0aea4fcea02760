//! Several `--upstream`s: the proxy stands in for a load balancer in front of partup instances
//! that share one store (SPEC.md's "several instances"), so a browser test can kill one of them
//! mid-upload and see the upload finish through the other.
//!
//! Requests go to the upstreams in turn, so both instances serve the same upload before the kill.
//! An upstream that refuses the connection (its process is gone) is taken out of the turn for a
//! second and the request goes to the next one, as a balancer does with nginx's
//! `proxy_next_upstream error` and `fail_timeout`; once it answers again (restarted), it is back.
//! A request that was already on its way to an instance when it died fails as it would behind a
//! real balancer: the page sees its connection drop, and its retries reach the other instance.
//!
//! `--kill-pid-file FILE` holds the first upstream's process id (read at each kill: the script
//! restarts a killed instance on the same port and writes its new pid there):
//! `POST /__proxy/kill-upstream` sends it SIGKILL (a `kill -9` in the middle of an upload, nothing
//! flushed, no goodbye).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long an upstream that refused a connection is left out of the turn.
const FAIL_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Upstreams {
    urls: Vec<String>,
    turn: AtomicUsize,
    /// When each upstream last refused a connection; `None` while it answers.
    down_since: Mutex<Vec<Option<Instant>>>,
    kill_pid_file: Option<PathBuf>,
}

impl Upstreams {
    pub fn new(urls: Vec<String>, kill_pid_file: Option<PathBuf>) -> Self {
        let urls: Vec<String> = urls
            .into_iter()
            .map(|url| url.trim_end_matches('/').to_string())
            .collect();
        let down_since = Mutex::new(vec![None; urls.len()]);
        Upstreams {
            urls,
            turn: AtomicUsize::new(0),
            down_since,
            kill_pid_file,
        }
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn url(&self, index: usize) -> &str {
        &self.urls[index]
    }

    /// The upstreams to try, starting with the one whose turn it is: those that did not refuse a
    /// connection within the last [`FAIL_TIMEOUT`].
    pub fn in_turn(&self) -> Vec<usize> {
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let down_since = self.lock();
        (0..self.urls.len())
            .map(|offset| (start + offset) % self.urls.len())
            .filter(|&index| down_since[index].is_none_or(|since| since.elapsed() >= FAIL_TIMEOUT))
            .collect()
    }

    /// `index` refused a connection: out of the turn for a while.
    pub fn mark_down(&self, index: usize) {
        self.lock()[index] = Some(Instant::now());
    }

    /// `index` answered: in the turn again.
    pub fn mark_up(&self, index: usize) {
        self.lock()[index] = None;
    }

    /// The upstreams whose last connection was refused.
    pub fn down(&self) -> Vec<usize> {
        let down_since = self.lock();
        (0..down_since.len())
            .filter(|&i| down_since[i].is_some())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Instant>>> {
        self.down_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends SIGKILL to the first upstream's process (`--kill-pid`); answers its pid.
    pub fn kill_first(&self) -> Result<u32, String> {
        let file = self
            .kill_pid_file
            .as_ref()
            .ok_or("no --kill-pid-file was given: there is no process to kill")?;
        let pid: u32 = std::fs::read_to_string(file)
            .map_err(|e| format!("{} could not be read: {e}", file.display()))?
            .trim()
            .parse()
            .map_err(|e| format!("{} holds no process id: {e}", file.display()))?;
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .map_err(|e| format!("kill could not run: {e}"))?;
        if status.success() {
            Ok(pid)
        } else {
            Err(format!("kill -KILL {pid} failed: {status}"))
        }
    }
}
