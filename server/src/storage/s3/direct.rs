//! Direct uploads on S3 (SPEC.md §6): each one's parts are the parts of a multipart upload of the
//! store's own at `uploads/ID/direct`, a key of that upload alone — on the object's key, a
//! concurrent upload of the same key completing first would make some stores (Garage) drop it
//! with every part a client sent. Clients send the parts in `UploadPart` requests presigned here;
//! listParts reads the store's `ListParts` (a part's ETag is its MD5); complete writes the list it
//! chose (`direct-parts.json`), completes the store's upload into `uploads/ID/direct` and copies
//! that object server-side to the object's key, so a complete retried after a crash anywhere in
//! between finds the parts again (in the record, once the store's upload is completed).
//!
//! OpenDAL 0.59 neither exposes a multipart upload's parts nor presigns `UploadPart`, so these
//! calls are signed with reqsign, the SigV4 signer OpenDAL itself uses (`multipart.rs`), and
//! sent over OpenDAL's HTTP transport: no hand-written signature.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine;
use http::{Method, Request, StatusCode};
use opendal::{Buffer, ErrorKind};
use partup_wire::{CompletePart, md5_to_hex, parse_md5_hex};
use serde::{Deserialize, Serialize};

use super::multipart::{query_value, store_error};
use super::{S3Backend, layout};
use crate::error::AppResult;
use crate::storage::backend::{AssembleFailure, AssemblyPlan};
use crate::storage::direct::{
    DirectParts, DirectStore, PartToSign, SignedRequest, etag_not_md5, stored_part,
};
use crate::storage::records::DirectUpload;
use crate::storage::upload_id::UploadId;

/// S3's largest source range of one `UploadPartCopy`: an object past it is copied in ranges.
const MAX_COPY_RANGE: u64 = 5 << 30;

/// `InitiateMultipartUploadResult`, the field used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Initiated {
    upload_id: String,
}

/// `ListPartsResult`, the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PartsPage {
    #[serde(default)]
    part: Vec<ListedPart>,
    #[serde(default)]
    is_truncated: bool,
    next_part_number_marker: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedPart {
    part_number: u32,
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    size: u64,
}

/// `direct-parts.json`: the parts a complete chose, as the store listed them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChosenParts {
    parts: Vec<CompletePart>,
    sizes: Vec<u64>,
}

/// The error code of an S3 XML error body (`<Code>NoSuchUpload</Code>`), if it has one.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].to_owned())
}

fn failed(what: &str, status: StatusCode, body: &[u8]) -> crate::error::AppError {
    store_error(what, format!("{status}: {}", String::from_utf8_lossy(body)))
}

impl S3Backend {
    /// `ListParts` of the store's upload, every page; `None` when the store no longer has it
    /// (completed or aborted).
    async fn list_store_parts(
        &self,
        path: &str,
        store_id: &str,
    ) -> AppResult<Option<Vec<ListedPart>>> {
        let admin = &self.multiparts;
        let mut found = Vec::new();
        let mut marker = 0;
        loop {
            let query = format!(
                "part-number-marker={marker}&uploadId={}",
                query_value(store_id)
            );
            let url = admin.key_url(&admin.bucket_url, path, &query);
            let (status, body) = admin.send_body(Method::GET, url, Buffer::new()).await?;
            if status == StatusCode::NOT_FOUND
                || error_code(&body).as_deref() == Some("NoSuchUpload")
            {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(failed("ListParts", status, &body));
            }
            let text = std::str::from_utf8(&body).map_err(|e| store_error("ListParts", e))?;
            let page: PartsPage =
                quick_xml::de::from_str(text).map_err(|e| store_error("ListParts", e))?;
            found.extend(page.part);
            match (page.is_truncated, page.next_part_number_marker) {
                (true, Some(next)) if next > marker => marker = next,
                _ => return Ok(Some(found)),
            }
        }
    }

