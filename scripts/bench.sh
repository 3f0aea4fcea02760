#!/usr/bin/env bash
# partup's benchmarks, side by side with their baselines, in one run on this machine:
#   scripts/bench.sh            full run (≈ 8 minutes on 2 cores, up to 20 under load), writes BENCHMARKS.md
#   scripts/bench.sh --quick    smaller sizes, fewer rounds, no S3 row 3 or 13 (≈ 4 minutes); writes
#                               BENCHMARKS.md too unless --out says otherwise
#   --out FILE                  where the markdown goes (default BENCHMARKS.md in the repo root)
#   PARTUP_BENCH_BASELINE_REV   the git revision whose partup-server row 3 also measures, as "the
#                               previous build" (default dc33c9c, main before the MD5 engine; "none"
#                               skips it). Built once by scripts/build-baseline-server.sh into
#                               ~/.cache/partup/bench-baseline/<rev> and reused by later runs
#                               (the first build takes ≈ 10 minutes on 2 cores).
# Installs what it needs (wasm tools, the three browser engines, the pinned npm packages in bench/ (the
# peers of rows 16-17 among them), Garage for the S3 rows and Uppy's store in rows 16-17), builds the
# server and the load generator with --release, and the client package.
# Big test files are real random bytes in a temp dir, deleted on exit.
# Rows 15 and 17 (a shaped link) need root for their network namespace; without it, the report says
# they are left out.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PARTUP_ROOT/target}"

mode=full
out="$PARTUP_ROOT/BENCHMARKS.md"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) mode=quick ;;
        --out) out="$2"; shift ;;
        *) echo "usage: scripts/bench.sh [--quick] [--out FILE]" >&2; exit 2 ;;
    esac
    shift
done
started=$(date +%s)

