//! The events partup sends the application (SPEC.md, Events): their JSON, their id and their place
//! in the queue.
//!
//! An event's id is derived from its upload and type (the first 128 bits of
//! SHA-256("partup-event:" ‖ uploadId ‖ ":" ‖ type), as hex): unique, since an upload has one event
//! of each type at most, and the same whenever the same event is stored again (a request retried
//! after a crash between storing it and answering), so receivers deduplicating by id see it once.

use partup_wire::CompleteResponse;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::storage::{EventKey, UploadId, UploadRecord};

/// What happened to an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// uploadInit started it.
    #[serde(rename = "upload.created")]
    Created,
    /// uploadComplete assembled its object.
    #[serde(rename = "upload.completed")]
    Completed,
    /// uploadAbort ended it.
    #[serde(rename = "upload.aborted")]
    Aborted,
    /// The stale-upload sweep ended it (`--upload-ttl`).
    #[serde(rename = "upload.expired")]
    Expired,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "upload.created",
            EventKind::Completed => "upload.completed",
            EventKind::Aborted => "upload.aborted",
            EventKind::Expired => "upload.expired",
        }
    }

    /// Its step in an upload's life: an upload's events are delivered in this order.
    pub fn step(self) -> u8 {
        match self {
            EventKind::Created => 1,
            EventKind::Completed | EventKind::Aborted | EventKind::Expired => 2,
        }
    }
}

/// The object an `upload.completed` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedObject {
    pub size: u64,
    pub etag: String,
    pub parts: u32,
}

/// One event, as POSTed to `--hook-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// When it happened, RFC 3339 in UTC.
    pub time: String,
    pub upload_id: String,
    pub resource_key: String,
    /// Who started the upload; `null` when anonymous.
    pub sub: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub object: Option<CompletedObject>,
}

impl Event {
    /// An event of `kind` about the upload `upload_id` recorded as `record`, happening now.
    pub fn new(kind: EventKind, upload_id: &UploadId, record: &UploadRecord) -> Event {
        Event {
            id: event_id(upload_id, kind),
            kind,
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            upload_id: upload_id.to_string(),
            resource_key: record.resource_key.clone(),
            sub: record.sub.clone(),
            object: None,
        }
    }

    /// With the completed object's size, etag and part count.
    pub fn with_object(self, done: &CompleteResponse) -> Event {
        let object = CompletedObject {
            size: done.size,
            etag: done.etag.clone(),
            parts: done.parts,
        };
        Event {
            object: Some(object),
            ..self
        }
    }

    /// Its place in the queue.
    pub fn key(&self) -> EventKey {
        EventKey {
            upload_id: UploadId::parse(&self.upload_id).expect("events are made from upload ids"),
            step: self.kind.step(),
        }
    }

    /// The exact bytes stored, POSTed and signed.
    pub fn encode(&self) -> AppResult<Vec<u8>> {
        serde_json::to_vec(self).map_err(AppError::internal)
    }
}

fn event_id(upload_id: &UploadId, kind: EventKind) -> String {
    let digest = Sha256::digest(format!("partup-event:{upload_id}:{}", kind.as_str()));
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> UploadRecord {
        UploadRecord {
            resource_key: "videos/clip.mp4".into(),
            created_unix_ms: 0,
            sub: Some("alice".into()),
            max_size: None,
            replace: None,
            client: None,
            metadata: None,
            direct: None,
        }
    }

    #[test]
    fn a_completed_event_carries_the_object_and_an_id_of_its_own() {
        let id = UploadId::generate().unwrap();
        let done = CompleteResponse {
            resource_key: "videos/clip.mp4".into(),
            size: 7,
            parts: 2,
            etag: "abc-2".into(),
        };
        let event = Event::new(EventKind::Completed, &id, &record()).with_object(&done);
        let json: serde_json::Value = serde_json::from_slice(&event.encode().unwrap()).unwrap();
        assert_eq!(json["type"], "upload.completed");
        assert_eq!(json["uploadId"], id.as_str());
        assert_eq!(json["resourceKey"], "videos/clip.mp4");
        assert_eq!(json["sub"], "alice");
        assert_eq!(
            (json["size"].clone(), json["parts"].clone()),
            (7.into(), 2.into())
        );
        assert_eq!(json["etag"], "abc-2");
        assert_eq!(json["id"].as_str().unwrap().len(), 32);
        // The same event stored again keeps its id; another event of the upload has another.
        let again = Event::new(EventKind::Completed, &id, &record());
        let created = Event::new(EventKind::Created, &id, &record());
        assert_eq!(again.id, event.id);
        assert_ne!(created.id, event.id);
        assert!(created.key() < event.key());
        let plain: serde_json::Value = serde_json::from_slice(&created.encode().unwrap()).unwrap();
        assert!(plain.get("size").is_none());
    }
}
