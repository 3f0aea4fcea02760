#!/usr/bin/env bash
# Runs the demo: installs what is missing, builds the wasm client into www/pkg and the server (only
# when something changed), then serves the page on http://127.0.0.1:8080/ with data in ./data.
# Extra arguments go to partup-server (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
"$PARTUP_ROOT/scripts/build-client.sh"
cargo build --release --quiet -p partup-server
echo "partup demo: open http://127.0.0.1:8080/ (data in ./data; Ctrl-C stops)"
exec ./target/release/partup-server --listen 127.0.0.1:8080 --data ./data --www ./www "$@"
