//! The body-idle timeout: a request body that delivers no byte for `--body-idle-timeout` fails, and
//! its connection is closed.
//!
//! The timer restarts with every frame (every read from the socket), so a slow but moving upload is
//! never cut, and it runs only while the handler waits for the body: time spent writing to disk is
//! not the client's. When it fires, the connection is cut (`cut`) rather than answered: a client
//! that stopped sending will not read an answer, and dropping the connection drops the handler,
//! which deletes a part's staged bytes.
//!
//! A handler that stops polling after a `Pending` (a form parser reads until `Pending`, then writes
//! what it has to disk) is not waiting, yet the timer armed by that `Pending` runs on. That is
//! still right: the `Pending` told hyper the body wants more, so a byte the client sends meanwhile
//! goes into the body and the handler's next poll finds it; only a client that sent nothing at all
//! for the whole timeout is cut.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

pub struct IdleTimeoutBody {
    inner: Incoming,
    idle_timeout: Duration,
    /// Armed when the handler starts waiting for a frame, disarmed when one comes.
    timer: Pin<Box<Sleep>>,
    waiting: bool,
    /// Closes the connection the body arrives on.
    cut: CancellationToken,
}

impl IdleTimeoutBody {
    pub fn new(inner: Incoming, idle_timeout: Duration, cut: CancellationToken) -> Self {
        IdleTimeoutBody {
            inner,
            idle_timeout,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
            waiting: false,
            cut,
        }
    }
}

/// The body's error: hyper's, or the idle timeout.
#[derive(Debug)]
pub enum BodyError {
    Idle(Duration),
    Hyper(hyper::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Idle(timeout) => write!(
                f,
                "no byte of the body arrived for {}",
                humantime::format_duration(*timeout)
            ),
            BodyError::Hyper(e) => e.fmt(f),
        }
    }
}

impl Error for BodyError {}

impl Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|frame| frame.map_err(BodyError::Hyper)));
        }
        if !this.waiting {
            this.waiting = true;
            this.timer
                .as_mut()
                .reset(Instant::now() + this.idle_timeout);
        }
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // Once per connection: a body polled again after the cut (a refused part's rest being
        // drained) must not count the same cut twice.
        if !this.cut.is_cancelled() {
            tracing::info!(
                "closing the connection: its request body sent nothing for {}",
                humantime::format_duration(this.idle_timeout)
            );
            crate::metrics::record_refusal(crate::metrics::Refusal::BodyTimeout);
            this.cut.cancel();
        }
        Poll::Ready(Some(Err(BodyError::Idle(this.idle_timeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::poll_fn;

    use http::{Request, Response};
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::io::{AsyncWriteExt, DuplexStream};
    use tokio::sync::mpsc;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(2);

    /// A connection whose one request's body a handler reads as `handler` says; what it read
    /// (each frame or error, with the time) comes back on the channel.
    fn serve_one<F, Fut>(handler: F) -> (DuplexStream, CancellationToken)
    where
        F: Fn(IdleTimeoutBody) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (client, server) = tokio::io::duplex(64 << 10);
        let cut = CancellationToken::new();
        let body_cut = cut.clone();
        let handler = std::sync::Arc::new(handler);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let body = IdleTimeoutBody::new(request.into_body(), TIMEOUT, body_cut.clone());
            let handling = handler(body);
            async move {
                handling.await;
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(server), service);
        tokio::spawn(connection);
        (client, cut)
    }

    async fn next(body: &mut IdleTimeoutBody) -> Option<Result<Bytes, String>> {
        let frame = poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        Some(
            frame
                .map(|f| f.into_data().unwrap())
                .map_err(|e| e.to_string()),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_away_longer_than_the_timeout_never_cuts_a_client_that_kept_sending() {
        let (read_tx, mut read) = mpsc::unbounded_channel();
        let (mut client, cut) = serve_one(move |mut body| {
            let read_tx = read_tx.clone();
            async move {
                read_tx.send(next(&mut body).await).unwrap();
                // Looks for more, finds nothing yet, and goes to do something else (as a form
                // parser does before writing to disk), for longer than the timeout.
                let _ = poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
                tokio::time::sleep(TIMEOUT * 3).await;
                read_tx.send(next(&mut body).await).unwrap();
            }
        });
        client
            .write_all(b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc")
            .await
            .unwrap();
        assert_eq!(read.recv().await.unwrap(), Some(Ok(Bytes::from("abc"))));
        tokio::time::sleep(TIMEOUT / 2).await;
        client.write_all(b"def").await.unwrap();
        assert_eq!(read.recv().await.unwrap(), Some(Ok(Bytes::from("def"))));
        assert!(!cut.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_cut_once_the_timeout_has_passed() {
        let (read_tx, mut read) = mpsc::unbounded_channel();
        let (mut client, cut) = serve_one(move |mut body| {
            let read_tx = read_tx.clone();
            async move {
                while let Some(frame) = next(&mut body).await {
                    read_tx.send((Instant::now(), frame.is_ok())).unwrap();
                }
            }
        });
        client
            .write_all(b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc")
            .await
            .unwrap();
        let (first, ok) = read.recv().await.unwrap();
        assert!(ok);
        let (failed, ok) = read.recv().await.unwrap();
        assert!(!ok, "the silent body did not fail");
        let silent_for = failed - first;
        assert!(
            silent_for >= TIMEOUT && silent_for < TIMEOUT * 2,
            "{silent_for:?}"
        );
        assert!(cut.is_cancelled(), "the connection was not cut");
    }
}
