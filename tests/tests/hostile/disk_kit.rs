//! What the full-disk and sweep cases share: a tmpfs to use as `--data`, parts sent slowly or
//! linked on disk, and the checks that nothing acknowledged changed and nothing was left behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use partup_server::storage::upload_index::UploadEntry;
use partup_tests::{Answer, Api, TestServer, md5_hex, test_bytes};
use partup_wire::ListPartsResponse;

pub const MIB: usize = 1 << 20;

/// A filesystem of a few MiB (a tmpfs, or XFS on a loop device) mounted on a fresh directory;
/// unmounted (then the directory removed) when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size_mib: usize) -> Tmpfs {
        let dir = tempfile::tempdir().expect("a mount point");
        mount_as_root(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size_mib}m"))
                .arg("tmpfs")
                .arg(dir.path()),
        );
        Tmpfs { dir }
    }

    /// An XFS filesystem (which shares extents: reflink) of `size_mib` MiB (300 at least) in an
    /// image file in the test's temporary directory, mounted on a loop device.
    pub fn mount_xfs(size_mib: usize) -> Tmpfs {
        let dir = tempfile::tempdir().expect("a mount point");
        let image = tempfile::NamedTempFile::new().expect("an image file");
        image
            .as_file()
            .set_len((size_mib * MIB) as u64)
            .expect("the image's size");
        let made = Command::new("mkfs.xfs")
            .args(["-q", "-f"])
            .arg(image.path())
            .status()
            .expect("run mkfs.xfs (xfsprogs; scripts/test-hostile.sh installs it)");
        assert!(made.success(), "mkfs.xfs failed");
        mount_as_root(
            Command::new("mount")
                .args(["-o", "loop"])
                .arg(image.path())
                .arg(dir.path()),
        );
        // Mounted, the image is held by its loop device; its name can go now.
        drop(image);
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

    /// [`Tmpfs::available`] once what the server frees in the background after an answer (a
    /// completed upload's parts) is freed: the same figure, after a `sync`, three times in a row.
    pub async fn available_when_settled(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut last, mut same) = (0, 0);
        while same < 3 && Instant::now() < deadline {
            let _ = Command::new("sync").arg("-f").arg(self.path()).status();
            let now = self.available();
            same = if now == last { same + 1 } else { 0 };
            last = now;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        last
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

/// Runs `mount`, which needs root: fails saying so otherwise.
fn mount_as_root(mount: &mut Command) {
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the full-disk cases mount a filesystem as --data and must run as root (CI does): run \
         scripts/test-hostile.sh as root"
    );
    let mounted = mount.output().expect("run mount");
    assert!(
        mounted.status.success(),
        "{mount:?} failed: {}",
        String::from_utf8_lossy(&mounted.stderr)
    );
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
pub async fn listed(api: &Api, upload_id: &str) -> Vec<(u32, String)> {
    let parts: ListPartsResponse = api.list_parts(upload_id).await.ok();
    parts
        .parts
        .into_iter()
        .map(|p| (p.part_number, p.md5))
        .collect()
}

/// The object's bytes, or `None` when there is none.
pub async fn object(api: &Api, key: &str) -> Option<Vec<u8>> {
    let response = api.get_object(key).await;
    (response.status() == 200).then_some(response.bytes().await.unwrap().to_vec())
}

/// Files under `--data` that are neither an upload's record, an acknowledged part (`parts`: upload
/// id → part numbers) nor an object file: what a failed write left behind.
pub fn debris(server: &TestServer, parts: &[(&str, &[u32])]) -> Vec<PathBuf> {
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
            // A completed object's entry in the content index (instant upload).
            let indexed = path.starts_with("index") && path.components().count() == 4;
            !(record
                || object
                || indexed
                || listed_in_progress(server, path)
                || acknowledged.contains(path))
        })
        .collect()
}

