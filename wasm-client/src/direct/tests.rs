//! The store's answers and the signatures' lifetimes (native: `cargo test -p partup --lib`).

use super::*;
use crate::error::Code;
use partup_wire::ErrorCode;

const MD5: &str = "9e107d9d372bb6826bd81d3542a419d6";

/// An S3 error body as the stores send it.
fn s3_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><Resource>/partup/k</Resource>\
         <RequestId>4442587FB7D0A2F9</RequestId></Error>"
    )
}

#[test]
fn xml_fields_are_found_by_their_tags_and_trimmed() {
    let body = "<Error>\n  <Code>SlowDown</Code>\n  <Message> Please reduce your request rate. </Message>\n</Error>";
    assert_eq!(xml_field(body, "Code"), Some("SlowDown"));
    assert_eq!(
        xml_field(body, "Message"),
        Some("Please reduce your request rate.")
    );
    assert_eq!(xml_field(body, "RequestId"), None);
    assert_eq!(xml_field("<Code>unclosed", "Code"), None);
    assert_eq!(xml_field("<html>502 Bad Gateway</html>", "Code"), None);
    assert_eq!(xml_field("<Code></Code>", "Code"), Some(""));
}

#[test]
fn a_200_is_stored_when_the_etag_is_the_md5_or_cors_hides_it() {
    let quoted = format!("\"{MD5}\"");
    assert_eq!(
        store_answer(200, "", Some(&quoted), MD5),
        StoreAnswer::Stored
    );
    let upper = MD5.to_ascii_uppercase();
    assert_eq!(
        store_answer(200, "", Some(&upper), MD5),
        StoreAnswer::Stored
    );
    assert_eq!(store_answer(200, "", None, MD5), StoreAnswer::Stored);
    assert_eq!(
        store_answer(200, "", Some("\"d41d8cd98f00b204e9800998ecf8427e\""), MD5),
        StoreAnswer::OtherEtag("d41d8cd98f00b204e9800998ecf8427e".into())
    );
}

#[test]
fn expiry_is_what_aws_minio_and_garage_say_when_a_signature_is_too_old() {
    let aws = s3_error("AccessDenied", "Request has expired");
    let garage = s3_error("InvalidRequest", "Bad request: Date is too old");
    let shouting = s3_error("AccessDenied", "REQUEST HAS EXPIRED");
    for (status, body) in [(403, &aws), (400, &garage), (403, &shouting)] {
        assert!(
            matches!(
                store_answer(status, body, None, MD5),
                StoreAnswer::Expired { .. }
            ),
            "{status} {body}"
        );
    }
}

#[test]
fn a_403_that_does_not_say_expired_is_a_refusal_not_an_expiry() {
    for body in [
        s3_error("AccessDenied", "Access Denied"),
        s3_error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match",
        ),
        s3_error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided has expired",
        ),
        String::new(),
    ] {
        let answer = store_answer(403, &body, None, MD5);
        assert!(
            matches!(answer, StoreAnswer::Failed { status: 403, .. }),
            "{body}"
        );
        let failure = store_failure(answer, 2, None).unwrap();
        assert!(matches!(
            failure.class,
            FailureClass::Http { status: 403, .. }
        ));
    }
    let denied = store_answer(403, &s3_error("AccessDenied", "Access Denied"), None, MD5);
    let failure = store_failure(denied, 2, None).unwrap();
    assert_eq!(failure.error.reason, Reason::AccessDenied);
    assert!(
        failure
            .error
            .message
            .contains("AccessDenied: Access Denied")
    );
    assert_eq!(
        failure.error.request_id.as_deref(),
        Some("4442587FB7D0A2F9")
    );
}

