//! The retry policy's unit tests (native: `cargo test -p partup --lib`).

use super::*;
use crate::retry_budget::{RetryBudget, TOKENS_PER_RETRY};

fn http(status: u16, code: Option<ErrorCode>) -> FailureClass {
    FailureClass::Http { status, code }
}

/// Feeds `failure` to a fresh request until it gives up; the steps taken and the reason.
fn run_until_fail(
    failure: FailureClass,
    endpoint: Endpoint,
    max_retries: u32,
    budget: &mut RetryBudget,
) -> (u32, GiveUp) {
    let mut state = RetryState::default();
    for backoffs in 0.. {
        match state.next_step(failure, endpoint, max_retries, true, budget) {
            Next::Backoff(n) => assert_eq!(n, backoffs + 1, "retries are numbered from 1"),
            Next::Fail(why) => return (backoffs, why),
            Next::RefreshNow => panic!("{failure:?} is not a 401"),
            Next::ResignNow => panic!("{failure:?} is not an expired signature"),
        }
    }
    unreachable!()
}

#[test]
fn transient_statuses_are_the_5xx_that_can_pass_and_408_and_429() {
    for status in [408, 429, 500, 502, 503, 504, 509, 520, 599] {
        assert!(is_transient_status(status), "{status}");
    }
    for status in [
        400, 401, 403, 404, 409, 413, 501, 505, 506, 507, 508, 510, 511, 200,
    ] {
        assert!(!is_transient_status(status), "{status}");
    }
}

#[test]
fn transient_failures_get_every_retry_and_a_plain_500_three() {
    for endpoint in Endpoint::ALL {
        let mut budget = RetryBudget::new(1000);
        let mut runs = |failure| run_until_fail(failure, endpoint, 10, &mut budget);
        let ten = (10, GiveUp::RetriesUsed(10));
        assert_eq!(runs(FailureClass::Network), ten);
        assert_eq!(runs(FailureClass::Stalled), ten);
        assert_eq!(runs(http(503, Some(ErrorCode::ServiceUnavailable))), ten);
        assert_eq!(runs(http(429, Some(ErrorCode::TooManyUploads))), ten);
        assert_eq!(runs(http(502, None)), ten);
        assert_eq!(runs(http(504, None)), ten);
        assert_eq!(runs(http(408, None)), ten);
        let three = (3, GiveUp::RetriesUsed(3));
        assert_eq!(runs(http(500, Some(ErrorCode::InternalError))), three);
        assert_eq!(runs(http(500, None)), three, "a proxy's 500 too");
    }
    // Fewer `retries` than three bound a 500 as well.
    let mut budget = RetryBudget::new(1000);
    let failure = http(500, Some(ErrorCode::InternalError));
    let run = run_until_fail(failure, Endpoint::UploadPart, 2, &mut budget);
    assert_eq!(run, (2, GiveUp::RetriesUsed(2)));
}

#[test]
fn a_500_after_other_failures_still_gets_its_own_three_within_retries() {
    let mut budget = RetryBudget::new(1000);
    let mut state = RetryState::default();
    let part = Endpoint::UploadPart;
    let internal = http(500, Some(ErrorCode::InternalError));
    for _ in 0..4 {
        let next = state.next_step(FailureClass::Network, part, 10, false, &mut budget);
        assert!(matches!(next, Next::Backoff(_)));
    }
    for n in 5..=7 {
        assert_eq!(
            state.next_step(internal, part, 10, false, &mut budget),
            Next::Backoff(n)
        );
    }
    let next = state.next_step(internal, part, 10, false, &mut budget);
    assert_eq!(next, Next::Fail(GiveUp::RetriesUsed(7)));
    // And the total still caps everything.
    let mut state = RetryState::default();
    for _ in 0..2 {
        state.next_step(FailureClass::Network, part, 2, false, &mut budget);
    }
    let next = state.next_step(internal, part, 2, false, &mut budget);
    assert_eq!(next, Next::Fail(GiveUp::RetriesUsed(2)));
}

