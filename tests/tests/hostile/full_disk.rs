//! Full disks on the fs store (`--data` on a small tmpfs the test mounts, or `--min-free-space`
//! set so the floor is crossed already): the write that meets the floor or a real `ENOSPC` gets
//! `507 InsufficientStorage`, leaves no temporary file, and every acknowledged part and the previous
//! object stay as they were; once space is freed the same upload resumes and completes byte-exact.
//! And a complete is all or nothing, also when the server is killed (`kill -9`) in the middle of it.
//!
//! The tmpfs cases mount a filesystem: the suite runs as root (as CI does). Run otherwise, they fail
//! saying so rather than skip. On `PARTUP_TEST_STORE=s3` there is no disk to fill: they do nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use partup_tests::{Answer, Api, TestServer, expected_etag, md5_hex, test_bytes};
use partup_wire::{CompleteResponse, ListPartsResponse};

use crate::outcomes::{self, Outcome};

const MIB: usize = 1 << 20;

/// A tmpfs of a few MiB mounted on a fresh directory; unmounted (then the directory removed) when
/// dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size_mib: usize) -> Tmpfs {
        let uid = Command::new("id").arg("-u").output().expect("run id -u");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the full-disk cases mount a tmpfs as --data and must run as root (CI does): run \
             scripts/test-hostile.sh as root"
        );
        let dir = tempfile::tempdir().expect("a mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_mib}m"))
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            mounted.status.success(),
            "mount -t tmpfs failed: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes an unprivileged writer may still write here (`f_bavail`, as the server counts).
    pub fn available(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.path())
            .output()
            .expect("run stat -f");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut numbers = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
        numbers.next().expect("free blocks") * numbers.next().expect("block size")
    }

    /// Writes a filler file beside the data directory until about `free` bytes are left.
    pub fn fill_until_free(&self, free: usize) -> PathBuf {
        let path = self
            .path()
            .join(format!("filler-{}", Instant::now().elapsed().as_nanos()));
        let fill = self.available().saturating_sub(free as u64) as usize;
        std::fs::write(&path, vec![0xA5; fill]).expect("the filler fits");
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.dir.path()).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Something still holds it open: detach it now, it goes when released.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Whether the cases of this file can run: the fs store (`PARTUP_TEST_STORE` not `s3`).
pub fn on_fs_store() -> bool {
    if std::env::var("PARTUP_TEST_STORE").as_deref() == Ok("s3") {
        eprintln!("full-disk cases are about --store fs; nothing to do on S3");
        return false;
    }
    true
}

/// `507 InsufficientStorage`-style text of an answer: its status and code.
pub fn answer_seen(answer: &Answer) -> String {
    match answer.body.get("code").and_then(|c| c.as_str()) {
        Some(code) => format!("{} {code}", answer.status),
        None => answer.status.to_string(),
    }
}

/// A part whose bytes are sent in `chunk`-sized pieces, `pause` apart, with no length declared
/// (chunked): the server learns its size only as it arrives. The form names the upload first.
pub async fn upload_part_streamed(
    api: &Api,
    upload_id: &str,
    number: u32,
    bytes: &[u8],
    chunk: usize,
    pause: Duration,
) -> Answer {
    let chunks: Vec<Bytes> = bytes.chunks(chunk).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::iter(chunks).then(move |piece| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(piece)
    });
    let form = reqwest::multipart::Form::new()
        .text("uploadId", upload_id.to_owned())
        .text("partNumber", number.to_string())
        .text("md5", md5_hex(bytes))
        .part(
            "content",
            reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream)).file_name("blob"),
        );
    let response = api
        .http
        .post(api.url("upload"))
        .multipart(form)
        .send()
        .await
        .expect("request sent");
    Api::answer(response).await
}

