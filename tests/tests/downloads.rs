//! Safe downloads: every object answer (200, 206, 304, HEAD) is `nosniff` and sandboxed, only
//! passive types are inline, everything else is an attachment with an RFC 6266 filename; the
//! conditional and cache headers an object store's users expect; `--public-url`'s redirect.
//! Runs on the store `PARTUP_TEST_STORE` names, like every suite.

use std::time::{Duration, SystemTime};

use partup_tests::{TestServer, assert_refused_at_start, server_binary, test_bytes};
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};

/// key, exact Content-Type, inline?, Content-Disposition's parameters.
const OBJECTS: &[(&str, &str, bool, &str)] = &[
    (
        "dl/page.html",
        "text/html",
        false,
        "filename=\"page.html\"; filename*=UTF-8''page.html",
    ),
    (
        "dl/pic.svg",
        "image/svg+xml",
        false,
        "filename=\"pic.svg\"; filename*=UTF-8''pic.svg",
    ),
    (
        "dl/app.js",
        "text/javascript",
        false,
        "filename=\"app.js\"; filename*=UTF-8''app.js",
    ),
    (
        "dl/doc.pdf",
        "application/pdf",
        false,
        "filename=\"doc.pdf\"; filename*=UTF-8''doc.pdf",
    ),
    (
        "dl/pic.png",
        "image/png",
        true,
        "filename=\"pic.png\"; filename*=UTF-8''pic.png",
    ),
    (
        "dl/clip.mp4",
        "video/mp4",
        true,
        "filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4",
    ),
    (
        "dl/notes.txt",
        "text/plain",
        true,
        "filename=\"notes.txt\"; filename*=UTF-8''notes.txt",
    ),
    (
        "dl/blob.partup-unknown",
        "application/octet-stream",
        false,
        "filename=\"blob.partup-unknown\"; filename*=UTF-8''blob.partup-unknown",
    ),
    (
        "dl/\"quoted\" résumé; v=1.txt",
        "text/plain",
        true,
        "filename=\"_quoted_ r_sum_; v=1.txt\"; filename*=UTF-8''%22quoted%22%20r%C3%A9sum%C3%A9%3B%20v%3D1.txt",
    ),
];

/// The object's URL, each segment percent-encoded.
fn object_url(server: &TestServer, key: &str) -> reqwest::Url {
    let mut url = reqwest::Url::parse(&server.base_url()).unwrap();
    url.path_segments_mut()
        .unwrap()
        .extend(["v1", "objects"])
        .extend(key.split('/'));
    url
}

/// `GET url` with `headers`, answered.
async fn get_with(
    http: &reqwest::Client,
    url: &reqwest::Url,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = http.get(url.clone());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
}

/// `Last-Modified` as sent and as a time; panics when absent or not an HTTP-date.
fn last_modified(response: &Response) -> (String, SystemTime) {
    let text = header(response.headers(), "last-modified").to_owned();
    let time = httpdate::parse_http_date(&text).expect("an HTTP-date");
    (text, time)
}

/// What every answer of an object carries, whatever its status.
#[track_caller]
fn assert_safe(response: &Response, disposition: &str, what: &str) {
    let headers = response.headers();
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(
        header(headers, "content-security-policy"),
        "sandbox",
        "{what}"
    );
    assert_eq!(
        header(headers, "content-disposition"),
        disposition,
        "{what}"
    );
    assert_eq!(
        header(headers, "cache-control"),
        "private, no-cache",
        "{what}"
    );
    assert_eq!(header(headers, "accept-ranges"), "bytes", "{what}");
    assert!(header(headers, "etag").starts_with('"'), "{what}");
    last_modified(response);
}

async fn upload_all(server: &TestServer) -> Vec<Vec<u8>> {
    let api = server.api();
    let mut contents = Vec::new();
    for (i, (key, ..)) in OBJECTS.iter().enumerate() {
        let bytes = test_bytes(i as u64 + 100, 3000 + i * 7);
        api.upload_whole(key, std::slice::from_ref(&bytes)).await;
        contents.push(bytes);
    }
    contents
}

