//! What the sweep sees of the data directory: each upload's records and last activity (from
//! modification times), and old debris in `tmp/`.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::layout::Layout;
use crate::error::AppResult;
use crate::storage::backend::UploadActivity;
use crate::storage::records::Record;
use crate::storage::upload_id::UploadId;

fn modified_age(path: &Path, now: SystemTime) -> Option<Duration> {
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(now.duration_since(modified).unwrap_or_default())
}

pub fn upload_activity(layout: &Layout, upload_id: &UploadId) -> Option<UploadActivity> {
    let now = SystemTime::now();
    // A part's rename touches parts/, so its mtime is the last activity; an upload whose init
    // crashed before parts/ was made counts from its directory's mtime.
    let idle = modified_age(&layout.parts_dir(upload_id), now)
        .or_else(|| modified_age(&layout.upload_dir(upload_id), now))?;
    Some(UploadActivity {
        upload_id: upload_id.clone(),
        has_upload_record: layout.record(upload_id, Record::Upload).exists(),
        completed_age: modified_age(&layout.record(upload_id, Record::Completed), now),
        idle,
    })
}

pub fn list_uploads(layout: &Layout) -> AppResult<Vec<UploadActivity>> {
    let mut uploads = Vec::new();
    for entry in fs::read_dir(layout.uploads_dir())? {
        // One entry that cannot be read does not hide the others from the sweep.
        let Ok(entry) = entry else {
            continue;
        };
        let Some(upload_id) = entry
            .file_name()
            .to_str()
            .and_then(|name| UploadId::parse(name).ok())
        else {
            continue;
        };
        uploads.extend(upload_activity(layout, &upload_id));
    }
    Ok(uploads)
}

/// Removes what in `tmp/` was last touched longer than `age` ago. `tmp/` is emptied at start too;
/// this only matters for a server that runs for long.
pub fn remove_stale_staging(layout: &Layout, age: Duration) -> AppResult<()> {
    let now = SystemTime::now();
    for entry in fs::read_dir(layout.tmp_dir())? {
        let Ok(entry) = entry else {
            continue;
        };
        let path = entry.path();
        if modified_age(&path, now).is_some_and(|idle| idle > age) {
            // Something else may be deleting it right now (a finished upload's parts): best effort.
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
    Ok(())
}
