//! The event queue on the local disk: one file per undelivered event in `DATA/events/`, written
//! like the records (temporary file, fsync, rename, fsync of the directory), so an event stored
//! before an answer survives `kill -9`.

use std::fs;
use std::io;

use async_trait::async_trait;

use super::FsBackend;
use super::durable_file::{read_if_exists, write_atomic};
use super::layout::Layout;
use crate::error::AppResult;
use crate::storage::event_queue::{EventKey, EventStore};

#[async_trait]
impl EventStore for FsBackend {
    async fn store_event(&self, key: &EventKey, body: &[u8]) -> AppResult<()> {
        let (key, body) = (key.clone(), body.to_vec());
        self.with_layout(move |layout| {
            Ok(write_atomic(
                &layout.tmp_dir(),
                &layout.event_file(&key),
                &body,
            )?)
        })
        .await
    }

    async fn list_events(&self) -> AppResult<Vec<EventKey>> {
        self.with_layout(|layout| {
            let mut keys = Vec::new();
            for entry in fs::read_dir(layout.events_dir())? {
                let name = entry?.file_name();
                if let Some(key) = name.to_str().and_then(Layout::event_key_of) {
                    keys.push(key);
                }
            }
            Ok(keys)
        })
        .await
    }

    async fn read_event(&self, key: &EventKey) -> AppResult<Option<Vec<u8>>> {
        let key = key.clone();
        self.with_layout(move |layout| Ok(read_if_exists(&layout.event_file(&key))?))
            .await
    }

    async fn remove_event(&self, key: &EventKey) -> AppResult<()> {
        let key = key.clone();
        self.with_layout(
            move |layout| match fs::remove_file(layout.event_file(&key)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
        )
        .await
    }
}
