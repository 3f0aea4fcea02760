//! Reading a completed object: with If-Match on the store's etag, so a version replaced since it
//! was opened fails the read instead of mixing versions, and storage opens the new one.

use std::ops::Range;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use opendal::{ErrorKind, Operator};

use super::connection::storage_error;
use crate::error::AppError;
use crate::storage::backend::{ByteStream, ObjectReader, ReadFailure};

pub struct S3ObjectReader {
    pub op: Operator,
    pub path: String,
    /// The store's own etag of the version opened.
    pub store_etag: Option<String>,
}

fn read_failure(e: std::io::Error) -> ReadFailure {
    let replaced = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<opendal::Error>())
        .is_some_and(|inner| inner.kind() == ErrorKind::ConditionNotMatch);
    if replaced {
        ReadFailure::Replaced
    } else {
        ReadFailure::Failed(AppError::internal(format!("object store read: {e}")))
    }
}

#[async_trait]
impl ObjectReader for S3ObjectReader {
    async fn read(self: Box<Self>, range: Range<u64>) -> Result<ByteStream<'static>, ReadFailure> {
        let mut reader = self.op.reader_with(&self.path);
        if let Some(store_etag) = &self.store_etag {
            reader = reader.if_match(store_etag);
        }
        let opened = async { reader.await?.into_bytes_stream(range).await }.await;
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(e) if e.kind() == ErrorKind::ConditionNotMatch => {
                return Err(ReadFailure::Replaced);
            }
            Err(e) => return Err(ReadFailure::Failed(storage_error(e))),
        };
        // The first chunk proves the GET was accepted (and which version answers).
        let first = match stream.next().await {
            Some(Ok(chunk)) => Some(chunk),
            None => None,
            Some(Err(e)) => return Err(read_failure(e)),
        };
        let rest = stream.map_err(|e| AppError::internal(format!("object store read: {e}")));
        let body: ByteStream<'static> =
            Box::pin(futures_util::stream::iter(first.map(Ok)).chain(rest));
        Ok(body)
    }
}
