//! The suite's table: attack or fault → answer seen → legitimate upload finished? → anything lost?
//!
//! Each test records what it observed (never a constant: the answer is the status and code it got,
//! the last two columns come from its own checks) *before* asserting, so a failing case still shows
//! its row. Rows go to one file, appended line by line (tests run in parallel threads and, over S3,
//! in another process); `scripts/test-hostile.sh` empties it first and prints it as a table after.

use std::io::Write;

/// One row of the table.
pub struct Outcome<'a> {
    /// What was done to the server, e.g. "2,000 idle connections held open".
    pub attack: &'a str,
    /// What the attacker (or the faulty request) got back, e.g. "429 TooManyUploads, Retry-After: 5".
    pub answer_seen: String,
    /// Whether a legitimate upload run alongside completed byte-exact (`None`: none was run).
    pub legitimate_upload_finished: Option<bool>,
    /// What was lost or damaged, from the test's checks ("nothing" when they found nothing).
    pub lost: String,
}

/// The file the rows go to: `PARTUP_OUTCOMES_FILE`, else one under cargo's target directory.
pub fn outcomes_file() -> std::path::PathBuf {
    std::env::var_os("PARTUP_OUTCOMES_FILE")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-outcomes.tsv")
        })
}

/// Appends `outcome` as one tab-separated line.
pub fn record(outcome: Outcome<'_>) {
    let finished = match outcome.legitimate_upload_finished {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    };
    let clean = |text: &str| text.replace(['\t', '\n'], " ");
    let line = format!(
        "{}\t{}\t{}\t{}\n",
        clean(outcome.attack),
        clean(&outcome.answer_seen),
        finished,
        clean(&outcome.lost)
    );
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(outcomes_file())
        .expect("the outcomes file opens for appending");
    // One write per line: appends of a short line are not interleaved between threads.
    file.write_all(line.as_bytes())
        .expect("the outcome row is written");
}
