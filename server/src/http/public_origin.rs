//! `--public-url`'s origin, and whether a request is addressed to it (by its `Host`, or by the
//! authority of an absolute request URI). Two rules ask: the object redirect
//! (`api/objects/public_url.rs`: a read addressed elsewhere goes there) and an anonymous server's
//! loopback-host check (`auth.rs`: the host the operator named is answered too).

use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, Uri, header};

/// Whether the request for `uri` with `headers` names `public_url`'s host and port (the scheme's
/// default port when either leaves it out).
pub fn is_addressed_to(public_url: &str, uri: &Uri, headers: &HeaderMap) -> bool {
    let Ok(public) = public_url.parse::<Uri>() else {
        return false;
    };
    let Some(public_authority) = public.authority() else {
        return false;
    };
    let default_port = default_port(public.scheme());
    let requested = uri.authority().cloned().or_else(|| {
        let host = headers.get(header::HOST)?.to_str().ok()?;
        host.parse::<Authority>().ok()
    });
    requested.is_some_and(|requested| {
        requested
            .host()
            .eq_ignore_ascii_case(public_authority.host())
            && requested.port_u16().or(default_port) == public_authority.port_u16().or(default_port)
    })
}

fn default_port(scheme: Option<&Scheme>) -> Option<u16> {
    match scheme.map(Scheme::as_str) {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}
