//! The retry policy: which failures are worth another attempt, how many, and how long to wait.
//!
//! Pure (randomness, the clock and the Uploader's [`RetryBudget`] are passed in) so it is
//! unit-tested natively. Exponential backoff with *full jitter* (a uniform delay in `[0, cap]`)
//! keeps many clients that failed together from retrying together; a server's `Retry-After` is a
//! floor the delay never undercuts (up to [`MAX_RETRY_AFTER_MS`]).
//!
//! Which answers are retried, and how often:
//! - no answer (network error, stall), 502, 503, 504, 408, 429, other 5xx: up to `retries`;
//! - a plain 500: up to [`MAX_INTERNAL_ERROR_RETRIES`] (a server bug rarely fixes itself in
//!   seconds, and each attempt may cost it a whole part's I/O);
//! - a part's `BadDigest` (damage in transit; the part is read and hashed again): up to `retries`;
//! - 507 (the store is full), 501, 505, 506, 508, 510, 511 (the server cannot ever do this request
//!   as it is), and every other 4xx: never — the upload fails at once;
//! - 401 is resent once at once with fresh headers (not a retry);
//! - a direct part's signature the store refused as expired (`direct.rs`) is signed again and the
//!   part resent at once (not a retry either: waiting cannot help, a new signature does), once:
//!   a signature refused as expired again right after it was made fails the upload, as clocks
//!   apart, not time spent, are the cause.
//!
//! And every retry, of any upload of the Uploader, is paid from its [`RetryBudget`].

use crate::retry_budget::RetryBudget;
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
    /// The store refused a direct part's signature as expired (`direct.rs`).
    Expired,
}

/// Most retries of a request answered with a plain `500`, whatever `retries` says.
pub const MAX_INTERNAL_ERROR_RETRIES: u32 = 3;

/// Whether an HTTP status means "try again later" rather than "this request cannot work".
/// 5xx statuses that say the server can never do it as asked — 501 Not Implemented (an old
/// server or a wrong endpoint), 505, 506, 508, 510 (its configuration), 511 (a captive portal
/// wants a login first) and 507 Insufficient Storage (nothing more fits until space is freed) —
/// are not: retrying them only hammers it.
pub fn is_transient_status(status: u16) -> bool {
    match status {
        408 | 429 => true,
        501 | 505..=508 | 510 | 511 => false,
        500..=599 => true,
        _ => false,
    }
}

/// How many retries a request that failed like this may have had in all, given `max_retries`
/// (the `retries` option); 0: it fails at once.
pub fn retry_limit(failure: FailureClass, endpoint: Endpoint, max_retries: u32) -> u32 {
    match failure {
        FailureClass::Network | FailureClass::Stalled => max_retries,
        FailureClass::Http { status: 500, .. } => max_retries.min(MAX_INTERNAL_ERROR_RETRIES),
        FailureClass::Http { status, .. } if is_transient_status(status) => max_retries,
        // Damage in transit: re-reading, re-hashing and re-sending the part can succeed.
        FailureClass::Http {
            code: Some(ErrorCode::BadDigest),
            ..
        } if endpoint == Endpoint::UploadPart => max_retries,
        FailureClass::Http { .. } | FailureClass::Local | FailureClass::Expired => 0,
    }
}

/// Whether the server refused the request's credentials.
pub fn is_unauthorized(failure: FailureClass) -> bool {
    matches!(failure, FailureClass::Http { status: 401, .. })
}

/// Why a failure ends the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// No retry can fix it (a 4xx, a 507, a refused fresh token, a local error).
    Permanent,
    /// Retryable, but this many retries were made already, the most it may have.
    RetriesUsed(u32),
    /// Retryable, but the Uploader's retry budget is empty.
    BudgetSpent,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Give up: the failure is the upload's.
    Fail(GiveUp),
    /// A `401 Unauthorized` (the token expired between requests): call the `headers` function
    /// again and resend at once, without backoff and without using up a retry.
    RefreshNow,
    /// A transient failure: wait the backoff of this retry (1-based), then retry.
    Backoff(u32),
    /// A direct part's signature expired: sign again and resend at once, without backoff and
    /// without using up a retry.
    ResignNow,
}

/// One request's retries so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryState {
    retries: u32,
    /// Retries after a plain 500, counted apart: they have their own, smaller limit.
    internal_error_retries: u32,
    /// The next attempt resends after a 401, with fresh headers.
    refreshing: bool,
    /// What the last retry took from the budget: given back when the request then succeeds.
    last_cost: Option<u32>,
    /// The last failure was an expired signature: the attempt after it signed again.
    resigned: bool,
}

impl RetryState {
    /// Whether the next attempt is the resend after a 401 (its `headers` call then asks for a
    /// fresh token).
    pub fn refreshing(&self) -> bool {
        self.refreshing
    }

    /// The request succeeded: refunds `budget`.
    pub fn succeeded(&self, budget: &mut RetryBudget) {
        budget.on_success(self.last_cost);
    }

    /// The step after `failure`. `dynamic_headers`: the `headers` option is a function, so a 401
    /// can be answered with a fresh token (once: a token the app cannot renew fails after one
    /// fresh try instead of looping).
    pub fn next_step(
        &mut self,
        failure: FailureClass,
        endpoint: Endpoint,
        max_retries: u32,
        dynamic_headers: bool,
        budget: &mut RetryBudget,
    ) -> Next {
        let refreshed = std::mem::take(&mut self.refreshing);
        let resigned = std::mem::replace(&mut self.resigned, failure == FailureClass::Expired);
        if failure == FailureClass::Expired {
            // Expired again with a signature just made: another would fare no better.
            return if resigned {
                Next::Fail(GiveUp::Permanent)
            } else {
                Next::ResignNow
            };
        }
        if is_unauthorized(failure) {
            self.refreshing = dynamic_headers && !refreshed;
            return if self.refreshing {
                Next::RefreshNow
            } else {
                Next::Fail(GiveUp::Permanent)
            };
        }
        let limit = retry_limit(failure, endpoint, max_retries);
        let internal = matches!(failure, FailureClass::Http { status: 500, .. });
        let used = if internal {
            self.internal_error_retries
        } else {
            self.retries
        };
        if limit == 0 {
            return Next::Fail(GiveUp::Permanent);
        }
        if used >= limit || self.retries >= max_retries {
            return Next::Fail(GiveUp::RetriesUsed(self.retries));
        }
        let Some(cost) = budget.try_spend(failure) else {
            return Next::Fail(GiveUp::BudgetSpent);
        };
        self.last_cost = Some(cost);
        self.retries += 1;
        self.internal_error_retries += u32::from(internal);
        Next::Backoff(self.retries)
    }
}

/// The longest `Retry-After` honoured; a bigger one is treated as this, so a misconfigured
/// server or proxy cannot park an upload for hours (the request is retried then, and a server
/// still busy says so again).
pub const MAX_RETRY_AFTER_MS: f64 = 5.0 * 60.0 * 1000.0;

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
mod tests;
