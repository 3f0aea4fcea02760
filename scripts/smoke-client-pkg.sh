#!/usr/bin/env bash
# Smoke test of the RELEASE package as an app uses it: builds it with scripts/build-client-pkg.sh
# (`wasm-pack build --release --target web`, scalar and SIMD128 builds joined), serves it with a
# page from partup-server's --www, and
# drives each browser engine (Chromium, Firefox, WebKitGTK, through their WebDriver servers, plain
# W3C WebDriver over HTTP) to upload a file with `import init, { Uploader } from './pkg/partup.js'`,
# its parts hashed by the package's hashing workers (the default).
# Prints the sizes and each engine's verdict; exits non-zero when any engine fails.
#   scripts/smoke-client-pkg.sh [ENGINE...]   (default: chromium firefox webkit)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
engines=("$@")
[ ${#engines[@]} -gt 0 ] || engines=("${BROWSER_ENGINES[@]}")
ensure_browsers
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

work="$(mktemp -d)"
remove_on_exit "$work"

scripts/build-client-pkg.sh wasm-client/pkg --release
echo "partup_bg.wasm: $(stat -c %s wasm-client/pkg/partup_bg.wasm) bytes, $(gzip -9c wasm-client/pkg/partup_bg.wasm | wc -c) gzipped"
echo "partup_simd_bg.wasm: $(stat -c %s wasm-client/pkg/partup_simd_bg.wasm) bytes, $(gzip -9c wasm-client/pkg/partup_simd_bg.wasm | wc -c) gzipped"
echo "partup.js:      $(stat -c %s wasm-client/pkg/partup.js) bytes, $(gzip -9c wasm-client/pkg/partup.js | wc -c) gzipped"

mkdir -p "$work/www" "$work/data"
cp -r wasm-client/pkg "$work/www/pkg"
cp wasm-client/smoke/index.html wasm-client/smoke/csp.js wasm-client/smoke/csp-strict.html \
  wasm-client/smoke/csp-refused.html "$work/www/"
cargo build -p partup-server
start_service server_url "$work/server.log" "$CARGO_TARGET_DIR/debug/partup-server" \
  --listen 127.0.0.1:0 --data "$work/data" --www "$work/www" --min-part-size 1024
wait_healthy "$server_url/healthz"

status=0
for engine in "${engines[@]}"; do
  start_webdriver "$engine" driver_url
  wait_healthy "$driver_url/status"
  python3 scripts/page-verdict.py "$driver_url" "$(webdriver_capabilities "$engine")" \
    "$server_url/index.html" smokeResult 90 >"$work/smoke-$engine.json" || status=1
  python3 - "$engine" "$work/smoke-$engine.json" <<'PY' || status=1
import json, sys
engine, answer = sys.argv[1], json.load(open(sys.argv[2]))
browser, verdict = answer["browser"], answer["verdict"]
print(f"--- {engine} ({browser}):", json.dumps({k: v for k, v in verdict.items() if k != "engineFacts"}, indent=1))
# Every engine here has module workers: the parts must have been hashed by the package's own
# hashing workers (its snippet found relative to the glue), with no fallback. Every engine here runs
# wasm SIMD128 too: the glue must have loaded the SIMD build (4 parts per worker).
ok = (verdict.get("same") is True and verdict["result"]["size"] == 3 * 1024 * 1024 + 17
      and verdict["initInfo"]["hashing"] == "workers" and verdict["initInfo"]["hashingFallback"] is None
      and verdict["initInfo"].get("hashLanes") == 4
      and verdict["lastPhase"] == "done" and verdict["badKeyError"]["code"] == "InvalidObjectName"
      and verdict["badKeyError"]["isError"] and verdict["badKeyError"]["status"] == 400)
print(f"release package smoke test in {engine} ({browser}):", "passed" if ok else "FAILED")
print(f"engine facts, {engine} ({browser}):", json.dumps(verdict.get("engineFacts")))
sys.exit(0 if ok else 1)
PY
  # Content-Security-Policy (a meta tag): the strict policy of the README runs the workers; one with
  # worker-src 'none' refuses them, and the upload goes on on the page's thread, saying why.
  for csp in strict refused; do
    python3 scripts/page-verdict.py "$driver_url" "$(webdriver_capabilities "$engine")" \
      "$server_url/csp-$csp.html" cspResult >"$work/csp-$csp.json" || status=1
    python3 - "$engine" "$csp" "$work/csp-$csp.json" <<'PY' || status=1
import json, sys
engine, csp, answer = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
verdict = answer["verdict"]
if csp == "strict":
    ok = verdict.get("same") is True and verdict.get("hashing") == "workers" and verdict.get("hashWorkers") == 2
else:
    ok = (verdict.get("same") is True and verdict.get("hashing") == "main-thread"
          and isinstance(verdict.get("hashingFallback"), str))
print(f"CSP {csp} in {engine} ({answer['browser']}):", json.dumps(verdict), "passed" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
  done
  stop_webdrivers
done
exit "$status"