/// Whether `path` is the listUploads entry (`uploads-index/OWNER/REVTS-ID`) of an upload still in
/// progress: its `upload.json` stored, no `completed.json`. One of an upload that ended is debris.
fn listed_in_progress(server: &TestServer, path: &Path) -> bool {
    let Some((_, id)) = path
        .starts_with("uploads-index")
        .then_some(path)
        .filter(|p| p.components().count() == 3)
        .and_then(|p| UploadEntry::parse_name(p.file_name()?.to_str()?))
    else {
        return false;
    };
    let upload = server.data.path().join("uploads").join(id.as_str());
    upload.join("upload.json").exists() && !upload.join("completed.json").exists()
}

/// "nothing", or what the checks found lost or left behind.
pub fn verdict(problems: &[String]) -> String {
    if problems.is_empty() {
        "nothing".into()
    } else {
        problems.join("; ")
    }
}

pub fn is_507(answer: &Answer) -> bool {
    answer.status == 507 && answer.body["code"] == "InsufficientStorage"
}

pub fn message(answer: &Answer) -> String {
    answer.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A random duration below `bound`.
pub fn random_below(bound: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let nanos = bound.as_nanos().max(1) as u64;
    Duration::from_nanos(u64::from_le_bytes(bytes) % nanos)
}

/// An upload in progress beside a completed object under the same key: what every refusal must
/// leave as it was.
pub struct Stored {
    pub key: &'static str,
    pub previous: Vec<u8>,
    pub previous_id: String,
    pub id: String,
    /// Every part of the upload, sent or not.
    pub parts: Vec<Vec<u8>>,
    /// The part numbers acknowledged so far.
    pub acknowledged: Vec<u32>,
    pub listed_before: Vec<(u32, String)>,
}

impl Stored {
    /// Completes an object of `previous_len` bytes under `key`, then starts an upload of `parts`
    /// (`part_len` bytes each, from `seed`) to replace it and sends the first `send` of them.
    pub async fn new(
        api: &Api,
        key: &'static str,
        previous_len: usize,
        part_len: usize,
        parts: u32,
        send: u32,
        seed: u64,
    ) -> Stored {
        let previous = test_bytes(seed, previous_len);
        let (previous_id, _) = api.upload_whole(key, std::slice::from_ref(&previous)).await;
        let id = api.init(key).await.upload_id;
        let parts: Vec<Vec<u8>> = (1..=parts as u64)
            .map(|n| test_bytes(seed + n, part_len))
            .collect();
        for n in 1..=send {
            api.upload_part(&id, n, &parts[n as usize - 1]).await;
        }
        let listed_before = listed(api, &id).await;
        Stored {
            key,
            previous,
            previous_id,
            id,
            parts,
            acknowledged: (1..=send).collect(),
            listed_before,
        }
    }

    /// The complete list of all the parts.
    pub fn list(&self) -> Vec<(u32, String)> {
        (1..=self.parts.len() as u32)
            .map(|n| (n, md5_hex(&self.parts[n as usize - 1])))
            .collect()
    }

    /// What changed that a refusal must not change: the listed parts, the previous object, files
    /// left behind (and, with `completed`, any trace of a completion).
    pub async fn changes(&self, server: &TestServer) -> Vec<String> {
        let api = server.api();
        let mut problems = Vec::new();
        let now = listed(&api, &self.id).await;
        if now != self.listed_before {
            problems.push(format!(
                "listParts changed: {:?} → {now:?}",
                self.listed_before
            ));
        }
        if object(&api, self.key).await.as_deref() != Some(&self.previous[..]) {
            problems.push("the previous object changed".into());
        }
        let upload_dir = server.data.path().join("uploads").join(&self.id);
        for trace in ["completed.json", "object.pending"] {
            if upload_dir.join(trace).exists() {
                problems.push(format!("{trace} was left"));
            }
        }
        let left = debris(
            server,
            &[(&self.id, &self.acknowledged), (&self.previous_id, &[])],
        );
        if !left.is_empty() {
            problems.push(format!("left behind: {left:?}"));
        }
        problems
    }

    /// Whether the object now holds exactly the upload's parts.
    pub async fn completed_byte_exact(&self, api: &Api) -> bool {
        object(api, self.key).await.as_deref() == Some(&self.parts.concat()[..])
    }
}
