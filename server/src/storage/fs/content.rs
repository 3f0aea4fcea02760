//! Instant upload on the local disk: the content index as one small file per entry in
//! `DATA/index/` (written like the records: temporary file, fsync, rename, fsync of the directory),
//! and copies of object files that share the source's extents where the filesystem can
//! (`object_file::copy_staged`).

use std::fs;
use std::io;

use async_trait::async_trait;

use super::FsBackend;
use super::completion::FsHeldObject;
use super::durable_file::{blocking, sync_dir, write_atomic};
use super::object_file::copy_staged;
use crate::error::AppResult;
use crate::storage::backend::Assembled;
use crate::storage::content_index::{ContentStore, Fingerprint, IndexEntry, ObjectCopy};

#[async_trait]
impl ContentStore for FsBackend {
    async fn put_index_entry(&self, entry: &IndexEntry) -> AppResult<()> {
        let content = serde_json::to_vec(entry).map_err(io::Error::other)?;
        let entry = entry.clone();
        self.with_layout(move |layout| {
            let dir = layout.index_entries_dir(&entry.fingerprint);
            if !dir.exists() {
                fs::create_dir_all(&dir)?;
                sync_dir(dir.parent().expect("entries live in a shard directory"))?;
            }
            let path = layout.index_entry(&entry.fingerprint, &entry.resource_key);
            Ok(write_atomic(&layout.tmp_dir(), &path, &content)?)
        })
        .await
    }

    async fn index_entries(
        &self,
        fingerprint: &Fingerprint,
        limit: usize,
    ) -> AppResult<Vec<Vec<u8>>> {
        let fingerprint = fingerprint.clone();
        self.with_layout(move |layout| {
            let dir = match fs::read_dir(layout.index_entries_dir(&fingerprint)) {
                Ok(dir) => dir,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut entries = Vec::new();
            for file in dir.take(limit) {
                // An entry removed since the listing is no candidate.
                match fs::read(file?.path()) {
                    Ok(content) => entries.push(content),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(entries)
        })
        .await
    }

    async fn remove_index_entry(
        &self,
        fingerprint: &Fingerprint,
        resource_key: &str,
    ) -> AppResult<()> {
        let (fingerprint, key) = (fingerprint.clone(), resource_key.to_owned());
        self.with_layout(move |layout| {
            match fs::remove_file(layout.index_entry(&fingerprint, &key)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn copy_object(&self, source: &str, copy: &ObjectCopy) -> AppResult<Option<Assembled>> {
        let (source, copy) = (source.to_owned(), copy.clone());
        let layout = self.layout.clone();
        blocking(move || {
            let Some(staged) = copy_staged(&layout, &source, &copy)? else {
                return Ok(None);
            };
            let held = FsHeldObject {
                layout,
                upload_id: copy.upload_id,
                resource_key: copy.resource_key,
                staged,
            };
            Ok(Some(Assembled::Held(Box::new(held))))
        })
        .await
    }
}