#[tokio::test]
async fn only_passive_types_are_inline_on_get_head_206_and_304() {
    let server = TestServer::start(&[]).await;
    let contents = upload_all(&server).await;
    let http = reqwest::Client::new();
    for ((key, content_type, inline, filename), bytes) in OBJECTS.iter().zip(&contents) {
        let kind = if *inline { "inline" } else { "attachment" };
        let disposition = format!("{kind}; {filename}");
        let url = object_url(&server, key);

        let get = http.get(url.clone()).send().await.unwrap();
        assert_eq!(get.status(), StatusCode::OK, "{key}");
        assert_safe(&get, &disposition, &format!("GET {key}"));
        assert_eq!(
            header(get.headers(), "content-type"),
            *content_type,
            "{key}"
        );
        let etag = header(get.headers(), "etag").to_owned();
        assert_eq!(get.bytes().await.unwrap(), bytes[..], "{key}");

        let head = http.head(url.clone()).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {key}");
        assert_safe(&head, &disposition, &format!("HEAD {key}"));
        assert_eq!(header(head.headers(), "content-type"), *content_type);
        assert_eq!(
            header(head.headers(), "content-length"),
            bytes.len().to_string()
        );

        let partial = get_with(&http, &url, &[("range", "bytes=10-19")]).await;
        assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT, "{key}");
        assert_safe(&partial, &disposition, &format!("206 {key}"));
        assert_eq!(header(partial.headers(), "content-type"), *content_type);
        assert_eq!(partial.bytes().await.unwrap(), bytes[10..20]);

        let cached = get_with(&http, &url, &[("if-none-match", etag.as_str())]).await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{key}");
        assert_safe(&cached, &disposition, &format!("304 {key}"));
        assert_eq!(header(cached.headers(), "etag"), etag);
        // RFC 9110 §15.4.5: validators and cache headers only, no content metadata.
        assert!(cached.headers().get("content-type").is_none(), "{key}");
        assert!(cached.bytes().await.unwrap().is_empty());

        let mut forced = url.clone();
        forced.set_query(Some("download=1"));
        let download = http.get(forced).send().await.unwrap();
        assert_eq!(download.status(), StatusCode::OK);
        assert_safe(
            &download,
            &format!("attachment; {filename}"),
            &format!("?download=1 {key}"),
        );
    }
}

#[tokio::test]
async fn errors_of_the_object_endpoint_are_sandboxed_too() {
    let server = TestServer::start(&[]).await;
    let missing = reqwest::get(object_url(&server, "dl/missing.html"))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(missing.headers(), "x-content-type-options"),
        "nosniff"
    );
    assert_eq!(
        header(missing.headers(), "content-security-policy"),
        "sandbox"
    );
}

#[tokio::test]
async fn if_none_match_revalidates_and_sees_a_replaced_object() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let (_, first) = api
        .upload_whole("dl/v.txt", &[b"version one".to_vec()])
        .await;
    let url = object_url(&server, "dl/v.txt");
    let http = reqwest::Client::new();
    let etag = format!("\"{}\"", first.etag);
    for (if_none_match, status) in [
        (etag.clone(), StatusCode::NOT_MODIFIED),
        (format!("W/{etag}"), StatusCode::NOT_MODIFIED),
        (format!("\"nope\", {etag}"), StatusCode::NOT_MODIFIED),
        ("*".to_owned(), StatusCode::NOT_MODIFIED),
        ("\"nope\"".to_owned(), StatusCode::OK),
    ] {
        let answer = get_with(&http, &url, &[("if-none-match", if_none_match.as_str())]).await;
        assert_eq!(answer.status(), status, "If-None-Match: {if_none_match}");
    }
    // A new upload of the key: the old etag no longer matches, the new bytes come back.
    let (_, second) = api
        .upload_whole("dl/v.txt", &[b"version two".to_vec()])
        .await;
    let answer = get_with(&http, &url, &[("if-none-match", etag.as_str())]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        header(answer.headers(), "etag"),
        format!("\"{}\"", second.etag)
    );
    assert_eq!(answer.bytes().await.unwrap(), &b"version two"[..]);
}

