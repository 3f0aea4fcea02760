#!/usr/bin/env bash
# Builds partup-server as it was at an earlier git revision, once: the baseline of row 3's
# "against the previous build" (BENCHMARKS.md). Prints the binary's path on stdout.
#   scripts/build-baseline-server.sh WORK_DIR [REV]
# REV defaults to $PARTUP_BENCH_BASELINE_REV, else dc33c9c (main before the MD5 engine). The
# revision is checked out with `git worktree add --detach` under WORK_DIR (and the worktree removed
# again once built); it builds with its own CARGO_TARGET_DIR, ~/.cache/partup/bench-baseline/<rev>,
# so a later run finds the binary there and builds nothing. Set CARGO_BUILD_JOBS to limit the jobs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

[ $# -ge 1 ] || { echo "usage: scripts/build-baseline-server.sh WORK_DIR [REV]" >&2; exit 2; }
work="$1"
rev_name="${2:-${PARTUP_BENCH_BASELINE_REV:-dc33c9c}}"
rev="$(git -C "$PARTUP_ROOT" rev-parse --verify "$rev_name^{commit}")"
target="${XDG_CACHE_HOME:-$HOME/.cache}/partup/bench-baseline/$rev"
bin="$target/release/partup-server"
if [ ! -x "$bin" ]; then
    src="$work/baseline-src-${rev:0:12}"
    mkdir -p "$work"
    log "checking out $rev_name ($rev) into $src for the baseline server"
    git -C "$PARTUP_ROOT" worktree add --detach --force "$src" "$rev" >&2
    remove_worktree() { git -C "$PARTUP_ROOT" worktree remove --force "$src" >&2 || true; }
    trap remove_worktree EXIT
    log "building the baseline partup-server of $rev_name (release, once; into $target)"
    (cd "$src" && CARGO_TARGET_DIR="$target" cargo build --release --locked -q -p partup-server) >&2
fi
echo "$bin"
