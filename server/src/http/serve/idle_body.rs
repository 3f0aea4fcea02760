//! The body-idle timeout: a request body that delivers no byte for `--body-idle-timeout` fails, and
//! its connection is closed.
//!
//! The timer restarts with every frame (every read from the socket), so a slow but moving upload is
//! never cut, and it runs only while the handler waits for the body: time spent writing to disk is
//! not the client's. When it fires, the connection is cut (`cut`) rather than answered: a client
//! that stopped sending will not read an answer, and dropping the connection drops the handler,
//! which deletes a part's staged bytes.

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
            let deadline = Instant::now() + this.idle_timeout;
            this.timer.as_mut().reset(deadline);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            tracing::info!(
                "closing the connection: its request body sent nothing for {}",
                humantime::format_duration(this.idle_timeout)
            );
            this.cut.cancel();
            return Poll::Ready(Some(Err(BodyError::Idle(this.idle_timeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
