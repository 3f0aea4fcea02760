//! A discarding HTTP endpoint: reads each request body to the end, throws it away and answers
//! `{"size": N}`. With `Access-Control-Allow-Origin: *`, a page on another origin can `fetch` a Blob
//! to it as a simple request (no preflight), which makes it the browser's raw upload ceiling.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn discard(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut body = request.into_body();
    let mut size: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    size += data.len() as u64;
                }
            }
            Err(_) => break,
        }
    }
    let response = Response::builder()
        .header("Content-Type", "application/json")
        .header("Access-Control-Allow-Origin", "*")
        .header("Access-Control-Allow-Methods", "POST, PUT, OPTIONS")
        .header("Access-Control-Allow-Headers", "*")
        .body(Full::new(Bytes::from(format!("{{\"size\":{size}}}"))))
        .expect("a valid response");
    Ok(response)
}

/// Serves on `listen` (port 0 picks a free port) until killed. Once bound, prints
/// `partup-bench sink listening on http://ADDR/` on stdout: scripts/bench.sh reads the port there.
pub async fn serve(listen: &str) {
    let listener = TcpListener::bind(listen)
        .await
        .expect("bind the sink's address");
    println!(
        "partup-bench sink listening on http://{}/",
        listener.local_addr().unwrap()
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(discard))
                .await;
        });
    }
}
