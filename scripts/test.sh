#!/usr/bin/env bash
# Runs quant's whole test suite through lit: the FileCheck tests under test/
# and every GoogleTest case of the unit tests. Builds what changed first.
# The last line is the summary "N passed, N failed[, N skipped]"; the exit
# status is non-zero when any test failed or none ran.
#
#   scripts/test.sh [lit options...]     e.g. scripts/test.sh --filter hadamard
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-$(nproc)}"
LIT="${LLVM_EXTERNAL_LIT:-/usr/lib/llvm-22/bin/lit}"

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  echo "test.sh: no build in $BUILD_DIR; run scripts/setup.sh first" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

echo "==> building tests (ninja -j$JOBS)"
if ! ninja -C "$BUILD_DIR" -j"$JOBS" all quant-doc; then
  echo "test.sh: the build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

echo "==> running lit on $BUILD_DIR/test (FileCheck suite) and $BUILD_DIR/test/unit (GoogleTest)"
results="$BUILD_DIR/test/results.json"
rm -f "$results"
"$LIT" -sv -j"$JOBS" -o "$results" "$@" "$BUILD_DIR/test" "$BUILD_DIR/test/unit"
lit_status=$?

python3 - "$results" "$lit_status" <<'PY'
import json, sys
path, status = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
try:
    with open(path) as f:
        tests = json.load(f).get("tests", [])
except (OSError, ValueError):
    tests = []
for t in tests:
    code = t.get("code")
    if code in ("PASS", "XFAIL", "FLAKYPASS"):
        passed += 1
    elif code in ("UNSUPPORTED", "SKIPPED", "EXCLUDED"):
        skipped += 1
    else:  # FAIL, XPASS, UNRESOLVED, TIMEOUT
        failed += 1
if status != 0 and failed == 0:
    failed = 1  # lit itself failed (bad config, crash): never report green
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
PY
