//! Upload tokens (SPEC.md "Authorization"): who calls, and what a verified token allows.
//!
//! The integrating application's backend mints short-lived JWTs (RFC 7519); partup only verifies
//! them ([`verify::Verifier`], HS256 with a shared secret and/or EdDSA, ES256, RS256 public keys).
//! A verified token becomes a [`Caller::Bearer`] with its [`Grant`]; a server without any auth
//! option serves [`Caller::Anonymous`], who may do everything (on loopback only, see `config`).
//! `http/auth.rs` turns request headers into a `Caller`; `storage` applies the rules that need
//! stored state (who owns an upload, its `maxSize` and `replace`); `mint` is `partup-server token`.
//! Like `config` and `error`, this module is shared by every layer.

pub mod mint;
pub mod verify;

use serde::{Deserialize, Serialize};

/// partup's own claim in a token: `"partup": {"write": [...], "read": [...], "maxSize": N,
/// "replace": false}`. Every field may be left out: no keys, no limit, no replacing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Keys and prefixes the token may upload to (see [`key_matches`]).
    #[serde(default)]
    pub write: Vec<String>,
    /// Keys and prefixes the token may read (`GET`/`HEAD /v1/objects/…`).
    #[serde(default)]
    pub read: Vec<String>,
    /// Most bytes one upload started with this token may hold (all its parts together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// Whether an upload started with this token may replace an existing object.
    #[serde(default)]
    pub replace: bool,
}

/// The claims partup reads; `exp` is checked by the verifier (with [`verify::LEEWAY_SECONDS`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub partup: Scope,
}

/// What a verified token allows, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub sub: String,
    pub scope: Scope,
}

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A server without tokens (loopback, or `--allow-anonymous`); also every reader with
    /// `--read public`. May do everything.
    Anonymous,
    /// The holder of a verified token.
    Bearer(Grant),
}

impl Caller {
    /// Whether the caller may upload to `key`.
    pub fn may_write(&self, key: &str) -> bool {
        match self {
            Caller::Anonymous => true,
            Caller::Bearer(grant) => grant.scope.write.iter().any(|e| key_matches(e, key)),
        }
    }

    /// Whether the caller may read the object `key`.
    pub fn may_read(&self, key: &str) -> bool {
        match self {
            Caller::Anonymous => true,
            Caller::Bearer(grant) => grant.scope.read.iter().any(|e| key_matches(e, key)),
        }
    }

    /// The grant of a token; `None` for anonymous callers.
    pub fn grant(&self) -> Option<&Grant> {
        match self {
            Caller::Anonymous => None,
            Caller::Bearer(grant) => Some(grant),
        }
    }
}

/// Whether a scope entry covers `key`: an entry ending in `/` is a prefix (`videos/alice/` covers
/// `videos/alice/a.mp4`); any other entry covers exactly that key and the keys under it as a
/// folder (`videos/alice` covers `videos/alice` and `videos/alice/a.mp4`, never
/// `videos/alice2/a.mp4`); the empty entry `""` covers every key.
pub fn key_matches(entry: &str, key: &str) -> bool {
    if entry.is_empty() || entry.ends_with('/') {
        return key.starts_with(entry);
    }
    match key.strip_prefix(entry) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_in_a_slash_and_a_key_covers_its_folder_only() {
        assert!(key_matches("videos/alice/", "videos/alice/a.mp4"));
        assert!(!key_matches("videos/alice/", "videos/alice"));
        assert!(!key_matches("videos/alice/", "videos/alice2/a.mp4"));
        assert!(key_matches("videos/alice", "videos/alice"));
        assert!(key_matches("videos/alice", "videos/alice/a.mp4"));
        assert!(!key_matches("videos/alice", "videos/alice2/a.mp4"));
        assert!(!key_matches("videos/alice", "videos/alic"));
        assert!(key_matches("", "anything/at/all"));
    }

    #[test]
    fn anonymous_callers_may_do_everything_and_bearers_what_their_scope_says() {
        assert!(Caller::Anonymous.may_write("x") && Caller::Anonymous.may_read("x"));
        let bearer = Caller::Bearer(Grant {
            sub: "alice".into(),
            scope: Scope {
                write: vec!["videos/alice/".into()],
                read: vec!["videos/".into()],
                ..Scope::default()
            },
        });
        assert!(bearer.may_write("videos/alice/a") && !bearer.may_write("videos/bob/a"));
        assert!(bearer.may_read("videos/bob/a") && !bearer.may_read("photos/a"));
    }
}
