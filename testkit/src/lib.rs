//! The kit shared by the end-to-end suites (`tests/`) and the benchmarks (`bench/`):
//!
//! - [`process`]: a real `partup-server` process listening on port 0, found by the address it
//!   announces on stdout, so no port is picked (and raced for) beforehand;
//! - [`store`]: the store such a server runs on (local disk or an S3-compatible store);
//! - [`api`]: the API over HTTP, each call typed with `partup-wire`;
//! - [`data`]: deterministic test bytes and the digests to check them by.
//!
//! It holds nothing either side does not need: the test-only helpers (temporary directories,
//! listing a bucket) stay in `partup-tests`.

pub mod api;
pub mod data;
pub mod process;
pub mod store;

pub use api::{Answer, Api};
pub use data::{assert_same_bytes, expected_etag, md5_hex, test_bytes};
pub use process::{
    ServerProcess, announced_address, announced_address_and_output, listening_ports, open_fds,
    peak_rss_bytes, server_binary,
};
pub use store::TestStore;
