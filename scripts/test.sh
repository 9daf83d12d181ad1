#!/usr/bin/env bash
# Runs quant's whole test suite: through lit, the FileCheck tests under test/
# and every GoogleTest case of the unit tests; then the Python package's
# pytest suite (python-bindings/tests, after reinstalling the package into
# .venv). Builds what changed first. The last line is the summary
# "N passed, N failed[, N skipped]" over both; the exit status is non-zero
# when any test failed or none ran.
#
#   scripts/test.sh [lit options...]     e.g. scripts/test.sh --filter hadamard
#                                        (with lit options, only lit runs)
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

# The Python package: reinstalled from this build (incremental), then pytest.
VENV="$ROOT/.venv"
pytest_xml="$BUILD_DIR/test/pytest.xml"
rm -f "$pytest_xml"
py_status=0
if [[ $# -eq 0 ]]; then
  echo "==> installing the Python package into .venv and running its pytest suite"
  if QUANT_BUILD_DIR="$BUILD_DIR" "$VENV/bin/python" -m pip install -q --no-deps \
      --no-build-isolation "$ROOT/python-bindings"; then
    QUANT_BUILD_DIR="$BUILD_DIR" "$VENV/bin/python" -m pytest -q -rs \
      -p no:cacheprovider --junitxml="$pytest_xml" "$ROOT/python-bindings/tests"
    py_status=$?
  else
    echo "test.sh: installing the Python package failed" >&2
    py_status=1
  fi
else
  py_status=-1  # lit options given: lit only
fi

python3 - "$results" "$lit_status" "$pytest_xml" "$py_status" <<'PY'
import json, sys
import xml.etree.ElementTree as ET
path, status = sys.argv[1], int(sys.argv[2])
xml_path, py_status = sys.argv[3], int(sys.argv[4])
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
if py_status >= 0:
    py_passed = py_failed = 0
    try:
        for case in ET.parse(xml_path).getroot().iter("testcase"):
            kinds = {child.tag for child in case}
            if kinds & {"failure", "error"}:
                py_failed += 1
            elif "skipped" in kinds:
                skipped += 1
            else:
                py_passed += 1
    except (OSError, ET.ParseError):
        pass
    if py_status != 0 and py_failed == 0:
        py_failed = 1  # pytest or the install failed before any test
    print(f"pytest: {py_passed} passed, {py_failed} failed")
    passed += py_passed
    failed += py_failed
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
PY
