//! The upload index on the local disk: one empty file per upload in progress in
//! `DATA/uploads-index/OWNER/` (`layout.rs`). A directory has no order, so a page reads the names
//! of its owner's folder (names only, never another owner's) and sorts them; the uploads on the
//! page are then looked at one by one.

use std::fs;
use std::io;

use async_trait::async_trait;

use super::FsBackend;
use super::durable_file::{sync_dir, write_atomic};
use crate::error::AppResult;
use crate::storage::upload_index::{OwnerFolder, UploadEntry, UploadIndex};

#[async_trait]
impl UploadIndex for FsBackend {
    async fn put_upload_entry(&self, entry: &UploadEntry) -> AppResult<()> {
        let entry = entry.clone();
        self.with_layout(move |layout| {
            let dir = layout.owner_index_dir(&entry.owner);
            if !dir.exists() {
                fs::create_dir_all(&dir)?;
                sync_dir(&layout.uploads_index_dir())?;
            }
            Ok(write_atomic(
                &layout.tmp_dir(),
                &layout.upload_index_entry(&entry),
                b"",
            )?)
        })
        .await
    }

    async fn upload_entries(
        &self,
        owner: &OwnerFolder,
        after: Option<&str>,
        limit: usize,
    ) -> AppResult<Vec<String>> {
        let (owner, after) = (owner.clone(), after.map(str::to_owned));
        self.with_layout(move |layout| {
            let dir = match fs::read_dir(layout.owner_index_dir(&owner)) {
                Ok(dir) => dir,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut names = Vec::new();
            for file in dir {
                let Ok(name) = file?.file_name().into_string() else {
                    continue;
                };
                if after.as_ref().is_none_or(|after| name > *after) {
                    names.push(name);
                }
            }
            names.sort_unstable();
            names.truncate(limit);
            Ok(names)
        })
        .await
    }

    async fn remove_upload_entry(&self, entry: &UploadEntry) -> AppResult<()> {
        let entry = entry.clone();
        self.with_layout(
            move |layout| match fs::remove_file(layout.upload_index_entry(&entry)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
        )
        .await
    }
}
