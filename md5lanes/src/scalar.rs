//! The single-stream compressor: a lone stream never waits for company, it is hashed here.
//!
//! This is md-5's own block function (`md5::block_api::compress`, RustCrypto's portable
//! code, the compressor the server used before this crate). A hand-scheduled x86-64 variant
//! ("NoLEA", animetosho/md5-optimisation) was considered; see the crate docs for why md-5 stays.

/// Compresses whole 64-byte blocks of one stream into `state`.
#[inline]
pub(crate) fn compress(state: &mut [u32; 4], blocks: &[[u8; 64]]) {
    if !blocks.is_empty() {
        md5::block_api::compress(state, blocks);
    }
}
