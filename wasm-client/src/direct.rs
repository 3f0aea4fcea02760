//! Parts straight to the store (SPEC.md §6): when uploadInit answers `"direct": true`, each part
//! is signed by partup (`POST signPart`) and then `PUT` into the bucket itself, the Blob slice as
//! the body (the browser reads it from disk as it sends; the part is never held in memory).
//!
//! A module of its own because the other side of this conversation is not partup. The store
//! answers in S3's XML (`<Error><Code>…</Code><Message>…</Message>`), not partup's JSON; it
//! refuses a signature once it expired, which no partup request ever meets; and it says what it
//! stored in an `ETag` header, not a JSON body. Everything that knows the store is here: the
//! pipeline sees the same [`RequestFailure`]s as for `POST upload` (a `BadDigest` makes it read
//! and hash the part again, a 5xx or `SlowDown` is retried with backoff), plus one of its own,
//! [`FailureClass::Expired`] (signed again at once, see `retry.rs`).
//!
//! The pure part (reading the store's answers, deciding whether a signature may still be sent)
//! takes the clock as an argument and is unit-tested natively, like `retry.rs`.

use crate::error::{Reason, UploadError};
use crate::http::RequestFailure;
use crate::retry::FailureClass;
use std::collections::BTreeMap;

/// Where `needle` first occurs in `haystack`, comparing ASCII letters case-insensitively when
/// `any_case`. A plain scan: the bodies searched are a few hundred bytes, and `str::find` would
/// link the Two-Way searcher (kilobytes of the package) for them.
fn position(haystack: &str, needle: &str, any_case: bool) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| {
            if any_case {
                window.eq_ignore_ascii_case(needle)
            } else {
                window == needle
            }
        })
}

/// One field of an S3 XML error body (`Code`, `Message`, `RequestId`), by plain string search.
/// The bodies are small and flat; an XML parser would cost the package tens of KB for it.
pub fn xml_field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    // `get`, not `[..]`: a slice that can panic links the panic's message formatting (4 KB).
    let rest = body.get(position(body, &open, false)? + open.len()..)?;
    Some(rest.get(..position(rest, &close, false)?)?.trim())
}

/// What the store's answer to a part's `PUT` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAnswer {
    /// 200, and the `ETag` names the part's MD5 (or CORS hid it, see [`store_answer`]).
    Stored,
    /// 200, but the `ETag` names other bytes than the part's.
    OtherEtag(String),
    /// The store refused the signature as expired.
    Expired {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Any other error answer, with the store's code and message when its body had them.
    Failed {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    },
}

/// Whether the store's refusal says the signature expired. AWS and MinIO answer `403
/// AccessDenied` "Request has expired"; Garage `400 InvalidRequest` "Date is too old". Only the
/// store's message says it: a 403 is also what a bucket policy or wrong credentials give, which no
/// new signature fixes.
fn says_expired(status: u16, code: Option<&str>, message: &str) -> bool {
    let expired = position(message, "expired", true).is_some()
        || position(message, "too old", true).is_some();
    matches!(
        (status, code),
        (403, Some("AccessDenied")) | (400, Some("InvalidRequest")) | (400 | 403, None)
    ) && expired
}

/// Reads the store's answer to the `PUT` of a part whose MD5 is `md5_hex`. `etag`: the `ETag`
/// header, `None` when the bucket's CORS rule does not expose it (the browser hides it then).
/// Such a 200 still counts as stored: the request carried the part's `Content-MD5`, signed in,
/// so the store answers 200 only after it hashed the bytes it got to that MD5 (else
/// `BadDigest`), and uploadComplete checks every part's MD5 against the store's list again.
pub fn store_answer(status: u16, body: &str, etag: Option<&str>, md5_hex: &str) -> StoreAnswer {
    if status == 200 {
        let unquoted = |e: &'_ str| {
            let e = e.trim();
            e.strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .unwrap_or(e)
                .to_string()
        };
        return match etag.map(unquoted) {
            Some(etag) if !etag.eq_ignore_ascii_case(md5_hex) => StoreAnswer::OtherEtag(etag),
            _ => StoreAnswer::Stored,
        };
    }
    let code = xml_field(body, "Code");
    let message = xml_field(body, "Message");
    if says_expired(status, code, message.unwrap_or("")) {
        return StoreAnswer::Expired {
            status,
            code: code.map(str::to_string),
            message: message.unwrap_or("").to_string(),
        };
    }
    StoreAnswer::Failed {
        status,
        code: code.map(str::to_string),
        message: message.map(str::to_string),
        request_id: xml_field(body, "RequestId").map(str::to_string),
    }
}

