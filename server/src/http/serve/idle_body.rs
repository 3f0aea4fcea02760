//! The body-idle timeout: a request body that delivers no byte for `--body-idle-timeout` fails, and
//! its connection is closed.
//!
//! The timer restarts with every frame (every read from the socket), so a slow but moving upload is
//! never cut, and it runs only while the handler waits for the body: time spent writing to disk is
//! not the client's. When it fires, the connection is cut (`cut`) rather than answered: a client
//! that stopped sending will not read an answer, and dropping the connection drops the handler,
//! which deletes a part's staged bytes.
//!
//! A handler may stop polling after a `Pending` (a form parser reads until `Pending`, then writes
//! what it has to disk) and come back after the timeout has passed. Its first poll then sees
//! `Pending` even when the client's bytes wait in the socket (hyper reads only once the body asks),
//! so an expired timer is only trusted after a second, short wait ([`CONFIRM_WAIT`]) in which
//! nothing came: a silent client is cut within the timeout plus that wait, a busy server never cuts
//! a client that kept sending.

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

/// The second wait before an expired timer is trusted (shorter when the timeout itself is).
pub const CONFIRM_WAIT: Duration = Duration::from_secs(1);

pub struct IdleTimeoutBody {
    inner: Incoming,
    idle_timeout: Duration,
    /// Armed when the handler starts waiting for a frame, disarmed when one comes.
    timer: Pin<Box<Sleep>>,
    wait: Wait,
    /// Closes the connection the body arrives on.
    cut: CancellationToken,
}

/// Where the wait for the next frame stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A frame just came (or none was asked for yet).
    None,
    /// Waiting for the idle timeout.
    Idle,
    /// The idle timeout passed; confirming nothing comes when asked afresh.
    Confirming,
}

impl IdleTimeoutBody {
    pub fn new(inner: Incoming, idle_timeout: Duration, cut: CancellationToken) -> Self {
        IdleTimeoutBody {
            inner,
            idle_timeout,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
            wait: Wait::None,
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
            this.wait = Wait::None;
            return Poll::Ready(frame.map(|frame| frame.map_err(BodyError::Hyper)));
        }
        let confirm_wait = CONFIRM_WAIT.min(this.idle_timeout);
        if this.wait == Wait::None {
            this.wait = Wait::Idle;
            this.timer
                .as_mut()
                .reset(Instant::now() + this.idle_timeout);
        }
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if this.wait == Wait::Idle {
            this.wait = Wait::Confirming;
            this.timer.as_mut().reset(Instant::now() + confirm_wait);
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        tracing::info!(
            "closing the connection: its request body sent nothing for {}",
            humantime::format_duration(this.idle_timeout)
        );
        this.cut.cancel();
        Poll::Ready(Some(Err(BodyError::Idle(this.idle_timeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
