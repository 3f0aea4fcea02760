//! Hostile traffic and full disks (issue 11): every resource a client can take is bounded, each
//! bound answers with SPEC.md's code, a legitimate upload still finishes, and nothing acknowledged
//! is lost. Each case records a row of the table `scripts/test-hostile.sh` prints (`outcomes.rs`).

mod admission;
mod attackers;
mod bodies;
mod complete_crash;
mod connections;
mod disk_kit;
mod full_disk;
mod honest_errors;
mod outcomes;
#[cfg(feature = "s3-tests")]
mod s3_store;
mod stopping;
mod sweep;
