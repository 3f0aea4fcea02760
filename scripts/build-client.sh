#!/usr/bin/env bash
# Builds the wasm client package (both builds: scripts/build-client-pkg.sh) into www/pkg/ (where
# the demo page imports it from), only when its sources changed since the last build.
#   Usage: scripts/build-client.sh [--dev]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
ensure_wasm_tools

profile=--release
[ "${1:-}" = "--dev" ] && profile=--dev
out="$PARTUP_ROOT/www/pkg"
stamp="$out/.source-hash"
hash=$( (echo "$profile"; cat Cargo.lock scripts/build-client-pkg.sh; find wasm-client wire md5lanes -type f \( -name '*.rs' -o -name 'Cargo.toml' -o -path 'wasm-client/js/*.js' \) -not -path '*/target/*' | sort | xargs cat) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -f "$out/partup_bg.wasm" ] && [ -f "$out/partup_simd_bg.wasm" ]; then
    exit 0
fi
log "building the wasm client into www/pkg"
scripts/build-client-pkg.sh "$out" "$profile"
rm -f "$out/.gitignore" "$out/package.json" "$out/README.md"
echo "$hash" > "$stamp"
