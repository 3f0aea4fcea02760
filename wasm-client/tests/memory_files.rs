//! Files built in memory from many small pieces (MediaRecorder chunks, generated exports): each
//! part's slice of such a Blob makes Chromium copy into its blob store, which refuses reads once
//! about 500 MiB are held; the client keeps one slice per part, lets it go when the part is done,
//! and waits out a failed read (pipeline.rs) while the garbage collector frees released slices.
//! Chromium holds 500 MiB of Blobs until it has worked out its blob storage limits (2 GiB in
//! memory, then paging to disk), on a background thread about a second after it starts; a Blob
//! built beyond that before is broken for good (`chrome://blob-internals`: `ERR_OUT_OF_MEMORY`),
//! and its upload fails at once with `FileChanged`. The 1 GiB case waits for those limits first
//! (`browser_keeps_blobs_of`): the browser is what is waited for, not the client.
//!
//! Run by `scripts/test-client.sh` (`PARTUP_TEST_LARGE_SERVER`) in Chromium, Firefox and WebKitGTK.

use js_sys::{Array, Uint8Array};
use partup::js_glue::js_object;
use partup::timers::sleep_ms;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::Blob;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A server without `--max-object-size`, unlike [`server`]'s 64 MiB.
fn large_server() -> &'static str {
    required(
        option_env!("PARTUP_TEST_LARGE_SERVER"),
        "PARTUP_TEST_LARGE_SERVER",
    )
}

async fn upload_pieces(len: u64, piece: usize, seed: u64) {
    let key = unique_key("pieces.bin");
    let file = make_file_of_pieces(len, piece, seed, "pieces.bin");
    let endpoint = format!("{}/v1/multipart/parallel", large_server());
    let upload = start_with(
        &uploader(&endpoint, 8 * MIB, 4, &[]),
        &file,
        js_object(&[("resourceKey", key.as_str().into())]),
        &[],
    );
    let result = finish(&upload)
        .await
        .unwrap_or_else(|e| panic!("the {len}-byte file of {piece}-byte pieces failed: {e:?}"));
    assert_eq!(num(&result, "size") as u64, len);
    assert_download_equals(&format!("{}/v1/objects/{key}", large_server()), len, seed).await;
}

#[wasm_bindgen_test]
async fn a_256_mib_file_of_4096_pieces_uploads() {
    upload_pieces(256 * MIB, 64 * 1024, 77).await;
}

/// Waits until a Blob of `len` bytes built in memory can be read (Chromium's startup, above).
async fn browser_keeps_blobs_of(len: u64) {
    let piece = Uint8Array::new_with_length(MIB as u32);
    let pieces = Array::new();
    for _ in 0..len / MIB {
        pieces.push(&piece);
    }
    for _ in 0..30 {
        let blob = Blob::new_with_u8_array_sequence(&pieces).unwrap();
        let last_byte = blob.slice_with_f64(blob.size() - 1.0).unwrap();
        if JsFuture::from(last_byte.array_buffer()).await.is_ok() {
            return;
        }
        sleep_ms(1000.0).await;
    }
    panic!("the browser never kept a Blob of {len} bytes");
}

#[wasm_bindgen_test]
async fn a_1_gib_file_of_16384_pieces_uploads() {
    browser_keeps_blobs_of(600 * MIB).await;
    upload_pieces(1024 * MIB, 64 * 1024, 78).await;
}
