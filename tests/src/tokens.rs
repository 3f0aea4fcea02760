//! Upload tokens for the suites, minted in-process with `jsonwebtoken` (the crate partup verifies
//! with) from the test-only keys in `tests/fixtures/auth/`: valid ones, and ones broken on purpose.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// The path of a file in `tests/fixtures/auth/` (test-only keys: never use them elsewhere).
pub fn fixture(name: &str) -> String {
    format!("{}/fixtures/auth/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The flags of a server that accepts tokens signed with the fixture secret (HS256) or any of
/// the fixture private keys (EdDSA, ES256, RS256), of which it holds the public keys.
pub fn auth_args() -> Vec<String> {
    let mut args = vec!["--auth-secret-file".to_owned(), fixture("secret.txt")];
    for public in ["ed25519-public.pem", "ec-p256-public.pem", "rsa-public.pem"] {
        args.push("--auth-public-key".to_owned());
        args.push(fixture(public));
    }
    args
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims of `sub` valid for an hour, with partup's `scope` (`{"write": [...], ...}`).
pub fn claims(sub: &str, scope: Value) -> Value {
    json!({"sub": sub, "exp": unix_now() + 3600, "partup": scope})
}

/// The fixture secret as partup reads it: the file without trailing whitespace.
pub fn secret() -> Vec<u8> {
    let text = std::fs::read_to_string(fixture("secret.txt")).unwrap();
    text.trim_end().as_bytes().to_vec()
}

/// `claims` signed HS256 with `secret`.
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret);
    encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// `claims` signed HS256 with the fixture secret: a token the auth server accepts.
pub fn token(claims: &Value) -> String {
    sign_hs256(&secret(), claims)
}

/// `claims` signed with a fixture private key: `EdDSA` (ed25519), `ES256` (ec-p256) or `RS256`.
pub fn signed_with(algorithm: Algorithm, claims: &Value) -> String {
    let (file, from_pem): (&str, fn(&[u8]) -> _) = match algorithm {
        Algorithm::EdDSA => ("ed25519-private.pem", EncodingKey::from_ed_pem),
        Algorithm::ES256 => ("ec-p256-private.pem", EncodingKey::from_ec_pem),
        _ => ("rsa-private.pem", EncodingKey::from_rsa_pem),
    };
    let key = from_pem(&std::fs::read(fixture(file)).unwrap()).unwrap();
    encode(&Header::new(algorithm), claims, &key).unwrap()
}

/// `claims` with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    let signed = token(claims);
    let payload = signed.split('.').nth(1).unwrap();
    format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
}