/// Makes parts `numbers` of an upload copies of its stored part `from` without sending them again
/// (hard links: a part file holds its own md5 and size): a big upload at no cost, to make a complete
/// long.
pub fn link_parts(
    server: &TestServer,
    upload_id: &str,
    from: u32,
    numbers: impl Iterator<Item = u32>,
) {
    let parts = server
        .data
        .path()
        .join("uploads")
        .join(upload_id)
        .join("parts");
    for number in numbers {
        std::fs::hard_link(
            parts.join(format!("{from:05}")),
            parts.join(format!("{number:05}")),
        )
        .expect("link a part file");
    }
}

/// The etag of an object of `count` copies of one part whose md5 is `md5_hex` (computed here, from
/// the digests: hashing the parts' bytes again would take longer than the test).
pub fn etag_of_copies(md5_hex: &str, count: usize) -> String {
    use md5::{Digest, Md5};
    let digest = hex::decode(md5_hex).expect("hex md5");
    let mut outer = Md5::new();
    for _ in 0..count {
        outer.update(&digest);
    }
    format!("{}-{count}", hex::encode(outer.finalize()))
}

/// The upload's parts as listParts shows them: number → md5.
async fn listed(api: &Api, upload_id: &str) -> Vec<(u32, String)> {
    let parts: ListPartsResponse = api.list_parts(upload_id).await.ok();
    parts
        .parts
        .into_iter()
        .map(|p| (p.part_number, p.md5))
        .collect()
}

/// The object's bytes, or `None` when there is none.
async fn object(api: &Api, key: &str) -> Option<Vec<u8>> {
    let response = api.get_object(key).await;
    (response.status() == 200).then_some(response.bytes().await.unwrap().to_vec())
}

/// Files under `--data` that are neither an upload's record, an acknowledged part (`parts`: upload
/// id → part numbers) nor an object file: what a failed write left behind.
fn debris(server: &TestServer, parts: &[(&str, &[u32])]) -> Vec<PathBuf> {
    let acknowledged: BTreeSet<PathBuf> = parts
        .iter()
        .flat_map(|(id, numbers)| {
            numbers.iter().map(move |n| {
                Path::new("uploads")
                    .join(id)
                    .join("parts")
                    .join(format!("{n:05}"))
            })
        })
        .collect();
    server
        .data_files()
        .into_iter()
        .filter(|path| {
            let record = path.starts_with("uploads")
                && path.components().count() == 3
                && path
                    .file_name()
                    .is_some_and(|n| n == "upload.json" || n == "completed.json");
            let object = path.starts_with("objects") && path.components().count() == 3;
            !(record || object || acknowledged.contains(path))
        })
        .collect()
}

/// "nothing", or what the checks found lost or left behind.
fn verdict(problems: &[String]) -> String {
    if problems.is_empty() {
        "nothing".into()
    } else {
        problems.join("; ")
    }
}

fn is_507(answer: &Answer) -> bool {
    answer.status == 507 && answer.body["code"] == "InsufficientStorage"
}

fn message(answer: &Answer) -> String {
    answer.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// How a refused part's message says it was refused.
fn refused_part_by(answer: &Answer) -> &'static str {
    let text = message(answer);
    if text.contains("while this part arrived") {
        "the floor, while it arrived"
    } else if text.contains("--min-free-space") {
        "the floor, at its start"
    } else {
        "ENOSPC, while it arrived"
    }
}

