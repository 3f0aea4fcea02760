//! fault-proxy: an HTTP proxy in front of partup-server that injects faults into part uploads,
//! so the browser suite can show the client finishes byte-exact through them.
//!
//! `fault-proxy --listen 127.0.0.1:0 --upstream http://127.0.0.1:SERVER [--store]`
//! `fault-proxy --listen 127.0.0.1:0 --upstream URL_A --upstream URL_B [--kill-pid-file FILE]`
//!
//! With several upstreams it is a load balancer over partup instances that share a store, one of
//! which a test can kill mid-upload (`balance.rs`).
//!
//! Port 0 picks a free port; once bound, the proxy prints `fault-proxy listening on http://ADDR → …`
//! (scripts/test-client.sh reads the address there, as it does the server's).
//!
//! Every request is forwarded as is (bodies streamed). Part uploads (`POST …/upload`) are
//! numbered 1, 2, 3… since the last reset, and request k gets, first rule that matches:
//! - `fail503Every: n` (k % n == 0): answered 503 `ServiceUnavailable` (with `Retry-After` when
//!   `retryAfterSeconds` is set), never forwarded;
//! - `resetEvery: n`: half the body is read, then the connection is dropped without an answer;
//! - `corruptEvery: n`: one byte in the middle of the body is flipped on the way (the server
//!   answers `BadDigest`);
//! - `stallEvery: n`: nothing is answered for `stallMs`, then the connection is dropped;
//! - `delayEvery: n`: forwarded after `delayMs` (with `delayAnswer: true`, forwarded at once and
//!   the upstream's answer held `delayMs`).
//!
//! And for the other requests: `initFail503: n` and `listPartsFail503: n` answer the first n
//! uploadInit / listParts with 503; `completeLoseAnswer: n` forwards the first n uploadComplete
//! but drops the server's answer with the connection.
//!
//! Before all of those, `answers: [{endpoint, status, code?, message?, retryAfter?,
//! retryAfterDateIn?, first?}, …]` (first rule that matches wins) has the proxy answer POSTs to
//! `endpoint` (`upload`, `uploadInit`, …, or `*` for every POST) itself, never forwarded:
//! `status` with the partup error body `{code, message, requestId}` (no `code`: a plain-text body,
//! as a proxy's error page), `Retry-After: retryAfter` as given, or an HTTP-date
//! `retryAfterDateIn` seconds ahead. `first: n` limits the rule to the endpoint's first n
//! requests (`*`: the first n POSTs); without it, it answers every one.
//!
//! With `--store` it stands in front of an S3 store instead (SPEC.md §6: the signed URLs of direct
//! parts name it, partup's `--direct-endpoint`). The parts are then the `PUT`s with a
//! `partNumber` (logged and answered as endpoint `storePart`), the same rules apply to them, and
//! the proxy answers as a store does: `fail503Every` with S3's `503 SlowDown` XML, `answers` with
//! `<Error><Code>code</Code><Message>message</Message></Error>`. Everything passes as it is:
//! the `Host` header (SigV4 signs it: the store must see the host the URL was signed for) and the
//! store's answers, CORS headers included (the bucket's CORS rule is what is tested); the codes of
//! its error answers are counted in `storeErrors`, those saying the signature expired in
//! `storeExpired`.
//!
//! Control (CORS-open, so the page under test can call it):
//! - `POST /__proxy/config` `{...rules}`: sets the rules and resets the counters;
//! - `POST /__proxy/reset`: no faults, counters zero;
//! - `POST /__proxy/kill-upstream`: SIGKILL to the first upstream's process (its pid in `--kill-pid-file`);
//! - `GET /__proxy/stats` (also `/stats`): the counters (with several upstreams, `servedBy`: the
//!   requests each upstream answered, by index, and `upstreamsDown`), including the most part requests ever
//!   in flight at once, `apiRequests` (POSTs), `answered` (by `answers`), and `log`: every POST
//!   (the first 10,000) as `{endpoint, atMs, injected}` — milliseconds since the config was set,
//!   and the status the proxy answered itself, if it did.

mod balance;
mod responses;
mod rules;
mod state;

use balance::Upstreams;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use responses::{cors, full, injected_answer, json_response, service_unavailable, slow_down};
use rules::{AnswerRule, FaultConfig};
use state::{State, Stats};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, Error>;

