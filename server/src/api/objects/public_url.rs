//! `--public-url`: objects are served from a separate origin (another host name for this server,
//! or a CDN in front of it), so nothing uploaded ever runs on the API's origin. A request for an
//! object on any other host is redirected there; one that arrives on that host is served.

use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, Uri, header};

/// Where the object `uri` asked for on `host` lives when it is not served here: the same path and
/// query on `public_url` (an origin: scheme, host, optional port). `None`: serve it here.
pub fn redirect_target(public_url: &str, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let public: Uri = public_url.parse().ok()?;
    let public_authority = public.authority()?;
    let default_port = default_port(public.scheme());
    let requested = uri.authority().cloned().or_else(|| {
        let host = headers.get(header::HOST)?.to_str().ok()?;
        host.parse::<Authority>().ok()
    });
    let same_host = requested.is_some_and(|requested| {
        requested
            .host()
            .eq_ignore_ascii_case(public_authority.host())
            && requested.port_u16().or(default_port) == public_authority.port_u16().or(default_port)
    });
    if same_host {
        return None;
    }
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    Some(format!(
        "{}{path_and_query}",
        public_url.trim_end_matches('/')
    ))
}

fn default_port(scheme: Option<&Scheme>) -> Option<u16> {
    match scheme.map(Scheme::as_str) {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

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
