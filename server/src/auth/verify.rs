//! Verifying upload tokens: the keys of `--auth-secret-file` (HS256, HS384, HS512) and
//! `--auth-public-key` (EdDSA; ES256, ES384; RS256…RS512, PS256…PS512), each accepting only the
//! algorithms of its own family, so an HS256 token "signed" with a public key's bytes (algorithm
//! confusion) or `alg: none` never verifies. Messages never repeat the token or a key.

use std::path::{Path, PathBuf};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use crate::auth::{Claims, Grant};

/// Seconds a token is still accepted after its `exp` by default (`--auth-leeway`): clocks of
/// partup and the minting backend differ a little.
pub const LEEWAY_SECONDS: u64 = 30;

/// Shortest shared secret accepted: 256 bits, as RFC 7518 §3.2 asks of HS256 keys.
pub const MIN_SECRET_BYTES: usize = 32;

const HMAC: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const EDDSA: &[Algorithm] = &[Algorithm::EdDSA];
const ECDSA: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384];
const RSA: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One key and the algorithms it may verify.
struct VerifyingKey {
    key: DecodingKey,
    validation: Validation,
}

impl VerifyingKey {
    fn new(key: DecodingKey, algorithms: &[Algorithm], leeway_seconds: u64) -> VerifyingKey {
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.to_vec();
        validation.leeway = leeway_seconds;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        VerifyingKey { key, validation }
    }
}

/// Every key tokens may be signed with.
pub struct Verifier {
    keys: Vec<VerifyingKey>,
}

/// Why a token was refused, as a sentence for the 401's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Verifier {
    /// The keys of the auth options, accepting tokens up to `leeway_seconds` past their `exp`;
    /// `None` when no key is given (an anonymous server).
    pub fn load(
        secret_file: Option<&Path>,
        public_keys: &[PathBuf],
        leeway_seconds: u64,
    ) -> Result<Option<Verifier>, String> {
        let mut keys = Vec::new();
        if let Some(path) = secret_file {
            let secret = read_secret(path)?;
            let key = DecodingKey::from_secret(&secret);
            keys.push(VerifyingKey::new(key, HMAC, leeway_seconds));
        }
        for path in public_keys {
            keys.push(read_public_key(path, leeway_seconds)?);
        }
        Ok((!keys.is_empty()).then_some(Verifier { keys }))
    }

    /// The grant of a valid token.
    pub fn verify(&self, token: &str) -> Result<Grant, Refusal> {
        let header = decode_header(token).map_err(|e| describe(e.kind()))?;
        let mut refusal = Refusal(format!(
            "the token is signed with {:?}, which no key of this server verifies",
            header.alg
        ));
        for key in &self.keys {
            if !key.validation.algorithms.contains(&header.alg) {
                continue;
            }
            match decode::<Claims>(token, &key.key, &key.validation) {
                Ok(data) if data.claims.sub.is_empty() => {
                    return Err(Refusal("the token's sub claim is empty".into()));
                }
                Ok(data) => {
                    return Ok(Grant {
                        sub: data.claims.sub,
                        scope: data.claims.partup,
                    });
                }
                Err(e) => refusal = describe(e.kind()),
            }
        }
        Err(refusal)
    }
}

fn describe(kind: &ErrorKind) -> Refusal {
    let why = match kind {
        ErrorKind::ExpiredSignature => "the token has expired; ask for a fresh one",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidSignature => "the token's signature does not verify",
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => "the token has no exp claim",
        ErrorKind::MissingRequiredClaim(_) => "the token has no sub claim",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "the token's algorithm does not fit the server's keys"
        }
        ErrorKind::Json(_) => {
            "the token's header or claims are not what partup expects (SPEC.md, Authorization)"
        }
        _ => "the token is malformed: not a signed JWT",
    };
    Refusal(why.into())
}

/// The shared secret: the file's bytes without trailing whitespace, at least 32 of them.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let content = std::fs::read(path)
        .map_err(|e| format!("cannot read the auth secret file {}: {e}", path.display()))?;
    let end = content
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |last| last + 1);
    if end < MIN_SECRET_BYTES {
        return Err(format!(
            "the auth secret in {} is {end} bytes; use at least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -hex 32`)",
            path.display()
        ));
    }
    Ok(content[..end].to_vec())
}

