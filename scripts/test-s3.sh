#!/usr/bin/env bash
# Runs the server's integration suite against the S3 backend: all of it (multi-instance tests
# included) on Garage 2.5.0, then the API suites once more on moto as a second opinion where Garage is
# lenient. Builds or reuses Garage, installs moto, starts both on 127.0.0.1, stops them on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/s3-store.sh"
cd "$here/.."
work=$(mktemp -d)
remove_on_exit "$work"

ensure_garage
ensure_moto
cargo build -p partup-server

start_garage "$work/garage"
PARTUP_TEST_STORE=s3 cargo test -p partup-tests --features s3-tests
# The hostile suite's S3 cases (tests/tests/hostile/s3_store.rs), with its table.
PARTUP_TEST_STORE=s3 "$here/test-hostile.sh" --features s3-tests s3_store
kill "$GARAGE_PID"

start_moto "$work/moto"
PARTUP_TEST_STORE=s3 cargo test -p partup-tests --features s3-tests \
    --test api_flow --test api_errors --test auth --test concurrency --test multi_instance --test complete_hangup \
    --test instant_upload --test list_uploads \
    --test downloads
PARTUP_TEST_STORE=s3 "$here/test-hostile.sh" --features s3-tests s3_store
