#!/usr/bin/env bash
# Builds the wasm client package into OUT_DIR twice over and joins the two builds into one package:
# - the scalar build, `partup_bg.wasm` (every engine with wasm: one part per hashing worker), and
# - the wasm SIMD128 build, `partup_simd_bg.wasm` (`-C target-feature=+simd128`: a hashing worker
#   hashes up to 4 parts at once in SIMD lanes; src/lane_hashing.rs), built with its own
#   CARGO_TARGET_DIR so that the two builds do not rebuild each other.
# A module with SIMD instructions does not even validate on an engine without SIMD, so the choice is
# made when the glue loads: `WebAssembly.validate` of a tiny module with one v128 instruction picks
# the file its default URL names. Both stay literal `new URL('…', import.meta.url)` expressions, the
# form Vite and webpack recognise, so bundlers emit both files. The one glue drives either module, so
# the build fails unless both builds' glue (JS, .d.ts, snippets) is identical, byte for byte but for
# the names wasm-bindgen gives its closure shims after their function index, which the SIMD build's
# extra functions shift: those exports of the SIMD .wasm are renamed to the scalar build's names
# (scripts/join-client-builds.py, which also checks both modules' imports and exports match).
#   scripts/build-client-pkg.sh OUT_DIR [--release|--dev]   (default --release)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$PARTUP_ROOT"
ensure_wasm_tools
out="${1:?usage: scripts/build-client-pkg.sh OUT_DIR [--release|--dev]}"
profile="${2:---release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PARTUP_ROOT/target}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
simd_out="$(mktemp -d)"
remove_on_exit "$simd_out"

wasm-pack build --mode no-install --target web "$profile" --out-dir "$out" --out-name partup wasm-client >&2
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" CARGO_TARGET_DIR="$CARGO_TARGET_DIR/simd128" \
  wasm-pack build --mode no-install --target web "$profile" --out-dir "$simd_out" --out-name partup wasm-client >&2

python3 scripts/join-client-builds.py "$out" "$simd_out"