/// A PEM public key (Ed25519, EC or RSA), with the algorithms of its kind.
fn read_public_key(path: &Path, leeway_seconds: u64) -> Result<VerifyingKey, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the auth public key {}: {e}", path.display()))?;
    if String::from_utf8_lossy(&pem).contains("PRIVATE KEY") {
        return Err(format!(
            "{} holds a private key; give partup only the public key, so it cannot mint tokens",
            path.display()
        ));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
        return Ok(VerifyingKey::new(key, EDDSA, leeway_seconds));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        return Ok(VerifyingKey::new(key, ECDSA, leeway_seconds));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok(VerifyingKey::new(key, RSA, leeway_seconds));
    }
    Err(format!(
        "{} is not a PEM public key (Ed25519, EC P-256/P-384 or RSA)",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::{Value, json};

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/auth")
            .join(name)
    }

    fn later() -> u64 {
        jsonwebtoken::get_current_timestamp() + 600
    }

    fn hs256(claims: &Value) -> String {
        let secret = read_secret(&fixture("secret.txt")).unwrap();
        let key = EncodingKey::from_secret(&secret);
        encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
    }

    fn refusal(verifier: &Verifier, token: &str) -> String {
        verifier.verify(token).expect_err("refused").0
    }

    #[test]
    fn a_secret_verifies_its_tokens_and_refuses_odd_claims() {
        let verifier = Verifier::load(Some(&fixture("secret.txt")), &[], LEEWAY_SECONDS)
            .unwrap()
            .unwrap();
        let scope = json!({"write": ["a/"], "maxSize": 5});
        let grant = verifier
            .verify(&hs256(
                &json!({"sub": "alice", "exp": later(), "partup": scope}),
            ))
            .unwrap();
        assert_eq!(
            (grant.sub.as_str(), grant.scope.max_size),
            ("alice", Some(5))
        );
        let early = json!({"sub": "alice", "exp": later(), "nbf": later()});
        assert!(refusal(&verifier, &hs256(&early)).contains("nbf"));
        let typed = json!({"sub": "alice", "exp": later(), "partup": {"maxSize": "big"}});
        assert!(refusal(&verifier, &hs256(&typed)).contains("claims"));
        let nobody = json!({"sub": "", "exp": later()});
        assert!(refusal(&verifier, &hs256(&nobody)).contains("empty"));
    }

    #[test]
    fn a_public_key_verifies_no_hmac_token_even_one_keyed_with_its_own_bytes() {
        let verifier = Verifier::load(None, &[fixture("rsa-public.pem")], LEEWAY_SECONDS)
            .unwrap()
            .unwrap();
        let pem = std::fs::read(fixture("rsa-public.pem")).unwrap();
        let claims = json!({"sub": "mallory", "exp": later()});
        let key = EncodingKey::from_secret(&pem);
        let forged = encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(refusal(&verifier, &forged).contains("HS256"));
        let private = std::fs::read(fixture("rsa-private.pem")).unwrap();
        let key = EncodingKey::from_rsa_pem(&private).unwrap();
        let signed = encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
        assert_eq!(verifier.verify(&signed).unwrap().sub, "mallory");
    }

    #[test]
    fn a_token_expired_within_the_leeway_is_still_accepted() {
        let verifier = Verifier::load(Some(&fixture("secret.txt")), &[], LEEWAY_SECONDS)
            .unwrap()
            .unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let lately = json!({"sub": "alice", "exp": now - LEEWAY_SECONDS / 2});
        assert!(verifier.verify(&hs256(&lately)).is_ok());
        let long_ago = json!({"sub": "alice", "exp": now - LEEWAY_SECONDS - 5});
        assert!(refusal(&verifier, &hs256(&long_ago)).contains("expired"));
    }

    #[test]
    fn no_auth_option_means_no_verifier() {
        assert!(Verifier::load(None, &[], LEEWAY_SECONDS).unwrap().is_none());
    }
}
