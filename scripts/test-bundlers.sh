#!/usr/bin/env bash
# The release package inside bundled apps, as an app from npm uses it: builds it with
# scripts/build-client-pkg.sh (`wasm-pack build --release --target web`, scalar and SIMD128 builds
# joined), packs it (`npm pack`), installs the tarball into each
# small app under tests/bundler/ (its bundler pinned by its package-lock.json; all share
# tests/bundler/app.js), makes the app's production build, serves it from partup-server's --www and
# has headless Chromium (over WebDriver) upload with it. Passes when every object reads back byte for
# byte and onInit said the parts were hashed by the workers the bundle carries (bundlers handle
# worker and wasm URLs inside dependencies in their own ways).
#   scripts/test-bundlers.sh [BUNDLER...]   (default: every app under tests/bundler/)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
bundlers=("$@")
if [ ${#bundlers[@]} -eq 0 ]; then
  for dir in tests/bundler/*/; do bundlers+=("$(basename "$dir")"); done
fi
ensure_wasm_tools
ensure_chromium

work="$(mktemp -d)"
remove_on_exit "$work"
scripts/build-client-pkg.sh "$work/pkg" --release
(cd "$work/pkg" && npm pack --pack-destination "$work" --loglevel=error >/dev/null)
tarball=$(ls "$work"/partup-*.tgz)
cargo build -p partup-server

start_webdriver chromium driver_url
wait_healthy "$driver_url/status"
status=0
for bundler in "${bundlers[@]}"; do
  app="$work/$bundler"
  cp -r "tests/bundler/$bundler" "$app"
  cp tests/bundler/app.js "$app/"
  log "$bundler: npm ci, the packed partup, production build"
  (cd "$app" && npm ci --no-audit --no-fund --loglevel=error \
     && npm install --no-save --no-audit --no-fund --loglevel=error "$tarball" && npm run --silent build)
  start_service server_url "$work/$bundler.server.log" "$CARGO_TARGET_DIR/debug/partup-server" \
    --listen 127.0.0.1:0 --data "$work/$bundler-data" --www "$app/dist" --min-part-size 1024
  wait_healthy "$server_url/healthz"
  python3 scripts/page-verdict.py "$driver_url" "$(webdriver_capabilities chromium)" \
    "$server_url/index.html" bundleResult >"$work/$bundler.json"
  python3 - "$bundler" "$work/$bundler.json" <<'PY' || status=1
import json, sys
bundler, answer = sys.argv[1], json.load(open(sys.argv[2]))
verdict = answer["verdict"]
print(f"--- {bundler} build in {answer['browser']}:", json.dumps(verdict, indent=1))
uploads = verdict.get("uploads") or []
# hashLanes 4: the bundle carries the SIMD128 build too, and Chromium loaded it.
ok = len(uploads) == 2 and all(
    u["same"] is True and u["initInfo"]["hashing"] == "workers" and u["initInfo"]["hashWorkers"] == 2
    and u["initInfo"].get("hashLanes") == 4
    for u in uploads) and verdict["workersSeen"]["started"] >= 2 and verdict["workersSeen"]["hashed"] == 11
print(f"{bundler} production build uploads with hashing workers:", "passed" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
  kill "$SERVICE_PID" 2>/dev/null || true
done
exit "$status"