    /// `CompleteMultipartUpload` of the store's upload with `parts` (number and MD5, ascending).
    async fn complete_store_upload(
        &self,
        path: &str,
        store_id: &str,
        parts: &[CompletePart],
    ) -> AppResult<()> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for part in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>",
                part.part_number,
                part.md5.to_ascii_lowercase()
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let admin = &self.multiparts;
        let query = format!("uploadId={}", query_value(store_id));
        let url = admin.key_url(&admin.bucket_url, path, &query);
        let (status, body) = admin
            .send_body(Method::POST, url, Buffer::from(xml.into_bytes()))
            .await?;
        // S3 may answer 200 and still fail, with an error body.
        if !status.is_success() || error_code(&body).is_some() {
            return Err(failed("CompleteMultipartUpload", status, &body));
        }
        Ok(())
    }

    /// The parts a complete chose, once the store's upload holding them was completed.
    async fn chosen_parts(&self, upload_id: &UploadId) -> AppResult<Option<ChosenParts>> {
        let path = layout::direct_parts_record(upload_id);
        match self.read_if_exists(&path).await? {
            Some(content) => serde_json::from_slice(&content)
                .map(Some)
                .map_err(|e| store_error("direct-parts.json", e)),
            None => Ok(None),
        }
    }

    /// Copies the completed `uploads/ID/direct` to the object's key, labelled with its etag.
    async fn publish_direct(
        &self,
        upload_id: &UploadId,
        plan: &AssemblyPlan,
    ) -> opendal::Result<()> {
        let source = layout::direct_object(upload_id);
        let meta = self.op.stat(&source).await?;
        let store_etag = meta.etag().map(str::to_owned);
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < plan.size || pieces.is_empty() {
            let end = (start + MAX_COPY_RANGE).min(plan.size);
            pieces.push((source.as_str(), start..end, store_etag.as_deref()));
            start = end;
        }
        self.write_copied(&layout::object(&plan.resource_key), &plan.etag, pieces)
            .await
    }
}

#[async_trait]
impl DirectStore for S3Backend {
    async fn start_direct(&self, upload_id: &UploadId) -> AppResult<DirectUpload> {
        let admin = &self.multiparts;
        let url = admin.key_url(
            &admin.bucket_url,
            &layout::direct_object(upload_id),
            "uploads",
        );
        let (status, body) = admin.send_body(Method::POST, url, Buffer::new()).await?;
        if !status.is_success() {
            return Err(failed("CreateMultipartUpload", status, &body));
        }
        let text =
            std::str::from_utf8(&body).map_err(|e| store_error("CreateMultipartUpload", e))?;
        let started: Initiated =
            quick_xml::de::from_str(text).map_err(|e| store_error("CreateMultipartUpload", e))?;
        Ok(DirectUpload {
            store_upload_id: started.upload_id,
        })
    }

    async fn sign_direct_part(
        &self,
        upload_id: &UploadId,
        direct: &DirectUpload,
        part: PartToSign,
        expiry: Duration,
    ) -> AppResult<SignedRequest> {
        let admin = &self.multiparts;
        let query = format!(
            "partNumber={}&uploadId={}",
            part.part_number,
            query_value(&direct.store_upload_id)
        );
        let url = admin.key_url(
            &admin.public_bucket_url,
            &layout::direct_object(upload_id),
            &query,
        );
        let content_md5 = base64::engine::general_purpose::STANDARD.encode(part.md5);
        let request = Request::builder()
            .method(Method::PUT)
            .uri(url)
            .header("content-md5", &content_md5)
            .header(http::header::CONTENT_LENGTH, part.size)
            .body(())
            .map_err(|e| store_error("signing", e))?;
        let (mut parts, ()) = request.into_parts();
        let signed_at = SystemTime::now();
        admin
            .signer
            .sign(&mut parts, Some(expiry))
            .await
            .map_err(|e| store_error("signing", e))?;
        let headers = BTreeMap::from([
            ("Content-MD5".to_owned(), content_md5),
            ("Content-Length".to_owned(), part.size.to_string()),
        ]);
        Ok(SignedRequest {
            url: parts.uri.to_string(),
            method: "PUT",
            headers,
            expires_at: signed_at + expiry,
        })
    }

