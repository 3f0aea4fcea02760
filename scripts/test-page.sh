#!/usr/bin/env bash
# Tests the demo page (www/) in a real browser: builds the wasm client into www/pkg and the server,
# starts the server on a free port with a temporary data dir and the real www/, and runs the
# Playwright tests in tests/page/ against it with Debian's /usr/bin/chromium.
# Screenshots go to tests/page/artifacts/. Exits non-zero when anything fails.
#   scripts/test-page.sh [extra arguments for node --test, e.g. --test-name-pattern=drop]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
ensure_chromium
ensure_npm_packages

"$PARTUP_ROOT/scripts/build-client.sh"
cargo build --quiet -p partup-server
server_bin="$PARTUP_ROOT/target/debug/partup-server"

work="$(mktemp -d "${TMPDIR:-/tmp}/partup-page.XXXXXX")"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
    node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

port="$(free_port)"
mkdir -p "$work/data" "$work/tmp"
# Parts of 256 KiB keep the tests' uploads slow enough to act on mid-way; allow them.
"$server_bin" --listen "127.0.0.1:$port" --data "$work/data" --www "$PARTUP_ROOT/www" \
    --min-part-size 65536 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "partup-server did not start:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

artifacts="$PARTUP_ROOT/tests/page/artifacts"
mkdir -p "$artifacts"
status=0
(
    cd "$PARTUP_ROOT/tests/page"
    PARTUP_BASE_URL="http://127.0.0.1:$port" \
    PARTUP_SERVER_BIN="$server_bin" \
    PARTUP_WWW="$PARTUP_ROOT/www" \
    PARTUP_TMP="$work/tmp" \
    PARTUP_ARTIFACTS="$artifacts" \
        node --test --test-concurrency=1 --test-reporter=spec "$@" page.test.mjs
) || status=$?

if [ "$status" -ne 0 ]; then
    echo "--- server log (last 40 lines)" >&2
    tail -n 40 "$work/server.log" >&2 || true
fi
echo "page test screenshots: $artifacts"
exit "$status"