struct Proxy {
    upstreams: Upstreams,
    /// In front of an S3 store (`--store`), not of partup.
    store: bool,
    client: Client<HttpConnector, Body>,
    state: Mutex<State>,
}

enum Fault {
    None,
    Answer(AnswerRule),
    Fail503,
    Reset,
    Corrupt,
    Stall,
    Delay,
}

/// Decrements the in-flight count however the request ends (even if the client goes away).
struct InFlight(Arc<Proxy>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        // Saturating: a reset may have zeroed the counter while this request was in flight.
        state.stats.parts_in_flight = state.stats.parts_in_flight.saturating_sub(1);
    }
}

fn content_length(request: &Request<Incoming>) -> u64 {
    request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The body with its middle byte flipped on the way (the server then answers `BadDigest`).
fn corrupt_middle_byte(body: Incoming, length: u64) -> Body {
    let target = length / 2;
    let mut offset = 0u64;
    let stream = BodyStream::new(body).map(move |frame| {
        let frame = frame.map_err(Error::from)?;
        match frame.into_data() {
            Ok(data) => {
                let start = offset;
                offset += data.len() as u64;
                if (start..offset).contains(&target) {
                    let mut bytes = data.to_vec();
                    bytes[(target - start) as usize] ^= 0x55;
                    Ok(Frame::data(Bytes::from(bytes)))
                } else {
                    Ok(Frame::data(data))
                }
            }
            Err(frame) => Ok(frame),
        }
    });
    BodyExt::boxed(StreamBody::new(stream))
}

/// Counts a part request and picks what happens to it: the first rule that hits its number.
/// `endpoint`: what the log and the `answers` rules call it.
fn part_fault(state: &mut State, length: u64, endpoint: &str) -> Fault {
    state.stats.part_requests += 1;
    state.stats.parts_in_flight += 1;
    let k = state.stats.part_requests;
    let hits = |every: u64| every > 0 && k.is_multiple_of(every);
    let answer = state.arrived(endpoint, k, hits(state.config.fail503_every));
    let State { config, stats, .. } = state;
    stats.max_concurrent_parts = stats.max_concurrent_parts.max(stats.parts_in_flight);
    if let Some(rule) = answer {
        Fault::Answer(rule)
    } else if hits(config.fail503_every) {
        stats.injected_503 += 1;
        Fault::Fail503
    } else if hits(config.reset_every) {
        stats.resets += 1;
        Fault::Reset
    } else if hits(config.corrupt_every) && length > 4096 {
        stats.corrupted += 1;
        Fault::Corrupt
    } else if hits(config.stall_every) {
        stats.stalled += 1;
        Fault::Stall
    } else if hits(config.delay_every) {
        stats.delayed += 1;
        Fault::Delay
    } else {
        Fault::None
    }
}

impl Proxy {
    /// The state; a panic elsewhere must not poison every later request.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Body>, Error> {
        let path = request.uri().path().to_string();
        if path.starts_with("/__proxy/") || path == "/stats" {
            return self.control(request).await;
        }
        if self.store {
            let is_part = request.method() == Method::PUT
                && request
                    .uri()
                    .query()
                    .is_some_and(|q| q.contains("partNumber="));
            if is_part {
                return self.part(request).await;
            }
            // Preflights and everything else reach the store untouched.
            self.lock().stats.other_requests += 1;
            let (parts, body) = request.into_parts();
            let body = body.map_err(Error::from).boxed();
            return self.forward(Request::from_parts(parts, body)).await;
        }
        let is_post = request.method() == Method::POST;
        let endpoint = path.rsplit('/').next().unwrap_or("").to_string();
        if is_post && endpoint == "upload" {
            return self.part(request).await;
        }
        let (fail503, lose_answer, answer) = self.lock().control_request(is_post, &endpoint);
        if let Some(rule) = answer {
            let _ = request.into_body().collect().await;
            return Ok(injected_answer(&rule, false));
        }
        if fail503 {
            let _ = request.into_body().collect().await;
            self.lock().stats.injected_503 += 1;
            return Ok(service_unavailable(None));
        }
        let (parts, body) = request.into_parts();
        let response = self
            .forward(Request::from_parts(
                parts,
                body.map_err(Error::from).boxed(),
            ))
            .await?;
        if lose_answer {
            // Let the server finish, then drop its answer with the connection.
            let _ = response.into_body().collect().await;
            self.lock().stats.lost_answers += 1;
            return Err("fault-proxy: answer dropped (injected)".into());
        }
        Ok(response)
    }

    async fn control(&self, request: Request<Incoming>) -> Result<Response<Body>, Error> {
        if request.method() == Method::OPTIONS {
            let mut response = json_response(StatusCode::NO_CONTENT, &());
            *response.body_mut() = full(Bytes::new());
            let headers = response.headers_mut();
            headers.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            headers.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("content-type"),
            );
            return Ok(response);
        }
        let path = request.uri().path().to_string();
        match (request.method().clone(), path.as_str()) {
            (Method::GET, "/__proxy/stats" | "/stats") => {
                let mut stats = self.lock().stats.clone();
                stats.upstreams_down = self.upstreams.down();
                Ok(json_response(StatusCode::OK, &stats))
            }
            (Method::POST, "/__proxy/kill-upstream") => match self.upstreams.kill_first() {
                Ok(pid) => Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "killed": pid }),
                )),
                Err(message) => Ok(json_response(
                    StatusCode::CONFLICT,
                    &serde_json::json!({"code": "NoProcess", "message": message, "requestId": "proxy"}),
                )),
            },
            (Method::POST, "/__proxy/reset") => {
                let mut state = self.lock();
                let in_flight = state.stats.parts_in_flight;
                *state = State::default();
                // Requests still in flight keep counting down from where they are.
                state.stats.parts_in_flight = in_flight;
                Ok(json_response(StatusCode::OK, &FaultConfig::default()))
            }
            (Method::POST, "/__proxy/config") => {
                let body = request.into_body().collect().await?.to_bytes();
                match serde_json::from_slice::<FaultConfig>(&body) {
                    Ok(config) => {
                        let mut state = self.lock();
                        state.config = config.clone();
                        let in_flight = state.stats.parts_in_flight;
                        state.stats = Stats {
                            parts_in_flight: in_flight,
                            ..Stats::default()
                        };
                        state.since = Instant::now();
                        Ok(json_response(StatusCode::OK, &config))
                    }
                    Err(e) => Ok(json_response(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"code": "InvalidArgument", "message": e.to_string(), "requestId": "proxy"}),
                    )),
                }
            }
            _ => Ok(json_response(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"code": "NotFound", "message": "unknown proxy control path", "requestId": "proxy"}),
            )),
        }
    }

    async fn part(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Body>, Error> {
        let endpoint = if self.store { "storePart" } else { "upload" };
        let fault = part_fault(&mut self.lock(), content_length(&request), endpoint);
        let _in_flight = InFlight(self.clone());
        let config = self.lock().config.clone();
        let length = content_length(&request);
        let (parts, body) = request.into_parts();
        let body: Body = match &fault {
            Fault::Fail503 => {
                // Drain the body so the browser sees the answer, not a reset.
                let _ = body.collect().await;
                if self.store {
                    return Ok(slow_down(config.retry_after_seconds));
                }
                return Ok(service_unavailable(config.retry_after_seconds));
            }
            Fault::Answer(rule) => {
                let _ = body.collect().await;
                return Ok(injected_answer(rule, self.store));
            }
            Fault::Reset => {
                let mut stream = BodyStream::new(body);
                let mut read = 0u64;
                while read < length / 2 {
                    match stream.next().await {
                        Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                        _ => break,
                    }
                }
                return Err("fault-proxy: connection reset mid-body (injected)".into());
            }
            Fault::Stall => {
                tokio::time::sleep(Duration::from_millis(config.stall_ms)).await;
                return Err("fault-proxy: stalled request dropped (injected)".into());
            }
            Fault::Delay if !config.delay_answer => {
                tokio::time::sleep(Duration::from_millis(config.delay_ms)).await;
                body.map_err(Error::from).boxed()
            }
            Fault::None | Fault::Delay => body.map_err(Error::from).boxed(),
            Fault::Corrupt => corrupt_middle_byte(body, length),
        };
        let response = self.forward(Request::from_parts(parts, body)).await?;
        if matches!(fault, Fault::Delay) && config.delay_answer {
            tokio::time::sleep(Duration::from_millis(config.delay_ms)).await;
        }
        if self.store && response.status() != StatusCode::OK {
            return self.count_store_error(response).await;
        }
        {
            let mut state = self.lock();
            if response.status() == StatusCode::OK {
                state.stats.parts_stored += 1;
            } else if response.status() == StatusCode::BAD_REQUEST {
                state.stats.bad_digest_answers += 1;
            }
        }
        Ok(response)
    }

    /// Counts the store's error answer by its `<Code>` (read from its small XML body), and passes
    /// it on as it came.
    async fn count_store_error(&self, response: Response<Body>) -> Result<Response<Body>, Error> {
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        let code = text
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map_or("(none)", |(code, _)| code.trim())
            .to_string();
        {
            let mut state = self.lock();
            if code == "BadDigest" {
                state.stats.bad_digest_answers += 1;
            }
            *state.stats.store_errors.entry(code).or_default() += 1;
            if text.contains("expired") || text.contains("too old") {
                state.stats.store_expired += 1;
            }
        }
        Ok(Response::from_parts(parts, full(bytes)))
    }

    async fn forward(&self, request: Request<Body>) -> Result<Response<Body>, Error> {
        let (mut parts, body) = request.into_parts();
        if !self.store {
            // A store's requests keep theirs: it is signed in.
            parts.headers.remove("host");
        }
        parts.headers.remove("connection");
        parts.headers.remove("keep-alive");
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let response = if self.upstreams.len() == 1 {
            parts.uri = format!("{}{path_and_query}", self.upstreams.url(0)).parse()?;
            self.client
                .request(Request::from_parts(parts, body))
                .await?
        } else {
            self.balance(parts, body, &path_and_query).await?
        };
        let (parts, body) = response.into_parts();
        let response = Response::from_parts(parts, body.map_err(Error::from).boxed());
        // The store's CORS headers are the bucket's rule, which the tests check.
        Ok(if self.store { response } else { cors(response) })
    }

    /// Sends the request to the upstreams in turn until one takes the connection (`balance.rs`).
    /// The body is read first, so that it can go to the next upstream.
    async fn balance(
        &self,
        parts: hyper::http::request::Parts,
        body: Body,
        path_and_query: &str,
    ) -> Result<Response<Incoming>, Error> {
        let bytes = body.collect().await?.to_bytes();
        for index in self.upstreams.in_turn() {
            let mut request = Request::builder()
                .method(parts.method.clone())
                .uri(format!("{}{path_and_query}", self.upstreams.url(index)))
                .version(parts.version)
                .body(full(bytes.clone()))?;
            *request.headers_mut() = parts.headers.clone();
            match self.client.request(request).await {
                Ok(response) => {
                    self.upstreams.mark_up(index);
                    *self
                        .lock()
                        .stats
                        .served_by
                        .entry(index.to_string())
                        .or_default() += 1;
                    return Ok(response);
                }
                Err(error) if error.is_connect() => self.upstreams.mark_down(index),
                Err(error) => return Err(error.into()),
            }
        }
        Err("fault-proxy: no upstream takes connections".into())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let mut listen: SocketAddr = "127.0.0.1:8081".parse()?;
    let mut upstreams = Vec::new();
    let mut kill_pid_file = None;
    let mut store = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => store = true,
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            "--upstream" => upstreams.push(args.next().ok_or("--upstream needs URL")?),
            "--kill-pid-file" => {
                kill_pid_file = Some(args.next().ok_or("--kill-pid-file needs FILE")?.into())
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: fault-proxy --listen ADDR --upstream URL... [--store] [--kill-pid-file FILE]"
                )
                .into());
            }
        }
    }
    if upstreams.is_empty() {
        upstreams.push("http://127.0.0.1:8080".to_string());
    }
    if store && upstreams.len() > 1 {
        return Err("--store takes one --upstream".into());
    }
    let shown = upstreams.join(" + ");
    let proxy = Arc::new(Proxy {
        upstreams: Upstreams::new(upstreams, kill_pid_file),
        store,
        client: Client::builder(TokioExecutor::new()).build_http(),
        state: Mutex::new(State::default()),
    });
    let listener = TcpListener::bind(listen).await?;
    println!(
        "fault-proxy listening on http://{} → {shown}",
        listener.local_addr()?
    );
    loop {
        let (socket, _) = listener.accept().await?;
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| proxy.clone().handle(request));
            // Errors here are the injected resets and clients going away; nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}
