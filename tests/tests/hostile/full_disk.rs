//! Full disks on the fs store (`--data` on a small tmpfs the test mounts, or `--min-free-space`
//! set so the floor is crossed already): the write that meets the floor or a real `ENOSPC` gets
//! `507 InsufficientStorage`, leaves no temporary file, and every acknowledged part and the previous
//! object stay as they were; once space is freed the same upload resumes and completes byte-exact.
//!
//! The tmpfs cases mount a filesystem: the suite runs as root (as CI does). Run otherwise, they fail
//! saying so rather than skip. On `PARTUP_TEST_STORE=s3` there is no disk to fill: they do nothing.

use std::time::Duration;

use partup_tests::{Answer, TestServer, expected_etag, md5_hex, test_bytes};
use partup_wire::{CompleteResponse, InitResponse};

use crate::disk_kit::{
    MIB, Stored, Tmpfs, answer_seen, is_507, message, on_fs_store, upload_part_streamed, verdict,
};
use crate::outcomes::{self, Outcome};

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

/// A server on a 64 MiB tmpfs, with `--min-free-space 0` when `floor_off`.
async fn server_on(disk: &Tmpfs, floor_off: bool) -> TestServer {
    let mut args = vec!["--min-part-size", "1"];
    if floor_off {
        args.extend(["--min-free-space", "0"]);
    }
    TestServer::start_in(disk.path(), &args).await
}

/// Parts beyond the room of a 64 MiB tmpfs, one declaring its size and one sent chunked: the part
/// that meets the floor (or, with `real_enospc`, `--min-free-space 0`, the kernel's ENOSPC) gets
/// 507; nothing is left behind and nothing acknowledged lost; once a file is deleted the same upload
/// resumes and completes.
async fn parts_beyond_a_full_disk(real_enospc: bool) {
    let disk = Tmpfs::mount(64);
    let server = server_on(&disk, real_enospc).await;
    let api = server.api();
    let stored = Stored::new(&api, "disk/full.bin", 4 * MIB, 8 * MIB, 3, 2, 1).await;
    // Room for less than a part.
    let filler = disk.fill_until_free(6 * MIB);
    let third = &stored.parts[2];
    let declared = api.upload_part_try(&stored.id, 3, third).await.unwrap();
    let chunked = upload_part_streamed(&api, &stored.id, 3, third, 256 << 10, Duration::ZERO).await;
    let problems = stored.changes(&server).await;
    // Space comes back: the same upload goes on.
    std::fs::remove_file(&filler).unwrap();
    let resumed = api.upload_part_try(&stored.id, 3, third).await.unwrap();
    let done = api.complete_raw(&stored.id, &stored.list()).await;
    let finished =
        resumed.status == 200 && done.status == 200 && stored.completed_byte_exact(&api).await;
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
    let stored = Stored::new(&server.api(), "disk/floor.bin", 100_000, 200_000, 2, 1, 20).await;
    // The whole disk must stay free: the floor is crossed whatever the disk holds.
    server
        .extra_args
        .extend(["--min-free-space".into(), "100%".into()]);
    server.restart().await;
    let api = server.api();
    let other = serde_json::json!({"resourceKey": "disk/other.bin"});
    let init = api.post_json("uploadInit", &other).await;
    let part = api
        .upload_part_try(&stored.id, 2, &stored.parts[1])
        .await
        .unwrap();
    let sent = [(1, md5_hex(&stored.parts[0]))];
    let complete = api.complete_raw(&stored.id, &sent).await;
    let mut problems = stored.changes(&server).await;
    let uploads = server
        .data_files()
        .iter()
        .filter(|p| p.ends_with("upload.json"))
        .count();
    if uploads != 2 {
        problems.push(format!("{uploads} uploads stored, 2 expected"));
    }
    // The floor lifted, the same upload goes on.
    server.extra_args.truncate(server.extra_args.len() - 2);
    server.restart().await;
    let api = server.api();
    let resumed = api
        .upload_part_try(&stored.id, 2, &stored.parts[1])
        .await
        .unwrap();
    let done = api.complete_raw(&stored.id, &stored.list()).await;
    let finished =
        resumed.status == 200 && done.status == 200 && stored.completed_byte_exact(&api).await;
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
    assert!(finished, "part: {resumed:?}, complete: {done:?}");
}

/// Three parts that fit, and an object that would not: the complete is refused before it copies a
/// byte, changes nothing, and succeeds once space is freed. With `real_enospc`, the floor is off
/// (`--min-free-space 0`) and the kernel refuses in the middle of the copy instead.
async fn complete_beyond_a_full_disk(real_enospc: bool) {
    let disk = Tmpfs::mount(64);
    let server = server_on(&disk, real_enospc).await;
    let api = server.api();
    let stored = Stored::new(&api, "disk/assembly.bin", 4 * MIB, 8 * MIB, 3, 3, 30).await;
    // The object needs 24 MiB; the floor check sees 16, the copy runs out after about 12.
    let filler = disk.fill_until_free(if real_enospc { 12 * MIB } else { 16 * MIB });
    let refused = api.complete_raw(&stored.id, &stored.list()).await;
    let problems = stored.changes(&server).await;
    std::fs::remove_file(&filler).unwrap();
    let done = api.complete_raw(&stored.id, &stored.list()).await;
    let finished = done.status == 200 && stored.completed_byte_exact(&api).await;
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
    let expected_refusal = if real_enospc {
        "the kernel, mid-copy"
    } else {
        "the floor, before copying"
    };
    assert_eq!(refused_by, expected_refusal, "{refused:?}");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(finished, "{done:?}");
    let response: CompleteResponse = done.ok();
    let parts: Vec<&[u8]> = stored.parts.iter().map(Vec::as_slice).collect();
    assert_eq!(response.etag, expected_etag(&parts));
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

/// The space an instant upload's copy of a 64 MiB object takes on `disk`.
async fn space_an_instant_copy_takes(disk: &Tmpfs) -> u64 {
    let server = TestServer::start_in(disk.path(), &["--min-part-size", "1"]).await;
    let api = server.api();
    let parts: Vec<Vec<u8>> = (0..8).map(|i| test_bytes(700 + i, 8 * MIB)).collect();
    let (_, done) = api.upload_whole("instant/source.bin", &parts).await;
    let declared = serde_json::json!({
        "resourceKey": "instant/copy.bin",
        "size": done.size,
        "partSize": 8 * MIB,
        "etag": done.etag,
    });
    // The parts of the source are freed after its answer, in the background.
    let settled = disk.available_when_settled().await;
    let init: InitResponse = api.post_json("uploadInit", &declared).await.ok();
    assert!(init.instant.is_some(), "a hit");
    let taken = settled.saturating_sub(disk.available_when_settled().await);
    api.assert_object("instant/copy.bin", &parts.concat()).await;
    taken
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instant_copy_shares_extents_where_the_filesystem_can() {
    if !on_fs_store() {
        return;
    }
    let xfs = Tmpfs::mount_xfs(320);
    let on_xfs = space_an_instant_copy_takes(&xfs).await;
    // tmpfs cannot share: the same copy takes the object's whole size there.
    let tmpfs = Tmpfs::mount(200);
    let on_tmpfs = space_an_instant_copy_takes(&tmpfs).await;
    eprintln!("a 64 MiB instant copy took {on_xfs} bytes on XFS, {on_tmpfs} on tmpfs");
    assert!(on_tmpfs >= 64 * MIB as u64, "{on_tmpfs}");
    assert!(on_xfs < MIB as u64, "{on_xfs} bytes on XFS");
}
