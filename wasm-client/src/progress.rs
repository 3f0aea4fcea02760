//! Progress accounting: what `onProgress` reports.
//!
//! The tracker is pure (time is passed in) and unit-tested natively. Bytes are counted per part,
//! never accumulated per attempt, so a retried part is never counted twice: a retry resets that
//! part's in-flight count to zero and the bar may step back honestly. Speed is measured over a
//! sliding window of bytes really sent (parts skipped on resume don't inflate it).

use std::collections::VecDeque;

/// Where one part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartState {
    Waiting,
    Hashing,
    Uploading,
    Retrying,
    Done,
}

impl PartState {
    pub fn as_str(self) -> &'static str {
        match self {
            PartState::Waiting => "waiting",
            PartState::Hashing => "hashing",
            PartState::Uploading => "uploading",
            PartState::Retrying => "retrying",
            PartState::Done => "done",
        }
    }
}

/// Where the whole upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// uploadInit, or listParts when resuming.
    Initializing,
    /// Instant upload: every part is hashed before uploadInit, which then tells whether the
    /// server already holds the content.
    Hashing,
    Uploading,
    Paused,
    Completing,
    Done,
    Cancelled,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Initializing => "initializing",
            Phase::Hashing => "hashing",
            Phase::Uploading => "uploading",
            Phase::Paused => "paused",
            Phase::Completing => "completing",
            Phase::Done => "done",
            Phase::Cancelled => "cancelled",
            Phase::Failed => "failed",
        }
    }
}

/// Speed is averaged over this window.
const RATE_WINDOW_MS: f64 = 5_000.0;
/// `onProgress` is called at most this often for byte-level updates (40 fps would be wasteful
/// with a 10,000-entry `parts` array); state changes of whole parts and phases always report.
pub const MIN_EMIT_INTERVAL_MS: f64 = 50.0;

/// The counters behind one `onProgress` object.
#[derive(Debug, Clone)]
pub struct ProgressTracker {
    pub phase: Phase,
    part_sizes: Vec<u64>,
    states: Vec<PartState>,
    /// Bytes of each part the browser reports as sent in the current attempt.
    in_flight: Vec<u64>,
    done_bytes: u64,
    parts_done: u32,
    pub skipped_parts: u32,
    pub retries: u32,
    bytes_total: u64,
    /// Bytes of the parts hashed before uploadInit (instant upload).
    bytes_hashed: u64,
    /// Bytes really transferred, only ever growing (speed source).
    transferred: u64,
    samples: VecDeque<(f64, u64)>,
    last_emit_ms: f64,
}

/// A snapshot, ready to be turned into the JS object.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressSnapshot {
    pub phase: Phase,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub parts_done: u32,
    pub parts_total: u32,
    pub bytes_per_second: f64,
    pub eta_seconds: Option<f64>,
    pub parts: Vec<PartState>,
    pub skipped_parts: u32,
    pub retries: u32,
    pub bytes_hashed: u64,
}

impl ProgressTracker {
    /// A tracker for parts of these sizes (index 0 is part 1).
    pub fn new(part_sizes: Vec<u64>) -> ProgressTracker {
        let n = part_sizes.len();
        ProgressTracker {
            phase: Phase::Initializing,
            bytes_total: part_sizes.iter().sum(),
            part_sizes,
            states: vec![PartState::Waiting; n],
            in_flight: vec![0; n],
            done_bytes: 0,
            parts_done: 0,
            skipped_parts: 0,
            retries: 0,
            bytes_hashed: 0,
            transferred: 0,
            samples: VecDeque::new(),
            last_emit_ms: f64::NEG_INFINITY,
        }
    }

    pub fn state(&self, number: u32) -> PartState {
        self.states[number as usize - 1]
    }

    /// Moves a part to a new state. Leaving `Uploading` forgets its in-flight bytes (a pause or a
    /// retry starts the part over). Returns whether anything changed.
    pub fn set_state(&mut self, number: u32, state: PartState) -> bool {
        let i = number as usize - 1;
        let old = self.states[i];
        if old == state {
            return false;
        }
        if old == PartState::Done {
            // Done is final; a late event must not undo it.
            return false;
        }
        self.in_flight[i] = 0;
        self.states[i] = state;
        if state == PartState::Done {
            self.done_bytes += self.part_sizes[i];
            self.parts_done += 1;
        }
        true
    }

