//! One attempt at a direct part: a signature (the part's own while usable, else a new one from
//! partup), then the `PUT` to the store and its answer read.

use super::{Signatures, Signed, headers_to_send, send_before_ms, store_answer, store_failure};
use crate::http::{RequestFailure, retry_after_ms};
use crate::retry::FailureClass;
use crate::session::{PartToSend, Session};
use crate::timers::now_ms;
use crate::transport::{self, PartBody, PartRequest, UploadProgress};
use partup_wire::md5_to_hex;

/// The store's URL without its query (the signature): what messages show of it.
fn without_query(url: &str) -> &str {
    let query = super::position(url, "?", false);
    query.and_then(|at| url.get(..at)).unwrap_or(url)
}

/// One attempt at `part`, sent straight to the store. The pipeline retries it through
/// `Session::retrying` as it does `Session::send_part`.
pub async fn send_part(
    session: &Session,
    signatures: &Signatures,
    part: PartToSend<'_>,
    on_progress: UploadProgress,
) -> Result<(), RequestFailure> {
    let md5_hex = md5_to_hex(part.digest);
    let slot = session.part_slot().await;
    // Asked again, not reused, after the slot's wait: a queued part may have waited long.
    let signed = match signatures.usable(part.number, &md5_hex, now_ms()) {
        Some(signed) => signed,
        None => {
            let asked_at = now_ms();
            let answer = session.sign_part(&slot, &part, &md5_hex).await?;
            let expires_at = js_sys::Date::parse(&answer.expires_at);
            let signed = Signed {
                send_before_ms: send_before_ms(
                    &answer.url,
                    expires_at.is_finite().then_some(expires_at),
                    asked_at,
                ),
                headers: headers_to_send(&answer.headers),
                url: answer.url,
                method: answer.method,
                md5_hex: md5_hex.clone(),
            };
            signatures.keep(part.number, signed.clone());
            signed
        }
    };
    let stall_timeout_ms = session.stall_timeout_ms();
    let request = PartRequest {
        method: &signed.method,
        url: &signed.url,
        body: PartBody::Blob(part.content),
        headers: &signed.headers,
        // The store's request is authorised by its signature alone: no cookies, and none of the
        // app's `headers`, which are partup's.
        with_credentials: false,
        stall_timeout_ms,
    };
    let answer = transport::send(request, on_progress).await.map_err(|why| {
        let store = without_query(&signed.url);
        RequestFailure::no_answer("the part's PUT to the store", store, why, stall_timeout_ms)
    })?;
    let retry_after_ms = retry_after_ms(answer.retry_after.as_deref());
    let verdict = store_answer(
        answer.status,
        &answer.text,
        answer.etag.as_deref(),
        &md5_hex,
    );
    match store_failure(verdict, part.number, retry_after_ms) {
        None => {
            signatures.forget(part.number);
            Ok(())
        }
        Some(failure) => {
            if failure.class == FailureClass::Expired {
                // The next attempt signs again, whatever the clock says.
                signatures.forget(part.number);
            }
            Err(failure)
        }
    }
}
