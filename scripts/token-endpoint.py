#!/usr/bin/env python3
"""EXAMPLE of an integrator's backend: the endpoint a page asks for a short-lived upload token.

A real application mints tokens in its own backend, after its own login check, with its JWT
library (see README.md, "Upload tokens"). This stand-in, used by scripts/test-client.sh (the
browser suite) and scripts/demo.sh --auth, runs `partup-server token` for each `GET /token` and
answers the token as text/plain; `GET /token?read=PREFIX` narrows that token's read scope to PREFIX
(the browser suite's instant-upload test needs a token that may write a key but not read another).
`GET /count` answers how many tokens it has handed out.

Usage: token-endpoint.py PARTUP_SERVER_BINARY SECRET_FILE [--ttl 5s] [--sub NAME] [--scope PREFIX]
       [--replace]   (--scope '' covers every key)
Listens on 127.0.0.1 on a free port and prints "token-endpoint listening on http://HOST:PORT/".
No login here: never run it anywhere but on loopback.
"""
import argparse
import subprocess
import threading
from urllib.parse import parse_qs, urlsplit
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("server_binary")
parser.add_argument("secret_file")
parser.add_argument("--ttl", default="5s")
parser.add_argument("--sub", default="browser-test")
parser.add_argument("--scope", default="tokens/", help="key prefix the tokens may write and read")
parser.add_argument("--replace", action="store_true", help="tokens may replace existing objects")
args = parser.parse_args()

issued = 0
lock = threading.Lock()


def mint(read_scope):
    command = [
        args.server_binary, "token", "--auth-secret-file", args.secret_file,
        "--sub", args.sub, "--write", args.scope, "--read", read_scope, "--ttl", args.ttl,
    ] + (["--replace"] if args.replace else [])
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        global issued
        url = urlsplit(self.path)
        path = url.path
        if path == "/token":
            body = mint(parse_qs(url.query).get("read", [args.scope])[0])
            with lock:
                issued += 1
        elif path == "/count":
            with lock:
                body = str(issued)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Cache-Control", "no-store")
        # The page may be on another origin (the browser suite's is).
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
host, port = server.server_address
print(f"token-endpoint listening on http://{host}:{port}/", flush=True)
server.serve_forever()
