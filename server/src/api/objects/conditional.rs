//! Conditional GET/HEAD (RFC 9110 §13): `If-None-Match`, `If-Modified-Since`, `If-Range`, decided
//! against the object's validators once it is opened. `If-None-Match` and `If-Modified-Since` are
//! parsed and compared by the `headers` crate; this module says in which order they apply.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, header};
use headers::{ETag, HeaderMapExt, IfModifiedSince, IfNoneMatch};

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

fn text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
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
    /// Kept as text: see [`if_range_matches`].
    if_range: Option<String>,
    range: Option<ByteRange>,
}

impl Conditions {
    pub fn from_headers(headers: &HeaderMap) -> Conditions {
        let range = text(headers, header::RANGE)
            .as_deref()
            .and_then(parse_range_header);
        Conditions {
            if_none_match: headers.typed_get(),
            if_modified_since: headers.typed_get(),
            if_range: text(headers, header::IF_RANGE),
            range,
        }
    }

    /// RFC 9110 §13.2.2's order for GET/HEAD: If-None-Match (weak comparison, `*`, lists) decides
    /// when present; only without it If-Modified-Since; then If-Range decides whether a Range is
    /// served or ignored (an etag there compares strongly, a date must equal `Last-Modified`).
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
        let unchanged = match &self.if_range {
            None => true,
            Some(if_range) => if_range_matches(if_range, meta),
        };
        if unchanged {
            Outcome::Range(range)
        } else {
            Outcome::Whole
        }
    }
}

/// RFC 9110 §13.1.5: an etag must be the current one, compared strongly (a weak `W/` tag never
/// matches); a date must be exactly `Last-Modified`. Compared here rather than with the `headers`
/// crate's `IfRange`, which accepts any date not older: that could glue a range of a newer object
/// to bytes of an older one.
fn if_range_matches(if_range: &str, meta: &ObjectMeta) -> bool {
    let if_range = if_range.trim();
    if if_range.starts_with('"') || if_range.starts_with("W/") {
        return if_range == format!("\"{}\"", meta.etag);
    }
    let whole_seconds =
        |time: SystemTime| time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs());
    match (httpdate::parse_http_date(if_range), meta.last_modified) {
        (Ok(date), Some(modified)) => whole_seconds(date) == whole_seconds(modified),
        _ => false,
    }
}

/// The object's etag as the quoted, strong entity tag it is sent as.
fn entity_tag(etag: &str) -> Option<ETag> {
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
        let later = http_date(modified() + Duration::from_secs(60));
        assert_eq!(
            outcome(&[range.clone(), ("if-range", later)]),
            Whole,
            "only the exact date"
        );
        assert_eq!(
            outcome(&[range.clone(), ("if-range", "soon".into())]),
            Whole
        );
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
