#!/usr/bin/env bash
# Builds the wasm client package into www/pkg/ (where the demo page imports it from), only when its
# sources changed since the last build.  Usage: scripts/build-client.sh [--dev]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
ensure_wasm_tools

profile=--release
[ "${1:-}" = "--dev" ] && profile=--dev
out="$PARTUP_ROOT/www/pkg"
stamp="$out/.source-hash"
hash=$( (echo "$profile"; cat Cargo.lock; find wasm-client wire -type f \( -name '*.rs' -o -name 'Cargo.toml' -o -path 'wasm-client/js/*.js' \) -not -path '*/target/*' | sort | xargs cat) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -f "$out/partup_bg.wasm" ]; then
    exit 0
fi
log "building the wasm client into www/pkg"
wasm-pack build --mode no-install --target web "$profile" --out-dir "$out" --out-name partup wasm-client >&2
rm -f "$out/.gitignore" "$out/package.json" "$out/README.md"
echo "$hash" > "$stamp"
