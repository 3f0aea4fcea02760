//! The durable queue of hook events, an optional capability of a backend (as tusd's stores opt into
//! locking or termination): a backend that implements [`EventStore`] can carry `--hook-url`. Storage's
//! flows put an event in the queue before they answer ([`Storage::emit`]) — `upload.created` once
//! the upload exists, the others before the change they report becomes final — so an answered
//! request's event survives a crash; `hooks::delivery` takes events out once the receiver accepted
//! them.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::error::AppResult;
use crate::hooks::event::Event;
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// One stored event's place in the queue: its upload, and its step in that upload's life (1: created,
/// 2: completed, aborted or expired). An upload's events are delivered in step order; storing an
/// event again under the same key replaces it (it has the same id, see `hooks::event`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    pub upload_id: UploadId,
    pub step: u8,
}

impl EventKey {
    /// The event's name in the queue, in every backend: `ID-STEP.json`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.json", self.upload_id, self.step)
    }

    /// The key a name in the queue stands for, if the name is one of ours.
    pub fn from_file_name(name: &str) -> Option<EventKey> {
        let (upload_id, step) = name.strip_suffix(".json")?.split_once('-')?;
        Some(EventKey {
            upload_id: UploadId::parse(upload_id).ok()?,
            step: step.parse().ok()?,
        })
    }
}

/// Where a backend keeps undelivered events (each backend's `layout.rs` names them).
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores an event durably and atomically, replacing one stored under the same key.
    async fn store_event(&self, key: &EventKey, body: &[u8]) -> AppResult<()>;

    /// The keys of every stored event, in no particular order.
    async fn list_events(&self) -> AppResult<Vec<EventKey>>;

    /// A stored event's body; `None` when it is gone (delivered by another instance).
    async fn read_event(&self, key: &EventKey) -> AppResult<Option<Vec<u8>>>;

    /// Removes a delivered event (removing one that is gone is fine).
    async fn remove_event(&self, key: &EventKey) -> AppResult<()>;
}

/// The event queue of a running server: the store, and a signal to the delivery that something
/// was stored.
pub struct EventQueue {
    pub store: Arc<dyn EventStore>,
    stored: Notify,
}

impl EventQueue {
    pub fn new(store: Arc<dyn EventStore>) -> EventQueue {
        EventQueue {
            store,
            stored: Notify::new(),
        }
    }

    /// Resolves when an event was stored since the last call (or at once, if one was meanwhile).
    pub async fn stored(&self) {
        self.stored.notified().await;
    }
}

impl Storage {
    /// Puts `event` in the queue, durably, when hooks are on; a no-op otherwise. Called by each flow
    /// before it answers.
    pub(super) async fn emit(&self, event: Event) -> AppResult<()> {
        let Some(queue) = &self.events else {
            return Ok(());
        };
        queue
            .store
            .store_event(&event.key(), &event.encode()?)
            .await?;
        queue.stored.notify_one();
        Ok(())
    }
}
