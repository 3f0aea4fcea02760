//! The retry policy: which failures are worth another attempt, and how long to wait first.
//!
//! Pure (randomness and the clock are passed in) so it is unit-tested natively. Exponential
//! backoff with *full jitter* (a uniform delay in `[0, cap]`) keeps many clients that failed
//! together from retrying together; a server's `Retry-After` is a floor the delay never undercuts.

/// What kind of request failed; part uploads also retry a `BadDigest` (the bytes were damaged on
/// the way, so re-reading, re-hashing and re-sending can succeed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Init,
    Part,
    Complete,
    ListParts,
    Abort,
}

impl RequestKind {
    pub fn describe(self) -> &'static str {
        match self {
            RequestKind::Init => "uploadInit",
            RequestKind::Part => "upload (part)",
            RequestKind::Complete => "uploadComplete",
            RequestKind::ListParts => "listParts",
            RequestKind::Abort => "uploadAbort",
        }
    }
}

/// How a request failed, as far as the retry decision cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureClass<'a> {
    /// The request never got an HTTP answer (offline, DNS, connection reset, CORS refusal).
    Network,
    /// No byte moved for the stall timeout; the request was aborted.
    Stalled,
    /// The server answered with this status and error code.
    Http { status: u16, code: &'a str },
}

/// Retry or not: network errors, stalls, 5xx, 408 and 429 are transient; a part's `BadDigest`
/// means damage in transit. Any other 4xx is the request's own fault and fails at once.
pub fn is_retryable(failure: &FailureClass<'_>, kind: RequestKind) -> bool {
    match failure {
        FailureClass::Network | FailureClass::Stalled => true,
        FailureClass::Http { status, code } => {
            *status >= 500
                || *status == 408
                || *status == 429
                || (kind == RequestKind::Part && *code == "BadDigest")
        }
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
        for kind in [
            RequestKind::Init,
            RequestKind::Part,
            RequestKind::Complete,
            RequestKind::ListParts,
        ] {
            assert!(is_retryable(&FailureClass::Network, kind));
            assert!(is_retryable(&FailureClass::Stalled, kind));
            assert!(is_retryable(&http(500, "InternalError"), kind));
            assert!(is_retryable(&http(503, "ServiceUnavailable"), kind));
            assert!(is_retryable(&http(502, ""), kind));
            assert!(is_retryable(&http(408, ""), kind));
            assert!(is_retryable(&http(429, ""), kind));
            assert!(!is_retryable(&http(400, "InvalidObjectName"), kind));
            assert!(!is_retryable(&http(404, "NoSuchUpload"), kind));
            assert!(!is_retryable(&http(413, "EntityTooLarge"), kind));
        }
        assert!(is_retryable(&http(400, "BadDigest"), RequestKind::Part));
        assert!(!is_retryable(
            &http(400, "BadDigest"),
            RequestKind::Complete
        ));
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
