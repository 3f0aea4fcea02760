//! How an object is handed to a browser: inline only for a few passive types, as an attachment
//! otherwise, always with an RFC 6266 filename.
//!
//! Objects are uploaded by anyone allowed to upload and served from the API's origin (unless
//! `--public-url` says otherwise). A `.html` or `.svg` rendered there would run its script with
//! that origin's storage and cookies, so only types a browser shows without running anything are
//! inline; `nosniff` and `Content-Security-Policy: sandbox` (set in `mod.rs`) cover the rest.

use axum::http::HeaderValue;
use mime_guess::mime::{self, Mime};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 8187's `attr-char`: everything else in `filename*` is percent-encoded.
const NOT_ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Types a browser displays without running anything in them. Not SVG (it can hold scripts), not
/// PDF (a viewer with its own scripting), not HTML/XML of any kind.
pub fn is_passive(content_type: &Mime) -> bool {
    match (content_type.type_(), content_type.subtype().as_str()) {
        (mime::IMAGE, subtype) => {
            matches!(subtype, "png" | "jpeg" | "gif" | "webp" | "avif" | "bmp")
        }
        (mime::AUDIO | mime::VIDEO, _) => true,
        (mime::TEXT, "plain") => true,
        _ => false,
    }
}

/// Whether the query string asks for a download whatever the type (`?download=1`).
pub fn download_forced(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(name, value)| name == "download" && matches!(value.as_ref(), "1" | "true"))
}

/// `Content-Disposition` for the object `key` of `content_type`: `inline` for passive types unless
/// `force_download`, `attachment` otherwise; named after the key's last segment.
pub fn content_disposition(key: &str, content_type: &Mime, force_download: bool) -> HeaderValue {
    let kind = if is_passive(content_type) && !force_download {
        "inline"
    } else {
        "attachment"
    };
    let name = clean_name(key.rsplit('/').next().unwrap_or(key));
    let value = format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(&name),
        utf8_percent_encode(&name, NOT_ATTR_CHAR)
    );
    // Only visible ASCII is left in `value`: the fallback keeps nothing else, the rest is encoded.
    HeaderValue::from_str(&value).expect("a header value of visible ASCII")
}

/// The name without characters that could disguise it when a browser shows or saves it: control
/// characters and bidirectional overrides (`evil\u{202E}gpj.exe` would show as `evilexe.jpg`).
fn clean_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The `filename="…"` of old clients: printable ASCII only, without `"` and `\` (no escaping for a
/// client to get wrong) and without `%` (some clients decode `%41` there, RFC 6266 appendix D).
fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition(key: &str, force: bool) -> String {
        let content_type = mime_guess::from_path(key).first_or_octet_stream();
        content_disposition(key, &content_type, force)
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn only_passive_types_are_inline() {
        for key in [
            "a.png", "a.jpg", "a.gif", "a.webp", "a.avif", "a.bmp", "a.mp3", "a.mp4", "a.webm",
            "a.txt",
        ] {
            assert!(disposition(key, false).starts_with("inline;"), "{key}");
            assert!(
                disposition(key, true).starts_with("attachment;"),
                "{key} forced"
            );
        }
        for key in [
            "a.html",
            "a.htm",
            "a.svg",
            "a.xml",
            "a.xhtml",
            "a.js",
            "a.mjs",
            "a.css",
            "a.pdf",
            "a.json",
            "a.bin",
            "a.unknownext",
            "noext",
        ] {
            assert!(disposition(key, false).starts_with("attachment;"), "{key}");
        }
    }

    #[test]
    fn the_name_is_the_last_segment_in_both_forms() {
        assert_eq!(
            disposition("videos/2026/clip.mp4", false),
            "inline; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
        );
        assert_eq!(
            disposition("docs/report 2026.pdf", false),
            "attachment; filename=\"report 2026.pdf\"; filename*=UTF-8''report%202026.pdf"
        );
    }

    #[test]
    fn quotes_backslashes_percent_and_non_ascii_cannot_break_out() {
        assert_eq!(
            disposition("x/a\"b\\c%41;d.html", false),
            "attachment; filename=\"a_b_c_41;d.html\"; filename*=UTF-8''a%22b%5Cc%2541%3Bd.html"
        );
        assert_eq!(
            disposition("résumé \u{65e5}.txt", false),
            "inline; filename=\"r_sum_ _.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%97%A5.txt"
        );
        assert_eq!(
            disposition("evil\u{202E}gpj.exe", false),
            "attachment; filename=\"evil_gpj.exe\"; filename*=UTF-8''evil_gpj.exe"
        );
        assert_eq!(
            disposition("line\u{85}break\u{2028}.txt", false),
            "inline; filename=\"line_break_.txt\"; filename*=UTF-8''line_break%E2%80%A8.txt"
        );
    }

    #[test]
    fn download_is_forced_by_download_1_only() {
        assert!(download_forced(Some("download=1")));
        assert!(download_forced(Some("token=abc&download=true")));
        assert!(!download_forced(Some("download=0")));
        assert!(!download_forced(Some("downloads=1")));
        assert!(!download_forced(None));
    }
}
