//! The open-file limit: raised at start from its soft value toward the hard one, since every
//! connection takes a file descriptor (and a part being received two more, its staged file), and a
//! warning when it stays below what `--max-connections` may need.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// File descriptors a connection may hold: its socket, and a staged part's file and its clone.
const FDS_PER_CONNECTION: u64 = 3;
/// Descriptors kept for everything else: the listener, stored files being read, the runtime.
const FDS_RESERVED: u64 = 256;
/// Where the soft limit stops when the hard one is unlimited (Linux's default `nr_open`).
const UNLIMITED_CAP: u64 = 1 << 20;

/// What the process can open after [`raise_open_file_limit`], and what it should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    pub soft: u64,
    pub needed: u64,
}

/// The descriptors `max_connections` connections may take.
pub fn needed_for(max_connections: usize) -> u64 {
    (max_connections as u64)
        .saturating_mul(FDS_PER_CONNECTION)
        .saturating_add(FDS_RESERVED)
}

/// Raises the soft open-file limit as far as the hard one allows (never lowering it), and logs a
/// warning when the result is below what `max_connections` may need: past it, accepting fails with
/// EMFILE, which the serve loop survives by waiting, but connections are then refused service.
pub fn raise_open_file_limit(max_connections: usize) -> OpenFileLimit {
    let needed = needed_for(max_connections);
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(UNLIMITED_CAP);
    let mut soft = limit.current.unwrap_or(u64::MAX);
    if soft < hard {
        let raised = Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => soft = hard,
            Err(e) => tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}"),
        }
    }
    if soft < needed {
        tracing::warn!(
            open_file_limit = soft,
            needed,
            "the open-file limit ({soft}) is below the {needed} that --max-connections {max_connections} may need; raise the hard limit (ulimit -Hn, systemd's LimitNOFILE=) or lower --max-connections"
        );
    }
    OpenFileLimit { soft, needed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_connection_counts_three_descriptors_on_top_of_a_reserve() {
        assert_eq!(needed_for(1000), 3256);
        assert_eq!(needed_for(usize::MAX), u64::MAX);
    }

    #[test]
    fn raising_never_lowers_the_soft_limit() {
        let before = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        let after = raise_open_file_limit(1).soft;
        assert!(after >= before);
    }
}
