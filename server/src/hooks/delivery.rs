//! The background task that delivers stored events to `--hook-url`, at least once: an event leaves
//! the queue only after the receiver answered 2xx. Failures are retried with exponential backoff
//! (capped, jittered), per event, kept in memory (a restart tries everything at once again). An
//! upload's events go in order: only the first stored event of each upload is tried, so its later
//! event waits until the earlier one was delivered. Stopped by dropping its [`DeliveryGuard`]; an
//! event cut off mid-way stays stored and is sent again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::HookSender;
use crate::storage::{EventKey, EventQueue, UploadId};

/// How often the queue is looked at when nothing was stored here (another instance sharing the
/// bucket may have stored events) and nothing waits for a retry.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The first retry waits about this long; each failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Events sent at once.
const CONCURRENT_DELIVERIES: usize = 8;
/// Events tried in one round at most, so a long backlog to a receiver that does not answer does
/// not hold up the next round for long (the ones that fail wait out their backoff meanwhile).
const EVENTS_PER_ROUND: usize = 64;

/// Aborts the delivery task when dropped.
pub struct DeliveryGuard(JoinHandle<()>);

impl Drop for DeliveryGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts delivering the events of `queue` to `url`.
pub fn spawn_delivery(queue: Arc<EventQueue>, sender: HookSender, url: String) -> DeliveryGuard {
    let mut delivery = Delivery {
        queue,
        sender,
        url,
        retries: HashMap::new(),
    };
    DeliveryGuard(tokio::spawn(async move {
        loop {
            let pause = delivery.round().await;
            if pause.is_zero() {
                continue;
            }
            let queue = delivery.queue.clone();
            tokio::select! {
                _ = queue.stored() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }))
}

/// An event that failed: how often, and when to try it again.
struct Retry {
    failures: u32,
    due: Instant,
}

struct Delivery {
    queue: Arc<EventQueue>,
    sender: HookSender,
    url: String,
    retries: HashMap<EventKey, Retry>,
}

impl Delivery {
    /// Tries every event that is due; returns how long to wait before the next round (zero when
    /// something was delivered: the upload's next event may be waiting).
    async fn round(&mut self) -> Duration {
        let keys = match self.queue.store.list_events().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!("cannot list the hook events to deliver: {e}");
                return POLL_INTERVAL;
            }
        };
        let now = Instant::now();
        let firsts = first_event_of_each_upload(keys);
        let listed: HashSet<&EventKey> = firsts.iter().collect();
        self.retries.retain(|key, _| listed.contains(key));
        let due: Vec<EventKey> = firsts
            .into_iter()
            .filter(|key| self.retries.get(key).is_none_or(|retry| retry.due <= now))
            .take(EVENTS_PER_ROUND)
            .collect();
        let this = &*self;
        let outcomes: Vec<(EventKey, Result<(), String>)> = futures_util::stream::iter(due)
            .map(|key| async move {
                let outcome = this.deliver(&key).await;
                (key, outcome)
            })
            .buffer_unordered(CONCURRENT_DELIVERIES)
            .collect()
            .await;
        let delivered = outcomes.iter().any(|(_, outcome)| outcome.is_ok());
        for (key, outcome) in outcomes {
            self.settle(key, outcome).await;
        }
        if delivered {
            return Duration::ZERO;
        }
        let next_retry = self.retries.values().map(|retry| retry.due).min();
        next_retry.map_or(POLL_INTERVAL, |due| {
            due.saturating_duration_since(Instant::now())
                .min(POLL_INTERVAL)
        })
    }

    /// POSTs one stored event; `Ok` once the receiver accepted it (or it is gone already).
    async fn deliver(&self, key: &EventKey) -> Result<(), String> {
        let body = match self.queue.store.read_event(key).await {
            Ok(Some(body)) => body,
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("cannot read the event: {e}")),
        };
        match self.sender.post(&self.url, body).await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("the receiver answered {}", response.status())),
            Err(e) => Err(format!("the receiver could not be reached: {e}")),
        }
    }

    /// Removes a delivered event, or schedules the next try of a failed one.
    async fn settle(&mut self, key: EventKey, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.retries.remove(&key);
                if let Err(e) = self.queue.store.remove_event(&key).await {
                    // It stays queued and is delivered again: receivers dedupe by id.
                    tracing::warn!(upload_id = %key.upload_id, "cannot remove a delivered event: {e}");
                }
            }
            Err(cause) => {
                let retry = self.retries.entry(key.clone()).or_insert(Retry {
                    failures: 0,
                    due: Instant::now(),
                });
                retry.failures += 1;
                retry.due = Instant::now() + backoff(retry.failures);
                if retry.failures.is_power_of_two() {
                    tracing::warn!(upload_id = %key.upload_id, failures = retry.failures, "hook event not delivered yet: {cause}");
                }
            }
        }
    }
}

/// The event of each upload that may be sent now: the one of its earliest step.
fn first_event_of_each_upload(keys: Vec<EventKey>) -> Vec<EventKey> {
    let mut firsts: BTreeMap<UploadId, EventKey> = BTreeMap::new();
    for key in keys {
        let first = firsts.entry(key.upload_id.clone()).or_insert(key.clone());
        if key.step < first.step {
            *first = key;
        }
    }
    firsts.into_values().collect()
}

/// The wait after the `failures`-th failure in a row: half of the capped exponential delay, plus a
/// random share of the other half (so instances and events do not retry in lockstep).
fn backoff(failures: u32) -> Duration {
    let exponential = FIRST_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let mut random = [0u8; 8];
    let _ = getrandom::fill(&mut random);
    let share = u64::from_le_bytes(random) as f64 / u64::MAX as f64;
    exponential / 2 + exponential.mul_f64(share / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jittered_up_to_its_cap() {
        for failures in 1..40 {
            let exponential = (FIRST_BACKOFF * 2u32.saturating_pow(failures - 1)).min(MAX_BACKOFF);
            let wait = backoff(failures);
            assert!(
                wait >= exponential / 2 && wait <= exponential,
                "{failures}: {wait:?}"
            );
        }
        assert!(backoff(30) <= MAX_BACKOFF);
    }

    #[test]
    fn only_the_earliest_event_of_an_upload_is_sent() {
        let (a, b) = (UploadId::generate().unwrap(), UploadId::generate().unwrap());
        let key = |upload_id: &UploadId, step| EventKey {
            upload_id: upload_id.clone(),
            step,
        };
        let mut firsts = first_event_of_each_upload(vec![key(&a, 2), key(&b, 2), key(&a, 1)]);
        firsts.sort();
        let mut expected = vec![key(&a, 1), key(&b, 2)];
        expected.sort();
        assert_eq!(firsts, expected);
    }
}
