#!/usr/bin/env bash
# The hostile-traffic and full-disk suite (tests/tests/hostile), then its table: attack or fault →
# answer seen → legitimate upload finished? → anything lost?
# Usage: scripts/test-hostile.sh [extra cargo test arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
export PARTUP_OUTCOMES_FILE="${PARTUP_OUTCOMES_FILE:-$PARTUP_ROOT/target/hostile-outcomes.tsv}"
mkdir -p "$(dirname "$PARTUP_OUTCOMES_FILE")"
: > "$PARTUP_OUTCOMES_FILE"
ensure_xfsprogs
# The suite runs the real binary (testkit::server_binary): build it first.
cargo build -p partup-server
status=0
cargo test -p partup-tests --test hostile "$@" || status=$?
printf '\n| attack or fault | answer seen | legitimate upload finished? | anything lost? |\n'
printf '| --- | --- | --- | --- |\n'
sort "$PARTUP_OUTCOMES_FILE" | awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }'
exit "$status"
