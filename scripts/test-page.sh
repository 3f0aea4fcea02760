#!/usr/bin/env bash
# Tests the demo page (www/) in a real browser: builds the wasm client into www/pkg and the server,
# starts the server on port 0 with a temporary data dir and the real www/, and runs the
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
remove_on_exit "$work"
mkdir -p "$work/data" "$work/tmp"
# Parts of 256 KiB keep the tests' uploads slow enough to act on mid-way; allow them.
start_service base_url "$work/server.log" "$server_bin" --listen 127.0.0.1:0 --data "$work/data" \
    --www "$PARTUP_ROOT/www" --min-part-size 65536
wait_healthy "$base_url/healthz" || { cat "$work/server.log" >&2; exit 1; }
# The same page on a server that needs upload tokens, with the example token endpoint (as
# scripts/demo.sh --auth runs them).
mkdir -p "$work/auth-data"
head -c 48 /dev/urandom | base64 -w0 >"$work/secret"
start_service token_url "$work/tokens.log" python3 "$PARTUP_ROOT/scripts/token-endpoint.py" \
    "$server_bin" "$work/secret" --sub page-test --scope '' --replace --ttl 5m
start_service auth_url "$work/auth-server.log" "$server_bin" --listen 127.0.0.1:0 \
    --data "$work/auth-data" --www "$PARTUP_ROOT/www" --min-part-size 65536 --auth-secret-file "$work/secret"
wait_healthy "$auth_url/healthz" || { cat "$work/auth-server.log" >&2; exit 1; }

artifacts="$PARTUP_ROOT/tests/page/artifacts"
mkdir -p "$artifacts"
status=0
(
    cd "$PARTUP_ROOT/tests/page"
    PARTUP_BASE_URL="$base_url" \
    PARTUP_AUTH_BASE_URL="$auth_url" \
    PARTUP_TOKEN_URL="$token_url" \
    PARTUP_SERVER_BIN="$server_bin" \
    PARTUP_WWW="$PARTUP_ROOT/www" \
    PARTUP_TMP="$work/tmp" \
    PARTUP_ARTIFACTS="$artifacts" \
        node --test --test-concurrency=1 --test-reporter=spec "$@" page.test.mjs downloads.test.mjs tokens.test.mjs
) || status=$?

if [ "$status" -ne 0 ]; then
    echo "--- server log (last 40 lines)" >&2
    tail -n 40 "$work/server.log" >&2 || true
fi
echo "page test screenshots: $artifacts"
exit "$status"
