//! The event queue in the bucket: one object per undelivered event under `PREFIX/events/`. A PUT
//! appears whole or not at all, so an event stored before an answer survives a crash of the
//! instance. Instances sharing the bucket all deliver from it: an event may reach the receiver
//! from two of them (receivers dedupe by id).

use super::S3Backend;
use super::connection::storage_error;
use super::layout;
use crate::error::AppResult;
use crate::storage::event_queue::{EventKey, EventStore};
use async_trait::async_trait;

#[async_trait]
impl EventStore for S3Backend {
    async fn store_event(&self, key: &EventKey, body: &[u8]) -> AppResult<()> {
        self.write_object(&layout::event(key), body).await
    }

    async fn list_events(&self) -> AppResult<Vec<EventKey>> {
        let entries = self.op.list(layout::EVENTS).await.map_err(storage_error)?;
        Ok(entries
            .iter()
            .filter_map(|entry| layout::event_key_of(entry.path()))
            .collect())
    }

    async fn read_event(&self, key: &EventKey) -> AppResult<Option<Vec<u8>>> {
        self.read_if_exists(&layout::event(key)).await
    }

    async fn remove_event(&self, key: &EventKey) -> AppResult<()> {
        self.op
            .delete(&layout::event(key))
            .await
            .map_err(storage_error)
    }
}
