//! The fault rules a test sets (`POST /__proxy/config`), and which answer a request gets.

use serde::{Deserialize, Serialize};

/// The fault rules; 0 disables a rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultConfig {
    pub fail503_every: u64,
    pub retry_after_seconds: Option<u64>,
    pub reset_every: u64,
    pub corrupt_every: u64,
    pub stall_every: u64,
    pub stall_ms: u64,
    pub delay_every: u64,
    pub delay_ms: u64,
    /// `delayEvery` holds the upstream's answer instead of the request: the body has been sent
    /// (and its upload progress reported) when the wait begins.
    pub delay_answer: bool,
    /// The first n uploadInit / listParts requests are answered 503.
    pub init_fail503: u64,
    pub list_parts_fail503: u64,
    /// The first n uploadComplete requests reach the server, but its answer is dropped with the
    /// connection (the client must retry, and the server answer the same 200 again).
    pub complete_lose_answer: u64,
    /// Answers the proxy gives itself (first match wins), before any other rule.
    pub answers: Vec<AnswerRule>,
}

/// One answer the proxy gives instead of forwarding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerRule {
    /// The endpoint's last path segment (`upload` for parts), or `*` for every POST.
    pub endpoint: String,
    pub status: u16,
    /// The partup error code of the body; `None`: a plain-text body, not partup's.
    pub code: Option<String>,
    pub message: Option<String>,
    /// `Retry-After`, sent as given (seconds, or any text).
    pub retry_after: Option<String>,
    /// `Retry-After` as the HTTP-date this many seconds from the answer.
    pub retry_after_date_in: Option<u64>,
    /// Only the first n requests it matches; `None`: all of them.
    pub first: Option<u64>,
}

impl FaultConfig {
    /// The answer for the `k`-th request to `endpoint`, the `n`-th API request in all.
    pub fn answer_for(&self, endpoint: &str, k: u64, n: u64) -> Option<AnswerRule> {
        let applies = |rule: &&AnswerRule| {
            let nth = match rule.endpoint.as_str() {
                "*" => n,
                name if name == endpoint => k,
                _ => return false,
            };
            rule.first.is_none_or(|first| nth <= first)
        };
        self.answers.iter().find(applies).cloned()
    }
}
