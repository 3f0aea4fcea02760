//! fault-proxy: an HTTP proxy in front of partup-server that injects faults into part uploads,
//! so the browser suite can show the client finishes byte-exact through them.
//!
//! `fault-proxy --listen 127.0.0.1:0 --upstream http://127.0.0.1:SERVER`
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
//! - `delayEvery: n`: forwarded after `delayMs`.
//!
//! And for the other requests: `initFail503: n` and `listPartsFail503: n` answer the first n
//! uploadInit / listParts with 503; `completeLoseAnswer: n` forwards the first n uploadComplete
//! but drops the server's answer with the connection.
//!
//! Control (CORS-open, so the page under test can call it):
//! - `POST /__proxy/config` `{...rules}`: sets the rules and resets the counters;
//! - `POST /__proxy/reset`: no faults, counters zero;
//! - `GET /__proxy/stats` (also `/stats`): the counters, including the most part requests ever
//!   in flight at once.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, Error>;

/// The fault rules; 0 disables a rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct FaultConfig {
    fail503_every: u64,
    retry_after_seconds: Option<u64>,
    reset_every: u64,
    corrupt_every: u64,
    stall_every: u64,
    stall_ms: u64,
    delay_every: u64,
    delay_ms: u64,
    /// The first n uploadInit / listParts requests are answered 503.
    init_fail503: u64,
    list_parts_fail503: u64,
    /// The first n uploadComplete requests reach the server, but its answer is dropped with the
    /// connection (the client must retry, and the server answer the same 200 again).
    complete_lose_answer: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    /// Part uploads received (every attempt, faulted or not).
    part_requests: u64,
    /// Part uploads whose upstream answer was 200.
    parts_stored: u64,
    /// Part uploads whose upstream answer was 400 BadDigest (after a corruption).
    bad_digest_answers: u64,
    parts_in_flight: u64,
    max_concurrent_parts: u64,
    init_requests: u64,
    complete_requests: u64,
    list_parts_requests: u64,
    abort_requests: u64,
    other_requests: u64,
    injected_503: u64,
    resets: u64,
    corrupted: u64,
    stalled: u64,
    delayed: u64,
    /// uploadComplete answers dropped after the server gave them.
    lost_answers: u64,
}

#[derive(Default)]
struct State {
    config: FaultConfig,
    stats: Stats,
}

struct Proxy {
    upstream: String,
    client: Client<HttpConnector, Body>,
    state: Mutex<State>,
}

enum Fault {
    None,
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

fn cors(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers
        .entry("access-control-allow-origin")
        .or_insert(HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Retry-After, ETag, Content-Length"),
    );
    response
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let mut response = Response::new(full(serde_json::to_vec(value).unwrap()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    cors(response)
}

fn service_unavailable(retry_after_seconds: Option<u64>) -> Response<Body> {
    let mut response = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"code": "ServiceUnavailable", "message": "fault-proxy injected a 503", "requestId": "fault-proxy"}),
    );
    if let Some(seconds) = retry_after_seconds {
        response.headers_mut().insert(
            HeaderName::from_static("retry-after"),
            HeaderValue::from(seconds),
        );
    }
    response
}

fn content_length(request: &Request<Incoming>) -> u64 {
    request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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
        let is_post = request.method() == Method::POST;
        let endpoint = path.rsplit('/').next().unwrap_or("").to_string();
        if is_post && endpoint == "upload" {
            return self.part(request).await;
        }
        let (fail503, lose_answer) = {
            let mut state = self.lock();
            let State { config, stats } = &mut *state;
            match (is_post, endpoint.as_str()) {
                (true, "uploadInit") => {
                    stats.init_requests += 1;
                    (stats.init_requests <= config.init_fail503, false)
                }
                (true, "uploadComplete") => {
                    stats.complete_requests += 1;
                    (
                        false,
                        stats.complete_requests <= config.complete_lose_answer,
                    )
                }
                (true, "listParts") => {
                    stats.list_parts_requests += 1;
                    (
                        stats.list_parts_requests <= config.list_parts_fail503,
                        false,
                    )
                }
                (true, "uploadAbort") => {
                    stats.abort_requests += 1;
                    (false, false)
                }
                _ => {
                    stats.other_requests += 1;
                    (false, false)
                }
            }
        };
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
                let stats = self.lock().stats.clone();
                Ok(json_response(StatusCode::OK, &stats))
            }
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
        let fault = {
            let mut state = self.lock();
            let State { config, stats } = &mut *state;
            stats.part_requests += 1;
            stats.parts_in_flight += 1;
            stats.max_concurrent_parts = stats.max_concurrent_parts.max(stats.parts_in_flight);
            let k = stats.part_requests;
            let hits = |every: u64| every > 0 && k.is_multiple_of(every);
            if hits(config.fail503_every) {
                stats.injected_503 += 1;
                Fault::Fail503
            } else if hits(config.reset_every) {
                stats.resets += 1;
                Fault::Reset
            } else if hits(config.corrupt_every) && content_length(&request) > 4096 {
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
        };
        let _in_flight = InFlight(self.clone());
        let config = self.lock().config.clone();
        let length = content_length(&request);
        let (parts, body) = request.into_parts();
        let body: Body = match fault {
            Fault::Fail503 => {
                // Drain the body so the browser sees the answer, not a reset.
                let _ = body.collect().await;
                return Ok(service_unavailable(config.retry_after_seconds));
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
            Fault::Delay => {
                tokio::time::sleep(Duration::from_millis(config.delay_ms)).await;
                body.map_err(Error::from).boxed()
            }
            Fault::None => body.map_err(Error::from).boxed(),
            Fault::Corrupt => {
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
        };
        let response = self.forward(Request::from_parts(parts, body)).await?;
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

    async fn forward(&self, request: Request<Body>) -> Result<Response<Body>, Error> {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        parts.uri = format!("{}{}", self.upstream, path_and_query).parse()?;
        parts.headers.remove("host");
        parts.headers.remove("connection");
        parts.headers.remove("keep-alive");
        let response = self
            .client
            .request(Request::from_parts(parts, body))
            .await?;
        let (parts, body) = response.into_parts();
        Ok(cors(Response::from_parts(
            parts,
            body.map_err(Error::from).boxed(),
        )))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let mut listen: SocketAddr = "127.0.0.1:8081".parse()?;
    let mut upstream = "http://127.0.0.1:8080".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            "--upstream" => upstream = args.next().ok_or("--upstream needs URL")?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: fault-proxy --listen ADDR --upstream URL"
                )
                .into());
            }
        }
    }
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        client: Client::builder(TokioExecutor::new()).build_http(),
        state: Mutex::new(State::default()),
    });
    let listener = TcpListener::bind(listen).await?;
    println!(
        "fault-proxy listening on http://{} → {upstream}",
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
