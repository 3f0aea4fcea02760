//! A real hook receiver for the suites: an HTTP server in the test process (127.0.0.1, port 0)
//! that records every request partup sends it and answers as told ([`Mode`]): accepting, refusing,
//! never answering, or closing the connection; or it stops listening for a while. Waits are on
//! conditions with a deadline.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The secret the suites sign hooks with.
pub const HOOK_SECRET: &str = "the-suites-hook-secret-0123456789";

/// Writes [`HOOK_SECRET`] (with a trailing newline, as an editor would) to a file in `dir`, for
/// `--hook-secret-file`.
pub fn write_hook_secret(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("hook-secret");
    std::fs::write(&path, format!("{HOOK_SECRET}\n")).unwrap();
    path
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 200, empty body.
    Accept,
    /// This status with this body.
    Reply(u16, String),
    /// Reads the request, then never answers.
    Hang,
    /// Reads the request, then closes the connection without an answer.
    Close,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: Option<String>,
    pub body: Bytes,
    /// Whether it was answered with a 2xx.
    pub accepted: bool,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("hook bodies are JSON")
    }

    /// Whether it carries a valid `Partup-Signature` for [`HOOK_SECRET`], signed within 5 minutes.
    pub fn signed_validly(&self) -> bool {
        self.signature
            .as_deref()
            .is_some_and(|header| verify_signature(HOOK_SECRET.as_bytes(), header, &self.body))
    }
}

/// What SPEC.md tells a receiver to do: parse `t=…,v1=…`, refuse a timestamp more than 5 minutes
/// away, compare HMAC-SHA256(secret, "t.body") in constant time.
pub fn verify_signature(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for item in header.split(',') {
        match item.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(t) > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

struct Shared {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
    /// Bumped on every request, so waiters wake.
    arrivals: watch::Sender<usize>,
}

/// The receiver; stops listening when dropped.
pub struct HookReceiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop with its connections, while listening.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl HookReceiver {
    pub async fn start(mode: Mode) -> HookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            received: Mutex::new(Vec::new()),
            arrivals: watch::channel(0).0,
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        HookReceiver {
            address,
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// Closes the listening socket and every connection: partup's requests are refused.
    pub fn stop_listening(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Listens again on the same address (the port was ours a moment ago).
    pub async fn listen_again(&self) {
        let listener = TcpListener::bind(self.address).await.unwrap();
        let task = tokio::spawn(accept_loop(listener, self.shared.clone()));
        *self.task.lock().unwrap() = Some(task);
    }

    /// Its URL, at `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `condition` holds for the requests so far (panics after 30 s, saying `what`).
    pub async fn wait_until(
        &self,
        what: &str,
        condition: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let mut arrivals = self.shared.arrivals.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received();
            if condition(&received) {
                return received;
            }
            let arrived = tokio::time::timeout_at(deadline, arrivals.changed()).await;
            assert!(
                arrived.is_ok(),
                "waited 30 s for {what}; received: {:#?}",
                received.iter().map(Received::json).collect::<Vec<_>>()
            );
        }
    }
}

impl Drop for HookReceiver {
    fn drop(&mut self) {
        self.stop_listening();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropped with this task, which aborts every connection.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| answer(shared.clone(), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let signature = request
        .headers()
        .get("partup-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let mode = shared.mode.lock().unwrap().clone();
    let (status, text) = match &mode {
        Mode::Accept => (200, String::new()),
        Mode::Reply(status, text) => (*status, text.clone()),
        Mode::Hang | Mode::Close => (0, String::new()),
    };
    shared.received.lock().unwrap().push(Received {
        signature,
        body,
        accepted: (200..300).contains(&status),
    });
    shared.arrivals.send_modify(|n| *n += 1);
    match mode {
        Mode::Hang => match std::future::pending::<Infallible>().await {},
        Mode::Close => Err(std::io::Error::other("closing without an answer")),
        _ => Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(text)))
            .unwrap()),
    }
}

/// The events the receiver accepted, each id once, in the order they were first accepted.
pub fn delivered_events(received: &[Received]) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    received
        .iter()
        .filter(|r| r.accepted)
        .map(Received::json)
        .filter(|event| seen.insert(event["id"].as_str().unwrap().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &[u8], t: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn only_a_fresh_signature_over_the_exact_body_verifies() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = signed(b"secret", now, b"{}");
        assert!(verify_signature(b"secret", &header, b"{}"));
        assert!(!verify_signature(b"secret", &header, b"{ }"));
        assert!(!verify_signature(b"other", &header, b"{}"));
        assert!(!verify_signature(
            b"secret",
            &signed(b"secret", now - 600, b"{}"),
            b"{}"
        ));
        assert!(!verify_signature(b"secret", "v1=00", b"{}"));
    }
}
