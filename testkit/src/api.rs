//! The API over HTTP, each call typed with `partup-wire`. A call that cannot reach the server
//! panics (except [`Api::try_upload_part_raw`], for crash tests); an answer is checked by the
//! caller with [`Answer::ok`] or [`Answer::error`].

use bytes::Bytes;
use partup_wire::{API_PREFIX, CompleteResponse, ErrorBody, ErrorCode, InitResponse, PartInfo};
use serde_json::{Value, json};

use crate::data::{assert_same_bytes, md5_hex};

/// An API answer: status and JSON body (or the body text as a JSON string when it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The `WWW-Authenticate` header, which a 401 carries.
    pub www_authenticate: Option<String>,
}

impl Answer {
    /// Asserts a 200 and returns the body as `T`.
    pub fn ok<T: serde::de::DeserializeOwned>(self) -> T {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        serde_json::from_value(self.body).expect("body has the documented shape")
    }

    /// Asserts a SPEC.md error with this code (and its status) and returns the message.
    pub fn error(self, code: ErrorCode) -> String {
        let body: ErrorBody = serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("not an error body ({e}): {self:?}"));
        assert_eq!(body.code, code, "{self:?}");
        assert_eq!(self.status, code.http_status(), "{self:?}");
        assert!(!body.request_id.is_empty(), "{self:?}");
        assert!(!body.message.is_empty(), "{self:?}");
        body.message
    }

    /// Asserts a 401 `Unauthorized` that tells how to authenticate
    /// (`WWW-Authenticate: Bearer error="invalid_token"`) and returns the message.
    pub fn unauthorized(self) -> String {
        assert_eq!(
            self.www_authenticate.as_deref(),
            Some(r#"Bearer error="invalid_token""#),
            "{self:?}"
        );
        self.error(ErrorCode::Unauthorized)
    }
}

