//! Completes and aborts of one upload take turns across every instance sharing the store: each
//! first claims the upload ([`Backend::claim_upload`](super::backend::Backend::claim_upload); on
//! S3 a lease in the bucket), then reads its state. A request that finds the upload claimed waits for
//! the holder to finish and then answers from what it left (a completed upload's recorded answer, an
//! aborted upload's `NoSuchUpload`); past [`CLAIM_WAIT`] it answers `503 ServiceUnavailable` with
//! `Retry-After`, and the client's retry gets that answer.

use std::time::{Duration, Instant};

use partup_wire::ErrorCode;

use crate::error::{AppError, AppResult};
use crate::storage::backend::UploadClaim;
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// How long a request waits for another's claim on the same upload before answering 503.
const CLAIM_WAIT: Duration = Duration::from_secs(20);
/// How often it looks again meanwhile.
const CLAIM_POLL: Duration = Duration::from_millis(250);
/// The `Retry-After` of that 503, in seconds.
const RETRY_AFTER_SECS: u64 = 2;

impl Storage {
    /// Claims `upload_id` for a complete or an abort, waiting while another request holds it.
    pub(super) async fn claim_upload(&self, upload_id: &UploadId) -> AppResult<UploadClaim> {
        let deadline = Instant::now() + CLAIM_WAIT;
        loop {
            if let Some(claim) = self.backend.claim_upload(upload_id).await? {
                return Ok(claim);
            }
            if Instant::now() >= deadline {
                return Err(AppError::new(
                    ErrorCode::ServiceUnavailable,
                    format!(
                        "another request is completing or aborting upload '{upload_id}' right now; retry shortly to get its result"
                    ),
                )
                .retry_after(RETRY_AFTER_SECS));
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }
}
