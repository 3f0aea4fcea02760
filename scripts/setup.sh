#!/usr/bin/env bash
# Installs what partup's demo and tests need on a fresh machine, skipping whatever is already there,
# and holds the helpers every script shares. Sourced by the other scripts (sourcing twice is harmless);
# run directly to install everything:  scripts/setup.sh [--browser]
#   ensure_wasm_tools   rustup's wasm32 target, wasm-bindgen-cli 0.2.130 (= the locked wasm-bindgen), wasm-pack
#   ensure_chromium     Debian's chromium + chromium-driver (same version), for the browser tests
#   ensure_firefox      Debian's firefox-esr and geckodriver $GECKODRIVER_VERSION (crates.io), its WebDriver
#   ensure_webkit       Debian's WebKitGTK driver (WebKitWebDriver + MiniBrowser) and Xvfb, its display
#   ensure_browsers     all three engines
#   ensure_npm_packages the pinned npm packages of the page tests (package-lock.json)
# For scripts that start services:
#   start_service VAR LOG CMD...  runs CMD in the background (output to LOG, stopped on exit), sets
#                       VAR to the base URL it says it listens on (our services are given port 0)
#                       and SERVICE_PID to its pid
#   start_service_group VAR LOG CMD...  the same, CMD in a process group of its own (SERVICE_PID leads
#                       it), all of which is stopped on exit: a WebDriver driver and the browsers it starts
#   stop_group PID      stops a group started so now (SIGTERM, SIGKILL what is left after 5 s)
#   wait_healthy URL    waits until URL answers 2xx
#   stop_on_exit PID / remove_on_exit PATH / run_on_exit 'COMMAND'   what to stop, delete or run
#                       when the script exits
#   free_port / wait_for_port PORT   only for tools that must be told their ports (Garage's config)
#   start_webdriver ENGINE VAR   starts the W3C WebDriver server of ENGINE (chromium, firefox, webkit;
#                       webkit with its own Xvfb display and $WEBKIT_HOME as its home), in a process
#                       group with the browsers it starts, stopped on exit; sets VAR to its URL
#   stop_webdrivers     stops the drivers (and displays) started so far, before the next engine's
#   webdriver_capabilities ENGINE   the capabilities (JSON) that start ENGINE's browser there
set -euo pipefail
[ -n "${PARTUP_SETUP_SOURCED:-}" ] && return 0
PARTUP_SETUP_SOURCED=1

PARTUP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION=0.2.130
WASM_PACK_VERSION=0.15.1
GECKODRIVER_VERSION=0.37.1

log() { printf '[setup] %s\n' "$*" >&2; }

ensure_wasm_tools() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\b"; then
        log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes, once)"
        # Not --locked: with it, the install of this version failed on the project's machines when
        # this script was written (the lock file it ships does not build here); without it, it builds.
        cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
    fi
    if ! wasm-pack --version 2>/dev/null | grep -q " $WASM_PACK_VERSION\b"; then
        log "installing wasm-pack $WASM_PACK_VERSION (about 3 minutes, once)"
        cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
    fi
}

ensure_chromium() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        return
    fi
    log "installing Debian's chromium and chromium-driver"
    apt_install chromium chromium-driver
}

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_firefox() {
    if [ ! -x /usr/bin/firefox-esr ]; then
        log "installing Debian's firefox-esr"
        apt_install firefox-esr
    fi
    if ! geckodriver --version 2>/dev/null | grep -q "^geckodriver $GECKODRIVER_VERSION\b"; then
        log "installing geckodriver $GECKODRIVER_VERSION from crates.io (about 4 minutes, once)"
        cargo install geckodriver --version "$GECKODRIVER_VERSION" --locked
    fi
}

# WebKitGTK's MiniBrowser has no headless mode: it needs an X display, which Xvfb provides.
ensure_webkit() {
    if [ ! -x /usr/bin/WebKitWebDriver ] || ! command -v Xvfb >/dev/null; then
        log "installing Debian's webkit2gtk-driver and xvfb"
        apt_install webkit2gtk-driver xvfb
    fi
}

# mkfs.xfs, for the full-disk suite's case on a filesystem that shares extents (instant upload).
ensure_xfsprogs() {
    command -v mkfs.xfs >/dev/null 2>&1 || apt_install xfsprogs
}