    async fn direct_parts(
        &self,
        upload_id: &UploadId,
        direct: &DirectUpload,
    ) -> AppResult<DirectParts> {
        let path = layout::direct_object(upload_id);
        let Some(listed) = self
            .list_store_parts(&path, &direct.store_upload_id)
            .await?
        else {
            // Completed by a complete that then stopped: its parts are in what it chose.
            let mut found = DirectParts::default();
            if let Some(chosen) = self.chosen_parts(upload_id).await? {
                for (part, size) in chosen.parts.iter().zip(chosen.sizes) {
                    let md5 =
                        parse_md5_hex(&part.md5).ok_or_else(|| etag_not_md5(part.part_number))?;
                    found
                        .parts
                        .insert(part.part_number, stored_part(part.part_number, md5, size));
                }
            }
            return Ok(found);
        };
        let mut found = DirectParts::default();
        for part in listed {
            let md5 = parse_md5_hex(part.etag.trim_matches('"'))
                .ok_or_else(|| etag_not_md5(part.part_number))?;
            let stored_at =
                humantime::parse_rfc3339_weak(part.last_modified.trim_end_matches('Z')).ok();
            found.newest = found.newest.max(stored_at);
            found.parts.insert(
                part.part_number,
                stored_part(part.part_number, md5, part.size),
            );
        }
        Ok(found)
    }

    async fn assemble_direct(
        &self,
        direct: &DirectUpload,
        plan: &AssemblyPlan,
    ) -> Result<(), AssembleFailure> {
        let failure = |error| AssembleFailure {
            error,
            assemble_again: false,
        };
        let upload_id = &plan.upload_id;
        let path = layout::direct_object(upload_id);
        let chosen = ChosenParts {
            parts: plan
                .parts
                .iter()
                .map(|p| CompletePart {
                    part_number: p.part_number,
                    md5: md5_to_hex(&p.digest.md5),
                })
                .collect(),
            sizes: plan.parts.iter().map(|p| p.digest.size).collect(),
        };
        let still_open = self
            .list_store_parts(&path, &direct.store_upload_id)
            .await
            .map_err(failure)?
            .is_some();
        if still_open {
            let record = serde_json::to_vec(&chosen)
                .map_err(|e| failure(store_error("direct-parts.json", e)))?;
            self.write_object(&layout::direct_parts_record(upload_id), &record)
                .await
                .map_err(failure)?;
            self.complete_store_upload(&path, &direct.store_upload_id, &chosen.parts)
                .await
                .map_err(failure)?;
        }
        self.publish_direct(upload_id, plan)
            .await
            .map_err(|e| AssembleFailure {
                assemble_again: e.kind() == ErrorKind::NotFound,
                error: super::connection::storage_error(e),
            })
    }

    async fn discard_direct(&self, upload_id: &UploadId, direct: &DirectUpload) -> AppResult<()> {
        let path = layout::direct_object(upload_id);
        self.multiparts
            .abort(&path, &direct.store_upload_id)
            .await?;
        let keys = [path, layout::direct_parts_record(upload_id)];
        self.op
            .delete_iter(keys)
            .await
            .map_err(super::connection::storage_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_pages_of_parts_parse() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>partup</Bucket><Key>uploads/x/direct</Key><UploadId>u1</UploadId>
  <PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>
  <MaxParts>1000</MaxParts><IsTruncated>true</IsTruncated>
  <Part><PartNumber>1</PartNumber><LastModified>2026-11-26T08:00:00.000Z</LastModified>
    <ETag>"0123456789abcdef0123456789abcdef"</ETag><Size>5242880</Size></Part>
  <Part><PartNumber>2</PartNumber><LastModified>2026-11-26T08:00:01Z</LastModified>
    <ETag>&quot;fedcba9876543210fedcba9876543210&quot;</ETag><Size>17</Size></Part>
</ListPartsResult>"#;
        let page: PartsPage = quick_xml::de::from_str(xml).expect("parses");
        assert!(page.is_truncated);
        assert_eq!(page.next_part_number_marker, Some(2));
        assert_eq!(page.part.len(), 2);
        assert_eq!(
            page.part[1].etag.trim_matches('"'),
            "fedcba9876543210fedcba9876543210"
        );
        assert_eq!(page.part[0].size, 5 << 20);
    }

    #[test]
    fn an_error_body_names_its_code() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("NoSuchUpload"));
        assert_eq!(error_code(b"<ListPartsResult/>"), None);
    }
}
