#!/usr/bin/env bash
# Smoke test of the RELEASE package as an app uses it: builds it with
# `wasm-pack build --release --target web`, serves it with a page from partup-server's --www, and
# drives headless Chromium through chromedriver (plain WebDriver over HTTP) to upload a file with
# `import init, { Uploader } from './pkg/partup.js'`. Prints the sizes and the page's verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wasm-pack build --release --target web --mode no-install wasm-client
echo "partup_bg.wasm: $(stat -c %s wasm-client/pkg/partup_bg.wasm) bytes, $(gzip -9c wasm-client/pkg/partup_bg.wasm | wc -c) gzipped"
echo "partup.js:      $(stat -c %s wasm-client/pkg/partup.js) bytes, $(gzip -9c wasm-client/pkg/partup.js | wc -c) gzipped"

mkdir -p "$work/www" "$work/data"
cp -r wasm-client/pkg "$work/www/pkg"
cp wasm-client/smoke/index.html "$work/www/index.html"
cargo build -p partup-server
server_port="$(free_port)"
driver_port="$(free_port)"
"$CARGO_TARGET_DIR/debug/partup-server" --listen "127.0.0.1:$server_port" --data "$work/data" \
  --www "$work/www" --min-part-size 1024 >"$work/server.log" 2>&1 &
pids+=($!)
/usr/bin/chromedriver --port="$driver_port" >"$work/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$server_port/healthz" >/dev/null 2>&1 \
    && curl -fsS "http://127.0.0.1:$driver_port/status" >/dev/null 2>&1 && break
  sleep 0.1
done

python3 - "$driver_port" "http://127.0.0.1:$server_port/index.html" <<'PY'
import json, sys, urllib.request
driver, page = f"http://127.0.0.1:{sys.argv[1]}", sys.argv[2]
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(driver + path, data=data, method=method, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))["value"]
session = call("POST", "/session", {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
    "binary": "/usr/bin/chromium",
    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]}}}})["sessionId"]
try:
    call("POST", f"/session/{session}/timeouts", {"script": 90000})
    call("POST", f"/session/{session}/url", {"url": page})
    verdict = call("POST", f"/session/{session}/execute/async", {"args": [], "script":
        "const done = arguments[arguments.length - 1];"
        "const wait = () => window.smokeResult ? window.smokeResult.then(done) : setTimeout(wait, 50); wait();"})
finally:
    call("DELETE", f"/session/{session}")
print(json.dumps(verdict, indent=1))
ok = (verdict.get("same") is True and verdict["result"]["size"] == 3 * 1024 * 1024 + 17
      and verdict["lastPhase"] == "done" and verdict["badKeyError"]["code"] == "InvalidObjectName"
      and verdict["badKeyError"]["isError"] and verdict["badKeyError"]["status"] == 400)
print("release package smoke test:", "passed" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
