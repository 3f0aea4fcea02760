//! Deterministic test data and the digests to check it by.

use md5::{Digest, Md5};

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce, and nothing compresses
/// or dedupes (the benchmarks measure real bytes).
pub fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lowercase hex MD5, as the API spells it.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// The S3 multipart etag of the given parts, computed independently of the server (and of
/// `partup-wire`, which the server uses for it).
pub fn expected_etag(parts: &[&[u8]]) -> String {
    let mut outer = Md5::new();
    for part in parts {
        outer.update(Md5::digest(part));
    }
    format!("{}-{}", hex::encode(outer.finalize()), parts.len())
}

/// Asserts two byte strings are equal, reporting lengths and the first difference instead of
/// printing megabytes.
#[track_caller]
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let first_difference = actual.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes read, {} expected; first difference at {:?}",
            actual.len(),
            expected.len(),
            first_difference
        );
    }
}
