//! Several `--upstream`s: the proxy stands in for a load balancer in front of partup instances
//! that share one store (SPEC.md's "several instances"), so a browser test can kill one of them
//! mid-upload and see the upload finish through the other.
//!
//! Requests go to the upstreams in turn, so both instances serve the same upload before the kill.
//! An upstream that refuses the connection (its process is gone) is taken out of the turn and the
//! request goes to the next one, as a balancer does with nginx's `proxy_next_upstream error`. A
//! request that was already on its way to an instance when it died fails as it would behind a
//! real balancer: the page sees its connection drop, and its retries reach the other instance.
//!
//! `--kill-pid PID` names the first upstream's process: `POST /__proxy/kill-upstream` sends it
//! SIGKILL (a `kill -9` in the middle of an upload, nothing flushed or said goodbye).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Upstreams {
    urls: Vec<String>,
    turn: AtomicUsize,
    down: Mutex<Vec<bool>>,
    kill_pid: Option<u32>,
}

impl Upstreams {
    pub fn new(urls: Vec<String>, kill_pid: Option<u32>) -> Self {
        let urls: Vec<String> = urls
            .into_iter()
            .map(|url| url.trim_end_matches('/').to_string())
            .collect();
        let down = Mutex::new(vec![false; urls.len()]);
        Upstreams {
            urls,
            turn: AtomicUsize::new(0),
            down,
            kill_pid,
        }
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn url(&self, index: usize) -> &str {
        &self.urls[index]
    }

    /// The upstreams still up, starting with the one whose turn it is.
    pub fn in_turn(&self) -> Vec<usize> {
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        (0..self.urls.len())
            .map(|offset| (start + offset) % self.urls.len())
            .filter(|&index| !down[index])
            .collect()
    }

    /// Takes `index` out of the turn; answers the indices of every upstream that is down.
    pub fn mark_down(&self, index: usize) -> Vec<usize> {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        down[index] = true;
        (0..down.len()).filter(|&i| down[i]).collect()
    }

    /// Sends SIGKILL to the first upstream's process (`--kill-pid`); answers its pid.
    pub fn kill_first(&self) -> Result<u32, String> {
        let pid = self
            .kill_pid
            .ok_or("no --kill-pid was given: there is no process to kill")?;
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
