//! The retry budget: one token bucket per `Uploader`, shared by all its uploads and parts, so a
//! page cannot hammer a failing server with thousands of retries (each request's own `retries`
//! bound multiplies by the number of parts and files in flight; this one does not).
//!
//! The AWS SDKs' "retry quota", in units of retries: the bucket starts full at `retryBudget`
//! retries; a retry after an HTTP answer takes one, after a network error or a stall two (those
//! cost the server or the network more, and a dead server produces nothing else). A request that
//! succeeds at its first attempt puts a fifth of a retry back; one that succeeds after retrying
//! puts back what its last retry took. The bucket never holds more than it started with. Empty,
//! a failure that would be retried fails at once instead. Time alone refills nothing: only
//! successes show the server is back.
//!
//! Pure (no clock, no JS), so it is unit-tested natively.

use crate::retry::FailureClass;

/// Tokens per retry of the user's unit: whole numbers keep a fifth of a retry exact.
pub const TOKENS_PER_RETRY: u32 = 5;
/// A retry after an HTTP answer (5xx, 429, 408, a part's `BadDigest`).
pub const ANSWERED_RETRY_COST: u32 = TOKENS_PER_RETRY;
/// A retry after no answer at all (network error, stall): twice as dear.
pub const UNANSWERED_RETRY_COST: u32 = 2 * TOKENS_PER_RETRY;
/// Given back by a request that succeeds at its first attempt.
pub const FIRST_TRY_SUCCESS_REFUND: u32 = 1;
/// Default `retryBudget`, in retries: the AWS SDKs' 500-token quota.
pub const DEFAULT_RETRY_BUDGET: u32 = 100;

/// What a retry of this failure takes from the bucket.
pub fn retry_cost(failure: FailureClass) -> u32 {
    match failure {
        FailureClass::Network | FailureClass::Stalled => UNANSWERED_RETRY_COST,
        FailureClass::Http { .. } | FailureClass::Local | FailureClass::Expired => {
            ANSWERED_RETRY_COST
        }
    }
}

/// One Uploader's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryBudget {
    tokens: u32,
    capacity: u32,
}

impl RetryBudget {
    /// A full bucket of `retries` retries (0: no request is ever retried).
    pub fn new(retries: u32) -> RetryBudget {
        let capacity = retries.saturating_mul(TOKENS_PER_RETRY);
        RetryBudget {
            tokens: capacity,
            capacity,
        }
    }

    /// The bucket's size, in retries (the `retryBudget` option).
    pub fn retries(&self) -> u32 {
        self.capacity / TOKENS_PER_RETRY
    }

    /// Tokens left.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Takes a retry of `failure` from the bucket: the tokens taken, or `None` (nothing taken)
    /// when too few are left, and the failure must not be retried.
    pub fn try_spend(&mut self, failure: FailureClass) -> Option<u32> {
        let cost = retry_cost(failure);
        self.tokens = self.tokens.checked_sub(cost)?;
        Some(cost)
    }

    /// A request succeeded; `last_retry_cost` is what its last retry took (`None`: it succeeded
    /// at its first attempt).
    pub fn on_success(&mut self, last_retry_cost: Option<u32>) {
        let refund = last_retry_cost.unwrap_or(FIRST_TRY_SUCCESS_REFUND);
        self.tokens = self.tokens.saturating_add(refund).min(self.capacity);
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(DEFAULT_RETRY_BUDGET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP_503: FailureClass = FailureClass::Http {
        status: 503,
        code: None,
    };

    #[test]
    fn answered_failures_take_one_retry_and_unanswered_two() {
        let mut budget = RetryBudget::new(3);
        assert_eq!(budget.try_spend(HTTP_503), Some(5));
        assert_eq!(budget.try_spend(FailureClass::Network), Some(10));
        assert_eq!(budget.tokens(), 0);
        assert_eq!(budget.try_spend(HTTP_503), None);
        // A stall costs like a network error.
        let mut budget = RetryBudget::new(2);
        assert_eq!(budget.try_spend(FailureClass::Stalled), Some(10));
        assert_eq!(budget.try_spend(FailureClass::Stalled), None);
        assert_eq!(budget.tokens(), 0);
    }

    #[test]
    fn a_drained_budget_refuses_every_retry_and_takes_nothing() {
        let mut budget = RetryBudget::new(10);
        let granted = (0..100).filter(|_| budget.try_spend(HTTP_503).is_some());
        assert_eq!(granted.count(), 10);
        assert_eq!(budget.tokens(), 0);
        // One token short of a network retry: refused, and the token stays.
        budget.on_success(None);
        assert_eq!(budget.try_spend(FailureClass::Network), None);
        assert_eq!(budget.tokens(), 1);
        // Networks errors need two retries' worth: one retry's worth is not enough.
        let mut budget = RetryBudget::new(1);
        assert_eq!(budget.try_spend(FailureClass::Network), None);
        assert_eq!(budget.try_spend(HTTP_503), Some(5));
    }

    #[test]
    fn a_zero_budget_never_retries() {
        let mut budget = RetryBudget::new(0);
        assert_eq!(budget.try_spend(HTTP_503), None);
        budget.on_success(None);
        assert_eq!(
            budget.tokens(),
            0,
            "never above the capacity, even a zero one"
        );
    }

    #[test]
    fn successes_refund_a_fifth_or_the_last_retry_and_never_overfill() {
        let mut budget = RetryBudget::new(4);
        budget.on_success(None);
        assert_eq!(budget.tokens(), 20, "a full bucket stays full");
        let cost = budget.try_spend(FailureClass::Network);
        let cost2 = budget.try_spend(HTTP_503);
        assert_eq!(budget.tokens(), 5);
        // The request that retried (last retry: a 503) succeeds: that retry comes back.
        budget.on_success(cost2);
        assert_eq!(budget.tokens(), 10);
        budget.on_success(cost);
        assert_eq!(budget.tokens(), 20);
        budget.try_spend(HTTP_503);
        // Five first-try successes earn one retry back.
        for _ in 0..5 {
            budget.on_success(None);
        }
        assert_eq!(budget.tokens(), 20);
        assert_eq!(budget.retries(), 4);
    }

    #[test]
    fn the_default_is_a_hundred_retries() {
        let mut budget = RetryBudget::default();
        assert_eq!(budget.retries(), 100);
        let granted = (0..1000).filter(|_| budget.try_spend(FailureClass::Network).is_some());
        assert_eq!(granted.count(), 50, "network retries cost two");
    }
}
