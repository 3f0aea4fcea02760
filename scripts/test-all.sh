#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration suites (the server over real
# HTTP, kill -9 included), the wasm client in headless Chromium, and the demo page through Playwright.
# Installs what a fresh machine lacks first. Exits non-zero when anything fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
ensure_wasm_tools
ensure_chromium
ensure_npm_packages

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (server, tests, wire; the wasm client for wasm32)"
cargo clippy --workspace --exclude partup --all-targets -- -D warnings
cargo clippy -p partup --all-targets --target wasm32-unknown-unknown -- -D warnings

step "server: unit and integration tests over real HTTP"
cargo build -p partup-server
cargo test --workspace

step "the demo page in headless Chromium (Playwright, tests/page)"
"$PARTUP_ROOT/scripts/test-page.sh"

step "all tests passed"