    /// The browser reports `sent` bytes of part `number` transferred in this attempt.
    pub fn part_sent(&mut self, number: u32, sent: u64, now_ms: f64) {
        let i = number as usize - 1;
        if self.states[i] == PartState::Done {
            return;
        }
        let sent = sent.min(self.part_sizes[i]);
        if sent > self.in_flight[i] {
            self.transferred += sent - self.in_flight[i];
        }
        // Sampled even without new bytes: the start of an attempt anchors the speed window.
        self.sample(now_ms);
        self.in_flight[i] = sent;
    }

    /// Part `number` is stored on the server; `skipped` when it already was (resume).
    pub fn part_done(&mut self, number: u32, skipped: bool, now_ms: f64) {
        let i = number as usize - 1;
        if self.states[i] == PartState::Done {
            return;
        }
        if !skipped {
            let rest = self.part_sizes[i] - self.in_flight[i];
            self.transferred += rest;
            self.sample(now_ms);
        } else {
            self.skipped_parts += 1;
        }
        self.set_state(number, PartState::Done);
    }

    /// Part `number` was hashed ahead of uploadInit (instant upload): it waits to be sent.
    pub fn part_hashed(&mut self, number: u32) {
        self.bytes_hashed += self.part_sizes[number as usize - 1];
        self.set_state(number, PartState::Waiting);
    }

    /// Every part is done at once: the server completed the object from content it already held
    /// (instant upload). Not counted as skipped parts, nor as bytes sent.
    pub fn all_done_instantly(&mut self) {
        for n in 1..=self.states.len() as u32 {
            self.set_state(n, PartState::Done);
        }
    }

    /// A request is being retried (counted once per retry, whatever the request).
    pub fn retried(&mut self) {
        self.retries += 1;
    }

    /// Marks every unfinished part `Waiting` (after a pause aborted them).
    pub fn reset_unfinished(&mut self) {
        for n in 1..=self.states.len() as u32 {
            if self.state(n) != PartState::Done {
                self.set_state(n, PartState::Waiting);
            }
        }
    }

    fn sample(&mut self, now_ms: f64) {
        self.samples.push_back((now_ms, self.transferred));
        while self.samples.len() > 2 && self.samples[1].0 < now_ms - RATE_WINDOW_MS {
            self.samples.pop_front();
        }
    }

    pub fn bytes_done(&self) -> u64 {
        self.done_bytes + self.in_flight.iter().sum::<u64>()
    }