ensure_browsers() {
    ensure_chromium
    ensure_firefox
    ensure_webkit
}

ensure_npm_packages() {
    local dir="$PARTUP_ROOT/tests/page"
    [ -f "$dir/package-lock.json" ] || return 0
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        log "installing the page tests' npm packages (pinned by package-lock.json)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# Background processes and paths the script registered, stopped and deleted when it exits (also on
# Ctrl-C or SIGTERM, which exit through the EXIT trap).
on_exit_pids=()
on_exit_groups=()
on_exit_paths=()
on_exit_commands=()
clean_up_on_exit() {
    local pid command
    for pid in "${on_exit_groups[@]}"; do stop_group "$pid"; done
    for pid in "${on_exit_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${on_exit_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for command in "${on_exit_commands[@]}"; do eval "$command" || true; done
    rm -rf "${on_exit_paths[@]}"
}
arm_exit_trap() {
    trap clean_up_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
stop_on_exit() { on_exit_pids+=("$@"); arm_exit_trap; }
stop_group_on_exit() { on_exit_groups+=("$@"); arm_exit_trap; }

# stop_group PID: the process group PID leads (started by start_service_group), all of it.
stop_group() {
    local pgid=$1
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        group_alive "$pgid" || break
        sleep 0.1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    wait "$pgid" 2>/dev/null || true
}
remove_on_exit() { on_exit_paths+=("$@"); arm_exit_trap; }
# run_on_exit 'COMMAND': a shell command run once the processes are stopped (e.g. a network
# namespace deleted).
run_on_exit() { on_exit_commands+=("$1"); arm_exit_trap; }

# Whether a member of process group PGID still runs (the leader may be a zombie until waited for).
group_alive() {
    local pid
    for pid in $(pgrep -g "$1" 2>/dev/null); do
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] || return 0
    done
    return 1
}

# The base URL in a service's log: partup-server, fault-proxy and the bench sink print
# "NAME listening on http://HOST:PORT/", moto "Running on http://HOST:PORT", chromedriver
# "... started successfully on port PORT.", geckodriver "... Listening on HOST:PORT".
announced_url() {
    sed -n -e 's#.* on \(http://[^ /]*[0-9]\).*#\1#p' \
        -e 's#.* started successfully on port \([0-9]*\).*#http://127.0.0.1:\1#p' \
        -e 's#.*Listening on \([0-9.]*:[0-9]*\).*#http://\1#p' "$1" | sed -n 1p
}

# start_service VAR LOG CMD...: the process is told its port (0, so the system picks a free one) and
# says which it got; reading that back means no port is picked beforehand for another process to take.
start_service() {
    # The locals are prefixed so that they never shadow the caller's VAR (bash scopes dynamically).
    local __var=$1 __log=$2 __pid __url="" __name
    shift 2
    # Created here, not by the background redirection: the first read below may come before it.
    : >"$__log"
    __name=$1
    [ "$__name" = setsid ] && __name=$2 # start_service_group's
    "$@" >"$__log" 2>&1 &
    __pid=$!
    SERVICE_PID=$__pid
    stop_on_exit "$__pid"
    for _ in $(seq 1 600); do
        __url=$(announced_url "$__log")
        [ -n "$__url" ] && break
        if ! kill -0 "$__pid" 2>/dev/null; then
            printf '%s exited before saying where it listens:\n' "$__name" >&2
            cat "$__log" >&2
            return 1
        fi
        sleep 0.05
    done
    [ -n "$__url" ] || { printf '%s did not say where it listens (log: %s)\n' "$__name" "$__log" >&2; return 1; }
    printf -v "$__var" '%s' "$__url"
}

# A driver starts browsers that must go when it goes: setsid makes CMD
# lead a process group of its own (bash's background job is no group leader, so setsid does not
# fork and SERVICE_PID is the group's id), and the whole group is stopped on exit.
start_service_group() {
    local __rc=0 __pid __kept=()
    start_service "$1" "$2" setsid "${@:3}" || __rc=$?
    for __pid in "${on_exit_pids[@]}"; do [ "$__pid" = "$SERVICE_PID" ] || __kept+=("$__pid"); done
    on_exit_pids=("${__kept[@]}")
    stop_group_on_exit "$SERVICE_PID"
    return "$__rc"
}

wait_healthy() {
    for _ in $(seq 1 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "nothing answers $1" >&2
    return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for_port() {
    local port=$1
    for _ in $(seq 1 200); do
        (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $port" >&2
    return 1
}

BROWSER_ENGINES=(chromium firefox webkit)

# A display for WebKitGTK's MiniBrowser, which has no headless mode (without one, a new WebDriver
# session hangs silently). -displayfd makes Xvfb pick a free display number and say which.
start_xvfb() {
    local __var=$1 fd_file
    fd_file="$(mktemp)"
    remove_on_exit "$fd_file"
    Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$fd_file" >/dev/null 2>&1 &
    stop_on_exit "$!"
    webdriver_pids+=("$!")
    for _ in $(seq 1 200); do
        [ -s "$fd_file" ] && break
        sleep 0.05
    done
    [ -s "$fd_file" ] || { echo "Xvfb did not start" >&2; return 1; }
    printf -v "$__var" ':%s' "$(tr -d '\n' <"$fd_file")"
}

webdriver_pids=()
webdriver_groups=()
webdriver_tmp_dirs=()
stop_webdrivers() {
    local pid
    for pid in "${webdriver_groups[@]}"; do stop_group "$pid"; done
    for pid in "${webdriver_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${webdriver_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "${webdriver_tmp_dirs[@]}"
    webdriver_pids=()
    webdriver_groups=()
    webdriver_tmp_dirs=()
}

# Each driver leads a process group of its own (start_service_group), so that stopping it stops the
# browsers it started too. WEBKIT_HOME, when set, is MiniBrowser's $HOME: it saves downloads into
# that home's XDG download directory and cannot be told another per session.
# Each driver and its browsers get a TMPDIR of their own, deleted when the drivers stop: a browser
# stopped by SIGKILL leaves its profile behind (Chromium's scoped_dir, ~80 MB a session), and a few
# hundred of those filled the disk under a CI run's 1 GiB uploads.
start_webdriver() {
    local __engine=$1 __out=$2 __log __port __display __tmp
    __log="$(mktemp)"
    remove_on_exit "$__log"
    __tmp="$(mktemp -d "${TMPDIR:-/tmp}/partup-browser.XXXXXX")"
    remove_on_exit "$__tmp"
    webdriver_tmp_dirs+=("$__tmp")
    local -x TMPDIR="$__tmp"
    case "$__engine" in
        chromium)
            start_service_group "$__out" "$__log" /usr/bin/chromedriver --port=0 || return 1
            ;;
        firefox)
            start_service_group "$__out" "$__log" geckodriver --port 0 || return 1
            ;;
        webkit)
            start_xvfb __display
            # WebKitWebDriver does not say which port it got for --port 0: give it a free one.
            __port=$(free_port)
            DISPLAY="$__display" HOME="${WEBKIT_HOME:-$HOME}" setsid WebKitWebDriver --port="$__port" >"$__log" 2>&1 &
            SERVICE_PID=$!
            stop_group_on_exit "$SERVICE_PID"
            wait_for_port "$__port" || { cat "$__log" >&2; return 1; }
            printf -v "$__out" 'http://127.0.0.1:%s' "$__port"
            ;;
        *) echo "unknown browser engine: $__engine (chromium, firefox, webkit)" >&2; return 2 ;;
    esac
    webdriver_groups+=("$SERVICE_PID")
}

webdriver_capabilities() {
    case "$1" in
        chromium) echo '{"browserName":"chrome","goog:chromeOptions":{"binary":"/usr/bin/chromium","args":["--headless=new","--no-sandbox","--disable-gpu","--disable-dev-shm-usage","--disable-background-networking","--disable-component-update","--disable-sync","--no-first-run"]}}' ;;
        firefox) echo '{"browserName":"firefox","moz:firefoxOptions":{"binary":"/usr/bin/firefox-esr","args":["-headless"]}}' ;;
        webkit) echo '{"browserName":"MiniBrowser","webkitgtk:browserOptions":{"binary":"/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser","args":["--automation"]}}' ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    ensure_wasm_tools
    if [ "${1:-}" = "--browser" ]; then
        ensure_browsers
        ensure_npm_packages
    fi
fi
