//! The store's own multipart uploads under the prefix: what a crash mid-part (OpenDAL's multipart
//! writer) or mid-assembly (`UploadPartCopy`) leaves behind, invisible to listings of objects but
//! billed until aborted. OpenDAL 0.59 starts and aborts them but cannot list them, so these two
//! calls, `ListMultipartUploads` (`GET /?uploads&prefix=`) and `AbortMultipartUpload`, are signed
//! here with reqsign — the SigV4 signer and credential chain OpenDAL itself uses — and sent over
//! OpenDAL's HTTP transport. Only keys of partup's layout are returned
//! (`layout::owns_multipart_key`): another application's multipart uploads in a shared bucket are
//! never touched.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use opendal::raw::percent_encode_path;
use opendal::{Buffer, HttpTransporter};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqsign_aws_v4::{Credential, DefaultCredentialProvider, RequestSigner};
use reqsign_core::{Context, OsEnv, Signer};
use serde::Deserialize;

use super::connection::S3Settings;
use super::layout;
use crate::error::{AppError, AppResult};

/// A query value as SigV4 canonicalises it (everything but unreserved characters encoded, `/` too).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(super) fn query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// One of the store's multipart uploads of a partup key.
#[derive(Debug, Clone)]
pub struct PendingMultipart {
    /// The key relative to the prefix, as the rest of `s3/` names keys.
    pub path: String,
    /// The store's id of it.
    pub upload_id: String,
    pub initiated: SystemTime,
}

/// Signs and sends the two calls for one bucket (and, for `direct.rs`, those of direct uploads).
pub struct MultipartAdmin {
    /// `https://host/bucket` (path style) or `https://bucket.host` (virtual host style).
    pub(super) bucket_url: String,
    /// The same as clients reach it (`--direct-endpoint`), for the requests they send.
    pub(super) public_bucket_url: String,
    /// `PREFIX/`, or nothing: what the operator's root adds before each key.
    pub(super) key_prefix: String,
    pub(super) signer: Signer<Credential>,
    transport: HttpTransporter,
}

/// `ListMultipartUploadsResult`, the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    upload: Vec<ListedUpload>,
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    key: String,
    upload_id: String,
    initiated: String,
}

/// The bucket's base URL, as OpenDAL's S3 service builds it (AWS when no endpoint is given).
fn bucket_url(settings: &S3Settings) -> String {
    bucket_url_at(settings, settings.endpoint.as_ref())
}

/// The bucket's base URL at `endpoint`.
fn bucket_url_at(settings: &S3Settings, endpoint: Option<&String>) -> String {
    let endpoint = match endpoint {
        Some(endpoint) if endpoint.starts_with("http") => endpoint.clone(),
        Some(endpoint) => format!("https://{endpoint}"),
        None => format!("https://s3.{}.amazonaws.com", settings.region),
    };
    let endpoint = endpoint.trim_end_matches('/');
    if settings.virtual_host_style {
        endpoint.replacen("//", &format!("//{}.", settings.bucket), 1)
    } else {
        format!("{endpoint}/{}", settings.bucket)
    }
}

pub(super) fn store_error(what: &str, cause: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("object store {what}: {cause}"))
}

impl MultipartAdmin {
    pub fn new(settings: &S3Settings) -> MultipartAdmin {
        // The process-wide transport OpenDAL's operators use too (the first install wins).
        opendal::install_default();
        let transport = HttpTransporter::default();
        // The chain reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN first, as
        // `connection.rs` hands them to OpenDAL, then profiles and instance metadata.
        let context = Context::new()
            .with_env(OsEnv)
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_http_send(transport.clone());
        let public_endpoint = settings
            .direct_endpoint
            .as_ref()
            .or(settings.endpoint.as_ref());
        MultipartAdmin {
            bucket_url: bucket_url(settings),
            public_bucket_url: bucket_url_at(settings, public_endpoint),
            key_prefix: layout::root_key_prefix(&settings.prefix),
            signer: Signer::new(
                context,
                DefaultCredentialProvider::new(),
                RequestSigner::new("s3", &settings.region),
            ),
            transport,
        }
    }

    async fn send(&self, method: Method, url: String) -> AppResult<(StatusCode, Bytes)> {
        self.send_body(method, url, Buffer::new()).await
    }

    /// Signs and sends one request with `body`; the store's status and answer.
    pub(super) async fn send_body(
        &self,
        method: Method,
        url: String,
        body: Buffer,
    ) -> AppResult<(StatusCode, Bytes)> {
        let mut request = Request::builder().method(method).uri(url);
        if !body.is_empty() {
            request = request.header(http::header::CONTENT_LENGTH, body.len());
        }
        let request = request.body(body).map_err(|e| store_error("request", e))?;
        let (mut parts, body) = request.into_parts();
        self.signer
            .sign(&mut parts, None)
            .await
            .map_err(|e| store_error("signing", e))?;
        // As OpenDAL does: the transport sets Host for the HTTP version it speaks.
        parts.headers.remove(http::header::HOST);
        let response = self
            .transport
            .send(Request::from_parts(parts, body))
            .await
            .map_err(|e| store_error("request", e))?;
        Ok((response.status(), response.into_body().to_bytes()))
    }

