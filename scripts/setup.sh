#!/usr/bin/env bash
# Installs what partup's demo and tests need on a fresh machine, skipping whatever is already there.
# Sourced by demo.sh and test-all.sh; run directly to install everything:  scripts/setup.sh [--browser]
#   ensure_wasm_tools   rustup's wasm32 target, wasm-bindgen-cli 0.2.130 (= the locked wasm-bindgen), wasm-pack
#   ensure_chromium     Debian's chromium + chromium-driver (same version), for the browser tests
#   ensure_npm_packages the pinned npm packages of the page tests (package-lock.json)
set -euo pipefail

PARTUP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION=0.2.130
WASM_PACK_VERSION=0.15.1

log() { printf '[setup] %s\n' "$*" >&2; }

ensure_wasm_tools() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\b"; then
        log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes, once)"
        # Not --locked: that fails for this version here (see DEVELOPERS.md).
        cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
    fi
    if ! wasm-pack --version 2>/dev/null | grep -q " $WASM_PACK_VERSION\b"; then
        log "installing wasm-pack $WASM_PACK_VERSION (about 3 minutes, once)"
        cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
    fi
}

ensure_chromium() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        return
    fi
    log "installing Debian's chromium and chromium-driver"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}

ensure_npm_packages() {
    local dir="$PARTUP_ROOT/tests/page"
    [ -f "$dir/package-lock.json" ] || return 0
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        log "installing the page tests' npm packages (pinned by package-lock.json)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    ensure_wasm_tools
    if [ "${1:-}" = "--browser" ]; then
        ensure_chromium
        ensure_npm_packages
    fi
fi
