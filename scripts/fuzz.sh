#!/usr/bin/env bash
# Fuzzes one of quant's input readers with libFuzzer under AddressSanitizer
# and UndefinedBehaviorSanitizer (issue 22, docs/security.md).
#
#   scripts/fuzz.sh TARGET [--minutes N] [--jobs J]
#
# TARGET: npy, npz, tensorproto or onnx-import (fuzz/Fuzz*.cpp). Configures and builds
# build-fuzz/ (clang-22, -DQUANT_FUZZ=ON, the sanitizers) the first time;
# seeds the corpus build-fuzz/corpus/TARGET from fuzz/corpus/TARGET (the
# inputs kept in the repo, which the test suite replays) and from numpy
# files written here; runs for N minutes (default 10). A crash leaves
# crash-*/leak-*/oom-* files in build-fuzz/findings/TARGET: fix the bug,
# then copy the file into fuzz/corpus/TARGET so that the suite replays it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-}
shift || true
MINUTES=10
JOBS=1
while (($#)); do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$TARGET" in
  npy|npz|tensorproto|onnx-import) ;;
  *) echo "usage: scripts/fuzz.sh npy|npz|tensorproto|onnx-import [--minutes N] [--jobs J]" >&2; exit 2 ;;
esac
BUILD=$ROOT/build-fuzz
if [[ ! -f $BUILD/build.ninja ]]; then
  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link -g -O1"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_C_FLAGS="$SAN" -DCMAKE_CXX_FLAGS="$SAN" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DLLVM_DIR=/usr/lib/llvm-22/lib/cmake/llvm -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit -DQUANT_FUZZ=ON >/dev/null
fi
ninja -C "$BUILD" -j2 "quant-fuzz-$TARGET"
CORPUS=$BUILD/corpus/$TARGET
FINDINGS=$BUILD/findings/$TARGET
mkdir -p "$CORPUS" "$FINDINGS"
if [[ -d $ROOT/fuzz/corpus/$TARGET ]]; then
  cp -n "$ROOT/fuzz/corpus/$TARGET"/* "$CORPUS"/ 2>/dev/null || true
fi
"$ROOT/.venv/bin/python" "$ROOT/fuzz/seeds.py" "$TARGET" "$CORPUS"
cd "$FINDINGS"
EXTRA=()
[[ -f $ROOT/fuzz/$TARGET.dict ]] && EXTRA+=(-dict="$ROOT/fuzz/$TARGET.dict")
PARALLEL=()
# With several jobs libFuzzer writes each one's log to fuzz-J.log here.
((JOBS > 1)) && PARALLEL=(-jobs="$JOBS" -workers="$JOBS")
exec "$BUILD/bin/quant-fuzz-$TARGET" "$CORPUS" -max_total_time=$((MINUTES * 60)) \
  -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20 -print_final_stats=1 "${EXTRA[@]}" "${PARALLEL[@]}"