/// The store's answer as the failure the retry loop sees (`None`: the part is stored).
/// `part`: its number, for the messages.
pub fn store_failure(
    answer: StoreAnswer,
    part: u32,
    retry_after_ms: Option<f64>,
) -> Option<RequestFailure> {
    let failure = match answer {
        StoreAnswer::Stored => return None,
        // Retried like a 200 that is not partup's (a proxy's): the bytes are sent again.
        StoreAnswer::OtherEtag(etag) => RequestFailure::unexpected(
            Reason::Mismatch,
            format!("the store stored part {part} with ETag {etag}, not the part's MD5"),
        ),
        StoreAnswer::Expired {
            status,
            code,
            message,
        } => {
            // Shown only when the store refuses a signature just made as well (retry.rs): then
            // clocks, not time spent sending, are the cause.
            let message = format!(
                "the store refused the signature of part {part} as expired although partup had \
                 just made it (\"{message}\"): the clocks of partup and the store may differ by \
                 more than --direct-part-expiry"
            );
            let code = code.unwrap_or_else(|| format!("Http{status}"));
            RequestFailure {
                error: UploadError::from_server(status, code, message, None),
                class: FailureClass::Expired,
                retry_after_ms: None,
            }
        }
        StoreAnswer::Failed {
            status,
            code,
            message,
            request_id,
        } => {
            let message = format!(
                "the store answered the part's PUT with HTTP {status}: {}: {}",
                code.as_deref().unwrap_or("no S3 error code"),
                message.as_deref().unwrap_or("(no message)")
            );
            let error = match code {
                // The store's codes that are partup's too (BadDigest, AccessDenied, NoSuchUpload,
                // InternalError…) mean what they mean there; SlowDown and others are kept as sent
                // and handled by their status.
                Some(code) => UploadError::from_server(status, code, message, request_id),
                None => UploadError::from_http_status(status, message),
            };
            RequestFailure {
                class: FailureClass::Http {
                    status,
                    code: error.server_code(),
                },
                error,
                retry_after_ms,
            }
        }
    };
    Some(failure)
}

/// The most a signature's last moments are spared: a request sent later may reach the store too
/// late, so it is signed again instead.
const MOST_MARGIN_MS: f64 = 30_000.0;

/// The lifetime in the signed URL's `X-Amz-Expires` (seconds, as the store counts it).
fn url_lifetime_ms(url: &str) -> Option<f64> {
    const KEY: &str = "X-Amz-Expires=";
    let value = url.get(position(url, KEY, false)? + KEY.len()..)?;
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let seconds = value.get(..digits)?.parse::<u64>().ok()?;
    Some(seconds as f64 * 1000.0)
}

/// Until when (this clock, ms) a signature asked for at `signed_at_ms` may be sent. Its lifetime
/// is the URL's `X-Amz-Expires` when it has one, counted from when it was asked for: that holds
/// whatever this clock's offset from partup's. Else `expires_at_ms` (the answer's `expiresAt`,
/// read with this clock), else none: the signature is used once. A margin of a quarter of the
/// lifetime, at most 30 s, leaves the request time to arrive.
pub fn send_before_ms(url: &str, expires_at_ms: Option<f64>, signed_at_ms: f64) -> f64 {
    let lifetime = url_lifetime_ms(url)
        .or_else(|| expires_at_ms.map(|at| at - signed_at_ms))
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .unwrap_or(0.0);
    signed_at_ms + lifetime - (lifetime / 4.0).min(MOST_MARGIN_MS)
}

/// A signed request for one part.
#[derive(Debug, Clone, PartialEq)]
pub struct Signed {
    pub url: String,
    pub method: String,
    /// The headers to send (without `Content-Length` and `Host`: the browser sets them).
    pub headers: Vec<(String, String)>,
    /// The MD5 it was signed for.
    pub md5_hex: String,
    /// See [`send_before_ms`].
    pub send_before_ms: f64,
}

impl Signed {
    /// Whether it may be sent at `now_ms` for a part whose MD5 is `md5_hex`: never one signed for
    /// other bytes, never one that would reach the store expired (after a pause, a long backoff).
    pub fn usable(&self, md5_hex: &str, now_ms: f64) -> bool {
        self.md5_hex == md5_hex && now_ms < self.send_before_ms
    }
}

/// Which of signPart's headers the page sends itself: the browser refuses to set the ones it
/// owns (`Content-Length`, `Host`) and fills them in from the request.
pub fn headers_to_send(headers: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let browsers = |name: &String| {
        name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("host")
    };
    (headers.iter())
        .filter(|(name, _)| !browsers(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}
/// The signatures of the parts on their way (one per part, the newest): a retry after a network
/// error or a 503 reuses its part's while it is [`Signed::usable`], instead of asking partup
/// again. A short list, as the pipeline's slices are.
#[derive(Default)]
pub struct Signatures(std::cell::RefCell<Vec<(u32, Signed)>>);

impl Signatures {
    /// Part `number`'s signature, if it may be sent for `md5_hex` at `now_ms`.
    pub fn usable(&self, number: u32, md5_hex: &str, now_ms: f64) -> Option<Signed> {
        let list = self.0.borrow();
        let (_, signed) = list.iter().find(|(n, _)| *n == number)?;
        signed.usable(md5_hex, now_ms).then(|| signed.clone())
    }

    pub fn keep(&self, number: u32, signed: Signed) {
        self.forget(number);
        self.0.borrow_mut().push((number, signed));
    }

    pub fn forget(&self, number: u32) {
        self.0.borrow_mut().retain(|(n, _)| *n != number);
    }
}

mod sending;
pub use sending::send_part;

#[cfg(test)]
mod tests;