    /// The URL of `path` (relative to the root) in the bucket, with `query`.
    pub(super) fn key_url(&self, base: &str, path: &str, query: &str) -> String {
        format!(
            "{base}/{}?{query}",
            percent_encode_path(&format!("{}{path}", self.key_prefix))
        )
    }

    /// Every multipart upload of a partup key under the prefix (all pages).
    pub async fn list(&self) -> AppResult<Vec<PendingMultipart>> {
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = format!(
                "{}?uploads&prefix={}",
                self.bucket_url,
                query_value(&self.key_prefix)
            );
            if let Some((key, id)) = &markers {
                url.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    query_value(key),
                    query_value(id)
                ));
            }
            let (status, body) = self.send(Method::GET, url).await?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                return Err(store_error(
                    "ListMultipartUploads",
                    format!("{status}: {text}"),
                ));
            }
            let text = std::str::from_utf8(&body).map_err(|e| store_error("listing", e))?;
            let page: ListResult =
                quick_xml::de::from_str(text).map_err(|e| store_error("listing", e))?;
            found.extend(page.upload.into_iter().filter_map(|u| self.ours(u)));
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(id)) => markers = Some((key, id)),
                _ => return Ok(found),
            }
        }
    }

    /// A listed upload, when its key is one of partup's under the prefix.
    fn ours(&self, listed: ListedUpload) -> Option<PendingMultipart> {
        let path = listed.key.strip_prefix(&self.key_prefix)?;
        if !layout::owns_multipart_key(path) {
            return None;
        }
        Some(PendingMultipart {
            path: path.to_owned(),
            upload_id: listed.upload_id,
            initiated: humantime::parse_rfc3339_weak(listed.initiated.trim_end_matches('Z'))
                .ok()?,
        })
    }

    /// Aborts one (already gone is fine: another instance's sweep may have been first).
    pub async fn abort(&self, path: &str, upload_id: &str) -> AppResult<()> {
        let query = format!("uploadId={}", query_value(upload_id));
        let url = self.key_url(&self.bucket_url, path, &query);
        let (status, body) = self.send(Method::DELETE, url).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&body);
        Err(store_error(
            "AbortMultipartUpload",
            format!("{status}: {text}"),
        ))
    }
}

/// How long ago it started: the younger of the store's date and the time in partup's key, where
/// the key has one (a store may misdate: moto dates every multipart upload 2010).
pub fn age(pending: &PendingMultipart) -> Duration {
    let since = |time| SystemTime::now().duration_since(time).unwrap_or_default();
    let by_store = since(pending.initiated);
    layout::started_at(&pending.path).map_or(by_store, |started| since(started).min(by_store))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: Option<&str>, virtual_host_style: bool) -> S3Settings {
        S3Settings {
            endpoint: endpoint.map(str::to_owned),
            bucket: "media".into(),
            region: "eu-west-1".into(),
            prefix: "/team/".into(),
            virtual_host_style,
            direct_endpoint: None,
        }
    }

    #[test]
    fn the_bucket_url_is_built_as_opendal_builds_it() {
        assert_eq!(
            bucket_url(&settings(Some("http://127.0.0.1:3900/"), false)),
            "http://127.0.0.1:3900/media"
        );
        assert_eq!(
            bucket_url(&settings(None, false)),
            "https://s3.eu-west-1.amazonaws.com/media"
        );
        assert_eq!(
            bucket_url(&settings(Some("minio.local"), true)),
            "https://media.minio.local"
        );
    }

    #[test]
    fn a_multipart_upload_is_as_old_as_the_younger_of_the_store_date_and_its_key() {
        let misdated = SystemTime::UNIX_EPOCH + Duration::from_secs(1_289_422_113);
        let id = crate::storage::upload_id::UploadId::generate().expect("id");
        let part = PendingMultipart {
            path: layout::new_part_version(&id, 1, &"ab".repeat(16)),
            upload_id: "u".into(),
            initiated: misdated,
        };
        assert!(age(&part) < Duration::from_secs(5));
        let assembly = PendingMultipart {
            path: layout::object("a.bin"),
            ..part
        };
        assert!(age(&assembly) > Duration::from_secs(365 * 86_400));
    }

    #[test]
    fn a_listing_page_parses_and_keeps_only_partup_keys_under_the_prefix() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>media</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>team/tmp/x</NextKeyMarker><NextUploadIdMarker>u3</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>team/objects/a.bin</Key><UploadId>u1</UploadId><Initiated>2026-01-02T03:04:05.678Z</Initiated></Upload>
  <Upload><Key>team/uploads/notes.txt</Key><UploadId>u2</UploadId><Initiated>2026-01-02T03:04:05Z</Initiated></Upload>
  <Upload><Key>other/objects/a.bin</Key><UploadId>u3</UploadId><Initiated>2026-01-02T03:04:05Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page: ListResult = quick_xml::de::from_str(xml).expect("parses");
        assert!(page.is_truncated);
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("u3"));
        let admin = MultipartAdmin::new(&settings(Some("http://127.0.0.1:1"), false));
        let ours: Vec<_> = page
            .upload
            .into_iter()
            .filter_map(|u| admin.ours(u))
            .collect();
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].path, "objects/a.bin");
        assert_eq!(ours[0].upload_id, "u1");
        assert!(ours[0].initiated > SystemTime::UNIX_EPOCH);
    }
}
