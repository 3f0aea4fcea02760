//! `--min-free-space`: the one rule for how much room a write needs, for every flow that writes.
//!
//! Below the floor, new uploads, parts and completes are refused with `507 InsufficientStorage`
//! before anything is written, so the disk never fills with bytes nobody can use and the space that
//! is left goes to what was already acknowledged. A write needs the room for its bytes *and* the
//! floor: an uploadInit needs the floor, a part its declared size (and, while its bytes arrive, the
//! floor still, looked at every [`PART_CHECK_INTERVAL`] bytes), a complete the size of the object it
//! is about to copy. Stores without a notion of free space ([`Backend::disk_space`] is `None`: S3)
//! are never refused here. The floor is a guard, not a promise: concurrent writes can still meet a
//! real `ENOSPC`, which the fs store answers with 507 too, leaving nothing behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::FreeSpace;
use crate::error::{AppError, AppResult};
use crate::storage::backend::Backend;
use crate::storage::fs::free_space::DiskSpace;
use crate::storage::uploads::Storage;

/// How many bytes of a part arrive between two looks at the free space.
pub const PART_CHECK_INTERVAL: u64 = 4 << 20;

/// What is about to be written, for the refusal's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// An upload's directory and record (uploadInit).
    Init,
    /// A part of the size given (`0` when its size is not known before it arrives).
    Part,
    /// More bytes of a part already arriving.
    PartInFlight,
    /// The copy of a completed object.
    Object,
}

/// Whether `min_free` turns the rule off (`--min-free-space 0`): then only the kernel refuses a
/// write, when the disk is really full (still `507`).
pub fn is_off(min_free: FreeSpace) -> bool {
    match min_free {
        FreeSpace::Bytes(bytes) => bytes == 0,
        FreeSpace::Percent(percent) => percent <= 0.0,
    }
}

/// `Ok` when `space` has room for `more` bytes while keeping `min_free` free (or the rule is off);
/// else `507`.
pub fn check_room(space: DiskSpace, min_free: FreeSpace, more: u64, what: Write) -> AppResult<()> {
    if is_off(min_free) {
        return Ok(());
    }
    let floor = min_free.bytes_of(space.total);
    if floor
        .checked_add(more)
        .is_some_and(|needed| space.available >= needed)
    {
        return Ok(());
    }
    let message = match what {
        Write::Init => "the server is low on disk space (below its --min-free-space): no upload \
                        can start until space is freed; nothing was written"
            .to_owned(),
        Write::Part if more == 0 => "the server is low on disk space (below its \
                                     --min-free-space): no part can be stored until space is \
                                     freed; nothing of it was written and the parts stored are kept"
            .to_owned(),
        Write::Part => format!(
            "the server is low on disk space: a part of {more} bytes would take it below its \
             --min-free-space; nothing of it was written and the parts stored are kept, send it \
             again once space is freed"
        ),
        Write::PartInFlight => "the server's disk went below its --min-free-space while this part \
                                arrived; what arrived of it was discarded and the parts stored \
                                are kept, send it again once space is freed"
            .to_owned(),
        Write::Object => format!(
            "the server has no room to assemble an object of {more} bytes and keep its \
             --min-free-space; nothing changed and the parts are kept, complete again once space \
             is freed"
        ),
    };
    Err(AppError::insufficient_storage(message))
}

/// How often, at most, the log says that writes are refused for the floor.
const WARN_EVERY_SECS: u64 = 60;
/// When it last said so (seconds since 1970).
static LAST_WARNING: AtomicU64 = AtomicU64::new(0);

/// Logs, at most once a minute, that the floor was reached: the operator's cue to free space.
fn warn_floor_reached(space: DiskSpace, min_free: FreeSpace) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let last = LAST_WARNING.load(Ordering::Relaxed);
    if now.saturating_sub(last) < WARN_EVERY_SECS
        || LAST_WARNING
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    tracing::warn!(
        available = space.available,
        floor = min_free.bytes_of(space.total),
        "the data directory is at its --min-free-space: writes are refused with 507 until space is freed"
    );
}

/// The floor of one store: where to look, and how much to keep.
#[derive(Clone)]
pub struct SpaceFloor {
    backend: Arc<dyn Backend>,
    min_free: FreeSpace,
}

impl SpaceFloor {
    pub fn new(backend: Arc<dyn Backend>, min_free: FreeSpace) -> SpaceFloor {
        SpaceFloor { backend, min_free }
    }

