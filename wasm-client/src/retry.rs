//! The retry policy: which failures are worth another attempt, and how long to wait first.
//!
//! Pure (randomness and the clock are passed in) so it is unit-tested natively. Exponential
//! backoff with *full jitter* (a uniform delay in `[0, cap]`) keeps many clients that failed
//! together from retrying together; a server's `Retry-After` is a floor the delay never undercuts.

use partup_wire::{Endpoint, ErrorCode};

/// How a request failed, as far as the retry decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The request never got an HTTP answer (offline, DNS, connection reset, CORS refusal), or
    /// got one that is not partup's (a proxy answered for the server).
    Network,
    /// No byte moved for the stall timeout; the request was aborted.
    Stalled,
    /// The server answered with this status and error code (`None`: none this client knows).
    Http {
        status: u16,
        code: Option<ErrorCode>,
    },
    /// Nothing another attempt can fix, found before any answer (the file cannot be read, the
    /// `headers` function returned something that is not headers).
    Local,
}

/// Whether an HTTP status means "try again later" rather than "this request is wrong".
pub fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// Retry or not: network errors, stalls, 5xx, 408 and 429 are transient; a part's `BadDigest`
/// means damage in transit (re-reading, re-hashing and re-sending the part can succeed). Any
/// other 4xx is the request's own fault and fails at once.
pub fn is_retryable(failure: FailureClass, endpoint: Endpoint) -> bool {
    match failure {
        FailureClass::Network | FailureClass::Stalled => true,
        FailureClass::Http { status, code } => {
            is_transient_status(status)
                || (endpoint == Endpoint::UploadPart && code == Some(ErrorCode::BadDigest))
        }
        FailureClass::Local => false,
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Give up: the failure is the upload's.
    Fail,
    /// A `401 Unauthorized` (the token expired between requests): call the `headers` function
    /// again and resend at once, without backoff and without using up a retry.
    RefreshNow,
    /// A transient failure: wait the backoff, then retry (one of `max_retries`).
    Backoff,
}

/// Whether the server refused the request's credentials.
pub fn is_unauthorized(failure: FailureClass) -> bool {
    matches!(failure, FailureClass::Http { status: 401, .. })
}

/// The step after `failure`, with `retries` retries used of `max_retries`. `can_refresh`: the
/// `headers` option is a function, and the previous attempt was not already a refresh (so a
/// token the app cannot renew fails after one fresh try instead of looping).
pub fn next_step(
    failure: FailureClass,
    endpoint: Endpoint,
    retries: u32,
    max_retries: u32,
    can_refresh: bool,
) -> Next {
    if is_unauthorized(failure) {
        return if can_refresh {
            Next::RefreshNow
        } else {
            Next::Fail
        };
    }
    if retries < max_retries && is_retryable(failure, endpoint) {
        Next::Backoff
    } else {
        Next::Fail
    }
}

/// The longest `Retry-After` honoured; a bigger one is treated as this, so a misconfigured proxy
/// cannot park an upload for hours.
pub const MAX_RETRY_AFTER_MS: f64 = 10.0 * 60.0 * 1000.0;

/// How many times and how patiently to retry one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts in all).
    pub max_retries: u32,
    /// Cap of the first retry's delay; doubles per retry.
    pub base_delay_ms: f64,
    /// The cap never grows past this.
    pub max_delay_ms: f64,
}

