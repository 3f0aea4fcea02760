//! The part plan: how a file of a given size is cut into numbered parts.
//!
//! Pure arithmetic, unit-tested natively. The plan never reads the file: a part is just a byte
//! range `[start, end)` that the hashing and upload steps later cut out with `Blob.slice`, so the
//! plan costs nothing whatever the file size.

use partup_wire::MAX_PART_NUMBER;

/// Default part size: 8 MiB, large enough that per-request overhead is small, small enough that a
/// retry re-sends little.
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// The server's default minimum for every part but the last (SPEC.md: 100 KiB).
pub const DEFAULT_MIN_PART_SIZE: u64 = 100 << 10;
/// The server's default maximum part size (SPEC.md: 100 MiB).
pub const DEFAULT_MAX_PART_SIZE: u64 = 100 << 20;
/// Parts are numbered 1..=N as OSS and S3 do, so at most this many parts exist.
pub const MAX_PARTS: u64 = MAX_PART_NUMBER as u64;

/// How a file is cut into parts. Part numbers run from 1 to `part_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub file_size: u64,
    pub part_size: u64,
    pub part_count: u32,
}

/// Why no plan fits the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl PartPlan {
    /// Plans `file_size` bytes with parts of `requested_part_size`, raised to `min_part_size`, and
    /// grown (to a whole number of MiB, for readable sizes) so that at most 10,000 parts are
    /// needed. Fails when even `max_part_size` parts cannot cover the file.
    pub fn new(
        file_size: u64,
        requested_part_size: u64,
        min_part_size: u64,
        max_part_size: u64,
    ) -> Result<PartPlan, PlanError> {
        let mut part_size = requested_part_size.max(min_part_size).max(1);
        if file_size.div_ceil(part_size) > MAX_PARTS {
            let needed = file_size.div_ceil(MAX_PARTS);
            part_size = needed.div_ceil(1 << 20) * (1 << 20);
        }
        if part_size > max_part_size && file_size > max_part_size {
            return Err(PlanError(format!(
                "the file is {file_size} bytes; with at most {MAX_PARTS} parts of at most \
                 {max_part_size} bytes (the server's part limit) it cannot be uploaded"
            )));
        }
        Ok(PartPlan::with_part_size(file_size, part_size))
    }

    /// The plan for an already chosen part size (used when resuming with the size stored then).
    /// Returns `None` when that size would need more than 10,000 parts.
    pub fn resumed(file_size: u64, part_size: u64) -> Option<PartPlan> {
        if part_size == 0 || file_size.div_ceil(part_size) > MAX_PARTS {
            return None;
        }
        Some(PartPlan::with_part_size(file_size, part_size))
    }

    fn with_part_size(file_size: u64, part_size: u64) -> PartPlan {
        // A 0-byte file is still one (empty) part: complete needs a non-empty list.
        let part_count = file_size.div_ceil(part_size).max(1) as u32;
        PartPlan {
            file_size,
            part_size,
            part_count,
        }
    }

    /// Byte range `[start, end)` of part `number` (1-based).
    pub fn range(&self, number: u32) -> (u64, u64) {
        debug_assert!(number >= 1 && number <= self.part_count);
        let start = (number as u64 - 1) * self.part_size;
        let end = (start + self.part_size).min(self.file_size);
        (start, end)
    }

    /// Size in bytes of part `number` (1-based).
    pub fn part_len(&self, number: u32) -> u64 {
        let (start, end) = self.range(number);
        end - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn plan(size: u64, part: u64) -> PartPlan {
        PartPlan::new(size, part, DEFAULT_MIN_PART_SIZE, DEFAULT_MAX_PART_SIZE).unwrap()
    }

    #[test]
    fn empty_file_is_one_empty_part() {
        let p = plan(0, DEFAULT_PART_SIZE);
        assert_eq!(p.part_count, 1);
        assert_eq!(p.range(1), (0, 0));
    }

    #[test]
    fn boundaries_around_the_part_size() {
        let ps = DEFAULT_PART_SIZE;
        assert_eq!(plan(1, ps).part_count, 1);
        assert_eq!(plan(ps - 1, ps).part_count, 1);
        assert_eq!(plan(ps, ps).part_count, 1);
        let p = plan(ps + 1, ps);
        assert_eq!(p.part_count, 2);
        assert_eq!(p.range(1), (0, ps));
        assert_eq!(p.range(2), (ps, ps + 1));
        assert_eq!(p.part_len(2), 1);
    }

    #[test]
    fn ranges_cover_the_file_exactly() {
        let p = plan(50 * MIB + 12345, 8 * MIB);
        let mut next = 0;
        for n in 1..=p.part_count {
            let (s, e) = p.range(n);
            assert_eq!(s, next);
            assert!(e > s);
            next = e;
        }
        assert_eq!(next, p.file_size);
    }

    #[test]
    fn part_size_is_raised_to_the_minimum() {
        let p = PartPlan::new(10 * MIB, 1000, 100 * 1024, DEFAULT_MAX_PART_SIZE).unwrap();
        assert_eq!(p.part_size, 100 * 1024);
    }

    #[test]
    fn part_size_grows_to_stay_within_10000_parts() {
        let size = 200 * 1024 * MIB; // 200 GiB at 8 MiB would be 25,600 parts
        let p = plan(size, 8 * MIB);
        assert!(p.part_count as u64 <= MAX_PARTS);
        assert_eq!(p.part_size % MIB, 0);
        assert_eq!(p.range(p.part_count).1, size);
        // Exactly 10,000 parts of the requested size need no growth.
        assert_eq!(plan(10_000 * 8 * MIB, 8 * MIB).part_size, 8 * MIB);
        assert_eq!(plan(10_000 * 8 * MIB + 1, 8 * MIB).part_size, 9 * MIB);
    }

    #[test]
    fn too_big_for_the_server_is_refused() {
        let err = PartPlan::new(
            10_001 * 100 * MIB,
            8 * MIB,
            DEFAULT_MIN_PART_SIZE,
            100 * MIB,
        );
        assert!(err.is_err());
    }

    #[test]
    fn resumed_plan_keeps_the_stored_size() {
        assert_eq!(PartPlan::resumed(20 * MIB, 5 * MIB).unwrap().part_count, 4);
        assert!(PartPlan::resumed(20 * MIB, 1).is_none());
        assert!(PartPlan::resumed(20, 0).is_none());
    }
}