    /// Refuses (`507`) a write of `more` bytes that would take the store below its floor.
    pub async fn ensure_room(&self, more: u64, what: Write) -> AppResult<()> {
        if is_off(self.min_free) {
            return Ok(());
        }
        match self.backend.disk_space().await {
            Ok(Some(space)) => check_room(space, self.min_free, more, what).inspect_err(|_| {
                warn_floor_reached(space, self.min_free);
            }),
            Ok(None) => Ok(()),
            // Not knowing is no reason to refuse: the kernel still refuses a full disk, and that
            // is answered with 507 too.
            Err(e) => {
                tracing::warn!("cannot tell how much room the store has, writing anyway: {e}");
                Ok(())
            }
        }
    }
}

/// A part's look at the free space while its bytes arrive.
pub struct PartRoomWatch {
    floor: SpaceFloor,
    next_check: u64,
}

impl PartRoomWatch {
    pub fn new(floor: SpaceFloor) -> PartRoomWatch {
        PartRoomWatch {
            floor,
            next_check: PART_CHECK_INTERVAL,
        }
    }

    /// Called with the part's size so far, before its latest bytes are written: every
    /// [`PART_CHECK_INTERVAL`] bytes, refuses (`507`) when the store went below its floor.
    pub async fn received(&mut self, size: u64) -> AppResult<()> {
        if size < self.next_check {
            return Ok(());
        }
        self.next_check = size.saturating_add(PART_CHECK_INTERVAL);
        self.floor.ensure_room(0, Write::PartInFlight).await
    }
}

impl Storage {
    /// The same storage, refusing writes that would leave less than `min_free` free.
    pub fn with_min_free_space(self, min_free: FreeSpace) -> Storage {
        Storage {
            space: SpaceFloor::new(self.backend.clone(), min_free),
            ..self
        }
    }

    /// The room where the store writes (`None` from a store without that notion: S3), as the
    /// floor sees it; the metrics report it.
    pub async fn disk_space(&self) -> AppResult<Option<DiskSpace>> {
        self.backend.disk_space().await
    }

