//! The lease on an upload that a complete or an abort holds while it works, so that instances
//! sharing the bucket take turns: `uploads/ID/lease.json`, naming its holder and until when it
//! holds. Garage ignores conditional PUTs, so it is claimed by writing it and reading it back after
//! a pause: of claims whose writes land within that pause, only the last writer reads itself back.
//!
//! Its limits, honestly: it is not a lock. Two claims both win when one instance's read (no lease)
//! and its write are further apart than [`SETTLE`] while the other wrote in between, when a holder
//! stalls past [`LEASE_TIME`] (its renewal then overwrites the next holder's lease), or when clocks
//! of instances differ by more than the lease's remaining time. Nothing may depend on it for
//! safety, and nothing does: two assemblies of one upload write the same bytes and the same answer,
//! and an abort never deletes a completion record (`remove_upload`). What it buys is that a retried
//! complete does not start a second full assembly, and an abort racing a complete usually answers
//! what really happened.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opendal::Operator;
use serde::{Deserialize, Serialize};

use super::connection::storage_error;
use super::layout;
use crate::error::AppResult;
use crate::storage::upload_id::UploadId;

/// How long a lease holds without renewal: a holder that died (`kill -9` mid-assembly) is waited
/// for at most this long, well within the wait of `taking_turns.rs`, so a retry after a crash is
/// answered rather than told to come back.
const LEASE_TIME: Duration = Duration::from_secs(8);
/// The holder renews its lease this often while it works (missing three renewals in a row lets
/// another claim win: a second assembly, which is harmless).
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// The pause between writing a lease and reading it back, for a concurrent claim's write to land.
const SETTLE: Duration = Duration::from_millis(200);

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lease {
    /// Random per claim (also within one process).
    holder: String,
    expires_unix_ms: u64,
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

async fn read(op: &Operator, path: &str) -> AppResult<Option<Lease>> {
    match op.read(path).await {
        // A lease that does not parse was not written by this version: treated as absent.
        Ok(content) => Ok(serde_json::from_slice(&content.to_vec()).ok()),
        Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(storage_error(e)),
    }
}

async fn write(op: &Operator, path: &str, holder: &str) -> AppResult<()> {
    let lease = Lease {
        holder: holder.to_owned(),
        expires_unix_ms: unix_ms(SystemTime::now() + LEASE_TIME),
    };
    let content = serde_json::to_vec(&lease).map_err(crate::error::AppError::internal)?;
    op.write(path, content).await.map_err(storage_error)?;
    Ok(())
}

/// A held lease: renewed in the background, and released (if still this holder's) when dropped.
pub struct HeldLease {
    op: Operator,
    path: String,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.renewal.abort();
        let (op, path, holder) = (self.op.clone(), self.path.clone(), self.holder.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if read(&op, &path).await.ok().flatten().map(|l| l.holder) == Some(holder) {
                    let _ = op.delete(&path).await;
                }
            });
        }
    }
}

/// Claims the lease on `upload_id`; `None` while a live lease of another claim is stored.
pub async fn claim(op: &Operator, upload_id: &UploadId) -> AppResult<Option<HeldLease>> {
    let path = layout::lease(upload_id);
    let now = unix_ms(SystemTime::now());
    if read(op, &path)
        .await?
        .is_some_and(|lease| lease.expires_unix_ms > now)
    {
        return Ok(None);
    }
    let holder = UploadId::generate()?.to_string();
    write(op, &path, &holder).await?;
    tokio::time::sleep(SETTLE).await;
    if read(op, &path).await?.map(|l| l.holder).as_ref() != Some(&holder) {
        return Ok(None);
    }
    let renewal = tokio::spawn({
        let (op, path, holder) = (op.clone(), path.clone(), holder.clone());
        async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                if let Err(e) = write(&op, &path, &holder).await {
                    tracing::warn!("could not renew the lease {path}: {e}");
                }
            }
        }
    });
    Ok(Some(HeldLease {
        op: op.clone(),
        path,
        holder,
        renewal,
    }))
}
