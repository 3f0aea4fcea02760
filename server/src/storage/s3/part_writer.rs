//! A part being received: streamed through OpenDAL's multipart writer (a bounded buffer) straight
//! into its final object when the form named it first, otherwise into a staging object copied into
//! place on commit. Either way the object appears only when the writer is closed, which happens only
//! once the MD5 matched. Dropped uncommitted, it cleans up after itself in the background.

use async_trait::async_trait;
use bytes::Bytes;
use opendal::Operator;
use partup_wire::md5_to_hex;

use super::connection::storage_error;
use super::layout;
use super::listing::delete_older_versions;
use crate::error::{AppError, AppResult};
use crate::storage::backend::{PartDestination, PartDigest, PartWriter};
use crate::storage::upload_id::UploadId;

pub struct S3PartWriter {
    op: Operator,
    pending: Option<Pending>,
    sealed: Option<PartDigest>,
}

enum Pending {
    /// Streaming into an object that appears only when the writer is closed. `destination` is the
    /// upload and part number when the object already has the part's final name.
    Writer {
        writer: opendal::Writer,
        path: String,
        destination: Option<(UploadId, u32)>,
    },
    /// Written whole under tmp/, to be copied into place.
    Staged { path: String },
}

impl S3PartWriter {
    pub async fn create(
        op: Operator,
        destination: Option<&PartDestination>,
    ) -> AppResult<S3PartWriter> {
        let (path, destination) = match destination {
            Some(to) => (
                layout::new_part_version(
                    &to.upload_id,
                    to.part_number,
                    &md5_to_hex(&to.claimed_md5),
                ),
                Some((to.upload_id.clone(), to.part_number)),
            ),
            None => (layout::new_staging_object()?, None),
        };
        let writer = op.writer(&path).await.map_err(storage_error)?;
        Ok(S3PartWriter {
            op,
            pending: Some(Pending::Writer {
                writer,
                path,
                destination,
            }),
            sealed: None,
        })
    }
}

impl Drop for S3PartWriter {
    fn drop(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let op = self.op.clone();
        // An unclosed multipart upload would otherwise linger, invisible but billed, in the bucket.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                match pending {
                    Pending::Writer { mut writer, .. } => {
                        let _ = writer.abort().await;
                    }
                    Pending::Staged { path } => {
                        let _ = op.delete(&path).await;
                    }
                }
            });
        }
    }
}

#[async_trait]
impl PartWriter for S3PartWriter {
    async fn write(&mut self, chunk: Bytes) -> AppResult<()> {
        match &mut self.pending {
            Some(Pending::Writer { writer, .. }) => {
                writer.write(chunk).await.map_err(storage_error)
            }
            _ => Err(AppError::internal("a part was written after it was sealed")),
        }
    }

    async fn seal(&mut self, digest: PartDigest) -> AppResult<()> {
        self.sealed = Some(digest);
        if let Some(Pending::Writer {
            writer,
            path,
            destination: None,
        }) = &mut self.pending
        {
            // Without its upload, number or md5 the part cannot take its final name yet: finish it
            // under tmp/ now and copy it into place on commit.
            writer.close().await.map_err(storage_error)?;
            let path = std::mem::take(path);
            self.pending = Some(Pending::Staged { path });
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>, upload_id: &UploadId, part_number: u32) -> AppResult<()> {
        let md5 = md5_to_hex(&self.sealed.expect("sealed before commit").md5);
        let final_path = match self.pending.take() {
            Some(Pending::Writer {
                mut writer,
                path,
                destination: Some((id, number)),
            }) if &id == upload_id && number == part_number && path.ends_with(&md5) => {
                writer.close().await.map_err(storage_error)?;
                path
            }
            Some(Pending::Staged { path: staged_path }) => {
                // Put it back so the tmp/ object is deleted when the writer drops.
                self.pending = Some(Pending::Staged {
                    path: staged_path.clone(),
                });
                let final_path = layout::new_part_version(upload_id, part_number, &md5);
                self.op
                    .copy(&staged_path, &final_path)
                    .await
                    .map_err(storage_error)?;
                final_path
            }
            other => {
                self.pending = other;
                return Err(AppError::internal(
                    "the staged part does not match its form fields",
                ));
            }
        };
        let op = self.op.clone();
        drop(self);
        delete_older_versions(&op, upload_id, part_number, &final_path).await;
        Ok(())
    }
}