#[test]
fn permanent_answers_fail_at_once_and_take_nothing_from_the_budget() {
    for endpoint in Endpoint::ALL {
        let mut budget = RetryBudget::new(10);
        for failure in [
            http(507, Some(ErrorCode::InsufficientStorage)),
            http(507, None),
            http(501, None),
            http(505, None),
            http(511, None),
            http(400, Some(ErrorCode::InvalidObjectName)),
            http(404, Some(ErrorCode::NoSuchUpload)),
            http(413, Some(ErrorCode::EntityTooLarge)),
            http(403, Some(ErrorCode::AccessDenied)),
            http(409, Some(ErrorCode::ObjectExists)),
            FailureClass::Local,
        ] {
            let run = run_until_fail(failure, endpoint, 10, &mut budget);
            assert_eq!(run, (0, GiveUp::Permanent), "{failure:?}");
        }
        assert_eq!(budget, RetryBudget::new(10));
    }
    let bad_digest = http(400, Some(ErrorCode::BadDigest));
    let mut budget = RetryBudget::new(100);
    let part = run_until_fail(bad_digest, Endpoint::UploadPart, 4, &mut budget);
    assert_eq!(part, (4, GiveUp::RetriesUsed(4)));
    let complete = run_until_fail(bad_digest, Endpoint::UploadComplete, 4, &mut budget);
    assert_eq!(complete, (0, GiveUp::Permanent));
}

#[test]
fn unauthorized_refreshes_once_at_once_and_other_refusals_fail() {
    let unauthorized = http(401, Some(ErrorCode::Unauthorized));
    let part = Endpoint::UploadPart;
    let mut budget = RetryBudget::new(1);
    let mut state = RetryState::default();
    let mut step = |state: &mut RetryState, failure, dynamic| {
        state.next_step(failure, part, 3, dynamic, &mut budget)
    };
    assert_eq!(step(&mut state, unauthorized, true), Next::RefreshNow);
    assert!(state.refreshing());
    // The refreshed token refused again: fail, not loop.
    let refused_again = step(&mut state, unauthorized, true);
    assert_eq!(refused_again, Next::Fail(GiveUp::Permanent));
    // A static token: fail at once.
    let mut fixed = RetryState::default();
    let fixed_step = step(&mut fixed, unauthorized, false);
    assert_eq!(fixed_step, Next::Fail(GiveUp::Permanent));
    // After a refresh, another kind of failure is retried as usual, and a later 401 may
    // refresh again; a refresh is not a retry and costs no budget.
    let mut state = RetryState::default();
    assert_eq!(step(&mut state, unauthorized, true), Next::RefreshNow);
    assert_eq!(step(&mut state, http(503, None), true), Next::Backoff(1));
    assert!(!state.refreshing());
    assert_eq!(step(&mut state, unauthorized, true), Next::RefreshNow);
    assert_eq!(
        step(&mut state, http(503, None), true),
        Next::Fail(GiveUp::BudgetSpent)
    );
}

#[test]
fn an_empty_budget_fails_retryable_failures_at_once() {
    let mut budget = RetryBudget::new(5);
    let unavailable = http(503, Some(ErrorCode::ServiceUnavailable));
    let first = run_until_fail(unavailable, Endpoint::UploadPart, 10, &mut budget);
    assert_eq!(first, (5, GiveUp::BudgetSpent));
    // Every later request, of any upload, now fails at its first failure.
    for failure in [FailureClass::Network, unavailable, http(500, None)] {
        let run = run_until_fail(failure, Endpoint::UploadInit, 10, &mut budget);
        assert_eq!(run, (0, GiveUp::BudgetSpent));
    }
    // Network errors cost two: three retries' worth buys one, not three.
    let mut budget = RetryBudget::new(3);
    let network = run_until_fail(FailureClass::Network, Endpoint::UploadPart, 10, &mut budget);
    assert_eq!(network, (1, GiveUp::BudgetSpent));
}