ensure_wasm_tools
ensure_browsers
if [ ! -d bench/node_modules ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
    log "installing the benchmark's npm packages (pinned by bench/package-lock.json)"
    (cd bench && npm ci --no-audit --no-fund --loglevel=error)
fi
log "building partup-server and partup-bench (release)"
cargo build --release -q -p partup-server -p partup-bench
scripts/build-client.sh

work="$(mktemp -d "${TMPDIR:-/tmp}/partup-bench.XXXXXX")"
remove_on_exit "$work"

baseline_rev="${PARTUP_BENCH_BASELINE_REV:-dc33c9c}"
baseline_bin=""
if [ "$baseline_rev" != none ]; then
    baseline_bin="$(scripts/build-baseline-server.sh "$work" "$baseline_rev")"
fi

# The machine, for the report.
python3 - "$work/machine.json" "$work" <<'PY'
import json, os, platform, subprocess, sys
def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
cpu = sh("lscpu | sed -n 's/^Model name: *//p' | head -1") or platform.processor()
mem_kb = int(sh("awk '/MemTotal/ {print $2}' /proc/meminfo") or 0)
disk = sh(f"findmnt -no SOURCE,FSTYPE,OPTIONS -T {sys.argv[2]}").split()
json.dump({
    "date": sh("date -u '+%Y-%m-%d %H:%M UTC'"),
    "cpu": cpu,
    "cores": sh("nproc"),
    "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
    "disk": f"{disk[0]} ({disk[1]}, {disk[2]})" if len(disk) >= 3 else "unknown",
    "kernel": platform.release(),
    "chromium": sh("/usr/bin/chromium --version 2>/dev/null"),
    "loadBefore": sh("uptime | sed 's/.*load average: //'"),
}, open(sys.argv[1], "w"))
PY

# Row 14: MD5 alone (the server's engine on each path of this CPU vs md-5 vs md5sum), CPU only.
hash_args=(--work "$work/hash" --out "$work/hash.json")
[ "$mode" = quick ] && hash_args+=(--quick)
"$CARGO_TARGET_DIR/release/partup-bench" hash-rows "${hash_args[@]}"

# Server rows (3 with dd, the previous build and the no-HTTP floor, 3-S3, 4, 5).
server_args=(--server-bin "$CARGO_TARGET_DIR/release/partup-server" --work "$work/server" --out "$work/server.json")
source scripts/s3-store.sh
if [ -n "$baseline_bin" ]; then
    server_args+=(--baseline-server-bin "$baseline_bin"
        --baseline-label "$(git log -1 --format='%h of %cs' "$baseline_rev^{commit}")")
fi
if [ "$mode" = quick ]; then
    server_args+=(--quick)
else
    ensure_garage
    start_garage "$work/garage"
    server_args+=(--s3)
fi
# Row 5b: an XFS filesystem in an image file, loop-mounted (root only), whose copy_file_range
# shares the parts' extents with the object instead of copying them.
if [ "$(id -u)" -eq 0 ]; then
    ensure_xfsprogs
    mkdir -p "$work/xfs"
    truncate -s 2G "$work/xfs.img"
    if mkfs.xfs -q -f "$work/xfs.img" && mount -o loop "$work/xfs.img" "$work/xfs"; then
        run_on_exit "umount '$work/xfs'"
        server_args+=(--xfs-dir "$work/xfs")
    fi
fi
"$CARGO_TARGET_DIR/release/partup-bench" server-rows "${server_args[@]}"
if [ "$mode" = full ]; then kill "$GARAGE_PID" 2>/dev/null || true; rm -rf "$work/garage"; fi

# Row 15: a shaped link. A network namespace whose only way out is a veth pair with a token bucket
# (tc tbf) on the namespace's side; partup and the fault proxy (which holds each part's answer
# $shaped_latency_ms ms: netem, the usual way to add latency, is not available here) listen on the
# host's side; the load generator runs inside. Needs root (network namespaces): without it the row
# is left out and the report says so.
shaped_rate_mbit=200
shaped_latency_ms=50
shaped_ns="partup-bench-$$"
shaped_host=10.213.0.1 # the host's side of the veth pair, where the servers of rows 15 and 17 listen
shaped_ready=no
if [ "$(id -u)" -eq 0 ] && command -v tc >/dev/null && ip netns add "$shaped_ns" 2>/dev/null; then
    # Deleting the namespace deletes the veth pair too.
    run_on_exit "ip netns del $shaped_ns 2>/dev/null"
    host_if="pbh$$" ns_if="pbn$$" # interface names have at most 15 characters
    ip link add "$host_if" type veth peer name "$ns_if"
    ip link set "$ns_if" netns "$shaped_ns"
    ip addr add "$shaped_host/30" dev "$host_if"
    ip link set "$host_if" up
    ip netns exec "$shaped_ns" ip addr add 10.213.0.2/30 dev "$ns_if"
    ip netns exec "$shaped_ns" ip link set "$ns_if" up
    ip netns exec "$shaped_ns" ip link set lo up
    # A bucket of 256 KiB is well above the rate's bytes per timer tick, so the rate is the limit.
    ip netns exec "$shaped_ns" tc qdisc add dev "$ns_if" root tbf rate "${shaped_rate_mbit}mbit" burst 256kb latency 100ms
    cargo build --release -q -p partup-tests --bin fault-proxy
    mkdir -p "$work/shaped-data/www"
    start_service shaped_server_url "$work/shaped-server.log" env RUST_LOG=warn "$CARGO_TARGET_DIR/release/partup-server" \
        --listen 127.0.0.1:0 --data "$work/shaped-data" --www "$work/shaped-data/www"
    wait_healthy "$shaped_server_url/healthz"
    start_service shaped_proxy_url "$work/shaped-proxy.log" "$CARGO_TARGET_DIR/release/fault-proxy" \
        --listen "$shaped_host:0" --upstream "$shaped_server_url"
    wait_healthy "$shaped_proxy_url/__proxy/stats"
    curl -sf -X POST "$shaped_proxy_url/__proxy/config" -H 'content-type: application/json' \
        -d "{\"delayEvery\": 1, \"delayMs\": $shaped_latency_ms, \"delayAnswer\": true}" >/dev/null
    shaped_args=(--endpoint "$shaped_proxy_url" --rate-mbit "$shaped_rate_mbit" --latency-ms "$shaped_latency_ms"
        --parallel 4 --out "$work/shaped.json")
    [ "$mode" = quick ] && shaped_args+=(--quick)
    ip netns exec "$shaped_ns" "$CARGO_TARGET_DIR/release/partup-bench" shaped-row "${shaped_args[@]}"
    shaped_ready=yes
else
    log "row 15 (shaped link) left out: it needs root, iproute2's tc and network namespaces"
    echo '{"rows": [], "notes": ["Row 15 (shaped link) was left out: it needs root, tc and network namespaces."]}' >"$work/shaped.json"
fi

# Browser rows (1, 2, 6, 7, 10, 11, 12), Chromium through playwright-core: the page and the client package served by partup-server itself.
mkdir -p "$work/www/bench"
cp -r www/pkg "$work/www/pkg"
cp bench/browser/index.html bench/browser/bench.js "$work/www/bench/"
# Row 11 drives the uploader's own worker pool: re-exported from the snippet the glue imports.
pool_snippet=$(sed -n "s#^import { WorkerPool } from './\(snippets/[^']*\)';#\1#p" www/pkg/partup.js)
echo "export { WorkerPool } from '../pkg/$pool_snippet';" >"$work/www/bench/worker-pool.js"
cp bench/node_modules/hash-wasm/dist/md5.umd.min.js "$work/www/bench/hash-wasm-md5.umd.min.js"
cp bench/node_modules/spark-md5/spark-md5.min.js "$work/www/bench/"
start_service server_url "$work/server.log" env RUST_LOG=warn "$CARGO_TARGET_DIR/release/partup-server" \
    --listen 127.0.0.1:0 --data "$work/browser-data" --www "$work/www"
start_service sink_url "$work/sink.log" "$CARGO_TARGET_DIR/release/partup-bench" sink --listen 127.0.0.1:0
wait_healthy "$server_url/healthz"
wait_healthy "$sink_url/"
mkdir -p "$work/files"
browser_args=(--page "$server_url/bench/" --sink "$sink_url/sink"
    --pkg www/pkg --work "$work/files" --out "$work/browser.json")
[ "$mode" = quick ] && browser_args+=(--quick)
node bench/browser/run.mjs "${browser_args[@]}"

# Engine rows (8, 9): the same page in Chromium, Firefox and WebKitGTK, over WebDriver, one run.
engine_args=(--page "$server_url/bench/" --sink "$sink_url/sink" --work "$work/files" --out "$work/engines.json")
[ "$mode" = quick ] && engine_args+=(--quick)
for engine in "${BROWSER_ENGINES[@]}"; do
    start_webdriver "$engine" driver_url
    engine_args+=(--engine "$engine|$driver_url|$(webdriver_capabilities "$engine")")
done
node bench/browser/engines.mjs "${engine_args[@]}"
stop_webdrivers

# Rows 16 and 17: partup beside the peers a user would pick instead (tus-js-client → @tus/server +
# @tus/file-store, Uppy's @uppy/aws-s3 → Garage) and a raw fetch, the same in-memory File in the same
# page (bench/browser/peers.html, served by partup-server like the bench page), every stored copy read
# back and MD5-checked. Row 16 on loopback; row 17 with Chromium in row 15's namespace, every server on
# the host's side of the shaped link and each request that carries file bytes answered
# $shaped_latency_ms ms late, as in row 15: partup's parts and the store's through a fault proxy each, the
# tus server holding its own answers (the proxy knows only those two protocols), the sink direct.
cp bench/browser/peers.html bench/browser/peers.js "$work/www/bench/"
cp bench/node_modules/tus-js-client/dist/tus.min.js bench/node_modules/uppy/dist/uppy.min.mjs "$work/www/bench/"
ensure_garage
start_garage "$work/garage-peers"
peers_args=(--partup "$server_url" --s3-verify "$PARTUP_TEST_S3_ENDPOINT" --s3-bucket "$PARTUP_TEST_S3_BUCKET"
    --s3-region "$PARTUP_TEST_S3_REGION" --work "$work/files")
[ "$mode" = quick ] && peers_args+=(--quick)
start_service tus_url "$work/tus.log" node bench/peers/tus-server.mjs --dir "$work/tus"
node bench/browser/peers.mjs --id 16 --page "$server_url/bench/peers.html" --tus "$tus_url" --tus-dir "$work/tus" \
    --s3-endpoint "$PARTUP_TEST_S3_ENDPOINT" --sink "$sink_url/sink" "${peers_args[@]}" --out "$work/peers.json"
peers_json=("$work/peers.json")
if [ "$shaped_ready" = yes ]; then
    start_service peers_proxy_url "$work/peers-proxy.log" "$CARGO_TARGET_DIR/release/fault-proxy" \
        --listen "$shaped_host:0" --upstream "$server_url"
    start_service peers_store_url "$work/peers-store-proxy.log" "$CARGO_TARGET_DIR/release/fault-proxy" \
        --store --listen "$shaped_host:0" --upstream "$PARTUP_TEST_S3_ENDPOINT"
    for url in "$peers_proxy_url" "$peers_store_url"; do
        wait_healthy "$url/__proxy/stats"
        curl -sf -X POST "$url/__proxy/config" -H 'content-type: application/json' \
            -d "{\"delayEvery\": 1, \"delayMs\": $shaped_latency_ms, \"delayAnswer\": true}" >/dev/null
    done
    start_service shaped_tus_url "$work/shaped-tus.log" node bench/peers/tus-server.mjs --dir "$work/shaped-tus" \
        --listen "$shaped_host" --hold-answer-ms "$shaped_latency_ms"
    start_service shaped_sink_url "$work/shaped-sink.log" "$CARGO_TARGET_DIR/release/partup-bench" sink --listen "$shaped_host:0"
    node bench/browser/peers.mjs --id 17 --netns "$shaped_ns" --rate-mbit "$shaped_rate_mbit" --latency-ms "$shaped_latency_ms" \
        --page "$peers_proxy_url/bench/peers.html" --tus "$shaped_tus_url" --tus-dir "$work/shaped-tus" \
        --s3-endpoint "$peers_store_url" --sink "$shaped_sink_url/sink" "${peers_args[@]}" --out "$work/peers-shaped.json"
    peers_json+=("$work/peers-shaped.json")
else
    log "row 17 (the peers on the shaped link) left out: row 15's network namespace is not there"
    echo '{"rows": [], "notes": ["Row 17 (the peers on the shaped link) was left out: it needs the network namespace of row 15 (root, tc)."]}' >"$work/peers-shaped.json"
    peers_json+=("$work/peers-shaped.json")
fi
kill "$GARAGE_PID" 2>/dev/null || true
rm -rf "$work/garage-peers" "$work/tus" "$work/shaped-tus"

# Row 13 (full mode): one browser upload through a partup instance over S3 and the same direct to
# the store (--direct-parts), Garage behind both; each instance's CPU time and part bytes received.
direct_json=()
if [ "$mode" = full ]; then
    start_garage "$work/garage13"
    # The bench pages' origins are the two instances' ports, picked below: any origin, for the bench.
    garage_allow_cors '*'
    # The line a server printed: `partup-server WHAT http://ADDR…` → http://ADDR.
    printed_url() { sed -n "s#^partup-server $2 \(http://[^/]*\).*#\1#p" "$1" | head -1; }
    for way in through direct; do
        extra=()
        [ "$way" = direct ] && extra=(--direct-parts)
        start_service unused_url "$work/$way.log" env RUST_LOG=warn "$CARGO_TARGET_DIR/release/partup-server" \
            --listen 127.0.0.1:0 --www "$work/www" --metrics-listen 127.0.0.1:0 \
            --store s3 --s3-endpoint "$PARTUP_TEST_S3_ENDPOINT" --s3-bucket "$PARTUP_TEST_S3_BUCKET" \
            --s3-region "$PARTUP_TEST_S3_REGION" --s3-prefix "bench-$way/" "${extra[@]}"
        pid=$SERVICE_PID
        for _ in $(seq 1 200); do
            [ -n "$(printed_url "$work/$way.log" 'listening on')" ] && [ -n "$(printed_url "$work/$way.log" 'metrics on')" ] && break
            sleep 0.05
        done
        url=$(printed_url "$work/$way.log" 'listening on')
        wait_healthy "$url/healthz"
        direct_json+=(--"$way" "$url" --"$way"-pid "$pid" --"$way"-metrics "$(printed_url "$work/$way.log" 'metrics on')")
    done
    node bench/browser/direct.mjs "${direct_json[@]}" --work "$work/files" --out "$work/direct.json"
    direct_json=("$work/direct.json")
fi

python3 - "$work/machine.json" <<'PY'
import json, subprocess, sys
m = json.load(open(sys.argv[1]))
m["loadAfter"] = subprocess.run("uptime | sed 's/.*load average: //'", shell=True, capture_output=True, text=True).stdout.strip()
json.dump(m, open(sys.argv[1], "w"))
PY
node bench/report.mjs --out "$out" --machine "$work/machine.json" --mode "$mode" \
    --runtime "$(( $(date +%s) - started ))" "$work/hash.json" "$work/server.json" "$work/browser.json" "$work/engines.json" \
    "$work/shaped.json" "${peers_json[@]}" "${direct_json[@]}"
log "wrote $out ($(( $(date +%s) - started )) s)"
