//! Reading the rest of a refused body, so the client hears the refusal.
//!
//! When a server answers early (a 413, a dead upload) and closes the connection while the client is
//! still sending, most HTTP clients (browsers included) report a connection reset instead of the
//! answer. So a refused body is read to its end and thrown away, up to [`DRAIN_LIMIT`] bytes and
//! [`DRAIN_TIME`]; beyond that the connection is closed anyway. Nothing drained is kept in memory.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// Most bytes read and discarded after a refusal.
pub const DRAIN_LIMIT: u64 = 16 << 20;
/// Longest time spent discarding them.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body that a parser can consume while the handler keeps a handle to drain what is left.
#[derive(Clone)]
pub struct SharedBody(Arc<Mutex<BodyDataStream>>);

impl SharedBody {
    pub fn new(body: Body) -> SharedBody {
        SharedBody(Arc::new(Mutex::new(body.into_data_stream())))
    }

    /// Reads and discards the rest of the body, within the limits above.
    pub async fn drain(mut self) {
        let discard = async {
            let mut drained = 0u64;
            while let Some(Ok(chunk)) = self.next().await {
                drained += chunk.len() as u64;
                if drained > DRAIN_LIMIT {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
    }
}

impl Stream for SharedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Polling is synchronous, so a plain mutex is enough; only one side polls at a time.
        self.0.lock().expect("body lock").poll_next_unpin(cx)
    }
}

/// Whether a body that declares `declared` bytes against a `limit` is worth draining after refusal.
pub fn worth_draining(declared: Option<u64>, limit: u64) -> bool {
    declared.is_none_or(|len| len <= limit.saturating_add(DRAIN_LIMIT))
}