    /// Refuses (`507`) a part whose request declares `declared` bytes when they would take the
    /// store below its floor; called before anything of the part is read or written.
    pub async fn ensure_room_for_part(&self, declared: Option<u64>) -> AppResult<()> {
        self.space
            .ensure_room(declared.unwrap_or(0), Write::Part)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use partup_wire::ErrorCode;

    const MIB: u64 = 1 << 20;

    fn disk(total: u64, available: u64) -> DiskSpace {
        DiskSpace { total, available }
    }

    fn refused(result: AppResult<()>) -> bool {
        match result {
            Ok(()) => false,
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InsufficientStorage);
                assert_eq!(e.code.http_status(), 507);
                assert!(!e.message.contains('/'), "no path in {:?}", e.message);
                true
            }
        }
    }

    #[test]
    fn a_write_needs_its_bytes_and_the_floor() {
        let floor = FreeSpace::Bytes(10 * MIB);
        let space = disk(100 * MIB, 30 * MIB);
        assert!(!refused(check_room(space, floor, 20 * MIB, Write::Part)));
        assert!(refused(check_room(space, floor, 20 * MIB + 1, Write::Part)));
        assert!(!refused(check_room(space, floor, 0, Write::Init)));
        assert!(refused(check_room(
            disk(100 * MIB, 10 * MIB - 1),
            floor,
            0,
            Write::Init
        )));
    }

    #[test]
    fn a_percentage_is_of_the_whole_disk() {
        // 1% of 1000 MiB is 10 MiB, however much is free.
        let floor = FreeSpace::Percent(1.0);
        let total = 1000 * MIB;
        assert!(!refused(check_room(
            disk(total, 10 * MIB),
            floor,
            0,
            Write::Object
        )));
        assert!(refused(check_room(
            disk(total, 10 * MIB - 1),
            floor,
            0,
            Write::Object
        )));
        assert!(refused(check_room(
            disk(total, 15 * MIB),
            floor,
            5 * MIB + 1,
            Write::Object
        )));
    }

    #[test]
    fn zero_turns_the_rule_off() {
        for off in [FreeSpace::Bytes(0), FreeSpace::Percent(0.0)] {
            assert!(is_off(off));
            assert!(!refused(check_room(disk(100, 0), off, 0, Write::Init)));
            assert!(!refused(check_room(disk(100, 50), off, 51, Write::Object)));
        }
        assert!(!is_off(FreeSpace::Bytes(1)));
        assert!(!is_off(FreeSpace::Percent(0.5)));
    }

    #[test]
    fn the_smallest_floor_still_refuses_what_cannot_fit() {
        let tiny = FreeSpace::Bytes(1);
        assert!(!refused(check_room(disk(100, 51), tiny, 50, Write::Object)));
        assert!(refused(check_room(disk(100, 50), tiny, 50, Write::Object)));
        // A size no disk has never overflows into a pass.
        assert!(refused(check_room(
            disk(u64::MAX, u64::MAX),
            FreeSpace::Bytes(1),
            u64::MAX,
            Write::Part
        )));
    }

    #[test]
    fn each_refusal_says_what_was_refused_and_that_nothing_was_lost() {
        let space = disk(100, 0);
        let floor = FreeSpace::Bytes(1);
        for what in [Write::Init, Write::Part, Write::PartInFlight, Write::Object] {
            let message = check_room(space, floor, 7, what).unwrap_err().message;
            assert!(message.contains("--min-free-space"), "{message}");
        }
        let part = check_room(space, floor, 7, Write::Part).unwrap_err();
        assert!(part.message.contains("7 bytes"), "{}", part.message);
    }

    /// A backend that reports a fixed amount of room and supports nothing else.
    struct FixedSpace(Option<DiskSpace>);

    #[async_trait::async_trait]
    impl Backend for FixedSpace {
        async fn disk_space(&self) -> AppResult<Option<DiskSpace>> {
            Ok(self.0)
        }
        async fn create_upload(&self, _: &crate::storage::UploadId, _: &[u8]) -> AppResult<()> {
            unreachable!()
        }
        async fn read_record(
            &self,
            _: &crate::storage::UploadId,
            _: crate::storage::records::Record,
        ) -> AppResult<Option<Vec<u8>>> {
            unreachable!()
        }
        async fn record_exists(
            &self,
            _: &crate::storage::UploadId,
            _: crate::storage::records::Record,
        ) -> AppResult<bool> {
            unreachable!()
        }
        async fn write_record(
            &self,
            _: &crate::storage::UploadId,
            _: crate::storage::records::Record,
            _: &[u8],
        ) -> AppResult<()> {
            unreachable!()
        }
        async fn begin_part(
            &self,
            _: Option<&crate::storage::PartDestination>,
        ) -> AppResult<Box<dyn crate::storage::backend::PartWriter>> {
            unreachable!()
        }
        async fn stored_parts(
            &self,
            _: &crate::storage::UploadId,
        ) -> AppResult<std::collections::BTreeMap<u32, crate::storage::backend::StoredPart>>
        {
            unreachable!()
        }
        async fn assemble(
            &self,
            _: &crate::storage::backend::AssemblyPlan,
        ) -> Result<(), crate::storage::backend::AssembleFailure> {
            unreachable!()
        }
        async fn discard_parts(&self, _: &crate::storage::UploadId) -> AppResult<()> {
            unreachable!()
        }
        async fn remove_upload(&self, _: &crate::storage::UploadId) -> AppResult<()> {
            unreachable!()
        }
        async fn object_exists(&self, _: &str) -> AppResult<bool> {
            unreachable!()
        }
        async fn open_object(
            &self,
            _: &str,
        ) -> AppResult<Option<crate::storage::backend::OpenedObject>> {
            unreachable!()
        }
        async fn list_uploads(&self) -> AppResult<Vec<crate::storage::backend::UploadActivity>> {
            unreachable!()
        }
        async fn upload_activity(
            &self,
            _: &crate::storage::UploadId,
        ) -> AppResult<Option<crate::storage::backend::UploadActivity>> {
            unreachable!()
        }
        async fn remove_stale_staging(&self, _: std::time::Duration) -> AppResult<()> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn a_store_without_free_space_is_never_refused() {
        let s3_like = SpaceFloor::new(Arc::new(FixedSpace(None)), FreeSpace::Percent(100.0));
        assert!(!refused(s3_like.ensure_room(u64::MAX, Write::Object).await));
        let full = SpaceFloor::new(
            Arc::new(FixedSpace(Some(disk(100 * MIB, MIB)))),
            FreeSpace::Bytes(2 * MIB),
        );
        assert!(refused(full.ensure_room(0, Write::Init).await));
    }

    #[tokio::test]
    async fn a_part_in_flight_looks_every_few_mib() {
        let full = SpaceFloor::new(
            Arc::new(FixedSpace(Some(disk(100 * MIB, MIB)))),
            FreeSpace::Bytes(2 * MIB),
        );
        let mut watch = PartRoomWatch::new(full);
        // Not looked at before the first interval is reached…
        assert!(!refused(watch.received(PART_CHECK_INTERVAL - 1).await));
        // …then refused as soon as it is.
        assert!(refused(watch.received(PART_CHECK_INTERVAL).await));
        // The next look comes one interval later.
        assert!(!refused(watch.received(PART_CHECK_INTERVAL + 1).await));
        assert!(refused(watch.received(2 * PART_CHECK_INTERVAL).await));
    }
}
