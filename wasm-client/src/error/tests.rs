use super::*;

#[test]
fn message_names_code_status_and_request() {
    let e = UploadError::from_server(
        400,
        "BadDigest".into(),
        "the part's bytes do not match its md5".into(),
        Some("r1".into()),
    )
    .with_part(3);
    assert_eq!(e.server_code(), Some(ErrorCode::BadDigest));
    assert_eq!(e.reason, Reason::Rejected);
    assert_eq!(
        e.full_message(),
        "partup: part 3: the part's bytes do not match its md5 (BadDigest, HTTP 400, requestId r1)"
    );
    assert!(UploadError::cancelled().is_cancelled());
}

#[test]
fn codes_and_reasons_follow_the_answer() {
    let gone = UploadError::from_server(404, "NoSuchUpload".into(), "m".into(), None);
    assert_eq!(gone.reason, Reason::UploadGone);
    for (status, code, reason) in [
        (401, "Unauthorized", Reason::Unauthorized),
        (403, "AccessDenied", Reason::AccessDenied),
        (409, "ObjectExists", Reason::ObjectExists),
    ] {
        let refused = UploadError::from_server(status, code.into(), "m".into(), None);
        assert_eq!(refused.reason, reason);
    }
    assert_eq!(Reason::AccessDenied.as_str(), "access-denied");
    let busy = UploadError::from_server(503, "ServiceUnavailable".into(), "m".into(), None);
    assert_eq!(busy.reason, Reason::ServerUnavailable);
    // A newer server's code stays representable, and keeps its name.
    let new = UploadError::from_server(429, "SlowDown".into(), "m".into(), None);
    assert_eq!(new.code, Code::UnknownServer("SlowDown".into()));
    assert_eq!(
        (new.code.name().as_str(), new.reason),
        ("SlowDown", Reason::ServerUnavailable)
    );
    let proxy = UploadError::from_http_status(404, "m".into());
    assert_eq!(
        (proxy.code.name().as_str(), proxy.reason),
        ("Http404", Reason::BadResponse)
    );
    assert_eq!(
        UploadError::from_http_status(502, "m".into()).reason,
        Reason::ServerUnavailable
    );
}

#[test]
fn a_full_server_is_its_own_reason_with_or_without_a_partup_body() {
    let full = UploadError::from_server(507, "InsufficientStorage".into(), "m".into(), None);
    assert_eq!(full.server_code(), Some(ErrorCode::InsufficientStorage));
    assert_eq!(
        (full.reason, full.reason.as_str()),
        (Reason::ServerFull, "server-full")
    );
    let proxy = UploadError::from_http_status(507, "m".into());
    assert_eq!(
        (proxy.code.name().as_str(), proxy.reason),
        ("Http507", Reason::ServerFull)
    );
    // Permanent 5xx are refusals, not unavailability.
    let unknown = UploadError::from_server(501, "NotImplemented".into(), "m".into(), None);
    assert_eq!(unknown.reason, Reason::Rejected);
    assert_eq!(
        UploadError::from_http_status(505, "m".into()).reason,
        Reason::BadResponse
    );
}

#[test]
fn giving_up_says_why() {
    let busy = || UploadError::from_server(503, "ServiceUnavailable".into(), "busy".into(), None);
    assert_eq!(busy().gave_up(GiveUp::Permanent, 100).message, "busy");
    assert_eq!(busy().gave_up(GiveUp::RetriesUsed(0), 100).message, "busy");
    let used = busy().gave_up(GiveUp::RetriesUsed(3), 100);
    assert_eq!(used.message, "busy; gave up after 3 retries");
    let spent = busy().gave_up(GiveUp::BudgetSpent, 10);
    assert!(
        spent.message.starts_with("busy; not retried: "),
        "{}",
        spent.message
    );
    assert!(
        spent
            .message
            .contains("retry budget (10 retries, option retryBudget)")
    );
    assert_eq!(
        (spent.code, spent.reason),
        (busy().code, Reason::ServerUnavailable)
    );
}
