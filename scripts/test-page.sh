#!/usr/bin/env bash
# Tests the demo page (www/) in three browser engines — Chromium, Firefox ESR and WebKitGTK
# (MiniBrowser) — through one WebDriver harness (tests/page, npm selenium-webdriver): builds the wasm
# client into www/pkg and the server, starts the servers once (plain, with upload tokens, and one
# with direct parts over Garage), then
# per engine starts its driver, runs every suite of tests/page with `node --test` and stops the
# driver with the browsers it started. One engine failing does not stop the others; at the end a
# table gives each engine's passed and failed tests per suite and its time. Exits non-zero when any
# test failed. Screenshots go to tests/page/artifacts/ENGINE-*.png.
#   scripts/test-page.sh [--engine chromium|firefox|webkit] [arguments for node --test,
#                        e.g. --test-name-pattern=drop]
set -euo pipefail
# s3-store.sh sources setup.sh: Garage for the direct-parts server (direct.test.mjs).
source "$(dirname "${BASH_SOURCE[0]}")/s3-store.sh"
cd "$PARTUP_ROOT"

engines=(chromium firefox webkit)
node_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --engine) [ $# -ge 2 ] || { echo "--engine needs chromium, firefox or webkit" >&2; exit 2; }
            engines=("$2"); shift ;;
        --engine=*) engines=("${1#--engine=}") ;;
        *) node_args+=("$1") ;;
    esac
    shift
done
for engine in "${engines[@]}"; do
    case "$engine" in chromium | firefox | webkit) ;; *) echo "unknown engine: $engine" >&2; exit 2 ;; esac
done

ensure_browsers
ensure_npm_packages
ensure_garage
"$PARTUP_ROOT/scripts/build-client.sh"
# PARTUP_SERVER_BIN: a partup-server built elsewhere (another worktree's, say) instead of building
# one here; it must be of the same sources.
if [ -n "${PARTUP_SERVER_BIN:-}" ]; then
    server_bin="$PARTUP_SERVER_BIN"
else
    cargo build --quiet -p partup-server
    server_bin="$PARTUP_ROOT/target/debug/partup-server"
fi

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
# The page on a server whose parts go straight to the store (SPEC.md §6): Garage, its bucket's
# CORS rule as the README sets it (the page's origin is a test proxy on a port of its own: any).
start_garage "$work/garage"
garage_allow_cors '*'
start_service direct_url "$work/direct-server.log" "$server_bin" --listen 127.0.0.1:0 \
    --data "$work/direct-data" --www "$PARTUP_ROOT/www" --store s3 --s3-endpoint "$PARTUP_TEST_S3_ENDPOINT" \
    --s3-bucket "$PARTUP_TEST_S3_BUCKET" --s3-region "$PARTUP_TEST_S3_REGION" --s3-prefix page/ --direct-parts
wait_healthy "$direct_url/healthz" || { cat "$work/direct-server.log" >&2; exit 1; }

# MiniBrowser saves downloads into the XDG download directory of its $HOME and cannot be told
# another per session: the WebKit driver gets a $HOME of its own whose download directory the
# tests read (PARTUP_WEBKIT_DOWNLOADS).
webkit_home="$work/webkit-home"
mkdir -p "$webkit_home/.config" "$webkit_home/downloads"
echo 'XDG_DOWNLOAD_DIR="$HOME/downloads"' >"$webkit_home/.config/user-dirs.dirs"

suites=(harness.test.mjs page.test.mjs failures.test.mjs changed-file.test.mjs downloads.test.mjs tokens.test.mjs
    server-resume.test.mjs direct.test.mjs)
artifacts="$PARTUP_ROOT/tests/page/artifacts"
mkdir -p "$artifacts"
declare -A seconds outcome

# run_engine ENGINE: every suite in ENGINE; its tests' results in $work/results-ENGINE.tsv.
run_engine() {
    # --test-force-exit: a test timed out on a WebDriver command that never returns must not keep
    # its file's process (and the run) alive.
    local engine=$1 started=$SECONDS status=0
    printf '\n=== page tests in %s\n' "$engine"
    if ! WEBKIT_HOME="$webkit_home" start_webdriver "$engine" driver_url; then
        outcome[$engine]="its driver did not start: its log is above"
        seconds[$engine]=$((SECONDS - started))
        return 1
    fi
    (
        cd "$PARTUP_ROOT/tests/page"
        PARTUP_BROWSER="$engine" \
        PARTUP_WEBDRIVER_URL="$driver_url" \
        PARTUP_WEBKIT_DOWNLOADS="$webkit_home/downloads" \
        PARTUP_BASE_URL="$base_url" \
        PARTUP_AUTH_BASE_URL="$auth_url" \
        PARTUP_DIRECT_BASE_URL="$direct_url" \
        PARTUP_TOKEN_URL="$token_url" \
        PARTUP_PAGE_AUTH_SECRET="$work/secret" \
        PARTUP_SERVER_BIN="$server_bin" \
        PARTUP_WWW="$PARTUP_ROOT/www" \
        PARTUP_TMP="$work/tmp" \
        PARTUP_ARTIFACTS="$artifacts" \
            node --test --test-concurrency=1 --test-force-exit \
                --test-reporter=spec --test-reporter-destination=stdout \
                --test-reporter=./harness/summary-reporter.mjs --test-reporter-destination="$work/results-$engine.tsv" \
                "${node_args[@]}" "${suites[@]}"
    ) || status=$?
    stop_webdrivers
    seconds[$engine]=$((SECONDS - started))
    outcome[$engine]=$([ "$status" -eq 0 ] && echo ok || echo "node --test exited $status")
    return "$status"
}

failed=0
for engine in "${engines[@]}"; do
    run_engine "$engine" || failed=1
done

if [ "$failed" -ne 0 ]; then
    echo "--- server log (last 40 lines)" >&2
    tail -n 40 "$work/server.log" >&2 || true
fi

# The summary: engine × suite → passed / failed, and each engine's time (driver start included).
printf '\n=== page tests: summary\n'
printf '%-9s %-14s %6s %6s %7s  %s\n' engine suite passed failed skipped time
for engine in "${engines[@]}"; do
    results="$work/results-$engine.tsv"
    touch "$results"
    for suite in "${suites[@]}"; do
        suite=${suite%.test.mjs}
        awk -F'\t' -v e="$engine" -v s="$suite" '$1 == s { n[$2]++; ms += $3 }
            END { printf "%-9s %-14s %6d %6d %7d  %d s\n", e, s, n["pass"], n["fail"], n["skip"], ms / 1000 }' "$results"
    done
    awk -F'\t' -v e="$engine" -v t="${seconds[$engine]}" -v o="${outcome[$engine]}" '{ n[$2]++ }
        END { printf "%-9s %-14s %6d %6d %7d  %d min %02d s  (%s)\n", e, "all", n["pass"], n["fail"], n["skip"], t / 60, t % 60, o }' "$results"
    awk -F'\t' '$2 == "fail" { print "    failed: " $4 }' "$results"
done
echo "page test screenshots: $artifacts"
exit "$failed"