    /// Bytes per second over the last few seconds (0 until two samples exist).
    pub fn bytes_per_second(&self, now_ms: f64) -> f64 {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return 0.0;
        };
        // Idle since the last sample (paused, waiting to retry): the speed decays to 0.
        let span = (now_ms.max(last.0) - first.0).max(1.0);
        if now_ms - last.0 > RATE_WINDOW_MS {
            return 0.0;
        }
        (last.1 - first.1) as f64 * 1000.0 / span
    }

    /// Whether a byte-level update may be reported now (throttled); records the emission.
    pub fn emit_due(&mut self, now_ms: f64, force: bool) -> bool {
        if force || now_ms - self.last_emit_ms >= MIN_EMIT_INTERVAL_MS {
            self.last_emit_ms = now_ms;
            true
        } else {
            false
        }
    }

    pub fn snapshot(&self, now_ms: f64) -> ProgressSnapshot {
        let bytes_done = self.bytes_done();
        let rate = self.bytes_per_second(now_ms);
        let remaining = self.bytes_total - bytes_done.min(self.bytes_total);
        let eta_seconds = if remaining == 0 {
            Some(0.0)
        } else if rate > 0.0 {
            Some(remaining as f64 / rate)
        } else {
            None
        };
        ProgressSnapshot {
            phase: self.phase,
            bytes_done,
            bytes_total: self.bytes_total,
            parts_done: self.parts_done,
            parts_total: self.states.len() as u32,
            bytes_per_second: rate,
            eta_seconds,
            parts: self.states.clone(),
            skipped_parts: self.skipped_parts,
            retries: self.retries,
            bytes_hashed: self.bytes_hashed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_part_is_counted_once() {
        let mut t = ProgressTracker::new(vec![100, 100, 50]);
        t.set_state(1, PartState::Uploading);
        t.part_sent(1, 80, 0.0);
        assert_eq!(t.bytes_done(), 80);
        t.retried();
        t.set_state(1, PartState::Retrying);
        assert_eq!(t.bytes_done(), 0);
        t.set_state(1, PartState::Uploading);
        t.part_sent(1, 100, 10.0);
        t.part_done(1, false, 20.0);
        t.part_done(1, false, 30.0); // a late duplicate must not count twice
        assert_eq!(t.bytes_done(), 100);
        let s = t.snapshot(30.0);
        assert_eq!((s.parts_done, s.parts_total, s.retries), (1, 3, 1));
        assert_eq!(s.parts[0], PartState::Done);
    }

    #[test]
    fn skipped_parts_count_as_done_but_not_as_speed() {
        let mut t = ProgressTracker::new(vec![100, 100]);
        t.part_done(1, true, 0.0);
        let s = t.snapshot(0.0);
        assert_eq!((s.bytes_done, s.skipped_parts, s.parts_done), (100, 1, 1));
        assert_eq!(s.bytes_per_second, 0.0);
        t.set_state(2, PartState::Uploading);
        t.part_sent(2, 50, 1000.0);
        t.part_done(2, false, 2000.0);
        let s = t.snapshot(2000.0);
        assert_eq!(s.bytes_done, 200);
        assert_eq!(s.eta_seconds, Some(0.0));
        // 100 bytes sent between the samples at 1 s and 2 s; the skipped part adds nothing.
        assert!(
            (s.bytes_per_second - 50.0).abs() < 1e-9,
            "{}",
            s.bytes_per_second
        );
    }

    #[test]
    fn pause_resets_unfinished_parts() {
        let mut t = ProgressTracker::new(vec![10, 10]);
        t.part_done(1, false, 0.0);
        t.set_state(2, PartState::Uploading);
        t.part_sent(2, 5, 1.0);
        t.reset_unfinished();
        assert_eq!(t.state(1), PartState::Done);
        assert_eq!(t.state(2), PartState::Waiting);
        assert_eq!(t.bytes_done(), 10);
    }

    #[test]
    fn eta_from_speed_and_throttle() {
        let mut t = ProgressTracker::new(vec![1000, 1000]);
        t.set_state(1, PartState::Uploading);
        t.part_sent(1, 0, 0.0);
        t.part_sent(1, 500, 1000.0);
        let s = t.snapshot(1000.0);
        assert_eq!(s.bytes_per_second, 500.0);
        assert_eq!(s.eta_seconds, Some(3.0));
        assert!(t.emit_due(0.0, false));
        assert!(!t.emit_due(10.0, false));
        assert!(t.emit_due(10.0, true));
        assert!(t.emit_due(100.0, false));
        // Long silence: speed decays to zero and the ETA is unknown.
        assert_eq!(t.snapshot(100_000.0).eta_seconds, None);
    }

    #[test]
    fn hashed_ahead_parts_count_as_hashed_and_an_instant_hit_as_done_not_sent() {
        let mut t = ProgressTracker::new(vec![100, 100, 30]);
        t.set_state(1, PartState::Hashing);
        t.part_hashed(1);
        t.part_hashed(3);
        let s = t.snapshot(0.0);
        assert_eq!((s.bytes_hashed, s.bytes_done), (130, 0));
        assert_eq!(s.parts[0], PartState::Waiting);
        t.all_done_instantly();
        let s = t.snapshot(10.0);
        assert_eq!((s.bytes_done, s.parts_done, s.skipped_parts), (230, 3, 0));
        assert_eq!(s.bytes_per_second, 0.0);
        assert_eq!(s.eta_seconds, Some(0.0));
    }

    #[test]
    fn empty_file_progress_is_complete_when_its_part_is() {
        let mut t = ProgressTracker::new(vec![0]);
        assert_eq!(t.snapshot(0.0).eta_seconds, Some(0.0));
        t.part_done(1, false, 0.0);
        let s = t.snapshot(0.0);
        assert_eq!((s.parts_done, s.bytes_done, s.bytes_total), (1, 0, 0));
    }
}
