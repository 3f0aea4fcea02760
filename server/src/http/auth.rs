//! Upload tokens at the HTTP edge: who calls, from the request's headers alone, before any body
//! byte is read. [`Caller`] is the extractor of every API endpoint; [`Reader`] the one of object
//! reads (a token by header or `?token=`, or none with `--read public`); [`loopback_hosts_only`]
//! keeps an anonymous loopback server from answering pages of other names (DNS rebinding).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::auth::verify::{Refusal, Verifier};
use crate::config::{Config, ReadMode};
use crate::error::{AppError, AppResult, truncate_for_message};
use crate::http::{AppState, public_origin};

/// How this server authenticates requests.
pub struct AuthPolicy {
    /// The keys tokens are verified with; `None`: an anonymous server.
    verifier: Option<Verifier>,
    read: ReadMode,
    /// Anonymous on loopback: answer only requests addressed to a loopback name.
    loopback_hosts_only: bool,
    /// `--public-url`, whose host the operator named, so it is answered on loopback too.
    public_url: Option<String>,
}

impl AuthPolicy {
    /// The policy of the auth options in `config` (whose keys are loaded here).
    pub fn from_config(config: &Config) -> Result<AuthPolicy, String> {
        let verifier = Verifier::load(
            config.auth_secret_file.as_deref(),
            &config.auth_public_keys,
            config.auth_leeway.as_secs(),
        )?;
        Ok(AuthPolicy {
            loopback_hosts_only: verifier.is_none() && !config.allow_anonymous,
            public_url: config.public_url.clone(),
            verifier,
            read: config.read_mode(),
        })
    }

    /// The caller of an API request: anonymous without auth, else the bearer of a valid token.
    fn api_caller(&self, headers: &HeaderMap) -> AppResult<Caller> {
        let Some(verifier) = &self.verifier else {
            return Ok(Caller::Anonymous);
        };
        let token = bearer_token(headers)?.ok_or_else(|| {
            AppError::unauthorized("send an upload token as `Authorization: Bearer TOKEN`")
        })?;
        verify(verifier, token)
    }

    /// The reader of an object: anyone with `--read public`, else a token's bearer (the token in
    /// `Authorization` or in the `token` query parameter).
    fn reader(&self, headers: &HeaderMap, uri: &Uri) -> AppResult<Caller> {
        let Some(verifier) = self
            .verifier
            .as_ref()
            .filter(|_| self.read == ReadMode::Token)
        else {
            return Ok(Caller::Anonymous);
        };
        if let Some(token) = bearer_token(headers)? {
            return verify(verifier, token);
        }
        match query_token(uri) {
            Some(token) => verify(verifier, &token),
            None => Err(AppError::unauthorized(
                "reading objects needs an upload token with read scope: `Authorization: Bearer TOKEN` or `?token=TOKEN`",
            )),
        }
    }
}

fn verify(verifier: &Verifier, token: &str) -> AppResult<Caller> {
    verifier
        .verify(token)
        .map(Caller::Bearer)
        .map_err(|Refusal(why)| AppError::unauthorized(why))
}

/// The token of an `Authorization: Bearer TOKEN` header, if there is one.
fn bearer_token(headers: &HeaderMap) -> AppResult<Option<&str>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AppError::unauthorized(
            "the Authorization header must be `Bearer TOKEN`",
        )),
    }
}

/// The `token` query parameter (for `<a href>`, `<video src>`).
fn query_token(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Caller> {
        state.auth.api_caller(&parts.headers)
    }
}

/// Who reads an object; [`Reader::check`] it against the key.
pub struct Reader(Caller);

impl Reader {
    /// `AccessDenied` unless the reader may read `key`.
    pub fn check(&self, key: &str) -> AppResult<()> {
        if self.0.may_read(key) {
            return Ok(());
        }
        Err(AppError::access_denied(format!(
            "your token may not read '{}': it is outside the token's read scope",
            truncate_for_message(key)
        )))
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Reader> {
        state.auth.reader(&parts.headers, &parts.uri).map(Reader)
    }
}

/// On an anonymous loopback server, refuses (`AccessDenied`) requests whose `Host` is not a
/// loopback name or address: a page of another site whose name was made to resolve to 127.0.0.1
/// (DNS rebinding) gets no answer it can read.
pub async fn loopback_hosts_only(
    State(auth): State<Arc<AuthPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if auth.loopback_hosts_only {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        let public = auth.public_url.as_deref().is_some_and(|url| {
            public_origin::is_addressed_to(url, request.uri(), request.headers())
        });
        if !public && !host.is_some_and(is_loopback_host) {
            return AppError::access_denied(
                "this server runs without upload tokens and answers only requests addressed to localhost, 127.0.0.1 or [::1]",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Whether a `Host` (with or without a port) names the loopback: `localhost`, `127.0.0.0/8`, `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, "")) => inside,
            Some((inside, port)) if port.strip_prefix(':').is_some_and(is_port) => inside,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts_are_localhost_127_and_ipv6_one_with_any_port() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.3.4.5:80",
            "[::1]",
            "[::1]:9",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:80",
            "10.0.0.1",
            "[::2]:80",
            "localhost.evil.example",
            "127.0.0.1:x",
            "[::1]x",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
