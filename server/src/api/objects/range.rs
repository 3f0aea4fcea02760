//! The `Range` header: one byte range, parsed here and resolved against the size in storage.

use crate::storage::ByteRange;

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`; `None` for anything else, which is served as the
/// whole object (RFC 9110 allows ignoring Range): several ranges, other units, `a-b` with `a > b`.
pub fn parse_range_header(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => Some(ByteRange::Suffix(number(suffix)?)),
        (start, "") => Some(ByteRange::From(number(start)?)),
        (start, end) => match (number(start)?, number(end)?) {
            (start, end) if start > end => None,
            (start, end) => Some(ByteRange::FromTo(start, end)),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum RangeRequest {
        /// Not a single byte range we understand: serve the whole object (RFC 9110 allows ignoring Range).
        Ignored,
        Satisfiable(Range<u64>),
        Unsatisfiable,
    }

    /// What a `Range` header asks of an object of `size` bytes: parsing here, resolving in storage.
    fn parse_range(value: &str, size: u64) -> RangeRequest {
        match parse_range_header(value).map(|range| range.resolve(size)) {
            None => RangeRequest::Ignored,
            Some(Some(range)) => RangeRequest::Satisfiable(range),
            Some(None) => RangeRequest::Unsatisfiable,
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0..10));
        assert_eq!(parse_range("bytes=90-200", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=95-", 100), Satisfiable(95..100));
        assert_eq!(parse_range("bytes=-5", 100), Satisfiable(95..100));
        assert_eq!(parse_range("bytes=-500", 100), Satisfiable(0..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-101", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Ignored);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignored);
        assert_eq!(parse_range("items=0-1", 100), Ignored);
    }
}
