//! Files built in memory from many small pieces (MediaRecorder chunks, generated exports): each
//! part's slice of such a Blob makes Chromium copy into its blob store, which refuses reads once
//! about 500 MiB are held; the client keeps one slice per part, lets it go when the part is done,
//! and waits out a failed read (pipeline.rs) while the garbage collector frees released slices.
//! (A Blob built in memory of 512 MiB or more cannot be read at all in this Chromium, even one of
//! 8 MiB pieces and with no slice taken; Firefox and WebKitGTK read 1 GiB.)
//!
//! Run by `scripts/test-client.sh` (`PARTUP_TEST_LARGE_SERVER`) in Chromium, Firefox and WebKitGTK.

use partup::js_glue::js_object;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

fn server() -> &'static str {
    // Without --max-object-size, unlike PARTUP_TEST_SERVER's 64 MiB.
    option_env!("PARTUP_TEST_LARGE_SERVER").unwrap_or_else(|| {
        panic!("PARTUP_TEST_LARGE_SERVER is not set: run scripts/test-client.sh")
    })
}

async fn upload_pieces(len: u64, piece: usize, seed: u64) {
    let key = unique_key("pieces.bin");
    let file = make_file_of_pieces(len, piece, seed, "pieces.bin");
    let endpoint = format!("{}/v1/multipart/parallel", server());
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
    assert_download_equals(&format!("{}/v1/objects/{key}", server()), len, seed).await;
}

#[wasm_bindgen_test]
async fn a_256_mib_file_of_4096_pieces_uploads() {
    upload_pieces(256 * MIB, 64 * 1024, 77).await;
}