/// Parts beyond the room of a 64 MiB tmpfs, one declaring its size and one sent chunked: the part
/// that meets the floor (or, with `real_enospc`, `--min-free-space 0`, the kernel's ENOSPC) gets
/// 507; nothing is left behind and nothing acknowledged lost; once a file is deleted the same upload
/// resumes and completes.
async fn parts_beyond_a_full_disk(real_enospc: bool) {
    let disk = Tmpfs::mount(64);
    let mut args = vec!["--min-part-size", "1"];
    if real_enospc {
        args.extend(["--min-free-space", "0"]);
    }
    let server = TestServer::start_in(disk.path(), &args).await;
    let api = server.api();
    let key = "disk/full.bin";
    let previous = test_bytes(1, 4 * MIB);
    let (previous_id, _) = api.upload_whole(key, std::slice::from_ref(&previous)).await;
    let id = api.init(key).await.upload_id;
    let parts: Vec<Vec<u8>> = (0..3).map(|i| test_bytes(10 + i, 8 * MIB)).collect();
    api.upload_part(&id, 1, &parts[0]).await;
    api.upload_part(&id, 2, &parts[1]).await;
    let before = listed(&api, &id).await;
    // Room for less than a part.
    let filler = disk.fill_until_free(6 * MIB);
    let declared = api.upload_part_try(&id, 3, &parts[2]).await.unwrap();
    let chunked = upload_part_streamed(&api, &id, 3, &parts[2], 256 << 10, Duration::ZERO).await;

    let mut problems = Vec::new();
    let after = listed(&api, &id).await;
    if after != before {
        problems.push(format!("listParts changed: {before:?} → {after:?}"));
    }
    if object(&api, key).await.as_deref() != Some(&previous[..]) {
        problems.push("the previous object changed".into());
    }
    let left = debris(&server, &[(&id, &[1, 2]), (&previous_id, &[])]);
    if !left.is_empty() {
        problems.push(format!("left behind: {left:?}"));
    }
    // Space comes back: the same upload goes on.
    std::fs::remove_file(&filler).unwrap();
    let resumed = api.upload_part_try(&id, 3, &parts[2]).await.unwrap();
    let list: Vec<(u32, String)> = (1..=3)
        .map(|n| (n, md5_hex(&parts[n as usize - 1])))
        .collect();
    let done = api.complete_raw(&id, &list).await;
    let finished = resumed.status == 200
        && done.status == 200
        && object(&api, key).await.as_deref() == Some(&parts.concat()[..]);
    outcomes::record(Outcome {
        attack: if real_enospc {
            "parts beyond a full disk, --min-free-space 0 (64 MiB tmpfs): one declared, one chunked"
        } else {
            "parts beyond a full disk (64 MiB tmpfs): one declared, one chunked"
        },
        answer_seen: format!(
            "{} (declared part; {}), {} (chunked part; {})",
            answer_seen(&declared),
            refused_part_by(&declared),
            answer_seen(&chunked),
            refused_part_by(&chunked),
        ),
        legitimate_upload_finished: Some(finished),
        lost: verdict(&problems),
    });
    assert!(is_507(&declared), "{declared:?}");
    assert!(is_507(&chunked), "{chunked:?}");
    if real_enospc {
        assert_eq!(refused_part_by(&declared), "ENOSPC, while it arrived");
        assert_eq!(refused_part_by(&chunked), "ENOSPC, while it arrived");
    } else {
        assert_eq!(refused_part_by(&declared), "the floor, at its start");
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert!(finished, "resumed part: {resumed:?}, complete: {done:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_beyond_the_floor_get_507_and_the_upload_resumes_once_space_is_freed() {
    if on_fs_store() {
        parts_beyond_a_full_disk(false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_in_the_middle_of_a_part_changes_nothing_and_the_upload_resumes() {
    if on_fs_store() {
        parts_beyond_a_full_disk(true).await;
    }
}

/// `--min-free-space` set above what the disk has: inits, parts and completes are all refused
/// before anything is written; reads go on; with the floor lifted the upload completes.
#[tokio::test]
async fn below_the_floor_init_part_and_complete_are_refused_and_change_nothing() {
    if !on_fs_store() {
        return;
    }
    let mut server = TestServer::start(&["--min-part-size", "1"]).await;
    let api = server.api();
    let key = "disk/floor.bin";
    let previous = test_bytes(20, 100_000);
    let (previous_id, _) = api.upload_whole(key, std::slice::from_ref(&previous)).await;
    let id = api.init(key).await.upload_id;
    let parts = [test_bytes(21, 300_000), test_bytes(22, 200_000)];
    api.upload_part(&id, 1, &parts[0]).await;
    let before = listed(&api, &id).await;

    // The whole disk must stay free: the floor is crossed whatever the disk holds.
    server
        .extra_args
        .extend(["--min-free-space".into(), "100%".into()]);
    server.restart().await;
    let api = server.api();
    let init = api
        .post_json(
            "uploadInit",
            &serde_json::json!({"resourceKey": "disk/other.bin"}),
        )
        .await;
    let part = api.upload_part_try(&id, 2, &parts[1]).await.unwrap();
    let list = [(1, md5_hex(&parts[0]))];
    let complete = api.complete_raw(&id, &list).await;

    let mut problems = Vec::new();
    if listed(&api, &id).await != before {
        problems.push("listParts changed".into());
    }
    if object(&api, key).await.as_deref() != Some(&previous[..]) {
        problems.push("the previous object changed or cannot be read".into());
    }
    let left = debris(&server, &[(&id, &[1]), (&previous_id, &[])]);
    if !left.is_empty() {
        problems.push(format!("left behind: {left:?}"));
    }
    let uploads_now = server
        .data_files()
        .iter()
        .filter(|p| p.ends_with("upload.json"))
        .count();
    if uploads_now != 2 {
        problems.push(format!("{uploads_now} uploads stored, 2 expected"));
    }
    // The floor lifted, the same upload goes on.
    server.extra_args.truncate(server.extra_args.len() - 2);
    server.restart().await;
    let api = server.api();
    api.upload_part(&id, 2, &parts[1]).await;
    let list = [(1, md5_hex(&parts[0])), (2, md5_hex(&parts[1]))];
    let done = api.complete_raw(&id, &list).await;
    let finished = done.status == 200 && object(&api, key).await == Some(parts.concat());
    outcomes::record(Outcome {
        attack: "--min-free-space 100% (floor crossed): init, part, complete",
        answer_seen: format!(
            "{} (init), {} (part), {} (complete)",
            answer_seen(&init),
            answer_seen(&part),
            answer_seen(&complete)
        ),
        legitimate_upload_finished: Some(finished),
        lost: verdict(&problems),
    });
    for answer in [&init, &part, &complete] {
        assert!(is_507(answer), "{answer:?}");
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert!(finished, "{done:?}");
}

/// Three parts that fit, and an object that would not: the complete is refused before it copies a
/// byte, changes nothing, and succeeds once space is freed. With `real_enospc`, the floor is off
/// (`--min-free-space 0`) and the kernel refuses in the middle of the copy instead.
async fn complete_beyond_a_full_disk(real_enospc: bool) {
    let disk = Tmpfs::mount(64);
    let mut args = vec!["--min-part-size", "1"];
    if real_enospc {
        args.extend(["--min-free-space", "0"]);
    }
    let server = TestServer::start_in(disk.path(), &args).await;
    let api = server.api();
    let key = "disk/assembly.bin";
    let previous = test_bytes(30, 4 * MIB);
    let (previous_id, _) = api.upload_whole(key, std::slice::from_ref(&previous)).await;
    let id = api.init(key).await.upload_id;
    let parts: Vec<Vec<u8>> = (0..3).map(|i| test_bytes(31 + i, 8 * MIB)).collect();
    for (i, part) in parts.iter().enumerate() {
        api.upload_part(&id, i as u32 + 1, part).await;
    }
    let before = listed(&api, &id).await;
    // The object needs 24 MiB; the floor check sees 16, the copy runs out after about 12.
    let filler = disk.fill_until_free(if real_enospc { 12 * MIB } else { 16 * MIB });
    let list: Vec<(u32, String)> = (1..=3)
        .map(|n| (n, md5_hex(&parts[n as usize - 1])))
        .collect();
    let refused = api.complete_raw(&id, &list).await;

    let mut problems = Vec::new();
    if listed(&api, &id).await != before {
        problems.push("listParts changed".into());
    }
    if object(&api, key).await.as_deref() != Some(&previous[..]) {
        problems.push("the previous object changed".into());
    }
    let upload_dir = server.data.path().join("uploads").join(&id);
    for record in ["completed.json", "object.pending"] {
        if upload_dir.join(record).exists() {
            problems.push(format!("{record} was left"));
        }
    }
    let left = debris(&server, &[(&id, &[1, 2, 3]), (&previous_id, &[])]);
    if !left.is_empty() {
        problems.push(format!("left behind: {left:?}"));
    }
    std::fs::remove_file(&filler).unwrap();
    let done = api.complete_raw(&id, &list).await;
    let finished = done.status == 200 && object(&api, key).await == Some(parts.concat());
    let refused_by = if message(&refused).contains("--min-free-space") {
        "the floor, before copying"
    } else {
        "the kernel, mid-copy"
    };
    outcomes::record(Outcome {
        attack: if real_enospc {
            "complete whose copy hits ENOSPC mid-assembly (--min-free-space 0, tmpfs)"
        } else {
            "complete whose object would not fit (parts fit; tmpfs)"
        },
        answer_seen: format!("{} (refused by {refused_by})", answer_seen(&refused)),
        legitimate_upload_finished: Some(finished),
        lost: verdict(&problems),
    });
    assert!(is_507(&refused), "{refused:?}");
    if real_enospc {
        assert_eq!(refused_by, "the kernel, mid-copy", "{refused:?}");
    } else {
        assert_eq!(refused_by, "the floor, before copying", "{refused:?}");
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert!(finished, "{done:?}");
    let response: CompleteResponse = done.ok();
    let expected: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    assert_eq!(response.etag, expected_etag(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_whose_object_would_not_fit_is_refused_before_copying() {
    if on_fs_store() {
        complete_beyond_a_full_disk(false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_in_the_middle_of_an_assembly_changes_nothing() {
    if on_fs_store() {
        complete_beyond_a_full_disk(true).await;
    }
}

/// A random duration below `bound`.
fn random_below(bound: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let nanos = bound.as_nanos().max(1) as u64;
    Duration::from_nanos(u64::from_le_bytes(bytes) % nanos)
}

/// When, in a complete, the server is killed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once the object being assembled in `tmp/` holds this share of its bytes.
    Copying(f64),
    /// This long after the request was sent.
    After(Duration),
    /// Once the completion record is stored.
    Decided,
    /// Once the complete answered.
    Answered,
}

/// Waits (polling `--data` every millisecond) until the complete of `upload_id`, `size` bytes, is at
/// `moment`, or `completing` ended; at most 60 s.
async fn reach(
    data: &Path,
    upload_id: &str,
    size: u64,
    moment: KillAt,
    completing: &tokio::task::JoinHandle<()>,
) {
    let upload = data.join("uploads").join(upload_id);
    let assembled = || -> u64 {
        std::fs::read_dir(data.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .filter(|meta| meta.is_file())
            .map(|meta| meta.len())
            .max()
            .unwrap_or(0)
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let there = match moment {
            KillAt::Copying(share) => assembled() as f64 >= share * size as f64,
            KillAt::After(delay) => started.elapsed() >= delay,
            KillAt::Decided => upload.join("completed.json").exists(),
            KillAt::Answered => false,
        };
        if there || completing.is_finished() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `kill -9` at chosen moments of a big complete (mid-copy, once the record is stored, after the
/// answer, at random): after the restart the object and its completion
/// record are both there (the retry answers the same 200) or neither (the upload is still in
/// progress, lists its parts and completes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_complete_leaves_object_and_record_together_or_neither() {
    if !on_fs_store() {
        return;
    }
    const PARTS: u32 = 16;
    let mut server = TestServer::start(&["--min-part-size", "1"]).await;
    let key = "disk/crash.bin";
    // An upload of PARTS copies of one 8 MiB part, sent once; each round's bytes differ.
    let prepare = |api: Api, data: PathBuf, seed: u64| async move {
        let part = test_bytes(seed, 8 * MIB);
        let id = api.init(key).await.upload_id;
        api.upload_part(&id, 1, &part).await;
        let parts = data.join("uploads").join(&id).join("parts");
        for n in 2..=PARTS {
            std::fs::hard_link(parts.join("00001"), parts.join(format!("{n:05}"))).unwrap();
        }
        let md5 = md5_hex(&part);
        let etag = etag_of_copies(&md5, PARTS as usize);
        let list: Vec<(u32, String)> = (1..=PARTS).map(|n| (n, md5.clone())).collect();
        (id, list, part.repeat(PARTS as usize), etag)
    };
    let data = server.data.path().to_path_buf();
    let (id, list, mut previous, _) = prepare(server.api(), data.clone(), 40).await;
    let started = Instant::now();
    server.api().complete(&id, &list).await;
    let duration = started.elapsed();
    let mut moments = vec![
        KillAt::Copying(0.0),
        KillAt::Copying(0.3),
        KillAt::Copying(0.7),
        KillAt::Copying(1.0),
        KillAt::Decided,
        KillAt::Decided,
        KillAt::Answered,
    ];
    // And at random moments of a complete as long as the first one.
    moments.extend((0..3).map(|_| KillAt::After(random_below(duration * 5 / 4))));
    let (mut both, mut neither, mut problems) = (0, 0, Vec::new());
    for (round, moment) in moments.into_iter().enumerate() {
        let (id, list, new, etag) = prepare(server.api(), data.clone(), 41 + round as u64).await;
        let completing = {
            let api = server.api();
            let list: Vec<serde_json::Value> = list
                .iter()
                .map(|(n, md5)| serde_json::json!({"partNumber": n, "md5": md5}))
                .collect();
            let body = serde_json::json!({"uploadId": id, "completeMultipartUpload": list});
            // The server dies under this request: its failure is expected.
            tokio::spawn(async move {
                let _ = api
                    .http
                    .post(api.url("uploadComplete"))
                    .json(&body)
                    .send()
                    .await;
            })
        };
        reach(&data, &id, new.len() as u64, moment, &completing).await;
        server.kill_hard();
        completing.abort();
        let _ = completing.await;
        server.restart().await;
        let api = server.api();
        let record = data
            .join("uploads")
            .join(&id)
            .join("completed.json")
            .exists();
        let current = object(&api, key).await;
        let object_is_new = current.as_deref() == Some(&new[..]);
        if record != object_is_new {
            problems.push(format!(
                "{moment:?}: completion record {}, object {}",
                if record { "present" } else { "absent" },
                if object_is_new { "new" } else { "not new" }
            ));
        }
        if !object_is_new && current.as_deref() != Some(&previous[..]) {
            problems.push(format!("{moment:?}: a partial or foreign object"));
        }
        let leftover: Vec<PathBuf> = server
            .data_files()
            .into_iter()
            .filter(|p| p.starts_with("tmp") || p.ends_with("object.pending"))
            .collect();
        if !leftover.is_empty() {
            problems.push(format!("{moment:?}: left after the restart: {leftover:?}"));
        }
        if record {
            both += 1;
        } else {
            neither += 1;
            if listed(&api, &id).await != list {
                problems.push(format!("{moment:?}: no record, but not all parts listed"));
            }
        }
        let retry = api.complete_raw(&id, &list).await;
        let same = retry.status == 200
            && retry.body["etag"] == etag.as_str()
            && retry.body["size"] == new.len() as u64
            && retry.body["resourceKey"] == key;
        if !same {
            problems.push(format!("{moment:?}: the retry answered {retry:?}"));
        }
        if object(&api, key).await.as_deref() != Some(&new[..]) {
            problems.push(format!(
                "{moment:?}: the object is not byte-exact after the retry"
            ));
        }
        previous = new;
    }
    outcomes::record(Outcome {
        attack: "kill -9 during a 128 MiB complete: mid-copy, at its record, after its answer, at random (10 times)",
        answer_seen: format!(
            "after restart: object and record {both}×, neither {neither}×; each retry 200, same answer"
        ),
        legitimate_upload_finished: Some(problems.is_empty()),
        lost: verdict(&problems),
    });
    assert!(problems.is_empty(), "{problems:?}");
    assert!(
        both > 0 && neither > 0,
        "the kills did not land on both sides of the record: {both} after, {neither} before"
    );
}
