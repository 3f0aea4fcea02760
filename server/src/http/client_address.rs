//! The client's address, for the per-client cap on uploads of a server without tokens.
//!
//! The seam with the serving loop: it inserts the peer address as a request extension of type
//! `ConnectInfo<SocketAddr>` (what `into_make_service_with_connect_info::<SocketAddr>()` does), and
//! this reads it. No header (`X-Forwarded-For`) is trusted: behind a proxy every client is the proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// The peer's IP address; `None` when the serving loop gave none.
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(ClientAddress(peer.map(|ConnectInfo(address)| address.ip())))
    }
}
