//! The four calls the load generator makes, typed with `partup-wire`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use partup_wire::{API_PREFIX, CompletePart, CompleteResponse, InitResponse, PartInfo};
use serde_json::json;

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

/// The body of a 2xx answer, or the status and body of any other as the error.
async fn check(response: reqwest::Response) -> Result<Bytes, String> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(body)
}

impl Api {
    pub fn new(base: &str) -> Api {
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1024)
            .build()
            .expect("HTTP client");
        Api {
            client,
            base: base.to_owned(),
        }
    }

    fn url(&self, call: &str) -> String {
        format!("{}{API_PREFIX}/{call}", self.base)
    }

    async fn post_json(&self, call: &str, body: serde_json::Value) -> Result<Bytes, String> {
        let response = self
            .client
            .post(self.url(call))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        check(response).await
    }

    pub async fn init(&self, key: &str) -> String {
        let body = self
            .post_json("uploadInit", json!({ "resourceKey": key }))
            .await
            .expect("uploadInit");
        serde_json::from_slice::<InitResponse>(&body)
            .expect("uploadInit answer")
            .upload_id
    }

    /// Uploads one part; returns the server's answer and how long the request took.
    pub async fn upload_part(
        &self,
        upload_id: &str,
        part_number: u32,
        md5_hex: &str,
        bytes: Bytes,
    ) -> (PartInfo, Duration) {
        let len = bytes.len() as u64;
        let form = reqwest::multipart::Form::new()
            .text("uploadId", upload_id.to_owned())
            .text("partNumber", part_number.to_string())
            .text("md5", md5_hex.to_owned())
            .part(
                "content",
                reqwest::multipart::Part::stream_with_length(reqwest::Body::from(bytes), len)
                    .file_name("part"),
            );
        let started = Instant::now();
        let response = self
            .client
            .post(self.url("upload"))
            .multipart(form)
            .send()
            .await
            .expect("upload request");
        let body = check(response).await.expect("upload answer");
        let elapsed = started.elapsed();
        (
            serde_json::from_slice(&body).expect("upload answer JSON"),
            elapsed,
        )
    }

    pub async fn complete(&self, upload_id: &str, parts: &[CompletePart]) -> CompleteResponse {
        let body = self
            .post_json(
                "uploadComplete",
                json!({ "uploadId": upload_id, "completeMultipartUpload": parts }),
            )
            .await
            .expect("uploadComplete");
        serde_json::from_slice(&body).expect("uploadComplete answer")
    }

    pub async fn abort(&self, upload_id: &str) {
        self.post_json("uploadAbort", json!({ "uploadId": upload_id }))
            .await
            .expect("uploadAbort");
    }
}
