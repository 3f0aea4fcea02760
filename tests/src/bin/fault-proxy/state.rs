//! The counters and the request log `GET /__proxy/stats` answers, and the state they live in.

use crate::rules::{AnswerRule, FaultConfig};
use serde::Serialize;
use std::time::Instant;

/// Every API request the proxy saw, for tests that look at timing (Retry-After) or order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    pub endpoint: String,
    /// Milliseconds since the config was set.
    pub at_ms: u64,
    /// The status of an answer the proxy gave itself (`answers`, or a `…Fail503`).
    pub injected: Option<u16>,
}

/// The log keeps the first this many requests.
pub const MAX_LOGGED: usize = 10_000;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Part uploads received (every attempt, faulted or not).
    pub part_requests: u64,
    /// Part uploads whose upstream answer was 200.
    pub parts_stored: u64,
    /// Part uploads whose upstream answer was 400 BadDigest (after a corruption).
    pub bad_digest_answers: u64,
    pub parts_in_flight: u64,
    pub max_concurrent_parts: u64,
    pub init_requests: u64,
    pub complete_requests: u64,
    pub list_parts_requests: u64,
    pub abort_requests: u64,
    pub list_uploads_requests: u64,
    /// `POST signPart` (direct parts, SPEC.md §6).
    pub sign_part_requests: u64,
    pub other_requests: u64,
    pub injected_503: u64,
    pub resets: u64,
    pub corrupted: u64,
    pub stalled: u64,
    pub delayed: u64,
    /// uploadComplete answers dropped after the server gave them.
    pub lost_answers: u64,
    /// API requests of every kind.
    pub api_requests: u64,
    /// Requests answered by an `answers` rule.
    pub answered: u64,
    /// `--store`: the store's error answers to parts, by their `<Code>`.
    pub store_errors: std::collections::BTreeMap<String, u64>,
    /// `--store`: error answers whose message says the signature expired (AWS: "Request has
    /// expired"; Garage: "Date is too old").
    pub store_expired: u64,
    /// Several upstreams: the requests each one answered, by its index (`"0"`, `"1"`…).
    pub served_by: std::collections::BTreeMap<String, u64>,
    /// Several upstreams: those whose last connection was refused (filled in when the stats are
    /// read, from the balancer's own state: a reset does not bring a killed upstream back).
    pub upstreams_down: Vec<usize>,
    pub log: Vec<LoggedRequest>,
}

pub struct State {
    pub config: FaultConfig,
    pub stats: Stats,
    /// When the config was last set: the log's time zero.
    pub since: Instant,
}

impl Default for State {
    fn default() -> Self {
        State {
            config: FaultConfig::default(),
            stats: Stats::default(),
            since: Instant::now(),
        }
    }
}

impl State {
    /// Counts a request that is not a part: whether an older rule answers it 503, whether its
    /// answer is to be lost, and the `answers` rule that answers it instead, if any.
    pub fn control_request(
        &mut self,
        is_post: bool,
        endpoint: &str,
    ) -> (bool, bool, Option<AnswerRule>) {
        let State { config, stats, .. } = self;
        let (fail503, lose_answer, k) = match (is_post, endpoint) {
            (true, "uploadInit") => {
                stats.init_requests += 1;
                let k = stats.init_requests;
                (k <= config.init_fail503, false, k)
            }
            (true, "uploadComplete") => {
                stats.complete_requests += 1;
                let k = stats.complete_requests;
                (false, k <= config.complete_lose_answer, k)
            }
            (true, "listParts") => {
                stats.list_parts_requests += 1;
                let k = stats.list_parts_requests;
                (k <= config.list_parts_fail503, false, k)
            }
            (true, "uploadAbort") => {
                stats.abort_requests += 1;
                (false, false, stats.abort_requests)
            }
            (true, "listUploads") => {
                stats.list_uploads_requests += 1;
                (false, false, stats.list_uploads_requests)
            }
            (true, "signPart") => {
                stats.sign_part_requests += 1;
                (false, false, stats.sign_part_requests)
            }
            _ => {
                stats.other_requests += 1;
                (false, false, stats.other_requests)
            }
        };
        // Preflights (and GETs) pass: an injected answer to an OPTIONS would look like a CORS
        // refusal, not like the server's answer.
        let answer = is_post
            .then(|| self.arrived(endpoint, k, fail503))
            .flatten();
        (fail503, lose_answer, answer)
    }

    /// Counts and logs the `k`-th API request to `endpoint`; returns the answer rule the proxy
    /// answers it with, if any (else `fail503`: an older rule answers it 503).
    pub fn arrived(&mut self, endpoint: &str, k: u64, fail503: bool) -> Option<AnswerRule> {
        self.stats.api_requests += 1;
        let rule = self.config.answer_for(endpoint, k, self.stats.api_requests);
        self.stats.answered += u64::from(rule.is_some());
        let injected = rule.as_ref().map(|r| r.status);
        self.log(endpoint, injected.or(fail503.then_some(503)));
        rule
    }

    fn log(&mut self, endpoint: &str, injected: Option<u16>) {
        if self.stats.log.len() < MAX_LOGGED {
            let at_ms = self.since.elapsed().as_millis() as u64;
            self.stats.log.push(LoggedRequest {
                endpoint: endpoint.to_string(),
                at_ms,
                injected,
            });
        }
    }
}
