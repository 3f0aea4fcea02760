#!/usr/bin/env bash
# The browser client's suite: builds partup-server and fault-proxy, starts both on free ports
# (server with a temp --data dir, CORS open, tiny --min-part-size so tests can use small parts),
# runs the wasm tests in headless Chromium against them, and stops everything on exit.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cargo build -p partup-server -p partup-tests --bin partup-server --bin fault-proxy

data_dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$data_dir"
}
trap cleanup EXIT

server_port="$(free_port)"
proxy_port="$(free_port)"
"$CARGO_TARGET_DIR/debug/partup-server" --listen "127.0.0.1:$server_port" --data "$data_dir" \
  --www "$data_dir/www" --cors-origin '*' --min-part-size 1024 >"$data_dir.server.log" 2>&1 &
pids+=($!)
"$CARGO_TARGET_DIR/debug/fault-proxy" --listen "127.0.0.1:$proxy_port" \
  --upstream "http://127.0.0.1:$server_port" >"$data_dir.proxy.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$server_port/healthz" >/dev/null 2>&1 \
     && curl -fsS "http://127.0.0.1:$proxy_port/__proxy/stats" >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$server_port/healthz" >/dev/null || { echo "server did not start"; cat "$data_dir.server.log"; exit 1; }
curl -fsS "http://127.0.0.1:$proxy_port/__proxy/stats" >/dev/null || { echo "proxy did not start"; cat "$data_dir.proxy.log"; exit 1; }

export PARTUP_TEST_SERVER="http://127.0.0.1:$server_port"
export PARTUP_TEST_PROXY="http://127.0.0.1:$proxy_port"
echo "server $PARTUP_TEST_SERVER, fault proxy $PARTUP_TEST_PROXY"

# Native unit tests of the pure parts (part plan, backoff, progress accounting).
cargo test -p partup --lib
# The browser suite.
status=0
# --nocapture shows the console_log lines (the fault counts) of passing tests too.
wasm-pack test --headless --chrome --mode no-install wasm-client -- --nocapture "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail) ---"; tail -n 30 "$data_dir.server.log" || true
  echo "--- proxy log (tail) ---"; tail -n 30 "$data_dir.proxy.log" || true
fi
rm -f "$data_dir.server.log" "$data_dir.proxy.log"
exit "$status"
