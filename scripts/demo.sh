#!/usr/bin/env bash
# Runs the demo: installs what is missing, builds the wasm client into www/pkg and the server (only
# when something changed), then serves the page on http://127.0.0.1:8080/ with data in ./data.
# Another address: PARTUP_LISTEN=127.0.0.2:9000 scripts/demo.sh (port 0: any free port); beyond
# loopback the demo, which has no upload tokens, needs PARTUP_ALLOW_ANONYMOUS=true. Extra arguments
# go to partup-server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
"$PARTUP_ROOT/scripts/build-client.sh"
cargo build --release --quiet -p partup-server
export PARTUP_LISTEN="${PARTUP_LISTEN:-127.0.0.1:8080}" PARTUP_DATA="${PARTUP_DATA:-./data}" PARTUP_WWW="${PARTUP_WWW:-./www}"
# The server prints the address it bound (the real port, also when PARTUP_LISTEN asks for port 0).
echo "partup demo: open the address on the 'partup-server listening on' line below (data in $PARTUP_DATA; Ctrl-C stops)"
exec ./target/release/partup-server "$@"
