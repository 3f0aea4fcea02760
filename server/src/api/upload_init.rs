//! `POST uploadInit`: validates the resource key, the caller's write scope and the size it
//! declares, takes a slot under the caps on uploads in progress, asks the application's pre-create
//! hook when one is configured, and starts an upload (SPEC.md §1).

use std::fmt;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use partup_wire::{
    CompleteResponse, ErrorCode, InitResponse, Metadata, validate_metadata, validate_resource_key,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::body::Fields;
use crate::http::client_address::ClientAddress;
use crate::storage::UploadId;
use crate::storage::access::ensure_may_write;
use crate::storage::content_index::Fingerprint;

/// The body: the key, optionally the size the object will have, and for instant upload the part
/// size and multipart etag of its content (other fields are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRequest {
    resource_key: String,
    #[serde(default, deserialize_with = "declared_size")]
    size: Option<u64>,
    #[serde(default, deserialize_with = "declared_size")]
    part_size: Option<u64>,
    #[serde(default, deserialize_with = "present_text")]
    etag: Option<String>,
    #[serde(default, deserialize_with = "declared_metadata")]
    metadata: Option<Metadata>,
}

/// A text field that, when present, is a string (in JSON or a form alike: a form's values reach
/// serde as plain strings, which `Option`'s own deserializer does not take).
pub(super) fn present_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

impl InitRequest {
    /// The content an instant upload declares: `size`, `partSize` and `etag` together, or none.
    fn instant(&self) -> Result<Option<Fingerprint>, AppError> {
        match (self.size, self.part_size, &self.etag) {
            (_, None, None) => Ok(None),
            (Some(size), Some(part_size), Some(etag)) => {
                Fingerprint::declared(size, part_size, etag).map(Some)
            }
            _ => Err(AppError::invalid_argument(
                "instant upload needs size, partSize and etag together",
            )),
        }
    }
}

/// `metadata`: a JSON object of strings, or (in a form, whose values are text) that object written
/// as a JSON string. Its bounds are checked after parsing ([`validate_metadata`]).
fn declared_metadata<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Metadata>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Declared {
        Object(Metadata),
        Text(String),
    }
    match Declared::deserialize(deserializer) {
        Ok(Declared::Object(metadata)) => Ok(Some(metadata)),
        Ok(Declared::Text(text)) => serde_json::from_str(&text).map(Some).map_err(|_| {
            de::Error::custom("must be a JSON object of strings (in a form: written as JSON text)")
        }),
        Err(_) => Err(de::Error::custom("must be a JSON object of strings")),
    }
}

/// `size`: a whole number of bytes, as a JSON integer or (in a form) a string of digits.
pub(super) fn declared_size<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    struct SizeVisitor;
    impl Visitor<'_> for SizeVisitor {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number of bytes")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u64>, E> {
            Ok(Some(n))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<u64>, E> {
            match text.bytes().all(|b| b.is_ascii_digit()) {
                true => text
                    .parse()
                    .map(Some)
                    .map_err(|_| E::custom("is too large")),
                false => Err(E::custom("must be a whole number of bytes")),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(SizeVisitor)
}

pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddress(address): ClientAddress,
    Fields(request): Fields<InitRequest>,
) -> Result<Json<InitResponse>, Response> {
    let instant = request.instant().map_err(IntoResponse::into_response)?;
    if let Some(metadata) = &request.metadata {
        validate_metadata(metadata)
            .map_err(|why| AppError::invalid_argument(why).into_response())?;
    }
    let resource_key = request.resource_key;
    validate_resource_key(&resource_key)
        .map_err(|why| AppError::new(ErrorCode::InvalidObjectName, why).into_response())?;
    state
        .storage
        .check_key_fits(&resource_key)
        .map_err(IntoResponse::into_response)?;
    // The application is only asked about uploads the token allows at all.
    ensure_may_write(&caller, &resource_key).map_err(IntoResponse::into_response)?;
    if let Some(size) = request.size {
        state
            .storage
            .check_declared_size(&caller, size)
            .map_err(IntoResponse::into_response)?;
    }
    // Before the application is asked: a flood past the caps never reaches it.
    let slot = state
        .storage
        .admit(&caller, address)
        .map_err(IntoResponse::into_response)?;
    if let Some(hook) = &state.pre_create {
        let is_exist = state
            .storage
            .object_exists(&resource_key)
            .await
            .map_err(IntoResponse::into_response)?;
        let grant = caller.grant();
        let claims: Option<Value> = grant.map(|g| json!({"sub": g.sub, "partup": g.scope}));
        hook.ask(
            &resource_key,
            grant.map(|g| g.sub.as_str()),
            claims.as_ref(),
            is_exist,
        )
        .await
        .map_err(IntoResponse::into_response)?;
    }
    let started = state
        .storage
        .init_upload(
            &caller,
            (&resource_key, request.metadata, request.size),
            slot,
        )
        .await
        .map_err(IntoResponse::into_response)?;
    let (upload_id, is_exist) = (started.upload_id, started.exists);
    tracing::info!(%upload_id, resource_key, is_exist, "upload started");
    let instant = match instant {
        Some(fingerprint) => complete_instantly(&state, &upload_id, &caller, &fingerprint).await,
        None => None,
    };
    Ok(Json(InitResponse {
        upload_id: upload_id.to_string(),
        is_exist,
        // An instant upload is complete: nothing goes anywhere.
        direct: started.direct && instant.is_none(),
        instant,
    }))
}

/// The complete answer when the upload could be completed from content already stored; `None`
/// for a miss, and for a failure, which is logged: the upload is started, and sending its parts
/// as usual still works.
async fn complete_instantly(
    state: &AppState,
    upload_id: &UploadId,
    caller: &Caller,
    fingerprint: &Fingerprint,
) -> Option<CompleteResponse> {
    let completed = state
        .storage
        .complete_instantly(upload_id, caller, fingerprint)
        .await;
    match completed {
        Ok(done) => {
            crate::metrics::instant_upload(done.is_some());
            done
        }
        Err(e) => {
            tracing::warn!(%upload_id, "instant upload failed, the upload goes on as usual: {e}");
            None
        }
    }
}