#[test]
fn a_success_after_retries_gives_the_last_retry_back() {
    let mut budget = RetryBudget::new(2);
    let mut state = RetryState::default();
    let part = Endpoint::UploadPart;
    state.next_step(FailureClass::Network, part, 10, false, &mut budget);
    assert_eq!(budget.tokens(), 0);
    state.succeeded(&mut budget);
    assert_eq!(budget.tokens(), 2 * TOKENS_PER_RETRY);
    // A first-try success gives a fifth of a retry (but never overfills).
    let mut budget = RetryBudget::new(2);
    budget.try_spend(http(503, None));
    RetryState::default().succeeded(&mut budget);
    assert_eq!(budget.tokens(), TOKENS_PER_RETRY + 1);
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
fn retry_after_is_a_floor_capped_at_five_minutes() {
    let p = RetryPolicy {
        max_retries: 5,
        base_delay_ms: 100.0,
        max_delay_ms: 1000.0,
    };
    // 429/503 with Retry-After: 2 wait at least 2 s, whatever the jitter drew.
    for random in [0.0, 0.5, 0.999] {
        assert!(p.delay_ms(1, random, Some(2000.0)) >= 2000.0);
    }
    assert_eq!(p.delay_ms(1, 0.5, Some(3000.0)), 3000.0);
    assert_eq!(p.delay_ms(5, 0.9, Some(10.0)), 900.0);
    assert_eq!(p.delay_ms(1, 0.0, Some(1e12)), MAX_RETRY_AFTER_MS);
    assert_eq!(MAX_RETRY_AFTER_MS, 300_000.0);
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

#[test]
fn an_expired_signature_is_signed_again_at_once_without_a_retry_or_the_budget() {
    let mut budget = RetryBudget::new(0);
    let mut state = RetryState::default();
    let part = Endpoint::UploadPart;
    let step = |state: &mut RetryState, failure, budget: &mut RetryBudget| {
        state.next_step(failure, part, 10, false, budget)
    };
    assert_eq!(
        step(&mut state, FailureClass::Expired, &mut budget),
        Next::ResignNow
    );
    // The fresh signature then met a network error: an ordinary retry (here, no budget left).
    assert_eq!(
        step(&mut state, FailureClass::Network, &mut budget),
        Next::Fail(GiveUp::BudgetSpent)
    );
    let mut budget = RetryBudget::new(1000);
    let mut state = RetryState::default();
    assert_eq!(
        step(&mut state, FailureClass::Expired, &mut budget),
        Next::ResignNow
    );
    assert_eq!(
        step(&mut state, FailureClass::Network, &mut budget),
        Next::Backoff(1)
    );
    // A later expiry (a reused signature outlived a long backoff) is signed again too.
    assert_eq!(
        step(&mut state, FailureClass::Expired, &mut budget),
        Next::ResignNow
    );
}

#[test]
fn a_signature_refused_as_expired_right_after_it_was_made_fails_instead_of_looping() {
    let mut budget = RetryBudget::new(1000);
    let mut state = RetryState::default();
    let part = Endpoint::UploadPart;
    let first = state.next_step(FailureClass::Expired, part, 10, true, &mut budget);
    assert_eq!(first, Next::ResignNow);
    let again = state.next_step(FailureClass::Expired, part, 10, true, &mut budget);
    assert_eq!(again, Next::Fail(GiveUp::Permanent));
}

#[test]
fn the_stores_bad_digest_is_retried_like_partups_and_its_refusals_are_not() {
    let mut budget = RetryBudget::new(1000);
    let part = Endpoint::UploadPart;
    let bad_digest = http(400, Some(ErrorCode::BadDigest));
    assert_eq!(
        run_until_fail(bad_digest, part, 10, &mut budget),
        (10, GiveUp::RetriesUsed(10))
    );
    for refusal in [
        http(403, Some(ErrorCode::AccessDenied)),
        http(403, None),
        http(400, None),
    ] {
        assert_eq!(
            run_until_fail(refusal, part, 10, &mut budget),
            (0, GiveUp::Permanent)
        );
    }
    // SlowDown: a 503 with a code partup does not know.
    assert_eq!(
        run_until_fail(http(503, None), part, 10, &mut budget),
        (10, GiveUp::RetriesUsed(10))
    );
}