/// The API of the server at `base` (`http://host:port`), called with `http`: a plain client for
/// the suites, a tuned one (HTTP/1.1, a big idle pool) for the load generator.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    /// The API of the server at `base`, with a default client.
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The API of the server at `base`, every request with `Authorization: Bearer token`.
    pub fn with_token(base: &str, token: &str) -> Api {
        Self::with_authorization(base, &format!("Bearer {token}"))
    }

    /// The API of the server at `base`, every request with this `Authorization` header.
    pub fn with_authorization(base: &str, authorization: &str) -> Api {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = reqwest::header::HeaderValue::from_str(authorization).expect("a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
        Api {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .expect("HTTP client"),
        }
    }

    pub fn url(&self, endpoint: &str) -> String {
        format!("{}{API_PREFIX}/{endpoint}", self.base)
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let www_authenticate = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            body,
            www_authenticate,
        }
    }

    /// Sends `request` and reads its answer; panics when the server cannot be reached.
    async fn send(request: reqwest::RequestBuilder) -> Answer {
        Self::answer(request.send().await.expect("request sent")).await
    }

    pub async fn post_form(&self, endpoint: &str, form: reqwest::multipart::Form) -> Answer {
        Self::send(self.http.post(self.url(endpoint)).multipart(form)).await
    }

    pub async fn post_json(&self, endpoint: &str, body: &Value) -> Answer {
        Self::send(self.http.post(self.url(endpoint)).json(body)).await
    }

    pub async fn init(&self, key: &str) -> InitResponse {
        self.post_json("uploadInit", &json!({"resourceKey": key}))
            .await
            .ok()
    }

    /// A part upload with every field as given (valid or not); the part's bytes are streamed from
    /// `bytes` without a copy.
    pub async fn upload_part_raw(
        &self,
        upload_id: &str,
        part_number: &str,
        md5: &str,
        bytes: impl Into<Bytes>,
    ) -> Answer {
        self.try_upload_part_raw(upload_id, part_number, md5, bytes)
            .await
            .expect("request sent")
    }

    /// Like [`Api::upload_part_raw`], but a failure at the transport level (the server killed
    /// mid-request) is returned instead of panicking.
    pub async fn try_upload_part_raw(
        &self,
        upload_id: &str,
        part_number: &str,
        md5: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<Answer, reqwest::Error> {
        let bytes: Bytes = bytes.into();
        let len = bytes.len() as u64;
        let form = reqwest::multipart::Form::new()
            .text("uploadId", upload_id.to_owned())
            .text("partNumber", part_number.to_owned())
            .text("md5", md5.to_owned())
            .part(
                "content",
                reqwest::multipart::Part::stream_with_length(reqwest::Body::from(bytes), len)
                    .file_name("blob"),
            );
        let response = self
            .http
            .post(self.url("upload"))
            .multipart(form)
            .send()
            .await?;
        Ok(Self::answer(response).await)
    }

    /// A part upload that may fail at the transport level (for crash tests).
    pub async fn upload_part_try(
        &self,
        upload_id: &str,
        part_number: u32,
        bytes: &[u8],
    ) -> Result<Answer, reqwest::Error> {
        self.try_upload_part_raw(
            upload_id,
            &part_number.to_string(),
            &md5_hex(bytes),
            bytes.to_vec(),
        )
        .await
    }

    pub async fn upload_part(&self, upload_id: &str, part_number: u32, bytes: &[u8]) -> PartInfo {
        self.upload_part_raw(
            upload_id,
            &part_number.to_string(),
            &md5_hex(bytes),
            bytes.to_vec(),
        )
        .await
        .ok()
    }

    pub async fn list_parts(&self, upload_id: &str) -> Answer {
        self.post_json("listParts", &json!({"uploadId": upload_id}))
            .await
    }

    pub async fn complete_raw(&self, upload_id: &str, parts: &[(u32, String)]) -> Answer {
        let list: Vec<Value> = parts
            .iter()
            .map(|(n, md5)| json!({"partNumber": n, "md5": md5}))
            .collect();
        self.post_json(
            "uploadComplete",
            &json!({"uploadId": upload_id, "completeMultipartUpload": list}),
        )
        .await
    }

    pub async fn complete(&self, upload_id: &str, parts: &[(u32, String)]) -> CompleteResponse {
        self.complete_raw(upload_id, parts).await.ok()
    }

    pub async fn abort(&self, upload_id: &str) -> Answer {
        self.post_json("uploadAbort", &json!({"uploadId": upload_id}))
            .await
    }

    pub async fn get_object(&self, key: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/v1/objects/{key}", self.base))
            .send()
            .await
            .expect("request sent")
    }

    /// Asserts the object stored under `key` (percent-encoded as in a URL) is exactly `expected`.
    pub async fn assert_object(&self, key: &str, expected: &[u8]) {
        assert_same_bytes(
            &self.object_bytes(key).await,
            expected,
            &format!("object {key} read back"),
        );
    }

    pub async fn object_bytes(&self, key: &str) -> Vec<u8> {
        let response = self.get_object(key).await;
        assert_eq!(response.status(), 200, "GET {key}");
        response.bytes().await.unwrap().to_vec()
    }

    /// Init, upload the chunks as parts 1..=N, complete; returns the upload id and the answer.
    pub async fn upload_whole(&self, key: &str, parts: &[Vec<u8>]) -> (String, CompleteResponse) {
        let id = self.init(key).await.upload_id;
        let done = self.send_and_complete(&id, parts).await;
        (id, done)
    }

    /// Uploads the chunks as parts 1..=N of the started upload `upload_id`, then completes it.
    pub async fn send_and_complete(&self, upload_id: &str, parts: &[Vec<u8>]) -> CompleteResponse {
        let mut listed = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let info = self.upload_part(upload_id, i as u32 + 1, part).await;
            listed.push((info.part_number, info.md5));
        }
        self.complete(upload_id, &listed).await
    }
}
