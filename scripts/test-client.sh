#!/usr/bin/env bash
# The browser client's suite: builds partup-server and fault-proxy, starts both on port 0 (server with
# a temp --data dir, CORS open, tiny --min-part-size so tests can use small parts), runs the wasm
# tests against them in each browser engine in turn (Chromium, Firefox, WebKitGTK; each through its
# W3C WebDriver server, which wasm-bindgen-test-runner drives), and stops everything on exit.
# Prints a table of passed/failed tests and minutes per engine and suite. Exits non-zero when
# anything fails in any engine; a failing engine does not stop the others.
#   scripts/test-client.sh [--engine chromium|firefox|webkit]... [--build scalar|simd128]... [--test SUITE] [FILTER]
# SUITE runs one browser suite (browser, tokens, server_answers, engine_fallbacks, memory_files, hash_workers, instant,
# server_resume, direct, lane_hashing:
# wasm-client/tests/SUITE.rs);
# FILTER runs only the tests whose names contain it.
# The package ships two builds (scripts/build-client-pkg.sh): the tests are built by cargo for one set
# of target features, so the hashing suites (SIMD128_SUITES) run a second time built with
# `-C target-feature=+simd128` (4 parts per hashing worker), in their own CARGO_TARGET_DIR
# ($CARGO_TARGET_DIR/simd128) so the two builds do not rebuild each other. --build picks the
# builds (default both: every suite scalar, the hashing suites also SIMD128).
set -euo pipefail
suite=()
engines=()
builds=()
SIMD128_SUITES=(hash_workers lane_hashing instant)
while [ $# -gt 0 ]; do
  case "$1" in
    --test) suite=(--test "${2:?--test needs a suite name}"); shift 2 ;;
    --engine) engines+=("${2:?--engine needs chromium, firefox or webkit}"); shift 2 ;;
    --build) builds+=("${2:?--build needs scalar or simd128}"); shift 2 ;;
    *) break ;;
  esac