impl Default for RetryPolicy {
    /// Ten retries growing to 60 s ride out a few minutes of outage (Uppy's users lose uploads
    /// to outages over 30 s).
    fn default() -> Self {
        RetryPolicy {
            max_retries: 10,
            base_delay_ms: 500.0,
            max_delay_ms: 60_000.0,
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1-based). `random` is uniform in `[0, 1)`;
    /// `retry_after_ms` is the server's `Retry-After`, when it sent (and CORS exposed) one.
    pub fn delay_ms(&self, retry: u32, random: f64, retry_after_ms: Option<f64>) -> f64 {
        let exponent = retry.saturating_sub(1).min(30) as i32;
        let cap = (self.base_delay_ms * 2f64.powi(exponent)).min(self.max_delay_ms);
        let jittered = random.clamp(0.0, 1.0) * cap;
        match retry_after_ms {
            Some(floor) => jittered.max(floor.clamp(0.0, MAX_RETRY_AFTER_MS)),
            None => jittered,
        }
    }
}

/// Parses a `Retry-After` given in seconds. (The HTTP-date form needs a date parser; the
/// transport handles it with the browser's.)
pub fn parse_retry_after_seconds(value: &str) -> Option<f64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Integer parsing: a float parser would add kilobytes to the .wasm.
    value.parse::<u64>().ok().map(|s| s as f64 * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_retried_and_client_errors_are_not() {
        let http = |status, code| FailureClass::Http { status, code };
        for endpoint in Endpoint::ALL {
            assert!(is_retryable(FailureClass::Network, endpoint));
            assert!(is_retryable(FailureClass::Stalled, endpoint));
            assert!(!is_retryable(FailureClass::Local, endpoint));
            assert!(is_retryable(
                http(500, Some(ErrorCode::InternalError)),
                endpoint
            ));
            assert!(is_retryable(
                http(503, Some(ErrorCode::ServiceUnavailable)),
                endpoint
            ));
            assert!(is_retryable(http(502, None), endpoint));
            assert!(is_retryable(http(408, None), endpoint));
            assert!(is_retryable(http(429, None), endpoint));
            assert!(!is_retryable(
                http(400, Some(ErrorCode::InvalidObjectName)),
                endpoint
            ));
            assert!(!is_retryable(
                http(404, Some(ErrorCode::NoSuchUpload)),
                endpoint
            ));
            assert!(!is_retryable(
                http(413, Some(ErrorCode::EntityTooLarge)),
                endpoint
            ));
        }
        let bad_digest = http(400, Some(ErrorCode::BadDigest));
        assert!(is_retryable(bad_digest, Endpoint::UploadPart));
        assert!(!is_retryable(bad_digest, Endpoint::UploadComplete));
    }

    #[test]
    fn unauthorized_refreshes_once_at_once_and_other_refusals_fail() {
        let http = |status, code| FailureClass::Http {
            status,
            code: Some(code),
        };
        let unauthorized = http(401, ErrorCode::Unauthorized);
        let part = Endpoint::UploadPart;
        assert_eq!(next_step(unauthorized, part, 0, 3, true), Next::RefreshNow);
        // Even with every retry used: a refresh is not a retry.
        assert_eq!(next_step(unauthorized, part, 3, 3, true), Next::RefreshNow);
        // A static token, or a refreshed token refused again: fail.
        assert_eq!(next_step(unauthorized, part, 0, 3, false), Next::Fail);
        let denied = http(403, ErrorCode::AccessDenied);
        let exists = http(409, ErrorCode::ObjectExists);
        for endpoint in Endpoint::ALL {
            assert_eq!(next_step(denied, endpoint, 0, 3, true), Next::Fail);
            assert_eq!(next_step(exists, endpoint, 0, 3, true), Next::Fail);
        }
        assert_eq!(
            next_step(FailureClass::Network, part, 2, 3, true),
            Next::Backoff
        );
        assert_eq!(
            next_step(FailureClass::Network, part, 3, 3, true),
            Next::Fail
        );
        assert!(!is_unauthorized(FailureClass::Network));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay_ms: 100.0,
            max_delay_ms: 1000.0,
        };
        assert_eq!(p.delay_ms(1, 0.999_999, None).round(), 100.0);
        assert_eq!(p.delay_ms(2, 0.999_999, None).round(), 200.0);
        assert_eq!(p.delay_ms(3, 0.999_999, None).round(), 400.0);
        assert_eq!(p.delay_ms(5, 0.999_999, None).round(), 1000.0);
        assert_eq!(p.delay_ms(60, 0.5, None), 500.0);
        assert_eq!(p.delay_ms(3, 0.0, None), 0.0);
        assert_eq!(p.delay_ms(3, 0.5, None), 200.0);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay_ms: 100.0,
            max_delay_ms: 1000.0,
        };
        assert_eq!(p.delay_ms(1, 0.5, Some(3000.0)), 3000.0);
        assert_eq!(p.delay_ms(5, 0.9, Some(10.0)), 900.0);
        assert_eq!(p.delay_ms(1, 0.0, Some(1e12)), MAX_RETRY_AFTER_MS);
    }

    #[test]
    fn retry_after_seconds_parse() {
        assert_eq!(parse_retry_after_seconds("3"), Some(3000.0));
        assert_eq!(parse_retry_after_seconds(" 0 "), Some(0.0));
        assert_eq!(parse_retry_after_seconds("-1"), None);
        assert_eq!(
            parse_retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"),
            None
        );
        assert_eq!(parse_retry_after_seconds(""), None);
    }
}
