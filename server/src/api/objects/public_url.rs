//! `--public-url`: objects are served from a separate origin (another host name for this server,
//! or a CDN in front of it), so nothing uploaded ever runs on the API's origin. A request for an
//! object on any other host is redirected there; one that arrives on that host is served.

use axum::http::{HeaderMap, Uri};

use crate::http::public_origin::is_addressed_to;

/// Where the object `uri` asked for on `host` lives when it is not served here: the same path and
/// query on `public_url` (an origin: scheme, host, optional port). `None`: serve it here.
pub fn redirect_target(public_url: &str, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if is_addressed_to(public_url, uri, headers) {
        return None;
    }
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    Some(format!(
        "{}{path_and_query}",
        public_url.trim_end_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;

    fn target(public_url: &str, host: &str, path: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        redirect_target(public_url, &path.parse().unwrap(), &headers)
    }

    #[test]
    fn other_hosts_are_sent_to_the_public_origin_with_the_query() {
        assert_eq!(
            target(
                "https://files.example.com",
                "api.example.com",
                "/v1/objects/a%20b/c.html?download=1"
            )
            .as_deref(),
            Some("https://files.example.com/v1/objects/a%20b/c.html?download=1")
        );
        assert_eq!(
            target("http://files.test:8080", "files.test", "/v1/objects/x").as_deref(),
            Some("http://files.test:8080/v1/objects/x"),
            "same name, other port"
        );
    }

    #[test]
    fn the_public_host_itself_is_served() {
        assert_eq!(
            target(
                "https://files.example.com",
                "files.example.com",
                "/v1/objects/x"
            ),
            None
        );
        assert_eq!(
            target(
                "https://files.example.com",
                "FILES.example.com:443",
                "/v1/objects/x"
            ),
            None
        );
        assert_eq!(
            target("http://files.test:8080", "files.test:8080", "/v1/objects/x"),
            None
        );
    }
}
