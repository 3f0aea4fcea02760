//! How every hook request is signed (SPEC.md, Events): the header
//! `Partup-Signature: t=UNIX,v1=HEX`, where `HEX` is HMAC-SHA256 with the secret of
//! `--hook-secret-file` over `"{t}.{body}"` (the exact bytes of the body). The timestamp is signed
//! with the body, so a receiver that refuses old timestamps refuses a replayed request; each
//! delivery attempt is signed afresh.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "partup-signature";

/// Signs hook requests with the shared secret.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(…)")
    }
}

impl Signer {
    /// A signer with the secret held in `path`: the file's content without surrounding whitespace
    /// (so a trailing newline does not count), at least 16 bytes.
    pub fn from_file(path: &Path) -> Result<Signer, String> {
        let content = std::fs::read(path)
            .map_err(|e| format!("cannot read --hook-secret-file {}: {e}", path.display()))?;
        let secret = content.trim_ascii();
        if secret.len() < 16 {
            return Err(format!(
                "the hook secret in {} is {} bytes; use at least 16 (e.g. 32 random bytes as hex)",
                path.display(),
                secret.len()
            ));
        }
        Ok(Signer {
            secret: secret.to_vec(),
        })
    }

    /// The `Partup-Signature` value for `body` sent at `unix` (seconds).
    pub fn sign_at(&self, unix: u64, body: &[u8]) -> String {
        format!("t={unix},v1={}", hex::encode(self.mac(unix, body)))
    }

    /// The `Partup-Signature` value for `body` sent now.
    pub fn sign(&self, body: &[u8]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.sign_at(now, body)
    }

    fn mac(&self, unix: u64, body: &[u8]) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(unix.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_the_timestamp_and_body() {
        let signer = Signer {
            secret: b"0123456789abcdef".to_vec(),
        };
        let header = signer.sign_at(1_700_000_000, br#"{"a":1}"#);
        let (t, v1) = header.split_once(',').unwrap();
        assert_eq!(t, "t=1700000000");
        // The same computation a receiver does, written out.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(br#"1700000000.{"a":1}"#);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(v1, format!("v1={expected}"));
        assert_ne!(header, signer.sign_at(1_700_000_001, br#"{"a":1}"#));
    }

    #[test]
    fn a_short_or_missing_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        assert!(Signer::from_file(&path).is_err());
        std::fs::write(&path, "short\n").unwrap();
        assert!(
            Signer::from_file(&path)
                .unwrap_err()
                .contains("at least 16")
        );
        std::fs::write(&path, "a-secret-of-enough-bytes\n").unwrap();
        assert_eq!(
            Signer::from_file(&path).unwrap().secret,
            b"a-secret-of-enough-bytes"
        );
    }
}
