#!/usr/bin/env bash
# Runs the demo: installs what is missing, builds the wasm client into www/pkg and the server (only
# when something changed), then serves the page on http://127.0.0.1:8080/ with data in ./data.
# Another address: PARTUP_LISTEN=127.0.0.2:9000 scripts/demo.sh (port 0: any free port); beyond
# loopback the demo, which has no upload tokens, needs PARTUP_ALLOW_ANONYMOUS=true. Extra arguments
# go to partup-server.
#   scripts/demo.sh --auth   upload tokens: a generated secret, and the example token endpoint
#                            (scripts/token-endpoint.py, the app's backend) on another loopback port;
#                            open the printed address (it names the endpoint: ?tokenUrl=…).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
auth=false
if [ "${1:-}" = "--auth" ]; then auth=true; shift; fi
"$PARTUP_ROOT/scripts/build-client.sh"
cargo build --release --quiet -p partup-server
export PARTUP_LISTEN="${PARTUP_LISTEN:-127.0.0.1:8080}" PARTUP_DATA="${PARTUP_DATA:-./data}" PARTUP_WWW="${PARTUP_WWW:-./www}"
if [ "$auth" = false ]; then
  # The server prints the address it bound (the real port, also when PARTUP_LISTEN asks for port 0).
  echo "partup demo: open the address on the 'partup-server listening on' line below (data in $PARTUP_DATA; Ctrl-C stops)"
  exec ./target/release/partup-server "$@"
fi

secret_dir="$(mktemp -d)"
remove_on_exit "$secret_dir"
head -c 48 /dev/urandom | base64 -w0 >"$secret_dir/secret"
start_service token_url "$secret_dir/tokens.log" python3 scripts/token-endpoint.py \
  ./target/release/partup-server "$secret_dir/secret" --sub demo --scope '' --replace --ttl 10m
start_service server_url "$secret_dir/server.log" ./target/release/partup-server \
  --auth-secret-file "$secret_dir/secret" "$@"
server_pid=$SERVICE_PID
echo "partup demo with upload tokens: open $server_url/?tokenUrl=$token_url (data in $PARTUP_DATA; Ctrl-C stops)"
tail -f "$secret_dir/server.log" &
stop_on_exit $!
wait "$server_pid"
