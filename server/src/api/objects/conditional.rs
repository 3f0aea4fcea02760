//! Conditional GET/HEAD (RFC 9110 §13): `If-None-Match`, `If-Modified-Since`, `If-Range`, decided
//! against the object's validators once it is opened. The headers are parsed by the `headers`
//! crate; this module only says in which order they apply.

use std::time::SystemTime;

use axum::http::HeaderMap;
use headers::{ETag, HeaderMapExt, IfModifiedSince, IfNoneMatch, IfRange, LastModified};

use super::range::parse_range_header;
use crate::storage::{ByteRange, ObjectMeta, ReadPlan};

/// What a GET/HEAD gets, once its conditions are checked against the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `304 Not Modified`: the client's copy is current.
    NotModified,
    /// The whole object (no usable `Range`, or an `If-Range` that no longer matches).
    Whole,
    /// The range asked for (still to be checked against the size).
    Range(ByteRange),
}

impl Outcome {
    /// What storage reads for this outcome: no bytes for a 304 or a HEAD.
    pub fn read_plan(self, wants_body: bool) -> ReadPlan {
        match self {
            Outcome::NotModified => ReadPlan {
                range: None,
                with_body: false,
            },
            Outcome::Whole => ReadPlan {
                range: None,
                with_body: wants_body,
            },
            Outcome::Range(range) => ReadPlan {
                range: Some(range),
                with_body: wants_body,
            },
        }
    }
}

/// The request's conditions; a header that does not parse counts as absent (RFC 9110 allows
/// ignoring it), so a bad one never turns into an error.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    if_none_match: Option<IfNoneMatch>,
    if_modified_since: Option<IfModifiedSince>,
    if_range: Option<IfRange>,
    range: Option<ByteRange>,
}

impl Conditions {
    pub fn from_headers(headers: &HeaderMap) -> Conditions {
        let range = headers
            .get(axum::http::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_range_header);
        Conditions {
            if_none_match: headers.typed_get(),
            if_modified_since: headers.typed_get(),
            if_range: headers.typed_get(),
            range,
        }
    }

    /// RFC 9110 §13.2.2's order for GET/HEAD: If-None-Match (weak comparison, `*`, lists) decides
    /// when present; only without it If-Modified-Since; then If-Range decides whether a Range is
    /// served or ignored (an etag there compares strongly, a date must not be older than the object).
    pub fn evaluate(&self, meta: &ObjectMeta) -> Outcome {
        let etag = entity_tag(&meta.etag);
        if let Some(if_none_match) = &self.if_none_match {
            let current = etag
                .as_ref()
                .is_some_and(|e| !if_none_match.precondition_passes(e));
            if current {
                return Outcome::NotModified;
            }
        } else if let (Some(since), Some(modified)) = (&self.if_modified_since, meta.last_modified)
            && !since.is_modified(modified)
        {
            return Outcome::NotModified;
        }
        let Some(range) = self.range else {
            return Outcome::Whole;
        };
        let changed = self.if_range.as_ref().is_some_and(|if_range| {
            let last_modified = meta.last_modified.map(LastModified::from);
            if_range.is_modified(etag.as_ref(), last_modified.as_ref())
        });
        if changed {
            Outcome::Whole
        } else {
            Outcome::Range(range)
        }
    }
}

/// The object's etag as the quoted, strong entity tag it is sent as.
pub fn entity_tag(etag: &str) -> Option<ETag> {
    format!("\"{etag}\"").parse().ok()
}

/// `Last-Modified`'s text for a time (HTTP-date, whole seconds).
pub fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::HeaderValue;

    use super::*;

    const ETAG: &str = "0123456789abcdef0123456789abcdef-2";

    fn modified() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
    }

    fn meta() -> ObjectMeta {
        ObjectMeta {
            size: 100,
            etag: ETAG.to_owned(),
            last_modified: Some(modified() + Duration::from_millis(250)),
        }
    }

    fn outcome(headers: &[(&'static str, String)]) -> Outcome {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        Conditions::from_headers(&map).evaluate(&meta())
    }

    fn quoted(etag: &str) -> String {
        format!("\"{etag}\"")
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        use Outcome::*;
        assert_eq!(outcome(&[]), Whole);
        assert_eq!(outcome(&[("if-none-match", quoted(ETAG))]), NotModified);
        assert_eq!(
            outcome(&[("if-none-match", format!("W/{}", quoted(ETAG)))]),
            NotModified
        );
        assert_eq!(
            outcome(&[("if-none-match", format!("\"other\", {}", quoted(ETAG)))]),
            NotModified
        );
        assert_eq!(outcome(&[("if-none-match", "*".into())]), NotModified);
        assert_eq!(outcome(&[("if-none-match", "\"other\"".into())]), Whole);
        assert_eq!(
            outcome(&[("if-none-match", ETAG.into())]),
            Whole,
            "unquoted: not an etag"
        );
    }

    #[test]
    fn if_modified_since_applies_only_without_if_none_match() {
        use Outcome::*;
        let at = http_date(modified());
        let before = http_date(modified() - Duration::from_secs(1));
        assert_eq!(outcome(&[("if-modified-since", at.clone())]), NotModified);
        assert_eq!(outcome(&[("if-modified-since", before.clone())]), Whole);
        assert_eq!(outcome(&[("if-modified-since", "yesterday".into())]), Whole);
        assert_eq!(
            outcome(&[
                ("if-none-match", "\"other\"".into()),
                ("if-modified-since", at)
            ]),
            Whole,
            "If-None-Match decides when present"
        );
    }

    #[test]
    fn if_range_serves_the_range_only_while_it_matches() {
        use Outcome::*;
        let range = ("range", "bytes=0-9".to_owned());
        let wanted = Range(ByteRange::FromTo(0, 9));
        assert_eq!(outcome(std::slice::from_ref(&range)), wanted);
        assert_eq!(
            outcome(&[range.clone(), ("if-range", quoted(ETAG))]),
            wanted
        );
        assert_eq!(
            outcome(&[range.clone(), ("if-range", "\"other\"".into())]),
            Whole
        );
        assert_eq!(
            outcome(&[range.clone(), ("if-range", format!("W/{}", quoted(ETAG)))]),
            Whole
        );
        assert_eq!(
            outcome(&[range.clone(), ("if-range", http_date(modified()))]),
            wanted
        );
        let older = http_date(modified() - Duration::from_secs(60));
        assert_eq!(outcome(&[range.clone(), ("if-range", older)]), Whole);
        assert_eq!(
            outcome(&[("if-range", quoted(ETAG))]),
            Whole,
            "no Range: If-Range is moot"
        );
    }

    #[test]
    fn not_modified_comes_before_the_range() {
        let headers = [
            ("range", "bytes=0-9".to_owned()),
            ("if-none-match", quoted(ETAG)),
        ];
        assert_eq!(outcome(&headers), Outcome::NotModified);
    }
}
