//! A proxy in front of the store that counts (and slows) the copies of an assembly.

use super::*;

/// A proxy in front of the store that counts `UploadPartCopy` requests (the copies an assembly
/// makes) and holds each for a while, so an assembly is surely in progress when the test acts.
pub(super) struct CountingProxy {
    pub(super) url: String,
    pub(super) copies: Arc<AtomicUsize>,
    pub(super) copying: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the proxy shares between its connections.
struct Counter {
    copies: Arc<AtomicUsize>,
    copying: Arc<tokio::sync::Notify>,
    hold_each_copy: Duration,
    upstream: String,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        hyper::body::Incoming,
    >,
}

impl Counter {
    /// Counts (and holds) `request` when it is an `UploadPartCopy`, then forwards it upstream.
    async fn forward(
        &self,
        mut request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        let is_copy = request.method() == hyper::Method::PUT
            && request.headers().contains_key("x-amz-copy-source")
            && request
                .uri()
                .query()
                .is_some_and(|q| q.contains("partNumber"));
        if is_copy {
            self.copies.fetch_add(1, Ordering::SeqCst);
            self.copying.notify_waiters();
            tokio::time::sleep(self.hold_each_copy).await;
        }
        // The Host header stays as it came: the request was signed for it.
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        *request.uri_mut() = format!("{}{path}", self.upstream).parse().unwrap();
        self.client.request(request).await
    }
}

impl CountingProxy {
    pub(super) async fn start(upstream: &str, hold_each_copy: Duration) -> CountingProxy {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counter = Arc::new(Counter {
            copies: Arc::new(AtomicUsize::new(0)),
            copying: Arc::new(tokio::sync::Notify::new()),
            hold_each_copy,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http(),
        });
        let (copies, copying) = (counter.copies.clone(), counter.copying.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                let service = hyper::service::service_fn(move |request| {
                    let counter = counter.clone();
                    async move { counter.forward(request).await }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        CountingProxy {
            url,
            copies,
            copying,
            task,
        }
    }
}
