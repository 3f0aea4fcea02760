//! MD5 on the way in, and the multipart etag.
//!
//! [`HashingStream`] wraps a part's body: it hashes and counts every chunk as it passes to storage and
//! fails as soon as the part exceeds the size limit, so no backend ever has to buffer or re-read a part.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use md5::{Digest, Md5};

use crate::error::AppError;
use crate::storage::ByteStream;

/// What a [`HashingStream`] saw, readable after it ends.
#[derive(Default)]
pub struct HashState {
    hasher: Md5,
    size: u64,
}

impl HashState {
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn finish(&mut self) -> [u8; 16] {
        std::mem::take(&mut self.hasher).finalize().into()
    }
}

pub struct HashingStream<'a> {
    inner: ByteStream<'a>,
    state: Arc<Mutex<HashState>>,
    max_size: u64,
}

impl<'a> HashingStream<'a> {
    pub fn new(inner: ByteStream<'a>, max_size: u64) -> (Self, Arc<Mutex<HashState>>) {
        let state = Arc::new(Mutex::new(HashState::default()));
        (
            HashingStream {
                inner,
                state: state.clone(),
                max_size,
            },
            state,
        )
    }
}

impl Stream for HashingStream<'_> {
    type Item = Result<Bytes, AppError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            let mut state = self.state.lock().expect("hash state lock");
            state.size += chunk.len() as u64;
            if state.size > self.max_size {
                return Poll::Ready(Some(Err(AppError::too_large(format!(
                    "the part is larger than the server's limit of {} bytes; use smaller parts",
                    self.max_size
                )))));
            }
            // md-5 is fastest fed in pieces; chunks from hyper are small already.
            state.hasher.update(chunk);
        }
        polled
    }
}

/// The S3/OSS multipart etag: MD5 of the concatenated binary part digests, `-`, the part count.
pub fn multipart_etag<'a>(part_md5s: impl Iterator<Item = &'a str>) -> String {
    let mut hasher = Md5::new();
    let mut count = 0usize;
    for hex in part_md5s {
        let digest = partup_wire::parse_md5_hex(hex).expect("stored md5s are valid hex");
        hasher.update(digest);
        count += 1;
    }
    let digest: [u8; 16] = hasher.finalize().into();
    format!("{}-{count}", partup_wire::md5_to_hex(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_matches_s3_definition() {
        // Two parts "a" and "b": md5("a") = 0cc175b9..., md5("b") = 92eb5ffe...
        let etag = multipart_etag(
            [
                "0cc175b9c0f1b6a831c399e269772661",
                "92eb5ffee6ae2fec3ad71c777531578f",
            ]
            .into_iter(),
        );
        let mut h = Md5::new();
        h.update(hex::decode("0cc175b9c0f1b6a831c399e269772661").unwrap());
        h.update(hex::decode("92eb5ffee6ae2fec3ad71c777531578f").unwrap());
        assert_eq!(etag, format!("{}-2", hex::encode(h.finalize())));
    }
}
