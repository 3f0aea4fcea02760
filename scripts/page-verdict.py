#!/usr/bin/env python3
"""Opens a page in a browser through its W3C WebDriver server (plain HTTP, no client library) and
prints, as JSON, what the promise the page keeps in window[NAME] resolves to.
  scripts/page-verdict.py DRIVER_URL CAPABILITIES_JSON PAGE_URL NAME [TIMEOUT_SECONDS]
Used by scripts/test-bundlers.sh; the browser is closed again whatever happens."""
import json
import sys
import urllib.request

driver, capabilities, page, name = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
timeout_s = int(sys.argv[5]) if len(sys.argv) > 5 else 120


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(driver + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=timeout_s + 30))["value"]


started = call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
session = started["sessionId"]
try:
    call("POST", f"/session/{session}/timeouts", {"script": timeout_s * 1000})
    call("POST", f"/session/{session}/url", {"url": page})
    verdict = call("POST", f"/session/{session}/execute/async", {"args": [name], "script":
        "const [name, done] = arguments;"
        "const wait = () => window[name] ? window[name].then(done) : setTimeout(wait, 50); wait();"})
finally:
    call("DELETE", f"/session/{session}")
browser = f'{started["capabilities"].get("browserName")} {started["capabilities"].get("browserVersion")}'
print(json.dumps({"browser": browser, "verdict": verdict}))
