//! The S3 store under hostile conditions (needs `--features s3-tests` and the store of
//! `scripts/test-s3.sh`): a bucket shared with other applications, a `kill -9` mid-part that leaves
//! the store's own multipart upload behind, a key too long for the store, and instances racing on
//! one upload (a retried complete, an abort against a complete).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use partup_server::storage::s3::S3Settings;
use partup_server::storage::s3::multipart::{MultipartAdmin, PendingMultipart};
use partup_tests::{Answer, Api, TestServer, TestStore, md5_hex, test_bytes};
use partup_wire::{CompleteResponse, ErrorCode};

use crate::outcomes::{self, Outcome};

/// A fresh prefix in the test bucket, and the store under it.
fn store_under(prefix: &str) -> TestStore {
    TestStore::s3_from_env(prefix.to_owned())
}

fn nonce() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}

fn settings(store: &TestStore) -> S3Settings {
    partup_tests::s3_settings(store)
}

/// The bucket itself, at its root: what another application sharing it sees and writes.
fn bucket(store: &TestStore) -> opendal::Operator {
    partup_tests::s3_operator(store, "/")
}

/// The store's multipart uploads of partup keys under the store's prefix.
async fn multiparts(store: &TestStore) -> Vec<PendingMultipart> {
    MultipartAdmin::new(&settings(store))
        .list()
        .await
        .expect("ListMultipartUploads")
}

/// Waits (bounded) until `check` holds; false when it never did.
async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

mod counting_proxy;
mod key_length;
mod orphaned_multipart;
mod races;
mod shared_bucket;