#[test]
fn the_stores_answers_become_the_failures_the_retry_loop_knows() {
    let bad_digest = s3_error("BadDigest", "The Content-MD5 you specified did not match");
    let failure = store_failure(store_answer(400, &bad_digest, None, MD5), 1, None).unwrap();
    assert_eq!(failure.error.server_code(), Some(ErrorCode::BadDigest));
    assert_eq!(
        failure.class,
        FailureClass::Http {
            status: 400,
            code: Some(ErrorCode::BadDigest)
        }
    );

    let slow_down = s3_error("SlowDown", "Please reduce your request rate.");
    let failure = store_failure(store_answer(503, &slow_down, None, MD5), 1, Some(2000.0)).unwrap();
    assert_eq!(
        failure.class,
        FailureClass::Http {
            status: 503,
            code: None
        }
    );
    assert_eq!(failure.error.code, Code::UnknownServer("SlowDown".into()));
    assert_eq!(failure.error.reason, Reason::ServerUnavailable);
    assert_eq!(failure.retry_after_ms, Some(2000.0));

    let internal = s3_error("InternalError", "We encountered an internal error.");
    let failure = store_failure(store_answer(500, &internal, None, MD5), 1, None).unwrap();
    assert_eq!(failure.error.server_code(), Some(ErrorCode::InternalError));

    // The store's multipart upload is gone (aborted): the upload is, too.
    let gone = s3_error("NoSuchUpload", "The specified upload does not exist.");
    let failure = store_failure(store_answer(404, &gone, None, MD5), 1, None).unwrap();
    assert_eq!(failure.error.reason, Reason::UploadGone);

    let proxy_page = store_answer(502, "<html>Bad Gateway</html>", None, MD5);
    let failure = store_failure(proxy_page, 1, None).unwrap();
    assert_eq!(failure.error.code, Code::Http(502));
    assert_eq!(
        failure.class,
        FailureClass::Http {
            status: 502,
            code: None
        }
    );

    let expired = s3_error("AccessDenied", "Request has expired");
    let failure = store_failure(store_answer(403, &expired, None, MD5), 1, None).unwrap();
    assert_eq!(failure.class, FailureClass::Expired);
    assert!(failure.error.message.contains("clocks"));

    let other = store_answer(200, "", Some("\"00000000000000000000000000000000\""), MD5);
    let failure = store_failure(other, 1, None).unwrap();
    assert_eq!(failure.error.reason, Reason::Mismatch);
    assert_eq!(
        failure.class,
        FailureClass::Network,
        "sent again, like a proxy's 200"
    );

    assert!(store_failure(StoreAnswer::Stored, 1, None).is_none());
}

const URL: &str = "http://127.0.0.1:3900/partup/k?partNumber=1&uploadId=x&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261126T090000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=content-length%3Bcontent-md5%3Bhost&X-Amz-Signature=ab";

#[test]
fn a_signature_is_sent_until_its_lifetime_less_a_margin_from_when_it_was_asked_for() {
    let asked = 1_000_000.0;
    // 900 s in the URL: a margin of 30 s, whatever expiresAt says on a skewed clock.
    assert_eq!(send_before_ms(URL, Some(0.0), asked), asked + 870_000.0);
    assert_eq!(send_before_ms(URL, None, asked), asked + 870_000.0);
    // 5 s: a quarter of it.
    let short = URL.replace("X-Amz-Expires=900", "X-Amz-Expires=5");
    assert_eq!(send_before_ms(&short, None, asked), asked + 3_750.0);
    // No X-Amz-Expires: expiresAt, read with this clock.
    let plain = "https://store/b/k?partNumber=1&sig=x";
    assert_eq!(
        send_before_ms(plain, Some(asked + 60_000.0), asked),
        asked + 45_000.0
    );
    // Nothing to go by (or already past): used once, never again.
    assert_eq!(send_before_ms(plain, None, asked), asked);
    assert_eq!(send_before_ms(plain, Some(asked - 5.0), asked), asked);
}

#[test]
fn a_signature_is_reused_only_for_the_same_bytes_before_its_deadline() {
    let signed = Signed {
        url: URL.into(),
        method: "PUT".into(),
        headers: vec![],
        md5_hex: MD5.into(),
        send_before_ms: 10_000.0,
    };
    assert!(signed.usable(MD5, 9_999.0));
    assert!(
        !signed.usable(MD5, 10_000.0),
        "after a pause past its deadline"
    );
    assert!(
        !signed.usable("d41d8cd98f00b204e9800998ecf8427e", 0.0),
        "other bytes"
    );

    let signatures = Signatures::default();
    signatures.keep(3, signed.clone());
    assert_eq!(signatures.usable(3, MD5, 1.0), Some(signed.clone()));
    assert_eq!(signatures.usable(4, MD5, 1.0), None);
    assert_eq!(signatures.usable(3, MD5, 20_000.0), None);
    signatures.forget(3);
    assert_eq!(signatures.usable(3, MD5, 1.0), None);
}

#[test]
fn the_browser_sets_content_length_and_host_itself() {
    let headers = [
        ("Content-MD5", "nhB9nTcrtoJr2B01NUGR1g=="),
        ("Content-Length", "43"),
        ("host", "store"),
    ]
    .map(|(n, v)| (n.to_string(), v.to_string()));
    assert_eq!(
        headers_to_send(&headers.into_iter().collect()),
        vec![(
            "Content-MD5".to_string(),
            "nhB9nTcrtoJr2B01NUGR1g==".to_string()
        )]
    );
}