done
[ ${#builds[@]} -gt 0 ] || builds=(scalar simd128)
# The suites of the SIMD128 pass: the hashing suites, or the one asked for if it is one of them.
simd128_suites=()
for name in "${SIMD128_SUITES[@]}"; do
  if [ ${#suite[@]} -eq 0 ] || [ "${suite[1]}" = "$name" ]; then simd128_suites+=(--test "$name"); fi
done
# s3-store.sh sources setup.sh: Garage for the direct parts (tests/direct.rs).
source "$(dirname "${BASH_SOURCE[0]}")/s3-store.sh"
cd "$PARTUP_ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

cargo build -p partup-server -p partup-tests --bin partup-server --bin fault-proxy

data_dir="$(mktemp -d)"
remove_on_exit "$data_dir" "$data_dir.server.log" "$data_dir.proxy.log"

# --max-object-size: above the suite's largest upload (50 MiB), below the file that must be refused.
start_service server_url "$data_dir.server.log" "$CARGO_TARGET_DIR/debug/partup-server" \
  --listen 127.0.0.1:0 --data "$data_dir" --www "$data_dir/www" --cors-origin '*' --min-part-size 1024 \
  --max-object-size 64MiB
wait_healthy "$server_url/healthz" || { echo "server did not start"; cat "$data_dir.server.log"; exit 1; }
start_service proxy_url "$data_dir.proxy.log" "$CARGO_TARGET_DIR/debug/fault-proxy" \
  --listen 127.0.0.1:0 --upstream "$server_url"
wait_healthy "$proxy_url/__proxy/stats" || { echo "proxy did not start"; cat "$data_dir.proxy.log"; exit 1; }

# A server with the default --max-object-size, for the files of hundreds of MiB built in memory
# (tests/memory_files.rs). Each engine's run stores 1.25 GiB there and the API deletes nothing, so
# before each engine it is started again, on the same port, over an empty --data: three engines'
# objects at once left too little room on a CI machine for the last engine's 1 GiB (507).
large_dir="$(mktemp -d)"
remove_on_exit "$large_dir" "$large_dir.server.log"
large_listen=127.0.0.1:0
large_pid=""
restart_large_server() {
  if [ -n "$large_pid" ]; then kill "$large_pid" 2>/dev/null || true; wait "$large_pid" 2>/dev/null || true; fi
  rm -rf "$large_dir" && mkdir -p "$large_dir"
  start_service large_url "$large_dir.server.log" "$CARGO_TARGET_DIR/debug/partup-server" \
    --listen "$large_listen" --data "$large_dir" --www "$large_dir/www" --cors-origin '*' --min-part-size 1024
  large_pid=$SERVICE_PID
  large_listen=${large_url#http://}
  wait_healthy "$large_url/healthz" || { echo "large server did not start"; cat "$large_dir.server.log"; exit 1; }
}
restart_large_server

# A server that answers every uploadInit with its own 503 + Retry-After (its pre-create hook, on a
# closed port, cannot be asked: it fails closed), to see the header cross the page's CORS boundary.
busy_dir="$(mktemp -d)"
remove_on_exit "$busy_dir" "$busy_dir.server.log" "$busy_dir.hook-secret"
head -c 48 /dev/urandom | base64 -w0 >"$busy_dir.hook-secret"
start_service busy_url "$busy_dir.server.log" "$CARGO_TARGET_DIR/debug/partup-server" \
  --listen 127.0.0.1:0 --data "$busy_dir" --www "$busy_dir/www" --cors-origin '*' --min-part-size 1024 \
  --hook-pre-create http://127.0.0.1:9/pre-create --hook-secret-file "$busy_dir.hook-secret"
wait_healthy "$busy_url/healthz" || { echo "busy server did not start"; cat "$busy_dir.server.log"; exit 1; }

# The server that needs upload tokens, its fault proxy, and the example token endpoint. No leeway:
# the 5-second tokens really expire during the suite's longer uploads.
auth_dir="$(mktemp -d)"
remove_on_exit "$auth_dir" "$auth_dir.server.log" "$auth_dir.proxy.log" "$auth_dir.tokens.log"
head -c 48 /dev/urandom | base64 -w0 >"$auth_dir.secret"
remove_on_exit "$auth_dir.secret"
start_service auth_url "$auth_dir.server.log" "$CARGO_TARGET_DIR/debug/partup-server" \
  --listen 127.0.0.1:0 --data "$auth_dir" --www "$auth_dir/www" --cors-origin '*' --min-part-size 1024 \
  --auth-secret-file "$auth_dir.secret" --auth-leeway 0s
wait_healthy "$auth_url/healthz" || { echo "auth server did not start"; cat "$auth_dir.server.log"; exit 1; }
start_service auth_proxy_url "$auth_dir.proxy.log" "$CARGO_TARGET_DIR/debug/fault-proxy" \
  --listen 127.0.0.1:0 --upstream "$auth_url"
wait_healthy "$auth_proxy_url/__proxy/stats" || { echo "auth proxy did not start"; exit 1; }
start_service token_url "$auth_dir.tokens.log" python3 scripts/token-endpoint.py \
  "$CARGO_TARGET_DIR/debug/partup-server" "$auth_dir.secret" --ttl 5s --scope tokens/
wait_healthy "$token_url/count" || { echo "token endpoint did not start"; exit 1; }

# Direct parts (SPEC.md §6, tests/direct.rs): Garage, a fault proxy in --store mode in front of it
# (the signed URLs name it: --direct-endpoint; it passes Host on, which SigV4 signs), a partup that
# signs parts for it, and a fault proxy in front of that partup (its counters: signPart, abort…).
# A second partup over the same store signs for 3 s only, so signatures really expire.
ensure_garage
direct_dir="$(mktemp -d)"
remove_on_exit "$direct_dir" "$direct_dir.server.log" "$direct_dir.short.log" "$direct_dir.store-proxy.log" "$direct_dir.proxy.log"
start_garage "$direct_dir/garage"
# wasm-bindgen-test-runner serves the page on a port of its own choosing: any origin, for the tests.
garage_allow_cors '*'
start_service store_proxy_url "$direct_dir.store-proxy.log" "$CARGO_TARGET_DIR/debug/fault-proxy" \
  --listen 127.0.0.1:0 --upstream "$PARTUP_TEST_S3_ENDPOINT" --store
wait_healthy "$store_proxy_url/__proxy/stats" || { echo "store proxy did not start"; exit 1; }
direct_server() { # VAR LOG PREFIX EXTRA...
  local var=$1 log=$2 prefix=$3; shift 3
  start_service "$var" "$log" "$CARGO_TARGET_DIR/debug/partup-server" \
    --listen 127.0.0.1:0 --data "$direct_dir/$prefix" --www "$direct_dir/www" --cors-origin '*' \
    --store s3 --s3-endpoint "$PARTUP_TEST_S3_ENDPOINT" --s3-bucket "$PARTUP_TEST_S3_BUCKET" \
    --s3-region "$PARTUP_TEST_S3_REGION" --s3-prefix "$prefix/" \
    --direct-parts --direct-endpoint "$store_proxy_url" --min-part-size 5242880 "$@"
}
direct_server direct_url "$direct_dir.server.log" direct
wait_healthy "$direct_url/healthz" || { echo "direct server did not start"; cat "$direct_dir.server.log"; exit 1; }
direct_server short_expiry_url "$direct_dir.short.log" short --direct-part-expiry 3s
wait_healthy "$short_expiry_url/healthz" || { echo "short-expiry server did not start"; cat "$direct_dir.short.log"; exit 1; }
start_service direct_proxy_url "$direct_dir.proxy.log" "$CARGO_TARGET_DIR/debug/fault-proxy" \
  --listen 127.0.0.1:0 --upstream "$direct_url"
wait_healthy "$direct_proxy_url/__proxy/stats" || { echo "direct server's proxy did not start"; exit 1; }
# Two partups over one store prefix behind a fault proxy that balances between them, the first of
# which a test kills mid-upload (`POST /__proxy/kill-upstream`: kill -9 of the pid in
# --kill-pid-file). Before each engine's run the first is started again if it is gone, on the same
# port, so the test finds two live instances in every engine.
remove_on_exit "$direct_dir.twin-a.log" "$direct_dir.twin-b.log" "$direct_dir.twins.log" "$direct_dir.twin-a.pid"
twin_server() { # VAR LOG DATA LISTEN
  start_service "$1" "$2" "$CARGO_TARGET_DIR/debug/partup-server" \
    --listen "$4" --data "$direct_dir/$3" --www "$direct_dir/www" --cors-origin '*' \
    --store s3 --s3-endpoint "$PARTUP_TEST_S3_ENDPOINT" --s3-bucket "$PARTUP_TEST_S3_BUCKET" \
    --s3-region "$PARTUP_TEST_S3_REGION" --s3-prefix twins/ \
    --direct-parts --direct-endpoint "$store_proxy_url" --min-part-size 5242880
}
twin_a_listen=127.0.0.1:0
ensure_twin_a() {
  if [ -s "$direct_dir/twin-a.pid" ] && kill -0 "$(cat "$direct_dir/twin-a.pid")" 2>/dev/null; then return 0; fi
  twin_server twin_a_url "$direct_dir.twin-a.log" twin-a "$twin_a_listen"
  echo "$SERVICE_PID" >"$direct_dir/twin-a.pid"
  twin_a_listen=${twin_a_url#http://}
  wait_healthy "$twin_a_url/healthz" || { echo "twin server A did not start"; cat "$direct_dir.twin-a.log"; exit 1; }
}
ensure_twin_a
twin_server twin_b_url "$direct_dir.twin-b.log" twin-b 127.0.0.1:0
wait_healthy "$twin_b_url/healthz" || { echo "twin server B did not start"; cat "$direct_dir.twin-b.log"; exit 1; }
start_service twins_proxy_url "$direct_dir.twins.log" "$CARGO_TARGET_DIR/debug/fault-proxy" \
  --listen 127.0.0.1:0 --upstream "$twin_a_url" --upstream "$twin_b_url" --kill-pid-file "$direct_dir/twin-a.pid"
wait_healthy "$twins_proxy_url/__proxy/stats" || { echo "the twins' proxy did not start"; exit 1; }
export PARTUP_TEST_TWINS_PROXY="$twins_proxy_url"
export PARTUP_TEST_TWIN_B="$twin_b_url"
export PARTUP_TEST_DIRECT_SERVER="$direct_url"
export PARTUP_TEST_DIRECT_PROXY="$direct_proxy_url"
export PARTUP_TEST_SHORT_EXPIRY_SERVER="$short_expiry_url"
export PARTUP_TEST_STORE_PROXY="$store_proxy_url"
echo "direct: server $direct_url (its proxy $direct_proxy_url), 3-second signatures $short_expiry_url, store proxy $store_proxy_url → Garage $PARTUP_TEST_S3_ENDPOINT"
echo "direct twins: $twin_a_url (killed by a test, started again for each engine) and $twin_b_url behind $twins_proxy_url"

export PARTUP_TEST_AUTH_SERVER="$auth_url"
export PARTUP_TEST_AUTH_PROXY="$auth_proxy_url"
export PARTUP_TEST_TOKEN_URL="$token_url"
export PARTUP_TEST_SERVER="$server_url"
export PARTUP_TEST_PROXY="$proxy_url"
export PARTUP_TEST_BUSY_SERVER="$busy_url"
export PARTUP_TEST_LARGE_SERVER="$large_url"
echo "server $PARTUP_TEST_SERVER, fault proxy $PARTUP_TEST_PROXY"
echo "token server $auth_url, its proxy $auth_proxy_url, token endpoint $token_url"

# Native unit tests of the pure parts (part plan, backoff, progress accounting).
cargo test -p partup --lib
# The browser suites, engine by engine. The runner is told where each engine's driver already
# listens (*_REMOTE), so all three are driven the same way; for Chromium and Firefox it adds the
# options of wasm-client/webdriver.json, for WebKit it sends empty capabilities (MiniBrowser).
# The runner's limit is for a whole test binary (20 s by default), and the token suite alone
# uploads for 15 s or more on purpose: give each binary 5 minutes.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
[ ${#engines[@]} -gt 0 ] || engines=("${BROWSER_ENGINES[@]}")
ensure_browsers
status=0
summary=()
first_engine=1
for engine in "${engines[@]}"; do
  ensure_twin_a
  [ -n "$first_engine" ] || restart_large_server
  first_engine=""
  start_webdriver "$engine" driver_url
  remote_var=$(case "$engine" in chromium) echo CHROMEDRIVER_REMOTE ;; firefox) echo GECKODRIVER_REMOTE ;; webkit) echo SAFARIDRIVER_REMOTE ;; esac)
  for build in "${builds[@]}"; do
    label=$engine
    build_env=()
    suites=("${suite[@]:---tests}")
    if [ "$build" = simd128 ]; then
      [ ${#simd128_suites[@]} -gt 0 ] || continue
      label="$engine+simd128"
      build_env=("RUSTFLAGS=${RUSTFLAGS:-} -C target-feature=+simd128" "CARGO_TARGET_DIR=$CARGO_TARGET_DIR/simd128")
      suites=("${simd128_suites[@]}")
    fi
    engine_log="$data_dir.$label.log"
    remove_on_exit "$engine_log"
    echo "=== wasm client suites in $engine, $build build (driver $driver_url)"
    started=$(date +%s)
    engine_status=0
    # --nocapture shows the console_log lines (the fault counts) of passing tests too.
    (cd wasm-client && env "$remote_var=$driver_url" "${build_env[@]}" cargo test --target wasm32-unknown-unknown "${suites[@]}" \
      -- --nocapture "$@") 2>&1 | tee "$engine_log" || engine_status=$?
    # The runner prints one "test result:" line per test binary, after the "Running" line naming it.
    summary+=("$(awk -v engine="$label" -v secs=$(( $(date +%s) - started )) '
      /^ *Running (unittests|tests)/ { name = "" }
      /^ *Running tests\// { match($0, /tests\/[a-z_]+\.rs/); name = substr($0, RSTART + 6, RLENGTH - 9) }
      /test result:/ { passed = $4; failed = $6; sub(/;/, "", passed); sub(/;/, "", failed)
        if (name != "") { line = line sprintf("%s %s/%s  ", name, passed, passed + failed) } }
      END { printf "%-17s %4d s  %s", engine, secs, line }' "$engine_log")")
    if [ "$engine_status" -ne 0 ]; then
      status=$engine_status
      summary[-1]+="  FAILED"
    fi
  done
  stop_webdrivers
done
echo
echo "=== wasm client suites: engine, seconds, suite passed/run"
printf '%s\n' "${summary[@]}"
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail) ---"; tail -n 30 "$data_dir.server.log" || true
  echo "--- proxy log (tail) ---"; tail -n 30 "$data_dir.proxy.log" || true
  echo "--- token server log (tail) ---"; tail -n 30 "$auth_dir.server.log" || true
  echo "--- direct server log (tail) ---"; tail -n 30 "$direct_dir.server.log" || true
  echo "--- store proxy log (tail) ---"; tail -n 30 "$direct_dir.store-proxy.log" || true
fi
exit "$status"
