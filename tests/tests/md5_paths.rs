//! The MD5 engine over HTTP (server/src/storage/md5_engine.rs): on every SIMD path this CPU has
//! (forced with `--md5-path`), many parts sent at once, some of them damaged on the way, each get
//! their own verdict: the right MD5 stored, the damaged ones refused with BadDigest, and the object
//! byte-exact with the multipart etag of its parts.

use futures_util::future::join_all;
use md5lanes::Path;
use partup_tests::{TestServer, expected_etag, md5_hex, test_bytes};
use partup_wire::{ErrorCode, PartInfo};

/// Sizes around block and chunk boundaries, and larger ones that span many chunks.
const SIZES: [usize; 12] = [
    1,
    55,
    64,
    65,
    4095,
    65_537,
    300_001,
    1 << 20,
    (1 << 20) + 63,
    2_500_000,
    3 << 20,
    777,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_every_md5_path_of_this_cpu_parts_sent_at_once_get_their_own_md5_and_damaged_ones_are_refused()
 {
    for path in Path::available() {
        let server = TestServer::start(&["--md5-path", path.name(), "--min-part-size", "1"]).await;
        let api = server.api();
        let key = format!("md5-paths/{}.bin", path.name());
        let upload_id = api.init(&key).await.upload_id;
        let parts: Vec<Vec<u8>> = SIZES
            .iter()
            .enumerate()
            .map(|(i, &len)| test_bytes(i as u64 + 100, len))
            .collect();
        // Every part twice at once: once whole under its part number, once with one byte flipped
        // under number + 100 with the whole part's MD5 (damaged on the way).
        let sends = parts.iter().enumerate().flat_map(|(i, bytes)| {
            let number = i as u32 + 1;
            let mut damaged = bytes.clone();
            let middle = damaged.len() / 2;
            damaged[middle] ^= 0x40;
            let (api, upload_id) = (&api, &upload_id);
            let md5 = md5_hex(bytes);
            [
                Box::pin(async move {
                    let answer = api
                        .upload_part_raw(upload_id, &number.to_string(), &md5, bytes.clone())
                        .await;
                    (number, Some(answer.ok::<PartInfo>()), None::<String>)
                }) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
                Box::pin(async move {
                    let answer = api
                        .upload_part_raw(
                            upload_id,
                            &(number + 100).to_string(),
                            &md5_hex(bytes),
                            damaged,
                        )
                        .await;
                    (
                        number + 100,
                        None::<PartInfo>,
                        Some(answer.error(ErrorCode::BadDigest)),
                    )
                }),
            ]
        });
        for (number, stored, refused) in join_all(sends).await {
            if let Some(info) = stored {
                let bytes = &parts[number as usize - 1];
                assert_eq!(info.md5, md5_hex(bytes), "path {path}, part {number}");
                assert_eq!(info.size, bytes.len() as u64, "path {path}, part {number}");
            } else {
                let message = refused.expect("a refusal");
                assert!(message.contains("damaged"), "path {path}: {message}");
            }
        }
        let listed: Vec<(u32, String)> = parts
            .iter()
            .enumerate()
            .map(|(i, bytes)| (i as u32 + 1, md5_hex(bytes)))
            .collect();
        let done = api.complete(&upload_id, &listed).await;
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        assert_eq!(done.etag, expected_etag(&slices), "path {path}");
        api.assert_object(&key, &parts.concat()).await;
    }
}
