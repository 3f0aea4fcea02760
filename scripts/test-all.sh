#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration suites (the server over real
# HTTP, kill -9 included) on the local disk and on S3-compatible stores (Garage, moto), and the wasm
# client, its release package and the demo page in three browser engines (Chromium, Firefox ESR,
# WebKitGTK), each driven over W3C WebDriver.
# Installs what a fresh machine lacks first. Exits non-zero when anything fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
ensure_wasm_tools
ensure_browsers
ensure_npm_packages

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (server, tests, wire; the wasm client for wasm32)"
cargo clippy --workspace --exclude partup --all-targets --features partup-tests/s3-tests -- -D warnings
cargo clippy -p partup-tests --test hostile --features s3-tests -- -D warnings
cargo clippy -p partup --all-targets --target wasm32-unknown-unknown -- -D warnings

step "md5lanes on wasm32, in node: the scalar build and the simd128 build's 4 lanes against md-5"
# RUSTFLAGS differ between the two builds: each gets a target dir of its own, so neither rebuilds
# the other's dependencies on the next run.
for simd_flags in "" "-C target-feature=+simd128"; do
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PARTUP_ROOT/target}/md5lanes-wasm${simd_flags:+-simd128}" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner RUSTFLAGS="$simd_flags" \
        cargo test -p md5lanes --target wasm32-unknown-unknown --test wasm
done

step "server: unit and integration tests over real HTTP, on the local disk"
cargo build -p partup-server
cargo test --workspace

step "server: hostile traffic and full disks (tests/tests/hostile), with its table"
scripts/test-hostile.sh

step "server: the same suites on S3 (Garage 2.5.0, then moto), multi-instance tests included"
scripts/test-s3.sh

step "wasm client: browser suites in Chromium, Firefox and WebKitGTK (real server, fault proxy)"
scripts/test-client.sh

step "wasm client: the release package dropped into a plain page, in each engine"
scripts/smoke-client-pkg.sh

step "wasm client: the packed package in Vite 8 and webpack 5 production builds, in Chromium"
scripts/test-bundlers.sh

step "the demo page in Chromium, Firefox and WebKitGTK (WebDriver, tests/page)"
"$PARTUP_ROOT/scripts/test-page.sh"

step "all tests passed"