#[tokio::test]
async fn last_modified_and_if_modified_since() {
    let server = TestServer::start(&[]).await;
    let before = SystemTime::now() - Duration::from_secs(2);
    server
        .api()
        .upload_whole("dl/m.png", &[test_bytes(5, 2000)])
        .await;
    let url = object_url(&server, "dl/m.png");
    let http = reqwest::Client::new();
    let (last_modified, modified) = last_modified(&http.get(url.clone()).send().await.unwrap());
    assert!(modified >= before, "{last_modified} is before the upload");
    assert!(
        modified <= SystemTime::now() + Duration::from_secs(2),
        "{last_modified}"
    );

    let since = |time: SystemTime| httpdate::fmt_http_date(time);
    for (if_modified_since, status) in [
        (last_modified.clone(), StatusCode::NOT_MODIFIED),
        (
            since(modified + Duration::from_secs(60)),
            StatusCode::NOT_MODIFIED,
        ),
        (since(modified - Duration::from_secs(60)), StatusCode::OK),
        ("not a date".to_owned(), StatusCode::OK),
    ] {
        let answer = get_with(
            &http,
            &url,
            &[("if-modified-since", if_modified_since.as_str())],
        )
        .await;
        assert_eq!(
            answer.status(),
            status,
            "If-Modified-Since: {if_modified_since}"
        );
    }
    // If-None-Match decides when both are sent.
    let both = get_with(
        &http,
        &url,
        &[
            ("if-none-match", "\"nope\""),
            ("if-modified-since", last_modified.as_str()),
        ],
    )
    .await;
    assert_eq!(both.status(), StatusCode::OK);
}

#[tokio::test]
async fn if_range_serves_the_range_only_while_the_object_is_unchanged() {
    let server = TestServer::start(&[]).await;
    let bytes = test_bytes(9, 4000);
    let (_, done) = server
        .api()
        .upload_whole("dl/r.mp4", std::slice::from_ref(&bytes))
        .await;
    let url = object_url(&server, "dl/r.mp4");
    let http = reqwest::Client::new();
    let (last_modified, modified) = last_modified(&http.head(url.clone()).send().await.unwrap());
    let etag = format!("\"{}\"", done.etag);
    for (if_range, ranged) in [
        (etag.clone(), true),
        (last_modified.clone(), true),
        ("\"an-older-version\"".to_owned(), false),
        (format!("W/{etag}"), false),
        (
            httpdate::fmt_http_date(modified - Duration::from_secs(3600)),
            false,
        ),
        (
            httpdate::fmt_http_date(modified + Duration::from_secs(3600)),
            false,
        ),
    ] {
        let answer = get_with(
            &http,
            &url,
            &[("range", "bytes=100-199"), ("if-range", if_range.as_str())],
        )
        .await;
        if ranged {
            assert_eq!(
                answer.status(),
                StatusCode::PARTIAL_CONTENT,
                "If-Range: {if_range}"
            );
            assert_eq!(
                header(answer.headers(), "content-range"),
                "bytes 100-199/4000"
            );
            assert_eq!(answer.bytes().await.unwrap(), bytes[100..200]);
        } else {
            assert_eq!(answer.status(), StatusCode::OK, "If-Range: {if_range}");
            assert!(answer.headers().get("content-range").is_none());
            assert_eq!(answer.bytes().await.unwrap(), bytes[..], "the whole object");
        }
    }
}

#[tokio::test]
async fn public_url_redirects_object_reads_and_serves_its_own_host() {
    let server = TestServer::start(&["--public-url", "http://files.partup.test:8443"]).await;
    let api = server.api();
    // uploadComplete answers as always.
    let (_, done) = api
        .upload_whole("dl/a b.html", &[b"<p>hi</p>".to_vec()])
        .await;
    assert_eq!(done.resource_key, "dl/a b.html");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = object_url(&server, "dl/a b.html");
    url.set_query(Some("download=1&x=%2F"));
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let answer = http
            .request(method.clone(), url.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT, "{method}");
        assert_eq!(
            header(answer.headers(), "location"),
            "http://files.partup.test:8443/v1/objects/dl/a%20b.html?download=1&x=%2F"
        );
    }
    // The same server reached by the public name serves the object itself.
    let served = get_with(&http, &url, &[("host", "files.partup.test:8443")]).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_safe(
        &served,
        "attachment; filename=\"a b.html\"; filename*=UTF-8''a%20b.html",
        "on the public host",
    );
    assert_eq!(served.bytes().await.unwrap(), &b"<p>hi</p>"[..]);
}

#[test]
fn public_url_must_be_an_origin() {
    for bad in [
        "files.example.com",
        "https://files.example.com/objects",
        "ftp://files.example.com",
        "*",
    ] {
        assert_refused_at_start(&["--public-url", bad], "--public-url");
    }
    let help = std::process::Command::new(server_binary())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("--public-url") && help.contains("PARTUP_PUBLIC_URL"),
        "{help}"
    );
}
